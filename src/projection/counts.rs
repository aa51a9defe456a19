//! The counts of a projection and the roll-up of one order (a top-level workflow and its
//! descendants). Each count has exactly one definition, written here, and the dashboard, the
//! scenario conditions and the report all read these.

use std::collections::BTreeMap;

use faultline_proto::WorkflowStatus;
use serde::Serialize;

use faultline_demo::order::activity_types;

use super::run::{FailureSeen, RunView};
use super::Projection;

/// A count a scenario condition can wait on. Order counts are over top-level workflows in
/// scope; a child's state counts for its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    /// Orders whose start the engine recorded.
    Started,
    /// Orders not closed yet (those retrying included).
    Running,
    /// Open orders with an activity (theirs or a child's) that failed an attempt and has not
    /// succeeded since, whether the next attempt waits or runs.
    Retrying,
    /// Open orders with an activity waiting for its next attempt.
    InBackoff,
    /// Open orders with a durable timer pending (theirs or a child's).
    OnTimer,
    Completed,
    /// Orders that failed, were terminated or timed out.
    Failed,
    /// Orders canceled on purpose.
    Canceled,
    /// Failed activity attempts that the engine will retry.
    RetriesSeen,
    /// Durable timers pending.
    TimersPending,
    TimersFired,
    /// Orders whose charge activity completed.
    Charged,
}

impl Counter {
    pub const ALL: [Counter; 12] = [
        Counter::Started,
        Counter::Running,
        Counter::Retrying,
        Counter::InBackoff,
        Counter::OnTimer,
        Counter::Completed,
        Counter::Failed,
        Counter::Canceled,
        Counter::RetriesSeen,
        Counter::TimersPending,
        Counter::TimersFired,
        Counter::Charged,
    ];

    /// The name in scenario files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Counter::Started => "started",
            Counter::Running => "running",
            Counter::Retrying => "retrying",
            Counter::InBackoff => "in_backoff",
            Counter::OnTimer => "on_timer",
            Counter::Completed => "completed",
            Counter::Failed => "failed",
            Counter::Canceled => "canceled",
            Counter::RetriesSeen => "retries_seen",
            Counter::TimersPending => "timers_pending",
            Counter::TimersFired => "timers_fired",
            Counter::Charged => "charged",
        }
    }

    /// Whether it counts orders (and so can never exceed the orders started).
    pub fn is_per_order(&self) -> bool {
        !matches!(self, Counter::RetriesSeen | Counter::TimersPending | Counter::TimersFired)
    }
}

/// Every count at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub started: u64,
    pub running: u64,
    pub retrying: u64,
    pub in_backoff: u64,
    pub on_timer: u64,
    pub completed: u64,
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
            Counter::InBackoff => self.in_backoff,
            Counter::OnTimer => self.on_timer,
            Counter::Completed => self.completed,
            Counter::Failed => self.failed,
            Counter::Canceled => self.canceled,
            Counter::RetriesSeen => self.retries_seen,
            Counter::TimersPending => self.timers_pending,
            Counter::TimersFired => self.timers_fired,
            Counter::Charged => self.charged,
        }
    }

    /// Orders in a final state.
    pub fn closed(&self) -> u64 {
        self.completed + self.failed + self.canceled
    }

    /// `started 8 · running 5 · retrying 3 · completed 3 · failed 0 · retries 7 · timers ...`
    pub fn line(&self) -> String {
        format!(
            "started {} · running {} · retrying {} · completed {} · failed {}{} · retries {} · timers fired {} (pending {})",
            self.started,
            self.running,
            self.retrying,
            self.completed,
            self.failed,
            if self.canceled > 0 { format!(" · canceled {}", self.canceled) } else { String::new() },
            self.retries_seen,
            self.timers_fired,
            self.timers_pending
        )
    }
}

/// One order rolled up from its runs: the top-level workflow and its descendants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderView {
    pub workflow_id: String,
    /// `workflow_started` events of the top-level id (more than one: a new run of the id).
    pub runs_started: u32,
    /// `None` until its start is seen.
    pub status: Option<WorkflowStatus>,
    pub started_at_ms: Option<i64>,
    /// When it closed for good (not a continue-as-new).
    pub closed_at_ms: Option<i64>,
    pub retrying: bool,
    pub in_backoff: bool,
    pub on_timer: bool,
    pub charged: bool,
    pub retries: u64,
    pub timers_pending: u64,
    pub timers_fired: u64,
    /// The latest activity failure in the tree.
    #[serde(skip)]
    pub last_failure: Option<FailureSeen>,
    /// The most frequent activity failure in the tree, with its count.
    pub most_frequent_failure: Option<(String, u32)>,
    /// (workflow id, seq) of the activities waiting for their next attempt.
    pub backoffs: Vec<(String, u64)>,
}

impl OrderView {
    pub fn is_open(&self) -> bool {
        self.status.is_some() && self.closed_at_ms.is_none()
    }

    /// `charge_payment: 500 ...`
    pub fn last_failure_text(&self) -> Option<String> {
        self.last_failure.as_ref().map(|f| format!("{}: {}", f.activity_type, f.message))
    }
}

/// Whether a run's completed activities include the charge.
fn charged(run: &RunView) -> bool {
    run.completed_activities.iter().any(|t| t == activity_types::CHARGE_PAYMENT)
}

impl Projection {
    /// The top-level workflows in scope, in the order first known.
    pub fn order_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .runs
            .iter()
            .filter(|r| self.root_of(&r.workflow_id) == Some(r.workflow_id.as_str()))
            .map(|r| r.workflow_id.as_str())
            .collect();
        // Registered orders whose first event has not come yet count too (as not started).
        let mut pending: Vec<&str> = self.registered.iter().map(String::as_str).filter(|id| !self.by_id.contains_key(*id)).collect();
        pending.sort_unstable();
        ids.extend(pending);
        ids
    }

    /// One order rolled up from its tree; `None` when the id is not a top-level workflow in scope.
    pub fn order(&self, workflow_id: &str) -> Option<OrderView> {
        if self.root_of(workflow_id) != Some(workflow_id) {
            return None;
        }
        let root = self.get(workflow_id);
        let mut o = OrderView {
            workflow_id: workflow_id.to_string(),
            runs_started: self.starts.get(workflow_id).copied().unwrap_or(0),
            status: root.map(|r| r.status),
            started_at_ms: root.map(|r| r.started_at_ms),
            closed_at_ms: root.filter(|r| !r.is_open()).and_then(|r| r.closed_at_ms),
            retrying: false,
            in_backoff: false,
            on_timer: false,
            charged: false,
            retries: 0,
            timers_pending: 0,
            timers_fired: 0,
            last_failure: None,
            most_frequent_failure: None,
            backoffs: Vec::new(),
        };
        let mut failures: BTreeMap<&str, u32> = BTreeMap::new();
        for id in self.members.get(workflow_id).into_iter().flatten() {
            let Some(run) = self.get(id) else { continue };
            o.retrying |= run.is_retrying();
            o.in_backoff |= run.in_backoff();
            o.on_timer |= run.on_timer();
            o.charged |= charged(run);
            o.retries += run.retries;
            o.timers_fired += run.timers_fired;
            if run.is_open() {
                o.timers_pending += run.timers.len() as u64;
                o.backoffs.extend(run.backoff_seqs().map(|seq| (id.clone(), seq)));
            }
            if let Some(f) = &run.last_failure {
                if o.last_failure.as_ref().is_none_or(|l| f.at_ms >= l.at_ms) {
                    o.last_failure = Some(f.clone());
                }
            }
            for (m, n) in &run.failure_counts {
                *failures.entry(m.as_str()).or_default() += n;
            }
        }
        // A closed order holds nothing pending, whatever a child still shows.
        if o.closed_at_ms.is_some() {
            o.retrying = false;
            o.in_backoff = false;
            o.on_timer = false;
            o.timers_pending = 0;
            o.backoffs.clear();
        }
        let last = o.last_failure.as_ref().map(|f| f.message.as_str());
        o.most_frequent_failure =
            failures.iter().max_by_key(|(m, n)| (**n, Some(**m) == last)).map(|(m, n)| (m.to_string(), *n));
        Some(o)
    }

    /// Every count, over the orders in scope.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for id in self.order_ids() {
            let Some(o) = self.order(id) else { continue };
            if o.status.is_some() {
                c.started += 1;
            }
            c.retries_seen += o.retries;
            c.timers_fired += o.timers_fired;
            c.timers_pending += o.timers_pending;
            if o.charged {
                c.charged += 1;
            }
            match o.status {
                None => {}
                Some(_) if o.is_open() => {
                    c.running += 1;
                    c.retrying += o.retrying as u64;
                    c.in_backoff += o.in_backoff as u64;
                    c.on_timer += o.on_timer as u64;
                }
                Some(WorkflowStatus::Completed) => c.completed += 1,
                Some(WorkflowStatus::Canceled) => c.canceled += 1,
                Some(_) => c.failed += 1,
            }
        }
        c
    }
}
