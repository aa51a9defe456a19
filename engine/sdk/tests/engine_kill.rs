//! Against the real engine: a worker process is SIGKILLed in the middle of an activity, a new
//! worker process finishes the workflow from its history, and every activity's effect happened
//! once (effects are keyed by the activity's idempotency key, as a real service does).
//!
//! The worker runs in a child process: this test binary re-executed with
//! `FAULTLINE_SDK_TEST_ROLE=worker`, which makes `worker_role` run a worker instead of returning.

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use faultline_sdk::proto::{ActivityOptions, EventKind, RetryPolicy, WorkflowStatus};
use faultline_sdk::{ActContext, ActivityError, Client, StartOptions, WfContext, Worker, WorkerOptions, WorkflowError};
use support::{wait_until, Engine};

const ROLE: &str = "FAULTLINE_SDK_TEST_ROLE";
const QUEUE: &str = "sdk-kill-test";

/// A service-like effect: applied at most once per idempotency key; every call is logged.
fn apply_effect(dir: &Path, key: &str, attempt: u32) -> std::io::Result<()> {
    let mut calls = OpenOptions::new().create(true).append(true).open(dir.join("calls.log"))?;
    writeln!(calls, "{key} attempt={attempt}")?;
    let marker = dir.join(format!("effect-{}", key.replace(':', "_")));
    match OpenOptions::new().write(true).create_new(true).open(marker) {
        Ok(_) => {
            let mut ledger = OpenOptions::new().create(true).append(true).open(dir.join("ledger.log"))?;
            writeln!(ledger, "{key}")
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

async fn step(ctx: ActContext, n: u32) -> Result<u32, ActivityError> {
    let dir = PathBuf::from(std::env::var("EFFECTS_DIR").map_err(ActivityError::retryable)?);
    apply_effect(&dir, ctx.idempotency_key(), ctx.attempt()).map_err(ActivityError::retryable)?;
    if n == 2 && ctx.attempt() == 1 {
        // Effect applied, result not reported yet: the test kills the worker here.
        std::fs::write(dir.join("step2-running"), b"").map_err(ActivityError::retryable)?;
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    Ok(n * 10)
}

async fn three_steps(ctx: WfContext, _: ()) -> Result<u32, WorkflowError> {
    let opts = ActivityOptions {
        start_to_close_timeout_ms: Some(2_000),
        retry_policy: RetryPolicy { initial_interval_ms: 100, ..RetryPolicy::default() },
        ..ActivityOptions::default()
    };
    let a: u32 = ctx.activity("step", &1, opts.clone()).await?;
    ctx.sleep(Duration::from_millis(300)).await?;
    let b: u32 = ctx.activity("step", &2, opts.clone()).await?;
    let c: u32 = ctx.activity("step", &3, opts).await?;
    Ok(a + b + c)
}

/// Not a test on its own: the body of the worker child process.
#[test]
fn worker_role() {
    if std::env::var(ROLE).as_deref() != Ok("worker") {
        return;
    }
    let url = std::env::var("ENGINE_URL").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let mut opts = WorkerOptions::new(QUEUE);
        opts.identity = std::env::var("WORKER_ID").unwrap();
        opts.poll_timeout = Duration::from_secs(5);
        let mut worker = Worker::new(Client::new(url).unwrap(), opts);
        worker.register_workflow("ThreeSteps", three_steps).register_activity("step", step);
        worker.run(std::future::pending()).await.unwrap();
    });
}

fn spawn_worker(url: &str, effects: &Path, id: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "worker_role", "--nocapture", "--test-threads", "1"])
        .env(ROLE, "worker")
        .env("ENGINE_URL", url)
        .env("EFFECTS_DIR", effects)
        .env("WORKER_ID", id)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_is_replaced_and_effects_happen_once() {
    let tmp = tempfile::tempdir().unwrap();
    let effects = tmp.path().join("effects");
    std::fs::create_dir(&effects).unwrap();
    let engine = Engine::start(support::free_port(), &tmp.path().join("engine.db")).await;
    let client = engine.client();

    let mut first = KillOnDrop(spawn_worker(&engine.url, &effects, "worker-a"));
    let started = client
        .start_workflow(StartOptions::new("kill-1", QUEUE), "ThreeSteps", &())
        .await
        .unwrap();
    assert!(started.started);

    let running = effects.join("step2-running");
    wait_until("worker-a runs step 2", Duration::from_secs(30), || {
        let p = running.clone();
        async move { p.exists() }
    })
    .await;
    // SIGKILL: no chance to report anything.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first.0.id() as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = first.0.wait();

    let _second = KillOnDrop(spawn_worker(&engine.url, &effects, "worker-b"));
    let result: u32 = client.result("kill-1", Duration::from_secs(60)).await.unwrap();
    assert_eq!(result, 60);

    let run = &started.run_id;
    let ledger = std::fs::read_to_string(effects.join("ledger.log")).unwrap();
    let mut keys: Vec<&str> = ledger.lines().collect();
    keys.sort();
    // seq 1 = step 1, seq 2 = timer, seq 3 = step 2, seq 4 = step 3: each effect once.
    assert_eq!(keys, vec![format!("{run}:1"), format!("{run}:3"), format!("{run}:4")]);
    let calls = std::fs::read_to_string(effects.join("calls.log")).unwrap();
    assert!(calls.contains(&format!("{run}:3 attempt=2")), "step 2 was not retried after the kill:\n{calls}");

    let history = client.history("kill-1").await.unwrap();
    let workers: Vec<String> = history
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::WorkflowTaskCompleted { worker } => Some(worker.clone()),
            _ => None,
        })
        .collect();
    assert!(workers.iter().any(|w| w == "worker-a") && workers.iter().any(|w| w == "worker-b"), "{workers:?}");
    if let Ok(path) = std::env::var("FAULTLINE_SDK_SAVE_GOLDEN") {
        // Refreshes tests/histories/engine_three_steps_killed.json from a real run.
        let note = "Real engine history: ThreeSteps with worker-a SIGKILLed during step 2 and worker-b finishing";
        let doc = serde_json::json!({ "note": note, "events": history.events });
        std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    }
    let d = client.describe("kill-1").await.unwrap();
    assert_eq!(d.summary.status, WorkflowStatus::Completed);
}
