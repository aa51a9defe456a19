//! Client-facing request and response bodies.

use serde::{Deserialize, Serialize};

use crate::{EpochMillis, Failure, IdConflictPolicy, Payload, WorkflowOptions};

/// `POST /api/v1/workflows`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartWorkflowRequest {
    pub workflow_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    #[serde(default)]
    pub input: Payload,
    #[serde(default)]
    pub options: WorkflowOptions,
    #[serde(default)]
    pub id_conflict: IdConflictPolicy,
}

/// Answer to a start (and to signal-with-start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartWorkflowResponse {
    pub workflow_id: String,
    pub run_id: String,
    /// False when an existing run was returned instead of starting a new one.
    pub started: bool,
    /// With `?wait_ms=N`: how the workflow ended, if it did within the wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<WorkflowResultResponse>,
}

/// `POST /api/v1/workflows/{workflow_id}/signal`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalRequest {
    pub name: String,
    #[serde(default)]
    pub payload: Payload,
}

/// `POST /api/v1/signal-with-start`: signals the running run, or starts one and signals it,
/// in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalWithStartRequest {
    pub start: StartWorkflowRequest,
    pub signal: SignalRequest,
}

/// `POST /api/v1/workflows/{workflow_id}/cancel` and `/terminate`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReasonRequest {
    #[serde(default)]
    pub reason: String,
}

/// The status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    Running,
    Completed,
    Failed,
    Canceled,
    Terminated,
    TimedOut,
    ContinuedAsNew,
}

impl WorkflowStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            WorkflowStatus::Running => "running",
            WorkflowStatus::Completed => "completed",
            WorkflowStatus::Failed => "failed",
            WorkflowStatus::Canceled => "canceled",
            WorkflowStatus::Terminated => "terminated",
            WorkflowStatus::TimedOut => "timed_out",
            WorkflowStatus::ContinuedAsNew => "continued_as_new",
        }
    }

    pub fn is_closed(&self) -> bool {
        !matches!(self, WorkflowStatus::Running)
    }
}

/// One row of `GET /api/v1/workflows?status=...`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSummary {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub status: WorkflowStatus,
    pub started_at_ms: EpochMillis,
    pub closed_at_ms: Option<EpochMillis>,
    pub parent_workflow_id: Option<String>,
    /// Number of activities currently waiting for a retry.
    pub retrying_activities: u32,
}

/// `GET /api/v1/workflows` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListWorkflowsResponse {
    pub workflows: Vec<WorkflowSummary>,
}

/// State of a pending activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingActivityState {
    /// Waiting in the task queue for a worker.
    Scheduled,
    /// A worker holds the current attempt.
    Started,
    /// The last attempt failed; the next one is dispatched at `next_retry_at_ms`.
    Backoff,
    CancelRequested,
}

/// A pending activity in `describe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingActivity {
    pub seq: u64,
    pub activity_type: String,
    pub state: PendingActivityState,
    /// The current (or next) attempt, 1-based.
    pub attempt: u32,
    /// 0 = unlimited.
    pub maximum_attempts: u32,
    pub scheduled_at_ms: EpochMillis,
    pub last_started_at_ms: Option<EpochMillis>,
    pub last_failure: Option<Failure>,
    pub last_worker: Option<String>,
    pub next_retry_at_ms: Option<EpochMillis>,
    pub last_heartbeat_at_ms: Option<EpochMillis>,
    pub heartbeat_details: Option<Payload>,
}

/// A pending durable timer in `describe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTimer {
    pub seq: u64,
    pub started_at_ms: EpochMillis,
    pub fire_at_ms: EpochMillis,
}

/// A child in `describe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildInfo {
    pub seq: u64,
    pub workflow_id: String,
    pub run_id: Option<String>,
    pub workflow_type: String,
    pub status: Option<WorkflowStatus>,
}

/// A worker currently (or recently) polling a task queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollerInfo {
    pub worker: String,
    pub task_queue: String,
    /// "workflow" or "activity".
    pub kind: String,
    pub last_poll_at_ms: EpochMillis,
}

/// The pending workflow task, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingWorkflowTask {
    pub attempt: u32,
    pub scheduled_at_ms: EpochMillis,
    pub started_at_ms: Option<EpochMillis>,
    pub worker: Option<String>,
    /// Message of the last failed attempt (a nondeterminism error, for example).
    pub last_failure: Option<String>,
}

/// `GET /api/v1/workflows/{workflow_id}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DescribeWorkflowResponse {
    pub summary: WorkflowSummary,
    pub result: Option<Payload>,
    pub failure: Option<Failure>,
    pub pending_workflow_task: Option<PendingWorkflowTask>,
    pub pending_activities: Vec<PendingActivity>,
    pub pending_timers: Vec<PendingTimer>,
    pub children: Vec<ChildInfo>,
    /// Pollers of the run's task queue seen in the last minute.
    pub pollers: Vec<PollerInfo>,
    pub history_length: u64,
}

/// `GET /api/v1/workflows/{workflow_id}/history` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryResponse {
    pub workflow_id: String,
    pub run_id: String,
    pub events: Vec<crate::HistoryEvent>,
}

/// `GET /api/v1/workflows/{workflow_id}/result?wait_ms=N`: 200 with this once the run closed,
/// 202 Accepted with `status: running` if it is still running when the wait ends.
/// Follows continue-as-new to the last run of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowResultResponse {
    pub workflow_id: String,
    pub run_id: String,
    pub status: WorkflowStatus,
    pub result: Option<Payload>,
    pub failure: Option<Failure>,
}

/// One recorded attempt of an activity (`GET .../activities/{seq}/attempts`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityAttempt {
    pub seq: u64,
    pub attempt: u32,
    pub worker: String,
    pub started_at_ms: EpochMillis,
    pub ended_at_ms: Option<EpochMillis>,
    /// "running", "completed", "failed" or "timed_out".
    pub outcome: String,
    pub failure: Option<Failure>,
    pub next_retry_at_ms: Option<EpochMillis>,
}

/// `GET /api/v1/task-queues/{name}` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskQueueResponse {
    pub task_queue: String,
    pub pollers: Vec<PollerInfo>,
    pub backlog_workflow_tasks: u64,
    pub backlog_activity_tasks: u64,
}

/// A schedule: start `start.workflow_type` every `interval_ms`, or on `cron`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    pub schedule_id: String,
    /// The template; each start gets the id `<workflow_id>-<fire time in ms>`.
    pub start: StartWorkflowRequest,
    #[serde(default)]
    pub interval_ms: Option<u64>,
    /// A cron expression with seconds: `sec min hour day-of-month month day-of-week`.
    #[serde(default)]
    pub cron: Option<String>,
}

/// `GET /api/v1/schedules` row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleInfo {
    pub spec: ScheduleSpec,
    pub next_fire_at_ms: EpochMillis,
    pub last_started_run_id: Option<String>,
    pub skipped: u64,
}

/// Every error body: a machine-readable code plus a message that says what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// e.g. "not_found", "conflict", "bad_request", "stale_task_token", "payload_too_large".
    pub code: String,
    pub message: String,
}
