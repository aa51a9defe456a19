//! Worker calls: long polls for workflow and activity tasks, completions, failures, heartbeats.
//! A stale or duplicate token answers 409 `stale_task_token`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use faultline_proto::{
    codes, Ack, ActivityTask, CompleteActivityTaskRequest, CompleteWorkflowTaskRequest, CompleteWorkflowTaskResponse,
    EagerRequest, FailActivityTaskRequest, FailWorkflowTaskRequest, HeartbeatRequest, HeartbeatResponse,
    PollRequest, ReportBatchRequest, ReportError, TaskReport, MAX_REPORTS_PER_BATCH,
};

use super::{parse_body, ApiError, ApiResult};
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
    let activity_tasks = complete_workflow_task(&engine, parse_body(body)?).await?;
    Ok(Json(CompleteWorkflowTaskResponse { ok: true, activity_tasks }))
}

pub async fn fail_workflow(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Ack>> {
    fail_workflow_task(&engine, parse_body(body)?).await?;
    Ok(Json(ACK))
}

pub async fn complete_activity(
    State(engine): State<Engine>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<WireCompleteActivityTaskResponse>> {
    let workflow_task = complete_activity_task(&engine, parse_body(body)?).await?;
    Ok(Json(WireCompleteActivityTaskResponse { ok: true, workflow_task }))
}

pub async fn fail_activity(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Ack>> {
    fail_activity_task(&engine, parse_body(body)?).await?;
    Ok(Json(ACK))
}

async fn complete_workflow_task(engine: &Engine, req: CompleteWorkflowTaskRequest) -> ApiResult<Vec<ActivityTask>> {
    let token = req.task_token.clone();
    let input = Input::WorkflowTaskComplete { token, commands: req.commands };
    let (output, claimed) = report_eager(engine, req.task_token, input, req.eager).await?;
    if let Output::CloseRefused { message } = output {
        // Committed (the failed task and its replacement), but the worker must know that its
        // commands were not applied: an answer of its own, never "ok".
        return Err(ApiError::new(StatusCode::CONFLICT, codes::CLOSE_REFUSED, message));
    }
    Ok(claimed.into_iter().map(dispatch::activity_task).collect::<Result<Vec<_>, _>>()?)
}

async fn fail_workflow_task(engine: &Engine, req: FailWorkflowTaskRequest) -> ApiResult<()> {
    let input = Input::WorkflowTaskFail {
        token: req.task_token.clone(),
        message: req.message,
        nondeterminism: req.nondeterminism,
    };
    report(engine, req.task_token, input).await.map(|_| ())
}

async fn complete_activity_task(engine: &Engine, req: CompleteActivityTaskRequest) -> ApiResult<Option<WireWorkflowTask>> {
    let input = Input::ActivityComplete { token: req.task_token.clone(), result: req.result };
    let (_, claimed) = report_eager(engine, req.task_token, input, req.eager).await?;
    Ok(claimed.into_iter().next().map(dispatch::workflow_task).transpose()?)
}

async fn fail_activity_task(engine: &Engine, req: FailActivityTaskRequest) -> ApiResult<()> {
    let input = Input::ActivityFail { token: req.task_token.clone(), failure: req.failure };
    report(engine, req.task_token, input).await.map(|_| ())
}

/// [`faultline_proto::ReportResult`] as sent.
#[derive(Debug, Default, serde::Serialize)]
pub struct WireReportResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ReportError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub activity_tasks: Vec<ActivityTask>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_task: Option<WireWorkflowTask>,
}

/// [`faultline_proto::ReportBatchResponse`] as sent.
#[derive(Debug, serde::Serialize)]
pub struct WireReportBatchResponse {
    pub results: Vec<WireReportResult>,
}

/// Several reports in one request. They are handed to the writer together, so they usually
/// share one group commit, but each is its own transition with its own answer.
pub async fn reports(
    State(engine): State<Engine>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<WireReportBatchResponse>> {
    let req: ReportBatchRequest = parse_body(body)?;
    if req.reports.len() > MAX_REPORTS_PER_BATCH {
        return Err(ApiError::bad_request(format!(
            "{} reports in one batch; send at most {MAX_REPORTS_PER_BATCH} per request",
            req.reports.len()
        )));
    }
    let results = futures::future::join_all(req.reports.into_iter().map(|r| one_report(&engine, r))).await;
    Ok(Json(WireReportBatchResponse { results }))
}

async fn one_report(engine: &Engine, report: TaskReport) -> WireReportResult {
    let done = match report {
        TaskReport::CompleteWorkflowTask(r) => complete_workflow_task(engine, r)
            .await
            .map(|activity_tasks| WireReportResult { activity_tasks, ..Default::default() }),
        TaskReport::FailWorkflowTask(r) => fail_workflow_task(engine, r).await.map(|_| WireReportResult::default()),
        TaskReport::CompleteActivityTask(r) => complete_activity_task(engine, r)
            .await
            .map(|workflow_task| WireReportResult { workflow_task, ..Default::default() }),
        TaskReport::FailActivityTask(r) => fail_activity_task(engine, r).await.map(|_| WireReportResult::default()),
    };
    done.unwrap_or_else(|e| WireReportResult {
        error: Some(ReportError { status: e.status.as_u16(), code: e.code, message: e.message }),
        ..Default::default()
    })
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
