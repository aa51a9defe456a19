//! Several worker reports in one round trip: `POST /api/v1/tasks/reports`.
//!
//! A busy worker finishes many tasks at once; sending each report on its own costs a request,
//! two system calls per side and a wake-up each. The SDK gathers the reports that are ready
//! while its previous batch is on the wire and sends them together. Each report is still its
//! own transition with its own answer: one failing does not affect the others.

use serde::{Deserialize, Serialize};

use crate::{
    ActivityTask, CompleteActivityTaskRequest, CompleteWorkflowTaskRequest, FailActivityTaskRequest,
    FailWorkflowTaskRequest, WorkflowTask,
};

/// Most reports one batch may carry.
pub const MAX_REPORTS_PER_BATCH: usize = 256;

/// One report: the body of the matching single endpoint, tagged with `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskReport {
    CompleteWorkflowTask(CompleteWorkflowTaskRequest),
    FailWorkflowTask(FailWorkflowTaskRequest),
    CompleteActivityTask(CompleteActivityTaskRequest),
    FailActivityTask(FailActivityTaskRequest),
}

/// Body of `POST /api/v1/tasks/reports`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportBatchRequest {
    pub reports: Vec<TaskReport>,
}

/// Answer: one result per report, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportBatchResponse {
    pub results: Vec<ReportResult>,
}

/// What one report got: what its single endpoint answers, or the error it would have given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportError>,
    /// Eager activity tasks (workflow task completions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity_tasks: Vec<ActivityTask>,
    /// Eager workflow task (activity completions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_task: Option<WorkflowTask>,
}

/// A refused report: the HTTP status and `ErrorBody` its single endpoint would have answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportError {
    pub status: u16,
    pub code: String,
    pub message: String,
}
