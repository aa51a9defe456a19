//! Test helpers shared by Faultline's crates, so each test suite does not grow its own copy.
//!
//! Layout:
//! - [`history`]: builders of history and stream events (a run's start, activities, retries,
//!   timers, children) for tests of anything that folds the event stream.
//! - [`net`]: a free loopback port.
//! - [`wait`]: waiting on a condition with a deadline (never a fixed sleep).
//! - [`bins`]: the workspace's release binaries, built once per test process.

pub mod bins;
pub mod history;
pub mod net;
pub mod wait;
