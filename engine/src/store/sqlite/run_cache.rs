//! The writer's cache of run states, kept across requests and batches.
//!
//! Every report loads its run, and a chain workflow's run is loaded about nine times in its
//! life. The writer is the only connection that writes, so the state it last wrote or read
//! is the stored state: it needs neither the row lookup nor the JSON parse again. The cache
//! also tells [`put_run`](super::tx::SqliteTx) whether the stored status changed, so the
//! common write is a plain `UPDATE` that leaves the status index alone.
//!
//! Only committed or in-transaction states are kept; whoever rolls back (a failed request,
//! batch or commit) clears the cache, so it never holds a state the database does not.

use std::collections::HashMap;

use crate::state::RunState;

/// Runs kept at most. The runs in flight fit many times over; past this the cache starts
/// afresh instead of tracking recency, which costs only reloads.
pub const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub struct RunCache {
    runs: HashMap<String, RunState>,
}

impl RunCache {
    /// The stored state of a run, if the writer has seen it since the last clear.
    pub fn get(&self, run_id: &str) -> Option<&RunState> {
        self.runs.get(run_id)
    }

    /// Records the state just read from or written to the store. Closed runs are dropped:
    /// they rarely change again.
    pub fn put(&mut self, state: &RunState) {
        if !state.is_running() {
            self.runs.remove(&state.run_id);
            return;
        }
        if self.runs.len() >= CAPACITY && !self.runs.contains_key(&state.run_id) {
            self.runs.clear();
        }
        self.runs.insert(state.run_id.clone(), state.clone());
    }

    /// Forgets everything: after any rollback.
    pub fn clear(&mut self) {
        self.runs.clear();
    }

    pub fn len(&self) -> usize {
        self.runs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}
