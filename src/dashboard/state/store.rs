//! All workflows the dashboard knows about, with counts and throughput kept up to date event by
//! event (never recomputed from the whole history at draw time).

use std::collections::{HashMap, VecDeque};

use faultline_proto::{HistoryEvent, StreamEvent, WorkflowSummary};

use super::run::{Category, RunView};

/// Running / retrying / completed / failed / other, maintained incrementally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub running: u64,
    pub retrying: u64,
    pub completed: u64,
    pub failed: u64,
    pub other: u64,
}

impl Counts {
    fn slot(&mut self, c: Category) -> &mut u64 {
        match c {
            Category::Running => &mut self.running,
            Category::Retrying => &mut self.retrying,
            Category::Completed => &mut self.completed,
            Category::Failed => &mut self.failed,
            Category::Other => &mut self.other,
        }
    }
    fn add(&mut self, c: Category) {
        *self.slot(c) += 1;
    }
    fn remove(&mut self, c: Category) {
        let s = self.slot(c);
        *s = s.saturating_sub(1);
    }
    pub fn total(&self) -> u64 {
        self.running + self.retrying + self.completed + self.failed + self.other
    }
}

/// Per-second buckets of a counter over the last [`Rate::WINDOW_S`] seconds.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    /// (second since epoch, count), oldest first.
    buckets: VecDeque<(i64, u64)>,
}

impl Rate {
    pub const WINDOW_S: i64 = 120;

    pub fn record(&mut self, at_ms: i64, now_ms: i64) {
        let sec = at_ms.div_euclid(1000);
        if sec < now_ms.div_euclid(1000) - Self::WINDOW_S {
            return;
        }
        match self.buckets.iter().rposition(|(s, _)| *s <= sec) {
            Some(i) if self.buckets[i].0 == sec => self.buckets[i].1 += 1,
            Some(i) => self.buckets.insert(i + 1, (sec, 1)),
            None => self.buckets.push_front((sec, 1)),
        }
    }

    /// Drops buckets that left the window.
    pub fn prune(&mut self, now_ms: i64) {
        let oldest = now_ms.div_euclid(1000) - Self::WINDOW_S;
        while self.buckets.front().is_some_and(|(s, _)| *s < oldest) {
            self.buckets.pop_front();
        }
    }

    /// The last `n` whole seconds before `now_ms`, oldest first (the current, partial second
    /// is left out so the last bar does not jump).
    pub fn series(&self, now_ms: i64, n: usize) -> Vec<u64> {
        let now_s = now_ms.div_euclid(1000);
        let first = now_s - n as i64;
        let mut out = vec![0; n];
        for (s, c) in self.buckets.iter().rev() {
            if *s < first {
                break;
            }
            if *s < now_s {
                out[(*s - first) as usize] = *c;
            }
        }
        out
    }

    /// Mean per second over the last `n` whole seconds.
    pub fn per_second(&self, now_ms: i64, n: usize) -> f64 {
        let s = self.series(now_ms, n);
        s.iter().sum::<u64>() as f64 / n.max(1) as f64
    }
}

/// Every workflow seen (latest run per workflow id), in the order first seen.
#[derive(Debug, Default)]
pub struct WorkflowStore {
    runs: Vec<RunView>,
    by_id: HashMap<String, usize>,
    pub counts: Counts,
    pub total_events: u64,
    pub last_cursor: Option<u64>,
    /// Workflows completed per second.
    pub completions: Rate,
    /// History events per second.
    pub events_rate: Rate,
}

impl WorkflowStore {
    pub fn len(&self) -> usize {
        self.runs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
    /// Runs in the order first seen (index = position).
    pub fn runs(&self) -> &[RunView] {
        &self.runs
    }
    pub fn get(&self, workflow_id: &str) -> Option<&RunView> {
        self.by_id.get(workflow_id).map(|i| &self.runs[*i])
    }
    pub fn index_of(&self, workflow_id: &str) -> Option<usize> {
        self.by_id.get(workflow_id).copied()
    }

    /// Applies one live stream event. Returns false for a duplicate or stale event.
    pub fn apply_stream(&mut self, se: StreamEvent, now_ms: i64) -> bool {
        if let Some(last) = self.last_cursor {
            if se.cursor <= last {
                return false;
            }
        }
        self.last_cursor = Some(se.cursor);
        self.apply_event(&se.workflow_id, &se.run_id, &se.workflow_type, se.event, now_ms)
    }

    /// Applies one history event of a run (from the stream or a history backfill).
    pub fn apply_event(&mut self, workflow_id: &str, run_id: &str, workflow_type: &str, ev: HistoryEvent, now_ms: i64) -> bool {
        let at = ev.timestamp_ms;
        let is_start = matches!(ev.kind, faultline_proto::EventKind::WorkflowStarted { .. });
        let idx = match self.by_id.get(workflow_id) {
            Some(i) => *i,
            None => {
                let i = self.runs.len();
                self.runs.push(RunView::new(workflow_id, run_id, workflow_type, at));
                self.by_id.insert(workflow_id.to_string(), i);
                self.counts.add(Category::Running);
                i
            }
        };
        let before = self.runs[idx].category();
        let run = &mut self.runs[idx];
        if run.run_id != run_id {
            // A new run of the same workflow id (continue-as-new, or a restart after closing)
            // replaces the view; events of older runs are ignored.
            if !is_start {
                return false;
            }
            *run = RunView::new(workflow_id, run_id, workflow_type, at);
        }
        if !run.apply(ev) {
            return false;
        }
        let after = run.category();
        if before != after {
            self.counts.remove(before);
            self.counts.add(after);
            if after == Category::Completed {
                self.completions.record(at, now_ms);
            }
        }
        self.total_events += 1;
        self.events_rate.record(at, now_ms);
        true
    }

    /// Adds list rows for workflows not seen yet; known ones keep their event-derived state.
    pub fn merge_list(&mut self, rows: &[WorkflowSummary]) -> bool {
        let mut changed = false;
        for s in rows {
            if self.by_id.contains_key(&s.workflow_id) {
                continue;
            }
            let v = RunView::from_summary(s);
            self.counts.add(v.category());
            self.by_id.insert(s.workflow_id.clone(), self.runs.len());
            self.runs.push(v);
            changed = true;
        }
        changed
    }

    pub fn prune(&mut self, now_ms: i64) {
        self.completions.prune(now_ms);
        self.events_rate.prune(now_ms);
    }
}
