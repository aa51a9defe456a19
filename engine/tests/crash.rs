//! Crash-recovery tests: they run the real `faultline-engine` binary, SIGKILL it mid-flow and
//! check that nothing acknowledged is lost, that timers and timed-out tasks come back after a
//! restart, and that the event stream resumes without gap or duplicate.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc};
use std::time::Duration;

use common::*;
use faultline_proto::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::json;

struct Engine {
    child: Child,
    addr: String,
}

impl Engine {
    /// Starts the binary on a free port and waits for its "listening" line.
    fn spawn(db: &Path) -> Engine {
        let (child, addr) = spawn_engine(db, &[], &[]);
        Engine { child, addr }
    }

    fn client(&self) -> Client {
        Client::new(format!("http://{}", self.addr))
    }

    fn sigkill(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL).unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("crash.db")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_transition() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::spawn(&db_path(&dir));
    let c = engine.client();
    // Many concurrent starts and signals; the engine is killed while they are in flight.
    let mut handles = Vec::new();
    for i in 0..40 {
        let c = c.clone();
        handles.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for j in 0..1000 {
                let id = format!("wf-{i}-{j}");
                let req = json!({"workflow_id": id, "workflow_type": "T", "task_queue": "crash"});
                let Ok(r) = c.http.post(format!("{}{}", c.base, paths::WORKFLOWS)).json(&req).send().await else { break };
                if r.status() != StatusCode::OK {
                    break;
                }
                let sig = json!({"name": "s", "payload": j});
                let Ok(r) = c.http.post(format!("{}{}", c.base, paths::signal(&id))).json(&sig).send().await else {
                    acked.push((id, false));
                    break;
                };
                acked.push((id, r.status() == StatusCode::OK));
            }
            acked
        }));
    }
    eventually("some workflows were acknowledged", Duration::from_secs(20), || async {
        let list: ListWorkflowsResponse = c.get_as("/api/v1/workflows?limit=10000").await;
        list.workflows.len() >= 200
    })
    .await;
    engine.sigkill();
    let mut acked = Vec::new();
    for h in handles {
        acked.extend(h.await.unwrap());
    }
    assert!(acked.len() >= 200, "only {} acknowledged", acked.len());

    let engine = Engine::spawn(&db_path(&dir));
    let c = engine.client();
    let list: ListWorkflowsResponse = c.get_as("/api/v1/workflows?limit=100000").await;
    let known: std::collections::HashSet<String> = list.workflows.iter().map(|w| w.workflow_id.clone()).collect();
    for (id, signaled) in &acked {
        assert!(known.contains(id), "acknowledged start of {id} was lost");
        if *signaled {
            let h = c.history(id).await;
            assert_gapless(&h);
            assert!(h.iter().any(|e| e.kind.name() == "workflow_signaled"), "acknowledged signal to {id} was lost");
        }
    }
    // Every run is intact and dispatchable: one workflow task per run, exactly.
    let q: TaskQueueResponse = c.get_as(&paths::task_queue("crash")).await;
    assert_eq!(q.backlog_workflow_tasks as usize, known.len());
    // The stream is gapless across the restart.
    let before = c.stream(Some(0), None, 50, Duration::from_secs(5)).await;
    assert!(before.windows(2).all(|w| w[1].cursor == w[0].cursor + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_and_started_tasks_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::spawn(&db_path(&dir));
    let c = engine.client();
    // A durable timer armed before the kill...
    c.start("timer-wf", "T", "tq", json!(null)).await;
    let t = c.next_wft("tq").await;
    c.complete_wft(&t.task_token, vec![Command::StartTimer { seq: 1, duration_ms: 1500 }]).await;
    // ...a workflow task started by a worker that then dies with the engine...
    let opts = WorkflowOptions { task_timeout_ms: Some(1000), ..Default::default() };
    c.start_with("held", "T", "hq", json!(null), opts).await;
    let held = c.next_wft("hq").await;
    // ...and a started activity whose worker vanishes too.
    c.start("act", "T", "aq", json!(null)).await;
    let t = c.next_wft("aq").await;
    let aopts = ActivityOptions { start_to_close_timeout_ms: Some(1000), ..Default::default() };
    c.complete_wft(&t.task_token, vec![activity(1, "slow", aopts)]).await;
    let a = c.next_activity("aq").await;
    let last_cursor = c.stream(Some(0), None, 1000, Duration::from_millis(500)).await.last().unwrap().cursor;
    engine.sigkill();

    let engine = Engine::spawn(&db_path(&dir));
    let c = engine.client();
    // Tokens survive a restart: the state, not the process, decides whether they are current.
    let (s, _) = c.complete_wft(&held.task_token, vec![]).await;
    assert_eq!(s, StatusCode::OK, "a task started before the crash can still complete before its timeout");
    let t = c.next_wft("tq").await;
    assert!(kinds(&t.history).contains(&"timer_fired"), "the timer fired after the restart");
    c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!("ok") }]).await;
    let a2 = c.next_activity("aq").await;
    assert_eq!(a2.attempt, 2, "the vanished attempt timed out and was retried");
    assert_eq!(c.complete_activity(&a.task_token, json!(1)).await.0, StatusCode::CONFLICT);
    let attempts: Vec<ActivityAttempt> = c.get_as(&paths::attempts("act", 1)).await;
    assert_eq!(attempts[0].outcome, "timed_out");
    // The stream resumes after the old cursor with the very next one.
    let resumed = c.stream(Some(last_cursor), None, 1, Duration::from_secs(5)).await;
    assert_eq!(resumed[0].cursor, last_cursor + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_worker_task_is_redispatched_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::spawn(&db_path(&dir));
    let c = engine.client();
    let opts = WorkflowOptions { task_timeout_ms: Some(800), ..Default::default() };
    c.start_with("redo", "T", "rq", json!(null), opts).await;
    let first = c.next_wft("rq").await;
    engine.sigkill();
    let engine = Engine::spawn(&db_path(&dir));
    let c = engine.client();
    let again = c.next_wft("rq").await;
    assert_eq!(again.attempt, 2);
    assert!(kinds(&again.history).contains(&"workflow_task_timed_out"));
    let (s, v) = c.complete_wft(&first.task_token, vec![]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("stale_task_token")));
    c.complete_wft(&again.task_token, vec![Command::CompleteWorkflow { result: json!(1) }]).await;
    assert_eq!(c.result("redo", 5000).await.1.status, WorkflowStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly_and_healthcheck_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = Engine::spawn(&db_path(&dir));
    let hc = |addr: &str| {
        Proc::new(env!("CARGO_BIN_EXE_faultline-engine"))
            .args(["--listen", addr, "healthcheck"])
            .status()
            .unwrap()
            .success()
    };
    assert!(hc(&engine.addr));
    // An open long poll must not hold the shutdown.
    let c = engine.client();
    let c2 = c.clone();
    let poll = tokio::spawn(async move { c2.poll_wft("idle", 30_000).await });
    eventually("the long poll reached the engine", Duration::from_secs(5), || async {
        c.get_as::<TaskQueueResponse>(&paths::task_queue("idle")).await.pollers.len() == 1
    })
    .await;
    kill(Pid::from_raw(engine.child.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = engine.child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "engine did not stop within 10 s of SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "clean exit: {status:?}");
    let _ = poll.await;
    assert!(!hc(&engine.addr));
    let _ = engine.child.wait();
}

/// Completes workflow tasks the way a small order flow would: an activity and a short timer,
/// then the close once both are done. Returns when the engine goes away.
async fn torture_worker(c: Client) {
    loop {
        let body = PollRequest { task_queue: "torture".into(), worker: "tw".into(), timeout_ms: 500 };
        let Ok(r) = c.http.post(format!("{}{}", c.base, paths::WORKFLOW_TASK_POLL)).json(&body).send().await else { return };
        if r.status() != StatusCode::OK {
            continue;
        }
        let Ok(t) = r.json::<WorkflowTask>().await else { return };
        let seen = kinds(&t.history);
        let commands = if !seen.contains(&"activity_scheduled") {
            vec![activity(1, "step", ActivityOptions::default()), Command::StartTimer { seq: 2, duration_ms: 30 }]
        } else if seen.contains(&"activity_completed") && seen.contains(&"timer_fired") {
            vec![Command::CompleteWorkflow { result: json!("done") }]
        } else {
            vec![]
        };
        let req = CompleteWorkflowTaskRequest { task_token: t.task_token, commands, eager: None };
        if c.http.post(format!("{}{}", c.base, paths::WORKFLOW_TASK_COMPLETE)).json(&req).send().await.is_err() {
            return;
        }
    }
}

async fn torture_activities(c: Client) {
    loop {
        let body = PollRequest { task_queue: "torture".into(), worker: "ta".into(), timeout_ms: 500 };
        let Ok(r) = c.http.post(format!("{}{}", c.base, paths::ACTIVITY_TASK_POLL)).json(&body).send().await else { return };
        if r.status() != StatusCode::OK {
            continue;
        }
        let Ok(a) = r.json::<ActivityTask>().await else { return };
        let req = CompleteActivityTaskRequest { task_token: a.task_token, result: json!(a.attempt), eager: None };
        if c.http.post(format!("{}{}", c.base, paths::ACTIVITY_TASK_COMPLETE)).json(&req).send().await.is_err() {
            return;
        }
    }
}

async fn torture_starts(c: Client, round: usize) {
    for i in 0.. {
        let id = format!("t-{round}-{i}");
        let req = json!({"workflow_id": id, "workflow_type": "T", "task_queue": "torture"});
        if c.http.post(format!("{}{}", c.base, paths::WORKFLOWS)).json(&req).send().await.is_err() {
            return;
        }
        let sig = json!({"name": "poke", "payload": i});
        if c.http.post(format!("{}{}", c.base, paths::signal(&id))).json(&sig).send().await.is_err() {
            return;
        }
    }
}

/// The bench's torture in small: SIGKILL the engine five times under load (starts, signals,
/// workers completing tasks), then `check` must find the database intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_finds_no_violation_after_repeated_sigkills_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_path(&dir);
    for round in 0..5 {
        let engine = Engine::spawn(&db);
        let c = engine.client();
        let load = [
            tokio::spawn(torture_starts(c.clone(), round)),
            tokio::spawn(torture_worker(c.clone())),
            tokio::spawn(torture_worker(c.clone())),
            tokio::spawn(torture_activities(c.clone())),
        ];
        eventually("the load made progress", Duration::from_secs(30), || async {
            let list: ListWorkflowsResponse = c.get_as("/api/v1/workflows?status=completed&limit=10000").await;
            list.workflows.len() >= 5 * (round + 1)
        })
        .await;
        engine.sigkill();
        for task in load {
            let _ = task.await;
        }
    }
    let report = faultline_engine::check::check_db(&db).expect("the check runs");
    assert!(report.is_clean(), "{report}");
    assert!(report.runs >= 25 && report.running > 0, "the load left open runs to check: {report}");
}
