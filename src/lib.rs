//! Faultline: the dashboard, the CLI, the scenario runner and the pod runtimes.
//!
//! Layout:
//! - `runtime`: pods as Docker containers (bollard) or local processes, behind one interface.
//! - `projection`: the one fold of the engine's event stream that every screen and judge reads.
//! - `clock`: injected time (system or manual).
//! - `dashboard`: the ratatui terminal UI.
//! - `logging`: where the process's own logs go (stderr, or a file under the dashboard).
//! - `scenario`: the scenario file format, its validator and its runner.
//! - `checker`: the race checker: anomalies per side (lost, ghost, early, duplicated work...)
//!   with witnesses, from histories, queue deliveries and ledgers.
//! - `bench`: `faultline bench`, throughput/latency of engine + SDK and the crash torture.

pub mod bench;
pub mod checker;
pub mod clock;
pub mod dashboard;
pub mod logging;
pub mod projection;
pub mod runtime;
pub mod scenario;
