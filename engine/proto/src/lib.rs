//! Wire types of the Faultline engine's HTTP/JSON API.
//!
//! This crate is the contract between the engine (`faultline-engine`), the worker SDK
//! (`faultline-sdk`) and the dashboard. It holds data only: no I/O, no store.
//!
//! Layout:
//! - [`history`]: the typed, append-only event history of a workflow run.
//! - [`command`]: what a workflow task reports back (commands produced by replaying workflow code).
//! - [`task`]: workflow and activity tasks handed to workers, and their completions.
//! - [`report`]: several worker reports (completions, failures) in one round trip.
//! - [`api`]: request and response bodies of the client-facing endpoints.
//! - [`options`]: retry policies, timeouts and other options.
//! - [`paths`]: the URL of every endpoint, so that server and clients cannot drift apart.
//! - [`limits`]: the bound of every number and id on the wire, and saturating deadlines.
//! - [`token`]: task tokens, parsed and printed in one place.
//! - [`codes`]: the machine-readable error codes of `ErrorBody`.
//!
//! Sequence numbers: every command that creates something the history later refers to
//! (activity, timer, child workflow, external signal, marker) carries a `seq`, assigned by the
//! workflow code in the order it issues commands, from one counter shared by all kinds and
//! starting at 1. The engine copies `seq` into the events it records, which is how replay
//! matches commands to events (kind and sequence number), as temporalio/sdk-core does.

pub mod api;
pub mod codes;
pub mod command;
pub mod history;
pub mod limits;
pub mod options;
pub mod paths;
pub mod report;
pub mod task;
pub mod token;

pub use api::*;
pub use command::*;
pub use history::*;
pub use options::*;
pub use report::*;
pub use task::*;
pub use token::{TaskToken, TaskTokenError};

/// Milliseconds since the Unix epoch, as used in every timestamp on the wire.
pub type EpochMillis = i64;

/// A JSON payload: inputs, results, signal payloads and heartbeat details are opaque to the engine.
pub type Payload = serde_json::Value;
