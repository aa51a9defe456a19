//! One benchmark run, end to end: engine process up, worker and client in this process, `n`
//! workflows with at most `c` in flight, the planned engine kills, then the verification
//! against the committed histories and the report.
//!
//! Each in-flight slot starts one workflow and awaits its result; both calls ride through
//! engine restarts by retrying connection errors until the per-workflow deadline. A start
//! that is retried first asks whether the earlier attempt committed (a start that committed
//! but whose answer was lost in the crash must not start a second run).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_sdk::proto::{IdConflictPolicy, WorkflowStatus};
use faultline_sdk::{Client, ClientError, StartOptions, Worker, WorkerOptions};
use futures::StreamExt;
use indicatif::ProgressBar;
use rand::SeedableRng;
use tokio::sync::{Mutex, Notify, Semaphore};

use super::chaos::{self, Kill};
use super::ledger::{self, Ledger};
use super::process::{free_port, locate_engine, EngineProcess};
use super::races;
use super::stats::{summarize, Report};
use super::workload::{self, Workload};
use super::{BenchConfig, BenchError};

/// How one workflow ended, from the client's side.
#[derive(Debug)]
enum Fate {
    Completed,
    /// Closed, but failed or with a wrong result.
    Failed(String),
    /// No result before the deadline.
    Lost(String),
}

struct Outcome {
    id: String,
    started: Instant,
    finished: Instant,
    fate: Fate,
}

/// Shared by every slot.
struct Slots {
    client: Client,
    workload: Workload,
    input: serde_json::Value,
    deadline: Duration,
    /// Acknowledged starts + results; drives the kill plan.
    progress: AtomicU64,
    progressed: Notify,
}

/// Runs the benchmark described by `cfg`, updating `bar` as results arrive.
pub async fn run(cfg: &BenchConfig, bar: &ProgressBar) -> Result<Report, BenchError> {
    cfg.validate()?;
    let (explicit, ws, build) = (cfg.engine_bin.clone(), cfg.workspace.clone(), cfg.build);
    let bin = tokio::task::spawn_blocking(move || locate_engine(explicit.as_deref(), ws.as_deref(), build))
        .await
        .map_err(|e| BenchError::EngineBinary(format!("the build task failed: {e}")))??;
    let dir = BenchDir::new(cfg)?;
    let port = match cfg.port {
        Some(p) => p,
        None => free_port()?,
    };
    let engine = EngineProcess::start_with(&bin, &dir.db, &dir.log, port, &cfg.mode.engine_args()).await?;
    let client = Client::new(engine.url()).map_err(BenchError::Client)?;
    let engine = Arc::new(Mutex::new(engine));

    let ledger = Arc::new(Ledger::default());
    let mut options = WorkerOptions::new(workload::TASK_QUEUE);
    // Each workflow in flight needs at most one slot of each kind at a time in these workloads.
    options.max_concurrent_workflow_tasks = cfg.concurrency.max(cfg.workflow_pollers as u64) as usize;
    options.max_concurrent_activities = cfg.concurrency.max(cfg.activity_pollers as u64) as usize;
    options.workflow_pollers = cfg.workflow_pollers;
    options.activity_pollers = cfg.activity_pollers;
    options.graceful_shutdown_timeout = Duration::from_secs(2);
    let mut worker = Worker::new(client.clone(), options);
    workload::register(&mut worker, cfg.workload, ledger.clone());
    let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(worker.run(async move {
        let _ = worker_stopped.await;
    }));

    let slots = Arc::new(Slots {
        client: client.clone(),
        workload: cfg.workload,
        input: serde_json::Value::String(cfg.workload.input()),
        deadline: cfg.deadline,
        progress: AtomicU64::new(0),
        progressed: Notify::new(),
    });
    let seed = cfg.seed.unwrap_or_else(rand::random);
    let plan = chaos::plan(cfg.workflows, cfg.kill_engine, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let chaos_task = tokio::spawn(kill_loop(engine.clone(), slots.clone(), plan));
    let rss_task = tokio::spawn(sample_rss_loop(engine.clone()));

    let outcomes = drive(&slots, cfg, bar).await;

    chaos_task.abort();
    let chaos_error = match chaos_task.await {
        Ok(Err(e)) => Some(e),
        _ => None,
    };
    rss_task.abort();
    // The figure is the engine's peak while the workload ran; the history reads of the
    // verification below are not part of the benchmark.
    let rss_mb = {
        let mut e = engine.lock().await;
        e.sample_rss();
        e.peak_rss_mb()
    };
    bar.finish_and_clear();

    let verified = verify(&client, &outcomes).await;
    let _ = stop_worker.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), worker_task).await;
    let executions = ledger.executions();
    let checked = if cfg.check {
        let ids: Vec<String> = outcomes.iter().map(|o| o.id.clone()).collect();
        Some(races::check_run(cfg.mode, &client, cfg.workload, &ids, &executions).await)
    } else {
        None
    };
    let mut engine = engine.lock().await;
    engine.kill().await;

    let mut report = build_report(cfg, &outcomes, &executions, &verified, rss_mb, engine.kills);
    match checked {
        Some(Ok(counters)) => report.anomalies = Some(counters),
        Some(Err(e)) => report.problems.push(format!("the race checker could not read the run: {e}")),
        None => {}
    }
    if let Some(e) = chaos_error {
        report.problems.push(format!("engine kill/restart failed: {e}"));
    }
    if report.lost + report.failed + report.duplicates > 0 || !verified.errors.is_empty() {
        report.problems.push(format!("database and engine log kept in {} for inspection", dir.keep().display()));
    }
    Ok(report)
}

/// Starts `n` workflows through `c` slots and collects their outcomes.
async fn drive(slots: &Arc<Slots>, cfg: &BenchConfig, bar: &ProgressBar) -> Vec<Outcome> {
    let sem = Arc::new(Semaphore::new(cfg.concurrency as usize));
    let mut set = tokio::task::JoinSet::new();
    let mut outcomes = Vec::with_capacity(cfg.workflows as usize);
    for i in 0..cfg.workflows {
        // The semaphore is never closed, so acquiring cannot fail.
        let Ok(permit) = sem.clone().acquire_owned().await else { break };
        let slots = slots.clone();
        let bar = bar.clone();
        set.spawn(async move {
            let out = one_workflow(&slots, format!("bench-{}-{i}", slots.workload.name())).await;
            bar.inc(1);
            drop(permit);
            out
        });
        while let Some(Ok(o)) = set.try_join_next() {
            outcomes.push(o);
        }
    }
    while let Some(r) = set.join_next().await {
        if let Ok(o) = r {
            outcomes.push(o);
        }
    }
    outcomes
}

fn transient(e: &ClientError) -> bool {
    match e {
        ClientError::Unreachable { .. } | ClientError::Decode { .. } => true,
        ClientError::Api { status, .. } => *status >= 500,
        _ => false,
    }
}

fn backoff(tries: u32) -> Duration {
    Duration::from_millis((10u64 << tries.min(6)).min(500))
}

async fn one_workflow(s: &Slots, id: String) -> Outcome {
    let started = Instant::now();
    let fate = start_and_wait(s, &id, started + s.deadline).await;
    Outcome { id, started, finished: Instant::now(), fate }
}

async fn start_and_wait(s: &Slots, id: &str, until: Instant) -> Fate {
    let mut opts = StartOptions::new(id, workload::TASK_QUEUE);
    opts.id_conflict = IdConflictPolicy::UseExisting;
    let mut tries = 0u32;
    let mut early = None;
    loop {
        if tries > 0 {
            match s.client.describe(id).await {
                Ok(_) => break,
                Err(ClientError::Api { status: 404, .. }) => {}
                Err(e) if transient(&e) => {
                    if Instant::now() > until {
                        return Fate::Lost(format!("{id}: never started: {e}"));
                    }
                    tries += 1;
                    tokio::time::sleep(backoff(tries)).await;
                    continue;
                }
                Err(e) => return Fate::Failed(format!("{id}: describe failed: {e}")),
            }
        }
        // Start and wait in one round trip; after a failure (an engine kill), the workflow may
        // exist already, which the describe above finds, and the result is awaited below.
        let left = until.saturating_duration_since(Instant::now());
        match s.client.execute_workflow_raw(opts.clone(), s.workload.workflow_type(), &s.input, left).await {
            Ok(started) => {
                early = started.result;
                break;
            }
            Err(e) if transient(&e) => {
                if Instant::now() > until {
                    return Fate::Lost(format!("{id}: never started: {e}"));
                }
                tries += 1;
                tokio::time::sleep(backoff(tries)).await;
            }
            Err(e) => return Fate::Failed(format!("{id}: start refused: {e}")),
        }
    }
    s.progress.fetch_add(1, Ordering::Relaxed);
    s.progressed.notify_one();
    let mut tries = 0u32;
    let fate = loop {
        let left = until.saturating_duration_since(Instant::now());
        let waited = match early.take() {
            Some(r) => Ok(r),
            None if left.is_zero() => break Fate::Lost(format!("{id}: no result within {:?}", s.deadline)),
            None => s.client.result_raw(id, left).await,
        };
        match waited {
            Ok(r) if r.status == WorkflowStatus::Completed && r.result.as_ref() == Some(&s.input) => break Fate::Completed,
            Ok(r) if r.status == WorkflowStatus::Completed => {
                break Fate::Failed(format!("{id}: completed with a wrong result {:?}", r.result))
            }
            Ok(r) => break Fate::Failed(format!("{id}: closed as {:?}: {:?}", r.status, r.failure)),
            Err(ClientError::Timeout { .. }) => break Fate::Lost(format!("{id}: no result within {:?}", s.deadline)),
            Err(ClientError::Api { status: 404, .. }) => break Fate::Lost(format!("{id}: the engine no longer knows it")),
            Err(e) if transient(&e) => {
                tries += 1;
                tokio::time::sleep(backoff(tries)).await;
            }
            Err(e) => break Fate::Failed(format!("{id}: waiting for the result failed: {e}")),
        }
    };
    s.progress.fetch_add(1, Ordering::Relaxed);
    s.progressed.notify_one();
    fate
}

/// Performs the planned kills as progress reaches their points.
async fn kill_loop(engine: Arc<Mutex<EngineProcess>>, s: Arc<Slots>, plan: Vec<Kill>) -> Result<(), BenchError> {
    for k in plan {
        while s.progress.load(Ordering::Relaxed) < k.at_progress {
            // notify_one stores a permit, so a progress made between the load and here is not missed.
            s.progressed.notified().await;
        }
        tokio::time::sleep(Duration::from_millis(k.jitter_ms)).await;
        engine.lock().await.kill_and_restart().await?;
    }
    Ok(())
}

async fn sample_rss_loop(engine: Arc<Mutex<EngineProcess>>) {
    loop {
        engine.lock().await.sample_rss();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the committed histories say.
#[derive(Default)]
struct Verified {
    completions: std::collections::HashMap<String, ledger::Completion>,
    timer_lateness_ms: Vec<f64>,
    errors: Vec<String>,
}

/// Reads every completed workflow's history (a few at a time, retrying restarts).
async fn verify(client: &Client, outcomes: &[Outcome]) -> Verified {
    let ids: Vec<&str> = outcomes.iter().filter(|o| matches!(o.fate, Fate::Completed)).map(|o| o.id.as_str()).collect();
    let mut out = Verified::default();
    let mut histories = futures::stream::iter(ids)
        .map(|id| async move {
            let mut tries = 0;
            loop {
                match client.history(id).await {
                    Ok(h) => return Ok(h),
                    Err(e) if transient(&e) && tries < 20 => {
                        tries += 1;
                        tokio::time::sleep(backoff(tries)).await;
                    }
                    Err(e) => return Err(format!("history of {id} could not be read: {e}")),
                }
            }
        })
        .buffer_unordered(4);
    while let Some(h) = histories.next().await {
        match h {
            Ok(h) => {
                let f = ledger::facts(&h.run_id, &h.events);
                out.completions.extend(f.completions);
                out.timer_lateness_ms.extend(f.timer_lateness_ms);
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

fn build_report(
    cfg: &BenchConfig,
    outcomes: &[Outcome],
    executions: &[ledger::Execution],
    verified: &Verified,
    rss_mb: f64,
    kills: u64,
) -> Report {
    let first = outcomes.iter().map(|o| o.started).min();
    let last = outcomes.iter().map(|o| o.finished).max();
    let wall_s = match (first, last) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => 0.0,
    };
    let mut latencies: Vec<f64> = outcomes
        .iter()
        .filter(|o| matches!(o.fate, Fate::Completed))
        .map(|o| o.finished.duration_since(o.started).as_secs_f64() * 1000.0)
        .collect();
    let (p50, p99, max) = summarize(&mut latencies).unwrap_or((0.0, 0.0, 0.0));
    let mut lateness = verified.timer_lateness_ms.clone();
    let timer = if cfg.workload == Workload::Timer { summarize(&mut lateness) } else { None };
    let mut problems: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match &o.fate {
            Fate::Completed => None,
            Fate::Failed(m) | Fate::Lost(m) => Some(m.clone()),
        })
        .take(5)
        .collect();
    problems.extend(verified.errors.iter().take(3).cloned());
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Report {
        engine: "faultline",
        workload: cfg.workload.name().to_string(),
        n: cfg.workflows,
        concurrency: cfg.concurrency,
        wall_s: round(wall_s),
        wf_per_s: if wall_s > 0.0 { round(cfg.workflows as f64 / wall_s) } else { 0.0 },
        p50_ms: round(p50),
        p99_ms: round(p99),
        lost: outcomes.iter().filter(|o| matches!(o.fate, Fate::Lost(_))).count() as u64
            + cfg.workflows.saturating_sub(outcomes.len() as u64),
        duplicates: ledger::count_duplicates(executions, &verified.completions),
        engine_rss_mb: round(rss_mb),
        max_ms: round(max),
        failed: outcomes.iter().filter(|o| matches!(o.fate, Fate::Failed(_))).count() as u64,
        kills,
        activity_executions: executions.len() as u64,
        mode: cfg.mode.name(),
        anomalies: None,
        timer_lateness_p50_ms: timer.map(|t| t.0),
        timer_lateness_p99_ms: timer.map(|t| t.1),
        timer_lateness_max_ms: timer.map(|t| t.2),
        problems,
    }
}

/// The run's directory: the database and the engine log. A temporary one is removed at the
/// end unless kept for inspection.
struct BenchDir {
    db: std::path::PathBuf,
    log: std::path::PathBuf,
    temp: Option<tempfile::TempDir>,
}

impl BenchDir {
    fn new(cfg: &BenchConfig) -> Result<Self, BenchError> {
        if let Some(db) = &cfg.db {
            if db.exists() {
                return Err(BenchError::BadConfig(format!(
                    "{} already exists; the bench needs a fresh database: remove it or pass another --db",
                    db.display()
                )));
            }
            let log = db.with_extension("engine.log");
            return Ok(BenchDir { db: db.clone(), log, temp: None });
        }
        let temp = tempfile::Builder::new()
            .prefix("faultline-bench-")
            .tempdir()
            .map_err(|e| BenchError::BadConfig(format!("cannot create a temporary directory: {e}; set TMPDIR or pass --db")))?;
        let db = temp.path().join("bench.db");
        let log = temp.path().join("engine.log");
        Ok(BenchDir { db, log, temp: Some(temp) })
    }

    /// Keeps the directory on disk and returns where it is.
    fn keep(mut self) -> std::path::PathBuf {
        match self.temp.take() {
            Some(t) => t.keep(),
            None => self.db.clone(),
        }
    }
}
