//! [`Worker`]: long-polls workflow and activity tasks on one task queue and runs them.
//!
//! Concurrency is a fixed number of poller loops per kind, each running one task at a time, so
//! `max_concurrent_*` bounds both polls and work. Workflow tasks replay on the blocking pool
//! (the replayer is synchronous and never touches tokio); activities run on tokio.
//!
//! Shutdown: once the `shutdown` future resolves, pollers stop asking for work (an open long
//! poll is dropped; a task the engine handed out in that instant is redelivered after its
//! timeout). In-flight workflow tasks finish; in-flight activities get
//! `graceful_shutdown_timeout` to finish, then are failed back as retryable.
//!
//! An activity still running a second past its attempt's deadline is aborted without a
//! report: the engine has already timed that attempt out and schedules a retry.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use faultline_proto::{
    ActivityTask, CompleteActivityTaskRequest, CompleteWorkflowTaskRequest, FailActivityTaskRequest,
    FailWorkflowTaskRequest, Failure, PollRequest, WorkflowTask,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::activity::{ActContext, ActivityRegistry};
use crate::client::Client;
use crate::error::{ActivityError, ClientError, WorkerError, WorkflowError};
use crate::wf::{replay, ReplayError, WfContext, WorkflowRegistry};

/// Options of a [`Worker`].
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerOptions {
    pub task_queue: String,
    /// Shown as the poller and recorded in history; default `worker-<pid>@<host>`.
    pub identity: String,
    /// Workflow tasks processed at once (default 4).
    pub max_concurrent_workflow_tasks: usize,
    /// Activities run at once (default 16).
    pub max_concurrent_activities: usize,
    /// How long the engine may hold a poll open (default 20 s).
    pub poll_timeout: Duration,
    /// How long in-flight activities may run on after shutdown began (default 10 s).
    pub graceful_shutdown_timeout: Duration,
}

impl WorkerOptions {
    pub fn new(task_queue: impl Into<String>) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
        Self {
            task_queue: task_queue.into(),
            identity: format!("worker-{}@{host}", std::process::id()),
            max_concurrent_workflow_tasks: 4,
            max_concurrent_activities: 16,
            poll_timeout: Duration::from_secs(20),
            graceful_shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Runs registered workflows and activities for one task queue.
pub struct Worker {
    client: Client,
    options: WorkerOptions,
    workflows: WorkflowRegistry,
    activities: ActivityRegistry,
}

impl Worker {
    pub fn new(client: Client, options: WorkerOptions) -> Worker {
        Worker { client, options, workflows: WorkflowRegistry::new(), activities: ActivityRegistry::default() }
    }

    /// Registers `f`: `async fn(WfContext, In) -> Result<Out, WorkflowError>`. Its future need
    /// not be `Send`: it runs on the SDK's deterministic executor, never on tokio, so it must
    /// not use tokio timers or I/O (use activities and `ctx.sleep`).
    pub fn register_workflow<In, Out, F, Fut>(&mut self, workflow_type: &str, f: F) -> &mut Self
    where
        In: DeserializeOwned + 'static,
        Out: Serialize + 'static,
        F: Fn(WfContext, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, WorkflowError>> + 'static,
    {
        self.workflows.register(workflow_type, f);
        self
    }

    /// Registers `f`: `async fn(ActContext, In) -> Result<Out, ActivityError>`, run on tokio.
    pub fn register_activity<In, Out, F, Fut>(&mut self, activity_type: &str, f: F) -> &mut Self
    where
        In: DeserializeOwned + Send + 'static,
        Out: Serialize + 'static,
        F: Fn(ActContext, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, ActivityError>> + Send + 'static,
    {
        self.activities.register(activity_type, f);
        self
    }

    /// Polls and runs tasks until `shutdown` resolves, then shuts down gracefully.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        let o = &self.options;
        if o.task_queue.is_empty() {
            return Err(WorkerError::BadOptions("task_queue is empty; name the queue to poll".into()));
        }
        let wf_pollers = if self.workflows.types().is_empty() { 0 } else { o.max_concurrent_workflow_tasks.max(1) };
        let act_pollers = if self.activities.is_empty() { 0 } else { o.max_concurrent_activities.max(1) };
        if wf_pollers + act_pollers == 0 {
            return Err(WorkerError::BadOptions("nothing registered; register a workflow or an activity first".into()));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            client: self.client.clone(),
            poll: PollRequest {
                task_queue: o.task_queue.clone(),
                worker: o.identity.clone(),
                timeout_ms: o.poll_timeout.as_millis() as u64,
            },
            workflows: Arc::new(self.workflows),
            activities: self.activities,
            grace: o.graceful_shutdown_timeout,
        });
        tracing::info!(task_queue = %o.task_queue, identity = %o.identity, wf_pollers, act_pollers, "worker started");
        let mut loops = JoinSet::new();
        for _ in 0..wf_pollers {
            loops.spawn(workflow_loop(shared.clone(), stop_rx.clone()));
        }
        for _ in 0..act_pollers {
            loops.spawn(activity_loop(shared.clone(), stop_rx.clone()));
        }
        shutdown.await;
        tracing::info!("worker shutting down: no new tasks, waiting for in-flight ones");
        let _ = stop_tx.send(true);
        while let Some(r) = loops.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "a poller loop ended abnormally");
            }
        }
        tracing::info!("worker stopped");
        Ok(())
    }
}

struct Shared {
    client: Client,
    poll: PollRequest,
    workflows: Arc<WorkflowRegistry>,
    activities: ActivityRegistry,
    grace: Duration,
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Backoff after a failed poll, so a down engine is not hammered. Returns false on shutdown.
async fn poll_backoff(err: &ClientError, failures: &mut u32, stop: &mut watch::Receiver<bool>) -> bool {
    *failures += 1;
    let wait = Duration::from_millis(100 * 2u64.pow((*failures).min(6)));
    tracing::warn!(error = %err, retry_in = ?wait, "poll failed");
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stopped(stop) => false,
    }
}

async fn workflow_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut failures = 0;
    loop {
        let polled = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = shared.client.poll_workflow_task(&shared.poll) => r,
        };
        match polled {
            Ok(None) => failures = 0,
            Ok(Some(task)) => {
                failures = 0;
                handle_workflow_task(&shared, task).await;
            }
            Err(e) => {
                if !poll_backoff(&e, &mut failures, &mut stop).await {
                    return;
                }
            }
        }
    }
}

async fn handle_workflow_task(shared: &Shared, task: WorkflowTask) {
    let registry = shared.workflows.clone();
    let token = task.task_token.clone();
    let id = format!("{}/{}", task.workflow_id, task.run_id);
    let started = std::time::Instant::now();
    // A plain thread, not tokio's blocking pool: workflow code then has no tokio context, so a
    // tokio timer or socket used by mistake fails the task loudly instead of hanging it.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("faultline-replay".into()).spawn(move || {
        let _ = tx.send(replay(&registry, &task));
    });
    let outcome = match spawned {
        Ok(_) => rx.await.unwrap_or_else(|_| Err(ReplayError::Panicked("replay thread died".into()))),
        Err(e) => Err(ReplayError::Panicked(format!("could not start a replay thread: {e}"))),
    };
    let result = match outcome {
        Ok(commands) => {
            tracing::debug!(workflow = %id, commands = commands.len(), elapsed = ?started.elapsed(), "workflow task done");
            let req = CompleteWorkflowTaskRequest { task_token: token.clone(), commands };
            match shared.client.complete_workflow_task(&req).await {
                // The engine refused the commands themselves (400): say so in the task's failure,
                // where describe and the dashboard show it, instead of waiting for a timeout.
                Err(ClientError::Api { status: 400, message, .. }) => {
                    tracing::error!(workflow = %id, %message, "engine rejected the workflow's commands");
                    let message = format!("engine rejected the workflow's commands: {message}");
                    let req = FailWorkflowTaskRequest { task_token: token, message, nondeterminism: false };
                    shared.client.fail_workflow_task(&req).await
                }
                other => other,
            }
        }
        Err(e) => {
            let nondeterminism = matches!(e, ReplayError::Nondeterminism(_));
            tracing::error!(workflow = %id, error = %e, "workflow task failed");
            let req = FailWorkflowTaskRequest { task_token: token, message: e.to_string(), nondeterminism };
            shared.client.fail_workflow_task(&req).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(workflow = %id, error = %e, "could not report the workflow task; the engine retries it after its timeout");
    }
}

/// Resolves a little after `deadline_ms` (ms since the epoch), never if there is none.
async fn past_deadline(deadline_ms: Option<i64>) {
    let Some(deadline) = deadline_ms else { return std::future::pending().await };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // The slack lets a result produced right at the deadline still be reported.
    let left = (deadline - now).max(0) as u64 + 1_000;
    tokio::time::sleep(Duration::from_millis(left)).await;
}

async fn activity_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut failures = 0;
    loop {
        let polled = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = shared.client.poll_activity_task(&shared.poll) => r,
        };
        match polled {
            Ok(None) => failures = 0,
            Ok(Some(task)) => {
                failures = 0;
                run_activity(&shared, task, stop.clone()).await;
            }
            Err(e) => {
                if !poll_backoff(&e, &mut failures, &mut stop).await {
                    return;
                }
            }
        }
    }
}

async fn run_activity(shared: &Shared, task: ActivityTask, mut stop: watch::Receiver<bool>) {
    let token = task.task_token.clone();
    let what = format!("{} seq {} attempt {} of {}", task.activity_type, task.seq, task.attempt, task.workflow_id);
    let outcome: Result<serde_json::Value, ActivityError> = match shared.activities.get(&task.activity_type) {
        None => Err(ActivityError::retryable(format!(
            "no activity of type '{}' is registered on worker '{}'; register it or route it to another task queue",
            task.activity_type, shared.poll.worker
        ))),
        Some(f) => {
            let input = task.input.clone();
            let deadline_ms = task.deadline_ms;
            let ctx = ActContext::new(task, shared.client.clone());
            let mut handle = tokio::spawn(f(ctx, input));
            let grace = shared.grace;
            let shutdown_deadline = async move {
                stopped(&mut stop).await;
                tokio::time::sleep(grace).await;
            };
            tokio::select! {
                joined = &mut handle => match joined {
                    Ok(r) => r,
                    Err(e) => Err(ActivityError::retryable(format!("activity panicked: {e}"))),
                },
                _ = shutdown_deadline => {
                    handle.abort();
                    Err(ActivityError::retryable("worker shutting down; the activity is retried elsewhere"))
                }
                _ = past_deadline(deadline_ms) => {
                    // The engine has timed this attempt out and will retry it: stop the work
                    // instead of leaving it running as a zombie. Nothing to report.
                    handle.abort();
                    tracing::warn!(activity = %what, "attempt passed its deadline; abandoned");
                    return;
                }
            }
        }
    };
    let result = match outcome {
        Ok(result) => {
            tracing::debug!(activity = %what, "activity completed");
            shared.client.complete_activity_task(&CompleteActivityTaskRequest { task_token: token, result }).await
        }
        Err(e) => {
            tracing::info!(activity = %what, error = %e, "activity attempt failed");
            let failure: Failure = e.failure;
            shared.client.fail_activity_task(&FailActivityTaskRequest { task_token: token, failure }).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(activity = %what, error = %e, "could not report the activity; the engine times the attempt out and retries it");
    }
}
