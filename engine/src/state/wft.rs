//! Workflow tasks: at most one outstanding per run; events that arrive while one is started
//! cause another after it completes. A completion carries the commands of the workflow code.

use faultline_proto::limits::deadline;
use faultline_proto::{Command, EventKind, TaskToken};

use super::{activity, stale, workflow, Builder, NewTask, Output, TaskKind, TimerKind, WftState};
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
        let until = deadline(b.now, delay_ms.max(0) as u64);
        if let Some(w) = b.t.state.wft.as_mut() {
            w.backoff_until_ms = Some(until);
        }
        b.timer(TimerKind::WorkflowTaskRetry { id }, until);
    } else {
        schedule_now(b);
    }
}

pub fn token(run_id: &str, id: u64) -> String {
    TaskToken::Workflow { run_id: run_id.to_string(), task_id: id }.to_string()
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
    let timeout = b.t.state.task_timeout_ms();
    b.timer(TimerKind::WorkflowTaskTimeout { id }, deadline(now, timeout));
    let token = token(&b.t.state.run_id, id);
    b.t.output = super::Output::WorkflowTask { token, attempt, started_event_id };
    Ok(())
}

/// Checks a token against the started task; returns the worker that holds it.
fn check_token(b: &Builder, token: &str) -> Result<String> {
    let task_id = match token.parse::<TaskToken>()? {
        TaskToken::Workflow { run_id, task_id } if run_id == b.t.state.run_id => task_id,
        TaskToken::Workflow { .. } => return Err(stale("workflow task token names another run")),
        TaskToken::Activity { .. } => {
            return Err(EngineError::BadRequest(format!(
                "{token:?} is an activity task token; pass the task_token of the workflow task poll"
            )))
        }
    };
    match &b.t.state.wft {
        Some(w) if w.started_at_ms.is_some() && w.id == task_id => Ok(w.worker.clone().unwrap_or_default()),
        _ => Err(stale("workflow task token is stale")),
    }
}

/// Names the command a state-dependent refusal is about.
fn at_index(index: usize, command: &'static str, e: EngineError) -> EngineError {
    match e {
        EngineError::BadRequest(m) | EngineError::MalformedCommands(m) => {
            EngineError::MalformedCommands(format!("commands[{index}] ({command}) {m}"))
        }
        other => other,
    }
}

pub fn complete(b: &mut Builder, token: &str, commands: Vec<Command>) -> Result<()> {
    let worker = check_token(b, token)?;
    faultline_proto::validate_commands(&commands)?;
    let id = b.t.state.wft.as_ref().map(|w| w.id).unwrap_or(0);
    b.cancel_timer(TimerKind::WorkflowTaskTimeout { id });
    let pending = std::mem::take(&mut b.t.state.wft_needed);
    b.t.state.wft = None;
    if pending && commands.iter().any(Command::is_closing) {
        // The code decided to close without seeing the newest events (a signal, say): refuse
        // the whole completion so nothing is lost, and let the code run again with them. The
        // refusal commits (the failed task and the new one), and the worker is told.
        let message = "new events arrived while this workflow task ran; its commands (which close the run) \
                       were not applied, and a new workflow task replays the new events: drop this task";
        b.event(EventKind::WorkflowTaskFailed { message: message.into(), nondeterminism: false, worker });
        request(b);
        b.t.output = Output::CloseRefused { message: message.into() };
        return Ok(());
    }
    b.t.state.wft_last_failure = None;
    b.event(EventKind::WorkflowTaskCompleted { worker });
    // validate_commands made sure nothing follows a closing command.
    for (i, command) in commands.into_iter().enumerate() {
        let name = command.name();
        apply_command(b, command).map_err(|e| at_index(i, name, e))?;
    }
    if pending {
        b.want_wft();
    }
    Ok(())
}

fn check_new_seq(b: &mut Builder, seq: u64) -> Result<()> {
    let s = &b.t.state;
    if seq == 0 || s.activities.contains_key(&seq) || s.timers.contains_key(&seq) || s.children.contains_key(&seq) {
        return Err(EngineError::MalformedCommands(format!(
            "has seq {seq}, which is 0 or already in use by a pending command; \
             seq must come from the workflow's single counter starting at 1"
        )));
    }
    b.t.state.max_seq = b.t.state.max_seq.max(seq);
    Ok(())
}

/// A seq a cancel command names must be one this run issued. One whose timer or activity
/// already ended is fine (it may have fired while the task ran: a race, not a bug).
fn check_known_seq(b: &Builder, seq: u64, pending: bool, wrong_kind: Option<&str>) -> Result<()> {
    let s = &b.t.state;
    if pending {
        return Ok(());
    }
    if let Some(kind) = wrong_kind {
        return Err(EngineError::MalformedCommands(format!("names seq {seq}, which is a pending {kind}")));
    }
    let highest = [s.activities.keys().last(), s.timers.keys().last(), s.children.keys().last()]
        .into_iter()
        .flatten()
        .copied()
        .fold(s.max_seq, u64::max);
    if seq == 0 || seq > highest {
        return Err(EngineError::MalformedCommands(format!(
            "names seq {seq}, which this run never issued (highest so far: {highest})"
        )));
    }
    Ok(())
}

/// What kind of pending thing a seq names, if any.
fn pending_kind(b: &Builder, seq: u64) -> Option<&'static str> {
    let s = &b.t.state;
    if s.activities.contains_key(&seq) {
        Some("activity")
    } else if s.timers.contains_key(&seq) {
        Some("timer")
    } else if s.children.contains_key(&seq) {
        Some("child workflow")
    } else {
        None
    }
}

fn apply_command(b: &mut Builder, command: Command) -> Result<()> {
    match command {
        Command::ScheduleActivity { seq, activity_type, input, options } => {
            check_new_seq(b, seq)?;
            super::validate_activity_options(seq, &options)?;
            activity::schedule(b, seq, activity_type, input, options);
        }
        Command::RequestCancelActivity { seq } => {
            let kind = pending_kind(b, seq);
            check_known_seq(b, seq, kind == Some("activity"), kind)?;
            activity::request_cancel(b, seq)
        }
        Command::StartTimer { seq, duration_ms } => {
            check_new_seq(b, seq)?;
            let fire_at = deadline(b.now, duration_ms);
            b.event(EventKind::TimerStarted { seq, duration_ms, fire_at_ms: fire_at });
            let started_at_ms = b.now;
            b.t.state.timers.insert(seq, super::TimerState { seq, started_at_ms, fire_at_ms: fire_at });
            b.timer(TimerKind::User { seq }, fire_at);
        }
        Command::CancelTimer { seq } => {
            let kind = pending_kind(b, seq);
            check_known_seq(b, seq, kind == Some("timer"), kind)?;
            if b.t.state.timers.remove(&seq).is_some() {
                b.event(EventKind::TimerCanceled { seq });
                b.cancel_timer(TimerKind::User { seq });
            }
        }
        Command::StartChildWorkflow { seq, workflow_type, workflow_id, task_queue, input, options, parent_close_policy } => {
            check_new_seq(b, seq)?;
            super::validate_workflow_options(&options)?;
            workflow::initiate_child(b, seq, workflow_type, workflow_id, task_queue, input, options, parent_close_policy);
        }
        Command::SignalExternalWorkflow { seq, workflow_id, name, payload } => {
            b.t.state.max_seq = b.t.state.max_seq.max(seq);
            let sender_run_id = b.t.state.run_id.clone();
            b.t.effects.push(super::Effect::SignalExternal { sender_run_id, seq, workflow_id, name, payload });
        }
        Command::RecordMarker { seq, name, details } => {
            b.t.state.max_seq = b.t.state.max_seq.max(seq);
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
