//! The race view (`w`): the run's two sides side by side, Transactional | Dual-write.
//!
//! [`RaceView`] is the dashboard's state of the twin: a second [`Projection`] fed from the
//! twin engine's event stream exactly as the main one is (the same feed task in `run`, the
//! same fold), the faults that fired on either side, and the race checker's counters. It is
//! pure like the rest of [`App`]: events go in through [`App::update`], nothing here does I/O.
//!
//! - **Counters.** While the run goes, the pure checker ([`crate::checker::check`]) runs on
//!   the histories both projections hold, at most every [`CHECK_EVERY_MS`] and only when
//!   something changed (a few orders' events: cheap). Histories alone show lost tasks,
//!   lost timers, double completions, stuck orders and recoveries; ghost and early tasks and
//!   duplicates need the twin's queue records and the services' ledgers, so they read 0 until
//!   the runner's final check arrives ([`ScenarioEvent::Finished`]), which then replaces the
//!   live one.
//! - **Faults.** One strip for both sides, in time order: what the runner armed and released,
//!   what each engine reports as fired (`GET /api/v1/admin/faults/fired`, polled), and the
//!   engine pods that died (a `crash` fault aborts the engine, which then forgets what fired).
//! - **Orders.** The orders of both sides paired by [`align::pair_key`]; the selected one's
//!   histories aligned step by step with the first divergence marked ([`align`]).
//!
//! Keys are in `keys`; drawing in `ui/race*.rs`.

pub mod align;
mod keys;

use super::app::{App, EngineLink};
use super::event::FeedEvent;
use super::link::ScenarioEvent;
use crate::checker::{self, AnomalyKind, CheckParams, CheckReport, RunHistory, Side, SideInput};
use crate::projection::{Options as ProjectionOptions, Projection, RunView, Scope};
use crate::runtime::{PodState, PodStatus};

/// How often, at most, the live check runs (ms of the app's clock).
pub const CHECK_EVERY_MS: i64 = 2_000;

/// One firing of a fault point, as an engine lists it (`GET /api/v1/admin/faults/fired`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FiredFault {
    pub fault_id: u64,
    pub point: String,
    pub action: String,
    pub at_ms: i64,
    #[serde(default)]
    pub workflow_id: Option<String>,
}

/// Whose a fault mark is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkSide {
    One(Side),
    /// The runner armed or released it on both engines.
    Both,
}

/// One entry of the faults strip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultMark {
    pub at_ms: i64,
    pub side: MarkSide,
    pub text: String,
    /// A firing or a crash (bold on screen), not an arming.
    pub fired: bool,
    /// (side, engine's fault id, time) of a polled firing, so a poll repeats none.
    key: Option<(Side, u64, i64)>,
}

/// Which half of the race view the arrows move in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RaceFocus {
    #[default]
    Orders,
    Counters,
}

/// The race view's state.
#[derive(Debug)]
pub struct RaceView {
    /// The run has a twin: a twin scenario, or the twin engine answered.
    pub available: bool,
    /// The view is on screen.
    pub open: bool,
    /// The twin's id prefix (`dw-`) and engine pod (`engine-dw`), from the topology.
    pub prefix: String,
    pub twin_pod: String,
    /// The twin side, folded like [`App::store`].
    pub store: Projection,
    pub link: EngineLink,
    /// Oldest first.
    pub faults: Vec<FaultMark>,
    /// The live check of both projections' histories.
    pub live: Option<CheckReport>,
    /// The runner's check (histories, queue records and ledgers) once the run ended.
    pub final_report: Option<CheckReport>,
    pub focus: RaceFocus,
    /// The selected order's pair key; `None`: the first listed.
    pub order: Option<String>,
    /// The selected counter: side (0 transactional, 1 dual-write) and kind.
    pub counter: (usize, usize),
    /// The witness popup of the selected counter is open; its first line shown.
    pub witness: bool,
    pub witness_scroll: u16,
    last_check_ms: Option<i64>,
    /// Events folded on (main, twin) side at the last check.
    checked_events: Option<(u64, u64)>,
    changed: bool,
}

impl RaceView {
    /// `twin_orders`: the twin's order ids when a scenario runs the twin (the view then opens
    /// by itself and counts only those); `None` watches every workflow of the twin engine.
    pub fn new(twin_orders: Option<&[String]>, prefix: &str, twin_pod: &str) -> Self {
        let scope = if twin_orders.is_some() { Scope::Registered } else { Scope::All };
        let mut store = Projection::new(ProjectionOptions { scope, keep_history: true, notable: false, history_budget: Some(crate::dashboard::app::HISTORY_BUDGET) });
        for id in twin_orders.into_iter().flatten() {
            store.register(id);
        }
        RaceView {
            available: twin_orders.is_some(),
            open: twin_orders.is_some(),
            prefix: prefix.to_string(),
            twin_pod: twin_pod.to_string(),
            store,
            link: EngineLink::Connecting,
            faults: Vec::new(),
            live: None,
            final_report: None,
            focus: RaceFocus::Orders,
            order: None,
            counter: (1, 0),
            witness: false,
            witness_scroll: 0,
            last_check_ms: None,
            checked_events: None,
            changed: false,
        }
    }

    /// The check on screen: the runner's final one, else the live one.
    pub fn report(&self) -> Option<&CheckReport> {
        self.final_report.as_ref().or(self.live.as_ref())
    }

    /// Adds a mark, keeping the strip in time order (stable for equal times).
    pub fn push_mark(&mut self, at_ms: i64, side: MarkSide, text: String, fired: bool) {
        self.insert(FaultMark { at_ms, side, text, fired, key: None });
    }

    fn insert(&mut self, m: FaultMark) {
        let i = self.faults.partition_point(|f| f.at_ms <= m.at_ms);
        self.faults.insert(i, m);
        // A strip, not a log: the oldest go first.
        if self.faults.len() > 500 {
            self.faults.remove(0);
        }
    }

    /// Folds an engine's list of fired faults in (it is polled: only new firings count).
    pub fn fired(&mut self, side: Side, list: Vec<FiredFault>) -> bool {
        let mut changed = false;
        for f in list {
            let key = Some((side, f.fault_id, f.at_ms));
            if self.faults.iter().any(|m| m.key == key) {
                continue;
            }
            let on = f.workflow_id.map(|w| format!(" {w}")).unwrap_or_default();
            let text = format!("{} {}{on}", f.point, f.action);
            self.insert(FaultMark { at_ms: f.at_ms, side: MarkSide::One(side), text, fired: true, key });
            changed = true;
        }
        changed
    }

    /// The pair key of a workflow id of either side.
    pub fn key(&self, workflow_id: &str) -> String {
        align::pair_key(workflow_id, &self.prefix)
    }

    /// The orders of both sides, paired: (key, main side's id, twin's id), main side's order
    /// first, then the twin's orders without a mirror.
    pub fn pairs<'a>(&'a self, main: &'a Projection) -> Vec<(String, Option<&'a str>, Option<&'a str>)> {
        let mut out: Vec<(String, Option<&str>, Option<&str>)> = main.order_ids().into_iter().map(|id| (self.key(id), Some(id), None)).collect();
        // Drawn several times a frame, over every workflow when attached: an index, not a scan.
        let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(out.len());
        for (i, p) in out.iter().enumerate() {
            at.entry(p.0.clone()).or_insert(i);
        }
        for id in self.store.order_ids() {
            let k = self.key(id);
            match at.get(&k) {
                Some(&i) if out[i].2.is_none() => out[i].2 = Some(id),
                _ => out.push((k, None, Some(id))),
            }
        }
        out
    }

    /// The live check of both sides from the histories the projections hold.
    pub fn live_check(&self, main: &Projection, now_ms: i64) -> CheckReport {
        let inputs = [side_input(Side::Transactional, main), side_input(Side::DualWrite, &self.store)];
        checker::check_sides(&inputs, &CheckParams { now_ms, grace_ms: crate::scenario::runner::CHECK_GRACE_MS })
    }
}

/// A side's checker input from a projection: its orders and the histories it keeps (no queue
/// records nor ledger rows: the dashboard does not read them).
pub fn side_input(side: Side, p: &Projection) -> SideInput {
    let mut input = SideInput::new(side);
    // An order whose history the dashboard let go (its budget) cannot be judged: leaving it
    // out keeps it from reading as stuck.
    let let_go: std::collections::HashSet<&str> = p.runs().iter().filter(|r| r.events_let_go > 0).filter_map(|r| p.root_of(&r.workflow_id)).collect();
    // Nor can an order not started yet: live, it is not stuck, only not seen (the runner's
    // final check still counts an order the engine never saw).
    input.orders = p.order_ids().into_iter().filter(|id| !let_go.contains(id) && p.get(id).is_some()).map(String::from).collect();
    for r in p.runs() {
        let Some(order) = p.root_of(&r.workflow_id) else { continue };
        if r.events.is_empty() {
            continue;
        }
        input.runs.push(RunHistory { order: order.to_string(), workflow_id: r.workflow_id.clone(), run_id: r.run_id.clone(), events: r.events.clone() });
    }
    input
}

/// The kinds in counter order (the checker's).
pub const KINDS: [AnomalyKind; 9] = AnomalyKind::ALL;

impl App {
    /// Folds one event of the twin's feeds in.
    pub(super) fn on_twin(&mut self, ev: FeedEvent) {
        let r = &mut self.race;
        match ev {
            FeedEvent::Stream(se) => {
                if r.store.apply_stream(se, self.now_ms) {
                    r.changed = true;
                }
                r.link = EngineLink::Connected;
            }
            FeedEvent::Connected => r.link = EngineLink::Connected,
            FeedEvent::Unreachable { error, retry_in_ms } => {
                r.link = EngineLink::Unreachable { error, retry_at_ms: self.now_ms + retry_in_ms as i64 };
            }
            FeedEvent::WorkflowList(rows) => {
                r.changed |= r.store.merge_list(&rows);
            }
        }
        if r.link == EngineLink::Connected {
            r.available = true;
        }
        self.mark();
    }

    /// What the race view takes of a scenario event: the faults the runner armed or released
    /// (`fault: crash at after_state_commit … on both engines`, `release the held faults on
    /// …`), and the final check.
    pub(super) fn race_scenario(&mut self, se: &ScenarioEvent) {
        match se {
            ScenarioEvent::Action { text, ok: true, .. } if text.starts_with("fault:") || text.starts_with("release the held faults") => {
                let side = if text.ends_with("the transactional engine") {
                    MarkSide::One(Side::Transactional)
                } else if text.ends_with("the dual-write engine") {
                    MarkSide::One(Side::DualWrite)
                } else {
                    MarkSide::Both
                };
                // The line names the engines already; the strip has a tag for that.
                let what = match text.strip_prefix("fault: ") {
                    Some(rest) => format!("armed {}", rest.rsplit_once(" on ").map(|(t, _)| t).unwrap_or(rest)),
                    None => "released the held faults".to_string(),
                };
                self.race.push_mark(self.now_ms, side, what, false);
            }
            ScenarioEvent::Finished { race: Some(report), .. } => self.race.final_report = Some((**report).clone()),
            _ => {}
        }
    }

    /// An engine pod that stops or exits while the race runs: a crash fault, or a kill.
    pub(super) fn race_pod(&mut self, before: Option<PodState>, p: &PodStatus) {
        let side = if p.name == crate::runtime::ENGINE_POD {
            Side::Transactional
        } else if p.name == self.race.twin_pod {
            Side::DualWrite
        } else {
            return;
        };
        let down = matches!(p.state, PodState::Exited | PodState::Stopped);
        if down && matches!(before, Some(PodState::Running | PodState::Starting | PodState::Paused)) {
            let code = p.exit_code.map(|c| format!(" (exit {c})")).unwrap_or_default();
            self.race.push_mark(self.now_ms, MarkSide::One(side), format!("{} down{code}", p.name), true);
        }
    }

    /// The live check, on a tick: at most every [`CHECK_EVERY_MS`], when an event came in
    /// on either side (or now and then: time alone turns a pending task into a lost one),
    /// while the view is open and the runner's final check has not come.
    pub(super) fn race_tick(&mut self) {
        let r = &self.race;
        if !r.open || r.final_report.is_some() {
            return;
        }
        let seen = (self.store.total_events, r.store.total_events);
        let since = r.last_check_ms.map(|t| self.now_ms - t);
        let due = since.is_none_or(|s| s >= CHECK_EVERY_MS);
        let stale = since.is_none_or(|s| s >= 4 * CHECK_EVERY_MS);
        if !(due && (r.changed || r.checked_events != Some(seen) || stale)) {
            return;
        }
        let report = r.live_check(&self.store, self.now_ms);
        if self.race.live.as_ref() != Some(&report) {
            self.race.live = Some(report);
            self.mark();
        }
        let r = &mut self.race;
        r.changed = false;
        r.checked_events = Some(seen);
        r.last_check_ms = Some(self.now_ms);
    }
}

/// One pair of the race view: the order's key and its run on each side, if seen.
pub struct Pair<'a> {
    pub key: String,
    pub main: Option<&'a RunView>,
    pub twin: Option<&'a RunView>,
}

impl Pair<'_> {
    /// Both histories aligned step by step (see [`align`]).
    pub fn alignment(&self) -> align::Alignment {
        let keys = |r: Option<&RunView>| r.map(|r| align::steps(&r.events).into_iter().map(|s| s.1).collect::<Vec<_>>()).unwrap_or_default();
        align::align(&keys(self.main), &keys(self.twin))
    }
}

impl App {
    /// The selected order's key: the one picked, else the first the check found an anomaly
    /// in (a stuck order is what the audience should see first), else the first listed.
    pub fn race_selected_key(&self) -> Option<String> {
        if let Some(k) = &self.race.order {
            return Some(k.clone());
        }
        let pairs = self.race.pairs(&self.store);
        let flagged = self.race.report().and_then(|r| {
            let orders: Vec<String> = r.sides.iter().flat_map(|s| s.anomalies.iter()).filter(|a| a.kind != AnomalyKind::Recovered).filter_map(|a| a.order.as_deref()).map(|o| self.race.key(o)).collect();
            pairs.iter().find(|p| orders.contains(&p.0))
        });
        flagged.or(pairs.first()).map(|p| p.0.clone())
    }

    /// The selected order on both sides.
    pub fn race_pair(&self) -> Option<Pair<'_>> {
        let key = self.race_selected_key()?;
        let (key, main, twin) = self.race.pairs(&self.store).into_iter().find(|p| p.0 == key)?;
        Some(Pair { key, main: main.and_then(|id| self.store.get(id)), twin: twin.and_then(|id| self.race.store.get(id)) })
    }
}
