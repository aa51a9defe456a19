//! Options attached to activities, workflows and children.

use serde::{Deserialize, Serialize};

/// How an activity is retried. Durations are in milliseconds.
///
/// The delay before attempt `n + 1` (after attempt `n` failed) is
/// `min(initial_interval_ms * backoff_coefficient^(n-1), maximum_interval_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetryPolicy {
    pub initial_interval_ms: u64,
    pub backoff_coefficient: f64,
    /// `None` means 100 x the initial interval, as in Temporal.
    pub maximum_interval_ms: Option<u64>,
    /// 0 means unlimited.
    pub maximum_attempts: u32,
    /// Failures whose `error_type` is listed here are never retried.
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_interval_ms: 1_000,
            backoff_coefficient: 2.0,
            maximum_interval_ms: None,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// The effective cap on the interval between attempts.
    pub fn max_interval_ms(&self) -> u64 {
        self.maximum_interval_ms
            .unwrap_or(self.initial_interval_ms.saturating_mul(100))
    }

    /// Backoff before the attempt that follows `failed_attempt` (1-based).
    pub fn backoff_ms(&self, failed_attempt: u32) -> u64 {
        let exp = failed_attempt.saturating_sub(1).min(64) as i32;
        let raw = self.initial_interval_ms as f64 * self.backoff_coefficient.max(1.0).powi(exp);
        let capped = raw.min(self.max_interval_ms() as f64);
        if capped.is_finite() && capped >= 0.0 {
            capped as u64
        } else {
            self.max_interval_ms()
        }
    }
}

/// Options of one activity invocation. Timeouts are in milliseconds; `None` means no limit,
/// except `start_to_close_timeout_ms`, which defaults to 10 s when neither it nor
/// `schedule_to_close_timeout_ms` is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivityOptions {
    /// Queue the activity task goes to; `None` means the workflow's own task queue.
    pub task_queue: Option<String>,
    pub schedule_to_start_timeout_ms: Option<u64>,
    pub start_to_close_timeout_ms: Option<u64>,
    pub schedule_to_close_timeout_ms: Option<u64>,
    pub heartbeat_timeout_ms: Option<u64>,
    pub retry_policy: RetryPolicy,
}

/// What happens to a child when its parent closes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParentClosePolicy {
    #[default]
    Terminate,
    RequestCancel,
    Abandon,
}

/// What to do when a start names a workflow id that already has a running run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdConflictPolicy {
    /// Answer 409 Conflict.
    #[default]
    Fail,
    /// Answer with the running run, `started: false`.
    UseExisting,
}

/// Workflow-task timeout (start to completion) when [`WorkflowOptions::task_timeout_ms`] is `None`.
pub const DEFAULT_TASK_TIMEOUT_MS: u64 = 10_000;

/// Options of a workflow start. Timeouts in milliseconds; `None` means no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkflowOptions {
    /// Limit of one run (a continue-as-new starts a fresh one).
    pub run_timeout_ms: Option<u64>,
    /// Limit of the whole chain of runs of a workflow id.
    pub execution_timeout_ms: Option<u64>,
    /// Limit of one workflow task, from start to completion. Default
    /// [`DEFAULT_TASK_TIMEOUT_MS`] (10 s).
    pub task_timeout_ms: Option<u64>,
}

/// Structured failure, carried by failed activities, workflows and children.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failure {
    pub message: String,
    /// Application error type, matched against `non_retryable_error_types`.
    pub error_type: Option<String>,
    /// The thrower says: never retry this, whatever the policy.
    pub non_retryable: bool,
    pub details: Option<serde_json::Value>,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), ..Self::default() }
    }
}
