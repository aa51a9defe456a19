//! Worker calls: long polls for workflow and activity tasks, completions, failures, heartbeats.
//! A stale or duplicate token answers 409 `stale_task_token`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use faultline_proto::{
    Ack, CompleteActivityTaskRequest, CompleteWorkflowTaskRequest,
    CompleteWorkflowTaskResponse, EagerRequest, FailActivityTaskRequest, FailWorkflowTaskRequest,
    HeartbeatRequest, HeartbeatResponse, PollRequest,
};

use super::{parse_body, ApiResult};
use crate::dispatch::{self, WireWorkflowTask};
use crate::engine::Engine;
use crate::processor::{Polled, Request, Response};
use crate::state::{Input, Output};

fn task_or_no_content<T: serde::Serialize>(task: Option<T>) -> HttpResponse {
    match task {
        Some(t) => Json(t).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

pub async fn poll_workflow(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<HttpResponse> {
    let req: PollRequest = parse_body(body)?;
    Ok(task_or_no_content(dispatch::poll_workflow(&engine, req).await?))
}

pub async fn poll_activity(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<HttpResponse> {
    let req: PollRequest = parse_body(body)?;
    Ok(task_or_no_content(dispatch::poll_activity(&engine, req).await?))
}

async fn report(engine: &Engine, token: String, input: Input) -> ApiResult<Output> {
    Ok(report_eager(engine, token, input, None).await?.0)
}

/// Executes a report; returns its output and the tasks claimed for the reporter.
async fn report_eager(
    engine: &Engine,
    token: String,
    input: Input,
    eager: Option<EagerRequest>,
) -> ApiResult<(Output, Vec<Polled>)> {
    match engine.exec(Request::ToTaskRun { token, input, eager }).await? {
        Response::Reported { output, eager } => Ok((output, eager)),
        _ => Ok((Output::None, Vec::new())),
    }
}

const ACK: Ack = Ack { ok: true };

/// [`faultline_proto::CompleteActivityTaskResponse`] as sent.
#[derive(Debug, serde::Serialize)]
pub struct WireCompleteActivityTaskResponse {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_task: Option<WireWorkflowTask>,
}

pub async fn complete_workflow(
    State(engine): State<Engine>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CompleteWorkflowTaskResponse>> {
    let req: CompleteWorkflowTaskRequest = parse_body(body)?;
    let token = req.task_token.clone();
    let input = Input::WorkflowTaskComplete { token, commands: req.commands };
    let (_, claimed) = report_eager(&engine, req.task_token, input, req.eager).await?;
    let activity_tasks = claimed.into_iter().map(dispatch::activity_task).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(CompleteWorkflowTaskResponse { ok: true, activity_tasks }))
}

pub async fn fail_workflow(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Ack>> {
    let req: FailWorkflowTaskRequest = parse_body(body)?;
    let input = Input::WorkflowTaskFail {
        token: req.task_token.clone(),
        message: req.message,
        nondeterminism: req.nondeterminism,
    };
    report(&engine, req.task_token, input).await?;
    Ok(Json(ACK))
}

pub async fn complete_activity(
    State(engine): State<Engine>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<WireCompleteActivityTaskResponse>> {
    let req: CompleteActivityTaskRequest = parse_body(body)?;
    let input = Input::ActivityComplete { token: req.task_token.clone(), result: req.result };
    let (_, claimed) = report_eager(&engine, req.task_token, input, req.eager).await?;
    let workflow_task = claimed.into_iter().next().map(dispatch::workflow_task).transpose()?;
    Ok(Json(WireCompleteActivityTaskResponse { ok: true, workflow_task }))
}

pub async fn fail_activity(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Ack>> {
    let req: FailActivityTaskRequest = parse_body(body)?;
    let input = Input::ActivityFail { token: req.task_token.clone(), failure: req.failure };
    report(&engine, req.task_token, input).await?;
    Ok(Json(ACK))
}

pub async fn heartbeat(
    State(engine): State<Engine>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<HeartbeatResponse>> {
    let req: HeartbeatRequest = parse_body(body)?;
    let input = Input::ActivityHeartbeat { token: req.task_token.clone(), details: req.details };
    let out = report(&engine, req.task_token, input).await?;
    let cancel_requested = matches!(out, Output::Heartbeat { cancel_requested: true });
    Ok(Json(HeartbeatResponse { cancel_requested }))
}
