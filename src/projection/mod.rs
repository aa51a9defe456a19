//! One projection of the engine's event stream: every screen and every judge of a run (the
//! dashboard, the scenario runner and its `when` conditions, the report) reads this fold, so a
//! status or a count has exactly one definition.
//!
//! - A [`RunView`] per workflow id (its latest run), folded event by event: status, step,
//!   pending activities and their backoff, timers, children, failures.
//! - Roll-ups per **order**: a top-level workflow together with its descendants (a child's
//!   retry makes its order retrying). [`Projection::order`] and [`Projection::counts`].
//! - A [`Scope`]: every top-level workflow on the stream (attach), or only the ones registered
//!   (a scenario run counts its own orders, never an earlier run's leftovers).
//!
//! Layout:
//! - `run`: one run folded from its events, and the per-run status definitions.
//! - `counts`: the counts (running, retrying, in backoff, on a timer, ...) and the order view.
//! - `notable`: typed notable events (failures, timers, signals, closes) for timelines.
//! - `rate`: per-second rates for throughput sparklines.
//! - `timeline`: an order's attempts, timers and signals on one time axis.

mod counts;
mod notable;
mod rate;
mod run;
pub mod timeline;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use faultline_proto::{EventKind, HistoryEvent, StreamEvent, WorkflowSummary};

pub use counts::{Counter, Counts, OrderView};
pub use notable::{Notable, NotableKind};
pub use rate::Rate;
pub use run::{is_bookkeeping, ActivityState, ActivityView, Category, ChildRow, FailureSeen, RunView, Step, TimerView};

/// Which top-level workflows count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every workflow on the stream (attaching to an engine).
    #[default]
    All,
    /// Only registered top-level workflows and their descendants; everything else on the
    /// stream is ignored (and not kept).
    Registered,
}

/// How a projection is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    pub scope: Scope,
    /// Keep every event (the history view needs them; the runner does not).
    pub keep_history: bool,
    /// Record [`Notable`] events (for a run's timeline).
    pub notable: bool,
    /// With `keep_history`: at most this many events of **closed** runs are kept; beyond it
    /// the histories of the runs that closed first are let go (their views and counts stay).
    /// Open runs always keep theirs. `None`: every history is kept.
    pub history_budget: Option<usize>,
}

/// Every workflow seen (latest run per workflow id), in the order first seen.
#[derive(Debug, Default)]
pub struct Projection {
    opts: Options,
    runs: Vec<RunView>,
    by_id: HashMap<String, usize>,
    /// Registered top-level ids (scope `Registered`).
    registered: HashSet<String>,
    /// workflow id -> the top-level workflow id it belongs to.
    owner: HashMap<String, String>,
    /// top-level id -> every workflow id of its tree (itself first).
    members: HashMap<String, Vec<String>>,
    /// workflow id -> `workflow_started` events seen (more than one: a new run of the id).
    starts: HashMap<String, u32>,
    notable: Vec<Notable>,
    /// Closed runs whose history counts against the budget, first closed first (index, run
    /// id); entries of runs replaced since are stale and skipped.
    closed_kept: std::collections::VecDeque<(usize, String)>,
    /// Indices of the closed runs whose events are in `closed_kept_events`.
    closed_tracked: HashSet<usize>,
    closed_kept_events: usize,
    pub total_events: u64,
    pub last_cursor: Option<u64>,
    /// Workflows completed per second.
    pub completions: Rate,
    /// History events per second.
    pub events_rate: Rate,
}

impl Projection {
    pub fn new(opts: Options) -> Self {
        Projection { opts, ..Projection::default() }
    }

    pub fn options(&self) -> Options {
        self.opts
    }

    /// Counts `workflow_id` (and its descendants) in scope. Register an order before starting
    /// it, so its first events cannot arrive before the projection knows it.
    pub fn register(&mut self, workflow_id: &str) {
        self.registered.insert(workflow_id.to_string());
        self.adopt(workflow_id, workflow_id);
    }

    pub fn is_registered(&self, workflow_id: &str) -> bool {
        self.registered.contains(workflow_id)
    }

    fn adopt(&mut self, workflow_id: &str, root: &str) {
        if self.owner.contains_key(workflow_id) {
            return;
        }
        self.owner.insert(workflow_id.to_string(), root.to_string());
        self.members.entry(root.to_string()).or_default().push(workflow_id.to_string());
    }

    /// The top-level workflow `workflow_id` belongs to, if it is in scope.
    pub fn root_of(&self, workflow_id: &str) -> Option<&str> {
        self.owner.get(workflow_id).map(String::as_str)
    }

    /// Every workflow id of an order's tree, the order first, then its descendants as they
    /// were first seen.
    pub fn members_of(&self, root: &str) -> &[String] {
        self.members.get(root).map(Vec::as_slice).unwrap_or(&[])
    }

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

    /// Notable events seen so far, oldest first (only with `Options::notable`).
    pub fn notable(&self) -> &[Notable] {
        &self.notable
    }

    /// Applies one live stream event. Returns false for a duplicate, stale or out-of-scope event.
    pub fn apply_stream(&mut self, se: StreamEvent, now_ms: i64) -> bool {
        if self.last_cursor.is_some_and(|last| se.cursor <= last) {
            return false;
        }
        self.last_cursor = Some(se.cursor);
        self.apply_event(&se.workflow_id, &se.run_id, &se.workflow_type, se.event, now_ms)
    }

    /// Whether events of `workflow_id` count, learning a child's owner from its start event.
    fn admit(&mut self, workflow_id: &str, ev: &HistoryEvent) -> bool {
        if self.owner.contains_key(workflow_id) {
            return true;
        }
        let parent = match &ev.kind {
            EventKind::WorkflowStarted { parent, .. } => parent.as_ref().map(|p| p.workflow_id.clone()),
            _ => None,
        };
        match (parent.and_then(|p| self.owner.get(&p).cloned()), self.opts.scope) {
            (Some(root), _) => {
                self.adopt(workflow_id, &root);
                true
            }
            (None, Scope::All) => {
                // A child seen before its parent (a backfill) is its own tree until then.
                self.adopt(workflow_id, workflow_id);
                true
            }
            (None, Scope::Registered) => false,
        }
    }

    /// Applies one history event of a run (from the stream or a history backfill).
    pub fn apply_event(&mut self, workflow_id: &str, run_id: &str, workflow_type: &str, ev: HistoryEvent, now_ms: i64) -> bool {
        if !self.admit(workflow_id, &ev) {
            return false;
        }
        let at = ev.timestamp_ms;
        let is_start = matches!(ev.kind, EventKind::WorkflowStarted { .. });
        let idx = match self.by_id.get(workflow_id) {
            Some(i) => *i,
            None => {
                let i = self.runs.len();
                self.runs.push(RunView::new(workflow_id, run_id, workflow_type, at));
                self.by_id.insert(workflow_id.to_string(), i);
                i
            }
        };
        let keep = self.opts.keep_history;
        let run = &mut self.runs[idx];
        if run.run_id != run_id {
            // A new run of the same workflow id (continue-as-new, or a start after a close)
            // replaces the view; events of older runs are ignored.
            if !is_start {
                return false;
            }
            if self.closed_tracked.remove(&idx) {
                self.closed_kept_events -= run.events.len();
            }
            *run = RunView::new(workflow_id, run_id, workflow_type, at);
        }
        let was_completed = run.status == faultline_proto::WorkflowStatus::Completed;
        let notable = if self.opts.notable { notable::of(run, &ev) } else { None };
        let child = match &ev.kind {
            EventKind::ChildWorkflowInitiated { workflow_id, .. } => Some(workflow_id.clone()),
            _ => None,
        };
        if !run.apply(ev, keep) {
            return false;
        }
        if !was_completed && run.status == faultline_proto::WorkflowStatus::Completed {
            self.completions.record(at, now_ms);
        }
        // Only a history whose closing event is in counts: a run the list says is closed
        // may still be replaying from its first event.
        if keep && run.closed_by_event && self.opts.history_budget.is_some() {
            let (run_id, kept) = (run.run_id.clone(), run.events.len());
            if self.closed_tracked.insert(idx) {
                self.closed_kept.push_back((idx, run_id));
                self.closed_kept_events += kept;
            } else {
                // An event after the close (a backfill of a closed run): kept, so counted.
                self.closed_kept_events += 1;
            }
            self.let_go_of_old_histories();
        }
        if is_start {
            *self.starts.entry(workflow_id.to_string()).or_default() += 1;
        }
        if let Some(child) = child {
            self.adopt_child(workflow_id, &child);
        }
        if let Some(kind) = notable {
            self.notable.push(Notable { at_ms: at, workflow_id: workflow_id.to_string(), kind });
        }
        self.total_events += 1;
        self.events_rate.record(at, now_ms);
        true
    }

    /// Records that `parent` initiated the child `child` (the child's start event names its
    /// parent too; this covers children whose start is never seen).
    pub fn adopt_child(&mut self, parent: &str, child: &str) {
        if let Some(root) = self.owner.get(parent).cloned() {
            self.adopt(child, &root);
        }
    }

    /// Adds list rows for workflows not seen yet; known ones keep their event-derived state.
    pub fn merge_list(&mut self, rows: &[WorkflowSummary]) -> bool {
        let mut changed = false;
        for s in rows {
            if self.by_id.contains_key(&s.workflow_id) {
                continue;
            }
            let root = match s.parent_workflow_id.as_ref().and_then(|p| self.owner.get(p).cloned()) {
                Some(root) => root,
                None if self.opts.scope == Scope::All || self.registered.contains(&s.workflow_id) => s.workflow_id.clone(),
                None => continue,
            };
            self.adopt(&s.workflow_id, &root);
            self.by_id.insert(s.workflow_id.clone(), self.runs.len());
            self.runs.push(RunView::from_summary(s));
            changed = true;
        }
        changed
    }

    /// Lets go of the histories of the runs that closed first until the closed runs' events
    /// fit the budget: what bounds the dashboard's memory on a long-lived engine.
    fn let_go_of_old_histories(&mut self) {
        let Some(budget) = self.opts.history_budget else { return };
        while self.closed_kept_events > budget {
            let Some((idx, run_id)) = self.closed_kept.pop_front() else { break };
            let run = &mut self.runs[idx];
            // A run replaced since (continue-as-new) took its old history with it.
            if run.run_id != run_id || !self.closed_tracked.remove(&idx) {
                continue;
            }
            self.closed_kept_events -= run.events.len();
            run.events_let_go += run.events.len() as u64;
            run.events = Vec::new();
            run.compact = Vec::new();
        }
    }

    /// Puts back the history of a closed run that was let go (paged back from the engine
    /// when it is looked at); it counts against the budget again as the newest. Whether it
    /// was one to put back.
    pub fn restore_history(&mut self, workflow_id: &str, run_id: &str, events: &[HistoryEvent]) -> bool {
        let Some(&idx) = self.by_id.get(workflow_id) else { return false };
        let run = &mut self.runs[idx];
        if run.run_id != run_id || !run.events.is_empty() || run.events_let_go == 0 || events.is_empty() {
            return false;
        }
        run.compact = events.iter().enumerate().filter(|(_, e)| !is_bookkeeping(&e.kind)).map(|(i, _)| i as u32).collect();
        run.events = events.to_vec();
        run.events_let_go = 0;
        if self.closed_tracked.insert(idx) {
            self.closed_kept.push_back((idx, run_id.to_string()));
            self.closed_kept_events += events.len();
        }
        self.let_go_of_old_histories();
        true
    }

    /// Events of closed runs kept now (at most the budget).
    pub fn closed_events_kept(&self) -> usize {
        self.closed_kept_events
    }

    pub fn prune(&mut self, now_ms: i64) {
        self.completions.prune(now_ms);
        self.events_rate.prune(now_ms);
    }
}
