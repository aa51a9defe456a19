//! Opening the dashboard from the CLI: `faultline` (the all-up scenario), `faultline run FILE`
//! and `faultline attach`. Everything slow and chatty (validating the scenario, choosing the
//! runtime, building images) happens here, on the plain terminal, before the screen switches.

use std::path::PathBuf;
use std::sync::Arc;

use crate::clock::SystemClock;
use super::record::{RecordError, RecordOptions};
use super::run::{run_dashboard, DashboardError, DashboardExit, DashboardOptions};
use super::theme::ThemeName;
use crate::runtime::{self, Access, PodRuntime, Project, RuntimeChoice};
use crate::scenario::runner::{self, RunConfig};
use crate::scenario::report::Verdict;
use crate::scenario::{self, Context, ScenarioError};

/// The engine's address when no runtime tells it.
pub const DEFAULT_ENGINE_URL: &str = "http://127.0.0.1:7233";

/// What to open.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Run this scenario file, driven from the dashboard.
    Scenario(PathBuf),
    /// Watch an engine (and pods) already running; never brings anything up or down.
    Attach { engine_url: Option<String> },
}

#[derive(Debug, Clone)]
pub struct LaunchOptions {
    pub mode: Mode,
    pub compose: PathBuf,
    pub runtime: RuntimeChoice,
    /// Which topology: names, labels, lock and host-port offset (`--project`, `--port-offset`).
    pub project: Project,
    pub theme: ThemeName,
    /// Divides every wait of the scenario.
    pub speed: f64,
    /// Bring the topology up before the first step (`false`: use the pods already running).
    pub bring_up: bool,
    /// Keep the engine's earlier history (default: each run starts on a fresh database).
    pub keep_history: bool,
    /// Answer to "leave the pods running?" given up front (for scripts).
    pub leave_pods_running: Option<bool>,
    /// Write the scenario's report here (.json or .md) when the dashboard closes.
    pub report: Option<PathBuf>,
    /// Record the session here, for `faultline replay` (`--record`).
    pub record: Option<PathBuf>,
}

/// Why the dashboard did not open or ended badly.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Runtime(#[from] runtime::RuntimeError),
    #[error(transparent)]
    Dashboard(#[from] DashboardError),
}

/// Opens the dashboard and returns when the user quits.
pub async fn launch(o: LaunchOptions) -> Result<DashboardExit, LaunchError> {
    if let Some(path) = &o.record {
        // A path that cannot be written fails now, not after the images are built.
        std::fs::File::create(path).map_err(|source| DashboardError::Record(RecordError::Create { path: path.clone(), source }))?;
    }
    let mut opts = DashboardOptions {
        engine_url: DEFAULT_ENGINE_URL.into(),
        runtime: None,
        runtime_unavailable: None,
        scenario: None,
        theme: o.theme,
        clock: Arc::new(SystemClock),
        task_queue: "orders".into(),
        leave_pods_running: o.leave_pods_running,
        new_order: Default::default(),
        notice: None,
        record: o.record.as_ref().map(|path| RecordOptions {
            path: path.clone(),
            compose: Some(o.compose.clone()),
            title: match &o.mode {
                Mode::Scenario(p) => p.display().to_string(),
                Mode::Attach { .. } => "attach".into(),
            },
        }),
    };
    match &o.mode {
        Mode::Scenario(path) => {
            let speed = crate::scenario::headless::check_speed(o.speed).map_err(ScenarioError::Usage)?;
            // Validate before touching any pod: a typo must not cost a topology start.
            let ctx = Context::from_compose(&o.compose)?;
            let sc = scenario::load(path, &ctx).map_err(ScenarioError::from)?;
            // Refuses, naming the holder, when another Faultline controls this project.
            let project = scenario::cli::project_for(&o.project, &sc, &ctx);
            let connected = runtime::connect(o.runtime, &o.compose, &project, Access::Control).await?;
            if let Some(n) = &connected.notice {
                eprintln!("{n}");
            }
            opts.notice = connected.notice.clone();
            let rt: Arc<dyn PodRuntime> = Arc::from(connected.runtime);
            if o.bring_up {
                eprintln!("Preparing the {} pods (what is missing or out of date is built)…", rt.kind());
                rt.prepare(&|line: &str| eprintln!("{line}")).await?;
                // Before the dashboard reads the engine's stream: it then starts at cursor 0
                // of the fresh database.
                if !o.keep_history {
                    scenario::clean_slate(&*rt, &|line: &str| eprintln!("{line}")).await?;
                }
            }
            let client = faultline_sdk::Client::new(rt.engine_url()).map_err(|e| ScenarioError::Engine(e.to_string()))?;
            let cfg = RunConfig { speed, auto_advance: false, bring_up: o.bring_up, terminate_leftovers: false, ..RunConfig::default() };
            opts.engine_url = rt.engine_url();
            let twin = scenario::headless::twin_client(rt.as_ref())?;
            opts.scenario = Some(runner::spawn_with_twin(rt.clone(), Arc::new(client), twin, sc, cfg, Arc::new(SystemClock)));
            opts.runtime = Some(rt);
        }
        Mode::Attach { engine_url } => {
            // Attaching never takes down what it did not start.
            opts.leave_pods_running = Some(true);
            // Watches read-only when another Faultline controls the project.
            match runtime::connect(o.runtime, &o.compose, &o.project, Access::Watch).await {
                Ok(c) => {
                    if let Some(n) = &c.notice {
                        eprintln!("{n}");
                    }
                    opts.notice = c.notice.clone();
                    opts.engine_url = c.runtime.engine_url();
                    opts.runtime = Some(Arc::from(c.runtime));
                }
                Err(e) => opts.runtime_unavailable = Some(e.to_string()),
            }
            if let Some(url) = engine_url {
                opts.engine_url = url.clone();
            }
        }
    }
    let exit = run_dashboard(opts).await?;
    if let (Some(path), Some(report)) = (&o.report, &exit.report) {
        report.write(path)?;
        eprintln!("Report written to {}", path.display());
    }
    if let Some(r) = &exit.report {
        let verdict = match r.verdict {
            Verdict::Passed => "all expectations met".to_string(),
            Verdict::Failed => format!("an expectation failed{}", r.aborted.as_ref().map(|a| format!(" ({a})")).unwrap_or_default()),
            Verdict::NotEvaluated => "not evaluated (the run was stopped before its end)".to_string(),
        };
        eprintln!("Scenario {}: {verdict}", r.title);
    }
    Ok(exit)
}
