//! `faultline run scenarios/NAME.toml --headless`: the runner with no terminal UI.
//!
//! Prints one line per step, action and change in counts, writes the report (`--report
//! FILE.json|FILE.md`), and tells the caller whether every expectation passed (the CLI exits
//! non-zero otherwise). Ctrl-C aborts the run but still audits and reports.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use faultline_sdk::Client;

use super::error::ScenarioError;
use super::model::{fmt_duration, Scenario};
use super::report::{clock, Report, Verdict};
use super::runner::{self, RunCommand, RunConfig, RunEvent};
use crate::clock::SystemClock;
use crate::runtime::PodRuntime;

#[derive(Debug, Clone)]
pub struct HeadlessOptions {
    pub speed: f64,
    pub report: Option<PathBuf>,
    /// Bring the topology up first (`false` to run against pods that are already up).
    pub bring_up: bool,
    /// Take the pods down after the run (local processes would otherwise outlive it).
    pub down_after: bool,
}

/// The client of the engine a runtime exposes.
pub fn engine_client(rt: &dyn PodRuntime) -> Result<Client, ScenarioError> {
    Client::new(rt.engine_url()).map_err(|e| ScenarioError::Engine(e.to_string()))
}

/// The client of the dual-write twin's engine, when the runtime runs it.
pub fn twin_client(rt: &dyn PodRuntime) -> Result<Option<Arc<dyn runner::EngineApi>>, ScenarioError> {
    match rt.twin_engine_url() {
        Some(url) => Ok(Some(Arc::new(Client::new(url).map_err(|e| ScenarioError::Engine(e.to_string()))?))),
        None => Ok(None),
    }
}

/// Runs a scenario headless, printing progress to stdout. Returns the report; the run passed
/// when `report.passed`.
pub async fn run(rt: Arc<dyn PodRuntime>, scenario: Scenario, opts: HeadlessOptions) -> Result<Report, ScenarioError> {
    if let Some(path) = &opts.report {
        // Refuse a bad report name before a run of minutes, not after.
        match path.extension().and_then(|e| e.to_str()) {
            Some("json" | "md" | "markdown") => {}
            _ => return Err(ScenarioError::ReportFormat(path.clone())),
        }
    }
    let client = engine_client(rt.as_ref())?;
    let keep = rt.clone();
    let cfg = RunConfig { speed: opts.speed, auto_advance: true, bring_up: opts.bring_up, terminate_leftovers: true, ..RunConfig::default() };
    let twin = twin_client(rt.as_ref())?;
    let mut handle = runner::spawn_with_twin(rt, Arc::new(client), twin, scenario, cfg, Arc::new(SystemClock));
    let commands = handle.commands.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: aborting the run (it still reports)");
            let _ = commands.send(RunCommand::Abort);
        }
    });
    let mut steps_total = 0;
    while let Some(ev) = handle.events.recv().await {
        if let RunEvent::Plan { steps, .. } = &ev {
            steps_total = steps.len();
        }
        if let Some(line) = line(&ev, steps_total) {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
        if matches!(ev, RunEvent::Finished(_)) {
            break;
        }
    }
    ctrl_c.abort();
    let report = handle.task.await.map_err(|e| ScenarioError::Engine(format!("the runner stopped unexpectedly: {e}")))?;
    if opts.down_after {
        println!("taking the {} pods down", keep.kind());
        if let Err(e) = keep.down(false).await {
            eprintln!("could not take the pods down: {e}; run `faultline down`");
        }
    }
    if let Some(path) = &opts.report {
        report.write(path)?;
        println!("report written to {}", path.display());
    }
    Ok(report)
}

/// The progress line of one event, if it has one.
pub fn line(ev: &RunEvent, steps_total: usize) -> Option<String> {
    let pad = "           ";
    Some(match ev {
        RunEvent::Plan { title, description, steps, orders, speed } => {
            let desc: Vec<String> = description.lines().map(|l| format!("  {l}")).collect();
            format!("▶ {title}\n{}\n  {} steps · {orders} orders · speed ×{speed}", desc.join("\n"), steps.len())
        }
        RunEvent::Note { at_ms, text } => format!("[{}] · {text}", clock(*at_ms)),
        RunEvent::SetupFailed { at_ms, cause } => format!("[{}] ✗ setup failed: {cause}", clock(*at_ms)),
        RunEvent::Waiting { step, text, .. } => format!("{pad}  step {}/{steps_total} waits for: {text}", step + 1),
        RunEvent::Expecting { .. } => return None,
        RunEvent::Narration { step, at_ms, text } => format!("[{}] step {}/{steps_total} waiting · “{text}”", clock(*at_ms), step + 1),
        RunEvent::StepStarted { step, at_ms, title, narration } => {
            format!("[{}] STEP {}/{steps_total} · {title}\n{pad}  “{narration}”", clock(*at_ms), step + 1)
        }
        RunEvent::Action { at_ms, text, ok, detail, .. } => {
            let d = detail.as_ref().map(|d| format!(" — {d}")).unwrap_or_default();
            format!("[{}]   {} {text}{d}", clock(*at_ms), if *ok { "✓" } else { "✗" })
        }
        RunEvent::Counts { at_ms, counts } => format!("[{}]   {}", clock(*at_ms), counts.line()),
        RunEvent::Engine { at_ms, connected, detail } => {
            if *connected {
                format!("[{}]   engine event stream connected", clock(*at_ms))
            } else {
                format!("[{}]   engine unreachable, reconnecting… ({detail})", clock(*at_ms))
            }
        }
        RunEvent::Expectation(r) => {
            let mark = match r.verdict {
                Verdict::Passed => "PASS",
                Verdict::Failed => "FAIL",
                Verdict::NotEvaluated => "----",
            };
            format!("  {mark}  {} — {}", r.expectation, r.measured)
        }
        RunEvent::Finished(r) => {
            let verdict = r.verdict.word();
            let why = r.aborted.as_ref().map(|a| format!(" (aborted: {a})")).unwrap_or_default();
            format!("{verdict}: {} in {}{why}", r.title, fmt_duration(Duration::from_millis(r.duration_ms)))
        }
    })
}

/// Speed must be a positive number; `--speed 0` would stretch a run forever.
pub fn check_speed(speed: f64) -> Result<f64, String> {
    if speed.is_finite() && speed > 0.0 && speed <= 1000.0 {
        Ok(speed)
    } else {
        Err(format!(
            "--speed must be above 0 and at most 1000 (got {speed}); it divides every duration: 1 is as written, 5 is five times faster, 0.5 twice as slow"
        ))
    }
}

/// For callers that only have a scenario's path: validate it against the runtime's topology.
pub fn load_for(rt: &dyn PodRuntime, path: &std::path::Path) -> Result<Scenario, ScenarioError> {
    let ctx = super::Context::from_topology(rt.topology());
    Ok(super::load(path, &ctx)?)
}
