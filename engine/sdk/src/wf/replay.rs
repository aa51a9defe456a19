//! The replayer: runs a workflow function from scratch against a run's history on a
//! single-threaded executor, checks that it produces the recorded commands, and returns the new
//! commands of the last activation.
//!
//! The history is split into activations at each `workflow_task_started` that began a task
//! which completed (plus the current one). For each activation the replayer
//! 1. checks the commands produced by the previous activation against the command events
//!    recorded after it (kind, seq and name, in order);
//! 2. applies, in history order, the resolutions recorded before this activation;
//! 3. sets `now` to the activation's timestamp and polls the workflow until it blocks.
//!
//! The workflow future is polled with a waker that only sets a flag: it is re-polled while
//! something woke it, and leaf futures are woken after each batch of resolutions. No tokio, no
//! threads, no clocks: the same history always yields the same polls.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use faultline_proto::{Command, EventKind, HistoryEvent, Payload, WorkflowTask};
use futures::task::{waker, ArcWake};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::context::WfContext;
use super::history::{activation_starts, apply_resolution, command_shape, recorded_command, Shape};
use super::registry::{WorkflowFuture, WorkflowRegistry};
use super::state::{RunInfo, RunState};
use crate::error::WorkflowError;

/// Polls of one activation after which a workflow that keeps waking itself is declared stuck.
const MAX_POLLS_PER_ACTIVATION: usize = 100_000;

/// Why a workflow task could not be completed. The worker reports it with
/// `POST /tasks/workflow/fail`; the workflow itself does not fail.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplayError {
    /// The code no longer produces what the history recorded.
    #[error("nondeterminism: {0}")]
    Nondeterminism(String),
    #[error("workflow code panicked: {0}; fix the code and deploy it, the task is retried")]
    Panicked(String),
    #[error("no workflow of type '{0}' is registered on this worker; register it with Worker::register_workflow")]
    UnknownWorkflowType(String),
    #[error("history is not replayable: {0}")]
    BadHistory(String),
    #[error("workflow never blocks: it woke itself {MAX_POLLS_PER_ACTIVATION} times in one workflow task; do not busy-loop in workflow code")]
    Stuck,
}

struct Flag(AtomicBool);
impl ArcWake for Flag {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.0.store(true, Ordering::SeqCst);
    }
}

/// Replays `task.history` with the registered workflow function and returns the commands of
/// the last activation (empty if the history's last task already completed).
pub fn replay(registry: &WorkflowRegistry, task: &WorkflowTask) -> Result<Vec<Command>, ReplayError> {
    let history = &task.history;
    let Some(EventKind::WorkflowStarted { workflow_id, workflow_type, task_queue, input, random_seed, .. }) =
        history.first().map(|e| &e.kind)
    else {
        return Err(ReplayError::BadHistory("the first event is not workflow_started".into()));
    };
    let wf_fn = registry
        .get(workflow_type)
        .ok_or_else(|| ReplayError::UnknownWorkflowType(workflow_type.clone()))?;
    let info = RunInfo {
        workflow_id: workflow_id.clone(),
        run_id: task.run_id.clone(),
        workflow_type: workflow_type.clone(),
        task_queue: task_queue.clone(),
    };
    let state = Rc::new(RefCell::new(RunState::new(info, ChaCha8Rng::seed_from_u64(*random_seed))));
    let ctx = WfContext { state: state.clone() };
    let mut root: Option<WorkflowFuture> = Some(wf_fn(ctx, input.clone()));

    let starts = activation_starts(history);
    if starts.is_empty() {
        return Err(ReplayError::BadHistory("no workflow_task_started event".into()));
    }
    let flag = Arc::new(Flag(AtomicBool::new(false)));
    let waker = waker(flag.clone());
    let mut previous: Option<(usize, Vec<Command>)> = None;
    let mut window_start = 1;
    for (n, &start) in starts.iter().enumerate() {
        let window = &history[window_start..start];
        if let Some((prev_n, commands)) = previous.take() {
            check_commands(prev_n, &commands, window, history.get(start))?;
        }
        {
            let mut s = state.borrow_mut();
            for e in window {
                apply_resolution(&mut s, &e.kind);
            }
            s.now_ms = history[start].timestamp_ms;
            s.wake_all();
        }
        flag.0.store(true, Ordering::SeqCst);
        poll_activation(&mut root, &state, &flag, &waker)?;
        let commands = std::mem::take(&mut state.borrow_mut().commands);
        previous = Some((n + 1, commands));
        window_start = start + 1;
    }
    let (last_n, commands) = previous.unwrap_or_default();
    let last_start = starts[starts.len() - 1];
    let task_completed = history[last_start + 1..]
        .iter()
        .any(|e| matches!(e.kind, EventKind::WorkflowTaskCompleted { .. }));
    if task_completed {
        // A closed or already-answered history: the last activation must match too.
        check_commands(last_n, &commands, &history[window_start..], None)?;
        return Ok(Vec::new());
    }
    Ok(commands)
}

/// Polls the workflow until nothing wakes it; appends the closing command if it finished.
fn poll_activation(
    root: &mut Option<WorkflowFuture>,
    state: &Rc<RefCell<RunState>>,
    flag: &Arc<Flag>,
    waker: &std::task::Waker,
) -> Result<(), ReplayError> {
    let mut cx = Context::from_waker(waker);
    let mut polls = 0;
    while flag.0.swap(false, Ordering::SeqCst) {
        let Some(fut) = root.as_mut() else { return Ok(()) };
        polls += 1;
        if polls > MAX_POLLS_PER_ACTIVATION {
            return Err(ReplayError::Stuck);
        }
        let polled = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx))).map_err(|p| {
            let mut msg = panic_message(p);
            if msg.contains("Tokio") || msg.contains("reactor") {
                msg.push_str(" (workflow code runs outside tokio: use ctx.sleep for timers and activities for I/O)");
            }
            ReplayError::Panicked(msg)
        })?;
        if let Poll::Ready(out) = polled {
            *root = None;
            state.borrow_mut().commands.push(closing_command(out));
        }
    }
    Ok(())
}

fn closing_command(out: Result<Payload, WorkflowError>) -> Command {
    match out {
        Ok(result) => Command::CompleteWorkflow { result },
        Err(WorkflowError::Failed(failure)) => Command::FailWorkflow { failure },
        Err(WorkflowError::Cancelled) => Command::CancelWorkflow { details: Payload::Null },
        Err(WorkflowError::ContinueAsNew { input, workflow_type }) => {
            Command::ContinueAsNew { input, workflow_type }
        }
    }
}

/// Compares what activation `n` produced with the command events recorded after it.
fn check_commands(
    n: usize,
    commands: &[Command],
    window: &[HistoryEvent],
    next_start: Option<&HistoryEvent>,
) -> Result<(), ReplayError> {
    let produced: Vec<Shape> = commands.iter().filter_map(command_shape).collect();
    let recorded: Vec<(&HistoryEvent, Shape)> =
        window.iter().filter_map(|e| recorded_command(&e.kind).map(|s| (e, s))).collect();
    for i in 0..produced.len().max(recorded.len()) {
        match (produced.get(i), recorded.get(i)) {
            (Some(p), Some((e, r))) if p != r => {
                return Err(ReplayError::Nondeterminism(format!(
                    "in workflow task {n}, history event #{} is {r} but the workflow code now produces command {p}; \
                     keep running workflows on the old code (or version the change) and redeploy",
                    e.event_id
                )))
            }
            (Some(p), None) => {
                let at = next_start
                    .map(|e| format!("history continues with event #{} {}", e.event_id, e.kind.name()))
                    .unwrap_or_else(|| "history has nothing more".into());
                return Err(ReplayError::Nondeterminism(format!(
                    "in workflow task {n}, the workflow code now produces command {p} that history does not have \
                     ({at}); keep running workflows on the old code (or version the change) and redeploy"
                )));
            }
            (None, Some((e, r))) => {
                return Err(ReplayError::Nondeterminism(format!(
                    "in workflow task {n}, history event #{} is {r} but the workflow code no longer produces that command; \
                     keep running workflows on the old code (or version the change) and redeploy",
                    e.event_id
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".into()
    }
}
