//! Long-poll dispatch: a poll claims a committed task row in a writer transaction that also
//! records `workflow_task_started` / `activity_started`; with nothing to claim it waits for the
//! queue's post-commit wake-up (or its timeout) and tries again.

use std::time::Duration;

use faultline_proto::{ActivityTask, PollRequest};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::processor::{Polled, Request, Response};
use crate::state::{Output, TaskKind};

/// Longest a poll is held open, whatever the client asks.
pub const MAX_POLL_MS: u64 = 60_000;

async fn poll(engine: &Engine, kind: TaskKind, req: PollRequest) -> Result<Option<Polled>> {
    if req.task_queue.trim().is_empty() {
        return Err(EngineError::BadRequest("task_queue is empty; name the queue to poll".into()));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(req.timeout_ms.min(MAX_POLL_MS));
    if let Some(dual) = engine.dual() {
        return crate::dual::poll::poll(engine, dual, kind, &req, deadline).await;
    }
    let notify = engine.notifier().queue(kind, &req.task_queue);
    let mut shutdown = engine.shutdown_signal();
    // Listed as a poller while this poll is open; a client that goes away drops the future
    // and with it the guard.
    let _present = engine.poller_present(&req.task_queue, kind.as_str(), &req.worker);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable(); // registered before the claim: no wake-up can slip through
        let claim = Request::Poll { kind, queue: req.task_queue.clone(), worker: req.worker.clone() };
        if let Response::Polled(Some(p)) = engine.exec(claim).await? {
            return Ok(Some(p));
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(deadline) => return Ok(None),
            _ = shutdown.changed() => return Ok(None),
        }
    }
}

pub async fn poll_workflow(engine: &Engine, req: PollRequest) -> Result<Option<WireWorkflowTask>> {
    poll(engine, TaskKind::Workflow, req).await?.map(workflow_task).transpose()
}

/// [`faultline_proto::WorkflowTask`] as sent: the history is the stored event bodies, passed
/// through without parsing them and printing them again.
#[derive(Debug, Serialize)]
pub struct WireWorkflowTask {
    pub task_token: String,
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub history: Box<RawValue>,
    pub attempt: u32,
}

/// The wire task of a claimed (committed) workflow task.
pub fn workflow_task(p: Polled) -> Result<WireWorkflowTask> {
    let (Output::WorkflowTask { token, attempt, .. }, Some(history)) = (p.output, p.history_json) else {
        return Err(EngineError::Store("claimed a workflow task without its token or history".into()));
    };
    let history = RawValue::from_string(history)
        .map_err(|e| EngineError::Store(format!("stored history of run {} is not JSON: {e}", p.run_id)))?;
    Ok(WireWorkflowTask {
        task_token: token,
        workflow_id: p.workflow_id,
        run_id: p.run_id,
        workflow_type: p.workflow_type,
        history,
        attempt,
    })
}

pub async fn poll_activity(engine: &Engine, req: PollRequest) -> Result<Option<ActivityTask>> {
    poll(engine, TaskKind::Activity, req).await?.map(activity_task).transpose()
}

/// The wire task of a claimed (committed) activity task.
pub fn activity_task(p: Polled) -> Result<ActivityTask> {
    match p.output {
        Output::ActivityTask(t) => Ok(*t),
        _ => Err(EngineError::Store("claimed an activity task without its body".into())),
    }
}
