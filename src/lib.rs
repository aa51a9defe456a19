//! Faultline: the dashboard, the CLI, the scenario runner and the pod runtimes.
//!
//! Layout:
//! - `runtime`: pods as Docker containers (bollard) or local processes, behind one interface.
//! - `dashboard`: the ratatui terminal UI.
//! - `scenario`: the scenario file format, its validator and its runner.
//! - `bench`: `faultline bench`, throughput/latency of engine + SDK and the crash torture.

pub mod bench;
pub mod dashboard;
pub mod runtime;
pub mod scenario;
