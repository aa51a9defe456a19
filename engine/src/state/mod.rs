//! Pure transition logic: `(state, input, now) -> Transition`.
//!
//! Nothing here does I/O or reads a clock: the caller passes `now`, and the store commits the
//! returned [`Transition`] (events, new state, tasks, timers, effects on other runs) in one
//! transaction. Layout:
//! - this file: the run state, inputs, outputs and the [`Builder`] that assigns event ids;
//! - [`workflow`]: start, signals, cancellation, termination, closing a run, children callbacks;
//! - [`wft`]: workflow tasks and the commands a completion carries;
//! - [`activity`]: activity attempts, retries, heartbeats and timeouts;
//! - [`timer`]: durable timer kinds and their firing.

pub mod activity;
pub mod timer;
pub mod wft;
pub mod workflow;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use faultline_proto::{
    ActivityAttempt, ActivityOptions, Command, EpochMillis, EventKind, Failure, HistoryEvent,
    ParentClosePolicy, ParentRef, Payload, PendingActivityState, StartWorkflowRequest,
    WorkflowOptions, WorkflowResultResponse, WorkflowStatus,
};
use serde::{Deserialize, Serialize};

pub use timer::TimerKind;
pub use workflow::{start, StartParams};

use crate::error::{EngineError, Result};

pub use faultline_proto::DEFAULT_TASK_TIMEOUT_MS;
/// Default activity start-to-close timeout when neither it nor schedule-to-close is set.
pub const DEFAULT_START_TO_CLOSE_MS: u64 = 10_000;

/// The compact mutable state of one run, stored as one row next to its append-only history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub status: WorkflowStatus,
    /// Id the next history event gets (ids are gapless from 1).
    pub next_event_id: u64,
    pub started_at_ms: EpochMillis,
    pub closed_at_ms: Option<EpochMillis>,
    pub options: WorkflowOptions,
    /// Deadline of the whole chain of runs (execution timeout), carried by continue-as-new.
    pub execution_deadline_ms: Option<EpochMillis>,
    pub parent: Option<ParentRef>,
    pub wft: Option<WftState>,
    /// Counter giving each workflow task a distinct id (part of its token).
    pub wft_counter: u64,
    /// Events arrived while a workflow task was started: schedule another after it completes.
    pub wft_needed: bool,
    pub wft_last_failure: Option<String>,
    pub activities: BTreeMap<u64, ActivityState>,
    pub timers: BTreeMap<u64, TimerState>,
    pub children: BTreeMap<u64, ChildState>,
    pub cancel_requested: bool,
    pub result: Option<Payload>,
    pub failure: Option<Failure>,
    /// Run created by continue-as-new from this one.
    pub continued_to: Option<String>,
    /// Highest command seq this run issued, so a cancel naming a seq it never issued is
    /// refused. (States written before it existed read 0: the pending maps stand in.)
    #[serde(default)]
    pub max_seq: u64,
}

impl RunState {
    pub fn is_running(&self) -> bool {
        self.status == WorkflowStatus::Running
    }
    /// Activities waiting for their next attempt (shown in lists).
    pub fn retrying_activities(&self) -> u32 {
        self.activities.values().filter(|a| a.status == PendingActivityState::Backoff).count() as u32
    }
    /// How the run stands, as a result long-poll answers it.
    pub fn outcome(&self) -> WorkflowResultResponse {
        WorkflowResultResponse {
            workflow_id: self.workflow_id.clone(),
            run_id: self.run_id.clone(),
            status: self.status,
            result: self.result.clone(),
            failure: self.failure.clone(),
        }
    }
    pub fn task_timeout_ms(&self) -> u64 {
        self.options.task_timeout_ms.unwrap_or(DEFAULT_TASK_TIMEOUT_MS).max(1)
    }
}

/// The one outstanding workflow task of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WftState {
    pub id: u64,
    pub attempt: u32,
    pub scheduled_at_ms: EpochMillis,
    pub started_at_ms: Option<EpochMillis>,
    pub started_event_id: Option<u64>,
    pub worker: Option<String>,
    /// Set while a failed task waits before its retry; no task row exists then.
    pub backoff_until_ms: Option<EpochMillis>,
}

/// A pending activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityState {
    pub seq: u64,
    pub activity_type: String,
    pub input: Payload,
    pub task_queue: String,
    pub options: ActivityOptions,
    pub status: PendingActivityState,
    pub cancel_requested: bool,
    /// Current (or next) attempt, 1-based.
    pub attempt: u32,
    pub scheduled_at_ms: EpochMillis,
    pub last_started_at_ms: Option<EpochMillis>,
    pub last_failure: Option<Failure>,
    pub last_worker: Option<String>,
    pub next_retry_at_ms: Option<EpochMillis>,
    pub last_heartbeat_at_ms: Option<EpochMillis>,
    pub heartbeat_details: Option<Payload>,
    pub schedule_to_close_deadline_ms: Option<EpochMillis>,
}

/// A pending user timer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerState {
    pub seq: u64,
    pub started_at_ms: EpochMillis,
    pub fire_at_ms: EpochMillis,
}

/// A child workflow started by this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildState {
    pub seq: u64,
    pub workflow_id: String,
    pub workflow_type: String,
    pub run_id: Option<String>,
    pub status: Option<WorkflowStatus>,
    pub parent_close_policy: ParentClosePolicy,
}

/// How a child run ended, reported to its parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChildOutcome {
    Completed(Payload),
    Failed(Failure),
    Canceled,
    Terminated,
    TimedOut,
}

/// Something that happens to one run.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Signal { name: String, payload: Payload },
    CancelRequest { reason: String },
    Terminate { reason: String },
    WorkflowTaskStart { worker: String },
    WorkflowTaskComplete { token: String, commands: Vec<Command> },
    WorkflowTaskFail { token: String, message: String, nondeterminism: bool },
    ActivityStart { seq: u64, worker: String },
    ActivityComplete { token: String, result: Payload },
    ActivityFail { token: String, failure: Failure },
    ActivityHeartbeat { token: String, details: Option<Payload> },
    TimerFired(TimerKind),
    RetryNow { seq: u64 },
    ChildStarted { seq: u64, run_id: String },
    ChildStartFailed { seq: u64, reason: String },
    ChildClosed { seq: u64, outcome: ChildOutcome },
    ExternalSignalDone { seq: u64, workflow_id: String, name: String, error: Option<String> },
}

/// Kind of a task row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskKind {
    Workflow,
    Activity,
}

impl TaskKind {
    pub fn as_i64(self) -> i64 {
        match self {
            TaskKind::Workflow => 0,
            TaskKind::Activity => 1,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Workflow => "workflow",
            TaskKind::Activity => "activity",
        }
    }
}

/// A dispatchable task row to insert. `seq` is 0 for workflow tasks.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub kind: TaskKind,
    pub task_queue: String,
    pub seq: u64,
}

/// What a transition does to other runs; resolved in the same store transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartChild { parent: ParentRef, request: StartWorkflowRequest },
    ContinueAsNew(StartParams),
    NotifyParent { parent: ParentRef, outcome: ChildOutcome },
    SignalExternal { sender_run_id: String, seq: u64, workflow_id: String, name: String, payload: Payload },
    RequestCancel { workflow_id: String, reason: String },
    Terminate { workflow_id: String, reason: String },
}

/// A value handed back to the caller of a transition (a claimed task, a heartbeat answer).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Output {
    #[default]
    None,
    WorkflowTask { token: String, attempt: u32, started_event_id: u64 },
    ActivityTask(Box<faultline_proto::ActivityTask>),
    Heartbeat { cancel_requested: bool },
    /// A workflow task completion tried to close the run while unseen events were pending:
    /// its commands were not applied (the refusal itself commits). Answered as 409
    /// `close_refused`, so the worker knows.
    CloseRefused { message: String },
}

/// Everything one transition produces; committed atomically by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub events: Vec<HistoryEvent>,
    pub state: RunState,
    pub new_tasks: Vec<NewTask>,
    pub remove_tasks: Vec<(TaskKind, u64)>,
    pub timers: Vec<(TimerKind, EpochMillis)>,
    pub cancel_timers: Vec<TimerKind>,
    /// The run closed: the store drops all its remaining tasks and timers.
    pub closed: bool,
    pub attempts: Vec<ActivityAttempt>,
    pub effects: Vec<Effect>,
    pub output: Output,
    /// Nothing changed (a stale timer, an idempotent repeat): the store writes nothing.
    pub noop: bool,
}

/// Accumulates one transition: assigns gapless event ids and schedules the workflow task last.
pub struct Builder {
    pub now: EpochMillis,
    pub t: Transition,
    want_wft: bool,
}

impl Builder {
    pub fn new(state: &RunState, now: EpochMillis) -> Self {
        Self {
            now,
            want_wft: false,
            t: Transition {
                events: Vec::new(),
                state: state.clone(),
                new_tasks: Vec::new(),
                remove_tasks: Vec::new(),
                timers: Vec::new(),
                cancel_timers: Vec::new(),
                closed: false,
                attempts: Vec::new(),
                effects: Vec::new(),
                output: Output::None,
                noop: false,
            },
        }
    }

    pub fn state(&mut self) -> &mut RunState {
        &mut self.t.state
    }

    /// Appends an event with the next id; returns the id.
    pub fn event(&mut self, kind: EventKind) -> u64 {
        let id = self.t.state.next_event_id;
        self.t.state.next_event_id += 1;
        self.t.events.push(HistoryEvent { event_id: id, timestamp_ms: self.now, kind });
        id
    }

    pub fn timer(&mut self, kind: TimerKind, fire_at: EpochMillis) {
        self.t.timers.push((kind, fire_at));
    }

    pub fn cancel_timer(&mut self, kind: TimerKind) {
        self.t.cancel_timers.push(kind);
    }

    /// Something the workflow code must see happened.
    pub fn want_wft(&mut self) {
        self.want_wft = true;
    }

    pub fn finish(mut self) -> Transition {
        if self.want_wft && self.t.state.is_running() {
            wft::request(&mut self);
        }
        self.t
    }

    pub fn noop(state: &RunState, now: EpochMillis) -> Transition {
        let mut t = Builder::new(state, now).t;
        t.noop = true;
        t
    }
}

/// Applies one input to a run. Pure: the result is committed (or dropped) by the caller.
pub fn apply(state: &RunState, input: Input, now: EpochMillis) -> Result<Transition> {
    if !state.is_running() {
        return match input {
            // Late callbacks and timers of a closed run are harmless and dropped.
            Input::TimerFired(_)
            | Input::ChildStarted { .. }
            | Input::ChildStartFailed { .. }
            | Input::ChildClosed { .. }
            | Input::ExternalSignalDone { .. } => Ok(Builder::noop(state, now)),
            Input::WorkflowTaskComplete { .. }
            | Input::WorkflowTaskFail { .. }
            | Input::ActivityComplete { .. }
            | Input::ActivityFail { .. }
            | Input::ActivityHeartbeat { .. } => Err(EngineError::StaleToken(format!(
                "workflow {} run {} is already {}; this task no longer exists, drop it",
                state.workflow_id,
                state.run_id,
                state.status.as_str()
            ))),
            _ => Err(EngineError::Conflict(format!(
                "workflow {} run {} is already {}; start a new run to continue",
                state.workflow_id,
                state.run_id,
                state.status.as_str()
            ))),
        };
    }
    let mut b = Builder::new(state, now);
    match input {
        Input::Signal { name, payload } => workflow::signal(&mut b, name, payload),
        Input::CancelRequest { reason } => workflow::cancel_request(&mut b, reason),
        Input::Terminate { reason } => {
            workflow::close(&mut b, EventKind::WorkflowTerminated { reason });
            Ok(())
        }
        Input::WorkflowTaskStart { worker } => wft::start(&mut b, worker),
        Input::WorkflowTaskComplete { token, commands } => wft::complete(&mut b, &token, commands),
        Input::WorkflowTaskFail { token, message, nondeterminism } => {
            wft::fail(&mut b, &token, message, nondeterminism)
        }
        Input::ActivityStart { seq, worker } => activity::start(&mut b, seq, worker),
        Input::ActivityComplete { token, result } => activity::complete(&mut b, &token, result),
        Input::ActivityFail { token, failure } => activity::fail(&mut b, &token, failure),
        Input::ActivityHeartbeat { token, details } => activity::heartbeat(&mut b, &token, details),
        Input::TimerFired(kind) => return Ok(timer::fire(b, kind)),
        Input::RetryNow { seq } => activity::retry_now(&mut b, seq),
        Input::ChildStarted { seq, run_id } => workflow::child_started(&mut b, seq, run_id),
        Input::ChildStartFailed { seq, reason } => workflow::child_start_failed(&mut b, seq, reason),
        Input::ChildClosed { seq, outcome } => workflow::child_closed(&mut b, seq, outcome),
        Input::ExternalSignalDone { seq, workflow_id, name, error } => {
            workflow::external_signal_done(&mut b, seq, workflow_id, name, error)
        }
    }?;
    Ok(b.finish())
}

/// The run a task token names ([`faultline_proto::TaskToken`] parses it).
pub fn token_run_id(token: &str) -> Result<String> {
    let parsed: faultline_proto::TaskToken = token.parse()?;
    match parsed {
        faultline_proto::TaskToken::Workflow { run_id, .. } | faultline_proto::TaskToken::Activity { run_id, .. } => {
            Ok(run_id)
        }
    }
}

/// Shortest workflow task timeout accepted, and shortest retry interval: smaller values would
/// make the engine spin on a failing task.
pub const MIN_TASK_TIMEOUT_MS: u64 = 100;
pub const MIN_RETRY_INTERVAL_MS: u64 = 1;

/// Checks workflow options; the message says which field to fix.
pub fn validate_workflow_options(o: &faultline_proto::WorkflowOptions) -> Result<()> {
    if o.task_timeout_ms.is_some_and(|t| t < MIN_TASK_TIMEOUT_MS) {
        return Err(EngineError::BadRequest(format!(
            "options.task_timeout_ms must be at least {MIN_TASK_TIMEOUT_MS} ms (or omitted for the 10 s default)"
        )));
    }
    if o.run_timeout_ms == Some(0) || o.execution_timeout_ms == Some(0) {
        return Err(EngineError::BadRequest(
            "options.run_timeout_ms and execution_timeout_ms must be positive (or omitted for no limit)".into(),
        ));
    }
    Ok(())
}

/// Checks activity options; the message says which field to fix.
pub fn validate_activity_options(seq: u64, o: &ActivityOptions) -> Result<()> {
    let p = &o.retry_policy;
    if p.initial_interval_ms < MIN_RETRY_INTERVAL_MS || !p.backoff_coefficient.is_finite() {
        return Err(EngineError::BadRequest(format!(
            "activity {seq}: retry_policy.initial_interval_ms must be at least {MIN_RETRY_INTERVAL_MS} and backoff_coefficient a finite number"
        )));
    }
    let zero = |v: Option<u64>| v == Some(0);
    if zero(o.start_to_close_timeout_ms) || zero(o.schedule_to_close_timeout_ms) || zero(o.schedule_to_start_timeout_ms) || zero(o.heartbeat_timeout_ms) {
        return Err(EngineError::BadRequest(format!(
            "activity {seq}: timeouts must be positive (or omitted)"
        )));
    }
    Ok(())
}

pub(crate) fn stale(what: &str) -> EngineError {
    EngineError::StaleToken(format!(
        "{what}: the task already completed, failed or timed out and was dispatched again; drop this result"
    ))
}
