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
    /// Activity tasks the worker can run at once: the engine may hand it, in the answer, the
    /// activities these commands schedule (up to `eager.activities` of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager: Option<EagerRequest>,
}

/// What a reporting worker can take at once, instead of polling for it (eager dispatch).
///
/// A task the report's own transition creates on `task_queue` is then claimed in the same
/// transaction (its `*_started` event is committed with the report) and returned in the
/// answer. That saves a poll round trip and a commit per task. A task handed out this way and
/// lost with the answer comes back through its timeout, exactly like a polled one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EagerRequest {
    /// The queue the worker serves; only tasks on this queue are handed out eagerly.
    pub task_queue: String,
    /// Recorded in the started events, like a poll's `worker`.
    pub worker: String,
    /// Free activity slots (a workflow task completion may return this many activity tasks).
    #[serde(default)]
    pub activities: u32,
    /// A free workflow task slot (an activity completion may return the run's next workflow task).
    #[serde(default)]
    pub workflow_task: bool,
}

/// Answer to `POST /api/v1/tasks/workflow/complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteWorkflowTaskResponse {
    pub ok: bool,
    /// Activity tasks claimed for this worker in the completion's transaction; run them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity_tasks: Vec<ActivityTask>,
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
    /// With `eager.workflow_task`, the engine may answer with the run's next workflow task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eager: Option<EagerRequest>,
}

/// Answer to `POST /api/v1/tasks/activity/complete`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompleteActivityTaskResponse {
    pub ok: bool,
    /// The workflow task this completion scheduled, claimed for this worker; process it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_task: Option<WorkflowTask>,
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
