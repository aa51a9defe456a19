//! Workflow side of the SDK.
//!
//! - [`context`]: [`WfContext`], the API workflow code uses, and its futures.
//! - [`registry`]: workflow functions by type, erased to JSON.
//! - [`replay`]: the deterministic replayer (activations, command matching, executor).
//! - `history`: reading a history (activation boundaries, command events, resolutions).
//! - `state`: the per-run state rebuilt on every workflow task.

pub mod context;
mod history;
pub mod registry;
pub mod replay;
mod state;

pub use context::{ActivityHandle, ChildOptions, SignalChannel, TimerHandle, WfContext};
pub use registry::WorkflowRegistry;
pub use replay::{replay, ReplayError};
