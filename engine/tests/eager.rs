//! Eager dispatch over real HTTP against an in-process engine on a real SQLite file.
//!
//! A worker reporting a task may ask (`eager`) for the tasks its report creates on its own
//! queue: activity tasks from a workflow task completion (at most `eager.activities`), the
//! run's next workflow task from an activity completion (`eager.workflow_task`). Covered here:
//! the limit, the `*_started` events committed with the report, the queue filter, no double
//! dispatch through polls, the complete history of an eager workflow task, the timeout retry
//! of an eagerly handed-out task that is lost, a completion that closes its run, and bodies
//! without `eager` (older workers).

mod common;

use std::time::Duration;

use common::*;
use faultline_proto::*;
use reqwest::StatusCode;
use serde_json::json;

const EAGER_WORKER: &str = "eager-worker";

fn eager(queue: &str, activities: u32, workflow_task: bool) -> Option<EagerRequest> {
    Some(EagerRequest { task_queue: queue.into(), worker: EAGER_WORKER.into(), activities, workflow_task })
}

/// How long a poll may wait when nothing is expected.
const EMPTY_POLL_MS: u64 = 300;

/// Starts a workflow on `queue` and has its first workflow task schedule one activity (seq 1),
/// which a normal poll then hands out.
async fn run_waiting_on_one_activity(c: &Client, id: &str, queue: &str) -> (String, ActivityTask) {
    let run_id = c.start(id, "W", queue, json!(null)).await.run_id;
    let t = c.next_wft(queue).await;
    let answer = c.complete_wft_eager(&t.task_token, vec![activity(1, "step", ActivityOptions::default())], None).await;
    assert!(answer.ok && answer.activity_tasks.is_empty(), "no eager request, no eager tasks");
    let a = c.next_activity(queue).await;
    assert_eq!((a.seq, a.attempt), (1, 1));
    (run_id, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_task_completion_hands_out_at_most_the_requested_activities() {
    let e = engine().await;
    let c = &e.c;
    let run_id = c.start("eager-acts", "W", "eq", json!(null)).await.run_id;
    let t = c.next_wft("eq").await;
    let commands = (1..=3).map(|seq| activity(seq, "work", ActivityOptions::default())).collect();
    let answer = c.complete_wft_eager(&t.task_token, commands, eager("eq", 2, false)).await;
    assert!(answer.ok);
    let seqs: Vec<(u64, u32)> = answer.activity_tasks.iter().map(|a| (a.seq, a.attempt)).collect();
    assert_eq!(seqs, [(1, 1), (2, 1)], "exactly `activities` tasks, in command order");
    for a in &answer.activity_tasks {
        assert_eq!((a.workflow_id.as_str(), a.run_id.as_str(), a.activity_type.as_str()), ("eager-acts", run_id.as_str(), "work"));
        assert_eq!(a.idempotency_key, format!("{run_id}:{}", a.seq));
        assert_eq!(a.input, json!({"seq": a.seq}));
    }

    // The two starts were committed with the completion: they are in the history as soon as
    // the answer is back, right after the scheduled events, with the completion's timestamp.
    let h = c.history("eager-acts").await;
    assert_gapless(&h);
    assert_eq!(
        kinds(&h),
        [
            "workflow_started",
            "workflow_task_scheduled",
            "workflow_task_started",
            "workflow_task_completed",
            "activity_scheduled",
            "activity_scheduled",
            "activity_scheduled",
            "activity_started",
            "activity_started",
        ]
    );
    let completed_at = h[3].timestamp_ms;
    for (event, seq) in h[7..].iter().zip([1, 2]) {
        assert_eq!(event.kind, EventKind::ActivityStarted { seq, attempt: 1, worker: EAGER_WORKER.into() });
        assert_eq!(event.timestamp_ms, completed_at, "started in the completion's transaction");
    }
    let d = c.describe("eager-acts").await;
    let states: Vec<(u64, PendingActivityState)> = d.pending_activities.iter().map(|p| (p.seq, p.state)).collect();
    assert_eq!(
        states,
        [(1, PendingActivityState::Started), (2, PendingActivityState::Started), (3, PendingActivityState::Scheduled)]
    );
    let q: TaskQueueResponse = c.get_as(&paths::task_queue("eq")).await;
    assert_eq!(q.backlog_activity_tasks, 1, "only the third activity waits for a poller");

    // The third is left for pollers; after it, nothing more: no task is dispatched twice.
    let third = c.next_activity("eq").await;
    assert_eq!((third.seq, third.attempt), (3, 1));
    assert!(c.poll_activity("eq", EMPTY_POLL_MS).await.is_none(), "eager tasks must not also be polled");

    // The eager tokens are real: both complete.
    for a in &answer.activity_tasks {
        let (s, v) = c.complete_activity(&a.task_token, json!(a.seq)).await;
        assert_eq!(s, StatusCode::OK, "eager token of seq {}: {v}", a.seq);
    }
    let (s, v) = c.complete_activity(&third.task_token, json!(3)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let h = c.history("eager-acts").await;
    assert_eq!(h.iter().filter(|e| e.kind.name() == "activity_started").count(), 3);
    assert_eq!(h.iter().filter(|e| e.kind.name() == "activity_completed").count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activities_on_another_queue_are_left_for_its_pollers() {
    let e = engine().await;
    let c = &e.c;
    c.start("eager-other", "W", "home", json!(null)).await;
    let t = c.next_wft("home").await;
    let elsewhere = ActivityOptions { task_queue: Some("other".into()), ..Default::default() };
    let commands = vec![activity(1, "remote", elsewhere), activity(2, "local", ActivityOptions::default())];
    let answer = c.complete_wft_eager(&t.task_token, commands, eager("home", 5, false)).await;
    let seqs: Vec<u64> = answer.activity_tasks.iter().map(|a| a.seq).collect();
    assert_eq!(seqs, [2], "only the activity on the worker's own queue is handed out");
    let h = c.history("eager-other").await;
    assert!(!h.iter().any(|e| matches!(e.kind, EventKind::ActivityStarted { seq: 1, .. })), "seq 1 not started");
    assert!(c.poll_activity("home", EMPTY_POLL_MS).await.is_none());
    let remote = c.next_activity("other").await;
    assert_eq!((remote.seq, remote.attempt, remote.activity_type.as_str()), (1, 1, "remote"));
    assert!(c.poll_activity("other", EMPTY_POLL_MS).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_completion_hands_out_the_next_workflow_task_with_its_full_history() {
    let e = engine().await;
    let c = &e.c;
    let (run_id, a) = run_waiting_on_one_activity(c, "eager-wft", "wq").await;
    let answer = c.complete_activity_eager(&a.task_token, json!("done"), eager("wq", 0, true)).await;
    assert!(answer.ok);
    let t = answer.workflow_task.expect("the workflow task this completion scheduled");
    assert_eq!((t.workflow_id.as_str(), t.run_id.as_str(), t.workflow_type.as_str(), t.attempt), ("eager-wft", run_id.as_str(), "W", 1));

    // The whole history up to and including its started event, as a poll would give it.
    assert_gapless(&t.history);
    let last = t.history.last().unwrap();
    assert_eq!(last.kind, EventKind::WorkflowTaskStarted { worker: EAGER_WORKER.into() });
    assert!(t.history.iter().any(|e| matches!(&e.kind, EventKind::ActivityCompleted { seq: 1, attempt: 1, result } if *result == json!("done"))));
    let stored = c.history("eager-wft").await;
    assert_eq!(stored, t.history, "the started event is committed with the activity completion");
    let completed = stored.iter().find(|e| e.kind.name() == "activity_completed").unwrap();
    assert_eq!(last.timestamp_ms, completed.timestamp_ms, "started in the completion's transaction");

    assert!(c.poll_wft("wq", EMPTY_POLL_MS).await.is_none(), "the eager workflow task must not also be polled");
    let (s, v) = c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!("ok") }]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let d = c.describe("eager-wft").await;
    assert_eq!(d.summary.status, WorkflowStatus::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_that_closes_the_run_hands_out_nothing_and_leaves_no_task() {
    let e = engine().await;
    let c = &e.c;
    c.start("fire-and-return", "W", "cq", json!(null)).await;
    let t = c.next_wft("cq").await;
    // The workflow schedules an activity it never awaits, and returns.
    let commands = vec![activity(1, "work", ActivityOptions::default()), Command::CompleteWorkflow { result: json!(1) }];
    let answer = c.complete_wft_eager(&t.task_token, commands, eager("cq", 4, false)).await;
    assert!(answer.ok && answer.activity_tasks.is_empty(), "a closed run starts nothing: {:?}", answer.activity_tasks);
    assert_eq!(c.describe("fire-and-return").await.summary.status, WorkflowStatus::Completed);
    let q: TaskQueueResponse = c.get_as(&paths::task_queue("cq")).await;
    assert_eq!((q.backlog_workflow_tasks, q.backlog_activity_tasks), (0, 0), "no task row outlives its run");
    assert!(c.poll_activity("cq", EMPTY_POLL_MS).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activity_completion_without_eager_leaves_the_workflow_task_to_pollers() {
    let e = engine().await;
    let c = &e.c;
    // No `eager`, and `eager` without a workflow task slot: both leave the task queued.
    for (id, eager) in [("plain-1", None), ("plain-2", eager("pq", 4, false))] {
        let (_, a) = run_waiting_on_one_activity(c, id, "pq").await;
        let answer = c.complete_activity_eager(&a.task_token, json!(1), eager).await;
        assert!(answer.ok);
        assert!(answer.workflow_task.is_none(), "{id}: no workflow task slot offered, none handed out");
        assert_eq!(c.history(id).await.last().unwrap().kind.name(), "workflow_task_scheduled");
        let t = c.next_wft("pq").await;
        assert_eq!((t.workflow_id.as_str(), t.attempt), (id, 1));
        assert!(kinds(&t.history).contains(&"activity_completed"));
        c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!(null) }]).await;
        assert_eq!(c.describe(id).await.summary.status, WorkflowStatus::Completed);
    }
    // A worker on another queue gets nothing either.
    let (_, a) = run_waiting_on_one_activity(c, "plain-3", "pq").await;
    let answer = c.complete_activity_eager(&a.task_token, json!(1), eager("not-pq", 0, true)).await;
    assert!(answer.workflow_task.is_none(), "the workflow task is on another queue than the worker's");
    assert_eq!(c.next_wft("pq").await.workflow_id, "plain-3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_eager_activity_task_is_retried_after_its_start_to_close_timeout() {
    let e = engine().await;
    let c = &e.c;
    c.start("eager-lost", "W", "lq", json!(null)).await;
    let t = c.next_wft("lq").await;
    let opts = ActivityOptions {
        start_to_close_timeout_ms: Some(400),
        retry_policy: RetryPolicy { initial_interval_ms: 1, ..Default::default() },
        ..Default::default()
    };
    let answer = c.complete_wft_eager(&t.task_token, vec![activity(1, "flaky", opts)], eager("lq", 1, false)).await;
    let [lost] = answer.activity_tasks.as_slice() else { panic!("one eager task: {:?}", answer.activity_tasks) };
    assert_eq!((lost.seq, lost.attempt), (1, 1));
    assert!(lost.deadline_ms.is_some(), "an eager task carries its start-to-close deadline");

    // The worker never reports: the timeout puts the activity back on the queue, attempt 2.
    let retried = c.next_activity("lq").await;
    assert_eq!((retried.seq, retried.attempt, retried.idempotency_key.clone()), (1, 2, lost.idempotency_key.clone()));
    assert!(retried.task_token != lost.task_token);
    let h = c.history("eager-lost").await;
    assert!(h.iter().any(|e| matches!(&e.kind,
        EventKind::ActivityTimedOut { seq: 1, attempt: 1, timeout: TimeoutKind::StartToClose, .. })), "{:?}", kinds(&h));
    // The lost attempt's token is stale; the new one completes the activity.
    let (s, v) = c.complete_activity(&lost.task_token, json!("late")).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::CONFLICT, Some("stale_task_token")));
    assert_eq!(c.complete_activity(&retried.task_token, json!("ok")).await.0, StatusCode::OK);
    eventually("the activity is no longer pending", Duration::from_secs(5), || async {
        c.describe("eager-lost").await.pending_activities.is_empty()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_bodies_without_eager_still_work() {
    let e = engine().await;
    let c = &e.c;
    c.start("compat", "W", "cq", json!(null)).await;
    let t = c.next_wft("cq").await;
    let body = json!({"task_token": t.task_token, "commands": [activity(1, "a", ActivityOptions::default())]});
    let (s, v) = c.post_raw(paths::WORKFLOW_TASK_COMPLETE, body.to_string()).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"ok": true})));
    let a = c.next_activity("cq").await;
    let body = json!({"task_token": a.task_token, "result": 7});
    let (s, v) = c.post_raw(paths::ACTIVITY_TASK_COMPLETE, body.to_string()).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"ok": true})));
    // `eager` with only the required fields: no slots, so nothing is handed out.
    let t = c.next_wft("cq").await;
    let body = json!({"task_token": t.task_token, "commands": [activity(2, "b", ActivityOptions::default())],
        "eager": {"task_queue": "cq", "worker": "w"}});
    let (s, v) = c.post_raw(paths::WORKFLOW_TASK_COMPLETE, body.to_string()).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"ok": true})));
    let a = c.next_activity("cq").await;
    assert_eq!(a.seq, 2);
    let body = json!({"task_token": a.task_token, "result": 8, "eager": {"task_queue": "cq", "worker": "w"}});
    let (s, v) = c.post_raw(paths::ACTIVITY_TASK_COMPLETE, body.to_string()).await;
    assert_eq!((s, v), (StatusCode::OK, json!({"ok": true})));
    assert_eq!(c.next_wft("cq").await.workflow_id, "compat");
}
