//! Reading a history for replay: where activations begin, which events record commands (to be
//! matched) and which resolve something the workflow waits for.

use faultline_proto::{Command, EventKind, Failure, HistoryEvent};

use super::context::timeout_failure;
use super::state::{Outcome, RunState};

/// Indices of the `workflow_task_started` events that began an activation: those whose task
/// completed, plus a last one with no outcome yet (the task being processed). Started events
/// of failed or timed-out tasks are skipped: their commands were never recorded, and the events
/// that followed them belong to the next activation.
pub(crate) fn activation_starts(history: &[HistoryEvent]) -> Vec<usize> {
    let mut starts = Vec::new();
    for (i, e) in history.iter().enumerate() {
        if !matches!(e.kind, EventKind::WorkflowTaskStarted { .. }) {
            continue;
        }
        let outcome = history[i + 1..].iter().find(|n| {
            matches!(
                n.kind,
                EventKind::WorkflowTaskCompleted { .. }
                    | EventKind::WorkflowTaskFailed { .. }
                    | EventKind::WorkflowTaskTimedOut
            )
        });
        match outcome.map(|n| &n.kind) {
            None | Some(EventKind::WorkflowTaskCompleted { .. }) => starts.push(i),
            _ => {}
        }
    }
    starts
}

/// What a command or a command-recording event is, for matching: kind name, seq, and the
/// name of what it schedules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub kind: &'static str,
    pub seq: Option<u64>,
    pub name: Option<String>,
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind)?;
        match (&self.seq, &self.name) {
            (Some(s), Some(n)) => write!(f, " (seq {s}, '{n}')"),
            (Some(s), None) => write!(f, " (seq {s})"),
            (None, Some(n)) => write!(f, " ('{n}')"),
            (None, None) => Ok(()),
        }
    }
}

/// The command an event records, if it records one. Events the engine writes later or only
/// sometimes (signal delivery, cancel requests and timer cancels) are not matched.
pub(crate) fn recorded_command(e: &EventKind) -> Option<Shape> {
    let s = |kind, seq, name: Option<&String>| Some(Shape { kind, seq, name: name.cloned() });
    match e {
        EventKind::ActivityScheduled { seq, activity_type, .. } => {
            s("schedule_activity", Some(*seq), Some(activity_type))
        }
        EventKind::TimerStarted { seq, .. } => s("start_timer", Some(*seq), None),
        EventKind::ChildWorkflowInitiated { seq, workflow_type, .. } => {
            s("start_child_workflow", Some(*seq), Some(workflow_type))
        }
        EventKind::MarkerRecorded { seq, name, .. } => s("record_marker", Some(*seq), Some(name)),
        EventKind::WorkflowCompleted { .. } => s("complete_workflow", None, None),
        EventKind::WorkflowFailed { .. } => s("fail_workflow", None, None),
        EventKind::WorkflowCanceled { .. } => s("cancel_workflow", None, None),
        EventKind::WorkflowContinuedAsNew { .. } => s("continue_as_new", None, None),
        _ => None,
    }
}

/// The shape of a command, or `None` for commands whose events are not matched.
pub(crate) fn command_shape(c: &Command) -> Option<Shape> {
    let s = |seq, name: Option<&String>| Some(Shape { kind: c.name(), seq, name: name.cloned() });
    match c {
        Command::ScheduleActivity { seq, activity_type, .. } => s(Some(*seq), Some(activity_type)),
        Command::StartTimer { seq, .. } => s(Some(*seq), None),
        Command::StartChildWorkflow { seq, workflow_type, .. } => s(Some(*seq), Some(workflow_type)),
        Command::RecordMarker { seq, name, .. } => s(Some(*seq), Some(name)),
        Command::CompleteWorkflow { .. }
        | Command::FailWorkflow { .. }
        | Command::CancelWorkflow { .. }
        | Command::ContinueAsNew { .. } => s(None, None),
        // The engine records nothing for these at once (a signal is delivered later, a cancel
        // of something already finished is dropped), so there is nothing to match.
        Command::RequestCancelActivity { .. } | Command::CancelTimer { .. } | Command::SignalExternalWorkflow { .. } => None,
    }
}

/// Applies one event to the run state if it resolves something. Non-final activity failures
/// (a retry follows) resolve nothing.
pub(crate) fn apply_resolution(state: &mut RunState, e: &EventKind) {
    // The first outcome wins: a timer cancelled by the code stays cancelled even if the engine
    // fired it before it saw the cancel (and the same happens on every replay).
    let mut resolve = |seq: u64, o: Outcome| {
        state.outcomes.entry(seq).or_insert(o);
    };
    match e {
        EventKind::ActivityCompleted { seq, result, .. } => resolve(*seq, Outcome::Ok(result.clone())),
        EventKind::ActivityFailed { seq, failure, next_retry_at_ms: None, .. } => {
            resolve(*seq, Outcome::Failed(failure.clone()))
        }
        EventKind::ActivityTimedOut { seq, timeout, next_retry_at_ms: None, .. } => {
            let what = format!("activity ({})", serde_json::to_value(timeout).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default());
            resolve(*seq, Outcome::Failed(timeout_failure(&what)))
        }
        EventKind::ActivityCanceled { seq } => resolve(*seq, Outcome::Cancelled),
        EventKind::TimerFired { seq } => resolve(*seq, Outcome::Ok(serde_json::Value::Null)),
        EventKind::TimerCanceled { seq } => resolve(*seq, Outcome::Cancelled),
        EventKind::ChildWorkflowStartFailed { seq, reason } => resolve(
            *seq,
            Outcome::Failed(Failure {
                message: format!("child could not start: {reason}"),
                error_type: Some("ChildStartFailed".into()),
                ..Failure::default()
            }),
        ),
        EventKind::ChildWorkflowCompleted { seq, result } => resolve(*seq, Outcome::Ok(result.clone())),
        EventKind::ChildWorkflowFailed { seq, failure } => resolve(*seq, Outcome::Failed(failure.clone())),
        EventKind::ChildWorkflowCanceled { seq } => resolve(*seq, Outcome::Cancelled),
        EventKind::ChildWorkflowTerminated { seq } => resolve(
            *seq,
            Outcome::Failed(Failure {
                message: "child workflow was terminated".into(),
                error_type: Some("Terminated".into()),
                ..Failure::default()
            }),
        ),
        EventKind::ChildWorkflowTimedOut { seq } => {
            resolve(*seq, Outcome::Failed(timeout_failure("child workflow")))
        }
        EventKind::ExternalSignalSent { seq, .. } => resolve(*seq, Outcome::Ok(serde_json::Value::Null)),
        EventKind::ExternalSignalFailed { seq, reason, .. } => {
            resolve(*seq, Outcome::Failed(Failure::new(reason.clone())))
        }
        EventKind::WorkflowSignaled { name, payload } => {
            state.signals.entry(name.clone()).or_default().push_back(payload.clone());
        }
        EventKind::WorkflowCancelRequested { .. } => state.cancel_requested = true,
        _ => {}
    }
}
