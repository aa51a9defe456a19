//! Batched worker reports (`POST /api/v1/tasks/reports`) over real HTTP against an in-process
//! engine on a real SQLite file.
//!
//! Each report in a batch is its own transition with its own result, in request order: a stale
//! or malformed report gets the status and code its single endpoint would have answered, and
//! the reports around it are still applied. Covered here: a mixed batch (workflow task
//! completion, activity completion, retryable activity failure, stale token), eager dispatch
//! inside a batch, per-report 400s for malformed tokens, the `MAX_REPORTS_PER_BATCH` limit
//! (refused as a whole, nothing applied), the empty batch, and bodies that are not a batch.

mod common;


use common::*;
use faultline_proto::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const EAGER_WORKER: &str = "batch-worker";

/// How long a poll may wait when nothing is expected.
const EMPTY_POLL_MS: u64 = 300;

/// Sends a batch; expects 200 and one result per report.
async fn send(c: &Client, reports: Vec<TaskReport>) -> Vec<ReportResult> {
    let n = reports.len();
    let (s, v) = c.post(paths::TASK_REPORTS, &ReportBatchRequest { reports }).await;
    assert_eq!(s, StatusCode::OK, "batch of {n}: {v}");
    let answer: ReportBatchResponse = serde_json::from_value(v).expect("decode ReportBatchResponse");
    assert_eq!(answer.results.len(), n, "one result per report");
    answer.results
}

fn complete_wft(token: &str, commands: Vec<Command>, eager: Option<EagerRequest>) -> TaskReport {
    TaskReport::CompleteWorkflowTask(CompleteWorkflowTaskRequest { task_token: token.into(), commands, eager })
}

fn complete_activity(token: &str, result: Value, eager: Option<EagerRequest>) -> TaskReport {
    TaskReport::CompleteActivityTask(CompleteActivityTaskRequest { task_token: token.into(), result, eager })
}

fn fail_activity(token: &str, message: &str) -> TaskReport {
    TaskReport::FailActivityTask(FailActivityTaskRequest { task_token: token.into(), failure: Failure::new(message) })
}

fn eager(queue: &str, activities: u32, workflow_task: bool) -> Option<EagerRequest> {
    Some(EagerRequest { task_queue: queue.into(), worker: EAGER_WORKER.into(), activities, workflow_task })
}

/// A report that was applied and handed nothing out.
fn assert_plain_ok(r: &ReportResult, what: &str) {
    assert_eq!(r, &ReportResult::default(), "{what}: applied, no error, no eager task");
}

/// Starts a workflow and has its first workflow task schedule one activity (seq 1), which a
/// poll hands out. Returns the (now used) workflow task token and the activity task.
async fn waiting_on_one_activity(c: &Client, id: &str, queue: &str, opts: ActivityOptions) -> (String, ActivityTask) {
    c.start(id, "W", queue, json!(null)).await;
    let t = c.next_wft(queue).await;
    let (s, v) = c.complete_wft(&t.task_token, vec![activity(1, "step", opts)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let a = c.next_activity(queue).await;
    assert_eq!((a.workflow_id.as_str(), a.seq, a.attempt), (id, 1, 1));
    (t.task_token, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_applies_each_report_and_answers_a_stale_one_in_its_place() {
    let e = engine().await;
    let c = &e.c;
    c.start("mix-a", "W", "qa", json!(null)).await;
    let ta = c.next_wft("qa").await;
    let (used_b_token, ab) = waiting_on_one_activity(c, "mix-b", "qb", ActivityOptions::default()).await;
    let slow_retry = ActivityOptions { retry_policy: RetryPolicy { initial_interval_ms: 60_000, ..Default::default() }, ..Default::default() };
    let (_, ac) = waiting_on_one_activity(c, "mix-c", "qc", slow_retry).await;

    let results = send(
        c,
        vec![
            complete_wft(&ta.task_token, vec![activity(1, "charge", ActivityOptions::default())], None),
            // B's first workflow task was completed already: its token is stale.
            complete_wft(&used_b_token, vec![Command::CompleteWorkflow { result: json!("nope") }], None),
            complete_activity(&ab.task_token, json!("b-done"), None),
            fail_activity(&ac.task_token, "card declined"),
        ],
    )
    .await;
    assert_plain_ok(&results[0], "A's workflow task completion");
    let err = results[1].error.as_ref().expect("the stale report is refused");
    assert_eq!((err.status, err.code.as_str()), (409, "stale_task_token"), "{err:?}");
    assert!(results[1].activity_tasks.is_empty() && results[1].workflow_task.is_none());
    assert_plain_ok(&results[2], "B's activity completion");
    assert_plain_ok(&results[3], "C's activity failure");

    // A: the activity was scheduled by the completion and is now on its queue.
    let h = c.history("mix-a").await;
    assert_gapless(&h);
    assert_eq!(&kinds(&h)[3..], ["workflow_task_completed", "activity_scheduled"]);
    let a = c.next_activity("qa").await;
    assert_eq!((a.workflow_id.as_str(), a.seq, a.activity_type.as_str()), ("mix-a", 1, "charge"));

    // B: the activity completed and a workflow task was scheduled; the stale report changed nothing.
    let h = c.history("mix-b").await;
    assert_gapless(&h);
    assert!(h.iter().any(|e| matches!(&e.kind, EventKind::ActivityCompleted { seq: 1, attempt: 1, result } if *result == json!("b-done"))));
    assert_eq!(h.last().unwrap().kind.name(), "workflow_task_scheduled");
    assert_eq!(h.iter().filter(|e| e.kind.name() == "workflow_task_completed").count(), 1);
    let d = c.describe("mix-b").await;
    assert_eq!(d.summary.status, WorkflowStatus::Running, "the stale CompleteWorkflow was not applied");
    assert!(d.pending_activities.is_empty());

    // C: the failure is recorded with its next retry; the activity waits in backoff.
    let h = c.history("mix-c").await;
    assert!(
        h.iter().any(|e| matches!(&e.kind,
            EventKind::ActivityFailed { seq: 1, attempt: 1, failure, next_retry_at_ms: Some(_) } if failure.message == "card declined")),
        "{:?}",
        kinds(&h)
    );
    let d = c.describe("mix-c").await;
    let p = &d.pending_activities[0];
    assert_eq!((p.seq, p.state, p.attempt), (1, PendingActivityState::Backoff, 2));
    assert_eq!(p.last_failure.as_ref().unwrap().message, "card declined");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_dispatch_works_inside_a_batch() {
    let e = engine().await;
    let c = &e.c;
    let (_, ay) = waiting_on_one_activity(c, "eager-y", "eq", ActivityOptions::default()).await;
    c.start("eager-x", "W", "eq", json!(null)).await;
    let tx = c.next_wft("eq").await;
    assert_eq!(tx.workflow_id, "eager-x");

    let results = send(
        c,
        vec![
            complete_wft(&tx.task_token, vec![activity(1, "ship", ActivityOptions::default())], eager("eq", 1, false)),
            complete_activity(&ay.task_token, json!("y-done"), eager("eq", 0, true)),
        ],
    )
    .await;

    // X's completion hands out the activity it scheduled, started in the same transaction.
    assert!(results[0].error.is_none() && results[0].workflow_task.is_none(), "{:?}", results[0]);
    let [ax] = results[0].activity_tasks.as_slice() else { panic!("one eager activity: {:?}", results[0]) };
    assert_eq!((ax.workflow_id.as_str(), ax.seq, ax.attempt, ax.activity_type.as_str()), ("eager-x", 1, 1, "ship"));
    let hx = c.history("eager-x").await;
    assert_eq!(hx.last().unwrap().kind, EventKind::ActivityStarted { seq: 1, attempt: 1, worker: EAGER_WORKER.into() });

    // Y's activity completion hands out Y's next workflow task with its complete history.
    assert!(results[1].error.is_none() && results[1].activity_tasks.is_empty(), "{:?}", results[1]);
    let ty = results[1].workflow_task.as_ref().expect("Y's next workflow task");
    assert_eq!((ty.workflow_id.as_str(), ty.attempt), ("eager-y", 1));
    assert_gapless(&ty.history);
    assert_eq!(ty.history.last().unwrap().kind, EventKind::WorkflowTaskStarted { worker: EAGER_WORKER.into() });
    assert!(ty.history.iter().any(|e| matches!(&e.kind, EventKind::ActivityCompleted { seq: 1, result, .. } if *result == json!("y-done"))));
    assert_eq!(c.history("eager-y").await, ty.history, "the started event is committed with the report");

    // Nothing handed out eagerly is also left for pollers.
    assert!(c.poll_activity("eq", EMPTY_POLL_MS).await.is_none(), "eager activity must not also be polled");
    assert!(c.poll_wft("eq", EMPTY_POLL_MS).await.is_none(), "eager workflow task must not also be polled");

    // The eager tokens are real: report them in a second batch, again eagerly.
    let results = send(
        c,
        vec![
            complete_activity(&ax.task_token, json!("x-done"), eager("eq", 0, true)),
            complete_wft(&ty.task_token, vec![Command::CompleteWorkflow { result: json!("y") }], eager("eq", 4, true)),
        ],
    )
    .await;
    let tx2 = results[0].workflow_task.as_ref().expect("X's next workflow task");
    assert!(results[0].error.is_none(), "{:?}", results[0]);
    assert_eq!(tx2.workflow_id, "eager-x");
    assert_gapless(&tx2.history);
    assert_eq!(tx2.history.last().unwrap().kind.name(), "workflow_task_started");
    assert_plain_ok(&results[1], "Y's final workflow task completion");
    assert_eq!(c.describe("eager-y").await.summary.status, WorkflowStatus::Completed);
    let results = send(c, vec![complete_wft(&tx2.task_token, vec![Command::CompleteWorkflow { result: json!("x") }], None)]).await;
    assert_plain_ok(&results[0], "X's final workflow task completion");
    assert_eq!(c.describe("eager-x").await.summary.status, WorkflowStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tokens_fail_alone_and_oversized_batches_fail_whole() {
    let e = engine().await;
    let c = &e.c;
    c.start("lim", "W", "lq", json!(null)).await;
    let t = c.next_wft("lq").await;
    let garbage = || fail_activity("garbage", "x");

    // Over the limit: refused as a whole, even the valid report is not applied.
    let mut reports = vec![complete_wft(&t.task_token, vec![activity(1, "a", ActivityOptions::default())], None)];
    reports.extend((0..MAX_REPORTS_PER_BATCH).map(|_| garbage()));
    assert_eq!(reports.len(), MAX_REPORTS_PER_BATCH + 1);
    let (s, v) = c.post(paths::TASK_REPORTS, &ReportBatchRequest { reports }).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "{v}");
    assert!(v.get("results").is_none(), "{v}");
    assert_eq!(c.history("lim").await.last().unwrap().kind.name(), "workflow_task_started", "nothing applied");

    // Exactly at the limit: accepted; each malformed token gets its own 400, the valid one applies.
    let mut reports = vec![garbage(), complete_wft(&t.task_token, vec![activity(1, "a", ActivityOptions::default())], None)];
    reports.push(TaskReport::FailWorkflowTask(FailWorkflowTaskRequest {
        task_token: "garbage".into(),
        message: "x".into(),
        nondeterminism: false,
    }));
    reports.push(complete_activity("garbage", json!(1), None));
    reports.push(complete_wft("garbage", vec![], None));
    reports.extend((reports.len()..MAX_REPORTS_PER_BATCH).map(|_| garbage()));
    let results = send(c, reports).await;
    assert_plain_ok(&results[1], "the valid completion");
    for (i, r) in results.iter().enumerate().filter(|(i, _)| *i != 1) {
        let err = r.error.as_ref().unwrap_or_else(|| panic!("report {i} has a malformed token: {r:?}"));
        assert_eq!((err.status, err.code.as_str()), (400, "bad_request"), "report {i}: {err:?}");
        assert!(err.message.contains("malformed"), "report {i}: {err:?}");
    }
    let h = c.history("lim").await;
    assert_eq!(&kinds(&h)[3..], ["workflow_task_completed", "activity_scheduled"]);
    assert_eq!(c.next_activity("lq").await.workflow_id, "lim");

    // An empty batch is fine and answers an empty list.
    let (s, v) = c.post_raw(paths::TASK_REPORTS, r#"{"reports": []}"#).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"results": []})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_are_not_a_batch_are_refused_with_an_error_body() {
    let e = engine().await;
    let c = &e.c;
    c.start("shape", "W", "sq", json!(null)).await;
    let t = c.next_wft("sq").await;
    let valid = json!({"type": "complete_workflow_task", "task_token": t.task_token, "commands": []});
    let bodies = [
        "{\"reports\": [".to_string(),
        "not json at all".to_string(),
        json!({"reports": [valid, {"type": "launch_rockets", "task_token": "x"}]}).to_string(),
        json!({"reports": [valid, {"task_token": t.task_token, "commands": []}]}).to_string(),
        json!({"reports": valid}).to_string(),
        json!([valid]).to_string(),
    ];
    for body in bodies {
        let (s, v) = c.post_raw(paths::TASK_REPORTS, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        let err: ErrorBody = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{body}: not an ErrorBody ({e}): {v}"));
        assert_eq!(err.code, "bad_request", "{body}");
        assert!(err.message.contains("not valid JSON"), "{body}: {}", err.message);
    }
    // None of the refused bodies applied the valid report they carried.
    assert_eq!(c.history("shape").await.last().unwrap().kind.name(), "workflow_task_started");
    let results = send(c, vec![serde_json::from_value(valid).unwrap()]).await;
    assert_plain_ok(&results[0], "the same report in a valid batch");
    assert_eq!(c.history("shape").await.last().unwrap().kind.name(), "workflow_task_completed");
}
