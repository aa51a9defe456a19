//! Schedules (create, list, get, delete) and task-queue information (pollers, backlog).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use faultline_proto::{ScheduleInfo, ScheduleSpec, TaskQueueResponse};

use super::workflows::path;
use super::{parse_body, ApiError, ApiResult};
use crate::engine::Engine;
use crate::processor::{Request, Response};
use crate::state::TaskKind;
use crate::store::sqlite::read;

pub async fn create(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<ScheduleInfo>> {
    let spec: ScheduleSpec = parse_body(body)?;
    match engine.exec(Request::PutSchedule(spec)).await? {
        Response::Schedule(info) => Ok(Json(info)),
        _ => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", "unexpected writer response")),
    }
}

pub async fn list(State(engine): State<Engine>) -> ApiResult<Json<Vec<ScheduleInfo>>> {
    Ok(Json(engine.read(read::schedules).await?))
}

pub async fn get(State(engine): State<Engine>, id: Result<Path<String>, PathRejection>) -> ApiResult<Json<ScheduleInfo>> {
    let id = path(id)?;
    let found = engine.read(move |c| read::schedule(c, &id)).await?;
    found.map(Json).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such schedule; GET /api/v1/schedules lists them"))
}

pub async fn delete(
    State(engine): State<Engine>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let id = path(id)?;
    engine.exec(Request::DeleteSchedule(id)).await?;
    Ok(Json(serde_json::json!({ "ok": true })))
}

pub async fn task_queue(
    State(engine): State<Engine>,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<TaskQueueResponse>> {
    let name = path(name)?;
    let q = name.clone();
    let (wf, act) = engine
        .read(move |c| Ok((read::backlog(c, TaskKind::Workflow, &q)?, read::backlog(c, TaskKind::Activity, &q)?)))
        .await?;
    Ok(Json(TaskQueueResponse {
        pollers: engine.pollers(&name),
        task_queue: name,
        backlog_workflow_tasks: wf,
        backlog_activity_tasks: act,
    }))
}
