//! [`Pollers`]: who polls which task queue, as presence rather than history.
//!
//! A poller is present while one of its long polls is open, and for [`POLLER_GRACE_MS`] after
//! its last poll ended: the gap in which a worker runs the task it just got and polls again.
//! An open poll is held by a [`PollGuard`]; when the worker goes away its connection closes,
//! the server drops the poll's future, the guard with it, and the poller is gone from the
//! listing within the grace period (the dashboard's "no worker polling" follows in about a
//! second, not a minute).
//!
//! Remembering the time of the last poll alone (what this replaced) cannot tell a worker
//! waiting in a 20 s long poll from one that died: it had to keep every poller listed for a
//! minute. Presence is not durable on purpose: after a restart workers re-appear by polling.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use faultline_proto::{EpochMillis, PollerInfo};

use crate::clock::Clock;

/// How long a poller stays listed after its last long poll ended.
pub const POLLER_GRACE_MS: i64 = 1_000;

/// (task queue, kind, worker identity)
type Key = (String, &'static str, String);

#[derive(Debug, Clone, Copy)]
struct Presence {
    /// Long polls open right now.
    open: u32,
    /// When the latest poll started.
    last_poll_at: EpochMillis,
    /// When the latest poll ended (meaningful once `open` is 0).
    last_seen: EpochMillis,
}

/// The registry of pollers, shared by the dispatcher and the task-queue API.
pub struct Pollers {
    clock: Arc<dyn Clock>,
    map: Mutex<HashMap<Key, Presence>>,
}

impl Pollers {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Pollers { clock, map: Mutex::new(HashMap::new()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Presence>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A long poll opens; the poller is present until the guard drops (plus the grace).
    pub fn open(self: &Arc<Self>, queue: &str, kind: &'static str, worker: &str) -> PollGuard {
        let now = self.clock.now_ms();
        let key: Key = (queue.to_string(), kind, worker.to_string());
        let mut m = self.lock();
        // Forget pollers long gone, so the map does not grow with every worker ever seen.
        m.retain(|_, p| p.open > 0 || now - p.last_seen < POLLER_GRACE_MS);
        let p = m.entry(key.clone()).or_insert(Presence { open: 0, last_poll_at: now, last_seen: now });
        p.open += 1;
        p.last_poll_at = now;
        PollGuard { pollers: self.clone(), key: Some(key) }
    }

    fn close(&self, key: &Key) {
        let now = self.clock.now_ms();
        if let Some(p) = self.lock().get_mut(key) {
            p.open = p.open.saturating_sub(1);
            p.last_seen = now;
        }
    }

    /// The pollers of `queue` present now, sorted by kind then worker. `last_poll_at_ms` is
    /// now for a poller with a poll open.
    pub fn of_queue(&self, queue: &str) -> Vec<PollerInfo> {
        let now = self.clock.now_ms();
        let m = self.lock();
        let mut out: Vec<PollerInfo> = m
            .iter()
            .filter(|((q, _, _), p)| q == queue && (p.open > 0 || now - p.last_seen < POLLER_GRACE_MS))
            .map(|((q, kind, worker), p)| PollerInfo {
                worker: worker.clone(),
                task_queue: q.clone(),
                kind: (*kind).to_string(),
                last_poll_at_ms: if p.open > 0 { now } else { p.last_poll_at },
            })
            .collect();
        out.sort_by(|a, b| (&a.kind, &a.worker).cmp(&(&b.kind, &b.worker)));
        out
    }
}

/// An open long poll. Dropping it (the poll answered, timed out, or its client went away and
/// the server dropped the request) ends the poller's presence after the grace period.
pub struct PollGuard {
    pollers: Arc<Pollers>,
    key: Option<Key>,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.pollers.close(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_poller_is_present_while_its_poll_is_open_and_gone_a_second_after_it_closed() {
        let clock = ManualClock::new(1_000_000);
        let pollers = Pollers::new(Arc::new(clock.clone()));
        let guard = pollers.open("orders", "activity", "worker-1");
        // A long poll held open for a minute keeps its poller listed, with a fresh time.
        clock.advance(59_000);
        let listed = pollers.of_queue("orders");
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_poll_at_ms, clock.now_ms());
        assert!(pollers.of_queue("other").is_empty());
        drop(guard);
        clock.advance(POLLER_GRACE_MS - 1);
        assert_eq!(pollers.of_queue("orders").len(), 1, "between two polls the worker is still there");
        clock.advance(1);
        assert!(pollers.of_queue("orders").is_empty(), "gone once the grace has passed");
    }

    #[test]
    fn two_open_polls_of_one_worker_count_until_both_close() {
        let clock = ManualClock::new(0);
        let pollers = Pollers::new(Arc::new(clock.clone()));
        let a = pollers.open("orders", "workflow", "w");
        let b = pollers.open("orders", "workflow", "w");
        let c = pollers.open("orders", "activity", "w");
        assert_eq!(pollers.of_queue("orders").len(), 2, "one row per (kind, worker)");
        drop(a);
        clock.advance(5_000);
        assert_eq!(pollers.of_queue("orders").len(), 2, "b still polls");
        drop(b);
        drop(c);
        clock.advance(POLLER_GRACE_MS);
        assert!(pollers.of_queue("orders").is_empty());
    }
}
