//! Durable storage behind a narrow interface.
//!
//! The transition logic never sees SQL: the [`crate::processor`] talks to a [`StoreTx`], one
//! open write transaction, and reads go through [`sqlite::Reader`]. A PostgreSQL store would
//! implement [`StoreTx`] over its own transaction and reuse everything else.
//!
//! Layout: [`sqlite`] opens the file and runs the versioned migrations, [`sqlite::tx`] implements
//! [`StoreTx`], [`sqlite::writer`] is the single writer thread doing group commit (with the run
//! states it keeps in [`sqlite::run_cache`]), [`sqlite::durable`]
//! fsyncs each committed batch before its callers are answered, and
//! [`sqlite::read`] holds the queries of the API. [`health`] remembers a failed fsync (writes
//! stop) and reported corruption, for `/healthz`; [`sqlite::lock`] keeps a second engine off
//! the same file.

pub mod health;
pub mod sqlite;

use faultline_proto::{EpochMillis, ScheduleInfo};

use crate::error::Result;
use crate::state::{NewTask, RunState, TaskKind, TimerKind, Transition};

/// A due timer row.
#[derive(Debug, Clone)]
pub struct DueTimer {
    pub owner: String,
    pub kind: TimerKind,
}

/// Owner of timers that belong to no run (schedules).
pub const SCHEDULE_OWNER: &str = "~schedules";

/// One open write transaction. Every method sees the writes made before it in the same
/// transaction; nothing is visible to readers until the writer commits.
pub trait StoreTx {
    fn load_run(&mut self, run_id: &str) -> Result<Option<RunState>>;
    /// The latest run of a workflow id.
    fn current_run_id(&mut self, workflow_id: &str) -> Result<Option<String>>;
    fn set_current_run(&mut self, workflow_id: &str, run_id: &str) -> Result<()>;
    /// Writes a transition atomically with the rest of this transaction: appends its events,
    /// upserts the run row, inserts/removes task rows, arms/cancels timers, upserts attempts.
    /// Returns the stream cursor of the last event written, if any.
    fn write(&mut self, t: &Transition) -> Result<Option<u64>> {
        let cursor = self.write_changes(t)?;
        if !t.noop {
            self.put_run(&t.state)?;
        }
        Ok(cursor)
    }
    /// [`StoreTx::write`] without the run row, for a caller that writes it once at the end
    /// of several transitions of the same run ([`StoreTx::put_run`]).
    fn write_changes(&mut self, t: &Transition) -> Result<Option<u64>>;
    /// Upserts the run row (its indexed columns and the state).
    fn put_run(&mut self, s: &RunState) -> Result<()>;
    /// Inserts a dispatchable task row for the run (a no-op if it is already queued).
    fn put_task(&mut self, run_id: &str, task: &NewTask) -> Result<()>;
    /// Takes the oldest task of a queue (deleting its row), returning its run and seq.
    fn claim_task(&mut self, kind: TaskKind, queue: &str) -> Result<Option<(String, u64)>>;
    /// Takes one named task (deleting its row); false if it is not (or no longer) queued.
    fn take_task(&mut self, kind: TaskKind, run_id: &str, seq: u64) -> Result<bool>;
    /// Events `1..=upto` of a run as a JSON array of their stored bodies.
    fn history_json(&mut self, run_id: &str, upto: u64) -> Result<String>;
    fn due_timers(&mut self, now: EpochMillis, limit: usize) -> Result<Vec<DueTimer>>;
    fn delete_timer(&mut self, owner: &str, kind: &TimerKind) -> Result<()>;
    fn put_timer(&mut self, owner: &str, kind: &TimerKind, fire_at: EpochMillis) -> Result<()>;
    fn next_timer_at(&mut self) -> Result<Option<EpochMillis>>;
    fn get_schedule(&mut self, id: &str) -> Result<Option<ScheduleInfo>>;
    fn put_schedule(&mut self, info: &ScheduleInfo) -> Result<()>;
    fn delete_schedule(&mut self, id: &str) -> Result<bool>;
}
