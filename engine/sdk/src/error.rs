//! Error types of the SDK.
//!
//! - [`ActivityError`]: returned by activity code; says whether the engine may retry.
//! - [`CallError`]: what a call made from workflow code (activity, timer, child, signal) resolves
//!   to when it did not succeed.
//! - [`WorkflowError`]: returned by workflow code; fails, cancels or continues the run.
//! - [`ClientError`]: a failed HTTP call to the engine.
//! - [`WorkerError`]: why [`crate::Worker::run`] stopped.

use std::fmt::Display;
use std::time::Duration;

use faultline_proto::{Failure, Payload, WorkflowStatus};
use serde::Serialize;

/// Error type recorded for cancelled activities, timers and children.
pub const CANCELLED_ERROR_TYPE: &str = "Cancelled";
/// Error type recorded for activities and children that timed out.
pub const TIMEOUT_ERROR_TYPE: &str = "Timeout";

/// An activity attempt failed. Either retryable (the engine applies the retry policy), an
/// application error of a named type (not retried if the type is listed in the policy's
/// `non_retryable_error_types`) or non-retryable whatever the policy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", failure.message)]
pub struct ActivityError {
    pub failure: Failure,
}

impl ActivityError {
    /// A failure the engine retries according to the activity's retry policy.
    pub fn retryable(message: impl Display) -> Self {
        Self { failure: Failure::new(message.to_string()) }
    }

    /// An application error of a named type: retried unless the retry policy lists the type in
    /// `non_retryable_error_types`.
    pub fn application(error_type: &str, message: impl Display) -> Self {
        Self {
            failure: Failure {
                message: message.to_string(),
                error_type: Some(error_type.to_string()),
                ..Failure::default()
            },
        }
    }

    /// An error that is never retried, whatever the policy says.
    pub fn non_retryable(error_type: &str, message: impl Display) -> Self {
        let mut e = Self::application(error_type, message);
        e.failure.non_retryable = true;
        e
    }

    /// The activity stopped because cancellation was requested.
    pub fn cancelled() -> Self {
        Self::non_retryable(CANCELLED_ERROR_TYPE, "activity cancelled")
    }

    /// Attaches structured details (shown in the dashboard and passed to the workflow).
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        self.failure.details = serde_json::to_value(details).ok();
        self
    }
}

impl From<reqwest::Error> for ActivityError {
    /// Network and HTTP errors are transient by default: retry.
    fn from(e: reqwest::Error) -> Self {
        Self::retryable(format!("HTTP call failed: {e}"))
    }
}

impl From<serde_json::Error> for ActivityError {
    /// A payload that does not decode will not decode on the next attempt either.
    fn from(e: serde_json::Error) -> Self {
        Self::non_retryable("DecodeError", format!("payload did not match the expected type: {e}"))
    }
}

/// A call made from workflow code did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The activity failed for good (retries exhausted, non-retryable error or timeout).
    #[error("activity '{activity_type}' (seq {seq}) failed: {}", failure.message)]
    Activity { seq: u64, activity_type: String, failure: Failure },
    /// The child workflow did not complete (failed, timed out, canceled, terminated, or could
    /// not be started).
    #[error("child workflow '{workflow_type}' (seq {seq}) did not complete: {}", failure.message)]
    Child { seq: u64, workflow_type: String, failure: Failure },
    /// Sending a signal to another workflow failed.
    #[error("signal to workflow '{workflow_id}' (seq {seq}) failed: {reason}")]
    ExternalSignal { seq: u64, workflow_id: String, reason: String },
    /// The timer, activity or child was cancelled.
    #[error("operation seq {seq} was cancelled")]
    Cancelled { seq: u64 },
    /// A result or signal payload did not match the expected type.
    #[error("payload did not decode: {0}; make the workflow's types match what was sent")]
    Decode(String),
}

impl CallError {
    /// The failure as it is reported when a workflow fails because of this error.
    pub fn failure(&self) -> Failure {
        match self {
            CallError::Activity { failure, .. } | CallError::Child { failure, .. } => {
                let mut f = failure.clone();
                f.message = self.to_string();
                f
            }
            CallError::Cancelled { .. } => Failure {
                message: self.to_string(),
                error_type: Some(CANCELLED_ERROR_TYPE.into()),
                ..Failure::default()
            },
            CallError::ExternalSignal { .. } => Failure::new(self.to_string()),
            CallError::Decode(_) => Failure {
                message: self.to_string(),
                error_type: Some("DecodeError".into()),
                ..Failure::default()
            },
        }
    }

    /// The application error type of the underlying failure, if any.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            CallError::Activity { failure, .. } | CallError::Child { failure, .. } => {
                failure.error_type.as_deref()
            }
            CallError::Cancelled { .. } => Some(CANCELLED_ERROR_TYPE),
            CallError::Decode(_) => Some("DecodeError"),
            CallError::ExternalSignal { .. } => None,
        }
    }
}

/// How a workflow function ends other than by returning its result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkflowError {
    /// The workflow fails with this failure.
    #[error("workflow failed: {}", .0.message)]
    Failed(Failure),
    /// Accepts a cancellation request: the run closes as canceled.
    #[error("workflow cancelled")]
    Cancelled,
    /// Closes this run and starts a new one with `input` (built by `WfContext::continue_as_new`).
    #[error("workflow continues as new")]
    ContinueAsNew { input: Payload, workflow_type: Option<String> },
}

impl WorkflowError {
    /// Fails the workflow with a plain message.
    pub fn failed(message: impl Display) -> Self {
        WorkflowError::Failed(Failure::new(message.to_string()))
    }

    /// Fails the workflow with an application error of a named type.
    pub fn application(error_type: &str, message: impl Display) -> Self {
        WorkflowError::Failed(Failure {
            message: message.to_string(),
            error_type: Some(error_type.to_string()),
            ..Failure::default()
        })
    }
}

impl From<CallError> for WorkflowError {
    fn from(e: CallError) -> Self {
        WorkflowError::Failed(e.failure())
    }
}

/// A call to the engine's HTTP API failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("engine at {url} is unreachable ({message}); check that it is running and that the URL is right")]
    Unreachable { url: String, message: String },
    #[error("engine answered {status} ({code}): {message}")]
    Api { status: u16, code: String, message: String },
    #[error("engine answer from {url} did not decode ({message}); is the engine the same version as this SDK?")]
    Decode { url: String, message: String },
    #[error("workflow '{workflow_id}' closed as {} without a result: {}", status.as_str(), failure.as_ref().map(|f| f.message.as_str()).unwrap_or("no failure recorded"))]
    WorkflowFailed { workflow_id: String, status: WorkflowStatus, failure: Option<Failure> },
    #[error("workflow '{workflow_id}' still running after {waited:?}; wait longer or check its pending tasks with describe")]
    Timeout { workflow_id: String, waited: Duration },
    #[error("invalid input: {0}")]
    BadInput(String),
}

impl ClientError {
    /// The engine's error code (`not_found`, `conflict`, ...) if the engine answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("worker options are invalid: {0}")]
    BadOptions(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_error_kinds() {
        let r = ActivityError::retryable("down");
        assert_eq!((r.failure.error_type.as_deref(), r.failure.non_retryable), (None, false));
        let a = ActivityError::application("CardDeclined", "no");
        assert_eq!((a.failure.error_type.as_deref(), a.failure.non_retryable), (Some("CardDeclined"), false));
        let n = ActivityError::non_retryable("Bad", "no").with_details(serde_json::json!({"k": 1}));
        assert!(n.failure.non_retryable);
        assert_eq!(n.failure.details, Some(serde_json::json!({"k": 1})));
    }

    #[test]
    fn call_error_keeps_the_error_type_when_failing_the_workflow() {
        let e = CallError::Activity {
            seq: 3,
            activity_type: "charge".into(),
            failure: Failure { message: "declined".into(), error_type: Some("CardDeclined".into()), ..Failure::default() },
        };
        let WorkflowError::Failed(f) = WorkflowError::from(e) else { panic!() };
        assert_eq!(f.error_type.as_deref(), Some("CardDeclined"));
        assert_eq!(f.message, "activity 'charge' (seq 3) failed: declined");
        assert_eq!(CallError::Cancelled { seq: 1 }.error_type(), Some(CANCELLED_ERROR_TYPE));
    }
}
