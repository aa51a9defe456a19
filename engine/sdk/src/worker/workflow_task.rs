//! One workflow task: replay on a pool of plain threads, then report the commands (or the
//! failure). The completion may hand back the activities it scheduled (eager dispatch), which
//! then run here on the slots taken for them.

use std::sync::Arc;

use faultline_proto::{
    codes, Command, CompleteWorkflowTaskRequest, CompleteWorkflowTaskResponse, FailWorkflowTaskRequest, WorkflowTask,
};
use futures::future::BoxFuture;
use tokio::sync::OwnedSemaphorePermit;

use super::{activity_task, Shared};
use crate::error::ClientError;
use crate::wf::{replay, ReplayError, WorkflowRegistry};

type Job = Box<dyn FnOnce() + Send>;

/// Replays workflow tasks on plain threads, not tokio's: workflow code then has no tokio
/// context, so a tokio timer or socket used by mistake fails the task loudly instead of
/// hanging it.
pub(super) struct Replayer {
    registry: Arc<WorkflowRegistry>,
    jobs: Option<crossbeam_channel::Sender<Job>>,
}

impl Replayer {
    pub(super) fn new(registry: WorkflowRegistry, threads: usize) -> Replayer {
        let registry = Arc::new(registry);
        if threads == 0 {
            return Replayer { registry, jobs: None };
        }
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads {
            let rx = rx.clone();
            // The threads end when the sender (this replayer) is dropped and the queue drains.
            let spawned = std::thread::Builder::new()
                .name(format!("faultline-replay-{i}"))
                .spawn(move || rx.into_iter().for_each(|job| job()));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a replay thread");
            }
        }
        Replayer { registry, jobs: Some(tx) }
    }

    pub(super) fn has_workflows(&self) -> bool {
        self.jobs.is_some()
    }

    async fn replay(&self, task: WorkflowTask) -> Result<Vec<Command>, ReplayError> {
        let Some(jobs) = &self.jobs else {
            return Err(ReplayError::Panicked("this worker has no workflows registered".into()));
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let registry = self.registry.clone();
        let job: Job = Box::new(move || {
            let _ = tx.send(replay(&registry, &task));
        });
        if jobs.send(job).is_err() {
            return Err(ReplayError::Panicked("the replay threads are gone".into()));
        }
        // A panic in workflow code is caught by `replay`; a lost answer means the thread died.
        rx.await.unwrap_or_else(|_| Err(ReplayError::Panicked("replay thread died".into())))
    }
}

/// Processes a workflow task on its slot; the slot is released once the task is reported.
/// Boxed: an activity completion can lead here and this back there (eager dispatch), and a
/// named future type breaks that cycle of opaque types.
pub(super) fn handle(shared: Arc<Shared>, task: WorkflowTask, slot: OwnedSemaphorePermit) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        let token = task.task_token.clone();
        let id = format!("{}/{}", task.workflow_id, task.run_id);
        let started = std::time::Instant::now();
        let result = match shared.replayer.replay(task).await {
            Ok(commands) => {
                tracing::debug!(workflow = %id, commands = commands.len(), elapsed = ?started.elapsed(), "workflow task done");
                complete(&shared, token, commands).await
            }
            Err(e) => {
                let nondeterminism = matches!(e, ReplayError::Nondeterminism(_));
                tracing::error!(workflow = %id, error = %e, "workflow task failed");
                let req = FailWorkflowTaskRequest { task_token: token, message: e.to_string(), nondeterminism };
                shared.reporter.fail_workflow_task(req).await
            }
        };
        drop(slot);
        if let Err(e) = result {
            tracing::warn!(workflow = %id, error = %e, "could not report the workflow task; the engine retries it after its timeout");
        }
    })
}

/// Reports the commands, asking for the activities they schedule on this queue, and starts
/// the ones the engine hands back.
async fn complete(shared: &Arc<Shared>, token: String, commands: Vec<Command>) -> Result<(), ClientError> {
    let mut slots = shared.free_activity_slots(own_activities(&commands, &shared.poll.task_queue));
    let eager = shared.eager_request(slots.len() as u32, false);
    let req = CompleteWorkflowTaskRequest { task_token: token.clone(), commands, eager };
    match shared.reporter.complete_workflow_task(req).await {
        Ok(CompleteWorkflowTaskResponse { activity_tasks, .. }) => {
            for task in activity_tasks {
                // The engine never returns more than asked; a missing slot would be its bug.
                let Some(slot) = slots.pop() else {
                    tracing::error!("engine returned more eager activity tasks than slots were offered");
                    break;
                };
                tokio::spawn(activity_task::run(shared.clone(), task, slot));
            }
            Ok(())
        }
        // The engine refused to close the run because events arrived that this task did not
        // see (a signal, say). Nothing was applied, the task is over, and a new workflow task
        // with those events is already scheduled: nothing to report, the code runs again.
        Err(ClientError::Api { code, message, .. }) if code == codes::CLOSE_REFUSED => {
            tracing::info!(%message, "the engine refused this task's close; a new task replays the new events");
            Ok(())
        }
        // The engine refused the commands themselves (400): say so in the task's failure,
        // where describe and the dashboard show it, instead of waiting for a timeout.
        Err(ClientError::Api { status: 400, message, .. }) => {
            tracing::error!(%message, "engine rejected the workflow's commands");
            let message = format!("engine rejected the workflow's commands: {message}");
            let req = FailWorkflowTaskRequest { task_token: token, message, nondeterminism: false };
            shared.reporter.fail_workflow_task(req).await
        }
        Err(e) => Err(e),
    }
}

/// Activities scheduled by `commands` on `queue` (the workflow's own queue when none is named).
fn own_activities(commands: &[Command], queue: &str) -> u32 {
    let on_queue = |c: &&Command| match c {
        Command::ScheduleActivity { options, .. } => options.task_queue.as_deref().is_none_or(|q| q == queue),
        _ => false,
    };
    commands.iter().filter(on_queue).count() as u32
}
