//! Admin calls of the race harness (issue 13): the commit mode, fault points (arm, list,
//! disarm, release holds, fired log) and the dual-write twin's queue and delivery records.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use faultline_proto::codes;
use serde_json::{json, Value};

use super::{ApiError, ApiResult};
use crate::engine::Engine;
use crate::dual::DualOrder;
use crate::faults::FaultSpec;

/// `GET /api/v1/admin/mode`
pub async fn mode(State(engine): State<Engine>) -> Json<Value> {
    Json(mode_json(&engine))
}

pub fn mode_json(engine: &Engine) -> Value {
    match engine.dual() {
        None => json!({"mode": engine.mode().as_str()}),
        Some(d) => json!({
            "mode": engine.mode().as_str(),
            "dual_write_order": d.order().as_str(),
            "ack": d.options.ack.as_str(),
            "visibility_timeout_ms": d.options.lease_ms,
            "queue_file": d.queue.path().display().to_string(),
        }),
    }
}

/// `POST /api/v1/admin/mode` with `{"dual_write_order": "enqueue-first" | "after-commit"}`:
/// switches the twin's order from the next request on (until it restarts); answers as
/// `GET`. 404 in transactional mode, which has one commit and no order.
pub async fn set_mode(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<Json<Value>> {
    let dual = engine.dual().ok_or_else(not_dual)?;
    let bytes = body.map_err(|r| ApiError::bad_request(format!("could not read the request body: {}", r.body_text())))?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SetMode {
        dual_write_order: String,
    }
    let req: SetMode = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not {{\"dual_write_order\": \"after-commit\" | \"enqueue-first\"}}: {e}"))
    })?;
    let order: DualOrder = req.dual_write_order.parse().map_err(ApiError::bad_request)?;
    dual.set_order(order);
    Ok(Json(mode_json(&engine)))
}

/// `POST /api/v1/admin/faults`: arms a fault; 201 with the armed fault.
pub async fn arm(State(engine): State<Engine>, body: Result<Bytes, BytesRejection>) -> ApiResult<impl IntoResponse> {
    let bytes = body.map_err(|r| ApiError::bad_request(format!("could not read the request body: {}", r.body_text())))?;
    let spec: FaultSpec = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not a fault spec: {e}; see engine/README.md, \"Fault points\""))
    })?;
    let armed = engine.faults().arm(spec)?;
    Ok((StatusCode::CREATED, Json(armed)))
}

/// `GET /api/v1/admin/faults`
pub async fn list(State(engine): State<Engine>) -> Json<Value> {
    Json(json!({"faults": engine.faults().list()}))
}

/// `GET /api/v1/admin/faults/fired`
pub async fn fired(State(engine): State<Engine>) -> Json<Value> {
    Json(json!({"fired": engine.faults().fired()}))
}

fn no_fault(id: u64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        format!("no armed fault {id}; GET /api/v1/admin/faults lists them"),
    )
}

/// `DELETE /api/v1/admin/faults/{id}`: disarms (and releases its holds).
pub async fn disarm(State(engine): State<Engine>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    if engine.faults().disarm(id) {
        Ok(Json(json!({"ok": true})))
    } else {
        Err(no_fault(id))
    }
}

/// `POST /api/v1/admin/faults/{id}/release`: releases the fault's holds, now and later.
pub async fn release(State(engine): State<Engine>, Path(id): Path<u64>) -> ApiResult<Json<Value>> {
    match engine.faults().release(id) {
        Some(n) => Ok(Json(json!({"ok": true, "released": n}))),
        None => Err(no_fault(id)),
    }
}

/// `GET /api/v1/admin/queue`: the twin's queue counts (404 in transactional mode).
pub async fn queue(State(engine): State<Engine>) -> ApiResult<Json<Value>> {
    let dual = engine.dual().ok_or_else(not_dual)?;
    let depth = dual.queue.depth(engine.now())?;
    Ok(Json(json!({"depth": depth})))
}

/// `GET /api/v1/admin/deliveries`: every delivery of a queue message, with `early`.
pub async fn deliveries(State(engine): State<Engine>) -> ApiResult<Json<Value>> {
    let dual = engine.dual().ok_or_else(not_dual)?;
    let deliveries = dual.queue.deliveries()?;
    Ok(Json(json!({"deliveries": deliveries})))
}

fn not_dual() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        "the engine runs in transactional mode: there is no separate queue (start it with --mode dual-write)",
    )
}
