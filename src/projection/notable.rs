//! Notable events of a run, typed: what a timeline of the run (the report's, the screen's)
//! is made of. Workflow-task bookkeeping and routine progress are left out.

use std::fmt;

use faultline_proto::{EventKind, HistoryEvent, WorkflowStatus};
use serde::Serialize;

use super::run::RunView;

/// A notable event of one workflow, at the engine's time of the event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notable {
    pub at_ms: i64,
    pub workflow_id: String,
    pub kind: NotableKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotableKind {
    AttemptFailed { activity_type: String, attempt: u32, message: String, will_retry: bool },
    TimerStarted { seq: u64, duration_ms: u64 },
    TimerFired { seq: u64 },
    Signaled { name: String },
    Closed { status: WorkflowStatus },
}

impl fmt::Display for NotableKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotableKind::AttemptFailed { activity_type, attempt, message, will_retry: true } => {
                write!(f, "{activity_type} attempt {attempt} failed ({message}), will retry")
            }
            NotableKind::AttemptFailed { activity_type, attempt, message, will_retry: false } => {
                write!(f, "{activity_type} attempt {attempt} failed for good ({message})")
            }
            NotableKind::TimerStarted { seq, duration_ms } => write!(f, "durable timer {seq} started ({duration_ms} ms)"),
            NotableKind::TimerFired { seq } => write!(f, "durable timer {seq} fired"),
            NotableKind::Signaled { name } => write!(f, "signal `{name}` received"),
            NotableKind::Closed { status } => write!(f, "{}", status.as_str().replace('_', " ")),
        }
    }
}

/// What `ev` is worth noting, read against the run before it is applied.
pub(super) fn of(run: &RunView, ev: &HistoryEvent) -> Option<NotableKind> {
    let activity = |seq: &u64| run.activities.get(seq).map(|a| a.activity_type.clone()).unwrap_or_else(|| format!("activity {seq}"));
    Some(match &ev.kind {
        EventKind::ActivityFailed { seq, attempt, failure, next_retry_at_ms } => NotableKind::AttemptFailed {
            activity_type: activity(seq),
            attempt: *attempt,
            message: failure.message.clone(),
            will_retry: next_retry_at_ms.is_some(),
        },
        EventKind::ActivityTimedOut { seq, attempt, timeout, next_retry_at_ms } => NotableKind::AttemptFailed {
            activity_type: activity(seq),
            attempt: *attempt,
            message: super::run::timeout_text(*timeout),
            will_retry: next_retry_at_ms.is_some(),
        },
        EventKind::TimerStarted { seq, duration_ms, .. } => NotableKind::TimerStarted { seq: *seq, duration_ms: *duration_ms },
        EventKind::TimerFired { seq } if run.timers.contains_key(seq) => NotableKind::TimerFired { seq: *seq },
        EventKind::WorkflowSignaled { name, .. } => NotableKind::Signaled { name: name.clone() },
        kind => NotableKind::Closed { status: kind.closing_status()? },
    })
}
