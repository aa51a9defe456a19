//! Commands: what replaying workflow code asks the engine to do next.

use serde::{Deserialize, Serialize};

use crate::{ActivityOptions, Failure, ParentClosePolicy, Payload, WorkflowOptions};

/// A command reported with a workflow task completion. Serialized with a `type` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    ScheduleActivity {
        seq: u64,
        activity_type: String,
        input: Payload,
        #[serde(default)]
        options: ActivityOptions,
    },
    RequestCancelActivity { seq: u64 },
    StartTimer { seq: u64, duration_ms: u64 },
    CancelTimer { seq: u64 },
    StartChildWorkflow {
        seq: u64,
        workflow_type: String,
        /// `None`: the engine derives `<parent id>/<seq>`.
        #[serde(default)]
        workflow_id: Option<String>,
        /// `None`: the parent's task queue.
        #[serde(default)]
        task_queue: Option<String>,
        input: Payload,
        #[serde(default)]
        options: WorkflowOptions,
        #[serde(default)]
        parent_close_policy: ParentClosePolicy,
    },
    SignalExternalWorkflow { seq: u64, workflow_id: String, name: String, payload: Payload },
    RecordMarker { seq: u64, name: String, details: Payload },
    CompleteWorkflow { result: Payload },
    FailWorkflow { failure: Failure },
    /// Accepts a cancellation request: the run closes as canceled.
    CancelWorkflow {
        #[serde(default)]
        details: Payload,
    },
    ContinueAsNew {
        input: Payload,
        /// `None`: the same workflow type.
        #[serde(default)]
        workflow_type: Option<String>,
    },
}

impl Command {
    /// The snake_case name used on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            Command::ScheduleActivity { .. } => "schedule_activity",
            Command::RequestCancelActivity { .. } => "request_cancel_activity",
            Command::StartTimer { .. } => "start_timer",
            Command::CancelTimer { .. } => "cancel_timer",
            Command::StartChildWorkflow { .. } => "start_child_workflow",
            Command::SignalExternalWorkflow { .. } => "signal_external_workflow",
            Command::RecordMarker { .. } => "record_marker",
            Command::CompleteWorkflow { .. } => "complete_workflow",
            Command::FailWorkflow { .. } => "fail_workflow",
            Command::CancelWorkflow { .. } => "cancel_workflow",
            Command::ContinueAsNew { .. } => "continue_as_new",
        }
    }
}

impl Command {
    /// True for the commands that close the run (complete, fail, cancel, continue-as-new).
    pub fn is_closing(&self) -> bool {
        matches!(
            self,
            Command::CompleteWorkflow { .. }
                | Command::FailWorkflow { .. }
                | Command::CancelWorkflow { .. }
                | Command::ContinueAsNew { .. }
        )
    }
}

/// A command list that cannot be applied as a whole: which command, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("commands[{index}] ({command}) {reason}")]
pub struct CommandError {
    pub index: usize,
    pub command: &'static str,
    pub reason: String,
}

/// Checks what a command list must satisfy whatever the run's state: at most one closing
/// command, and it comes last (nothing may follow the close of a run).
pub fn validate_commands(commands: &[Command]) -> Result<(), CommandError> {
    if let Some(close) = commands.iter().position(Command::is_closing) {
        if let Some(extra) = commands.get(close + 1) {
            return Err(CommandError {
                index: close + 1,
                command: extra.name(),
                reason: format!(
                    "follows {} at index {close}; a closing command must be the last one, and there can be only one",
                    commands[close].name()
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closing_command_must_be_last_and_alone() {
        let done = Command::CompleteWorkflow { result: Payload::Null };
        let fail = Command::FailWorkflow { failure: Failure::new("x") };
        let timer = Command::StartTimer { seq: 1, duration_ms: 1 };
        assert!(validate_commands(&[timer.clone(), done.clone()]).is_ok());
        let e = validate_commands(&[done.clone(), fail]).unwrap_err();
        assert_eq!((e.index, e.command), (1, "fail_workflow"));
        let e = validate_commands(&[done, timer]).unwrap_err();
        assert!(e.to_string().starts_with("commands[1] (start_timer) follows complete_workflow at index 0"), "{e}");
    }
}
