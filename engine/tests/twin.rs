//! The dual-write twin (issue 13): dual-write mode end to end, each fault action at the
//! commit boundaries, and the two races of the seed document staged deterministically on the
//! dual-write side and absent on the transactional side (the crash cases on the real binary).

mod common;

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use faultline_engine::dual::{AckMode, DualOptions, DualOrder, Mode};
use faultline_engine::engine::EngineOptions;
use faultline_proto::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Twin {
    _dir: tempfile::TempDir,
    server: faultline_engine::Server,
    c: Client,
}

impl Drop for Twin {
    fn drop(&mut self) {
        self.server.engine.shutdown();
    }
}

async fn twin(mode: Mode, order: DualOrder) -> Twin {
    twin_with(mode, DualOptions { order, ..Default::default() }).await
}

async fn twin_with(mode: Mode, dual: DualOptions) -> Twin {
    let dir = tempfile::tempdir().unwrap();
    let options = EngineOptions { mode, dual, ..Default::default() };
    let clock = Arc::new(faultline_engine::clock::SystemClock);
    let server = faultline_engine::Server::start_with(&dir.path().join("e.db"), "127.0.0.1:0", clock, options)
        .await
        .unwrap();
    let c = Client::new(format!("http://{}", server.addr));
    Twin { _dir: dir, server, c }
}

async fn arm(c: &Client, spec: Value) -> u64 {
    let (s, v) = c.post("/api/v1/admin/faults", &spec).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_u64().unwrap()
}

async fn wait_holding(c: &Client, id: u64) {
    eventually("a request waits in the hold", Duration::from_secs(5), || async {
        let (_, v) = c.get("/api/v1/admin/faults").await;
        v["faults"].as_array().unwrap().iter().any(|f| f["id"] == id && f["holding"].as_u64() == Some(1))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_write_runs_a_workflow_with_an_activity_and_a_timer() {
    let t = twin(Mode::DualWrite, DualOrder::AfterCommit).await;
    let c = &t.c;
    let (s, v) = c.get("/api/v1/admin/mode").await;
    assert_eq!((s, v["mode"].as_str(), v["ack"].as_str()), (StatusCode::OK, Some("dual-write"), Some("late")));
    c.start("dw-1", "Order", "orders", json!({})).await;
    let wft = c.next_wft("orders").await;
    let (s, _) = c.complete_wft(&wft.task_token, vec![activity(1, "charge", ActivityOptions::default())]).await;
    assert_eq!(s, StatusCode::OK);
    let a = c.next_activity("orders").await;
    assert_eq!((a.seq, a.activity_type.as_str()), (1, "charge"));
    assert_eq!(c.complete_activity(&a.task_token, json!("charged")).await.0, StatusCode::OK);
    let wft = c.next_wft("orders").await;
    let (s, _) = c.complete_wft(&wft.task_token, vec![Command::StartTimer { seq: 2, duration_ms: 50 }]).await;
    assert_eq!(s, StatusCode::OK);
    let wft = c.next_wft("orders").await;
    assert!(kinds(&wft.history).contains(&"timer_fired"), "{:?}", kinds(&wft.history));
    let (s, _) = c.complete_wft(&wft.task_token, vec![Command::CompleteWorkflow { result: json!("done") }]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = c.result("dw-1", 5_000).await;
    assert_eq!((s, r.status), (StatusCode::OK, WorkflowStatus::Completed));
    assert_gapless(&c.history("dw-1").await);
    let (_, v) = c.get("/api/v1/admin/deliveries").await;
    let deliveries = v["deliveries"].as_array().unwrap();
    assert!(deliveries.len() >= 5, "{v}");
    assert!(deliveries.iter().all(|d| d["early"] == false), "after-commit never delivers early: {v}");
    // Every delivered message was acked; what is left are the timeout timers of the tasks
    // (delayed messages due in 10 s, which will fire as stale timers and be acked).
    eventually("every delivered message acked", Duration::from_secs(5), || async {
        let (_, v) = c.get("/api/v1/admin/queue").await;
        v["depth"]["leased"] == 0 && v["depth"]["acked"] == 5 // 3 workflow tasks, 1 activity, 1 timer
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_actions_error_delay_and_hold_release() {
    let t = twin(Mode::DualWrite, DualOrder::AfterCommit).await;
    let c = &t.c;
    // error after the state commit: the request fails, the run is committed, its task is lost.
    let id = arm(c, json!({"point": "after_state_commit", "action": "error", "workflow_id_prefix": "err-"})).await;
    let (s, v) = c.post(paths::WORKFLOWS, &json!({"workflow_id": "err-1", "workflow_type": "T", "task_queue": "f"})).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    assert!(v["message"].as_str().unwrap().contains("after_state_commit"), "{v}");
    assert_eq!(c.describe("err-1").await.summary.status, WorkflowStatus::Running, "the state committed");
    assert!(c.poll_wft("f", 300).await.is_none(), "its workflow task never reached the queue");
    let (_, v) = c.get("/api/v1/admin/faults").await;
    assert_eq!(v["faults"][0]["fired"], 1, "{v}");
    // delay before the state commit.
    arm(c, json!({"point": "before_state_commit", "action": "delay", "delay_ms": 300, "workflow_type": "Slow"})).await;
    let started = Instant::now();
    c.start("slow-1", "Slow", "f", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    // hold until released.
    let hold = arm(c, json!({"point": "before_state_commit", "action": "hold", "workflow_id_prefix": "hold-"})).await;
    let c2 = c.clone();
    let held = tokio::spawn(async move { c2.start("hold-1", "T", "f", json!({})).await });
    wait_holding(c, hold).await;
    assert!(!held.is_finished());
    let (s, v) = c.post(&format!("/api/v1/admin/faults/{hold}/release"), &json!({})).await;
    assert_eq!((s, v["released"].as_u64()), (StatusCode::OK, Some(1)), "{v}");
    assert!(held.await.unwrap().started);
    let (_, v) = c.get("/api/v1/admin/faults/fired").await;
    let points: Vec<&str> = v["fired"].as_array().unwrap().iter().map(|f| f["point"].as_str().unwrap()).collect();
    assert_eq!(points, ["after_state_commit", "before_state_commit", "before_state_commit"], "{v}");
    assert_eq!(v["fired"][2]["workflow_id"], "hold-1");
    // disarm.
    let r = c.http.delete(format!("{}/api/v1/admin/faults/{id}", c.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = c.http.delete(format!("{}/api/v1/admin/faults/{id}", c.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (s, _) = c.post("/api/v1/admin/faults", &json!({"point": "nowhere", "action": "crash"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_task_enqueue_first_delivers_before_the_state_commits() {
    let t = twin(Mode::DualWrite, DualOrder::EnqueueFirst).await;
    let c = &t.c;
    let hold = arm(c, json!({"point": "before_state_commit", "action": "hold", "workflow_id_prefix": "early-"})).await;
    let c2 = c.clone();
    let start = tokio::spawn(async move { c2.start("early-1", "T", "e", json!({})).await });
    wait_holding(c, hold).await;
    let c3 = c.clone();
    let poll = tokio::spawn(async move { c3.poll_wft("e", 10_000).await });
    eventually("the task is delivered while the state is held", Duration::from_secs(5), || async {
        let (_, v) = c.get("/api/v1/admin/deliveries").await;
        !v["deliveries"].as_array().unwrap().is_empty()
    })
    .await;
    let (_, v) = c.get("/api/v1/admin/deliveries").await;
    let d = &v["deliveries"][0];
    assert_eq!((d["kind"].as_str(), d["early"].as_bool()), (Some("workflow"), Some(true)), "{v}");
    assert_eq!(d["committed_event_id"], 0, "the run was not even visible: {v}");
    assert_eq!(d["created_event_id"], 2, "created by workflow_task_scheduled: {v}");
    c.post(&format!("/api/v1/admin/faults/{hold}/release"), &json!({})).await;
    assert!(start.await.unwrap().started);
    let wft = poll.await.unwrap().expect("handed out once the state committed");
    assert_eq!(kinds(&wft.history), ["workflow_started", "workflow_task_scheduled", "workflow_task_started"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_task_is_impossible_in_transactional_mode() {
    let t = twin(Mode::Transactional, DualOrder::AfterCommit).await;
    let c = &t.c;
    let hold = arm(c, json!({"point": "before_commit", "action": "hold", "workflow_id_prefix": "early-"})).await;
    let c2 = c.clone();
    let start = tokio::spawn(async move { c2.start("early-1", "T", "e", json!({})).await });
    wait_holding(c, hold).await;
    assert!(c.poll_wft("e", 300).await.is_none(), "no task exists before its state commits");
    c.post(&format!("/api/v1/admin/faults/{hold}/release"), &json!({})).await;
    assert!(start.await.unwrap().started);
    let wft = c.next_wft("e").await;
    assert_eq!(kinds(&wft.history), ["workflow_started", "workflow_task_scheduled", "workflow_task_started"]);
    let (s, _) = c.get("/api/v1/admin/deliveries").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no separate queue in transactional mode");
    let r = c.http.get(format!("{}/healthz", c.base)).send().await.unwrap();
    assert_eq!(r.headers()["x-faultline-mode"], "transactional");
}

/// The real binary, with extra arguments and faults armed at start.
struct Proc1 {
    child: Child,
    c: Client,
}

impl Proc1 {
    fn spawn(db: &Path, args: &[&str], faults: Option<&str>) -> Proc1 {
        let env: Vec<(&str, &str)> = faults.map(|f| ("FAULTLINE_FAULTS", f)).into_iter().collect();
        let (child, addr) = spawn_engine(db, args, &env);
        Proc1 { child, c: Client::new(format!("http://{addr}")) }
    }
}

impl Drop for Proc1 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Schedules activity `charge` through a workflow task completion the engine crashes in.
async fn crash_while_scheduling(p: &mut Proc1) {
    let c = &p.c;
    c.start("lost-1", "Order", "l", json!({})).await;
    let wft = c.next_wft("l").await;
    let req = CompleteWorkflowTaskRequest {
        task_token: wft.task_token,
        commands: vec![activity(1, "charge", ActivityOptions::default())],
        eager: None,
    };
    let sent = c.http.post(format!("{}{}", c.base, paths::WORKFLOW_TASK_COMPLETE)).json(&req).send().await;
    assert!(sent.is_err(), "the engine crashed before answering: {sent:?}");
    let status = p.child.wait().unwrap();
    assert!(!status.success(), "aborted: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_task_crash_after_state_commit_in_dual_write_only() {
    let fault = r#"[{"point":"after_state_commit","action":"crash","activity_type":"charge"}]"#;
    let dw = ["--mode", "dual-write", "--visibility-timeout-ms", "200"];
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("dw.db");
    let mut p = Proc1::spawn(&db, &dw, Some(fault));
    crash_while_scheduling(&mut p).await;
    drop(p);
    let p = Proc1::spawn(&db, &dw, None);
    let d = p.c.describe("lost-1").await;
    assert_eq!(d.pending_activities.len(), 1, "committed as scheduled");
    assert_eq!(d.pending_activities[0].state, PendingActivityState::Scheduled);
    assert!(p.c.poll_activity("l", 1_500).await.is_none(), "but the queue never had the task: stuck");
    assert_eq!(p.c.describe("lost-1").await.pending_activities[0].state, PendingActivityState::Scheduled);
    drop(p);

    // The transactional mirror: the task committed with the state.
    let fault = r#"[{"point":"after_commit_before_reply","action":"crash","activity_type":"charge"}]"#;
    let db = dir.path().join("tx.db");
    let mut p = Proc1::spawn(&db, &[], Some(fault));
    crash_while_scheduling(&mut p).await;
    drop(p);
    let p = Proc1::spawn(&db, &[], None);
    let a = p.c.poll_activity("l", 5_000).await.expect("nothing lost: the task committed with the state");
    assert_eq!((a.seq, a.activity_type.as_str()), (1, "charge"));
}

/// Schedules activity `charge` for a new run of `id` on queue `q`.
async fn schedule_charge(c: &Client, id: &str, q: &str) {
    c.start(id, "Order", q, json!({})).await;
    let wft = c.next_wft(q).await;
    let (s, v) = c.complete_wft(&wft.task_token, vec![activity(1, "charge", ActivityOptions::default())]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_execution_completion_committed_then_no_ack() {
    let t = twin_with(Mode::DualWrite, DualOptions { lease_ms: 300, ..Default::default() }).await;
    let c = &t.c;
    schedule_charge(c, "dup-1", "d").await;
    arm(c, json!({"point": "after_complete_before_ack", "action": "error", "activity_type": "charge"})).await;
    let a = c.next_activity("d").await;
    let (s, _) = c.complete_activity(&a.task_token, json!("charged")).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "committed, but the ack failed");
    let again = c.poll_activity("d", 5_000).await.expect("redelivered once the lease expired");
    assert_eq!((again.seq, &again.task_token), (1, &a.task_token), "the same task, executed a second time");
    let (s, v) = c.complete_activity(&again.task_token, json!("charged")).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("stale_task_token")), "the state refuses the copy");
    let (_, v) = c.get("/api/v1/admin/deliveries").await;
    let activity: Vec<&Value> = v["deliveries"].as_array().unwrap().iter().filter(|d| d["kind"] == "activity").collect();
    assert_eq!(activity.iter().map(|d| d["delivery"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2], "{v}");
    assert!(c.poll_activity("d", 600).await.is_none(), "the refused copy's report acked the message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghost_task_enqueued_then_the_state_rolls_back() {
    let t = twin(Mode::DualWrite, DualOrder::EnqueueFirst).await;
    let c = &t.c;
    arm(c, json!({"point": "after_enqueue_before_commit", "action": "error", "workflow_id_prefix": "ghost-"})).await;
    let (s, _) = c.post(paths::WORKFLOWS, &json!({"workflow_id": "ghost-1", "workflow_type": "T", "task_queue": "g"})).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    let (s, _) = c.get("/api/v1/workflows/ghost-1").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the state rolled back");
    assert!(c.poll_wft("g", 500).await.is_none(), "the state cannot start it, so it is dropped");
    let (_, v) = c.get("/api/v1/admin/deliveries").await;
    let d = &v["deliveries"][0];
    assert_eq!((d["committed_event_id"].as_u64(), d["early"].as_bool()), (Some(0), Some(true)), "delivered for a run that never committed: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_completion_early_ack_then_failure() {
    let t = twin_with(Mode::DualWrite, DualOptions { ack: AckMode::Early, lease_ms: 200, ..Default::default() }).await;
    let c = &t.c;
    schedule_charge(c, "ack-1", "k").await;
    arm(c, json!({"point": "after_ack_before_complete", "action": "error", "activity_type": "charge"})).await;
    let (s, _) = c.post(paths::ACTIVITY_TASK_POLL, &json!({"task_queue": "k", "worker": "w", "timeout_ms": 2000})).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "acked on receipt, then the delivery failed");
    assert!(c.poll_activity("k", 800).await.is_none(), "acked: never redelivered");
    let d = c.describe("ack-1").await;
    assert_eq!(d.pending_activities[0].state, PendingActivityState::Scheduled, "stuck on an activity nobody has");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_error_and_delay_points() {
    let t = twin(Mode::Transactional, DualOrder::AfterCommit).await;
    let c = &t.c;
    arm(c, json!({"point": "before_commit", "action": "error", "workflow_id_prefix": "a-"})).await;
    let (s, _) = c.post(paths::WORKFLOWS, &json!({"workflow_id": "a-1", "workflow_type": "T", "task_queue": "t"})).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(c.get("/api/v1/workflows/a-1").await.0, StatusCode::NOT_FOUND, "nothing committed");
    arm(c, json!({"point": "after_commit_before_reply", "action": "error", "workflow_id_prefix": "b-"})).await;
    let (s, _) = c.post(paths::WORKFLOWS, &json!({"workflow_id": "b-1", "workflow_type": "T", "task_queue": "t"})).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "an unanswered commit");
    let wft = c.next_wft("t").await;
    assert_eq!(wft.workflow_id, "b-1", "committed with its task");
    arm(c, json!({"point": "after_commit_before_reply", "action": "delay", "delay_ms": 250, "workflow_type": "D"})).await;
    let started = Instant::now();
    c.start("d-1", "D", "t", json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_timer_state_committed_then_no_enqueue() {
    let t = twin(Mode::DualWrite, DualOrder::AfterCommit).await;
    let c = &t.c;
    // Hits of after_state_commit for this type: the start (1), the workflow task's start (2),
    // the completion that starts the timer (3).
    arm(c, json!({"point": "after_state_commit", "action": "error", "workflow_type": "Sleepy", "nth": 3})).await;
    c.start("sleep-1", "Sleepy", "s", json!({})).await;
    let wft = c.next_wft("s").await;
    let (s, _) = c.complete_wft(&wft.task_token, vec![Command::StartTimer { seq: 1, duration_ms: 50 }]).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(c.describe("sleep-1").await.pending_timers.len(), 1, "committed as sleeping");
    assert!(c.poll_wft("s", 800).await.is_none(), "past its fire time, nothing fired");
    assert!(!kinds(&c.history("sleep-1").await).contains(&"timer_fired"));
}

/// `transition = "start_timer"` picks the completion that starts a timer, on both modes; on
/// the transactional engine the report's workflow type is read from the state (the report
/// carries only its token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_match_picks_the_timer_start_on_both_modes() {
    for (mode, point) in [(Mode::DualWrite, "after_state_commit"), (Mode::Transactional, "after_commit_before_reply")] {
        let t = twin(mode, DualOrder::AfterCommit).await;
        let c = &t.c;
        arm(c, json!({"point": point, "action": "error", "workflow_type": "Sleepy", "transition": "start_timer"})).await;
        c.start("sleep-1", "Sleepy", "s", json!({})).await;
        let wft = c.next_wft("s").await;
        let (s, _) = c.complete_wft(&wft.task_token, vec![Command::StartTimer { seq: 1, duration_ms: 50 }]).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{mode:?}: the timer's start is the one hit");
        let (_, v) = c.get("/api/v1/admin/faults/fired").await;
        assert_eq!(v["fired"].as_array().unwrap().len(), 1, "{mode:?}: {v}");
        assert_eq!((v["fired"][0]["workflow_id"].as_str(), v["fired"][0]["workflow_type"].as_str()), (Some("sleep-1"), Some("Sleepy")), "{v}");
        let fired = kinds(&c.history("sleep-1").await).contains(&"timer_fired");
        if mode == Mode::Transactional {
            // The timer committed with the state: it fires, and its workflow task follows.
            c.next_wft("s").await;
            assert!(kinds(&c.history("sleep-1").await).contains(&"timer_fired"), "{mode:?}");
        } else {
            assert!(c.poll_wft("s", 800).await.is_none(), "past its fire time, nothing fired");
            assert!(!fired, "{mode:?}: the timer never reached the queue");
        }
    }
}

/// `transition = "complete_activity"` passes the completion that schedules the activity and
/// fires at the activity's own report, whose type the transactional engine reads from the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_match_picks_the_activity_report_not_its_scheduling() {
    for (mode, point) in [(Mode::DualWrite, "after_complete_before_ack"), (Mode::Transactional, "after_commit_before_reply")] {
        let t = twin_with(mode, DualOptions { lease_ms: 300, ..Default::default() }).await;
        let c = &t.c;
        arm(c, json!({"point": point, "action": "error", "activity_type": "charge", "transition": "complete_activity"})).await;
        schedule_charge(c, "rep-1", "r").await;
        let a = c.next_activity("r").await;
        let (s, _) = c.complete_activity(&a.task_token, json!("charged")).await;
        assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{mode:?}: committed, then the fault");
        let (_, v) = c.get("/api/v1/admin/faults/fired").await;
        assert_eq!(v["fired"][0]["activity_types"], json!(["charge"]), "{mode:?}: {v}");
        assert_eq!(v["fired"][0]["workflow_id"], "rep-1", "{mode:?}: {v}");
        assert!(kinds(&c.history("rep-1").await).contains(&"activity_completed"), "{mode:?}");
    }
}

/// The twin's order switches at runtime (`POST /api/v1/admin/mode`): the next transition
/// publishes first, so its task can be delivered before its state is visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dual_write_order_switches_at_runtime() {
    let t = twin(Mode::DualWrite, DualOrder::AfterCommit).await;
    let c = &t.c;
    let (s, v) = c.post("/api/v1/admin/mode", &json!({"dual_write_order": "sideways"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("enqueue-first"), "{v}");
    let (s, v) = c.post("/api/v1/admin/mode", &json!({"dual_write_order": "enqueue-first"})).await;
    assert_eq!((s, v["dual_write_order"].as_str()), (StatusCode::OK, Some("enqueue-first")), "{v}");
    assert_eq!(c.get("/api/v1/admin/mode").await.1["dual_write_order"], "enqueue-first");
    let hold = arm(c, json!({"point": "before_state_commit", "action": "hold", "workflow_id_prefix": "early-"})).await;
    let c2 = c.clone();
    let start = tokio::spawn(async move { c2.start("early-1", "T", "e", json!({})).await });
    wait_holding(c, hold).await;
    let c3 = c.clone();
    let poll = tokio::spawn(async move { c3.poll_wft("e", 10_000).await });
    eventually("the task is delivered while the state is held", Duration::from_secs(5), || async {
        let (_, v) = c.get("/api/v1/admin/deliveries").await;
        v["deliveries"].as_array().unwrap().iter().any(|d| d["early"] == true)
    })
    .await;
    c.post(&format!("/api/v1/admin/faults/{hold}/release"), &json!({})).await;
    assert!(start.await.unwrap().started);
    assert!(poll.await.unwrap().is_some(), "handed out once the state committed");
    let tx = twin(Mode::Transactional, DualOrder::AfterCommit).await;
    let (s, _) = tx.c.post("/api/v1/admin/mode", &json!({"dual_write_order": "enqueue-first"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "one commit, no order to switch");
}
