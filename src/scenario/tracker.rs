//! Pure bookkeeping of the engine's live event stream for one run: which orders are running,
//! retrying, completed or failed, how many retries and timers were seen, and when.
//!
//! Only the orders the runner registered ([`Tracker::register`]) and their children count;
//! everything else on the stream (an earlier run's leftovers, another client's workflows) is
//! ignored. Orders are registered before they are started, so their first events cannot
//! arrive before the tracker knows them. Times come in as arguments (milliseconds since the
//! run started), never from a clock read here, so tests feed recorded streams.

use std::collections::{BTreeMap, HashMap, HashSet};

use faultline_proto::{EventKind, StreamEvent, WorkflowStatus};
use serde::Serialize;

use faultline_demo::order::activity_types;

use super::model::Counter;

/// The counts shown on screen and used by conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub started: u64,
    pub running: u64,
    pub retrying: u64,
    pub completed: u64,
    /// Failed, terminated or timed out.
    pub failed: u64,
    pub canceled: u64,
    pub retries_seen: u64,
    pub timers_pending: u64,
    pub timers_fired: u64,
    pub charged: u64,
}

impl Counts {
    pub fn get(&self, c: Counter) -> u64 {
        match c {
            Counter::Started => self.started,
            Counter::Running => self.running,
            Counter::Retrying => self.retrying,
            Counter::Completed => self.completed,
            Counter::Failed => self.failed,
            Counter::RetriesSeen => self.retries_seen,
            Counter::TimersPending => self.timers_pending,
            Counter::TimersFired => self.timers_fired,
            Counter::Charged => self.charged,
        }
    }

    /// `started 8 · running 5 · retrying 3 · completed 3 · failed 0 · retries 7 · timers ...`
    pub fn line(&self) -> String {
        format!(
            "started {} · running {} · retrying {} · completed {} · failed {}{} · retries {} · timers fired {} (pending {})",
            self.started, self.running, self.retrying, self.completed, self.failed,
            if self.canceled > 0 { format!(" · canceled {}", self.canceled) } else { String::new() }, self.retries_seen, self.timers_fired, self.timers_pending
        )
    }
}

/// What the tracker knows about one order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OrderTrack {
    pub workflow_id: String,
    /// `workflow_started` events seen for this id (more than one run would be a duplicate).
    pub runs_started: u32,
    pub status: Option<WorkflowStatus>,
    pub started_ms: Option<u64>,
    pub closed_ms: Option<u64>,
    pub charged: bool,
    pub retries: u64,
    pub last_failure: Option<String>,
}

/// A notable event for the report's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notable {
    pub at_ms: u64,
    pub workflow_id: String,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Tracker {
    orders: BTreeMap<String, OrderTrack>,
    /// workflow id (order or descendant) -> order id.
    owner: HashMap<String, String>,
    /// (workflow id, seq) -> activity type.
    activity_types: HashMap<(String, u64), String>,
    /// (workflow id, seq) of activities waiting for their next attempt (what retry-now acts on).
    backoff: HashSet<(String, u64)>,
    /// (workflow id, seq) of activities that failed and have not succeeded yet, whether the
    /// next attempt waits or runs: what "retrying" counts, so the count does not flicker
    /// while an attempt is in flight.
    failing: HashSet<(String, u64)>,
    timers: HashSet<(String, u64)>,
    retries_seen: u64,
    timers_fired: u64,
    last_cursor: Option<u64>,
    notable: Vec<Notable>,
}

/// The stream carries an activity's type only on `activity_scheduled`, hence the seq map.
fn is_charge(activity_type: &str) -> bool {
    activity_type == activity_types::CHARGE_PAYMENT
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an order before it is started.
    pub fn register(&mut self, workflow_id: &str) {
        self.owner.insert(workflow_id.to_string(), workflow_id.to_string());
        self.orders
            .entry(workflow_id.to_string())
            .or_insert_with(|| OrderTrack { workflow_id: workflow_id.to_string(), ..OrderTrack::default() });
    }

    /// The order's track (created if somehow missing, which `register` prevents).
    fn order_mut(&mut self, id: &str) -> &mut OrderTrack {
        self.orders.entry(id.to_string()).or_insert_with(|| OrderTrack { workflow_id: id.to_string(), ..OrderTrack::default() })
    }

    pub fn orders(&self) -> impl Iterator<Item = &OrderTrack> {
        self.orders.values()
    }

    pub fn order(&self, id: &str) -> Option<&OrderTrack> {
        self.orders.get(id)
    }

    pub fn last_cursor(&self) -> Option<u64> {
        self.last_cursor
    }

    /// Notable events (failures, retries, timers, closes) seen so far, oldest first.
    pub fn notable(&self) -> &[Notable] {
        &self.notable
    }

    /// (workflow id, seq) of every activity of `order` (or its children) waiting for a retry.
    pub fn backoffs_of(&self, order: &str) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> =
            self.backoff.iter().filter(|(wf, _)| self.owner.get(wf).map(String::as_str) == Some(order)).cloned().collect();
        v.sort();
        v
    }

    pub fn is_retrying(&self, order: &str) -> bool {
        self.failing.iter().any(|(wf, _)| self.owner.get(wf).map(String::as_str) == Some(order))
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts { retries_seen: self.retries_seen, timers_fired: self.timers_fired, ..Counts::default() };
        c.timers_pending = self.timers.len() as u64;
        let retrying: HashSet<&String> = self.failing.iter().filter_map(|(wf, _)| self.owner.get(wf)).collect();
        for o in self.orders.values() {
            if o.runs_started > 0 {
                c.started += 1;
            }
            match o.status {
                Some(WorkflowStatus::Running) => {
                    c.running += 1;
                    if retrying.contains(&o.workflow_id) {
                        c.retrying += 1;
                    }
                }
                Some(WorkflowStatus::Completed) => c.completed += 1,
                // A continued-as-new run goes on under the same id; it is still running.
                Some(WorkflowStatus::ContinuedAsNew) => c.running += 1,
                Some(WorkflowStatus::Canceled) => c.canceled += 1,
                Some(_) => c.failed += 1,
                None => {}
            }
            if o.charged {
                c.charged += 1;
            }
        }
        c
    }

    /// Applies one stream event; `now_ms` is the time since the run started.
    /// Returns true when the event concerned a tracked order (the counts may have changed).
    pub fn apply(&mut self, ev: &StreamEvent, now_ms: u64) -> bool {
        self.last_cursor = Some(self.last_cursor.map_or(ev.cursor, |c| c.max(ev.cursor)));
        let wf = &ev.workflow_id;
        if let EventKind::WorkflowStarted { parent: Some(p), .. } = &ev.event.kind {
            if let Some(o) = self.owner.get(&p.workflow_id).cloned() {
                self.owner.insert(wf.clone(), o);
            }
        }
        let Some(order_id) = self.owner.get(wf).cloned() else { return false };
        let is_root = *wf == order_id;
        let key = |seq: u64| (wf.clone(), seq);
        let mut note: Option<String> = None;
        match &ev.event.kind {
            EventKind::WorkflowStarted { .. } if is_root => {
                let o = self.order_mut(&order_id);
                o.runs_started += 1;
                o.status = Some(WorkflowStatus::Running);
                o.started_ms.get_or_insert(now_ms);
            }
            EventKind::ChildWorkflowInitiated { workflow_id, .. } => {
                self.owner.insert(workflow_id.clone(), order_id.clone());
            }
            EventKind::ActivityScheduled { seq, activity_type, .. } => {
                self.activity_types.insert(key(*seq), activity_type.clone());
            }
            EventKind::ActivityStarted { seq, .. } => {
                self.backoff.remove(&key(*seq));
            }
            EventKind::ActivityCanceled { seq } => {
                self.backoff.remove(&key(*seq));
                self.failing.remove(&key(*seq));
            }
            EventKind::ActivityCompleted { seq, .. } => {
                self.backoff.remove(&key(*seq));
                self.failing.remove(&key(*seq));
                if self.activity_types.get(&key(*seq)).is_some_and(|t| is_charge(t)) {
                    self.order_mut(&order_id).charged = true;
                }
            }
            EventKind::ActivityFailed { seq, attempt, failure, next_retry_at_ms } => {
                let t = self.activity_types.get(&key(*seq)).cloned().unwrap_or_else(|| format!("activity {seq}"));
                let retry = next_retry_at_ms.is_some();
                let o = self.order_mut(&order_id);
                o.last_failure = Some(format!("{t}: {}", failure.message));
                if retry {
                    o.retries += 1;
                    self.backoff.insert(key(*seq));
                    self.failing.insert(key(*seq));
                    self.retries_seen += 1;
                    note = Some(format!("{t} attempt {attempt} failed ({}), will retry", failure.message));
                } else {
                    self.backoff.remove(&key(*seq));
                    self.failing.remove(&key(*seq));
                    note = Some(format!("{t} attempt {attempt} failed for good ({})", failure.message));
                }
            }
            EventKind::ActivityTimedOut { seq, attempt, timeout, next_retry_at_ms } => {
                let t = self.activity_types.get(&key(*seq)).cloned().unwrap_or_else(|| format!("activity {seq}"));
                let retry = next_retry_at_ms.is_some();
                let o = self.order_mut(&order_id);
                o.last_failure = Some(format!("{t}: timed out ({timeout:?})"));
                if retry {
                    o.retries += 1;
                    self.backoff.insert(key(*seq));
                    self.failing.insert(key(*seq));
                    self.retries_seen += 1;
                } else {
                    self.backoff.remove(&key(*seq));
                    self.failing.remove(&key(*seq));
                }
                note = Some(format!("{t} attempt {attempt} timed out ({timeout:?})"));
            }
            EventKind::TimerStarted { seq, duration_ms, .. } => {
                self.timers.insert(key(*seq));
                note = Some(format!("durable timer {seq} started ({duration_ms} ms)"));
            }
            EventKind::TimerFired { seq } => {
                if self.timers.remove(&key(*seq)) {
                    self.timers_fired += 1;
                }
                note = Some(format!("durable timer {seq} fired"));
            }
            EventKind::TimerCanceled { seq } => {
                self.timers.remove(&key(*seq));
            }
            EventKind::WorkflowSignaled { name, .. } => note = Some(format!("signal `{name}` received")),
            kind if kind.is_terminal() => {
                // A closed run holds no pending retries or timers any more.
                self.backoff.retain(|(w, _)| w != wf);
                self.failing.retain(|(w, _)| w != wf);
                self.timers.retain(|(w, _)| w != wf);
                if is_root {
                    let status = kind.closing_status().unwrap_or(WorkflowStatus::ContinuedAsNew);
                    let o = self.order_mut(&order_id);
                    o.status = Some(status);
                    if status != WorkflowStatus::ContinuedAsNew {
                        o.closed_ms = Some(now_ms);
                    }
                    note = Some(format!("order {}", status.as_str()));
                }
            }
            _ => {}
        }
        if let Some(text) = note {
            self.notable.push(Notable { at_ms: now_ms, workflow_id: wf.clone(), text });
        }
        true
    }

    /// Overrides an order's status with what the engine says (`describe`), for the final audit.
    pub fn reconcile(&mut self, order: &str, status: WorkflowStatus) {
        if let Some(o) = self.orders.get_mut(order) {
            o.status = Some(status);
        }
    }
}
