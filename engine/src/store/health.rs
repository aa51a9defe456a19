//! What the engine knows about its store's health, shared by the writer, the fsync thread,
//! the reads and `/healthz`.
//!
//! Two conditions are sticky until a restart:
//! - **writes stopped** after a failed fsync of the WAL. After such a failure the kernel may
//!   have dropped the dirty pages it could not write, and a later fsync can succeed without
//!   them ("fsyncgate", PostgreSQL's lesson), so the engine cannot know what is on disk any
//!   more. It stops writing: every write answers 503 `store_failed`, reads of what was
//!   durable go on, and a restart recovers from the WAL, whose frames carry checksums.
//! - **corruption seen**: SQLite answered "database disk image is malformed" (or "not a
//!   database") to a read or a write.

use std::sync::OnceLock;

use crate::error::EngineError;

#[derive(Debug, Default)]
pub struct Health {
    writes_stopped: OnceLock<String>,
    corrupt: OnceLock<String>,
}

impl Health {
    /// Stops every later write; the first reason is kept.
    pub fn stop_writes(&self, reason: String) {
        if self.writes_stopped.set(reason.clone()).is_ok() {
            tracing::error!(%reason, "the engine stopped accepting writes; restart it to recover from the WAL");
        }
    }

    /// The error every write gets once writes stopped.
    pub fn write_refusal(&self) -> Option<EngineError> {
        self.writes_stopped.get().map(|r| {
            EngineError::StoreFailed(format!(
                "the engine stopped accepting writes: {r}; reads still work; restart the engine (it recovers from its WAL) after checking the disk"
            ))
        })
    }

    /// Notes what an error says about the store (corruption is remembered).
    pub fn observe(&self, e: &EngineError) {
        if let EngineError::Corrupt(m) = e {
            if self.corrupt.set(m.clone()).is_ok() {
                tracing::error!(error = %m, "the store reported corruption; run `faultline-engine check --db <file>`");
            }
        }
    }

    /// What `/healthz` reports, if anything is wrong.
    pub fn problem(&self) -> Option<EngineError> {
        self.write_refusal().or_else(|| self.corrupt.get().map(|m| EngineError::Corrupt(m.clone())))
    }
}
