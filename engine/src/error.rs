//! Errors of the engine library. Every message says what happened and what to do next.

use thiserror::Error;

/// Why a transition or a query was refused.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    StaleToken(String),
    #[error("the engine's store failed: {0}; the transition was not committed, retry the request")]
    Store(String),
    #[error("the engine is shutting down; retry against the restarted engine")]
    ShuttingDown,
}

impl EngineError {
    /// The machine-readable code of an `ErrorBody`.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::NotFound(_) => "not_found",
            EngineError::Conflict(_) => "conflict",
            EngineError::BadRequest(_) => "bad_request",
            EngineError::StaleToken(_) => "stale_task_token",
            EngineError::Store(_) => "store_error",
            EngineError::ShuttingDown => "unavailable",
        }
    }
}

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        EngineError::Store(e.to_string())
    }
}

impl From<serde_json::Error> for EngineError {
    fn from(e: serde_json::Error) -> Self {
        EngineError::Store(format!("corrupt JSON in the store: {e}"))
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
