//! The dashboard's data model, folded from events: one [`RunView`] per workflow and a
//! [`WorkflowStore`] with incremental counts and rates.
//!
//! Layout:
//! - `run`: one run, folded event by event (status, step, pending activities, timers, children).
//! - `store`: all runs, counts and throughput.

pub mod run;
pub mod store;

pub use run::{ActivityState, ActivityView, Category, ChildRow, RunView, TimerView};
pub use store::{Counts, Rate, WorkflowStore};
