//! One workflow run as the dashboard sees it, folded incrementally from its history events.
//!
//! Every field the panels show (status, current step, attempt, pending activities with their
//! backoff, timers, children) is updated in O(1) per event, so drawing a frame never walks the
//! history; only the visible window of the history list is read.

use std::collections::BTreeMap;

use faultline_proto::{EventKind, HistoryEvent, WorkflowStatus, WorkflowSummary};

/// The coarse status used for counts and for the status filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Running,
    /// Running, with at least one activity waiting for a retry.
    Retrying,
    Completed,
    /// Failed or timed out.
    Failed,
    /// Canceled, terminated or continued as new.
    Other,
}

/// Where a pending activity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityState {
    /// In the task queue, waiting for a worker.
    Scheduled,
    /// A worker holds the current attempt.
    Started,
    /// The last attempt failed; the engine retries at `next_retry_at_ms`.
    Backoff,
}

/// A pending activity: one that has been scheduled and has not completed for good.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityView {
    pub seq: u64,
    pub activity_type: String,
    pub state: ActivityState,
    /// The current (or next) attempt, 1-based.
    pub attempt: u32,
    /// 0 = unlimited.
    pub max_attempts: u32,
    pub last_failure: Option<String>,
    /// When the last attempt failed: the start of the backoff gauge.
    pub failed_at_ms: Option<i64>,
    pub next_retry_at_ms: Option<i64>,
}

/// A pending durable timer.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerView {
    pub seq: u64,
    pub started_at_ms: i64,
    pub fire_at_ms: i64,
}

/// A child workflow started by this run.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildRow {
    pub seq: u64,
    pub workflow_id: String,
    pub workflow_type: String,
    /// `None` until the child's outcome is recorded in this (the parent's) history.
    pub status: Option<WorkflowStatus>,
}

/// The latest run of one workflow id.
#[derive(Debug, Clone, PartialEq)]
pub struct RunView {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub status: WorkflowStatus,
    pub started_at_ms: i64,
    pub closed_at_ms: Option<i64>,
    pub parent: Option<String>,
    pub children: Vec<ChildRow>,
    /// What the run is doing now, in words: `charge_payment`, `timer 30s`, `child Shipment`.
    pub step: String,
    /// Attempt of the activity in `step` (0 when the step is not an activity).
    pub attempt: u32,
    pub events: Vec<HistoryEvent>,
    /// Indices into `events` of the compact view (workflow-task bookkeeping left out).
    pub compact: Vec<u32>,
    pub activities: BTreeMap<u64, ActivityView>,
    pub timers: BTreeMap<u64, TimerView>,
    /// What each `seq` refers to (`charge_payment`, `timer 30s`, `child Shipment`), for the
    /// history rows, which only carry the seq.
    pub labels: BTreeMap<u64, String>,
    /// Names of the signals received, in order.
    pub signals: Vec<String>,
    /// Why the run failed (or was terminated).
    pub failure: Option<String>,
    /// The last failed workflow task (e.g. a nondeterminism error), cleared on the next success.
    pub task_failure: Option<String>,
    /// Activities in backoff, kept as a counter so the category is O(1).
    backoff: u32,
    /// From a list row when no event has been seen yet.
    summary_retrying: u32,
}

impl RunView {
    /// An empty view for a run announced by a stream event.
    pub fn new(workflow_id: &str, run_id: &str, workflow_type: &str, started_at_ms: i64) -> Self {
        RunView {
            workflow_id: workflow_id.to_string(),
            run_id: run_id.to_string(),
            workflow_type: workflow_type.to_string(),
            task_queue: String::new(),
            status: WorkflowStatus::Running,
            started_at_ms,
            closed_at_ms: None,
            parent: None,
            children: Vec::new(),
            step: String::new(),
            attempt: 0,
            events: Vec::new(),
            compact: Vec::new(),
            activities: BTreeMap::new(),
            timers: BTreeMap::new(),
            labels: BTreeMap::new(),
            signals: Vec::new(),
            failure: None,
            task_failure: None,
            backoff: 0,
            summary_retrying: 0,
        }
    }

    /// A view built from a list row (no history known yet).
    pub fn from_summary(s: &WorkflowSummary) -> Self {
        let mut v = RunView::new(&s.workflow_id, &s.run_id, &s.workflow_type, s.started_at_ms);
        v.task_queue = s.task_queue.clone();
        v.status = s.status;
        v.closed_at_ms = s.closed_at_ms;
        v.parent = s.parent_workflow_id.clone();
        v.summary_retrying = s.retrying_activities;
        v.step = if s.status.is_closed() { s.status.as_str().to_string() } else { String::new() };
        v
    }

    /// Id of the last event applied (0 when none).
    pub fn last_event_id(&self) -> u64 {
        self.events.last().map(|e| e.event_id).unwrap_or(0)
    }

    pub fn category(&self) -> Category {
        match self.status {
            WorkflowStatus::Running if self.backoff > 0 || self.summary_retrying > 0 => Category::Retrying,
            WorkflowStatus::Running => Category::Running,
            WorkflowStatus::Completed => Category::Completed,
            WorkflowStatus::Failed | WorkflowStatus::TimedOut => Category::Failed,
            _ => Category::Other,
        }
    }

    /// Activities currently waiting for a retry.
    pub fn retrying(&self) -> u32 {
        self.backoff.max(self.summary_retrying)
    }

    /// Folds one event in. Events at or below the last applied id are ignored, which makes
    /// replays after a reconnect and history backfills idempotent.
    pub fn apply(&mut self, ev: HistoryEvent) -> bool {
        if ev.event_id <= self.last_event_id() {
            return false;
        }
        self.summary_retrying = 0;
        let at = ev.timestamp_ms;
        use EventKind::*;
        match &ev.kind {
            WorkflowStarted { workflow_type, task_queue, parent, .. } => {
                self.workflow_type = workflow_type.clone();
                self.task_queue = task_queue.clone();
                self.parent = parent.as_ref().map(|p| p.workflow_id.clone());
                self.started_at_ms = at;
                self.step = "started".into();
            }
            WorkflowCompleted { .. } => self.close(WorkflowStatus::Completed, at, None),
            WorkflowFailed { failure } => self.close(WorkflowStatus::Failed, at, Some(failure.message.clone())),
            WorkflowCanceled { .. } => self.close(WorkflowStatus::Canceled, at, None),
            WorkflowTerminated { reason } => self.close(WorkflowStatus::Terminated, at, Some(reason.clone())),
            WorkflowTimedOut => self.close(WorkflowStatus::TimedOut, at, Some("run timed out".into())),
            WorkflowContinuedAsNew { .. } => self.close(WorkflowStatus::ContinuedAsNew, at, None),
            WorkflowCancelRequested { .. } => self.step = "cancel requested".into(),
            WorkflowSignaled { name, .. } => {
                self.signals.push(name.clone());
                self.step = format!("signal {name}");
            }
            WorkflowTaskCompleted { .. } => self.task_failure = None,
            WorkflowTaskFailed { message, .. } => self.task_failure = Some(message.clone()),
            WorkflowTaskTimedOut => self.task_failure = Some("workflow task timed out".into()),
            WorkflowTaskScheduled { .. } | WorkflowTaskStarted { .. } => {}
            ActivityScheduled { seq, activity_type, options, .. } => {
                self.activities.insert(
                    *seq,
                    ActivityView {
                        seq: *seq,
                        activity_type: activity_type.clone(),
                        state: ActivityState::Scheduled,
                        attempt: 1,
                        max_attempts: options.retry_policy.maximum_attempts,
                        last_failure: None,
                        failed_at_ms: None,
                        next_retry_at_ms: None,
                    },
                );
                self.step = activity_type.clone();
                self.attempt = 1;
                self.labels.insert(*seq, activity_type.clone());
            }
            ActivityStarted { seq, attempt, .. } => {
                let mut step = None;
                if let Some(a) = self.activities.get_mut(seq) {
                    if a.state == ActivityState::Backoff {
                        self.backoff = self.backoff.saturating_sub(1);
                    }
                    a.state = ActivityState::Started;
                    a.attempt = *attempt;
                    a.next_retry_at_ms = None;
                    step = Some(a.activity_type.clone());
                }
                if let Some(s) = step {
                    self.step = s;
                    self.attempt = *attempt;
                }
            }
            ActivityCompleted { seq, .. } | ActivityCanceled { seq } => self.finish_activity(*seq),
            ActivityFailed { seq, attempt, failure, next_retry_at_ms } => {
                self.fail_activity(*seq, *attempt, failure.message.clone(), *next_retry_at_ms, at)
            }
            ActivityTimedOut { seq, attempt, timeout, next_retry_at_ms } => {
                let msg = format!("timed out ({})", serde_json::to_value(timeout).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default());
                self.fail_activity(*seq, *attempt, msg, *next_retry_at_ms, at)
            }
            ActivityCancelRequested { .. } => {}
            TimerStarted { seq, duration_ms, fire_at_ms } => {
                self.timers.insert(*seq, TimerView { seq: *seq, started_at_ms: at, fire_at_ms: *fire_at_ms });
                self.step = format!("timer {}", super::super::ui::fmt_duration(*duration_ms as i64));
                self.labels.insert(*seq, self.step.clone());
                self.attempt = 0;
            }
            TimerFired { seq } | TimerCanceled { seq } => {
                self.timers.remove(seq);
            }
            ChildWorkflowInitiated { seq, workflow_id, workflow_type, .. } => {
                self.children.push(ChildRow {
                    seq: *seq,
                    workflow_id: workflow_id.clone(),
                    workflow_type: workflow_type.clone(),
                    status: None,
                });
                self.step = format!("child {workflow_type}");
                self.labels.insert(*seq, format!("child {workflow_id}"));
                self.attempt = 0;
            }
            ChildWorkflowStarted { .. } => {}
            ChildWorkflowStartFailed { seq, .. } | ChildWorkflowFailed { seq, .. } => self.child_closed(*seq, WorkflowStatus::Failed),
            ChildWorkflowCompleted { seq, .. } => self.child_closed(*seq, WorkflowStatus::Completed),
            ChildWorkflowCanceled { seq } => self.child_closed(*seq, WorkflowStatus::Canceled),
            ChildWorkflowTerminated { seq } => self.child_closed(*seq, WorkflowStatus::Terminated),
            ChildWorkflowTimedOut { seq } => self.child_closed(*seq, WorkflowStatus::TimedOut),
            ExternalSignalSent { name, workflow_id, .. } => self.step = format!("signal {name} → {workflow_id}"),
            ExternalSignalFailed { .. } | MarkerRecorded { .. } => {}
        }
        if !is_bookkeeping(&ev.kind) {
            self.compact.push(self.events.len() as u32);
        }
        self.events.push(ev);
        true
    }

    fn close(&mut self, status: WorkflowStatus, at: i64, failure: Option<String>) {
        self.status = status;
        self.closed_at_ms = Some(at);
        self.failure = failure;
        self.step = status.as_str().replace('_', " ");
        self.attempt = 0;
        self.activities.clear();
        self.timers.clear();
        self.backoff = 0;
    }

    fn finish_activity(&mut self, seq: u64) {
        if let Some(a) = self.activities.remove(&seq) {
            if a.state == ActivityState::Backoff {
                self.backoff = self.backoff.saturating_sub(1);
            }
        }
    }

    fn fail_activity(&mut self, seq: u64, attempt: u32, message: String, next: Option<i64>, at: i64) {
        let Some(a) = self.activities.get_mut(&seq) else { return };
        let was_backoff = a.state == ActivityState::Backoff;
        match next {
            Some(next_at) => {
                a.state = ActivityState::Backoff;
                a.attempt = attempt.saturating_add(1);
                a.last_failure = Some(message);
                a.failed_at_ms = Some(at);
                a.next_retry_at_ms = Some(next_at);
                if !was_backoff {
                    self.backoff += 1;
                }
            }
            None => {
                // Final failure: the workflow is told; the activity is no longer pending.
                self.activities.remove(&seq);
                if was_backoff {
                    self.backoff = self.backoff.saturating_sub(1);
                }
            }
        }
    }

    fn child_closed(&mut self, seq: u64, status: WorkflowStatus) {
        if let Some(c) = self.children.iter_mut().find(|c| c.seq == seq) {
            c.status = Some(status);
        }
    }
}

/// Workflow-task bookkeeping, left out of the compact history view.
pub fn is_bookkeeping(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::WorkflowTaskScheduled { .. }
            | EventKind::WorkflowTaskStarted { .. }
            | EventKind::WorkflowTaskCompleted { .. }
    )
}
