//! API tests over real HTTP on 127.0.0.1:0 against an in-process engine on a real SQLite file.

mod common;

use std::time::Duration;

use common::*;
use faultline_proto::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thin_path_history_and_stream() {
    let e = engine().await;
    let c = &e.c;
    let started = c.start("order-1", "Order", "orders", json!({"amount": 5})).await;
    assert!(started.started);
    let t = c.next_wft("orders").await;
    assert_eq!(kinds(&t.history), ["workflow_started", "workflow_task_scheduled", "workflow_task_started"]);
    let (s, _) = c.complete_wft(&t.task_token, vec![activity(1, "charge", ActivityOptions::default())]).await;
    assert_eq!(s, StatusCode::OK);
    let a = c.next_activity("orders").await;
    assert_eq!((a.seq, a.attempt, a.idempotency_key.clone()), (1, 1, format!("{}:1", started.run_id)));
    assert_eq!(c.complete_activity(&a.task_token, json!({"charged": 5})).await.0, StatusCode::OK);
    let t = c.next_wft("orders").await;
    let (s, _) = c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!("shipped") }]).await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = c.result("order-1", 5_000).await;
    assert_eq!((s, r.status, r.result), (StatusCode::OK, WorkflowStatus::Completed, Some(json!("shipped"))));
    let history = c.history("order-1").await;
    assert_gapless(&history);
    assert_eq!(history.last().unwrap().kind.name(), "workflow_completed");
    // The stream carries exactly the committed events, in order, resumable without gap or dup.
    let all = c.stream(None, None, history.len(), Duration::from_secs(5)).await;
    assert_eq!(all.iter().map(|e| e.event.clone()).collect::<Vec<_>>(), history);
    let cursors: Vec<u64> = all.iter().map(|e| e.cursor).collect();
    assert!(cursors.windows(2).all(|w| w[1] == w[0] + 1), "cursors are gapless: {cursors:?}");
    let resumed = c.stream(Some(cursors[4]), None, 3, Duration::from_secs(5)).await;
    assert_eq!(resumed.iter().map(|e| e.cursor).collect::<Vec<_>>(), cursors[5..8].to_vec());
    let by_header = c.stream(None, Some(cursors[6]), 2, Duration::from_secs(5)).await;
    assert_eq!(by_header[0].cursor, cursors[7]);
    // An EventSource reconnect keeps its first URL and adds Last-Event-ID: the later one wins.
    let reconnect = c.stream(Some(0), Some(cursors[6]), 1, Duration::from_secs(5)).await;
    assert_eq!(reconnect[0].cursor, cursors[7]);
    // Duplicate completion: stale.
    let (s, v) = c.complete_activity(&a.task_token, json!(1)).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("stale_task_token")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_4xx() {
    let e = engine().await;
    let c = &e.c;
    let (s, v) = c.post_raw(paths::WORKFLOWS, "{not json").await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    assert!(v["message"].as_str().unwrap().contains("not valid JSON"));
    let (s, v) = c.post(paths::WORKFLOWS, &json!({"workflow_id": "x"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = c.post(paths::WORKFLOWS, &json!({"workflow_id": "", "workflow_type": "T", "task_queue": "q"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let answer = announce_oversized_body(&c.base).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    let (s, v) = c.get(&paths::workflow("nope")).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, _) = c.signal("nope", "x", json!(1)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = c.complete_wft("garbage", vec![]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")));
    let (s, v) = c.complete_wft("00000000-0000-0000-0000-000000000000~w~1", vec![]).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("stale_task_token")));
    let opts = json!({"workflow_id": "x", "workflow_type": "T", "task_queue": "q", "options": {"task_timeout_ms": 0}});
    let (s, v) = c.post(paths::WORKFLOWS, &opts).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["message"].as_str().unwrap().contains("task_timeout_ms"));
    let (s, _) = c.get("/api/v1/workflows?status=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, v) = c.get("/api/v1/nothing-here").await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
    let (s, _) = c.get("/api/v1/events?after=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = c.post(&paths::retry_now("nope", 1), &json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The engine still works after all that.
    c.start("after-bad-input", "T", "q", json!(null)).await;
    assert_eq!(c.get(paths::HEALTH).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_id_conflict_never_creates_a_second_run() {
    let e = engine().await;
    let c = &e.c;
    let first = c.start("dup", "T", "q", json!(null)).await;
    let req = json!({"workflow_id": "dup", "workflow_type": "T", "task_queue": "q"});
    let (s, v) = c.post(paths::WORKFLOWS, &req).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));
    let req = json!({"workflow_id": "dup", "workflow_type": "T", "task_queue": "q", "id_conflict": "use_existing"});
    let (s, v) = c.post(paths::WORKFLOWS, &req).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((v["run_id"].as_str(), v["started"].as_bool()), (Some(first.run_id.as_str()), Some(false)));
    let list: ListWorkflowsResponse = c.get_as("/api/v1/workflows?status=running").await;
    assert_eq!(list.workflows.iter().filter(|w| w.workflow_id == "dup").count(), 1);
    // Terminated: the id can start again.
    assert_eq!(c.post(&paths::terminate("dup"), &json!({"reason": "test"})).await.0, StatusCode::OK);
    let second = c.start("dup", "T", "q", json!(null)).await;
    assert_ne!(second.run_id, first.run_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_and_signal_with_start() {
    let e = engine().await;
    let c = &e.c;
    let body = json!({"start": {"workflow_id": "sws", "workflow_type": "T", "task_queue": "sq"}, "signal": {"name": "add", "payload": 1}});
    let (s, v) = c.post(paths::SIGNAL_WITH_START, &body).await;
    assert_eq!((s, v["started"].as_bool()), (StatusCode::OK, Some(true)));
    let (s, v) = c.post(paths::SIGNAL_WITH_START, &body).await;
    assert_eq!((s, v["started"].as_bool()), (StatusCode::OK, Some(false)));
    let t = c.next_wft("sq").await;
    assert_eq!(
        kinds(&t.history),
        ["workflow_started", "workflow_task_scheduled", "workflow_signaled", "workflow_signaled", "workflow_task_started"]
    );
    // A signal while the task runs: the closing command is refused and a new task replays it.
    c.signal("sws", "late", json!(3)).await;
    c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!(1) }]).await;
    let t = c.next_wft("sq").await;
    assert!(kinds(&t.history).contains(&"workflow_task_failed"));
    assert_eq!(t.history.iter().filter(|e| e.kind.name() == "workflow_signaled").count(), 3);
    c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!(3) }]).await;
    assert_eq!(c.result("sws", 5000).await.1.result, Some(json!(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_retries_are_recorded_and_retry_now_skips_the_backoff() {
    let e = engine().await;
    let c = &e.c;
    c.start("retry", "T", "rq", json!(null)).await;
    let t = c.next_wft("rq").await;
    let policy = RetryPolicy { initial_interval_ms: 60_000, ..Default::default() };
    let opts = ActivityOptions { retry_policy: policy, ..Default::default() };
    c.complete_wft(&t.task_token, vec![activity(1, "pay", opts)]).await;
    let a = c.next_activity("rq").await;
    c.fail_activity(&a.task_token, "payment service down").await;
    let d = c.describe("retry").await;
    let p = &d.pending_activities[0];
    assert_eq!((p.state, p.attempt), (PendingActivityState::Backoff, 2));
    assert_eq!(p.last_failure.as_ref().unwrap().message, "payment service down");
    assert!(p.next_retry_at_ms.unwrap() > d.summary.started_at_ms + 50_000);
    assert_eq!(d.summary.retrying_activities, 1);
    assert!(c.poll_activity("rq", 200).await.is_none(), "in backoff: nothing to dispatch");
    assert_eq!(c.post(&paths::retry_now("retry", 1), &json!({})).await.0, StatusCode::OK);
    let a2 = c.poll_activity("rq", 2000).await.expect("retry-now dispatches at once");
    assert_eq!(a2.attempt, 2);
    c.complete_activity(&a2.task_token, json!("paid")).await;
    let attempts: Vec<ActivityAttempt> = c.get_as(&paths::attempts("retry", 1)).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!((attempts[0].outcome.as_str(), attempts[1].outcome.as_str()), ("failed", "completed"));
    assert!(attempts[0].next_retry_at_ms.is_some());
    let h = c.history("retry").await;
    assert!(h.iter().any(|e| matches!(&e.kind, EventKind::ActivityFailed { next_retry_at_ms: Some(_), .. })));
    assert_eq!(h.iter().filter(|e| e.kind.name() == "activity_started").count(), 2);
    assert_eq!(h.last().unwrap().kind.name(), "workflow_task_scheduled");
    // retry-now on an activity that is not waiting: conflict.
    assert_eq!(c.post(&paths::retry_now("retry", 1), &json!({})).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_and_workflow_task_timeout() {
    let e = engine().await;
    let c = &e.c;
    let opts = WorkflowOptions { task_timeout_ms: Some(300), ..Default::default() };
    c.start_with("tm", "T", "tq", json!(null), opts).await;
    let first = c.next_wft("tq").await;
    // The worker "dies": the task times out and is dispatched again with attempt 2.
    let again = c.next_wft("tq").await;
    assert_eq!(again.attempt, 2);
    assert!(kinds(&again.history).contains(&"workflow_task_timed_out"));
    assert_eq!(c.complete_wft(&first.task_token, vec![]).await.0, StatusCode::CONFLICT);
    c.complete_wft(&again.task_token, vec![Command::StartTimer { seq: 1, duration_ms: 300 }]).await;
    let d = c.describe("tm").await;
    assert_eq!(d.pending_timers.len(), 1);
    let t = c.next_wft("tq").await;
    assert!(kinds(&t.history).contains(&"timer_fired"));
    let started = t.history.iter().find_map(|e| match e.kind { EventKind::TimerStarted { fire_at_ms, .. } => Some(fire_at_ms), _ => None }).unwrap();
    let fired = t.history.iter().find(|e| e.kind.name() == "timer_fired").unwrap().timestamp_ms;
    assert!(fired >= started, "a timer never fires early");
    c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!(null) }]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_cancel_terminate_and_continue_as_new() {
    let e = engine().await;
    let c = &e.c;
    c.start("parent", "P", "cq", json!(null)).await;
    let t = c.next_wft("cq").await;
    let child = |seq, policy| Command::StartChildWorkflow {
        seq,
        workflow_type: "C".into(),
        workflow_id: None,
        task_queue: None,
        input: json!(seq),
        options: WorkflowOptions::default(),
        parent_close_policy: policy,
    };
    c.complete_wft(&t.task_token, vec![child(1, ParentClosePolicy::Terminate), child(2, ParentClosePolicy::Abandon)]).await;
    // The children's first tasks and the parent's (child started) all come from one queue.
    let mut child1 = None;
    for _ in 0..3 {
        let t = c.next_wft("cq").await;
        if t.workflow_id == "parent/1" {
            child1 = Some(t);
        } else if t.workflow_id == "parent" {
            assert!(kinds(&t.history).contains(&"child_workflow_started"));
            c.complete_wft(&t.task_token, vec![]).await;
        } else {
            assert_eq!(t.workflow_id, "parent/2");
            c.complete_wft(&t.task_token, vec![]).await;
        }
    }
    let child1 = child1.unwrap();
    assert_eq!(child1.history[0].kind.name(), "workflow_started");
    let d = c.describe("parent").await;
    assert_eq!(d.children.len(), 2);
    c.complete_wft(&child1.task_token, vec![Command::CompleteWorkflow { result: json!("c1") }]).await;
    let t = c.next_wft("cq").await;
    assert_eq!(t.workflow_id, "parent");
    assert!(kinds(&t.history).contains(&"child_workflow_completed"));
    // A cancel request while the task runs: its closing command (continue-as-new) is refused
    // because the code has not seen the request yet.
    c.post(&paths::cancel("parent"), &json!({"reason": "user"})).await;
    c.complete_wft(&t.task_token, vec![Command::ContinueAsNew { input: json!("next"), workflow_type: None }]).await;
    let t = c.next_wft("cq").await;
    assert_eq!(kinds(&t.history).iter().filter(|k| **k == "workflow_task_failed").count(), 1);
    // The code decides to continue as new anyway; the result follows the chain.
    let old_run = t.run_id.clone();
    c.complete_wft(&t.task_token, vec![Command::ContinueAsNew { input: json!("next"), workflow_type: None }]).await;
    let (s, r) = c.result("parent", 100).await;
    assert_eq!((s, r.status), (StatusCode::ACCEPTED, WorkflowStatus::Running));
    assert_ne!(r.run_id, old_run);
    let t = c.next_wft("cq").await;
    assert_eq!((t.workflow_id.as_str(), t.run_id.as_str()), ("parent", r.run_id.as_str()));
    assert_eq!(t.history[0].event_id, 1);
    c.complete_wft(&t.task_token, vec![]).await;
    c.post(&paths::cancel("parent"), &json!({})).await;
    let t = c.next_wft("cq").await;
    assert!(kinds(&t.history).contains(&"workflow_cancel_requested"));
    c.complete_wft(&t.task_token, vec![Command::CancelWorkflow { details: json!(null) }]).await;
    let (s, r) = c.result("parent", 5000).await;
    assert_eq!((s, r.status), (StatusCode::OK, WorkflowStatus::Canceled));
    // Child 2 (abandon) keeps running; terminate it by hand.
    assert_eq!(c.describe("parent/2").await.summary.status, WorkflowStatus::Running);
    c.post(&paths::terminate("parent/2"), &json!({"reason": "done"})).await;
    assert_eq!(c.describe("parent/2").await.summary.status, WorkflowStatus::Terminated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_close_terminates_children_in_the_same_transaction() {
    let e = engine().await;
    let c = &e.c;
    c.start("p2", "P", "pq", json!(null)).await;
    let t = c.next_wft("pq").await;
    let cmd = Command::StartChildWorkflow {
        seq: 1,
        workflow_type: "C".into(),
        workflow_id: Some("p2-child".into()),
        task_queue: Some("pq-child".into()),
        input: json!(null),
        options: WorkflowOptions::default(),
        parent_close_policy: ParentClosePolicy::Terminate,
    };
    c.complete_wft(&t.task_token, vec![cmd]).await;
    let t = c.next_wft("pq").await;
    c.complete_wft(&t.task_token, vec![Command::FailWorkflow { failure: Failure::new("boom") }]).await;
    // Committed together: as soon as the parent is failed, the child is terminated.
    assert_eq!(c.describe("p2").await.summary.status, WorkflowStatus::Failed);
    assert_eq!(c.describe("p2-child").await.summary.status, WorkflowStatus::Terminated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_start_workflows_and_skip_overlaps() {
    let e = engine().await;
    let c = &e.c;
    let spec = json!({"schedule_id": "tick", "interval_ms": 200,
        "start": {"workflow_id": "tick", "workflow_type": "Tick", "task_queue": "sched"}});
    let (s, v) = c.post(paths::SCHEDULES, &spec).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    eventually("the schedule skipped an overlapping start", Duration::from_secs(10), || async {
        let info: ScheduleInfo = c.get_as(&paths::schedule("tick")).await;
        info.skipped >= 2
    })
    .await;
    // Only one run at a time: the first is still running, the others were skipped.
    let list: ListWorkflowsResponse = c.get_as("/api/v1/workflows?status=running").await;
    assert_eq!(list.workflows.iter().filter(|w| w.workflow_type == "Tick").count(), 1);
    let (s, _) = c.post(paths::SCHEDULES, &json!({"schedule_id": "bad", "cron": "nope",
        "start": {"workflow_id": "x", "workflow_type": "T", "task_queue": "q"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let r = c.http.delete(format!("{}{}", c.base, paths::schedule("tick"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_are_visible_and_result_waits() {
    let e = engine().await;
    let c = &e.c;
    // A poll held open lists its worker; when the client goes away (the request is dropped,
    // as when a worker pod stops) the poller leaves the listing within about a second.
    let c2 = c.clone();
    let open = tokio::spawn(async move { c2.poll_wft("visible", 30_000).await });
    let q = faultline_testkit::wait::eventually("the open poll to be listed", Duration::from_secs(5), || async {
        let q: TaskQueueResponse = c.get_as(&paths::task_queue("visible")).await;
        (!q.pollers.is_empty()).then_some(q)
    })
    .await;
    assert_eq!(q.pollers.len(), 1);
    assert_eq!((q.pollers[0].worker.as_str(), q.pollers[0].kind.as_str()), ("test-worker", "workflow"));
    open.abort();
    faultline_testkit::wait::wait_until("the poller to leave", Duration::from_secs(5), || async {
        let q: TaskQueueResponse = c.get_as(&paths::task_queue("visible")).await;
        q.pollers.is_empty()
    })
    .await;
    c.start("waiter", "T", "visible", json!(null)).await;
    let q: TaskQueueResponse = c.get_as(&paths::task_queue("visible")).await;
    assert_eq!(q.backlog_workflow_tasks, 1);
    let c2 = c.clone();
    let waiting = tokio::spawn(async move { c2.result("waiter", 10_000).await });
    let t = c.next_wft("visible").await;
    c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!(42) }]).await;
    let (s, r) = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
    assert_eq!((s, r.result), (StatusCode::OK, Some(json!(42))), "the long poll wakes on commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_wait_answers_with_the_result() {
    let e = engine().await;
    let c = &e.c;
    let req = |id: &str| json!({ "workflow_id": id, "workflow_type": "T", "task_queue": "exec", "input": null });
    // Nothing runs it: the wait ends and the answer is a plain start, without a result.
    let (s, v) = c.post(&format!("{}?wait_ms=50", paths::WORKFLOWS), &req("idle")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let idle: StartWorkflowResponse = serde_json::from_value(v).unwrap();
    assert!(idle.started && idle.result.is_none(), "{idle:?}");
    assert!(c.next_wft("exec").await.workflow_id == "idle");

    let c2 = c.clone();
    let execute = tokio::spawn(async move { c2.post(&format!("{}?wait_ms=10000", paths::WORKFLOWS), &req("exec-1")).await });
    let t = c.next_wft("exec").await;
    assert_eq!(t.workflow_id, "exec-1");
    // A start refused (the id is running) is answered at once, not after the wait.
    let (long_wait, again) = (format!("{}?wait_ms=60000", paths::WORKFLOWS), req("exec-1"));
    let refused = tokio::time::timeout(Duration::from_secs(5), c.post(&long_wait, &again));
    let (s, v) = refused.await.expect("a refused start must not wait");
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!("done") }]).await;
    let (s, v) = tokio::time::timeout(Duration::from_secs(5), execute).await.unwrap().unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    let done: StartWorkflowResponse = serde_json::from_value(v).unwrap();
    let result = done.result.expect("the run closed within the wait");
    assert_eq!((result.status, result.result), (WorkflowStatus::Completed, Some(json!("done"))));
    let (s, v) = c.post(&format!("{}?wait_ms=soon", paths::WORKFLOWS), &json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_signals_and_markers() {
    let e = engine().await;
    let c = &e.c;
    c.start("receiver", "R", "xq-r", json!(null)).await;
    c.start("sender", "S", "xq-s", json!(null)).await;
    let t = c.next_wft("xq-s").await;
    let cmds = vec![
        Command::RecordMarker { seq: 1, name: "side-effect".into(), details: json!(7) },
        Command::SignalExternalWorkflow { seq: 2, workflow_id: "receiver".into(), name: "ping".into(), payload: json!(1) },
        Command::SignalExternalWorkflow { seq: 3, workflow_id: "nobody".into(), name: "ping".into(), payload: json!(1) },
    ];
    assert_eq!(c.complete_wft(&t.task_token, cmds).await.0, StatusCode::OK);
    let h = c.history("sender").await;
    assert_gapless(&h);
    assert!(h.iter().any(|e| matches!(&e.kind, EventKind::MarkerRecorded { seq: 1, .. })));
    assert!(h.iter().any(|e| matches!(&e.kind, EventKind::ExternalSignalSent { seq: 2, name, .. } if name == "ping")));
    assert!(h.iter().any(|e| matches!(&e.kind, EventKind::ExternalSignalFailed { seq: 3, .. })));
    let r = c.history("receiver").await;
    assert!(r.iter().any(|e| matches!(&e.kind, EventKind::WorkflowSignaled { name, .. } if name == "ping")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_timeout_retries_with_the_last_details() {
    let e = engine().await;
    let c = &e.c;
    c.start("hb", "T", "hbq", json!(null)).await;
    let t = c.next_wft("hbq").await;
    let opts = ActivityOptions {
        heartbeat_timeout_ms: Some(300),
        retry_policy: RetryPolicy { initial_interval_ms: 1, ..Default::default() },
        ..Default::default()
    };
    c.complete_wft(&t.task_token, vec![activity(1, "long", opts)]).await;
    let a = c.next_activity("hbq").await;
    assert_eq!(a.heartbeat_timeout_ms, Some(300));
    let (s, v) = c.post(paths::ACTIVITY_TASK_HEARTBEAT, &json!({"task_token": a.task_token, "details": {"done": 3}})).await;
    assert_eq!((s, v["cancel_requested"].as_bool()), (StatusCode::OK, Some(false)));
    // No more heartbeats: the attempt times out and the next one resumes from the details.
    let a2 = c.next_activity("hbq").await;
    assert_eq!((a2.attempt, a2.heartbeat_details.clone()), (2, Some(json!({"done": 3}))));
    let (s, v) = c.post(paths::ACTIVITY_TASK_HEARTBEAT, &json!({"task_token": a.task_token})).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("stale_task_token")));
    let h = c.history("hb").await;
    assert!(h.iter().any(|e| matches!(&e.kind,
        EventKind::ActivityTimedOut { timeout: TimeoutKind::Heartbeat, next_retry_at_ms: Some(_), .. })));
}

/// Announces a body over the limit and reads the answer without sending it: the engine
/// refuses on the declared length alone, and a client still writing the body would race
/// the close (a broken pipe instead of the 413).
async fn announce_oversized_body(base: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        paths::WORKFLOWS,
        paths::MAX_BODY_BYTES + 10
    );
    socket.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !String::from_utf8_lossy(&answer).contains("payload_too_large") {
        match tokio::time::timeout_at(deadline, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read: {e}"),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}
