//! One workflow run, folded incrementally from its history events.
//!
//! Every field the panels and the runner read (status, current step, attempt, pending
//! activities with their backoff, timers, children, failures) is updated in O(1) per event,
//! so drawing a frame never walks the history; only the visible window of the history list
//! is read. The statuses are defined once here ([`RunView::category`], [`RunView::is_retrying`],
//! [`RunView::in_backoff`]) and rolled up per order in [`super::Projection`].

use std::collections::BTreeMap;

use faultline_proto::{EventKind, HistoryEvent, TimeoutKind, WorkflowStatus, WorkflowSummary};

/// The coarse, exclusive status used for the workflow list and its filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    Running,
    /// Running, with an activity that failed and has not succeeded since (see
    /// [`RunView::is_retrying`]).
    Retrying,
    Completed,
    /// Failed, timed out or terminated: the run ended without doing its job.
    Failed,
    /// Canceled on purpose.
    Canceled,
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

impl ActivityView {
    /// An attempt of it failed and it has not succeeded since: whether the next attempt
    /// waits ([`ActivityState::Backoff`]) or is already running.
    pub fn is_failing(&self) -> bool {
        self.last_failure.is_some()
    }
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

/// What a run is doing now (or what a `seq` of its history refers to), as typed facts; the
/// screens put them into words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Step {
    /// Nothing seen yet (a list row without history).
    #[default]
    Unknown,
    Started,
    Activity { activity_type: String },
    Timer { duration_ms: u64 },
    Child { workflow_id: String, workflow_type: String },
    /// A signal came in.
    Signaled { name: String },
    /// This run signalled another workflow.
    SignalSent { name: String, to: String },
    CancelRequested,
    Closed(WorkflowStatus),
}

/// One failure of an activity attempt, with when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureSeen {
    pub at_ms: i64,
    pub activity_type: String,
    pub attempt: u32,
    pub message: String,
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
    pub step: Step,
    /// Attempt of the activity in `step` (0 when the step is not an activity).
    pub attempt: u32,
    /// The history, when the projection keeps histories (the dashboard does, the runner not).
    pub events: Vec<HistoryEvent>,
    /// Events of this run no longer in `events`: let go to keep the projection within its
    /// history budget after the run closed.
    pub events_let_go: u64,
    /// Its closing event was applied (a list row can say closed before its history arrives).
    pub closed_by_event: bool,
    /// Indices into `events` of the compact view (workflow-task bookkeeping left out).
    pub compact: Vec<u32>,
    /// Id of the last event applied, whether or not `events` keeps it.
    pub last_event_id: u64,
    pub activities: BTreeMap<u64, ActivityView>,
    pub timers: BTreeMap<u64, TimerView>,
    /// What each `seq` of the history refers to: an activity, a timer or a child.
    pub labels: BTreeMap<u64, Step>,
    /// Names of the signals received, in order.
    pub signals: Vec<String>,
    /// Why the run failed (or was terminated).
    pub failure: Option<String>,
    /// The last failed workflow task (e.g. a nondeterminism error), cleared on the next success.
    pub task_failure: Option<String>,
    /// Activity attempts that failed and were retried.
    pub retries: u64,
    /// Timers of this run that fired.
    pub timers_fired: u64,
    /// Activity types that completed (what "charged" is read from).
    pub completed_activities: Vec<String>,
    /// The last activity failure of the run, kept after the activity succeeds.
    pub last_failure: Option<FailureSeen>,
    /// How often each failure message was seen (at most [`FAILURE_KINDS`] kinds).
    pub failure_counts: BTreeMap<String, u32>,
    /// From a list row when no event has been seen yet.
    summary_retrying: u32,
}

/// Distinct failure messages counted per run; more are folded into the last one.
pub const FAILURE_KINDS: usize = 16;

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
            step: Step::Unknown,
            attempt: 0,
            events: Vec::new(),
            compact: Vec::new(),
            events_let_go: 0,
            closed_by_event: false,
            last_event_id: 0,
            activities: BTreeMap::new(),
            timers: BTreeMap::new(),
            labels: BTreeMap::new(),
            signals: Vec::new(),
            failure: None,
            task_failure: None,
            retries: 0,
            timers_fired: 0,
            completed_activities: Vec::new(),
            last_failure: None,
            failure_counts: BTreeMap::new(),
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
        if s.status.is_closed() {
            v.step = Step::Closed(s.status);
        }
        v
    }

    /// Id of the last event applied (0 when none).
    pub fn last_event_id(&self) -> u64 {
        self.last_event_id
    }

    pub fn is_open(&self) -> bool {
        !self.status.is_closed() || self.status == WorkflowStatus::ContinuedAsNew
    }

    /// The one definition of "retrying": the run is open and one of its activities failed an
    /// attempt and has not succeeded since, whether its next attempt waits or runs. (Counting
    /// only the wait would make the number flicker while a retry is in flight.)
    pub fn is_retrying(&self) -> bool {
        self.is_open() && (self.summary_retrying > 0 || self.activities.values().any(ActivityView::is_failing))
    }

    /// Open, with an activity waiting for its next attempt (what "retry now" acts on).
    pub fn in_backoff(&self) -> bool {
        self.is_open() && (self.summary_retrying > 0 || self.activities.values().any(|a| a.state == ActivityState::Backoff))
    }

    /// Open, with a durable timer pending.
    pub fn on_timer(&self) -> bool {
        self.is_open() && !self.timers.is_empty()
    }

    /// Seqs of the activities waiting for their next attempt.
    pub fn backoff_seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.activities.values().filter(|a| a.state == ActivityState::Backoff).map(|a| a.seq)
    }

    /// The most frequent failure message of the run (ties: the latest seen wins).
    pub fn most_frequent_failure(&self) -> Option<(&str, u32)> {
        let last = self.last_failure.as_ref().map(|f| f.message.as_str());
        self.failure_counts
            .iter()
            .max_by_key(|(m, n)| (**n, Some(m.as_str()) == last))
            .map(|(m, n)| (m.as_str(), *n))
    }

    pub fn category(&self) -> Category {
        match self.status {
            _ if self.is_retrying() => Category::Retrying,
            WorkflowStatus::Running | WorkflowStatus::ContinuedAsNew => Category::Running,
            WorkflowStatus::Completed => Category::Completed,
            WorkflowStatus::Failed | WorkflowStatus::TimedOut | WorkflowStatus::Terminated => Category::Failed,
            WorkflowStatus::Canceled => Category::Canceled,
        }
    }

    /// Activities currently waiting for a retry.
    pub fn retrying(&self) -> u32 {
        let backoff = self.activities.values().filter(|a| a.state == ActivityState::Backoff).count() as u32;
        backoff.max(self.summary_retrying)
    }

    /// Folds one event in; `keep` says whether to keep the event itself (the history view).
    /// Events at or below the last applied id are ignored, which makes replays after a
    /// reconnect and history backfills idempotent.
    pub fn apply(&mut self, ev: HistoryEvent, keep: bool) -> bool {
        if ev.event_id <= self.last_event_id {
            return false;
        }
        self.last_event_id = ev.event_id;
        self.summary_retrying = 0;
        let at = ev.timestamp_ms;
        use EventKind::*;
        match &ev.kind {
            WorkflowStarted { workflow_type, task_queue, parent, .. } => {
                self.workflow_type = workflow_type.clone();
                self.task_queue = task_queue.clone();
                self.parent = parent.as_ref().map(|p| p.workflow_id.clone());
                self.started_at_ms = at;
                self.step = Step::Started;
            }
            kind if kind.is_terminal() => {
                let status = kind.closing_status().unwrap_or(WorkflowStatus::ContinuedAsNew);
                let failure = match kind {
                    WorkflowFailed { failure } => Some(failure.message.clone()),
                    WorkflowTerminated { reason } => Some(reason.clone()),
                    WorkflowTimedOut => Some("run timed out".into()),
                    _ => None,
                };
                self.close(status, at, failure);
            }
            WorkflowCancelRequested { .. } => self.step = Step::CancelRequested,
            WorkflowSignaled { name, .. } => {
                self.signals.push(name.clone());
                self.step = Step::Signaled { name: name.clone() };
            }
            WorkflowTaskCompleted { .. } => self.task_failure = None,
            WorkflowTaskFailed { message, .. } => self.task_failure = Some(message.clone()),
            WorkflowTaskTimedOut => self.task_failure = Some("workflow task timed out".into()),
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
                let step = Step::Activity { activity_type: activity_type.clone() };
                self.labels.insert(*seq, step.clone());
                self.step = step;
                self.attempt = 1;
            }
            ActivityStarted { seq, attempt, .. } => {
                if let Some(a) = self.activities.get_mut(seq) {
                    a.state = ActivityState::Started;
                    a.attempt = *attempt;
                    a.next_retry_at_ms = None;
                    self.step = Step::Activity { activity_type: a.activity_type.clone() };
                    self.attempt = *attempt;
                }
            }
            ActivityCompleted { seq, .. } => {
                if let Some(a) = self.activities.remove(seq) {
                    self.completed_activities.push(a.activity_type);
                }
            }
            ActivityCanceled { seq } => {
                self.activities.remove(seq);
            }
            ActivityFailed { seq, attempt, failure, next_retry_at_ms } => {
                self.fail_activity(*seq, *attempt, failure.message.clone(), *next_retry_at_ms, at)
            }
            ActivityTimedOut { seq, attempt, timeout, next_retry_at_ms } => {
                self.fail_activity(*seq, *attempt, timeout_text(*timeout), *next_retry_at_ms, at)
            }
            TimerStarted { seq, duration_ms, fire_at_ms } => {
                self.timers.insert(*seq, TimerView { seq: *seq, started_at_ms: at, fire_at_ms: *fire_at_ms });
                let step = Step::Timer { duration_ms: *duration_ms };
                self.labels.insert(*seq, step.clone());
                self.step = step;
                self.attempt = 0;
            }
            TimerFired { seq } if self.timers.remove(seq).is_some() => self.timers_fired += 1,
            TimerCanceled { seq } => {
                self.timers.remove(seq);
            }
            ChildWorkflowInitiated { seq, workflow_id, workflow_type, .. } => {
                self.children.push(ChildRow { seq: *seq, workflow_id: workflow_id.clone(), workflow_type: workflow_type.clone(), status: None });
                let step = Step::Child { workflow_id: workflow_id.clone(), workflow_type: workflow_type.clone() };
                self.labels.insert(*seq, step.clone());
                self.step = step;
                self.attempt = 0;
            }
            ChildWorkflowStartFailed { seq, .. } | ChildWorkflowFailed { seq, .. } => self.child_closed(*seq, WorkflowStatus::Failed),
            ChildWorkflowCompleted { seq, .. } => self.child_closed(*seq, WorkflowStatus::Completed),
            ChildWorkflowCanceled { seq } => self.child_closed(*seq, WorkflowStatus::Canceled),
            ChildWorkflowTerminated { seq } => self.child_closed(*seq, WorkflowStatus::Terminated),
            ChildWorkflowTimedOut { seq } => self.child_closed(*seq, WorkflowStatus::TimedOut),
            ExternalSignalSent { name, workflow_id, .. } => self.step = Step::SignalSent { name: name.clone(), to: workflow_id.clone() },
            _ => {}
        }
        if keep {
            if !is_bookkeeping(&ev.kind) {
                self.compact.push(self.events.len() as u32);
            }
            self.events.push(ev);
        }
        true
    }

    fn close(&mut self, status: WorkflowStatus, at: i64, failure: Option<String>) {
        self.closed_by_event = true;
        self.status = status;
        self.closed_at_ms = Some(at);
        self.failure = failure;
        self.step = Step::Closed(status);
        self.attempt = 0;
        // A closed run holds no pending retries or timers any more.
        self.activities.clear();
        self.timers.clear();
    }

    fn fail_activity(&mut self, seq: u64, attempt: u32, message: String, next: Option<i64>, at: i64) {
        let Some(a) = self.activities.get_mut(&seq) else { return };
        let seen = FailureSeen { at_ms: at, activity_type: a.activity_type.clone(), attempt, message: message.clone() };
        match next {
            Some(next_at) => {
                a.state = ActivityState::Backoff;
                a.attempt = attempt.saturating_add(1);
                a.last_failure = Some(message.clone());
                a.failed_at_ms = Some(at);
                a.next_retry_at_ms = Some(next_at);
                self.retries += 1;
            }
            // Final failure: the workflow is told; the activity is no longer pending.
            None => {
                self.activities.remove(&seq);
            }
        }
        if self.failure_counts.len() < FAILURE_KINDS || self.failure_counts.contains_key(&message) {
            *self.failure_counts.entry(message).or_default() += 1;
        }
        self.last_failure = Some(seen);
    }

    fn child_closed(&mut self, seq: u64, status: WorkflowStatus) {
        if let Some(c) = self.children.iter_mut().find(|c| c.seq == seq) {
            c.status = Some(status);
        }
    }
}

/// `timed out (start_to_close)`.
pub(super) fn timeout_text(kind: TimeoutKind) -> String {
    let name = match kind {
        TimeoutKind::ScheduleToStart => "schedule_to_start",
        TimeoutKind::StartToClose => "start_to_close",
        TimeoutKind::ScheduleToClose => "schedule_to_close",
        TimeoutKind::Heartbeat => "heartbeat",
    };
    format!("timed out ({name})")
}

/// Workflow-task bookkeeping, left out of the compact history view.
pub fn is_bookkeeping(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::WorkflowTaskScheduled { .. } | EventKind::WorkflowTaskStarted { .. } | EventKind::WorkflowTaskCompleted { .. }
    )
}
