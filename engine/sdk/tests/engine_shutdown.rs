//! Against the real engine: graceful shutdown. An activity in flight when shutdown begins
//! finishes and is reported; one that outlives the grace period is failed back as retryable,
//! and a new worker completes both workflows.

mod support;

use std::time::Duration;

use faultline_sdk::proto::{ActivityOptions, EventKind, PendingActivityState, RetryPolicy};
use faultline_sdk::{ActContext, Client, StartOptions, WfContext, Worker, WorkerOptions, WorkflowError};
use support::{wait_until, Engine};

const QUEUE: &str = "sdk-shutdown";

async fn slow(ctx: WfContext, ms: u64) -> Result<u64, WorkflowError> {
    let opts = ActivityOptions {
        start_to_close_timeout_ms: Some(60_000),
        retry_policy: RetryPolicy { initial_interval_ms: 100, ..RetryPolicy::default() },
        ..ActivityOptions::default()
    };
    Ok(ctx.activity("nap", &ms, opts).await?)
}

fn worker(client: &Client, id: &str, grace: Duration) -> Worker {
    let mut o = WorkerOptions::new(QUEUE);
    o.identity = id.into();
    o.poll_timeout = Duration::from_secs(2);
    o.graceful_shutdown_timeout = grace;
    let mut w = Worker::new(client.clone(), o);
    w.register_workflow("Slow", slow).register_activity("nap", |ctx: ActContext, ms: u64| async move {
        // Only the first attempt naps: the retry after a shutdown completes at once.
        if ctx.attempt() == 1 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        Ok(ms)
    });
    w
}

async fn activity_running(client: &Client, id: &str) -> bool {
    client
        .describe(id)
        .await
        .map(|d| d.pending_activities.iter().any(|a| a.state == PendingActivityState::Started))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_or_gives_back_in_flight_activities() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::start(support::free_port(), &tmp.path().join("engine.db")).await;
    let client = engine.client();
    let long = Duration::from_secs(30);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(worker(&client, "w-first", Duration::from_secs(3)).run(async {
        let _ = stop_rx.await;
    }));
    // "short" naps 1 s (within the 3 s grace), "long" naps 60 s (beyond it).
    client.start_workflow(StartOptions::new("short", QUEUE), "Slow", &1_000u64).await.unwrap();
    client.start_workflow(StartOptions::new("long", QUEUE), "Slow", &60_000u64).await.unwrap();
    for id in ["short", "long"] {
        wait_until(&format!("{id}'s activity running"), long, || activity_running(&client, id)).await;
    }
    stop_tx.send(()).unwrap();
    tokio::time::timeout(long, first).await.expect("worker did not stop within the grace").unwrap().unwrap();

    let short = client.history("short").await.unwrap();
    assert!(
        short.events.iter().any(|e| matches!(e.kind, EventKind::ActivityCompleted { attempt: 1, .. })),
        "the in-flight activity was not finished and reported during shutdown"
    );
    let long_history = client.history("long").await.unwrap();
    assert!(
        long_history.events.iter().any(|e| matches!(&e.kind,
            EventKind::ActivityFailed { attempt: 1, failure, next_retry_at_ms: Some(_), .. }
                if failure.message.contains("worker shutting down"))),
        "the activity beyond the grace was not failed back as retryable"
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let second = tokio::spawn(worker(&client, "w-second", Duration::from_secs(3)).run(async {
        let _ = stop_rx.await;
    }));
    assert_eq!(client.result::<u64>("short", long).await.unwrap(), 1_000);
    assert_eq!(client.result::<u64>("long", long).await.unwrap(), 60_000);
    stop_tx.send(()).unwrap();
    second.await.unwrap().unwrap();
}
