//! One activity attempt: run it on tokio, bounded by its deadline and the shutdown grace,
//! then report. A completion may hand back the run's next workflow task (eager dispatch),
//! which is then processed here on the workflow slot taken for it.

use std::sync::Arc;
use std::time::Duration;

use faultline_proto::{
    ActivityTask, CompleteActivityTaskRequest, CompleteActivityTaskResponse, FailActivityTaskRequest, Failure,
};
use tokio::sync::OwnedSemaphorePermit;

use super::{stopped, workflow_task, Shared};
use crate::activity::ActContext;
use crate::error::ActivityError;

/// Resolves a little after `deadline_ms` (ms since the epoch), never if there is none.
async fn past_deadline(deadline_ms: Option<i64>) {
    let Some(deadline) = deadline_ms else { return std::future::pending().await };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // The slack lets a result produced right at the deadline still be reported.
    let left = (deadline - now).max(0) as u64 + 1_000;
    tokio::time::sleep(Duration::from_millis(left)).await;
}

/// Runs one attempt on its slot; the slot is released once the attempt is reported.
pub(super) async fn run(shared: Arc<Shared>, task: ActivityTask, slot: OwnedSemaphorePermit) {
    let token = task.task_token.clone();
    let what = format!("{} seq {} attempt {} of {}", task.activity_type, task.seq, task.attempt, task.workflow_id);
    let outcome: Result<serde_json::Value, ActivityError> = match shared.activities.get(&task.activity_type) {
        None => Err(ActivityError::retryable(format!(
            "no activity of type '{}' is registered on worker '{}'; register it or route it to another task queue",
            task.activity_type, shared.poll.worker
        ))),
        Some(f) => {
            let input = task.input.clone();
            let deadline_ms = task.deadline_ms;
            let ctx = ActContext::new(task, shared.client.clone());
            let mut handle = tokio::spawn(f(ctx, input));
            let grace = shared.grace;
            let mut stop = shared.stop.clone();
            let shutdown_deadline = async move {
                stopped(&mut stop).await;
                tokio::time::sleep(grace).await;
            };
            tokio::select! {
                joined = &mut handle => match joined {
                    Ok(r) => r,
                    Err(e) => Err(ActivityError::retryable(format!("activity panicked: {e}"))),
                },
                _ = shutdown_deadline => {
                    handle.abort();
                    Err(ActivityError::retryable("worker shutting down; the activity is retried elsewhere"))
                }
                _ = past_deadline(deadline_ms) => {
                    // The engine has timed this attempt out and will retry it: stop the work
                    // instead of leaving it running as a zombie. Nothing to report.
                    handle.abort();
                    tracing::warn!(activity = %what, "attempt passed its deadline; abandoned");
                    return;
                }
            }
        }
    };
    let (result, next) = match outcome {
        Ok(result) => {
            tracing::debug!(activity = %what, "activity completed");
            let wf_slot = shared.free_workflow_slot();
            let eager = shared.eager_request(0, wf_slot.is_some());
            let req = CompleteActivityTaskRequest { task_token: token, result, eager };
            match shared.reporter.complete_activity_task(req).await {
                Ok(CompleteActivityTaskResponse { workflow_task: Some(t), .. }) => (Ok(()), wf_slot.map(|s| (t, s))),
                Ok(_) => (Ok(()), None),
                Err(e) => (Err(e), None),
            }
        }
        Err(e) => {
            tracing::info!(activity = %what, error = %e, "activity attempt failed");
            let failure: Failure = e.failure;
            (shared.reporter.fail_activity_task(FailActivityTaskRequest { task_token: token, failure }).await, None)
        }
    };
    drop(slot);
    if let Err(e) = result {
        tracing::warn!(activity = %what, error = %e, "could not report the activity; the engine times the attempt out and retries it");
    }
    if let Some((task, wf_slot)) = next {
        workflow_task::handle(shared, task, wf_slot).await;
    }
}
