//! The history of a workflow run: an append-only, gapless list of typed events.

use serde::{Deserialize, Serialize};

use crate::{ActivityOptions, EpochMillis, Failure, ParentClosePolicy, Payload, WorkflowOptions};

/// One event in a run's history. `event_id` starts at 1 and has no gaps within a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub event_id: u64,
    pub timestamp_ms: EpochMillis,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Reference from a child run to its parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentRef {
    pub workflow_id: String,
    pub run_id: String,
    /// The `seq` of the parent's StartChildWorkflow command.
    pub seq: u64,
}

/// Why an activity attempt or a workflow task timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutKind {
    ScheduleToStart,
    StartToClose,
    ScheduleToClose,
    Heartbeat,
}

/// The event types. Serialized with a `type` tag in snake_case, e.g. `"activity_scheduled"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    // --- workflow ---
    WorkflowStarted {
        workflow_id: String,
        workflow_type: String,
        task_queue: String,
        input: Payload,
        #[serde(default)]
        options: WorkflowOptions,
        #[serde(default)]
        parent: Option<ParentRef>,
        /// Set when this run was created by continue-as-new.
        #[serde(default)]
        continued_from_run_id: Option<String>,
        /// Seed for the workflow's deterministic `random()`.
        random_seed: u64,
    },
    WorkflowCompleted { result: Payload },
    WorkflowFailed { failure: Failure },
    WorkflowCanceled {
        #[serde(default)]
        details: Payload,
    },
    WorkflowTerminated { reason: String },
    WorkflowTimedOut,
    WorkflowContinuedAsNew { new_run_id: String, input: Payload },
    WorkflowCancelRequested { reason: String },
    WorkflowSignaled { name: String, payload: Payload },

    // --- workflow tasks ---
    WorkflowTaskScheduled { task_queue: String, attempt: u32 },
    WorkflowTaskStarted { worker: String },
    WorkflowTaskCompleted { worker: String },
    WorkflowTaskFailed {
        message: String,
        /// True when the worker's code no longer matches the history.
        nondeterminism: bool,
        worker: String,
    },
    WorkflowTaskTimedOut,

    // --- activities ---
    ActivityScheduled {
        seq: u64,
        activity_type: String,
        input: Payload,
        task_queue: String,
        options: ActivityOptions,
    },
    /// One per attempt.
    ActivityStarted { seq: u64, attempt: u32, worker: String },
    ActivityCompleted { seq: u64, attempt: u32, result: Payload },
    /// One per failed attempt. `next_retry_at_ms` is set when the engine will retry; when it is
    /// `None` the failure is final and the workflow is told.
    ActivityFailed {
        seq: u64,
        attempt: u32,
        failure: Failure,
        next_retry_at_ms: Option<EpochMillis>,
    },
    /// Like `ActivityFailed`, for a timeout.
    ActivityTimedOut {
        seq: u64,
        attempt: u32,
        timeout: TimeoutKind,
        next_retry_at_ms: Option<EpochMillis>,
    },
    ActivityCancelRequested { seq: u64 },
    ActivityCanceled { seq: u64 },

    // --- timers ---
    TimerStarted { seq: u64, duration_ms: u64, fire_at_ms: EpochMillis },
    TimerFired { seq: u64 },
    TimerCanceled { seq: u64 },

    // --- children ---
    ChildWorkflowInitiated {
        seq: u64,
        workflow_id: String,
        workflow_type: String,
        task_queue: String,
        input: Payload,
        parent_close_policy: ParentClosePolicy,
    },
    ChildWorkflowStarted { seq: u64, run_id: String },
    ChildWorkflowStartFailed { seq: u64, reason: String },
    ChildWorkflowCompleted { seq: u64, result: Payload },
    ChildWorkflowFailed { seq: u64, failure: Failure },
    ChildWorkflowCanceled { seq: u64 },
    ChildWorkflowTerminated { seq: u64 },
    ChildWorkflowTimedOut { seq: u64 },

    // --- external signals and markers ---
    ExternalSignalSent { seq: u64, workflow_id: String, name: String },
    ExternalSignalFailed { seq: u64, workflow_id: String, reason: String },
    MarkerRecorded { seq: u64, name: String, details: Payload },
}

impl EventKind {
    /// The snake_case name used on the wire (`"activity_scheduled"`).
    pub fn name(&self) -> &'static str {
        use EventKind::*;
        match self {
            WorkflowStarted { .. } => "workflow_started",
            WorkflowCompleted { .. } => "workflow_completed",
            WorkflowFailed { .. } => "workflow_failed",
            WorkflowCanceled { .. } => "workflow_canceled",
            WorkflowTerminated { .. } => "workflow_terminated",
            WorkflowTimedOut => "workflow_timed_out",
            WorkflowContinuedAsNew { .. } => "workflow_continued_as_new",
            WorkflowCancelRequested { .. } => "workflow_cancel_requested",
            WorkflowSignaled { .. } => "workflow_signaled",
            WorkflowTaskScheduled { .. } => "workflow_task_scheduled",
            WorkflowTaskStarted { .. } => "workflow_task_started",
            WorkflowTaskCompleted { .. } => "workflow_task_completed",
            WorkflowTaskFailed { .. } => "workflow_task_failed",
            WorkflowTaskTimedOut => "workflow_task_timed_out",
            ActivityScheduled { .. } => "activity_scheduled",
            ActivityStarted { .. } => "activity_started",
            ActivityCompleted { .. } => "activity_completed",
            ActivityFailed { .. } => "activity_failed",
            ActivityTimedOut { .. } => "activity_timed_out",
            ActivityCancelRequested { .. } => "activity_cancel_requested",
            ActivityCanceled { .. } => "activity_canceled",
            TimerStarted { .. } => "timer_started",
            TimerFired { .. } => "timer_fired",
            TimerCanceled { .. } => "timer_canceled",
            ChildWorkflowInitiated { .. } => "child_workflow_initiated",
            ChildWorkflowStarted { .. } => "child_workflow_started",
            ChildWorkflowStartFailed { .. } => "child_workflow_start_failed",
            ChildWorkflowCompleted { .. } => "child_workflow_completed",
            ChildWorkflowFailed { .. } => "child_workflow_failed",
            ChildWorkflowCanceled { .. } => "child_workflow_canceled",
            ChildWorkflowTerminated { .. } => "child_workflow_terminated",
            ChildWorkflowTimedOut { .. } => "child_workflow_timed_out",
            ExternalSignalSent { .. } => "external_signal_sent",
            ExternalSignalFailed { .. } => "external_signal_failed",
            MarkerRecorded { .. } => "marker_recorded",
        }
    }

    /// The command sequence number this event refers to, if any.
    pub fn seq(&self) -> Option<u64> {
        use EventKind::*;
        match self {
            ActivityScheduled { seq, .. }
            | ActivityStarted { seq, .. }
            | ActivityCompleted { seq, .. }
            | ActivityFailed { seq, .. }
            | ActivityTimedOut { seq, .. }
            | ActivityCancelRequested { seq }
            | ActivityCanceled { seq }
            | TimerStarted { seq, .. }
            | TimerFired { seq }
            | TimerCanceled { seq }
            | ChildWorkflowInitiated { seq, .. }
            | ChildWorkflowStarted { seq, .. }
            | ChildWorkflowStartFailed { seq, .. }
            | ChildWorkflowCompleted { seq, .. }
            | ChildWorkflowFailed { seq, .. }
            | ChildWorkflowCanceled { seq }
            | ChildWorkflowTerminated { seq }
            | ChildWorkflowTimedOut { seq }
            | ExternalSignalSent { seq, .. }
            | ExternalSignalFailed { seq, .. }
            | MarkerRecorded { seq, .. } => Some(*seq),
            _ => None,
        }
    }

    /// The status a run ends in when this event closes it; `None` for events that do not.
    pub fn closing_status(&self) -> Option<crate::WorkflowStatus> {
        use crate::WorkflowStatus as S;
        use EventKind::*;
        Some(match self {
            WorkflowCompleted { .. } => S::Completed,
            WorkflowFailed { .. } => S::Failed,
            WorkflowCanceled { .. } => S::Canceled,
            WorkflowTerminated { .. } => S::Terminated,
            WorkflowTimedOut => S::TimedOut,
            WorkflowContinuedAsNew { .. } => S::ContinuedAsNew,
            _ => return None,
        })
    }

    /// True for the events that close a run.
    pub fn is_terminal(&self) -> bool {
        use EventKind::*;
        matches!(
            self,
            WorkflowCompleted { .. }
                | WorkflowFailed { .. }
                | WorkflowCanceled { .. }
                | WorkflowTerminated { .. }
                | WorkflowTimedOut
                | WorkflowContinuedAsNew { .. }
        )
    }
}

/// One committed event as seen on the live stream: the event plus where it belongs.
/// `cursor` is global, strictly increasing and gapless across all runs; a client resumes
/// with `?after=<cursor>` (or the SSE `Last-Event-ID` header).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    pub cursor: u64,
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub event: HistoryEvent,
}
