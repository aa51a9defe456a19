//! Builders of history and stream events. A [`Stream`] hands out gapless cursors and
//! per-run event ids, so folded views see what a real engine would send.

use std::collections::HashMap;

use faultline_proto::{EventKind, Failure, HistoryEvent, ParentRef, StreamEvent};
use serde_json::json;

/// A fake event stream: each event gets the next cursor and its run's next event id.
#[derive(Debug, Default)]
pub struct Stream {
    pub cursor: u64,
    /// Event time of the next event (ms since the epoch); set it to move time.
    pub now_ms: i64,
    ids: HashMap<String, u64>,
}

impl Stream {
    pub fn new(now_ms: i64) -> Self {
        Stream { now_ms, ..Stream::default() }
    }

    /// The next stream event of `workflow_id` (run id `<workflow_id>-run`).
    pub fn ev(&mut self, workflow_id: &str, kind: EventKind) -> StreamEvent {
        self.ev_in_run(workflow_id, &format!("{workflow_id}-run"), kind)
    }

    /// The next stream event of a given run of `workflow_id`.
    pub fn ev_in_run(&mut self, workflow_id: &str, run_id: &str, kind: EventKind) -> StreamEvent {
        self.cursor += 1;
        let id = self.ids.entry(run_id.to_string()).or_default();
        *id += 1;
        StreamEvent {
            cursor: self.cursor,
            workflow_id: workflow_id.into(),
            run_id: run_id.into(),
            workflow_type: "Order".into(),
            event: HistoryEvent { event_id: *id, timestamp_ms: self.now_ms, kind },
        }
    }
}

/// `workflow_started` of an `Order` (or of a child, with its parent).
pub fn started(parent: Option<&str>) -> EventKind {
    EventKind::WorkflowStarted {
        workflow_id: "x".into(),
        workflow_type: "Order".into(),
        task_queue: "orders".into(),
        input: json!({}),
        options: Default::default(),
        parent: parent.map(|p| ParentRef { workflow_id: p.into(), run_id: format!("{p}-run"), seq: 3 }),
        continued_from_run_id: None,
        random_seed: 1,
    }
}

pub fn scheduled(seq: u64, activity_type: &str) -> EventKind {
    EventKind::ActivityScheduled { seq, activity_type: activity_type.into(), input: json!({}), task_queue: "orders".into(), options: Default::default() }
}

pub fn attempt_started(seq: u64, attempt: u32) -> EventKind {
    EventKind::ActivityStarted { seq, attempt, worker: "w".into() }
}

/// A failed attempt; `retry_at` is when the engine retries (`None`: a final failure).
pub fn failed(seq: u64, attempt: u32, message: &str, retry_at: Option<i64>) -> EventKind {
    EventKind::ActivityFailed { seq, attempt, failure: Failure::new(message), next_retry_at_ms: retry_at }
}

pub fn activity_completed(seq: u64, attempt: u32) -> EventKind {
    EventKind::ActivityCompleted { seq, attempt, result: json!({}) }
}

pub fn timer_started(seq: u64, duration_ms: u64, fire_at_ms: i64) -> EventKind {
    EventKind::TimerStarted { seq, duration_ms, fire_at_ms }
}

pub fn child_initiated(seq: u64, child_id: &str) -> EventKind {
    EventKind::ChildWorkflowInitiated {
        seq,
        workflow_id: child_id.into(),
        workflow_type: "Shipment".into(),
        task_queue: "orders".into(),
        input: json!({}),
        parent_close_policy: Default::default(),
    }
}

pub fn signaled(name: &str) -> EventKind {
    EventKind::WorkflowSignaled { name: name.into(), payload: json!({}) }
}

pub fn completed() -> EventKind {
    EventKind::WorkflowCompleted { result: json!({}) }
}

pub fn workflow_failed(message: &str) -> EventKind {
    EventKind::WorkflowFailed { failure: Failure::new(message) }
}
