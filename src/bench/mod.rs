//! `faultline bench`: the engine and the SDK measured together on the workloads other engines
//! are measured on, and a crash torture that proves nothing is lost or run twice.
//!
//! The engine runs as a separate process (the real `faultline-engine` binary, default
//! durability: fsync before acknowledging) on a fresh database; a worker and a client run in
//! this process and talk to it over loopback HTTP.
//!
//! Layout:
//! - [`workload`]: the chain, timer and retry workloads, defined exactly.
//! - [`process`]: finding/building, starting, SIGKILLing and restarting the engine; its RSS.
//! - [`chaos`]: where in the run the kills land.
//! - [`ledger`]: activity executions and the duplicate/timer checks against the histories.
//! - [`races`]: `--mode dual-write`: the twin's arguments and the race checker's pass over a
//!   finished run (its anomaly counters in the report).
//! - [`stats`]: percentiles and the [`Report`] (JSON line and summary).
//! - `driver`: one run end to end.

pub mod chaos;
mod driver;
pub mod ledger;
pub mod process;
pub mod races;
pub mod stats;
pub mod workload;

use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use races::EngineMode;
pub use stats::Report;
pub use workload::Workload;

/// Why a benchmark could not run (a workflow that fails is a figure in the report, not this).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("engine binary: {0}")]
    EngineBinary(String),
    #[error("engine did not start: {0}")]
    EngineStart(String),
    #[error("invalid benchmark settings: {0}")]
    BadConfig(String),
    #[error("client: {0}")]
    Client(#[from] faultline_sdk::ClientError),
}

/// The `faultline bench` command line.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// What each workflow does.
    #[arg(long, value_enum, default_value_t = Workload::Chain)]
    pub workload: Workload,
    /// Number of workflows (N).
    #[arg(long, default_value_t = 2000)]
    pub workflows: u64,
    /// Workflows in flight at once (C).
    #[arg(long, default_value_t = 100)]
    pub concurrency: u64,
    /// Which engine: `dual-write` runs the dual-write twin and then the transactional engine
    /// with the same settings and kill seed, and reports both (one JSON line each, twin first)
    /// with the race checker's anomaly counters.
    #[arg(long, value_enum, default_value_t = EngineMode::Transactional)]
    pub mode: EngineMode,
    /// SIGKILL the engine this many times at random moments, restarting it on the same database.
    #[arg(long, default_value_t = 0)]
    pub kill_engine: u32,
    /// Database file for the engine (must not exist). Default: a temporary directory.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Print exactly one JSON line instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// The faultline-engine executable. Default: built with cargo, or found next to this one.
    #[arg(long, env = "FAULTLINE_ENGINE_BIN")]
    pub engine_bin: Option<PathBuf>,
    /// Port for the engine on 127.0.0.1. Default: a free one.
    #[arg(long)]
    pub port: Option<u16>,
    /// Seed of the kill plan, to replay a torture run.
    #[arg(long)]
    pub seed: Option<u64>,
    /// How long a workflow may take before it counts as lost.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    pub deadline: Duration,
    /// Worker's open long polls for workflow tasks (its slots follow --concurrency).
    #[arg(long, default_value_t = 8)]
    pub workflow_pollers: usize,
    /// Worker's open long polls for activity tasks (its slots follow --concurrency).
    #[arg(long, default_value_t = 8)]
    pub activity_pollers: usize,
    /// The worker talks to the engine through the fault proxy (faultline-proxy, no toxic),
    /// as it does in the topology: run once with and once without to measure its overhead.
    #[arg(long)]
    pub through_proxy: bool,
}

/// One run's settings (what [`BenchArgs`] turns into; tests build it directly).
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub workload: Workload,
    pub workflows: u64,
    pub concurrency: u64,
    pub kill_engine: u32,
    /// The engine this run uses.
    pub mode: EngineMode,
    /// Run the race checker over the finished run and report its counters.
    pub check: bool,
    pub db: Option<PathBuf>,
    pub engine_bin: Option<PathBuf>,
    /// The Faultline checkout to build the engine in; default: found from the current directory.
    pub workspace: Option<PathBuf>,
    pub build: bool,
    pub port: Option<u16>,
    pub seed: Option<u64>,
    pub deadline: Duration,
    pub workflow_pollers: usize,
    pub activity_pollers: usize,
    /// The worker reaches the engine through an in-process faultline-proxy link.
    pub through_proxy: bool,
}

impl BenchConfig {
    /// Defaults of the command line for `workload`.
    pub fn new(workload: Workload, workflows: u64, concurrency: u64) -> Self {
        BenchConfig {
            workload,
            workflows,
            concurrency,
            kill_engine: 0,
            mode: EngineMode::Transactional,
            check: false,
            db: None,
            engine_bin: None,
            workspace: None,
            build: true,
            port: None,
            seed: None,
            deadline: Duration::from_secs(120),
            workflow_pollers: 8,
            activity_pollers: 8,
            through_proxy: false,
        }
    }

    fn validate(&self) -> Result<(), BenchError> {
        if self.workflows == 0 || self.concurrency == 0 {
            return Err(BenchError::BadConfig("--workflows and --concurrency must be at least 1".into()));
        }
        if self.workflow_pollers == 0 || self.activity_pollers == 0 {
            return Err(BenchError::BadConfig("--workflow-pollers and --activity-pollers must be at least 1".into()));
        }
        Ok(())
    }
}

impl From<&BenchArgs> for BenchConfig {
    fn from(a: &BenchArgs) -> Self {
        BenchConfig {
            kill_engine: a.kill_engine,
            mode: a.mode,
            check: a.mode == EngineMode::DualWrite,
            db: a.db.clone(),
            engine_bin: a.engine_bin.clone(),
            // The global `--no-build`: use the engine next to this executable.
            build: !crate::runtime::images::no_build(),
            port: a.port,
            seed: a.seed,
            deadline: a.deadline,
            workflow_pollers: a.workflow_pollers,
            activity_pollers: a.activity_pollers,
            through_proxy: a.through_proxy,
            ..BenchConfig::new(a.workload, a.workflows, a.concurrency)
        }
    }
}

/// Runs one benchmark. `bar` shows progress (pass `ProgressBar::hidden()` for none).
pub async fn run(cfg: &BenchConfig, bar: &ProgressBar) -> Result<Report, BenchError> {
    driver::run(cfg, bar).await
}

/// `--mode dual-write`: the twin, then the transactional engine with the same settings and
/// kill seed (each on its own fresh database), both checked by the race checker. The twin's
/// anomalies are its figures; the transactional run's lost workflows, duplicates and
/// engine-level anomalies are failures.
pub async fn run_side_by_side(cfg: &BenchConfig, bar: &ProgressBar) -> Result<Vec<Report>, BenchError> {
    if cfg.db.is_some() {
        return Err(BenchError::BadConfig("--db names one database; --mode dual-write runs two engines: leave --db out".into()));
    }
    let seed = cfg.seed.unwrap_or_else(rand::random);
    let mut out = Vec::new();
    for mode in [EngineMode::DualWrite, EngineMode::Transactional] {
        let side = BenchConfig { mode, check: true, seed: Some(seed), ..cfg.clone() };
        bar.reset();
        out.push(run(&side, bar).await?);
    }
    Ok(out)
}

/// Whether a report is a failure of the bench: any lost, failed or duplicated workflow on
/// the transactional engine (and any engine-level anomaly the checker found there); on the
/// twin, anomalies are what is measured.
pub fn failed(report: &Report) -> bool {
    report.mode == EngineMode::Transactional.name()
        && (report.lost + report.failed + report.duplicates > 0 || report.anomalies.is_some_and(|a| a.engine_level() > 0))
}

/// The `faultline bench` command: runs, prints the JSON line(s) or the summary, and returns
/// the process exit code (1 when the transactional engine lost, failed or ran an activity
/// twice; see [`failed`]).
pub fn cli(args: &BenchArgs) -> Result<i32, BenchError> {
    let cfg = BenchConfig::from(args);
    let rt = tokio::runtime::Runtime::new()
        .map_err(|e| BenchError::BadConfig(format!("cannot start the async runtime: {e}")))?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::with_draw_target(Some(cfg.workflows), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} workflows · {per_sec} · eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    };
    let reports = match cfg.mode {
        EngineMode::Transactional => vec![rt.block_on(run(&cfg, &bar))?],
        EngineMode::DualWrite => rt.block_on(run_side_by_side(&cfg, &bar))?,
    };
    for (i, report) in reports.iter().enumerate() {
        if args.json {
            println!("{}", report.json_line());
        } else {
            if i > 0 {
                println!();
            }
            print!("{}", report.summary());
        }
    }
    Ok(if reports.iter().any(failed) { 1 } else { 0 })
}
