//! Typed errors of the proxy's API, with Toxiproxy's status codes and JSON shape.
//!
//! Toxiproxy answers an error with `{"error": "<message>", "status": <code>}`. Its
//! messages are short ("proxy not found"); ours start with the same words, so clients
//! that match on them keep working, then name what is wrong and with which value.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Why an API call (HTTP or in-process through [`crate::Registry`]) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The body is not the JSON the endpoint takes (syntax, or a field of the wrong type).
    #[error("bad request body: {0}")]
    BadRequestBody(String),
    /// A field that must be present is absent or empty.
    #[error("missing required field: {0}")]
    MissingField(String),
    /// A field is present and well-typed but its value is not allowed.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    #[error("proxy not found: no proxy named {0:?}; GET /proxies lists them")]
    ProxyNotFound(String),
    #[error("proxy already exists: a proxy named {0:?} exists; delete it first or pick another name")]
    ProxyAlreadyExists(String),
    #[error("stream was invalid, can be either upstream or downstream (got {0:?})")]
    InvalidStream(String),
    #[error("invalid toxic type: {0:?} is not one of latency, bandwidth, slow_close, timeout, reset_peer, limit_data, noop")]
    InvalidToxicType(String),
    #[error("toxic already exists: proxy {proxy:?} already has a toxic named {toxic:?}")]
    ToxicAlreadyExists { proxy: String, toxic: String },
    #[error("toxic not found: proxy {proxy:?} has no toxic named {toxic:?}")]
    ToxicNotFound { proxy: String, toxic: String },
    /// The proxy's listen address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
}

impl ApiError {
    /// The HTTP status Toxiproxy uses for the same error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequestBody(_)
            | ApiError::MissingField(_)
            | ApiError::InvalidValue(_)
            | ApiError::InvalidStream(_)
            | ApiError::InvalidToxicType(_) => StatusCode::BAD_REQUEST,
            ApiError::ProxyNotFound(_) | ApiError::ToxicNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::ProxyAlreadyExists(_) | ApiError::ToxicAlreadyExists { .. } => StatusCode::CONFLICT,
            // Toxiproxy answers 500 with the Go error text when net.Listen fails.
            ApiError::Listen { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body of the error response.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.to_string(), status: self.status().as_u16() }
    }
}

/// `{"error": ..., "status": ...}`, as Toxiproxy's `ApiError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub status: u16,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), axum::Json(self.body())).into_response()
    }
}
