//! The HTTP/JSON API (axum), paths from `faultline_proto::paths`. One file per area:
//! [`workflows`] (client calls), [`tasks`] (worker calls), [`events`] (the live SSE stream),
//! [`schedules`] (schedules and task queues). Errors are always an `ErrorBody` with a 4xx/5xx,
//! 404 and 405 included. Every body is checked against `faultline_proto::limits` as it is
//! parsed ([`parse_body`] requires [`Bounded`]), so no handler sees an out-of-bounds number.

pub mod admin;
pub mod events;
pub mod schedules;
pub mod tasks;
pub mod workflows;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use faultline_proto::limits::Bounded;
use faultline_proto::{codes, paths, ErrorBody};
use serde::de::DeserializeOwned;

use crate::engine::Engine;
use crate::error::EngineError;

/// An error answer: status plus `ErrorBody`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self { status, code: code.into(), message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::NotFound(_) => StatusCode::NOT_FOUND,
            EngineError::Conflict(_) | EngineError::StaleToken(_) => StatusCode::CONFLICT,
            EngineError::BadRequest(_) | EngineError::MalformedCommands(_) => StatusCode::BAD_REQUEST,
            EngineError::Store(_) | EngineError::Corrupt(_) | EngineError::Startup(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            EngineError::StoreFailed(_) | EngineError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { code: self.code, message: self.message })).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        format!("the request body is over the limit of {} bytes; send a smaller payload", paths::MAX_BODY_BYTES),
    )
}

/// Parses a JSON body leniently about the content type (curl users forget it), strictly about
/// its shape, its size and the bounds of its numbers.
pub fn parse_body<T: DeserializeOwned + Bounded>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(format!("could not read the request body: {}", r.body_text()))
        }
    })?;
    let value: T = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not valid JSON for this endpoint: {e}; see engine/README.md for the expected shape"
        ))
    })?;
    value.check_limits().map_err(|e| ApiError::bad_request(format!("{e} (limits: engine/README.md)")))?;
    Ok(value)
}

/// Like [`parse_body`], but an empty body means the default value.
pub fn parse_optional_body<T: DeserializeOwned + Default + Bounded>(body: Result<Bytes, BytesRejection>) -> ApiResult<T> {
    match &body {
        Ok(b) if b.iter().all(|c| c.is_ascii_whitespace()) => Ok(T::default()),
        _ => parse_body(body),
    }
}

/// 200 `ok` only when the store answers: 503 with the reason once an fsync failed (writes
/// stopped) or the store reported corruption, or when a probe read of every table fails.
async fn healthz(State(engine): State<Engine>) -> Response {
    let problem = match engine.health().problem() {
        Some(p) => Some(p),
        None => engine.read(crate::store::sqlite::read::probe).await.err(),
    };
    let mode = [("x-faultline-mode", engine.mode().as_str())];
    match problem {
        None => (mode, "ok").into_response(),
        Some(e) => {
            let mut body = ApiError::from(e);
            body.status = StatusCode::SERVICE_UNAVAILABLE;
            body.into_response()
        }
    }
}

async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such endpoint; see engine/README.md for the API")
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("{} is not allowed on {}; see engine/README.md for the API", req.method(), req.uri().path()),
    )
}

/// Refuses a body whose declared `Content-Length` is over the limit before reading any of
/// it, so an `Expect: 100-continue` client is not told to send 2 MiB first (hyper answers
/// "100 Continue" only once a handler starts reading the body).
async fn refuse_oversized(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > paths::MAX_BODY_BYTES as u64) {
        return too_large().into_response();
    }
    next.run(req).await
}

/// The whole router.
pub fn router(engine: Engine) -> Router {
    use workflows as w;
    Router::new()
        .route(paths::HEALTH, get(healthz))
        .route(paths::WORKFLOWS, post(w::start).get(w::list))
        .route(paths::SIGNAL_WITH_START, post(w::signal_with_start))
        .route("/api/v1/workflows/{id}", get(w::describe))
        .route("/api/v1/workflows/{id}/signal", post(w::signal))
        .route("/api/v1/workflows/{id}/cancel", post(w::cancel))
        .route("/api/v1/workflows/{id}/terminate", post(w::terminate))
        .route("/api/v1/workflows/{id}/history", get(w::history))
        .route("/api/v1/workflows/{id}/result", get(w::result))
        .route("/api/v1/workflows/{id}/activities/{seq}/retry-now", post(w::retry_now))
        .route("/api/v1/workflows/{id}/activities/{seq}/attempts", get(w::attempts))
        .route(paths::WORKFLOW_TASK_POLL, post(tasks::poll_workflow))
        .route(paths::WORKFLOW_TASK_COMPLETE, post(tasks::complete_workflow))
        .route(paths::WORKFLOW_TASK_FAIL, post(tasks::fail_workflow))
        .route(paths::ACTIVITY_TASK_POLL, post(tasks::poll_activity))
        .route(paths::ACTIVITY_TASK_COMPLETE, post(tasks::complete_activity))
        .route(paths::ACTIVITY_TASK_FAIL, post(tasks::fail_activity))
        .route(paths::ACTIVITY_TASK_HEARTBEAT, post(tasks::heartbeat))
        .route(paths::TASK_REPORTS, post(tasks::reports))
        .route(paths::EVENTS, get(events::stream))
        .route(paths::SCHEDULES, post(schedules::create).get(schedules::list))
        .route("/api/v1/schedules/{id}", get(schedules::get).delete(schedules::delete))
        .route("/api/v1/task-queues/{name}", get(schedules::task_queue))
        .route("/api/v1/admin/mode", get(admin::mode).post(admin::set_mode))
        .route("/api/v1/admin/faults", post(admin::arm).get(admin::list))
        .route("/api/v1/admin/faults/fired", get(admin::fired))
        .route("/api/v1/admin/faults/{id}", delete(admin::disarm))
        .route("/api/v1/admin/faults/{id}/release", post(admin::release))
        .route("/api/v1/admin/queue", get(admin::queue))
        .route("/api/v1/admin/deliveries", get(admin::deliveries))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(paths::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_oversized))
        .with_state(engine)
}
