//! In-memory wake-ups, fired only after a commit. They carry no data the store does not have:
//! a lost wake-up costs latency, never correctness, because every waiter re-reads the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{watch, Notify};

use faultline_proto::WorkflowResultResponse;

use crate::processor::Notes;
use crate::state::TaskKind;

pub struct Notifier {
    cursor: watch::Sender<u64>,
    queues: Mutex<HashMap<(TaskKind, String), Arc<Notify>>>,
    closed: Mutex<HashMap<String, watch::Sender<Option<Arc<WorkflowResultResponse>>>>>,
    /// Woken when timers were armed, so the timer service re-reads the earliest due time.
    pub timers: Notify,
    /// When the timer service plans to wake up next; earlier new timers wake it sooner.
    timer_wake_at: AtomicI64,
}

impl Notifier {
    pub fn new(last_cursor: u64) -> Self {
        Self {
            cursor: watch::channel(last_cursor).0,
            queues: Mutex::new(HashMap::new()),
            closed: Mutex::new(HashMap::new()),
            timers: Notify::new(),
            timer_wake_at: AtomicI64::new(0),
        }
    }

    /// The stream position of the last committed event.
    pub fn cursor(&self) -> watch::Receiver<u64> {
        self.cursor.subscribe()
    }

    pub fn queue(&self, kind: TaskKind, queue: &str) -> Arc<Notify> {
        let mut m = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        m.entry((kind, queue.to_string())).or_default().clone()
    }

    /// Waited on by result long-polls of a workflow id: receives how its run ended once that
    /// is durable, so a waiter need not read the store again.
    pub fn close_waiter(&self, workflow_id: &str) -> CloseWaiter<'_> {
        let mut m = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        let rx = m.entry(workflow_id.to_string()).or_insert_with(|| watch::channel(None).0).subscribe();
        CloseWaiter { notifier: self, workflow_id: workflow_id.to_string(), rx: Some(rx) }
    }

    /// A result waiter gave up (after dropping its receiver): forget the id if nobody else waits.
    fn forget_closed_waiter(&self, workflow_id: &str) {
        let mut m = self.closed.lock().unwrap_or_else(|e| e.into_inner());
        if m.get(workflow_id).is_some_and(|tx| tx.receiver_count() == 0) {
            m.remove(workflow_id);
        }
    }

    /// Called after a commit is durable.
    pub fn publish(&self, notes: Notes) {
        if let Some(c) = notes.last_cursor {
            self.cursor.send_replace(c);
        }
        if !notes.queues.is_empty() {
            let m = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            // One wake-up per new task, not a thundering herd: each woken poller claims one.
            for (key, count) in &notes.queues {
                if let Some(n) = m.get(key) {
                    for _ in 0..*count {
                        n.notify_one();
                    }
                }
            }
        }
        if !notes.closed_workflows.is_empty() {
            let mut m = self.closed.lock().unwrap_or_else(|e| e.into_inner());
            for (id, outcome) in notes.closed_workflows {
                if let Some(tx) = m.remove(&id) {
                    tx.send_replace(Some(outcome));
                }
            }
        }
        if let Some(at) = notes.earliest_timer {
            if at < self.timer_wake_at.load(Ordering::SeqCst) {
                self.timers.notify_one();
            }
        }
    }

    /// The timer service tells when it will wake up by itself.
    pub fn set_timer_wake_at(&self, at: i64) {
        self.timer_wake_at.store(at, Ordering::SeqCst);
    }
}

/// A subscription to how the runs of a workflow id end. Dropping it forgets the id once nobody
/// else waits, so a waiter that gives up (or whose client went away) leaves nothing behind.
pub struct CloseWaiter<'a> {
    notifier: &'a Notifier,
    workflow_id: String,
    rx: Option<watch::Receiver<Option<Arc<WorkflowResultResponse>>>>,
}

impl CloseWaiter<'_> {
    /// How the next run of the id to close ended; `None` once nothing more will come.
    pub async fn next(&mut self) -> Option<Arc<WorkflowResultResponse>> {
        let rx = self.rx.as_mut()?;
        rx.changed().await.ok()?;
        let outcome = rx.borrow_and_update().clone();
        outcome
    }
}

impl Drop for CloseWaiter<'_> {
    fn drop(&mut self) {
        drop(self.rx.take());
        self.notifier.forget_closed_waiter(&self.workflow_id);
    }
}
