//! Tasks handed to workers through long polls, and the bodies workers send back.

use serde::{Deserialize, Serialize};

use crate::{Command, EpochMillis, Failure, HistoryEvent, Payload};

/// Body of `POST /api/v1/tasks/{workflow|activity}/poll`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollRequest {
    pub task_queue: String,
    /// Free-form worker identity, recorded in history and shown as a poller.
    pub worker: String,
    /// How long the engine may hold the poll open before answering 204 No Content.
    #[serde(default = "default_poll_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_poll_timeout_ms() -> u64 {
    30_000
}

/// A workflow task: replay `history` and report the new commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowTask {
    /// Opaque; rejected once the task completed, failed or timed out.
    pub task_token: String,
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    /// The whole history of the run up to and including the `workflow_task_started` event.
    pub history: Vec<HistoryEvent>,
    pub attempt: u32,
}

/// An activity task: run it once (one attempt) and report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityTask {
    pub task_token: String,
    pub workflow_id: String,
    pub run_id: String,
    /// The `seq` of the ScheduleActivity command.
    pub seq: u64,
    pub activity_type: String,
    pub input: Payload,
    /// 1-based.
    pub attempt: u32,
    /// Stable across retries of this activity: `<run_id>:<seq>`. Pass it to services.
    pub idempotency_key: String,
    /// Details of the last heartbeat of a previous attempt, if any.
    pub heartbeat_details: Option<Payload>,
    /// The attempt must be reported before this instant.
    pub deadline_ms: Option<EpochMillis>,
    pub heartbeat_timeout_ms: Option<u64>,
}

/// `POST /api/v1/tasks/workflow/complete`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteWorkflowTaskRequest {
    pub task_token: String,
    pub commands: Vec<Command>,
}

/// `POST /api/v1/tasks/workflow/fail`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailWorkflowTaskRequest {
    pub task_token: String,
    pub message: String,
    #[serde(default)]
    pub nondeterminism: bool,
}

/// `POST /api/v1/tasks/activity/complete`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteActivityTaskRequest {
    pub task_token: String,
    pub result: Payload,
}

/// `POST /api/v1/tasks/activity/fail`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailActivityTaskRequest {
    pub task_token: String,
    pub failure: Failure,
}

/// `POST /api/v1/tasks/activity/heartbeat`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    pub task_token: String,
    #[serde(default)]
    pub details: Option<Payload>,
}

/// Answer to a heartbeat: tells the activity whether it should stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    pub cancel_requested: bool,
}

/// Answer to a task completion or failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    pub ok: bool,
}
