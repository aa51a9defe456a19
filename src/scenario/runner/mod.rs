//! The scenario runner: one implementation for the headless CLI and the dashboard.
//!
//! [`spawn`] starts a run on a tokio task and returns a [`RunHandle`]: [`RunEvent`]s come out
//! (the plan, each step with its narration, progress counts, actions, expectation results, the
//! final [`Report`]) and [`RunCommand`]s go in (`Advance` is the presenter's space bar;
//! headless runs advance manual steps on their own).
//!
//! Two tasks make a run. The live task (`live`) reads the engine's event stream and the pod
//! status stream into a [`Snapshot`]: the run's [`crate::projection::Projection`], the pods,
//! the engine link, published through a `watch`. The run task does one thing at a time, in
//! order: set up the pods, then for each step wait for its gates (manual, `at`, `after`,
//! `when`) and run its actions, then settle (expectations with `within`), then audit (the
//! engine's view of every order and the ledgers) and report. It awaits runtime and engine
//! calls directly and waits on snapshot changes and the injected [`Clock`]; nothing polls.
//!
//! Layout:
//! - this file: the public types and the run's state.
//! - `live`: the snapshot, the live task, the event emitter.
//! - `control`: waiting on the snapshot, the clock and the presenter.
//! - `engine`: the engine interface ([`EngineApi`]) and its HTTP implementation.
//! - `steps`: setup, gates and actions. `finish`: settle, audit and the report.
//! - `twin`: the dual-write twin's orders, the fault plan on both engines, the race checker.
//! - `links`: link faults, their self-heals, and the heal at the end of every run.

mod control;
mod engine;
mod finish;
mod links;
mod live;
mod steps;
#[cfg(test)]
mod tests;
mod twin;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

pub use engine::EngineApi;
pub use live::Snapshot;
pub use twin::CHECK_GRACE_MS;

use super::expect::Comeback;
use super::model::{Action, Condition, Scenario};
use super::report::{ExpectationResult, Report};
use super::workload::{self, OrderPlan};
use crate::clock::Clock;
use crate::projection::Counts;
use crate::runtime::PodRuntime;
use control::Control;
use live::{Emitter, Feed};

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
    /// How long the end of a run keeps reading the engine's stream for events still in
    /// flight, before it audits.
    pub drain: Duration,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            speed: 1.0,
            auto_advance: false,
            bring_up: true,
            terminate_leftovers: false,
            min_timeout: Duration::from_secs(30),
            drain: Duration::from_millis(300),
        }
    }
}

/// What the presenter (or a test) tells a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunCommand {
    /// Open the `manual` gate of the step that waits (the space bar).
    Advance,
    /// Stop the run now; it still audits and reports (expectations: not evaluated).
    Abort,
}

/// A step as the screen lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepInfo {
    pub title: String,
    pub narration: String,
    /// What it waits for, e.g. "presenter (space) · when retrying >= 5".
    pub gate: String,
    /// It waits for the presenter (the space bar).
    pub manual: bool,
    pub actions: Vec<String>,
}

/// The steps of a scenario as a run lists them in its plan.
pub fn step_infos(sc: &Scenario) -> Vec<StepInfo> {
    sc.steps.iter().map(steps::info).collect()
}

/// What a run reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    Plan { title: String, description: String, steps: Vec<StepInfo>, orders: u32, speed: f64 },
    /// Setup progress and other remarks.
    Note { at_ms: u64, text: String },
    /// Setup failed: the cause, worded for the narration box (e.g. a port in use).
    SetupFailed { at_ms: u64, cause: String },
    /// A step waits for its gates; `text` says for what, `presenter` when that includes the
    /// space bar.
    Waiting { step: usize, text: String, presenter: bool },
    /// The checks the run will judge, so a screen can show their values live.
    Expecting { checks: Vec<super::model::Check> },
    /// The step waits for its `when` condition, which does not hold yet: its
    /// `narration_waiting` replaces the previous step's narration until it does.
    Narration { step: usize, at_ms: u64, text: String },
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
    /// The workflow ids of the run's orders, known before any starts: a screen that shows
    /// only this run registers them.
    pub orders: Vec<String>,
    /// The twin's order ids when the run drives the dual-write twin (empty otherwise).
    pub twin_orders: Vec<String>,
    /// The live snapshot: the same projection the run's conditions read.
    pub snapshot: watch::Receiver<Snapshot>,
    pub task: tokio::task::JoinHandle<Report>,
}

/// Starts `scenario` on the pods of `runtime`, driving `engine`, with time from `clock`.
pub fn spawn(runtime: Arc<dyn PodRuntime>, engine: Arc<dyn EngineApi>, scenario: Scenario, cfg: RunConfig, clock: Arc<dyn Clock>) -> RunHandle {
    spawn_with_twin(runtime, engine, None, scenario, cfg, clock)
}

/// [`spawn`] with the dual-write twin's engine, for a scenario with `[setup] twin = true`
/// (without it such a run fails at setup, saying why).
pub fn spawn_with_twin(
    runtime: Arc<dyn PodRuntime>,
    engine: Arc<dyn EngineApi>,
    twin_engine: Option<Arc<dyn EngineApi>>,
    scenario: Scenario,
    cfg: RunConfig,
    clock: Arc<dyn Clock>,
) -> RunHandle {
    let (ev_tx, events) = mpsc::unbounded_channel();
    let (commands, cmd_rx) = mpsc::unbounded_channel();
    let (shared, snapshot) = watch::channel(Snapshot::new());
    let plans = workload::generate(&scenario.name, &workload::run_tag(), &scenario.workload);
    let orders = plans.iter().map(|p| p.workflow_id.clone()).collect();
    let prefix = runtime.topology().twin.as_ref().map(|t| t.order_prefix.clone()).unwrap_or_else(|| "dw-".into());
    let twin = match twin_engine {
        Some(e) if scenario.twin => Some(twin::Twin::new(e, &plans, &prefix)),
        _ => None,
    };
    let twin_orders = twin.as_ref().map(|t| t.plans.iter().map(|p| p.workflow_id.clone()).collect()).unwrap_or_default();
    let out = Emitter::new(ev_tx, clock.clone());
    let ctl = Control::new(clock, snapshot.clone(), cmd_rx);
    let mut run = Run::new(runtime, engine, scenario, cfg, plans, out, ctl, Arc::new(shared));
    run.twin = twin;
    let task = tokio::spawn(run.run());
    RunHandle { events, commands, orders, twin_orders, snapshot, task }
}

/// The most setup may take: bringing a cold topology up can mean building binaries first.
const SETUP_LIMIT: Duration = Duration::from_secs(900);

pub(crate) struct Run {
    rt: Arc<dyn PodRuntime>,
    engine: Arc<dyn EngineApi>,
    sc: Scenario,
    cfg: RunConfig,
    out: Emitter,
    ctl: Control,
    shared: Arc<watch::Sender<Snapshot>>,
    feed: Option<mpsc::UnboundedSender<Feed>>,
    started_wall: chrono::DateTime<chrono::Utc>,
    plans: Vec<OrderPlan>,
    next_order: usize,
    started: Vec<String>,
    failed_starts: Vec<(String, String)>,
    comebacks: Vec<Comeback>,
    /// When the previous step's actions ended (clock ms).
    last_step_done: Option<i64>,
    /// Steps whose actions all ran.
    steps_done: usize,
    /// The dual-write twin, when the scenario runs it.
    twin: Option<twin::Twin>,
    /// Faults this run armed: (on the twin, id).
    faults: Vec<(bool, u64)>,
    /// Link faults put on and not healed yet; all are healed at the end.
    faulted: links::Faulted,
    /// Pending self-heals (a fault's `for`).
    heal_tasks: Vec<(String, tokio::task::JoinHandle<()>)>,
}

impl Run {
    #[allow(clippy::too_many_arguments)]
    fn new(
        rt: Arc<dyn PodRuntime>,
        engine: Arc<dyn EngineApi>,
        sc: Scenario,
        cfg: RunConfig,
        plans: Vec<OrderPlan>,
        out: Emitter,
        ctl: Control,
        shared: Arc<watch::Sender<Snapshot>>,
    ) -> Self {
        shared.send_modify(|s| {
            for p in &plans {
                s.projection.register(&p.workflow_id);
            }
        });
        Run {
            rt,
            engine,
            sc,
            cfg,
            out,
            ctl,
            shared,
            feed: None,
            started_wall: chrono::Utc::now(),
            plans,
            next_order: 0,
            started: Vec::new(),
            failed_starts: Vec::new(),
            comebacks: Vec::new(),
            last_step_done: None,
            steps_done: 0,
            twin: None,
            faults: Vec::new(),
            faulted: Default::default(),
            heal_tasks: Vec::new(),
        }
    }

    async fn run(mut self) -> Report {
        let steps = self.sc.steps.iter().map(steps::info).collect();
        self.out.emit(RunEvent::Plan {
            title: self.sc.title.clone(),
            description: self.sc.description.clone(),
            steps,
            orders: self.sc.workload.orders,
            speed: self.cfg.speed,
        });
        self.out.emit(RunEvent::Expecting { checks: self.sc.expectations.iter().map(|e| e.check.clone()).collect() });
        let (feed, feed_rx) = mpsc::unbounded_channel();
        self.feed = Some(feed);
        let live = tokio::spawn(live::run(self.shared.clone(), self.rt.status_stream(), feed_rx, self.out.clone()));
        let mut aborted = None;
        // Setup (images, containers, health) is not part of the story: it has its own
        // generous limit, and the scenario's timeout counts from the first step.
        self.ctl.deadline = self.ctl.now().saturating_add(SETUP_LIMIT.as_millis() as i64);
        if let Err(why) = self.setup().await {
            let cause = why.to_string();
            self.out.emit(RunEvent::SetupFailed { at_ms: 0, cause: cause.clone() });
            aborted = Some((why, format!("setup failed: {cause}")));
        }
        if aborted.is_none() {
            self.probe_netem().await;
        }
        // The story's clock starts at the first step; setup lines show as 0:00.
        let t0 = self.out.start_story();
        let budget = self.scaled(self.sc.timeout).max(self.cfg.min_timeout * 4);
        self.ctl.deadline = t0.saturating_add(budget.as_millis() as i64);
        if aborted.is_none() {
            let mut last_step_start = t0;
            for i in 0..self.sc.steps.len() {
                match self.run_step(i).await {
                    Ok(started_at) => last_step_start = started_at,
                    Err(why) => {
                        let text = format!("step {} ({}): {why}", i + 1, self.sc.steps[i].title);
                        aborted = Some((why, text));
                        break;
                    }
                }
            }
            if aborted.is_none() {
                if let Err(why) = self.settle(last_step_start).await {
                    let text = why.to_string();
                    aborted = Some((why, text));
                }
            }
        }
        let report = self.finish(aborted).await;
        live.abort();
        report
    }

    /// Milliseconds since the story started (0 during setup).
    pub(crate) fn now_ms(&self) -> u64 {
        self.out.now_rel()
    }

    /// A scenario duration at this run's speed.
    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        Scenario::scale(d, self.cfg.speed)
    }

    /// A scaled wait on a condition, never below the configured floor.
    pub(crate) fn scaled_timeout(&self, d: Duration) -> Duration {
        self.scaled(d).max(self.cfg.min_timeout)
    }

    /// The clock time `d` after `from`.
    pub(crate) fn after(from: i64, d: Duration) -> i64 {
        from.saturating_add(d.as_millis().min(i64::MAX as u128) as i64)
    }

    /// Says up front whether the scenario's `netem` steps will act or be skipped (kernel
    /// netem is optional: Linux, root, Docker, and a kernel with `sch_netem`).
    async fn probe_netem(&self) {
        use crate::runtime::{netem, RuntimeKind};
        let uses_netem = self.sc.steps.iter().flat_map(|s| &s.actions).any(|a| matches!(a, Action::LinkFault { fault: crate::runtime::LinkFault::Netem(_), .. }));
        if !uses_netem {
            return;
        }
        let support = match self.rt.kind() {
            RuntimeKind::Docker => netem::probe().await.clone(),
            RuntimeKind::InMemory => netem::NetemSupport::Available,
            kind => netem::NetemSupport::Unavailable(format!("netem needs the Docker runtime; this is the {kind} runtime")),
        };
        match support {
            netem::NetemSupport::Available => self.note("netem: available; the netem steps act on the pods' interfaces"),
            netem::NetemSupport::Unavailable(why) => self.note(format!("{why}: the netem steps will be skipped; the fault proxy's faults work as always")),
        }
    }

    pub(crate) fn note(&self, text: impl Into<String>) {
        self.out.emit(RunEvent::Note { at_ms: self.now_ms(), text: text.into() });
    }

    /// Waits until the live task has folded everything its streams already hold.
    pub(crate) async fn flush_live(&mut self) {
        let Some(feed) = &self.feed else { return };
        let (done, wait) = tokio::sync::oneshot::channel();
        if feed.send(Feed::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Orders started so far (accepted by the engine).
    pub(crate) fn orders_started(&self) -> u64 {
        self.started.len() as u64
    }

    /// Records that `pod` is back (its start/restart/unpause/reconnect/deploy returned): the
    /// moment recovery is measured from, and the orders open then. The moment is the action's
    /// end rather than the first healthy health check, which Docker reports only at its next
    /// interval, often after the orders have already moved on.
    pub(crate) fn record_comeback(&mut self, pod: &str) {
        let open: Vec<String> = {
            let snap = self.shared.borrow();
            self.started.iter().filter(|id| snap.projection.order(id).is_some_and(|o| o.closed_at_ms.is_none())).cloned().collect()
        };
        self.note(format!("pod {pod} is back ({} orders open)", open.len()));
        self.comebacks.push(Comeback { pod: pod.to_string(), at_ms: self.ctl.now(), open });
    }
}

/// Whether a condition holds in `snap`, for a run that started `started` orders.
pub(crate) fn condition_holds(snap: &Snapshot, c: &Condition, started: u64) -> bool {
    match c {
        Condition::AtLeast(counter, n) => snap.projection.counts().get(*counter) >= *n,
        Condition::AllCompleted => started > 0 && snap.projection.counts().completed >= started,
        Condition::PodHealthy(p) => snap.pod_healthy(p),
        Condition::PodStopped(p) => snap.pod_stopped(p),
    }
}
