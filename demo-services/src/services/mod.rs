//! Three of the demo services, one module each, and the handler helpers all four share (the
//! fourth, payment, is the crate `faultline-payment`, so the workshop fix rebuilds only it).
//!
//! Each service module exposes a `SPEC` (name, default port, extra schema) and a `router`
//! taking its [`Ledger`]. Handlers parse the body themselves (so that every error, bad JSON
//! included, answers with the JSON error body) and run their effect through
//! [`Ledger::record_once`] under the caller's `Idempotency-Key`.

pub mod inventory;
pub mod notification;
pub mod shipping;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::api::{IDEMPOTENCY_KEY, REPLAYED};
use crate::error::ServiceError;
use crate::ledger::{Entry, Ledger, Recorded};

/// Longest idempotency key accepted.
const MAX_KEY_LEN: usize = 256;

/// The `Idempotency-Key` header, required on every mutating call.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, ServiceError> {
    let value = headers.get(IDEMPOTENCY_KEY).ok_or_else(|| {
        ServiceError::bad_request("MissingIdempotencyKey", "send an Idempotency-Key header, stable across retries of the same request")
    })?;
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
        .ok_or_else(|| ServiceError::bad_request("BadIdempotencyKey", format!("the Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters")))?;
    Ok(key.to_string())
}

/// Parses a JSON body, answering a JSON 400 when it does not fit.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ServiceError> {
    serde_json::from_slice(body).map_err(|e| ServiceError::bad_request("BadJson", format!("the request body is not the expected JSON: {e}")))
}

/// 201 with the answer for a new effect, 200 with `Idempotent-Replayed: true` for a replay.
pub fn reply(recorded: Recorded) -> Response {
    if recorded.replayed {
        let mut resp = (StatusCode::OK, Json(recorded.response)).into_response();
        resp.headers_mut().insert(REPLAYED, HeaderValue::from_static("true"));
        resp
    } else {
        (StatusCode::CREATED, Json(recorded.response)).into_response()
    }
}

/// Query of `GET /ledger`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LedgerQuery {
    /// Only the entries of this order.
    pub order_id: Option<String>,
}

/// `GET /ledger[?order_id=...]`: every entry (of one order), oldest first.
pub async fn ledger_entries(State(ledger): State<Ledger>, Query(q): Query<LedgerQuery>) -> Result<Json<Vec<Entry>>, ServiceError> {
    Ok(Json(match q.order_id {
        Some(order_id) => ledger.entries_of(&order_id).await?,
        None => ledger.entries().await?,
    }))
}

/// A readable id from a prefix and a ledger position: `ch_000017`.
pub fn make_id(prefix: &str, seq: i64) -> String {
    format!("{prefix}_{seq:06}")
}

/// Serialises an answer into the ledger's JSON (cannot fail for our plain structs).
pub fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, ServiceError> {
    serde_json::to_value(value).map_err(|e| ServiceError::internal("EncodeFailed", format!("cannot encode the answer: {e}")))
}

/// Refuses a new effect on an order that was already compensated. A charge (or reservation)
/// still retrying when its order was canceled must not land after the refund (or release).
pub fn refuse_if_closed(tx: &rusqlite::Transaction<'_>, order_id: &str, closing_kind: &str, what: &str) -> Result<(), ServiceError> {
    let closed: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM ledger WHERE order_id = ?1 AND kind = ?2)",
        rusqlite::params![order_id, closing_kind],
        |r| r.get(0),
    )?;
    if closed {
        return Err(ServiceError::rejected(
            "OrderClosed",
            format!("order {order_id} was already compensated ({closing_kind}); a new {what} for it is refused"),
        ));
    }
    Ok(())
}

/// A service on a loopback port over a temporary ledger, for the services' tests (the
/// payment crate's too, hence a feature rather than `cfg(test)`).
#[cfg(any(test, feature = "testing"))]
pub mod testing;
