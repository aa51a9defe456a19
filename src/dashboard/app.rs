//! The pure application state: [`App::update`] folds an [`AppEvent`] in and returns the
//! [`ActionRequest`]s to run. No I/O happens here, so every screen can be reproduced in a test by
//! feeding events and a controlled time.
//!
//! Key handling lives in `keys`; the views of pods, logs and the scenario in `views`.

use std::collections::VecDeque;

use faultline_proto::{DescribeWorkflowResponse, PollerInfo};

use super::event::{ActionRequest, AppEvent};
use crate::projection::{Category, Options as ProjectionOptions, Projection, RunView, Scope};
use super::theme::{Theme, ThemeName};
use super::race::RaceView;
use super::views::{contains_ci, LogsView, PodsView, ScenarioView};

/// Events of closed workflows the dashboard keeps (open ones keep their whole history).
pub const HISTORY_BUDGET: usize = 200_000;

/// The focusable panels, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Workflows,
    History,
    Pods,
    Logs,
}

impl Panel {
    pub const ORDER: [Panel; 4] = [Panel::Workflows, Panel::History, Panel::Pods, Panel::Logs];
}

/// Status filter of the workflow list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    Running,
    Retrying,
    Completed,
    Failed,
}

impl StatusFilter {
    pub fn next(self) -> Self {
        match self {
            StatusFilter::All => StatusFilter::Running,
            StatusFilter::Running => StatusFilter::Retrying,
            StatusFilter::Retrying => StatusFilter::Completed,
            StatusFilter::Completed => StatusFilter::Failed,
            StatusFilter::Failed => StatusFilter::All,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::All => "all",
            StatusFilter::Running => "running",
            StatusFilter::Retrying => "retrying",
            StatusFilter::Completed => "completed",
            StatusFilter::Failed => "failed",
        }
    }
    pub fn accepts(self, c: Category) -> bool {
        match self {
            StatusFilter::All => true,
            // "running" includes those retrying: they are running too.
            StatusFilter::Running => matches!(c, Category::Running | Category::Retrying),
            StatusFilter::Retrying => c == Category::Retrying,
            StatusFilter::Completed => c == Category::Completed,
            StatusFilter::Failed => c == Category::Failed,
        }
    }
}

/// A popup over the panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    /// Raw JSON of the selected history event.
    Json,
    /// "Leave the pods running?"
    Quit,
    /// The last equivalent command, whole (the footer shortens it).
    Command,
    /// The witness of the race view's selected counter: the checker's rows that prove it.
    Witness,
}

/// Which filter the keyboard is typing into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputTarget {
    Workflows,
    Logs,
}

/// The state of the link to the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineLink {
    Connecting,
    Connected,
    Unreachable { error: String, retry_at_ms: i64 },
}

/// Outcome of an action, as shown in the confirmation line.
#[derive(Debug, Clone, PartialEq)]
pub enum NoticeState {
    Pending,
    Ok(String),
    Err(String),
}

/// An action confirmation: what was asked, the equivalent command, and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub id: u64,
    pub text: String,
    /// The same action as a CLI or curl command, for teaching.
    pub command: String,
    pub state: NoticeState,
    pub at_ms: i64,
}

/// Tasks of one queue waiting for a worker (`GET /api/v1/task-queues/{name}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub workflow_tasks: u64,
    pub activity_tasks: u64,
}

/// Fixed settings of one dashboard session.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub theme: ThemeName,
    /// Engine base URL, used in the equivalent curl commands.
    pub engine_url: String,
    /// The task queue whose pollers decide "no worker polling".
    pub task_queue: String,
    /// The pod runtime's description (kind, topology, equivalent commands) when pods are
    /// shown; `None` when attached without a runtime.
    pub runtime: Option<std::sync::Arc<dyn crate::runtime::Describe>>,
    /// Answer to "leave the pods running?" given up front (scripts); `None` asks on quit.
    pub leave_pods_running: Option<bool>,
    /// What `n` starts.
    pub new_order: NewOrder,
    /// The workflow ids a scenario run owns: the screen then shows and counts only those
    /// (and what `n` starts); `None` shows every workflow of the engine.
    pub orders: Option<Vec<String>>,
    /// The twin's order ids when the scenario runs the dual-write twin: the race view then
    /// opens by itself and its twin side counts only those.
    pub twin_orders: Option<Vec<String>>,
}

/// The workflow `n` starts: a new order of the demo's `Order` workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub workflow_type: String,
    pub task_queue: String,
}

impl Default for NewOrder {
    fn default() -> Self {
        NewOrder {
            workflow_type: faultline_demo::order::ORDER_WORKFLOW.into(),
            task_queue: faultline_demo::order::TASK_QUEUE.into(),
        }
    }
}

impl NewOrder {
    /// The `n`-th order started from this dashboard: (workflow id, input). The input comes
    /// from the demo's deterministic catalog, so some orders hit the payment bug.
    pub fn order(&self, now_ms: i64, n: u64) -> (String, serde_json::Value) {
        // Short ids read well on a projector: `order-d4821-3` (seconds of the day, then a counter).
        let order = faultline_demo::order::OrderInput::sample(format!("d{}-{n}", (now_ms / 1000).rem_euclid(100_000)), n);
        (order.workflow_id(), serde_json::to_value(&order).unwrap_or_default())
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            theme: ThemeName::Dark,
            engine_url: "http://127.0.0.1:7233".into(),
            task_queue: "orders".into(),
            runtime: None,
            leave_pods_running: None,
            new_order: NewOrder::default(),
            orders: None,
            twin_orders: None,
        }
    }
}

/// The whole dashboard state.
#[derive(Debug)]
pub struct App {
    pub opts: AppOptions,
    pub theme: Theme,
    pub now_ms: i64,
    /// The workflows, folded from the event stream by the one projection every screen reads.
    pub store: Projection,
    pub pods: PodsView,
    pub logs: LogsView,
    pub scenario: Option<ScenarioView>,
    pub engine: EngineLink,
    /// Pollers of `opts.task_queue`; `None` until first known.
    pub pollers: Option<Vec<PollerInfo>>,
    /// Tasks waiting in the engine, per task queue (what "their tasks wait" points at).
    pub backlog: std::collections::BTreeMap<String, Backlog>,
    pub described: Option<Box<DescribeWorkflowResponse>>,
    pub focus: Panel,
    pub status_filter: StatusFilter,
    pub wf_filter: String,
    pub input: Option<InputTarget>,
    /// Explicitly selected workflow; `None` follows the newest one of the list.
    pub selected_wf: Option<String>,
    pub history_full: bool,
    /// The timeline of the selected order is shown in place of the panels (`t`).
    pub timeline: bool,
    /// Selected row of the history view; `None` follows the latest event.
    pub history_sel: Option<usize>,
    pub overlay: Overlay,
    /// First line shown of the JSON overlay.
    pub json_scroll: u16,
    pub notices: VecDeque<Notice>,
    /// The last rebuild (`R`): its stages and times, shown in the footer.
    pub rebuild: Option<super::rebuild::RebuildView>,
    /// The race view (`w`): the dual-write twin's side next to this one.
    pub race: RaceView,
    pub quit: bool,
    dirty: bool,
    next_id: u64,
}

impl App {
    pub fn new(opts: AppOptions, now_ms: i64) -> App {
        let store = Self::projection(&opts);
        let twin = opts.runtime.as_ref().and_then(|r| r.topology().twin.clone());
        let (prefix, twin_pod) = twin.map(|t| (t.order_prefix, t.engine)).unwrap_or_else(|| ("dw-".into(), "engine-dw".into()));
        let race = RaceView::new(opts.twin_orders.as_deref(), &prefix, &twin_pod);
        App {
            race,
            theme: Theme::new(opts.theme),
            opts,
            now_ms,
            store,
            pods: PodsView::default(),
            logs: LogsView::default(),
            scenario: None,
            engine: EngineLink::Connecting,
            pollers: None,
            backlog: Default::default(),
            described: None,
            focus: Panel::Workflows,
            status_filter: StatusFilter::All,
            wf_filter: String::new(),
            input: None,
            selected_wf: None,
            history_full: false,
            timeline: false,
            history_sel: None,
            overlay: Overlay::None,
            json_scroll: 0,
            notices: VecDeque::new(),
            rebuild: None,
            quit: false,
            dirty: true,
            next_id: 1,
        }
    }

    /// The dashboard's projection: every workflow when attached, only the run's own orders
    /// (and their children) when a scenario runs.
    fn projection(opts: &AppOptions) -> Projection {
        // Attached to a long-lived engine the histories of closed workflows would grow
        // without end: the dashboard keeps the last HISTORY_BUDGET events of them.
        let scope = if opts.orders.is_some() { Scope::Registered } else { Scope::All };
        let mut p = Projection::new(ProjectionOptions { scope, keep_history: true, notable: false, history_budget: Some(HISTORY_BUDGET) });
        for id in opts.orders.iter().flatten() {
            p.register(id);
        }
        p
    }

    /// True once since the last call if anything visible changed.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    pub(super) fn mark(&mut self) {
        self.dirty = true;
    }

    pub(super) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// True while something on screen moves with time (a retry countdown, a timer, a reconnect
    /// countdown): the run loop then redraws on every tick; otherwise only on change.
    pub fn animating(&self) -> bool {
        if matches!(self.engine, EngineLink::Unreachable { .. }) {
            return true;
        }
        if self.notices.back().is_some_and(|n| n.state == NoticeState::Pending) {
            return true;
        }
        self.selected_run().is_some_and(|r| !r.timers.is_empty() || r.retrying() > 0)
    }

    /// Folds one event in and returns the I/O to perform.
    pub fn update(&mut self, ev: AppEvent) -> Vec<ActionRequest> {
        match ev {
            AppEvent::Stream(se) => {
                if self.store.apply_stream(se, self.now_ms) {
                    self.mark();
                }
                if self.engine != EngineLink::Connected {
                    self.engine = EngineLink::Connected;
                    self.mark();
                }
            }
            AppEvent::EngineConnected => {
                self.engine = EngineLink::Connected;
                self.mark();
            }
            AppEvent::EngineUnreachable { error, retry_in_ms } => {
                self.engine = EngineLink::Unreachable { error, retry_at_ms: self.now_ms + retry_in_ms as i64 };
                self.mark();
            }
            AppEvent::WorkflowList(rows) => {
                if self.store.merge_list(&rows) {
                    self.mark();
                }
            }
            AppEvent::Described(d) => {
                self.described = Some(d);
                self.mark();
            }
            AppEvent::History { workflow_id, run_id, workflow_type, events } => {
                // A history paged back in after the budget let it go, or a backfill.
                if self.store.restore_history(&workflow_id, &run_id, &events) {
                    self.mark();
                    return Vec::new();
                }
                for e in events {
                    self.store.apply_event(&workflow_id, &run_id, &workflow_type, e, self.now_ms);
                }
                self.mark();
            }
            AppEvent::Pollers { task_queue, pollers } => {
                if task_queue == self.opts.task_queue {
                    let changed = self.pollers.as_ref().map(|p| p.is_empty()) != Some(pollers.is_empty());
                    self.pollers = Some(pollers);
                    if changed {
                        self.mark();
                    }
                }
            }
            AppEvent::Backlog { task_queue, workflow_tasks, activity_tasks } => {
                let b = Backlog { workflow_tasks, activity_tasks };
                if self.backlog.insert(task_queue, b) != Some(b) {
                    self.mark();
                }
            }
            AppEvent::Pod(p) => {
                let before = self.pods.rows.iter().find(|r| r.name == p.name).map(|r| r.state);
                self.race_pod(before, &p);
                self.pods.upsert(p);
                self.mark();
            }
            AppEvent::Links(links) => {
                if links != self.pods.links {
                    self.pods.links = links;
                    self.mark();
                }
            }
            AppEvent::PodsUnavailable(msg) => {
                self.pods.unavailable = Some(msg);
                self.mark();
            }
            AppEvent::Log(line) => {
                self.logs.push(line);
                self.mark();
            }
            AppEvent::Twin(ev) => self.on_twin(ev),
            AppEvent::FaultsFired { side, fired } => {
                if self.race.fired(side, fired) {
                    self.mark();
                }
            }
            AppEvent::Scenario(se) => {
                self.race_scenario(&se);
                if let super::link::ScenarioEvent::Action { text, ok, detail } = &se {
                    let id = self.notify(format!("scenario: {text}"), String::new());
                    let d = detail.clone().unwrap_or_default();
                    if let Some(n) = self.notices.iter_mut().find(|n| n.id == id) {
                        n.state = if *ok { NoticeState::Ok(d) } else { NoticeState::Err(d) };
                    }
                }
                self.scenario.get_or_insert_with(ScenarioView::default).apply(se);
                self.mark();
            }
            AppEvent::RebuildStage { id, stage } => {
                if let Some(r) = self.rebuild.as_mut().filter(|r| r.id == id) {
                    r.begin(stage, self.now_ms);
                    self.mark();
                }
            }
            AppEvent::ActionDone { id, result } => {
                if let Some(r) = self.rebuild.as_mut().filter(|r| r.id == id) {
                    r.finish(result.is_ok(), self.now_ms);
                    // The outcome of a rebuild is news whatever was done meanwhile.
                    if let Some(i) = self.notices.iter().position(|n| n.id == id) {
                        if let Some(n) = self.notices.remove(i) {
                            self.notices.push_back(n);
                        }
                    }
                }
                if let Some(n) = self.notices.iter_mut().find(|n| n.id == id) {
                    n.state = match result {
                        Ok(detail) => NoticeState::Ok(detail),
                        Err(e) => NoticeState::Err(e),
                    };
                    n.at_ms = self.now_ms;
                    self.mark();
                }
            }
            AppEvent::Tick { now_ms } => {
                // Ages are shown in whole seconds: redraw when a second passes, or on every
                // tick while a countdown is visible.
                if now_ms / 1000 != self.now_ms / 1000 || self.animating() {
                    self.mark();
                }
                self.now_ms = now_ms;
                self.store.prune(now_ms);
                self.race.store.prune(now_ms);
                self.race_tick();
            }
            AppEvent::Key(k) => return self.on_key(k),
        }
        Vec::new()
    }

    /// Indices (into `store.runs()`) of the workflows the list shows: orders newest first,
    /// each followed by its children.
    pub fn visible_workflows(&self) -> Vec<usize> {
        let f = self.wf_filter.to_ascii_lowercase();
        let runs = self.store.runs();
        let shown = |r: &RunView| {
            self.status_filter.accepts(r.category()) && (f.is_empty() || contains_ci(&r.workflow_id, &f) || contains_ci(&r.workflow_type, &f))
        };
        let mut out = Vec::new();
        for r in runs.iter().rev() {
            if self.store.root_of(&r.workflow_id) != Some(r.workflow_id.as_str()) {
                continue;
            }
            for id in self.store.members_of(&r.workflow_id) {
                if let Some(i) = self.store.index_of(id) {
                    if shown(&runs[i]) {
                        out.push(i);
                    }
                }
            }
        }
        out
    }

    /// The workflow whose details are shown: the explicit selection, else the newest visible.
    pub fn selected_run(&self) -> Option<&RunView> {
        match &self.selected_wf {
            Some(id) => self.store.get(id),
            None => {
                let runs = self.store.runs();
                (0..runs.len()).rev().map(|i| &runs[i]).find(|r| self.status_filter.accepts(r.category()))
            }
        }
    }

    /// Indices into the selected run's events for the current history view.
    pub fn history_len(&self, run: &RunView) -> usize {
        if self.history_full {
            run.events.len()
        } else {
            run.compact.len()
        }
    }

    /// The event index (into `run.events`) of history row `row`.
    pub fn history_event_index(&self, run: &RunView, row: usize) -> Option<usize> {
        if self.history_full {
            (row < run.events.len()).then_some(row)
        } else {
            run.compact.get(row).map(|i| *i as usize)
        }
    }

    /// The selected history row (the last one when following).
    pub fn history_row(&self, run: &RunView) -> Option<usize> {
        let len = self.history_len(run);
        if len == 0 {
            return None;
        }
        Some(self.history_sel.map(|s| s.min(len - 1)).unwrap_or(len - 1))
    }

    /// "no worker polling" when the engine is up and nobody polls the main task queue.
    pub fn no_worker_polling(&self) -> bool {
        self.engine == EngineLink::Connected && self.pollers.as_ref().is_some_and(|p| p.is_empty())
    }

    /// Records an action confirmation and returns its id.
    pub(super) fn notify(&mut self, text: String, command: String) -> u64 {
        let id = self.next_id();
        self.notices.push_back(Notice { id, text, command, state: NoticeState::Pending, at_ms: self.now_ms });
        while self.notices.len() > 20 {
            self.notices.pop_front();
        }
        self.mark();
        id
    }

    /// A notice that needs no I/O (nothing to do, or an explanation).
    pub(super) fn inform(&mut self, text: String) {
        let id = self.notify(text, String::new());
        if let Some(n) = self.notices.back_mut() {
            if n.id == id {
                n.state = NoticeState::Ok(String::new());
            }
        }
    }
}
