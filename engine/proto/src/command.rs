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
