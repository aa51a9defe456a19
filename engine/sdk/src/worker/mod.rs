//! [`Worker`]: long-polls workflow and activity tasks on one task queue and runs them.
//!
//! Concurrency is bounded by slots, one semaphore per kind: `max_concurrent_workflow_tasks`
//! and `max_concurrent_activities`. A poller takes a slot before it polls and hands it to the
//! task it gets, so a worker never holds more tasks than it has slots for. A few pollers per
//! kind (`*_pollers`) keep the long polls open.
//!
//! Eager dispatch: a worker reporting a result says which free slots it has, and the engine
//! may answer with the tasks that report created on this queue, already claimed for it in the
//! report's transaction. A workflow task completion that schedules activities gets them back,
//! and an activity completion gets its run's next workflow task. That saves a poll round trip
//! and a commit per task; the chain of a workflow then runs without polling at all.
//!
//! Reports (completions and failures) that are ready at the same moment travel together in one
//! request ([`reporter`]), each still with its own answer.
//!
//! Layout: this file (options, slots, pollers, shutdown); [`workflow_task`]: replay on a pool
//! of plain threads and the completion; [`activity_task`]: running one attempt and its report;
//! [`reporter`]: report batching.
//!
//! Shutdown: once the `shutdown` future resolves, pollers stop asking for work and reports
//! stop asking for eager tasks (an open long poll is dropped; a task the engine handed out in
//! that instant is redelivered after its timeout). In-flight workflow tasks finish; in-flight
//! activities get `graceful_shutdown_timeout` to finish, then are failed back as retryable.
//!
//! An activity still running a second past its attempt's deadline is aborted without a
//! report: the engine has already timed that attempt out and schedules a retry.

mod activity_task;
mod reporter;
mod workflow_task;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faultline_proto::{EagerRequest, PollRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::activity::{ActContext, ActivityRegistry};
use crate::client::Client;
use crate::error::{ActivityError, ClientError, WorkerError, WorkflowError};
use crate::wf::{WfContext, WorkflowRegistry};

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
    /// Long polls kept open for workflow tasks (default 2, at most the workflow slots).
    pub workflow_pollers: usize,
    /// Long polls kept open for activity tasks (default 4, at most the activity slots).
    pub activity_pollers: usize,
    /// Ask the engine for eager tasks when reporting (default true).
    pub eager_dispatch: bool,
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
            workflow_pollers: 2,
            activity_pollers: 4,
            eager_dispatch: true,
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
        let wf_slots = if self.workflows.types().is_empty() { 0 } else { o.max_concurrent_workflow_tasks.max(1) };
        let act_slots = if self.activities.is_empty() { 0 } else { o.max_concurrent_activities.max(1) };
        if wf_slots + act_slots == 0 {
            return Err(WorkerError::BadOptions("nothing registered; register a workflow or an activity first".into()));
        }
        let wf_pollers = o.workflow_pollers.clamp(1, wf_slots.max(1)) * usize::from(wf_slots > 0);
        let act_pollers = o.activity_pollers.clamp(1, act_slots.max(1)) * usize::from(act_slots > 0);
        let (stop_tx, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            client: self.client.clone(),
            poll: PollRequest {
                task_queue: o.task_queue.clone(),
                worker: o.identity.clone(),
                timeout_ms: o.poll_timeout.as_millis() as u64,
            },
            reporter: reporter::Reporter::spawn(self.client.clone()),
            replayer: workflow_task::Replayer::new(self.workflows, replay_threads(wf_slots)),
            activities: self.activities,
            grace: o.graceful_shutdown_timeout,
            wf_slots: Arc::new(Semaphore::new(wf_slots)),
            act_slots: Arc::new(Semaphore::new(act_slots)),
            eager: o.eager_dispatch,
            stop: stop_rx.clone(),
            engine_unreachable: AtomicBool::new(false),
        });
        tracing::info!(task_queue = %o.task_queue, identity = %o.identity, wf_slots, act_slots, "worker started");
        let mut loops = JoinSet::new();
        for _ in 0..wf_pollers {
            loops.spawn(poller(shared.clone(), Kind::Workflow, stop_rx.clone()));
        }
        for _ in 0..act_pollers {
            loops.spawn(poller(shared.clone(), Kind::Activity, stop_rx.clone()));
        }
        shutdown.await;
        tracing::info!("worker shutting down: no new tasks, waiting for in-flight ones");
        let _ = stop_tx.send(true);
        while let Some(r) = loops.join_next().await {
            if let Err(e) = r {
                tracing::error!(error = %e, "a poller loop ended abnormally");
            }
        }
        // Every in-flight task holds a slot: all slots back means all tasks are done.
        let (_wf, _act) = tokio::join!(
            shared.wf_slots.acquire_many(wf_slots as u32),
            shared.act_slots.acquire_many(act_slots as u32)
        );
        tracing::info!("worker stopped");
        Ok(())
    }
}

/// Replay is short CPU work, so a thread per core serves every slot; more threads only add
/// context switches. Code that blocks a replay thread breaks determinism rules anyway.
fn replay_threads(wf_slots: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    wf_slots.min(cores.max(2))
}

struct Shared {
    client: Client,
    /// Completions and failures go through here, batched.
    reporter: reporter::Reporter,
    poll: PollRequest,
    replayer: workflow_task::Replayer,
    activities: ActivityRegistry,
    grace: Duration,
    wf_slots: Arc<Semaphore>,
    act_slots: Arc<Semaphore>,
    eager: bool,
    stop: watch::Receiver<bool>,
    /// Set by the first poller that cannot reach the engine, so an outage is logged once per
    /// worker (and its end once), not by every poller on every retry.
    engine_unreachable: AtomicBool,
}

impl Shared {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// What to ask for eagerly with a report, given the slots taken for it; `None` to ask nothing.
    fn eager_request(&self, activities: u32, workflow_task: bool) -> Option<EagerRequest> {
        (activities > 0 || workflow_task).then(|| EagerRequest {
            task_queue: self.poll.task_queue.clone(),
            worker: self.poll.worker.clone(),
            activities,
            workflow_task,
        })
    }

    /// Takes up to `n` free activity slots without waiting (none while shutting down).
    fn free_activity_slots(&self, n: u32) -> Vec<OwnedSemaphorePermit> {
        if !self.eager || self.stopping() || self.activities.is_empty() {
            return Vec::new();
        }
        (0..n).map_while(|_| self.act_slots.clone().try_acquire_owned().ok()).collect()
    }

    /// Takes a free workflow task slot without waiting (none while shutting down).
    fn free_workflow_slot(&self) -> Option<OwnedSemaphorePermit> {
        if !self.eager || self.stopping() || !self.replayer.has_workflows() {
            return None;
        }
        self.wf_slots.clone().try_acquire_owned().ok()
    }
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Backoff after a failed poll, so a down engine is not hammered. Returns false on shutdown.
async fn poll_backoff(
    shared: &Shared,
    err: &ClientError,
    failures: &mut u32,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    *failures += 1;
    let wait = Duration::from_millis(100 * 2u64.pow((*failures).min(6)));
    if shared.engine_unreachable.swap(true, Ordering::SeqCst) {
        tracing::debug!(error = %err, retry_in = ?wait, "poll failed again");
    } else {
        tracing::warn!(error = %err, "cannot poll the engine; retrying with backoff (up to 6.4 s) until it answers");
    }
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stopped(stop) => false,
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Workflow,
    Activity,
}

/// Takes a slot, then polls; a task gets the slot and runs on its own tokio task.
async fn poller(shared: Arc<Shared>, kind: Kind, mut stop: watch::Receiver<bool>) {
    let slots = match kind {
        Kind::Workflow => shared.wf_slots.clone(),
        Kind::Activity => shared.act_slots.clone(),
    };
    let mut failures = 0;
    loop {
        let slot = tokio::select! {
            _ = stopped(&mut stop) => return,
            s = slots.clone().acquire_owned() => match s { Ok(s) => s, Err(_) => return },
        };
        let polled = tokio::select! {
            _ = stopped(&mut stop) => return,
            r = take_task(&shared, kind, slot) => r,
        };
        match polled {
            Ok(()) => {
                if failures > 0 && shared.engine_unreachable.swap(false, Ordering::SeqCst) {
                    tracing::info!("the engine answers again; polling resumed");
                }
                failures = 0;
            }
            Err(e) => {
                if !poll_backoff(&shared, &e, &mut failures, &mut stop).await {
                    return;
                }
            }
        }
    }
}

/// One long poll; a task it brings starts on `slot` (which is released if none comes).
async fn take_task(shared: &Arc<Shared>, kind: Kind, slot: OwnedSemaphorePermit) -> Result<(), ClientError> {
    match kind {
        Kind::Workflow => {
            if let Some(task) = shared.client.poll_workflow_task(&shared.poll).await? {
                tokio::spawn(workflow_task::handle(shared.clone(), task, slot));
            }
        }
        Kind::Activity => {
            if let Some(task) = shared.client.poll_activity_task(&shared.poll).await? {
                tokio::spawn(activity_task::run(shared.clone(), task, slot));
            }
        }
    }
    Ok(())
}
