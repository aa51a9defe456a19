//! # faultline-engine: a durable, transactional workflow engine
//!
//! ## The invariant
//! **Every transition of a workflow run commits in ONE storage transaction**: the new history
//! events, the updated run state, every task and timer the transition creates or cancels, the
//! activity attempt records, and its effects on other runs (starting a child, notifying a
//! parent, signaling, canceling or terminating another run). Workers only ever receive tasks
//! whose rows were committed, and a poll claims a task in a transaction that also records its
//! `*_started` event. There is no in-memory queue that could disagree with the store after a
//! crash: in-memory wake-ups ([`notify`]) fire only after a commit and carry nothing the store
//! does not have, so losing one costs latency, never correctness. A request is acknowledged
//! only after its commit is on disk (the WAL is fsynced first, off the writer thread: see
//! [`store::sqlite::durable`]), so `kill -9` at any moment loses nothing acknowledged; on restart
//! the timer service re-reads the timer rows, and started-but-unfinished tasks come back when
//! their timeouts fire. The tests in `tests/crash.rs` kill the real binary to check this.
//!
//! ## Layout
//! - [`clock`]: injected time ([`clock::ManualClock`] in tests).
//! - [`state`]: pure transition logic, `apply(&RunState, Input, now) -> Transition`.
//! - [`store`]: the narrow [`store::StoreTx`] interface and its SQLite implementation (WAL,
//!   versioned migrations, one writer thread doing group commit in which a failing request
//!   rolls back alone, and a thread making each batch durable before it is answered).
//! - [`processor`]: runs a request and the cascade of effects it causes on other runs inside
//!   one transaction.
//! - [`dispatch`]: long-poll task queues; [`timers`]: the timer service; [`schedule`]: cron and
//!   interval schedules; [`notify`]: post-commit wake-ups.
//! - [`engine`]: the [`engine::Engine`] handle; [`api`]: the axum HTTP API; [`server`]: wiring.
//! - [`dual`], [`queue`], [`faults`]: the dual-write twin of issue 13 (`--mode dual-write`):
//!   the same processor committing the state in one store and publishing tasks and timers to a
//!   separate durable queue afterwards, and the named fault points of both modes. The
//!   transactional path above does not go through them (one atomic load when no fault is armed).
//! - [`check`]: the offline check of a database (SQLite's integrity check plus the invariants
//!   above: gapless histories, pending work of every open run, no orphan tasks or timers).

pub mod api;
pub mod check;
pub mod clock;
pub mod dispatch;
pub mod dual;
pub mod engine;
pub mod error;
pub mod faults;
pub mod notify;
pub mod pollers;
pub mod processor;
pub mod queue;
pub mod schedule;
pub mod server;
pub mod state;
pub mod store;
pub mod timers;

pub use engine::Engine;
pub use error::EngineError;
pub use server::Server;
