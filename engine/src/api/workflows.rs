//! Client calls: start, signal, signal-with-start, cancel, terminate, describe, list, history,
//! result (long poll), retry-now and the attempts record.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use faultline_proto::limits::{self, At};
use faultline_proto::{
    ActivityAttempt, ChildInfo, DescribeWorkflowResponse, HistoryResponse, ListWorkflowsResponse,
    PendingActivity, PendingTimer, PendingWorkflowTask, ReasonRequest, SignalRequest, SignalWithStartRequest,
    StartWorkflowRequest, StartWorkflowResponse, WorkflowResultResponse, WorkflowStatus,
};

use super::{parse_body, parse_optional_body, ApiError, ApiResult};
use crate::engine::Engine;
use crate::notify::CloseWaiter;
use crate::error::EngineError;
use crate::processor::{Request, Response};
use crate::state::{Input, RunState};
use crate::store::sqlite::read;

/// Longest a result long-poll is held open.
pub const MAX_RESULT_WAIT_MS: u64 = 300_000;

pub(crate) fn path<T>(p: Result<Path<T>, PathRejection>) -> ApiResult<T> {
    p.map(|Path(v)| v).map_err(|e| ApiError::bad_request(format!("bad path: {}", e.body_text())))
}

pub(crate) fn query(q: Result<Query<HashMap<String, String>>, QueryRejection>) -> ApiResult<HashMap<String, String>> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

fn unexpected() -> ApiError {
    EngineError::Store("unexpected writer response".into()).into()
}

/// Starts a run. With `?wait_ms=N` the answer also waits up to N ms for the result (start and
/// result in one round trip, the way an SDK's "execute workflow" is used).
pub async fn start(
    State(engine): State<Engine>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<StartWorkflowResponse>> {
    let wait_ms = wait_ms(&query(q)?)?;
    let req: StartWorkflowRequest = parse_body(body)?;
    // Subscribed before the start commits, so no close of its run can slip by: the wait needs
    // no read of the run it has just started (or found running).
    let waiter = (wait_ms > 0).then(|| engine.notifier().close_waiter(&req.workflow_id));
    let mut started = match engine.exec(Request::Start(req)).await? {
        Response::Started(r) => r,
        _ => return Err(unexpected()),
    };
    if let Some(waiter) = waiter {
        let running = WorkflowResultResponse {
            workflow_id: started.workflow_id.clone(),
            run_id: started.run_id.clone(),
            status: WorkflowStatus::Running,
            result: None,
            failure: None,
        };
        let known = Some((waiter, running));
        if let Waited::Closed(result) = wait_for_result(&engine, &started.workflow_id, wait_ms, known).await? {
            started.result = Some(result);
        }
    }
    Ok(Json(started))
}

pub async fn signal_with_start(
    State(engine): State<Engine>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<StartWorkflowResponse>> {
    let req: SignalWithStartRequest = parse_body(body)?;
    match engine.exec(Request::SignalWithStart(req)).await? {
        Response::Started(r) => Ok(Json(r)),
        _ => Err(unexpected()),
    }
}

async fn to_workflow(engine: &Engine, workflow_id: String, input: Input) -> ApiResult<Json<serde_json::Value>> {
    engine.exec(Request::ToWorkflow { workflow_id, input }).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

pub async fn signal(
    State(engine): State<Engine>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = path(id)?;
    let req: SignalRequest = parse_body(body)?;
    to_workflow(&engine, id, Input::Signal { name: req.name, payload: req.payload }).await
}

pub async fn cancel(
    State(engine): State<Engine>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = path(id)?;
    let req: ReasonRequest = parse_optional_body(body)?;
    to_workflow(&engine, id, Input::CancelRequest { reason: req.reason }).await
}

pub async fn terminate(
    State(engine): State<Engine>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = path(id)?;
    let req: ReasonRequest = parse_optional_body(body)?;
    to_workflow(&engine, id, Input::Terminate { reason: req.reason }).await
}

pub async fn retry_now(
    State(engine): State<Engine>,
    p: Result<Path<(String, u64)>, PathRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let (id, seq) = path(p)?;
    limits::seq(At::Root.field("seq"), seq).map_err(|e| ApiError::bad_request(e.to_string()))?;
    to_workflow(&engine, id, Input::RetryNow { seq }).await
}

/// The run named by `?run_id=`, or the latest run of the id.
async fn load_run(engine: &Engine, workflow_id: String, run_id: Option<String>) -> ApiResult<RunState> {
    let state = engine
        .read(move |c| {
            let run = match run_id {
                Some(r) => Some(r),
                None => read::current_run(c, &workflow_id)?,
            };
            match run {
                Some(r) => Ok(read::run_state(c, &r)?.filter(|s| s.workflow_id == workflow_id)),
                None => Ok(None),
            }
        })
        .await?;
    state.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such workflow (or run); GET /api/v1/workflows lists them")
    })
}

pub async fn describe(
    State(engine): State<Engine>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<DescribeWorkflowResponse>> {
    let id = path(id)?;
    let q = query(q)?;
    let s = load_run(&engine, id, q.get("run_id").cloned()).await?;
    Ok(Json(describe_state(&engine, &s)))
}

pub fn describe_state(engine: &Engine, s: &RunState) -> DescribeWorkflowResponse {
    let pending_workflow_task = s.wft.as_ref().map(|w| PendingWorkflowTask {
        attempt: w.attempt,
        scheduled_at_ms: w.scheduled_at_ms,
        started_at_ms: w.started_at_ms,
        worker: w.worker.clone(),
        last_failure: s.wft_last_failure.clone(),
    });
    DescribeWorkflowResponse {
        summary: read::summary(s),
        result: s.result.clone(),
        failure: s.failure.clone(),
        pending_workflow_task,
        pending_activities: s
            .activities
            .values()
            .map(|a| PendingActivity {
                seq: a.seq,
                activity_type: a.activity_type.clone(),
                state: if a.cancel_requested { faultline_proto::PendingActivityState::CancelRequested } else { a.status },
                attempt: a.attempt,
                maximum_attempts: a.options.retry_policy.maximum_attempts,
                scheduled_at_ms: a.scheduled_at_ms,
                last_started_at_ms: a.last_started_at_ms,
                last_failure: a.last_failure.clone(),
                last_worker: a.last_worker.clone(),
                next_retry_at_ms: a.next_retry_at_ms,
                last_heartbeat_at_ms: a.last_heartbeat_at_ms,
                heartbeat_details: a.heartbeat_details.clone(),
            })
            .collect(),
        pending_timers: s
            .timers
            .values()
            .map(|t| PendingTimer { seq: t.seq, started_at_ms: t.started_at_ms, fire_at_ms: t.fire_at_ms })
            .collect(),
        children: s
            .children
            .values()
            .map(|c| ChildInfo {
                seq: c.seq,
                workflow_id: c.workflow_id.clone(),
                run_id: c.run_id.clone(),
                workflow_type: c.workflow_type.clone(),
                status: c.status,
            })
            .collect(),
        pollers: engine.pollers(&s.task_queue),
        history_length: s.next_event_id - 1,
    }
}

pub async fn list(
    State(engine): State<Engine>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<ListWorkflowsResponse>> {
    let q = query(q)?;
    let status = match q.get("status").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some(s) => Some(serde_json::from_value::<WorkflowStatus>(serde_json::Value::String(s.into())).map_err(|_| {
            ApiError::bad_request(format!(
                "unknown status {s:?}; use running, completed, failed, canceled, terminated, timed_out or continued_as_new"
            ))
        })?),
    };
    let limit = match q.get("limit") {
        Some(l) => l.parse::<u64>().map_err(|_| ApiError::bad_request("limit must be a positive integer"))?,
        None => 1000,
    };
    limits::seq(At::Root.field("limit"), limit).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = limit.min(10_000) as usize;
    let workflows = engine.read(move |c| read::list(c, status, limit)).await?;
    Ok(Json(ListWorkflowsResponse { workflows }))
}

pub async fn history(
    State(engine): State<Engine>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<HistoryResponse>> {
    let id = path(id)?;
    let q = query(q)?;
    let s = load_run(&engine, id, q.get("run_id").cloned()).await?;
    let run_id = s.run_id.clone();
    let events = engine.read(move |c| read::history(c, &run_id, None)).await?;
    Ok(Json(HistoryResponse { workflow_id: s.workflow_id, run_id: s.run_id, events }))
}

pub async fn attempts(
    State(engine): State<Engine>,
    p: Result<Path<(String, u64)>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Json<Vec<ActivityAttempt>>> {
    let (id, seq) = path(p)?;
    limits::seq(At::Root.field("seq"), seq).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let q = query(q)?;
    let s = load_run(&engine, id, q.get("run_id").cloned()).await?;
    let run_id = s.run_id;
    Ok(Json(engine.read(move |c| read::attempts(c, &run_id, seq)).await?))
}

/// Long-polls until the chain of runs of the id closes (200) or the wait ends (202).
pub async fn result(
    State(engine): State<Engine>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<(StatusCode, Json<WorkflowResultResponse>)> {
    let id = path(id)?;
    let wait_ms = wait_ms(&query(q)?)?;
    Ok(match wait_for_result(&engine, &id, wait_ms, None).await? {
        Waited::Closed(body) => (StatusCode::OK, Json(body)),
        Waited::Running(body) => (StatusCode::ACCEPTED, Json(body)),
    })
}

/// `wait_ms` of a query, capped at [`MAX_RESULT_WAIT_MS`]; 0 when absent.
fn wait_ms(q: &HashMap<String, String>) -> ApiResult<u64> {
    let wait_ms = match q.get("wait_ms") {
        Some(w) => w.parse::<u64>().map_err(|_| ApiError::bad_request("wait_ms must be a non-negative integer"))?,
        None => 0,
    };
    limits::duration(At::Root.field("wait_ms"), wait_ms).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(wait_ms.min(MAX_RESULT_WAIT_MS))
}

enum Waited {
    Closed(WorkflowResultResponse),
    Running(WorkflowResultResponse),
}

/// A close waiter subscribed while the run was known to be running, and that run.
type KnownRunning<'a> = (CloseWaiter<'a>, WorkflowResultResponse);

/// Waits up to `wait_ms` for the chain of runs of `id` to close. With `known`, the first
/// round trusts it instead of reading the run.
async fn wait_for_result(
    engine: &Engine,
    id: &str,
    wait_ms: u64,
    mut known: Option<KnownRunning<'_>>,
) -> ApiResult<Waited> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
    let mut shutdown = engine.shutdown_signal();
    loop {
        let (mut waiter, body) = match known.take() {
            Some(k) => k,
            None => {
                // Subscribed before reading: a close committed after the read still reaches us.
                let waiter = engine.notifier().close_waiter(id);
                (waiter, load_run(engine, id.to_string(), None).await?.outcome())
            }
        };
        if is_final(body.status) {
            return Ok(Waited::Closed(body));
        }
        let waited_run = body.run_id.clone();
        let running = Waited::Running(WorkflowResultResponse { status: WorkflowStatus::Running, ..body });
        tokio::select! {
            // The outcome rides on the wake-up: no second read of the store. It may be the
            // close of an earlier run of the id, published just after this waiter subscribed.
            outcome = waiter.next() => match outcome {
                Some(o) if o.run_id == waited_run && is_final(o.status) => return Ok(Waited::Closed((*o).clone())),
                _ => continue, // continued as new, or another run's close: read again
            },
            _ = tokio::time::sleep_until(deadline) => return Ok(running),
            _ = shutdown.changed() => return Ok(running),
        }
    }
}

/// A run status after which the workflow has a result (continue-as-new hands over to a next run).
fn is_final(status: WorkflowStatus) -> bool {
    status.is_closed() && status != WorkflowStatus::ContinuedAsNew
}
