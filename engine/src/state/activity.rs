//! Activities: scheduling, one `ActivityStarted` per attempt, retries with backoff, timeouts,
//! heartbeats, cancellation, and the durable attempts record written with each transition.

use faultline_proto::limits::deadline;
use faultline_proto::{
    ActivityAttempt, ActivityOptions, ActivityTask, EventKind, Failure, Payload, PendingActivityState, TaskToken,
    TimeoutKind,
};

use super::{stale, ActivityState, Builder, NewTask, Output, TaskKind, TimerKind, DEFAULT_START_TO_CLOSE_MS};
use crate::error::{EngineError, Result};

pub fn token(run_id: &str, seq: u64, attempt: u32) -> String {
    TaskToken::Activity { run_id: run_id.to_string(), seq, attempt }.to_string()
}

fn start_to_close_ms(o: &ActivityOptions) -> Option<u64> {
    match (o.start_to_close_timeout_ms, o.schedule_to_close_timeout_ms) {
        (Some(v), _) => Some(v),
        (None, None) => Some(DEFAULT_START_TO_CLOSE_MS),
        (None, Some(_)) => None,
    }
}

pub fn schedule(b: &mut Builder, seq: u64, activity_type: String, input: Payload, options: ActivityOptions) {
    let task_queue = options.task_queue.clone().unwrap_or_else(|| b.t.state.task_queue.clone());
    b.event(EventKind::ActivityScheduled {
        seq,
        activity_type: activity_type.clone(),
        input: input.clone(),
        task_queue: task_queue.clone(),
        options: options.clone(),
    });
    let deadline = options.schedule_to_close_timeout_ms.map(|ms| deadline(b.now, ms));
    if let Some(d) = deadline {
        b.timer(TimerKind::ActivityScheduleToClose { seq }, d);
    }
    b.t.state.activities.insert(
        seq,
        ActivityState {
            seq,
            activity_type,
            input,
            task_queue,
            options,
            status: PendingActivityState::Scheduled,
            cancel_requested: false,
            attempt: 1,
            scheduled_at_ms: b.now,
            last_started_at_ms: None,
            last_failure: None,
            last_worker: None,
            next_retry_at_ms: None,
            last_heartbeat_at_ms: None,
            heartbeat_details: None,
            schedule_to_close_deadline_ms: deadline,
        },
    );
    dispatch_attempt(b, seq);
}

/// Makes the current attempt dispatchable: a task row plus its schedule-to-start timeout.
pub fn dispatch_attempt(b: &mut Builder, seq: u64) {
    let now = b.now;
    let Some(a) = b.t.state.activities.get_mut(&seq) else { return };
    a.next_retry_at_ms = None;
    let was_backoff = std::mem::replace(&mut a.status, PendingActivityState::Scheduled) == PendingActivityState::Backoff;
    let (queue, attempt, s2s) = (a.task_queue.clone(), a.attempt, a.options.schedule_to_start_timeout_ms);
    b.t.new_tasks.push(NewTask { kind: TaskKind::Activity, task_queue: queue, seq });
    if was_backoff {
        b.cancel_timer(TimerKind::ActivityRetry { seq });
    }
    if let Some(ms) = s2s {
        b.timer(TimerKind::ActivityScheduleToStart { seq, attempt }, deadline(now, ms));
    }
}

/// A worker claimed the activity's task row.
pub fn start(b: &mut Builder, seq: u64, worker: String) -> Result<()> {
    let now = b.now;
    let run_id = b.t.state.run_id.clone();
    let workflow_id = b.t.state.workflow_id.clone();
    let a = match b.t.state.activities.get_mut(&seq) {
        Some(a) if a.status == PendingActivityState::Scheduled => a,
        _ => return Err(stale("activity is not waiting for a worker")),
    };
    a.status = PendingActivityState::Started;
    a.last_started_at_ms = Some(now);
    a.last_worker = Some(worker.clone());
    a.last_heartbeat_at_ms = None;
    let a = a.clone();
    b.event(EventKind::ActivityStarted { seq, attempt: a.attempt, worker: worker.clone() });
    if a.options.schedule_to_start_timeout_ms.is_some() {
        b.cancel_timer(TimerKind::ActivityScheduleToStart { seq, attempt: a.attempt });
    }
    let mut task_deadline = a.schedule_to_close_deadline_ms;
    if let Some(ms) = start_to_close_ms(&a.options) {
        let d = deadline(now, ms);
        b.timer(TimerKind::ActivityStartToClose { seq, attempt: a.attempt }, d);
        task_deadline = Some(task_deadline.map_or(d, |x| x.min(d)));
    }
    if let Some(ms) = a.options.heartbeat_timeout_ms {
        b.timer(TimerKind::ActivityHeartbeat { seq, attempt: a.attempt }, deadline(now, ms));
    }
    b.t.attempts.push(ActivityAttempt {
        seq,
        attempt: a.attempt,
        worker,
        started_at_ms: now,
        ended_at_ms: None,
        outcome: "running".into(),
        failure: None,
        next_retry_at_ms: None,
    });
    b.t.output = Output::ActivityTask(Box::new(ActivityTask {
        task_token: token(&run_id, seq, a.attempt),
        workflow_id,
        run_id: run_id.clone(),
        seq,
        activity_type: a.activity_type.clone(),
        input: a.input.clone(),
        attempt: a.attempt,
        idempotency_key: format!("{run_id}:{seq}"),
        heartbeat_details: a.heartbeat_details.clone(),
        deadline_ms: task_deadline,
        heartbeat_timeout_ms: a.options.heartbeat_timeout_ms,
    }));
    Ok(())
}

/// Resolves a token to the seq of a started attempt.
fn check_token(b: &Builder, token: &str) -> Result<u64> {
    let (seq, attempt) = match token.parse::<TaskToken>()? {
        TaskToken::Activity { run_id, seq, attempt } if run_id == b.t.state.run_id => (seq, attempt),
        TaskToken::Activity { .. } => return Err(stale("activity task token names another run")),
        TaskToken::Workflow { .. } => {
            return Err(EngineError::BadRequest(format!(
                "{token:?} is not an activity task token; pass the task_token of the activity poll"
            )))
        }
    };
    match b.t.state.activities.get(&seq) {
        Some(a) if a.status == PendingActivityState::Started && a.attempt == attempt => Ok(seq),
        _ => Err(stale(&format!("activity {seq} attempt {attempt} token is stale"))),
    }
}

/// The timers an activity in this state has armed. Only those are cancelled: each cancel is a
/// delete in the store, and an activity usually has one timer armed, not five.
fn armed_timers(a: &ActivityState) -> Vec<TimerKind> {
    let (seq, attempt) = (a.seq, a.attempt);
    let mut armed = Vec::with_capacity(2);
    if a.schedule_to_close_deadline_ms.is_some() {
        armed.push(TimerKind::ActivityScheduleToClose { seq });
    }
    let s2s = a.options.schedule_to_start_timeout_ms.is_some();
    let running = start_to_close_ms(&a.options).is_some();
    let heartbeat = a.options.heartbeat_timeout_ms.is_some();
    let (s2s, running, heartbeat, retry) = match a.status {
        PendingActivityState::Scheduled => (s2s, false, false, false),
        PendingActivityState::Started => (false, running, heartbeat, false),
        PendingActivityState::Backoff => (false, false, false, true),
        // Not a state the engine keeps; cancel everything it could have armed.
        PendingActivityState::CancelRequested => (s2s, running, heartbeat, true),
    };
    if retry {
        armed.push(TimerKind::ActivityRetry { seq });
    }
    if s2s {
        armed.push(TimerKind::ActivityScheduleToStart { seq, attempt });
    }
    if running {
        armed.push(TimerKind::ActivityStartToClose { seq, attempt });
    }
    if heartbeat {
        armed.push(TimerKind::ActivityHeartbeat { seq, attempt });
    }
    armed
}

/// Cancels every timer of `a` (its state before this transition changed it).
fn cancel_activity_timers(b: &mut Builder, a: &ActivityState) {
    for kind in armed_timers(a) {
        b.cancel_timer(kind);
    }
}

fn end_attempt(b: &mut Builder, a: &ActivityState, outcome: &str, failure: Option<Failure>, next: Option<i64>) {
    if let (Some(started), Some(worker)) = (a.last_started_at_ms, a.last_worker.clone()) {
        b.t.attempts.push(ActivityAttempt {
            seq: a.seq,
            attempt: a.attempt,
            worker,
            started_at_ms: started,
            ended_at_ms: Some(b.now),
            outcome: outcome.into(),
            failure,
            next_retry_at_ms: next,
        });
    }
}

pub fn complete(b: &mut Builder, token: &str, result: Payload) -> Result<()> {
    let seq = check_token(b, token)?;
    let Some(a) = b.t.state.activities.remove(&seq) else { return Err(stale("activity")) };
    end_attempt(b, &a, "completed", None, None);
    cancel_activity_timers(b, &a);
    b.event(EventKind::ActivityCompleted { seq, attempt: a.attempt, result });
    b.want_wft();
    Ok(())
}

pub fn fail(b: &mut Builder, token: &str, failure: Failure) -> Result<()> {
    let seq = check_token(b, token)?;
    attempt_failed(b, seq, Err(failure));
    Ok(())
}

pub fn timed_out(b: &mut Builder, seq: u64, why: TimeoutKind) {
    attempt_failed(b, seq, Ok(why));
}

/// One attempt ended badly: retry after a backoff, or tell the workflow.
fn attempt_failed(b: &mut Builder, seq: u64, why: std::result::Result<TimeoutKind, Failure>) {
    let now = b.now;
    let Some(a) = b.t.state.activities.get(&seq).cloned() else { return };
    let was_started = a.status == PendingActivityState::Started;
    if a.status == PendingActivityState::Scheduled {
        b.t.remove_tasks.push((TaskKind::Activity, seq));
    }
    let failure = match &why {
        Err(f) => f.clone(),
        Ok(kind) => Failure::new(format!("activity attempt {} timed out ({kind:?})", a.attempt)),
    };
    if a.cancel_requested {
        if was_started {
            end_attempt(b, &a, "canceled", Some(failure), None);
        }
        b.t.state.activities.remove(&seq);
        cancel_activity_timers(b, &a);
        b.event(EventKind::ActivityCanceled { seq });
        b.want_wft();
        return;
    }
    let policy = &a.options.retry_policy;
    let retryable = match &why {
        Err(f) => {
            !f.non_retryable
                && !f.error_type.as_ref().is_some_and(|t| policy.non_retryable_error_types.contains(t))
        }
        Ok(TimeoutKind::StartToClose) | Ok(TimeoutKind::Heartbeat) => true,
        Ok(_) => false,
    };
    let attempts_left = policy.maximum_attempts == 0 || a.attempt < policy.maximum_attempts;
    let next = deadline(now, policy.backoff_ms(a.attempt));
    let in_deadline = a.schedule_to_close_deadline_ms.is_none_or(|d| next < d);
    let next_retry = (retryable && attempts_left && in_deadline).then_some(next);
    let outcome = if why.is_ok() { "timed_out" } else { "failed" };
    if was_started {
        end_attempt(b, &a, outcome, Some(failure.clone()), next_retry);
    }
    match why {
        Err(failure) => b.event(EventKind::ActivityFailed { seq, attempt: a.attempt, failure, next_retry_at_ms: next_retry }),
        Ok(timeout) => b.event(EventKind::ActivityTimedOut { seq, attempt: a.attempt, timeout, next_retry_at_ms: next_retry }),
    };
    match next_retry {
        Some(at) => {
            // The schedule-to-close deadline spans all attempts: it stays armed.
            for kind in armed_timers(&a) {
                if !matches!(kind, TimerKind::ActivityScheduleToClose { .. }) {
                    b.cancel_timer(kind);
                }
            }
            if let Some(s) = b.t.state.activities.get_mut(&seq) {
                s.status = PendingActivityState::Backoff;
                s.attempt = s.attempt.saturating_add(1);
                s.next_retry_at_ms = Some(at);
                s.last_failure = Some(failure);
            }
            b.timer(TimerKind::ActivityRetry { seq }, at);
        }
        None => {
            b.t.state.activities.remove(&seq);
            cancel_activity_timers(b, &a);
            b.want_wft();
        }
    }
}

pub fn heartbeat(b: &mut Builder, token: &str, details: Option<Payload>) -> Result<()> {
    let seq = check_token(b, token)?;
    let now = b.now;
    let Some(a) = b.t.state.activities.get_mut(&seq) else { return Err(stale("activity")) };
    a.last_heartbeat_at_ms = Some(now);
    if details.is_some() {
        a.heartbeat_details = details;
    }
    let (attempt, hb, cancel) = (a.attempt, a.options.heartbeat_timeout_ms, a.cancel_requested);
    if let Some(ms) = hb {
        b.timer(TimerKind::ActivityHeartbeat { seq, attempt }, deadline(now, ms));
    }
    b.t.output = Output::Heartbeat { cancel_requested: cancel };
    Ok(())
}

/// The workflow asked to cancel an activity. Not yet started: canceled at once. Started: the
/// worker learns it from its next heartbeat, and its report closes the activity as canceled.
pub fn request_cancel(b: &mut Builder, seq: u64) {
    let Some(a) = b.t.state.activities.get(&seq).cloned() else { return };
    if a.cancel_requested {
        return;
    }
    b.event(EventKind::ActivityCancelRequested { seq });
    if a.status == PendingActivityState::Started {
        if let Some(s) = b.t.state.activities.get_mut(&seq) {
            s.cancel_requested = true;
        }
        return;
    }
    if a.status == PendingActivityState::Scheduled {
        b.t.remove_tasks.push((TaskKind::Activity, seq));
    }
    b.t.state.activities.remove(&seq);
    cancel_activity_timers(b, &a);
    b.event(EventKind::ActivityCanceled { seq });
    b.want_wft();
}

/// "Retry now": a presenter cannot wait out a backoff on stage.
pub fn retry_now(b: &mut Builder, seq: u64) -> Result<()> {
    match b.t.state.activities.get(&seq) {
        Some(a) if a.status == PendingActivityState::Backoff => {
            dispatch_attempt(b, seq);
            Ok(())
        }
        Some(a) => Err(EngineError::Conflict(format!(
            "activity {seq} is not waiting for a retry (it is {:?}); retry-now only skips a backoff",
            a.status
        ))),
        None => Err(EngineError::NotFound(format!(
            "workflow {} has no pending activity with seq {seq}; see pending_activities in describe",
            b.t.state.workflow_id
        ))),
    }
}
