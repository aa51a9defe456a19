//! The one error type of every demo service, and how it becomes an HTTP answer.
//!
//! Every error answers with a JSON body `{"error": "<Code>", "message": "..."}`. The code is
//! stable (the order worker maps it to an activity error type, and business codes such as
//! `OutOfStock` are listed as non-retryable there); the message says what happened and what
//! to do. 4xx means "this request will never succeed as it is"; 5xx means "try again".

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// Body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// What a service handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed (missing header, bad JSON, bad amount): fix the caller.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A business rule refuses the request (out of stock, unknown label): retrying will not help.
    #[error("{message}")]
    Rejected { code: &'static str, message: String },
    /// The idempotency key was already used for a different request.
    #[error("{message}")]
    KeyReused { message: String },
    /// The service itself is wrong or broken: the caller should retry (and someone should look).
    #[error("{message}")]
    Internal { code: &'static str, message: String },
    /// The ledger database failed.
    #[error("ledger storage failed: {0}; check the data directory (FAULTLINE_DATA) is writable and not full")]
    Storage(#[from] rusqlite::Error),
}

impl ServiceError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }
    pub fn rejected(code: &'static str, message: impl Into<String>) -> Self {
        Self::Rejected { code, message: message.into() }
    }
    pub fn internal(code: &'static str, message: impl Into<String>) -> Self {
        Self::Internal { code, message: message.into() }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Rejected { .. } => StatusCode::CONFLICT,
            Self::KeyReused { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Internal { .. } | Self::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable error code of the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Rejected { code, .. } | Self::Internal { code, .. } => code,
            Self::KeyReused { .. } => "IdempotencyKeyReused",
            Self::Storage(_) => "StorageError",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.code().to_string(), message: self.to_string() }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), "{self}");
        } else {
            tracing::warn!(code = self.code(), "{self}");
        }
        (status, Json(self.body())).into_response()
    }
}
