//! The scenario runner: one implementation for the headless CLI and the dashboard.
//!
//! [`spawn`] starts a run on a tokio task and returns a [`RunHandle`]: [`RunEvent`]s come out
//! (the plan, each step with its narration, progress counts, actions, expectation results, the
//! final [`Report`]) and [`RunCommand`]s go in (`Advance` is the presenter's space bar;
//! headless runs advance manual steps on their own).
//!
//! One task owns all the state and does one thing at a time, in order: set up the pods, then
//! for each step wait for its gates (manual, `at`, `after`, `when`) and run its actions, then
//! settle (wait for expectations with `within`), then audit (the engine's view of every order
//! and the ledgers) and report. While it waits on anything (a gate, a pod action, an order
//! start) it keeps reading the engine's event stream and the pod status stream, so counts and
//! conditions stay live and a long Docker call never stalls the bookkeeping.
//!
//! Layout:
//! - this file: the public types and the pump that waits on streams, commands and time.
//! - `steps`: setup, gates and actions.
//! - `finish`: settle, audit and the report.

mod finish;
mod steps;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use faultline_sdk::{Client, StreamItem};
use tokio::sync::mpsc;

use super::expect::Comeback;
use super::model::{Condition, Scenario};
use super::report::{EntryKind, ExpectationResult, Report, TimelineEntry};
use super::tracker::{Counts, Tracker};
use super::workload::{self, OrderPlan};
use crate::runtime::{Health, PodRuntime, PodState, PodStatus};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Divides every duration of the scenario (1 = as written, for a talk).
    pub speed: f64,
    /// Advance manual steps without waiting for the presenter (headless mode).
    pub auto_advance: bool,
    /// Call `PodRuntime::up` before the first step.
    pub bring_up: bool,
    /// Terminate the run's orders still open after the audit, so the next run starts from
    /// a quiet engine (headless and CI); a presenter may prefer to keep them on screen.
    pub terminate_leftovers: bool,
    /// Scaled waits on conditions never drop below this: a pod restart takes the same time
    /// at any speed.
    pub min_timeout: Duration,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { speed: 1.0, auto_advance: false, bring_up: true, terminate_leftovers: false, min_timeout: Duration::from_secs(30) }
    }
}

/// What the presenter (or a test) tells a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    /// Open the `manual` gate of the step that waits (the space bar).
    Advance,
    /// Stop the run now; it still audits and reports.
    Abort,
}

/// A step as the screen lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInfo {
    pub title: String,
    pub narration: String,
    /// What it waits for, e.g. "presenter · retrying >= 5".
    pub gate: String,
    pub actions: Vec<String>,
}

/// What a run reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    Plan { title: String, description: String, steps: Vec<StepInfo>, orders: u32, speed: f64 },
    /// Setup progress and other remarks.
    Note { at_ms: u64, text: String },
    /// A step waits for its gates; `text` says for what (e.g. "press space").
    Waiting { step: usize, text: String },
    StepStarted { step: usize, at_ms: u64, title: String, narration: String },
    Action { step: usize, at_ms: u64, text: String, ok: bool, detail: Option<String> },
    Counts { at_ms: u64, counts: Counts },
    /// The engine's event stream connected (again) or dropped.
    Engine { at_ms: u64, connected: bool, detail: String },
    Expectation(ExpectationResult),
    Finished(Box<Report>),
}

/// A running scenario.
pub struct RunHandle {
    pub events: mpsc::UnboundedReceiver<RunEvent>,
    pub commands: mpsc::UnboundedSender<RunCommand>,
    pub task: tokio::task::JoinHandle<Report>,
}

/// Starts `scenario` on the pods of `runtime`, talking to the engine through `client`.
pub fn spawn(runtime: Arc<dyn PodRuntime>, client: Client, scenario: Scenario, cfg: RunConfig) -> RunHandle {
    let (ev_tx, events) = mpsc::unbounded_channel();
    let (commands, cmd_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let run = Run::new(runtime, client, scenario, cfg, ev_tx, cmd_rx);
        run.run().await
    });
    RunHandle { events, commands, task }
}

/// The most setup may take: bringing a cold topology up can mean building binaries first.
const SETUP_LIMIT: Duration = Duration::from_secs(900);

/// Why waiting stopped early.
#[derive(Debug, Clone)]
pub(crate) struct Abort(pub String);

pub(crate) struct Run {
    rt: Arc<dyn PodRuntime>,
    client: Client,
    sc: Scenario,
    cfg: RunConfig,
    tx: mpsc::UnboundedSender<RunEvent>,
    cmds: mpsc::UnboundedReceiver<RunCommand>,
    /// The controller dropped its sender: the run goes on by itself.
    cmds_closed: bool,
    /// Until the first step, times read 0.
    in_setup: bool,
    t0: Instant,
    started_wall: chrono::DateTime<chrono::Utc>,
    deadline: Instant,
    tracker: Tracker,
    pods: BTreeMap<String, PodStatus>,
    engine_stream: Option<BoxStream<'static, StreamItem>>,
    pod_stream: Option<BoxStream<'static, PodStatus>>,
    engine_connected: bool,
    plans: Vec<OrderPlan>,
    next_order: usize,
    started: Vec<String>,
    failed_starts: Vec<(String, String)>,
    comebacks: Vec<Comeback>,
    advance: bool,
    last_step_done: Option<Instant>,
    last_counts: Counts,
    timeline: Vec<TimelineEntry>,
    notable_seen: usize,
}

impl Run {
    fn new(
        rt: Arc<dyn PodRuntime>,
        client: Client,
        sc: Scenario,
        cfg: RunConfig,
        tx: mpsc::UnboundedSender<RunEvent>,
        cmds: mpsc::UnboundedReceiver<RunCommand>,
    ) -> Self {
        let t0 = Instant::now();
        let plans = workload::generate(&sc.name, &workload::run_tag(), &sc.workload);
        let deadline = t0 + SETUP_LIMIT;
        Run {
            rt,
            client,
            sc,
            cfg,
            tx,
            cmds,
            cmds_closed: false,
            in_setup: true,
            t0,
            started_wall: chrono::Utc::now(),
            deadline,
            tracker: Tracker::new(),
            pods: BTreeMap::new(),
            engine_stream: None,
            pod_stream: None,
            engine_connected: false,
            plans,
            next_order: 0,
            started: Vec::new(),
            failed_starts: Vec::new(),
            comebacks: Vec::new(),
            advance: false,
            last_step_done: None,
            last_counts: Counts::default(),
            timeline: Vec::new(),
            notable_seen: 0,
        }
    }

    async fn run(mut self) -> Report {
        let steps = self.sc.steps.iter().map(steps::info).collect();
        self.emit(RunEvent::Plan {
            title: self.sc.title.clone(),
            description: self.sc.description.clone(),
            steps,
            orders: self.sc.workload.orders,
            speed: self.cfg.speed,
        });
        let mut aborted = None;
        // Setup (images, containers, health) is not part of the story: it has its own
        // generous limit, and the scenario's timeout counts from the first step.
        self.deadline = Instant::now() + SETUP_LIMIT;
        if let Err(Abort(why)) = self.setup().await {
            aborted = Some(format!("setup failed: {why}"));
        }
        // The story's clock starts at the first step; setup lines show as 0:00.
        self.in_setup = false;
        self.t0 = Instant::now();
        self.deadline = self.t0 + self.scaled(self.sc.timeout).max(self.cfg.min_timeout * 4);
        if aborted.is_none() {
            let mut last_step_start = self.now_ms();
            for i in 0..self.sc.steps.len() {
                match self.run_step(i).await {
                    Ok(started_at) => last_step_start = started_at,
                    Err(Abort(why)) => {
                        aborted = Some(format!("step {} ({}): {why}", i + 1, self.sc.steps[i].title));
                        break;
                    }
                }
            }
            if aborted.is_none() {
                if let Err(Abort(why)) = self.settle(last_step_start).await {
                    aborted = Some(why);
                }
            }
        }
        self.finish(aborted).await
    }

    pub(crate) fn now_ms(&self) -> u64 {
        if self.in_setup {
            0
        } else {
            self.t0.elapsed().as_millis() as u64
        }
    }

    /// A scenario duration at this run's speed.
    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        Scenario::scale(d, self.cfg.speed)
    }

    /// A scaled wait on a condition, never below the configured floor.
    pub(crate) fn scaled_timeout(&self, d: Duration) -> Duration {
        self.scaled(d).max(self.cfg.min_timeout)
    }

    pub(crate) fn emit(&mut self, ev: RunEvent) {
        let entry = match &ev {
            RunEvent::Note { at_ms, text } => Some((*at_ms, EntryKind::Note, text.clone())),
            RunEvent::StepStarted { step, at_ms, title, narration } => {
                Some((*at_ms, EntryKind::Step, format!("{}. {title} — {narration}", step + 1)))
            }
            RunEvent::Action { at_ms, text, ok, detail, .. } => {
                let d = detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
                Some((*at_ms, EntryKind::Action, format!("{}{text}{d}", if *ok { "" } else { "FAILED: " })))
            }
            RunEvent::Counts { at_ms, counts } => Some((*at_ms, EntryKind::Counts, counts.line())),
            RunEvent::Engine { at_ms, connected, detail } => Some((
                *at_ms,
                EntryKind::Event,
                if *connected { "engine event stream connected".to_string() } else { format!("engine unreachable: {detail}") },
            )),
            _ => None,
        };
        if let Some((at_ms, kind, text)) = entry {
            self.timeline.push(TimelineEntry { at_ms, kind, text });
        }
        // The receiver may be gone (a dashboard closed); the run still finishes and reports.
        let _ = self.tx.send(ev);
    }

    pub(crate) fn note(&mut self, text: impl Into<String>) {
        let at_ms = self.now_ms();
        self.emit(RunEvent::Note { at_ms, text: text.into() });
    }

    /// Whether a pod counts as healthy: healthy by its health check, or running when it
    /// has none.
    pub(crate) fn pod_healthy(&self, pod: &str) -> bool {
        self.pods.get(pod).is_some_and(|s| {
            s.health == Health::Healthy || (s.state == PodState::Running && s.health == Health::Unknown)
        })
    }

    pub(crate) fn pod_stopped(&self, pod: &str) -> bool {
        self.pods.get(pod).is_some_and(|s| matches!(s.state, PodState::Stopped | PodState::Exited | PodState::Missing))
    }

    /// Orders started so far (accepted by the engine).
    pub(crate) fn orders_started(&self) -> u64 {
        self.started.len() as u64
    }

    pub(crate) fn condition_holds(&self, c: &Condition) -> bool {
        match c {
            Condition::AtLeast(counter, n) => self.tracker.counts().get(*counter) >= *n,
            Condition::AllCompleted => {
                let n = self.orders_started();
                n > 0 && self.tracker.counts().completed >= n
            }
            Condition::PodHealthy(p) => self.pod_healthy(p),
            Condition::PodStopped(p) => self.pod_stopped(p),
        }
    }

    /// Waits until `ready` holds, reading streams and commands meanwhile. Fails at `until`
    /// (with `what` in the message), at the run's own deadline, or on `Abort`.
    pub(crate) async fn wait_for(&mut self, until: Option<Instant>, what: &str, mut ready: impl FnMut(&Self) -> bool) -> Result<(), Abort> {
        loop {
            if ready(self) {
                return Ok(());
            }
            let now = Instant::now();
            if until.is_some_and(|u| now >= u) {
                return Err(Abort(format!("timed out waiting for {what}")));
            }
            if now >= self.deadline {
                return Err(Abort(format!("the run's timeout passed while waiting for {what}")));
            }
            self.pump_once(Duration::from_millis(100)).await?;
        }
    }

    /// Runs `fut` to completion while pumping; the future must own what it needs.
    pub(crate) async fn drive<T>(&mut self, fut: BoxFuture<'static, T>) -> Result<T, Abort> {
        let mut fut = fut;
        loop {
            tokio::select! {
                out = &mut fut => return Ok(out),
                r = self.pump_once(Duration::from_millis(100)) => r?,
            }
        }
    }

    /// Handles at most one stream item or command, or waits `tick`.
    async fn pump_once(&mut self, tick: Duration) -> Result<(), Abort> {
        let (engine_stream, pod_stream, cmds) = (&mut self.engine_stream, &mut self.pod_stream, &mut self.cmds);
        let cmds_open = !self.cmds_closed;
        let engine = async move {
            match engine_stream.as_mut() {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        let pods = async move {
            match pod_stream.as_mut() {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        // Lives for one select; boxing the big variant would only add an allocation per event.
        #[allow(clippy::large_enum_variant)]
        enum Got {
            Engine(Option<StreamItem>),
            Pod(Option<PodStatus>),
            Cmd(Option<RunCommand>),
            Tick,
        }
        let got = tokio::select! {
            item = engine => Got::Engine(item),
            st = pods => Got::Pod(st),
            c = cmds.recv(), if cmds_open => Got::Cmd(c),
            _ = tokio::time::sleep(tick) => Got::Tick,
        };
        match got {
            Got::Engine(Some(item)) => self.on_engine(item),
            Got::Engine(None) => self.engine_stream = None,
            Got::Pod(Some(st)) => {
                self.pods.insert(st.name.clone(), st);
            }
            Got::Pod(None) => self.pod_stream = None,
            Got::Cmd(Some(RunCommand::Advance)) => self.advance = true,
            Got::Cmd(Some(RunCommand::Abort)) => return Err(Abort("aborted by the presenter".into())),
            // The controller dropped its sender: keep running on our own.
            Got::Cmd(None) => self.cmds_closed = true,
            Got::Tick => {}
        }
        self.publish_counts();
        Ok(())
    }

    fn on_engine(&mut self, item: StreamItem) {
        let at_ms = self.now_ms();
        match item {
            StreamItem::Event(ev) => {
                self.tracker.apply(&ev, at_ms);
            }
            StreamItem::Connected { .. } => {
                if !self.engine_connected {
                    self.engine_connected = true;
                    self.emit(RunEvent::Engine { at_ms, connected: true, detail: String::new() });
                }
            }
            StreamItem::Disconnected { error, .. } => {
                if self.engine_connected {
                    self.engine_connected = false;
                    self.emit(RunEvent::Engine { at_ms, connected: false, detail: error });
                }
            }
        }
    }

    /// Records that `pod` is back (its start/restart/unpause/reconnect/deploy returned): the
    /// moment recovery is measured from, and the orders open then. The moment is the action's
    /// end rather than the first healthy health check, which Docker reports only at its next
    /// interval, often after the orders have already moved on.
    pub(crate) fn record_comeback(&mut self, pod: &str) {
        let open: Vec<String> =
            self.started.iter().filter(|id| self.tracker.order(id).is_some_and(|o| o.closed_ms.is_none())).cloned().collect();
        let at_ms = self.now_ms();
        self.note(format!("pod {pod} is back ({} orders open)", open.len()));
        self.comebacks.push(Comeback { pod: pod.to_string(), at_ms, open });
    }

    /// Emits the counts when the ones on screen changed, and new notable events.
    fn publish_counts(&mut self) {
        let notable = self.tracker.notable();
        if notable.len() > self.notable_seen {
            let new: Vec<_> = notable[self.notable_seen..].to_vec();
            self.notable_seen = notable.len();
            for n in new {
                self.timeline.push(TimelineEntry { at_ms: n.at_ms, kind: EntryKind::Event, text: format!("{}: {}", n.workflow_id, n.text) });
            }
        }
        let c = self.tracker.counts();
        let shown = |c: &Counts| (c.started, c.running, c.retrying, c.completed, c.failed, c.canceled);
        if shown(&c) != shown(&self.last_counts) {
            self.last_counts = c;
            let at_ms = self.now_ms();
            self.emit(RunEvent::Counts { at_ms, counts: c });
        } else {
            self.last_counts = c;
        }
    }
}
