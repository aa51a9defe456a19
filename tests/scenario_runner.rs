//! The runner against real pods: every shipped scenario on Docker, and on local processes,
//! each with every expectation passing. One runs presenter-driven (the test presses the
//! space bar when a manual step waits), the others auto-advance as headless does.
//!
//! Docker runs are real in CI (`FAULTLINE_REQUIRE_DOCKER=1` makes a missing daemon a
//! failure); elsewhere they are skipped with a notice. Each runs under its own project
//! (`fltest-scenarios-*`, its own host ports), so a demo running beside them is untouched;
//! they still take turns through one lock, for the CPU.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use faultline::runtime::local::LocalRuntime;
use faultline::runtime::{connect, images, Access, PodRuntime, Project, RuntimeChoice, RuntimeError, RuntimeSetup};
use faultline::scenario::report::Report;
use faultline::scenario::runner::{self, RunCommand, RunConfig, RunEvent};
use faultline::scenario::{headless, Context, Scenario};

/// CI runs at this speed; so do these tests.
const SPEED: f64 = 5.0;

/// How many times each Docker scenario runs in a row (`FAULTLINE_SCENARIO_REPEAT=10` for the
/// "10 runs in a row" check; CI runs each once).
fn repeat() -> usize {
    std::env::var("FAULTLINE_SCENARIO_REPEAT").ok().and_then(|v| v.parse().ok()).filter(|n| *n >= 1).unwrap_or(1)
}

static PODS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scenario(name: &str) -> Scenario {
    let ctx = Context::from_compose(&root().join("docker-compose.yml")).expect("compose");
    faultline::scenario::load(&root().join("scenarios").join(format!("{name}.toml")), &ctx).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs one scenario to its report. `presenter`: do not auto-advance; press "space" each
/// time a manual step waits, as the dashboard's presenter would.
async fn run(rt: Arc<dyn PodRuntime>, name: &str, presenter: bool) -> Report {
    let sc = scenario(name);
    let steps = sc.steps.len();
    let client = headless::engine_client(rt.as_ref()).expect("engine client");
    let cfg = RunConfig { speed: SPEED, auto_advance: !presenter, bring_up: true, terminate_leftovers: true, ..RunConfig::default() };
    // The dual-write twin's engine, when the runtime runs it (a race scenario).
    let twin = headless::twin_client(rt.as_ref()).expect("twin client");
    let mut h = runner::spawn_with_twin(rt, Arc::new(client), twin, sc, cfg, Arc::new(faultline::clock::SystemClock));
    let mut started_steps = Vec::new();
    let mut report = None;
    let wait = tokio::time::timeout(Duration::from_secs(600), async {
        while let Some(ev) = h.events.recv().await {
            if let Some(line) = headless::line(&ev, steps) {
                eprintln!("[{name}] {line}");
            }
            match ev {
                RunEvent::Waiting { presenter: true, .. } if presenter => {
                    h.commands.send(RunCommand::Advance).expect("runner alive");
                }
                RunEvent::StepStarted { step, .. } => started_steps.push(step),
                RunEvent::Finished(r) => {
                    report = Some(*r);
                    break;
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(wait.is_ok(), "{name}: no report within 10 minutes");
    let report = report.expect("the runner always finishes with a report");
    assert_eq!(started_steps, (0..steps).collect::<Vec<_>>(), "{name}: every step ran, in order");
    assert!(report.passed, "{name} failed:\n{}", report.to_markdown());
    report
}

/// Every link of the fault proxy is up with no toxic: the run healed what it broke.
async fn assert_links_healed(rt: &dyn PodRuntime) {
    let links = rt.link_status().await.expect("the proxy answers");
    assert!(links.len() >= 2, "{links:?}");
    for l in links {
        assert!(l.enabled && l.toxics.is_empty(), "a fault outlived the run: {l:?}");
    }
}

/// A run that puts faults on two links, then is aborted (the dashboard's quit, headless
/// Ctrl-C): the real proxy has them while it waits, and none once it reported.
async fn aborted_run_heals_its_faults(rt: Arc<dyn PodRuntime>) {
    let text = r#"
title = "abort"
description = "faults, then an abort"
[workload]
orders = 1
seed = 3
[[step]]
title = "faults"
narration = "n"
actions = [{ do = "start_orders" }, { do = "latency", link = "worker->payment", latency = "3s", for = "10m" }, { do = "partition", link = "worker->engine" }]
[[step]]
title = "wait"
narration = "n"
manual = true
"#;
    let ctx = Context::from_compose(&root().join("docker-compose.yml")).expect("compose");
    let sc = faultline::scenario::validate::validate_text(&root().join("abort.toml"), text, &ctx).unwrap_or_else(|d| panic!("{d:?}"));
    let client = headless::engine_client(rt.as_ref()).expect("engine client");
    let cfg = RunConfig { speed: SPEED, auto_advance: false, bring_up: true, ..RunConfig::default() };
    let mut h = runner::spawn(rt.clone(), Arc::new(client), sc, cfg, Arc::new(faultline::clock::SystemClock));
    let report = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(ev) = h.events.recv().await {
            match ev {
                RunEvent::Waiting { presenter: true, .. } => {
                    let links = rt.link_status().await.expect("the proxy answers");
                    let faulted: Vec<_> = links.iter().filter(|l| !l.enabled || !l.toxics.is_empty()).map(|l| l.name.as_str()).collect();
                    assert_eq!(faulted, ["worker->engine", "worker->payment"], "{links:?}");
                    h.commands.send(RunCommand::Abort).expect("runner alive");
                }
                RunEvent::Finished(r) => return *r,
                _ => {}
            }
        }
        panic!("the run ended without a report")
    })
    .await
    .expect("a report within 5 minutes");
    assert!(report.aborted.is_some());
    assert!(report.timeline.iter().any(|t| t.text.contains("healing the links this run left faulted")), "{:?}", report.timeline);
    assert_links_healed(rt.as_ref()).await;
}

fn skip(e: &RuntimeError) -> bool {
    let required = std::env::var("FAULTLINE_REQUIRE_DOCKER").is_ok_and(|v| v == "1");
    if matches!(e, RuntimeError::DockerUnavailable(_)) && !required {
        eprintln!("SKIPPED docker scenario runs: {e} (set FAULTLINE_REQUIRE_DOCKER=1 to make this a failure)");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_on_docker() {
    let _turn = PODS.lock().await;
    let compose_file = root().join("docker-compose.yml");
    let project = Project::new("fltest-scenarios-docker", 20200).expect("project");
    let connected = match connect(RuntimeChoice::Docker, &compose_file, &project, Access::Control).await {
        Ok(c) => c,
        Err(e) if skip(&e) => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    images::ensure_images(&compose_file, false).await.expect("faultline images");
    let rt: Arc<dyn PodRuntime> = Arc::from(connected.runtime);
    rt.down(true).await.expect("a clean slate");
    let runs = AssertUnwindSafe(async {
        let started = std::time::Instant::now();
        for round in 1..=repeat() {
            for name in ["all-up", "bugged-pod", "fixed-pod", "pod-down", "engine-down", "slow-network"] {
                let r = run(rt.clone(), name, false).await;
                if name == "slow-network" {
                    assert_links_healed(rt.as_ref()).await;
                }
                eprintln!("{name} (round {round}): passed in {:.1}s", r.duration_ms as f64 / 1000.0);
            }
        }
        eprintln!("six scenarios on Docker, {} round(s): {:.0}s", repeat(), started.elapsed().as_secs_f64());
        let engine = run(rt.clone(), "engine-down", true).await;
        assert!(engine.timeline.iter().any(|t| t.text.contains("engine unreachable")), "the kill was seen on the stream");
    })
    .catch_unwind()
    .await;
    // Down whatever happened: the local test after this one needs the host ports.
    rt.down(true).await.expect("down");
    if let Err(panic) = runs {
        std::panic::resume_unwind(panic);
    }
}

/// The race scenarios; `FAULTLINE_RACE_SCENARIOS=race-lost-timer,race-early-task` runs a few.
fn race_scenarios() -> Vec<&'static str> {
    let all = ["race-lost-task", "race-redelivery", "race-lost-timer", "race-early-task"];
    match std::env::var("FAULTLINE_RACE_SCENARIOS") {
        Ok(only) if !only.trim().is_empty() => {
            let wanted: Vec<&str> = only.split(',').map(str::trim).collect();
            for w in &wanted {
                assert!(all.contains(w), "FAULTLINE_RACE_SCENARIOS names {w:?}; the race scenarios are {all:?}");
            }
            all.into_iter().filter(|n| wanted.contains(n)).collect()
        }
        _ => all.to_vec(),
    }
}

/// The race scenarios (`race-*.toml`), each with the dual-write twin: the staged anomaly on
/// the twin, none on the engine (their own expectations say so; `report.passed` holds them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_scenarios_pass_on_docker() {
    let _turn = PODS.lock().await;
    let compose_file = root().join("docker-compose.yml");
    let project = Project::new("fltest-races-docker", 20700).expect("project").with_profiles(["twin"]);
    let connected = match connect(RuntimeChoice::Docker, &compose_file, &project, Access::Control).await {
        Ok(c) => c,
        Err(e) if skip(&e) => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    images::ensure_images(&compose_file, false).await.expect("faultline images");
    let rt: Arc<dyn PodRuntime> = Arc::from(connected.runtime);
    assert!(rt.twin_engine_url().is_some(), "the twin profile is active");
    rt.down(true).await.expect("a clean slate");
    let runs = AssertUnwindSafe(async {
        for round in 1..=repeat() {
            for name in race_scenarios() {
                let r = run(rt.clone(), name, false).await;
                let race = r.race.as_ref().expect("the race checker ran");
                let dw = race.side(faultline::checker::Side::DualWrite).expect("dual-write side");
                let tx = race.side(faultline::checker::Side::Transactional).expect("transactional side");
                eprintln!(
                    "{name} (round {round}): passed in {:.1}s; engine-level anomalies: transactional {}, dual-write {} ({:?})",
                    r.duration_ms as f64 / 1000.0,
                    tx.counters.engine_level(),
                    dw.counters.engine_level(),
                    dw.counters
                );
            }
        }
    })
    .catch_unwind()
    .await;
    rt.down(true).await.expect("down");
    if let Err(panic) = runs {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenarios_pass_on_local_processes() {
    let _turn = PODS.lock().await;
    let compose_file = root().join("docker-compose.yml");
    let project = Project::new("fltest-scenarios-local", 20300).expect("project");
    let setup = RuntimeSetup::load(&compose_file, &project).expect("compose");
    let data = tempfile::tempdir().expect("tempdir");
    let rt: Arc<dyn PodRuntime> = Arc::new(LocalRuntime::new(setup, data.path().to_path_buf()));
    let runs = AssertUnwindSafe(async {
        // Presenter-driven: the manual steps wait for our Advance.
        let fixed = run(rt.clone(), "fixed-pod", true).await;
        assert!(fixed.counts.retries_seen >= 6, "{:?}", fixed.counts);
        assert!(fixed.expectations.iter().any(|e| e.measured.starts_with("recovered in")));
        run(rt.clone(), "engine-down", false).await;
        run(rt.clone(), "pod-down", false).await;
        let slow = run(rt.clone(), "slow-network", false).await;
        assert!(slow.counts.retries_seen >= 6, "{:?}", slow.counts);
        assert_links_healed(rt.as_ref()).await;
        aborted_run_heals_its_faults(rt.clone()).await;
    })
    .catch_unwind()
    .await;
    rt.down(true).await.expect("down");
    if let Err(panic) = runs {
        std::panic::resume_unwind(panic);
    }
}
