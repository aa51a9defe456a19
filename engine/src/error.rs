//! Errors of the engine library. Every message says what happened and what to do next.

use faultline_proto::codes;
use thiserror::Error;

/// Why a transition or a query was refused, or why the engine could not start.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    /// A command list that cannot be applied; the message names the command's index.
    #[error("{0}")]
    MalformedCommands(String),
    #[error("{0}")]
    StaleToken(String),
    #[error("the engine's store failed: {0}; the transition was not committed, retry the request")]
    Store(String),
    /// SQLite reports corrupted pages (or a file that is not a database).
    #[error("the engine's store is corrupt: {0}; stop the engine and run `faultline-engine check --db <file>`, then restore a backup or move the file aside")]
    Corrupt(String),
    /// An fsync of the WAL failed: the engine no longer writes (see `store::health`).
    #[error("{0}")]
    StoreFailed(String),
    /// The engine could not start; the message says what to do.
    #[error("cannot start the engine: {0}")]
    Startup(String),
    #[error("the engine is shutting down; retry against the restarted engine")]
    ShuttingDown,
}

impl EngineError {
    /// The machine-readable code of an `ErrorBody`.
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::NotFound(_) => codes::NOT_FOUND,
            EngineError::Conflict(_) => codes::CONFLICT,
            EngineError::BadRequest(_) => codes::BAD_REQUEST,
            EngineError::MalformedCommands(_) => codes::MALFORMED_COMMANDS,
            EngineError::StaleToken(_) => codes::STALE_TASK_TOKEN,
            EngineError::Store(_) | EngineError::Startup(_) => codes::STORE_ERROR,
            EngineError::Corrupt(_) => codes::STORE_CORRUPT,
            EngineError::StoreFailed(_) => codes::STORE_FAILED,
            EngineError::ShuttingDown => codes::UNAVAILABLE,
        }
    }

    /// The same failure, met while starting: says what to do at startup instead of "retry".
    pub fn at_startup(self, fix: &str) -> EngineError {
        match self {
            EngineError::Startup(m) => EngineError::Startup(m),
            EngineError::Store(m) | EngineError::Corrupt(m) | EngineError::StoreFailed(m) => {
                EngineError::Startup(format!("{m}; {fix}"))
            }
            other => EngineError::Startup(format!("{other}; {fix}")),
        }
    }
}

impl From<rusqlite::Error> for EngineError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => EngineError::Corrupt(e.to_string()),
            _ => EngineError::Store(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for EngineError {
    fn from(e: serde_json::Error) -> Self {
        EngineError::Store(format!("corrupt JSON in the store: {e}"))
    }
}

impl From<faultline_proto::limits::LimitError> for EngineError {
    fn from(e: faultline_proto::limits::LimitError) -> Self {
        EngineError::BadRequest(e.to_string())
    }
}

impl From<faultline_proto::TaskTokenError> for EngineError {
    fn from(e: faultline_proto::TaskTokenError) -> Self {
        EngineError::BadRequest(e.to_string())
    }
}

impl From<faultline_proto::CommandError> for EngineError {
    fn from(e: faultline_proto::CommandError) -> Self {
        EngineError::MalformedCommands(e.to_string())
    }
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;
