//! Against the real engine, with an in-process worker: signal-versus-timer races in both
//! orders, children and continue-as-new, cancellation of a workflow, cancellation of a running
//! activity through heartbeats, non-retryable application errors, signal-with-start, a
//! nondeterminism error that fails the task but not the workflow, and graceful shutdown.

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use faultline_sdk::proto::{ActivityOptions, IdConflictPolicy, RetryPolicy, WorkflowStatus};
use faultline_sdk::{
    ActContext, ActivityError, CallError, ChildOptions, Client, ClientError, Either, StartOptions, WfContext, Worker,
    WorkerOptions, WorkflowError,
};
use support::{wait_until, Engine};

const QUEUE: &str = "sdk-features";
static CLEANUPS: AtomicU32 = AtomicU32::new(0);
static CHARGE_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

fn quick() -> ActivityOptions {
    ActivityOptions {
        start_to_close_timeout_ms: Some(10_000),
        retry_policy: RetryPolicy { initial_interval_ms: 100, ..RetryPolicy::default() },
        ..ActivityOptions::default()
    }
}

async fn approval(ctx: WfContext, timeout_ms: u64) -> Result<String, WorkflowError> {
    let approve = ctx.signal("approve").recv::<String>();
    let mut timer = ctx.sleep(Duration::from_millis(timeout_ms));
    Ok(match ctx.select2(approve, &mut timer).await {
        Either::Left(who) => {
            timer.cancel();
            format!("approved by {}", who?)
        }
        Either::Right(_) => "timed out".into(),
    })
}

async fn parent(ctx: WfContext, n: u64) -> Result<u64, WorkflowError> {
    let r: u64 = ctx.child_workflow("Double", &n, ChildOptions::default()).await?;
    if r < 20 {
        return Err(ctx.continue_as_new(&r));
    }
    Ok(r)
}

async fn double_wf(ctx: WfContext, n: u64) -> Result<u64, WorkflowError> {
    Ok(ctx.activity("double", &n, quick()).await?)
}

async fn cancellable(ctx: WfContext, _: ()) -> Result<(), WorkflowError> {
    if let Either::Right(()) = ctx.select2(ctx.sleep(Duration::from_secs(3600)), ctx.cancelled()).await {
        let _: () = ctx.activity("cleanup", &(), quick()).await?;
        return Err(WorkflowError::Cancelled);
    }
    Ok(())
}

async fn stoppable(ctx: WfContext, _: ()) -> Result<String, WorkflowError> {
    let mut opts = quick();
    opts.heartbeat_timeout_ms = Some(5_000);
    let long = ctx.activity::<(), _>("long", &(), opts);
    let _: () = ctx.signal("stop").recv().await?;
    long.cancel();
    match long.await {
        Err(CallError::Cancelled { .. }) => Ok("stopped".into()),
        other => Err(WorkflowError::failed(format!("expected a cancelled activity, got {other:?}"))),
    }
}

async fn charge_wf(ctx: WfContext, _: ()) -> Result<String, WorkflowError> {
    let mut opts = quick();
    opts.retry_policy.non_retryable_error_types = vec!["CardDeclined".into()];
    Ok(ctx.activity("charge", &(), opts).await?)
}

/// Version 2 of Approval, incompatible with histories of version 1 (an activity first).
async fn approval_v2(ctx: WfContext, _: u64) -> Result<String, WorkflowError> {
    let _: u64 = ctx.activity("double", &1, quick()).await?;
    Ok("v2".into())
}

fn worker(client: &Client, identity: &str, v2: bool) -> Worker {
    let mut o = WorkerOptions::new(QUEUE);
    o.identity = identity.into();
    o.poll_timeout = Duration::from_secs(2);
    let mut w = Worker::new(client.clone(), o);
    if v2 {
        w.register_workflow("Approval", approval_v2);
    } else {
        w.register_workflow("Approval", approval);
    }
    w.register_workflow("Parent", parent)
        .register_workflow("Double", double_wf)
        .register_workflow("Cancellable", cancellable)
        .register_workflow("Stoppable", stoppable)
        .register_workflow("Charge", charge_wf)
        .register_activity("double", |_ctx: ActContext, n: u64| async move { Ok(n * 2) })
        .register_activity("cleanup", |_ctx: ActContext, _: ()| async move {
            CLEANUPS.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .register_activity("charge", |_ctx: ActContext, _: ()| async move {
            CHARGE_ATTEMPTS.fetch_add(1, Ordering::SeqCst);
            Err::<String, _>(ActivityError::application("CardDeclined", "card declined by the bank"))
        })
        .register_activity("long", |ctx: ActContext, _: ()| async move {
            loop {
                if ctx.heartbeat(&"working").await {
                    return Err::<(), _>(ActivityError::cancelled());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    w
}

fn start(id: &str) -> StartOptions {
    StartOptions::new(id, QUEUE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_against_the_real_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::start(support::free_port(), &tmp.path().join("engine.db")).await;
    let client = engine.client();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker(&client, "w-features", false).run(async {
        let _ = stop_rx.await;
    }));
    let long = Duration::from_secs(30);

    // Race, signal first: the workflow waits 60 s, the signal arrives at once.
    client.start_workflow(start("race-signal"), "Approval", &60_000u64).await.unwrap();
    client.signal("race-signal", "approve", &"alice").await.unwrap();
    assert_eq!(client.result::<String>("race-signal", long).await.unwrap(), "approved by alice");
    let d = client.describe("race-signal").await.unwrap();
    assert!(d.pending_timers.is_empty(), "the losing timer was cancelled: {:?}", d.pending_timers);

    // Race, timer first: 200 ms and no signal.
    client.start_workflow(start("race-timer"), "Approval", &200u64).await.unwrap();
    assert_eq!(client.result::<String>("race-timer", long).await.unwrap(), "timed out");

    // Signal-with-start: the signal is in the first workflow task.
    let r = client
        .signal_with_start(start("sws"), "Approval", &60_000u64, "approve", &"bob")
        .await
        .unwrap();
    assert!(r.started);
    assert_eq!(client.result::<String>("sws", long).await.unwrap(), "approved by bob");

    // Children and continue-as-new: 3 -> 6 -> 12 -> 24 over three runs.
    client.start_workflow(start("parent"), "Parent", &3u64).await.unwrap();
    assert_eq!(client.result::<u64>("parent", long).await.unwrap(), 24);

    // Cancellation observed by the workflow: clean-up activity, then closed as canceled.
    client.start_workflow(start("cancel-me"), "Cancellable", &()).await.unwrap();
    wait_until("cancel-me's timer started", long, || {
        let c = client.clone();
        async move { c.describe("cancel-me").await.map(|d| !d.pending_timers.is_empty()).unwrap_or(false) }
    })
    .await;
    client.cancel("cancel-me", "test").await.unwrap();
    let r = client.result_raw("cancel-me", long).await.unwrap();
    assert_eq!(r.status, WorkflowStatus::Canceled);
    assert_eq!(CLEANUPS.load(Ordering::SeqCst), 1);

    // A running activity cancelled by its workflow learns it from its heartbeat.
    client.start_workflow(start("stoppable"), "Stoppable", &()).await.unwrap();
    wait_until("the long activity heartbeats", long, || {
        let c = client.clone();
        async move {
            c.describe("stoppable")
                .await
                .map(|d| d.pending_activities.iter().any(|a| a.last_heartbeat_at_ms.is_some()))
                .unwrap_or(false)
        }
    })
    .await;
    client.signal("stoppable", "stop", &()).await.unwrap();
    assert_eq!(client.result::<String>("stoppable", long).await.unwrap(), "stopped");

    // A non-retryable application error fails the workflow after one attempt, type preserved.
    client.start_workflow(start("charge"), "Charge", &()).await.unwrap();
    match client.result::<String>("charge", long).await {
        Err(ClientError::WorkflowFailed { status: WorkflowStatus::Failed, failure: Some(f), .. }) => {
            assert_eq!(f.error_type.as_deref(), Some("CardDeclined"), "{f:?}");
        }
        other => panic!("expected a failed workflow, got {other:?}"),
    }
    assert_eq!(CHARGE_ATTEMPTS.load(Ordering::SeqCst), 1);

    // Id conflicts: Fail answers 409, UseExisting returns the running run.
    client.start_workflow(start("dup"), "Approval", &60_000u64).await.unwrap();
    let err = client.start_workflow(start("dup"), "Approval", &60_000u64).await.unwrap_err();
    assert_eq!(err.code(), Some("conflict"), "{err}");
    let mut again = start("dup");
    again.id_conflict = IdConflictPolicy::UseExisting;
    assert!(!client.start_workflow(again, "Approval", &60_000u64).await.unwrap().started);
    let running_ids: Vec<String> =
        client.list(Some(WorkflowStatus::Running)).await.unwrap().into_iter().map(|s| s.workflow_id).collect();
    assert!(running_ids.contains(&"dup".to_string()), "{running_ids:?}");

    // Graceful shutdown, then a worker with incompatible code: the task fails as
    // nondeterminism, the workflow keeps running.
    stop_tx.send(()).unwrap();
    tokio::time::timeout(long, running).await.expect("worker did not stop").unwrap().unwrap();
    client.signal("dup", "unrelated", &()).await.unwrap();
    let (stop2_tx, stop2_rx) = tokio::sync::oneshot::channel::<()>();
    let v2 = tokio::spawn(worker(&client, "w-v2", true).run(async {
        let _ = stop2_rx.await;
    }));
    wait_until("a nondeterminism failure on dup", long, || {
        let c = client.clone();
        async move {
            c.describe("dup")
                .await
                .ok()
                .and_then(|d| d.pending_workflow_task.and_then(|t| t.last_failure))
                .is_some_and(|m| m.contains("nondeterminism") && m.contains("start_timer (seq 1)") && m.contains("schedule_activity (seq 1, 'double')"))
        }
    })
    .await;
    assert_eq!(client.describe("dup").await.unwrap().summary.status, WorkflowStatus::Running);
    stop2_tx.send(()).unwrap();
    v2.await.unwrap().unwrap();
    client.terminate("dup", "test over").await.unwrap();
    assert_eq!(client.result_raw("dup", long).await.unwrap().status, WorkflowStatus::Terminated);
}
