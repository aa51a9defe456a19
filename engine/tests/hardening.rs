//! Issue 15 ("engine hardening") over real HTTP: one test per item found by a client written
//! from the README alone. Each failed before its fix.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use faultline_engine::engine::EngineOptions;
use faultline_engine::store::sqlite::durable::WalSync;
use faultline_proto::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str, mentions: &[&str]) {
    let (s, v) = got;
    assert_eq!((*s, v["code"].as_str()), (status, Some(code)), "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    for m in mentions {
        assert!(message.contains(m), "the message should mention {m:?}: {message}");
    }
}

/// Item 1: an interval of u64::MAX was accepted and the schedule then fired in a busy loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_interval_above_the_limit_is_refused() {
    let e = engine().await;
    let c = &e.c;
    for interval in [u64::MAX, 1 << 63, limits::MAX_DURATION_MS + 1] {
        let spec = json!({"schedule_id": "tick", "interval_ms": interval,
            "start": {"workflow_id": "tick", "workflow_type": "T", "task_queue": "q"}});
        let got = c.post(paths::SCHEDULES, &spec).await;
        assert_error(&got, StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &["interval_ms", "3155760000000"]);
    }
    let schedules: Vec<ScheduleInfo> = c.get_as(paths::SCHEDULES).await;
    assert!(schedules.is_empty());
}

/// Item 2: durations of 2^63 ms or more wrapped into the past (a run timed out 2 ms after
/// start, a negative `deadline_ms`). Every duration field now answers 400 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_above_the_limit_are_refused_naming_the_field() {
    let e = engine().await;
    let c = &e.c;
    for field in ["run_timeout_ms", "execution_timeout_ms", "task_timeout_ms"] {
        for v in [u64::MAX, 1 << 63, i64::MAX as u64] {
            let req = json!({"workflow_id": "d", "workflow_type": "T", "task_queue": "q", "options": {field: v}});
            let got = c.post(paths::WORKFLOWS, &req).await;
            assert_error(&got, StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &[&format!("options.{field}"), "maximum"]);
        }
    }
    c.start("d", "T", "dq", json!(null)).await;
    let t = c.next_wft("dq").await;
    for field in ["start_to_close_timeout_ms", "heartbeat_timeout_ms", "schedule_to_start_timeout_ms", "schedule_to_close_timeout_ms"] {
        let cmd = json!({"type": "schedule_activity", "seq": 1, "activity_type": "a", "input": null, "options": {field: u64::MAX}});
        let got = c.post(paths::WORKFLOW_TASK_COMPLETE, &json!({"task_token": t.task_token, "commands": [{"type": "record_marker", "seq": 9, "name": "m", "details": null}, cmd]})).await;
        assert_error(&got, StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &[&format!("commands[1].options.{field}")]);
    }
    // At the limit everything works, and the deadline is in the future.
    let opts = ActivityOptions { start_to_close_timeout_ms: Some(limits::MAX_DURATION_MS), ..Default::default() };
    assert_eq!(c.complete_wft(&t.task_token, vec![activity(1, "a", opts)]).await.0, StatusCode::OK);
    let a = c.next_activity("dq").await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    assert!(a.deadline_ms.unwrap() > now + 1_000_000_000, "{:?}", a.deadline_ms);
    // Queries too.
    let got = c.get(&format!("{}?wait_ms={}", paths::result("d"), u64::MAX)).await;
    assert_error(&got, StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &["wait_ms"]);
    let got = c.get(&format!("{}?after={}", paths::EVENTS, u64::MAX)).await;
    assert_error(&got, StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &["after"]);
}

/// Item 3: 405 answers had an empty body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn method_not_allowed_has_the_json_error_body() {
    let e = engine().await;
    let c = &e.c;
    let r = c.http.delete(format!("{}{}", c.base, paths::WORKFLOWS)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let v: Value = r.json().await.expect("a JSON body");
    assert_eq!(v["code"], codes::METHOD_NOT_ALLOWED);
    assert!(v["message"].as_str().unwrap().contains("DELETE"), "{v}");
}

/// Item 4: two engines on one database each cached run states and then collided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("one.db");
    let clock = Arc::new(faultline_engine::clock::SystemClock);
    let first = faultline_engine::Server::start(&db, "127.0.0.1:0", clock.clone()).await.unwrap();
    let second = faultline_engine::Server::start(&db, "127.0.0.1:0", clock.clone()).await;
    let message = second.err().expect("the second engine must refuse").to_string();
    let pid = std::process::id();
    assert!(message.contains(&format!("another faultline-engine (pid {pid}) holds DB")), "{message}");
    assert!(!message.contains("retry the request"), "{message}");
    // Once the first is gone, the database is free again.
    first.shutdown().await;
    let again = faultline_engine::Server::start(&db, "127.0.0.1:0", clock).await.expect("the lock was released");
    again.shutdown().await;
}

/// Item 5: a refused close answered `200 {"ok":true}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_close_says_so() {
    let e = engine().await;
    let c = &e.c;
    c.start("rc", "T", "rcq", json!(null)).await;
    let t = c.next_wft("rcq").await;
    c.signal("rc", "late", json!(1)).await;
    let got = c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!(1) }]).await;
    assert_error(&got, StatusCode::CONFLICT, codes::CLOSE_REFUSED, &["not applied"]);
    // The refusal committed: a new task replays the signal, and the run is still open.
    let t = c.next_wft("rcq").await;
    assert!(kinds(&t.history).contains(&"workflow_signaled"));
    assert_eq!(c.describe("rc").await.summary.status, WorkflowStatus::Running);
    // In a batch, the same answer in its place.
    c.signal("rc", "later", json!(2)).await;
    let report = TaskReport::CompleteWorkflowTask(CompleteWorkflowTaskRequest {
        task_token: t.task_token.clone(),
        commands: vec![Command::CompleteWorkflow { result: json!(2) }],
        eager: None,
    });
    let (s, v) = c.post(paths::TASK_REPORTS, &ReportBatchRequest { reports: vec![report] }).await;
    assert_eq!(s, StatusCode::OK);
    let results: ReportBatchResponse = serde_json::from_value(v).unwrap();
    let error = results.results[0].error.as_ref().expect("an error in place of the report");
    assert_eq!((error.status, error.code.as_str()), (409, codes::CLOSE_REFUSED));
}

/// Item 6: malformed command lists and ids were silently accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_commands_and_ids_are_refused_with_the_reason() {
    let e = engine().await;
    let c = &e.c;
    c.start("mc", "T", "mcq", json!(null)).await;
    let t = c.next_wft("mcq").await;
    let cases: Vec<(Vec<Command>, &str)> = vec![
        (vec![Command::CompleteWorkflow { result: json!(1) }, Command::StartTimer { seq: 1, duration_ms: 5 }], "commands[1] (start_timer) follows complete_workflow"),
        (vec![Command::CompleteWorkflow { result: json!(1) }, Command::FailWorkflow { failure: Failure::new("x") }], "commands[1] (fail_workflow)"),
        (vec![Command::CancelTimer { seq: 4 }], "commands[0] (cancel_timer) names seq 4"),
        (vec![Command::StartTimer { seq: 1, duration_ms: 5 }, Command::RequestCancelActivity { seq: 9 }], "commands[1] (request_cancel_activity) names seq 9"),
    ];
    for (commands, mention) in cases {
        let got = c.complete_wft(&t.task_token, commands).await;
        assert_error(&got, StatusCode::BAD_REQUEST, codes::MALFORMED_COMMANDS, &[mention]);
    }
    // None of them was applied: the task still completes normally.
    assert_eq!(c.complete_wft(&t.task_token, vec![]).await.0, StatusCode::OK);
    let got = c.signal("mc", "", json!(1)).await;
    assert_error(&got, StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &["name", "empty"]);
    for id in [".", ".."] {
        let got = c.post(paths::WORKFLOWS, &json!({"workflow_id": id, "workflow_type": "T", "task_queue": "q"})).await;
        assert_error(&got, StatusCode::BAD_REQUEST, codes::BAD_REQUEST, &["workflow_id"]);
    }
}

/// Item 7: startup errors ended with "the transition was not committed, retry the request".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("not-a-db.db");
    std::fs::write(&db, vec![b'x'; 8192]).unwrap();
    let clock = Arc::new(faultline_engine::clock::SystemClock);
    let err = faultline_engine::Server::start(&db, "127.0.0.1:0", clock.clone()).await.err().expect("refused").to_string();
    assert!(!err.contains("retry the request"), "{err}");
    assert!(err.starts_with("cannot start the engine") && err.contains("--db"), "{err}");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = busy.local_addr().unwrap().to_string();
    let good = dir.path().join("good.db");
    let err = faultline_engine::Server::start(&good, &taken, clock).await.err().expect("refused").to_string();
    assert!(err.contains("--listen") && !err.contains("retry the request"), "{err}");
}

/// Fails every fsync once armed: the fault injected into the fsync path.
#[derive(Default)]
struct FailingFsync(AtomicBool);

impl WalSync for FailingFsync {
    fn sync(&self, wal: &std::fs::File) -> std::io::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            Err(std::io::Error::other("injected EIO"))
        } else {
            wal.sync_data()
        }
    }
}

/// Item 8: after a failed fsync the engine went on writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_stops_writes_until_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fsync.db");
    let clock = Arc::new(faultline_engine::clock::SystemClock);
    let fault = Arc::new(FailingFsync::default());
    let options = EngineOptions { fsync: fault.clone(), ..Default::default() };
    let server = faultline_engine::Server::start_with(&db, "127.0.0.1:0", clock.clone(), options).await.unwrap();
    let c = Client::new(format!("http://{}", server.addr));
    c.start("durable", "T", "q", json!(null)).await;
    fault.0.store(true, Ordering::SeqCst);
    let req = json!({"workflow_id": "lost", "workflow_type": "T", "task_queue": "q"});
    let got = c.post(paths::WORKFLOWS, &req).await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, codes::STORE_FAILED, &["fsync", "restart"]);
    // The disk "recovered", but nothing more is written: the lost pages cannot be known.
    fault.0.store(false, Ordering::SeqCst);
    let got = c.post(paths::WORKFLOWS, &json!({"workflow_id": "after", "workflow_type": "T", "task_queue": "q"})).await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, codes::STORE_FAILED, &["stopped accepting writes"]);
    let got = c.get(paths::HEALTH).await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, codes::STORE_FAILED, &["fsync"]);
    // Reads of what was durable go on.
    assert_eq!(c.describe("durable").await.summary.status, WorkflowStatus::Running);
    server.shutdown().await;
    // A restart recovers.
    let server = faultline_engine::Server::start(&db, "127.0.0.1:0", clock).await.unwrap();
    let c = Client::new(format!("http://{}", server.addr));
    assert_eq!(c.get(paths::HEALTH).await.0, StatusCode::OK);
    assert_eq!(c.describe("durable").await.summary.status, WorkflowStatus::Running);
    c.start("after-restart", "T", "q", json!(null)).await;
    server.shutdown().await;
}

/// Item 11: with `Expect: 100-continue` the engine said "100 Continue" to an oversized body
/// and refused it only after reading 2 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_content_length_is_refused_before_the_body() {
    let e = engine().await;
    let addr = e.c.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        paths::WORKFLOWS,
        paths::MAX_BODY_BYTES * 5
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.expect("an answer without a body").unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "expected 413 before any body, got: {answer}");
    assert!(answer.contains(codes::PAYLOAD_TOO_LARGE), "{answer}");
}
