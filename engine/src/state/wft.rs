//! Workflow tasks: at most one outstanding per run; events that arrive while one is started
//! cause another after it completes. A completion carries the commands of the workflow code.

use faultline_proto::{Command, EventKind};

use super::{activity, stale, workflow, Builder, NewTask, TaskKind, TimerKind, WftState};
use crate::error::{EngineError, Result};

/// Backoff before retrying a failed workflow task (attempt is the one that failed).
pub fn failure_backoff_ms(attempt: u32) -> i64 {
    let exp = attempt.saturating_sub(1).min(10);
    (500i64 << exp).min(10_000)
}

/// Asks for a workflow task, honouring "at most one outstanding".
pub fn request(b: &mut Builder) {
    match &b.t.state.wft {
        None => {
            b.t.state.wft_counter += 1;
            let id = b.t.state.wft_counter;
            b.t.state.wft = Some(WftState {
                id,
                attempt: 1,
                scheduled_at_ms: b.now,
                started_at_ms: None,
                started_event_id: None,
                worker: None,
                backoff_until_ms: None,
            });
            schedule_now(b);
        }
        // Started: the worker's history lacks the new events; schedule another afterwards.
        Some(w) if w.started_at_ms.is_some() => b.t.state.wft_needed = true,
        // Scheduled (or waiting to retry): the task will see the new events when it starts.
        Some(_) => {}
    }
}

/// Records the scheduled event and inserts the dispatchable task row for the current task.
pub fn schedule_now(b: &mut Builder) {
    let queue = b.t.state.task_queue.clone();
    let attempt = match b.t.state.wft.as_mut() {
        Some(w) => {
            w.backoff_until_ms = None;
            w.scheduled_at_ms = b.now;
            w.attempt
        }
        None => return,
    };
    b.event(EventKind::WorkflowTaskScheduled { task_queue: queue.clone(), attempt });
    b.t.new_tasks.push(NewTask { kind: TaskKind::Workflow, task_queue: queue, seq: 0 });
}

/// Starts a fresh attempt numbered `attempt` (after a timeout or failure).
fn reschedule(b: &mut Builder, attempt: u32, delay_ms: i64) {
    b.t.state.wft_counter += 1;
    let id = b.t.state.wft_counter;
    b.t.state.wft = Some(WftState {
        id,
        attempt,
        scheduled_at_ms: b.now,
        started_at_ms: None,
        started_event_id: None,
        worker: None,
        backoff_until_ms: None,
    });
    if delay_ms > 0 {
        let until = b.now + delay_ms;
        if let Some(w) = b.t.state.wft.as_mut() {
            w.backoff_until_ms = Some(until);
        }
        b.timer(TimerKind::WorkflowTaskRetry { id }, until);
    } else {
        schedule_now(b);
    }
}

pub fn token(run_id: &str, id: u64) -> String {
    format!("{run_id}~w~{id}")
}

/// A worker claimed the task row: record the start and arm the task timeout.
pub fn start(b: &mut Builder, worker: String) -> Result<()> {
    let (id, attempt) = match &b.t.state.wft {
        Some(w) if w.started_at_ms.is_none() && w.backoff_until_ms.is_none() => (w.id, w.attempt),
        _ => return Err(stale("no workflow task is waiting for this run")),
    };
    let started_event_id = b.event(EventKind::WorkflowTaskStarted { worker: worker.clone() });
    let now = b.now;
    if let Some(w) = b.t.state.wft.as_mut() {
        w.started_at_ms = Some(now);
        w.started_event_id = Some(started_event_id);
        w.worker = Some(worker);
    }
    let timeout = b.t.state.task_timeout_ms() as i64;
    b.timer(TimerKind::WorkflowTaskTimeout { id }, now + timeout);
    let token = token(&b.t.state.run_id, id);
    b.t.output = super::Output::WorkflowTask { token, attempt, started_event_id };
    Ok(())
}

/// Checks a token against the started task; returns the worker that holds it.
fn check_token(b: &Builder, token: &str) -> Result<String> {
    match &b.t.state.wft {
        Some(w) if w.started_at_ms.is_some() && token == self::token(&b.t.state.run_id, w.id) => {
            Ok(w.worker.clone().unwrap_or_default())
        }
        _ => Err(stale("workflow task token is stale")),
    }
}

fn is_closing(c: &Command) -> bool {
    matches!(
        c,
        Command::CompleteWorkflow { .. }
            | Command::FailWorkflow { .. }
            | Command::CancelWorkflow { .. }
            | Command::ContinueAsNew { .. }
    )
}

pub fn complete(b: &mut Builder, token: &str, commands: Vec<Command>) -> Result<()> {
    let worker = check_token(b, token)?;
    let id = b.t.state.wft.as_ref().map(|w| w.id).unwrap_or(0);
    b.cancel_timer(TimerKind::WorkflowTaskTimeout { id });
    let pending = std::mem::take(&mut b.t.state.wft_needed);
    b.t.state.wft = None;
    if pending && commands.iter().any(is_closing) {
        // The code decided to close without seeing the newest events (a signal, say): refuse
        // the whole completion so nothing is lost, and let the code run again with them.
        b.event(EventKind::WorkflowTaskFailed {
            message: "new events arrived while this workflow task ran; its closing command was \
                      not applied and a new workflow task replays them"
                .into(),
            nondeterminism: false,
            worker,
        });
        request(b);
        return Ok(());
    }
    b.t.state.wft_last_failure = None;
    b.event(EventKind::WorkflowTaskCompleted { worker });
    for command in commands {
        if !b.t.state.is_running() {
            break; // commands after a closing one are meaningless
        }
        apply_command(b, command)?;
    }
    if pending {
        b.want_wft();
    }
    Ok(())
}

fn check_new_seq(b: &Builder, seq: u64, what: &str) -> Result<()> {
    let s = &b.t.state;
    if seq == 0 || s.activities.contains_key(&seq) || s.timers.contains_key(&seq) || s.children.contains_key(&seq) {
        return Err(EngineError::BadRequest(format!(
            "{what} command has seq {seq}, which is 0 or already in use by a pending command; \
             seq must come from the workflow's single counter starting at 1"
        )));
    }
    Ok(())
}

fn apply_command(b: &mut Builder, command: Command) -> Result<()> {
    match command {
        Command::ScheduleActivity { seq, activity_type, input, options } => {
            check_new_seq(b, seq, "schedule_activity")?;
            super::validate_activity_options(seq, &options)?;
            activity::schedule(b, seq, activity_type, input, options);
        }
        Command::RequestCancelActivity { seq } => activity::request_cancel(b, seq),
        Command::StartTimer { seq, duration_ms } => {
            check_new_seq(b, seq, "start_timer")?;
            let fire_at = b.now.saturating_add(duration_ms.min(i64::MAX as u64 / 2) as i64);
            b.event(EventKind::TimerStarted { seq, duration_ms, fire_at_ms: fire_at });
            let started_at_ms = b.now;
            b.t.state.timers.insert(seq, super::TimerState { seq, started_at_ms, fire_at_ms: fire_at });
            b.timer(TimerKind::User { seq }, fire_at);
        }
        Command::CancelTimer { seq } => {
            if b.t.state.timers.remove(&seq).is_some() {
                b.event(EventKind::TimerCanceled { seq });
                b.cancel_timer(TimerKind::User { seq });
            }
        }
        Command::StartChildWorkflow { seq, workflow_type, workflow_id, task_queue, input, options, parent_close_policy } => {
            check_new_seq(b, seq, "start_child_workflow")?;
            super::validate_workflow_options(&options)?;
            workflow::initiate_child(b, seq, workflow_type, workflow_id, task_queue, input, options, parent_close_policy);
        }
        Command::SignalExternalWorkflow { seq, workflow_id, name, payload } => {
            let sender_run_id = b.t.state.run_id.clone();
            b.t.effects.push(super::Effect::SignalExternal { sender_run_id, seq, workflow_id, name, payload });
        }
        Command::RecordMarker { seq, name, details } => {
            b.event(EventKind::MarkerRecorded { seq, name, details });
        }
        Command::CompleteWorkflow { result } => {
            b.t.state.result = Some(result.clone());
            workflow::close(b, EventKind::WorkflowCompleted { result });
        }
        Command::FailWorkflow { failure } => {
            b.t.state.failure = Some(failure.clone());
            workflow::close(b, EventKind::WorkflowFailed { failure });
        }
        Command::CancelWorkflow { details } => workflow::close(b, EventKind::WorkflowCanceled { details }),
        Command::ContinueAsNew { input, workflow_type } => workflow::continue_as_new(b, input, workflow_type),
    }
    Ok(())
}

pub fn fail(b: &mut Builder, token: &str, message: String, nondeterminism: bool) -> Result<()> {
    let worker = check_token(b, token)?;
    let (id, attempt) = b.t.state.wft.as_ref().map(|w| (w.id, w.attempt)).unwrap_or((0, 1));
    b.cancel_timer(TimerKind::WorkflowTaskTimeout { id });
    b.event(EventKind::WorkflowTaskFailed { message: message.clone(), nondeterminism, worker });
    b.t.state.wft_last_failure = Some(message);
    b.t.state.wft_needed = false;
    reschedule(b, attempt.saturating_add(1), failure_backoff_ms(attempt));
    Ok(())
}

/// The worker holding the task did not answer in time (it was killed, say): dispatch again.
pub fn timed_out(b: &mut Builder) {
    let attempt = b.t.state.wft.as_ref().map(|w| w.attempt).unwrap_or(1);
    b.event(EventKind::WorkflowTaskTimedOut);
    b.t.state.wft_needed = false;
    reschedule(b, attempt.saturating_add(1), 0);
}
