//! The impure half of the dashboard: the terminal, the event loop and the I/O tasks.
//!
//! - The terminal is put in raw mode on the alternate screen and restored on exit, on a panic
//!   (ratatui's panic hook) and on Ctrl-C (a key in raw mode, SIGINT otherwise).
//! - Every engine and pod call runs in a tokio task that sends [`AppEvent`]s into one bounded
//!   channel; the loop only drains that channel, so drawing never waits on I/O.
//! - A frame is drawn only when the state changed, or on each tick while a countdown is shown.
//! - Every event reaches the app through one [`Tap`], which records it first with `--record`.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use faultline_sdk::{Client, StartOptions, StreamItem};
use tokio::sync::mpsc;

use super::app::{App, AppOptions, NewOrder};
use crate::clock::Clock;
use super::event::{ActionRequest, AppEvent, FeedEvent};
use super::race::FiredFault;
use crate::checker::Side;
use super::link::from_run_event;
use super::record::{start_app, Header, RecordError, RecordOptions, Recorder, Tap};
use super::theme::ThemeName;
use crate::runtime::PodRuntime;
use crate::scenario::report::Report;
use crate::scenario::runner::{RunCommand, RunHandle};

/// Everything one dashboard session needs.
pub struct DashboardOptions {
    /// Engine base URL, e.g. `http://127.0.0.1:7233`.
    pub engine_url: String,
    /// Pods to show and control; `None` when attached to an engine only.
    pub runtime: Option<Arc<dyn PodRuntime>>,
    /// Shown as "Docker not running: …" when no runtime could be had (e.g. `attach` without Docker).
    pub runtime_unavailable: Option<String>,
    /// A scenario run driven from the dashboard (space = next presenter step).
    pub scenario: Option<RunHandle>,
    pub theme: ThemeName,
    pub clock: Arc<dyn Clock>,
    /// Task queue whose pollers decide "no worker polling".
    pub task_queue: String,
    /// Answer to "leave the pods running?" given up front; `None` asks on quit.
    pub leave_pods_running: Option<bool>,
    /// What `n` starts.
    pub new_order: NewOrder,
    /// Shown once at the start, e.g. "Docker not reachable: running pods as local processes".
    pub notice: Option<String>,
    /// Record the session to a file (`--record`), for `faultline replay`.
    pub record: Option<RecordOptions>,
}

/// How the session ended.
#[derive(Debug)]
pub struct DashboardExit {
    /// The user's (or the flag's) answer; when false the pods were taken down.
    pub leave_pods_running: bool,
    /// The scenario's report, when a scenario ran to its end (or was aborted on quit).
    pub report: Option<Report>,
}

/// Why the dashboard could not run.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("the terminal could not be used ({0}); run the dashboard in an interactive terminal, or use `--headless`")]
    Terminal(#[from] std::io::Error),
    #[error("engine URL: {0}")]
    Engine(#[from] faultline_sdk::ClientError),
    #[error("taking the pods down failed: {0}; remove them with `faultline down`")]
    Down(String),
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Runs the dashboard until the user quits.
pub async fn run_dashboard(opts: DashboardOptions) -> Result<DashboardExit, DashboardError> {
    let client = Client::new(opts.engine_url.clone())?;
    let app_opts = AppOptions {
        theme: opts.theme,
        engine_url: opts.engine_url.clone(),
        task_queue: opts.task_queue.clone(),
        runtime: opts.runtime.clone().map(|r| r as std::sync::Arc<dyn crate::runtime::Describe>),
        leave_pods_running: opts.leave_pods_running,
        new_order: opts.new_order.clone(),
        orders: opts.scenario.as_ref().map(|h| h.orders.clone()),
        twin_orders: opts.scenario.as_ref().filter(|h| !h.twin_orders.is_empty()).map(|h| h.twin_orders.clone()),
    };
    let started = opts.clock.now_ms();
    let mut tap = match &opts.record {
        Some(r) => Tap::new(Some(Recorder::create(&r.path, &Header::new(r, &app_opts, started, opts.notice.clone()))?)),
        None => Tap::default(),
    };
    let mut app = start_app(app_opts, started, opts.notice.clone());
    let (tx, mut rx) = mpsc::channel::<AppEvent>(8192);
    let mut tasks = spawn_feeds(&opts, &client, &tx);
    if let Some(why) = &opts.runtime_unavailable {
        tap.apply(&mut app, started, AppEvent::PodsUnavailable(why.clone()));
    }
    let (scenario_cmds, scenario_task) = match opts.scenario {
        Some(RunHandle { mut events, commands, task, .. }) => {
            let tx = tx.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(e) = events.recv().await {
                    if let Some(se) = from_run_event(e) {
                        if tx.send(AppEvent::Scenario(se)).await.is_err() {
                            return;
                        }
                    }
                }
            }));
            (Some(commands), Some(task))
        }
        None => (None, None),
    };
    let exec = Executor::new(client, opts.runtime.clone(), tx.clone(), scenario_cmds.clone());

    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, &mut app, &mut tap, &mut rx, &exec, opts.clock.as_ref()).await;
    let restored = ratatui::try_restore();
    for t in tasks {
        t.abort();
    }
    match tap.finish() {
        Some(Ok(path)) => eprintln!("Recording written to {0}; play it with `faultline replay {0}`", path.display()),
        Some(Err(e)) => eprintln!("{e}"),
        None => {}
    }
    let leave = result?;
    restored?;

    let report = match (scenario_cmds, scenario_task) {
        (Some(cmds), Some(task)) => {
            let _ = cmds.send(RunCommand::Abort);
            if !task.is_finished() {
                eprintln!("Stopping the scenario and writing its report…");
            }
            task.await.ok()
        }
        _ => None,
    };
    if !leave {
        if let Some(rt) = &opts.runtime {
            eprintln!("Taking the pods down…");
            rt.down(false).await.map_err(|e| DashboardError::Down(e.to_string()))?;
        }
    }
    Ok(DashboardExit { leave_pods_running: leave, report })
}

/// The loop: draw if needed, then wait for a key, an I/O result, a tick or Ctrl-C.
/// Returns the answer to "leave the pods running?".
async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    tap: &mut Tap,
    rx: &mut mpsc::Receiver<AppEvent>,
    exec: &Executor,
    clock: &dyn Clock,
) -> Result<bool, DashboardError> {
    let mut keys = EventStream::new();
    let mut force_draw = true;
    loop {
        if app.take_dirty() || force_draw {
            terminal.draw(|f| super::ui::draw(f, app))?;
            force_draw = false;
        }
        // Tick fast only while something on screen counts down; otherwise once a second
        // (ages are shown in whole seconds), which keeps an idle dashboard near zero CPU.
        let now = clock.now_ms();
        let wait_ms = if app.animating() { 100 } else { 1000 - now.rem_euclid(1000) + 1 };
        let mut requests = Vec::new();
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { continue };
                requests.extend(tap.apply(app, clock.now_ms(), ev));
                // Drain what is already queued before drawing: one frame per burst, not per event.
                for _ in 0..50_000 {
                    match rx.try_recv() {
                        Ok(ev) => requests.extend(tap.apply(app, clock.now_ms(), ev)),
                        Err(_) => break,
                    }
                }
            }
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) => requests.extend(tap.apply(app, clock.now_ms(), AppEvent::Key(k))),
                Some(Ok(Event::Resize(..))) => force_draw = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(DashboardError::Terminal(e)),
                None => return Ok(app.opts.leave_pods_running.unwrap_or(true)),
            },
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {
                let now = clock.now_ms();
                requests.extend(tap.apply(app, now, AppEvent::Tick { now_ms: now }));
            }
            _ = tokio::signal::ctrl_c() => return Ok(app.opts.leave_pods_running.unwrap_or(true)),
        }
        // What this burst recorded reaches the file before anything else happens.
        tap.flush(app);
        for r in requests {
            if let ActionRequest::Quit { leave_pods_running } = r {
                return Ok(leave_pods_running);
            }
            exec.run(r);
        }
    }
}

/// Background feeds: the engine's event stream, the pollers of the task queue, pod status and logs.
fn spawn_feeds(opts: &DashboardOptions, client: &Client, tx: &mpsc::Sender<AppEvent>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = spawn_engine_feeds(client, &opts.task_queue, tx);
    if let Some(rt) = &opts.runtime {
        tasks.extend(spawn_pod_feeds(rt.clone(), tx));
        if let Some(twin) = rt.twin_engine_url() {
            tasks.extend(spawn_twin_feeds(&opts.engine_url, &twin, tx));
        }
    }
    tasks
}

/// The engine's event stream from cursor 0 (the whole history, then live events, resumed after
/// a disconnect), a list of workflows on first connect, and the pollers of `task_queue`.
pub fn spawn_engine_feeds(client: &Client, task_queue: &str, tx: &mpsc::Sender<AppEvent>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = vec![spawn_stream_feed(client, tx, FeedEvent::main)];
    let (c, t, queue) = (client.clone(), tx.clone(), task_queue.to_string());
    tasks.push(tokio::spawn(async move {
        // Twice a second: the engine drops a poller about a second after its last poll, so
        // "no worker polling" shows within two seconds of the worker leaving.
        let mut every = tokio::time::interval(Duration::from_millis(500));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            // Errors are the stream's to report ("engine unreachable").
            if let Ok(q) = c.task_queue(&queue).await {
                let backlog = AppEvent::Backlog { task_queue: queue.clone(), workflow_tasks: q.backlog_workflow_tasks, activity_tasks: q.backlog_activity_tasks };
                if t.send(AppEvent::Pollers { task_queue: queue.clone(), pollers: q.pollers }).await.is_err() || t.send(backlog).await.is_err() {
                    return;
                }
            }
        }
    }));
    tasks
}

/// One engine's event stream from cursor 0 (the whole recorded history, then live events,
/// resumed after a disconnect) and a list of its workflows on first connect, each told to
/// the app through `to_app`: the main engine and the dual-write twin are fed alike.
pub fn spawn_stream_feed(client: &Client, tx: &mpsc::Sender<AppEvent>, to_app: fn(FeedEvent) -> AppEvent) -> tokio::task::JoinHandle<()> {
    let (c, t) = (client.clone(), tx.clone());
    tokio::spawn(async move {
        let mut stream = c.subscribe(Some(0));
        let mut listed = false;
        while let Some(item) = stream.next().await {
            let ev = match item {
                StreamItem::Connected { .. } => {
                    if !listed {
                        listed = true;
                        let (c, t) = (c.clone(), t.clone());
                        tokio::spawn(async move {
                            if let Ok(rows) = c.list(None).await {
                                let _ = t.send(to_app(FeedEvent::WorkflowList(rows))).await;
                            }
                        });
                    }
                    FeedEvent::Connected
                }
                StreamItem::Event(e) => FeedEvent::Stream(e),
                StreamItem::Disconnected { error, retry_in } => FeedEvent::Unreachable { error, retry_in_ms: retry_in.as_millis() as u64 },
            };
            if t.send(to_app(ev)).await.is_err() {
                return;
            }
        }
    })
}

/// The race view's feeds, when the topology has a dual-write twin: the twin engine's stream
/// (into its own projection) and, once a second from both engines, the faults that fired.
pub fn spawn_twin_feeds(main_url: &str, twin_url: &str, tx: &mpsc::Sender<AppEvent>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Ok(twin) = Client::new(twin_url.to_string()) {
        tasks.push(spawn_stream_feed(&twin, tx, FeedEvent::twin));
    }
    for (side, url) in [(Side::Transactional, main_url), (Side::DualWrite, twin_url)] {
        let (t, url) = (tx.clone(), format!("{}{FIRED_PATH}", url.trim_end_matches('/')));
        tasks.push(tokio::spawn(async move {
            #[derive(serde::Deserialize)]
            struct Body {
                fired: Vec<FiredFault>,
            }
            let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap_or_default();
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last: Option<Vec<FiredFault>> = None;
            loop {
                every.tick().await;
                // An engine that is down or older answers nothing useful: the strip waits.
                let Ok(resp) = http.get(&url).send().await else { continue };
                let Ok(body) = resp.json::<Body>().await else { continue };
                // Only changes are sent (a recording keeps every event).
                if last.as_ref() != Some(&body.fired) && !body.fired.is_empty() {
                    last = Some(body.fired.clone());
                    if t.send(AppEvent::FaultsFired { side, fired: body.fired }).await.is_err() {
                        return;
                    }
                }
            }
        }));
    }
    tasks
}

/// Where an engine lists the faults that fired.
const FIRED_PATH: &str = "/api/v1/admin/faults/fired";

/// Pod status (a snapshot, then every change) and the merged pod logs.
pub fn spawn_pod_feeds(rt: Arc<dyn PodRuntime>, tx: &mpsc::Sender<AppEvent>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    let (r, t) = (rt.clone(), tx.clone());
    tasks.push(tokio::spawn(async move {
        match r.status().await {
            Ok(all) => {
                for p in all {
                    let _ = t.send(AppEvent::Pod(p)).await;
                }
            }
            Err(e) => {
                let _ = t.send(AppEvent::PodsUnavailable(e.to_string())).await;
            }
        }
        let mut s = r.status_stream();
        while let Some(p) = s.next().await {
            if t.send(AppEvent::Pod(p)).await.is_err() {
                return;
            }
        }
    }));
    // The links' faults, read from the fault proxy: they change through its API, from a
    // scenario, this dashboard or any Toxiproxy client, so they are polled.
    if rt.topology().proxy_pod().is_some() {
        let (r, t) = (rt.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                if let Ok(links) = r.link_status().await {
                    if t.send(AppEvent::Links(links)).await.is_err() {
                        return;
                    }
                }
            }
        }));
    }
    let t = tx.clone();
    tasks.push(tokio::spawn(async move {
        let mut s = rt.log_stream();
        while let Some(l) = s.next().await {
            if t.send(AppEvent::Log(l)).await.is_err() {
                return;
            }
        }
    }));
    tasks
}

/// Runs [`ActionRequest`]s in tasks and reports back with [`AppEvent::ActionDone`].
pub struct Executor {
    client: Client,
    runtime: Option<Arc<dyn PodRuntime>>,
    tx: mpsc::Sender<AppEvent>,
    scenario: Option<mpsc::UnboundedSender<RunCommand>>,
}

impl Executor {
    /// `scenario`: the runner's command channel, for the space bar.
    pub fn new(
        client: Client,
        runtime: Option<Arc<dyn PodRuntime>>,
        tx: mpsc::Sender<AppEvent>,
        scenario: Option<mpsc::UnboundedSender<RunCommand>>,
    ) -> Executor {
        Executor { client, runtime, tx, scenario }
    }

    /// Starts the I/O of one request (must be called inside a tokio runtime); never blocks.
    pub fn run(&self, r: ActionRequest) {
        let c = self.client.clone();
        let tx = self.tx.clone();
        let t = tx.clone();
        let done = move |id: u64, result: Result<String, String>| {
            let tx = t.clone();
            async move {
                let _ = tx.send(AppEvent::ActionDone { id, result }).await;
            }
        };
        let err = |e: faultline_sdk::ClientError| e.to_string();
        match r {
            ActionRequest::Pod { id, pod, action } => {
                let Some(rt) = self.runtime.clone() else { return };
                tokio::spawn(async move {
                    let res = rt.act(&pod, action.clone()).await.map(|_| format!("{} {pod}", action.describe())).map_err(|e| e.to_string());
                    done(id, res).await
                });
            }
            ActionRequest::LinkFault { id, link, fault } => {
                let Some(rt) = self.runtime.clone() else { return };
                tokio::spawn(async move {
                    let res = rt.link_fault(&link, fault.clone()).await.map(|_| format!("{} on {link}", fault.describe())).map_err(|e| e.to_string());
                    done(id, res).await
                });
            }
            ActionRequest::HealLink { id, link, kind } => {
                let Some(rt) = self.runtime.clone() else { return };
                tokio::spawn(async move {
                    let res = rt.heal_link(&link, Some(kind)).await.map(|_| format!("{kind} lifted from {link}")).map_err(|e| e.to_string());
                    done(id, res).await
                });
            }
            ActionRequest::RebuildAndRedeploy { id, pod, .. } => {
                let Some(rt) = self.runtime.clone() else { return };
                let logs = self.tx.clone();
                tokio::spawn(async move {
                    let res = super::rebuild::rebuild_and_redeploy(rt, id, &pod, logs).await;
                    done(id, res).await
                });
            }
            ActionRequest::RetryNow { id, workflow_id, seq } => {
                tokio::spawn(async move { done(id, c.retry_now(&workflow_id, seq).await.map(|_| String::new()).map_err(err)).await });
            }
            ActionRequest::Signal { id, workflow_id, name, payload } => {
                tokio::spawn(async move { done(id, c.signal(&workflow_id, &name, &payload).await.map(|_| String::new()).map_err(err)).await });
            }
            ActionRequest::Cancel { id, workflow_id } => {
                tokio::spawn(async move {
                    done(id, c.cancel(&workflow_id, "canceled from the dashboard").await.map(|_| String::new()).map_err(err)).await
                });
            }
            ActionRequest::Terminate { id, workflow_id } => {
                tokio::spawn(async move {
                    done(id, c.terminate(&workflow_id, "terminated from the dashboard").await.map(|_| String::new()).map_err(err)).await
                });
            }
            ActionRequest::StartOrder { id, workflow_id, workflow_type, task_queue, input } => {
                tokio::spawn(async move {
                    let opts = StartOptions::new(workflow_id, task_queue);
                    let res = c.start_workflow(opts, &workflow_type, &input).await.map(|r| format!("run {}", r.run_id)).map_err(err);
                    done(id, res).await
                });
            }
            ActionRequest::Describe { workflow_id } => {
                tokio::spawn(async move {
                    if let Ok(d) = c.describe(&workflow_id).await {
                        let _ = tx.send(AppEvent::Described(Box::new(d))).await;
                    }
                });
            }
            ActionRequest::FetchHistory { workflow_id, run_id } => {
                tokio::spawn(async move {
                    if let Ok(h) = c.history_of_run(&workflow_id, &run_id).await {
                        let _ = tx.send(AppEvent::History { workflow_id: h.workflow_id, run_id: h.run_id, workflow_type: String::new(), events: h.events }).await;
                    }
                });
            }
            ActionRequest::ScenarioAdvance => {
                if let Some(s) = &self.scenario {
                    let _ = s.send(RunCommand::Advance);
                }
            }
            ActionRequest::Quit { .. } => {}
        }
    }
}
