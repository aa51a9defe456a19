//! The execution ledger: every activity execution the bench's worker performs, and the checks
//! made against the committed histories once the run is over.
//!
//! A *duplicate* is an execution of an activity (keyed by its idempotency key
//! `<run_id>:<seq>`) that began after the engine had committed that activity's completion.
//! The engine acknowledges a completion only after its commit is on disk, and it stamps the
//! `activity_completed` event before committing, so "began after the event's timestamp" covers
//! every execution that began after the acknowledgement, except one beginning within the same
//! millisecond as the stamp (the clock's resolution; the engine cannot re-dispatch a task in
//! the instant it commits its completion). Times are wall-clock milliseconds on the machine
//! that runs both the engine and the worker.
//!
//! Pure apart from the mutex: the history analysis takes plain events.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use faultline_proto::{EventKind, HistoryEvent};

/// One invocation of an activity function by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub key: String,
    pub attempt: u32,
    /// Wall-clock ms when the function began.
    pub started_ms: i64,
}

/// Executions recorded by the activity functions, shared with the worker.
#[derive(Debug, Default)]
pub struct Ledger {
    executions: Mutex<Vec<Execution>>,
}

impl Ledger {
    pub fn record(&self, key: &str, attempt: u32) {
        let started_ms = now_ms();
        if let Ok(mut v) = self.executions.lock() {
            v.push(Execution { key: key.to_string(), attempt, started_ms });
        }
    }

    pub fn executions(&self) -> Vec<Execution> {
        self.executions.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A committed activity completion: which attempt and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    pub attempt: u32,
    pub committed_ms: i64,
}

/// Facts drawn from one run's history.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HistoryFacts {
    /// idempotency key -> completion.
    pub completions: HashMap<String, Completion>,
    /// For each fired timer: fire time minus the scheduled fire time, in ms.
    pub timer_lateness_ms: Vec<f64>,
}

/// Extracts completions and timer lateness from the history of run `run_id`.
pub fn facts(run_id: &str, events: &[HistoryEvent]) -> HistoryFacts {
    let mut out = HistoryFacts::default();
    let mut fire_at: HashMap<u64, i64> = HashMap::new();
    for e in events {
        match &e.kind {
            EventKind::ActivityCompleted { seq, attempt, .. } => {
                out.completions
                    .insert(format!("{run_id}:{seq}"), Completion { attempt: *attempt, committed_ms: e.timestamp_ms });
            }
            EventKind::TimerStarted { seq, fire_at_ms, .. } => {
                fire_at.insert(*seq, *fire_at_ms);
            }
            EventKind::TimerFired { seq } => {
                if let Some(at) = fire_at.get(seq) {
                    out.timer_lateness_ms.push((e.timestamp_ms - at) as f64);
                }
            }
            _ => {}
        }
    }
    out
}

/// Counts executions that began after their key's completion was committed.
pub fn count_duplicates(executions: &[Execution], completions: &HashMap<String, Completion>) -> u64 {
    executions
        .iter()
        .filter(|x| completions.get(&x.key).is_some_and(|c| x.started_ms > c.committed_ms))
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: u64, ts: i64, kind: EventKind) -> HistoryEvent {
        HistoryEvent { event_id: id, timestamp_ms: ts, kind }
    }

    #[test]
    fn completions_and_timer_lateness_come_from_history() {
        let events = vec![
            ev(1, 100, EventKind::TimerStarted { seq: 1, duration_ms: 1000, fire_at_ms: 1100 }),
            ev(2, 1107, EventKind::TimerFired { seq: 1 }),
            ev(3, 1200, EventKind::ActivityCompleted { seq: 2, attempt: 3, result: json!("x") }),
        ];
        let f = facts("r1", &events);
        assert_eq!(f.timer_lateness_ms, vec![7.0]);
        assert_eq!(f.completions.get("r1:2"), Some(&Completion { attempt: 3, committed_ms: 1200 }));
    }

    #[test]
    fn only_executions_after_the_commit_are_duplicates() {
        let mut completions = HashMap::new();
        completions.insert("r1:1".to_string(), Completion { attempt: 1, committed_ms: 1000 });
        let x = |key: &str, attempt, started_ms| Execution { key: key.into(), attempt, started_ms };
        let execs = vec![
            x("r1:1", 1, 990),  // the execution that completed
            x("r1:1", 1, 1000), // same millisecond as the commit stamp: not provably after
            x("r1:1", 2, 1500), // ran again after the commit: a duplicate
            x("r2:1", 1, 5000), // never completed (e.g. still running): not a duplicate
        ];
        assert_eq!(count_duplicates(&execs, &completions), 1);
    }

    #[test]
    fn ledger_records_in_order() {
        let l = Ledger::default();
        l.record("a:1", 1);
        l.record("a:1", 2);
        let v = l.executions();
        assert_eq!(v.len(), 2);
        assert_eq!((v[1].key.as_str(), v[1].attempt), ("a:1", 2));
    }
}
