//! Turns one request into committed transitions inside one store transaction.
//!
//! A request targets one run (or creates one); its [`Transition`] may carry effects on other
//! runs (start a child, notify a parent, signal, cancel or terminate), which are applied here,
//! in the same transaction, as further transitions. So a parent's completion and its child's
//! termination, or a child's close and its parent's `child_workflow_completed`, commit together
//! or not at all. The caller (the writer) isolates a failing request: it rolls
//! back the batch and re-runs it with a savepoint per request.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use faultline_proto::{
    EagerRequest, EpochMillis, IdConflictPolicy, ParentRef, ScheduleInfo, ScheduleSpec, SignalWithStartRequest,
    StartWorkflowRequest, StartWorkflowResponse, WorkflowResultResponse,
};

use crate::error::{EngineError, Result};
use crate::schedule;
use crate::state::{self, Effect, Input, NewTask, Output, RunState, StartParams, TaskKind, TimerKind, Transition};
use crate::store::{StoreTx, SCHEDULE_OWNER};

/// A write request, executed by the single writer.
#[derive(Debug, Clone)]
pub enum Request {
    Start(StartWorkflowRequest),
    SignalWithStart(SignalWithStartRequest),
    /// An input for the latest run of a workflow id (signal, cancel, terminate, retry-now).
    ToWorkflow { workflow_id: String, input: Input },
    /// A worker's report; the token names the run. With `eager`, tasks the report creates on
    /// the worker's queue are claimed for it in the same transaction.
    ToTaskRun { token: String, input: Input, eager: Option<EagerRequest> },
    Poll { kind: TaskKind, queue: String, worker: String },
    FireTimers { limit: usize },
    /// Dual-write twin: fires one timer delivered by the queue.
    FireTimer { owner: String, kind: TimerKind },
    /// Dual-write twin: starts one task delivered by the queue (records its `*_started`).
    StartTask { run_id: String, kind: TaskKind, seq: u64, worker: String },
    PutSchedule(ScheduleSpec),
    DeleteSchedule(String),
}

/// A claimed task: enough for the API to build the wire task after commit.
#[derive(Debug, Clone)]
pub struct Polled {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub output: Output,
    /// For a workflow task: its history up to the started event, as a JSON array of the stored
    /// event bodies. Read in the claiming transaction, from the writer's warm page cache, and
    /// passed through without parsing.
    pub history_json: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Response {
    Started(StartWorkflowResponse),
    Output(Output),
    /// A report's output and the tasks claimed for the reporting worker (eager dispatch).
    Reported { output: Output, eager: Vec<Polled> },
    Polled(Option<Polled>),
    Fired { fired: usize, next_at: Option<EpochMillis> },
    Schedule(ScheduleInfo),
    Done,
}

/// What to wake up once the transaction commits.
#[derive(Debug, Default)]
pub struct Notes {
    /// New dispatchable tasks per queue: that many pollers are woken.
    pub queues: HashMap<(TaskKind, String), usize>,
    /// Runs that closed, by workflow id, with how they ended (handed to result waiters).
    pub closed_workflows: HashMap<String, Arc<WorkflowResultResponse>>,
    /// Earliest fire time among the timers armed by this transaction.
    pub earliest_timer: Option<EpochMillis>,
    pub last_cursor: Option<u64>,
}

impl Notes {
    pub fn note_timer(&mut self, at: EpochMillis) {
        self.earliest_timer = Some(self.earliest_timer.map_or(at, |e| e.min(at)));
    }
    fn note_timer_opt(&mut self, at: Option<EpochMillis>) {
        if let Some(at) = at {
            self.note_timer(at);
        }
    }
    pub fn merge(&mut self, other: Notes) {
        for (k, n) in other.queues {
            *self.queues.entry(k).or_default() += n;
        }
        self.closed_workflows.extend(other.closed_workflows);
        self.note_timer_opt(other.earliest_timer);
        if other.last_cursor.is_some() {
            self.last_cursor = other.last_cursor;
        }
    }
}

/// Bound on the cascade of effects one request may cause (defends against cycles).
const MAX_CASCADE: usize = 10_000;

pub struct Processor<'a, S: StoreTx> {
    pub store: &'a mut S,
    pub now: EpochMillis,
    pub notes: Notes,
    effects: VecDeque<Effect>,
    /// Runs as of this request: loaded once, then kept up to date by each transition.
    runs: HashMap<String, RunState>,
    /// Runs whose row must be written before the request ends. A report and the task it
    /// claims eagerly are two transitions of one run; its row is written once for both.
    dirty: HashSet<String>,
}

impl<'a, S: StoreTx> Processor<'a, S> {
    pub fn new(store: &'a mut S, now: EpochMillis) -> Self {
        Self {
            store,
            now,
            notes: Notes::default(),
            effects: VecDeque::new(),
            runs: HashMap::new(),
            dirty: HashSet::new(),
        }
    }

    /// Runs a request to the end, its cascade of effects included, in the open transaction.
    pub fn execute(&mut self, req: Request) -> Result<Response> {
        let resp = self.execute_inner(req)?;
        for run_id in std::mem::take(&mut self.dirty) {
            if let Some(state) = self.runs.get(&run_id) {
                self.store.put_run(state)?;
            }
        }
        Ok(resp)
    }

    /// A run as this request sees it.
    fn load_run(&mut self, run_id: &str) -> Result<Option<RunState>> {
        if let Some(s) = self.runs.get(run_id) {
            return Ok(Some(s.clone()));
        }
        let loaded = self.store.load_run(run_id)?;
        if let Some(s) = &loaded {
            self.runs.insert(run_id.to_string(), s.clone());
        }
        Ok(loaded)
    }

    fn execute_inner(&mut self, req: Request) -> Result<Response> {
        let resp = match req {
            Request::Start(r) => Response::Started(self.start(r, None)?),
            Request::SignalWithStart(r) => {
                let mut start = r.start;
                start.id_conflict = IdConflictPolicy::UseExisting;
                let resp = self.start(start, None)?;
                let input = Input::Signal { name: r.signal.name, payload: r.signal.payload };
                self.apply_to(&resp.run_id, input)?;
                Response::Started(resp)
            }
            Request::ToWorkflow { workflow_id, input } => {
                let run_id = self.store.current_run_id(&workflow_id)?.ok_or_else(|| not_found(&workflow_id))?;
                Response::Output(self.apply_to(&run_id, input)?.output)
            }
            Request::ToTaskRun { token, input, eager } => {
                let run_id = state::token_run_id(&token)?;
                let Some(state) = self.load_run(&run_id)? else {
                    return Err(EngineError::StaleToken(format!(
                        "task token names run {run_id}, which this engine does not know; drop the task"
                    )));
                };
                let mut t = state::apply(&state, input, self.now)?;
                let refused = matches!(t.output, Output::CloseRefused { .. });
                let claims = match &eager {
                    // A run this report closes starts nothing more; its task rows go with it.
                    // A refused close is answered as an error: nothing is handed out with it.
                    Some(e) if !t.closed && !refused => take_eager_claims(&mut t.new_tasks, e),
                    _ => Vec::new(),
                };
                let t = self.commit(t)?;
                let worker = eager.map(|e| e.worker).unwrap_or_default();
                let eager = self.start_claimed(&run_id, claims, &worker)?;
                Response::Reported { output: t.output, eager }
            }
            Request::Poll { kind, queue, worker } => Response::Polled(self.poll(kind, &queue, worker)?),
            Request::FireTimers { limit } => self.fire_timers(limit)?,
            Request::FireTimer { owner, kind } => {
                self.fire_timer(owner, kind)?;
                Response::Done
            }
            Request::StartTask { run_id, kind, seq, worker } => {
                let input = match kind {
                    TaskKind::Workflow => Input::WorkflowTaskStart { worker },
                    TaskKind::Activity => Input::ActivityStart { seq, worker },
                };
                match self.apply_to(&run_id, input) {
                    Ok(t) if t.output != Output::None => Response::Polled(Some(self.claimed(&run_id, t)?)),
                    Err(EngineError::Store(e)) => return Err(EngineError::Store(e)),
                    _ => Response::Polled(None),
                }
            }
            Request::PutSchedule(spec) => Response::Schedule(self.put_schedule(spec)?),
            Request::DeleteSchedule(id) => {
                if !self.store.delete_schedule(&id)? {
                    return Err(EngineError::NotFound(format!("no schedule {id:?}; GET /api/v1/schedules lists them")));
                }
                self.store.delete_timer(SCHEDULE_OWNER, &TimerKind::Schedule { schedule_id: id })?;
                Response::Done
            }
        };
        self.drain_effects()?;
        Ok(resp)
    }

    /// Commits a transition into the open transaction and queues its effects.
    fn commit(&mut self, t: Transition) -> Result<Transition> {
        if t.noop {
            return Ok(t);
        }
        let cursor = self.store.write_changes(&t)?;
        self.runs.insert(t.state.run_id.clone(), t.state.clone());
        self.dirty.insert(t.state.run_id.clone());
        if cursor.is_some() {
            self.notes.last_cursor = cursor;
        }
        for task in &t.new_tasks {
            *self.notes.queues.entry((task.kind, task.task_queue.clone())).or_default() += 1;
        }
        for (_, at) in &t.timers {
            self.notes.note_timer(*at);
        }
        if t.closed {
            self.notes.closed_workflows.insert(t.state.workflow_id.clone(), Arc::new(t.state.outcome()));
        }
        self.effects.extend(t.effects.iter().cloned());
        Ok(t)
    }

    fn apply_to(&mut self, run_id: &str, input: Input) -> Result<Transition> {
        let state = self
            .load_run(run_id)?
            .ok_or_else(|| EngineError::NotFound(format!("run {run_id} does not exist")))?;
        let t = state::apply(&state, input, self.now)?;
        self.commit(t)
    }

    /// Starts a run unless the id already has a running one.
    fn start(&mut self, r: StartWorkflowRequest, parent: Option<ParentRef>) -> Result<StartWorkflowResponse> {
        for (field, value) in [("workflow_id", &r.workflow_id), ("workflow_type", &r.workflow_type), ("task_queue", &r.task_queue)] {
            if value.trim().is_empty() {
                return Err(EngineError::BadRequest(format!("{field} is empty; give it a non-empty value")));
            }
        }
        state::validate_workflow_options(&r.options)?;
        if let Some(existing) = self.store.current_run_id(&r.workflow_id)? {
            if let Some(s) = self.load_run(&existing)? {
                if s.is_running() {
                    return match r.id_conflict {
                        IdConflictPolicy::UseExisting => Ok(StartWorkflowResponse {
                            workflow_id: r.workflow_id,
                            run_id: existing,
                            started: false,
                            result: None,
                        }),
                        IdConflictPolicy::Fail => Err(EngineError::Conflict(format!(
                            "workflow {} already has a running run {existing}; wait for it to close, \
                             or pass \"id_conflict\": \"use_existing\" to get that run",
                            r.workflow_id
                        ))),
                    };
                }
            }
        }
        // Time-ordered ids (UUIDv7): every index keyed by run id (runs, events, tasks, attempts,
        // timers) then keeps the runs in flight on a few adjacent pages at its end, so a commit
        // rewrites far fewer pages than with random v4 ids scattered over the whole index.
        let run_id = uuid::Uuid::now_v7().to_string();
        let params = StartParams {
            run_id: run_id.clone(),
            workflow_id: r.workflow_id.clone(),
            workflow_type: r.workflow_type,
            task_queue: r.task_queue,
            input: r.input,
            options: r.options,
            parent,
            continued_from_run_id: None,
            execution_deadline_ms: None,
            random_seed: rand::random(),
        };
        self.create_run(params)?;
        Ok(StartWorkflowResponse { workflow_id: r.workflow_id, run_id, started: true, result: None })
    }

    fn create_run(&mut self, params: StartParams) -> Result<()> {
        let workflow_id = params.workflow_id.clone();
        let run_id = params.run_id.clone();
        let t = state::start(params, self.now);
        self.commit(t)?;
        self.store.set_current_run(&workflow_id, &run_id)
    }

    fn poll(&mut self, kind: TaskKind, queue: &str, worker: String) -> Result<Option<Polled>> {
        // Rows whose run moved on (closed, canceled activity) are dropped and the next is tried.
        while let Some((run_id, seq)) = self.store.claim_task(kind, queue)? {
            let input = match kind {
                TaskKind::Workflow => Input::WorkflowTaskStart { worker: worker.clone() },
                TaskKind::Activity => Input::ActivityStart { seq, worker: worker.clone() },
            };
            match self.apply_to(&run_id, input) {
                Ok(t) if t.output != Output::None => return Ok(Some(self.claimed(&run_id, t)?)),
                Ok(_) => {}
                Err(EngineError::Store(e)) => return Err(EngineError::Store(e)),
                Err(e) => tracing::debug!(%run_id, error = %e, "dropped a task row that is no longer valid"),
            }
        }
        Ok(None)
    }

    /// Starts, for the reporting worker, the tasks its report just created on its queue
    /// ([`take_eager_claims`]): each `*_started` event joins this transaction instead of a
    /// poller being woken, which would cost a round trip and a commit more. Their task rows
    /// were never written; one that cannot start here (it should not happen) gets its row now,
    /// so it is dispatched the usual way.
    fn start_claimed(&mut self, run_id: &str, claims: Vec<NewTask>, worker: &str) -> Result<Vec<Polled>> {
        let mut claimed = Vec::with_capacity(claims.len());
        for task in claims {
            let input = match task.kind {
                TaskKind::Activity => Input::ActivityStart { seq: task.seq, worker: worker.to_string() },
                TaskKind::Workflow => Input::WorkflowTaskStart { worker: worker.to_string() },
            };
            match self.apply_to(run_id, input) {
                Ok(t) if t.output != Output::None => claimed.push(self.claimed(run_id, t)?),
                Err(EngineError::Store(e)) => return Err(EngineError::Store(e)),
                other => {
                    tracing::warn!(%run_id, seq = task.seq, outcome = ?other.err(), "an eager task did not start; queued it");
                    self.store.put_task(run_id, &task)?;
                    *self.notes.queues.entry((task.kind, task.task_queue)).or_default() += 1;
                }
            }
        }
        Ok(claimed)
    }

    /// What the API needs to hand out a task this transaction started.
    fn claimed(&mut self, run_id: &str, t: Transition) -> Result<Polled> {
        let history_json = match &t.output {
            Output::WorkflowTask { started_event_id, .. } => Some(self.store.history_json(run_id, *started_event_id)?),
            _ => None,
        };
        Ok(Polled {
            run_id: run_id.to_string(),
            workflow_id: t.state.workflow_id,
            workflow_type: t.state.workflow_type,
            output: t.output,
            history_json,
        })
    }

    fn fire_timers(&mut self, limit: usize) -> Result<Response> {
        let due = self.store.due_timers(self.now, limit)?;
        let fired = due.len();
        for timer in due {
            self.store.delete_timer(&timer.owner, &timer.kind)?;
            self.fire_timer(timer.owner, timer.kind)?;
        }
        self.drain_effects()?;
        Ok(Response::Fired { fired, next_at: self.store.next_timer_at()? })
    }

    fn fire_timer(&mut self, owner: String, kind: TimerKind) -> Result<()> {
        if owner == SCHEDULE_OWNER {
            if let TimerKind::Schedule { schedule_id } = &kind {
                self.fire_schedule(schedule_id)?;
            }
            return Ok(());
        }
        match self.apply_to(&owner, Input::TimerFired(kind)) {
            Ok(_) | Err(EngineError::NotFound(_)) | Err(EngineError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn put_schedule(&mut self, spec: ScheduleSpec) -> Result<ScheduleInfo> {
        let next = schedule::next_fire(&spec, self.now)?;
        let info = ScheduleInfo { spec, next_fire_at_ms: next, last_started_run_id: None, skipped: 0 };
        self.store.put_schedule(&info)?;
        let kind = TimerKind::Schedule { schedule_id: info.spec.schedule_id.clone() };
        self.store.put_timer(SCHEDULE_OWNER, &kind, next)?;
        self.notes.note_timer(next);
        Ok(info)
    }

    /// A schedule is due: start its workflow unless the previous one still runs (overlap: skip).
    fn fire_schedule(&mut self, id: &str) -> Result<()> {
        let Some(mut info) = self.store.get_schedule(id)? else { return Ok(()) };
        // A schedule stored by an engine that did not bound its numbers (an interval of
        // u64::MAX, say) cannot be fired safely: it is removed, loudly, rather than spinning.
        let next = match schedule::next_fire(&info.spec, self.now) {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(schedule = id, error = %e, "removed a stored schedule that is out of bounds; create it again with valid values");
                self.store.delete_schedule(id)?;
                return Ok(());
            }
        };
        let running = match &info.last_started_run_id {
            Some(run) => self.load_run(run)?.is_some_and(|s| s.is_running()),
            None => false,
        };
        if running {
            info.skipped += 1;
        } else {
            let mut req = info.spec.start.clone();
            req.workflow_id = format!("{}-{}", info.spec.start.workflow_id, info.next_fire_at_ms);
            req.id_conflict = IdConflictPolicy::Fail;
            match self.start(req, None) {
                Ok(r) => info.last_started_run_id = Some(r.run_id),
                Err(EngineError::Store(e)) => return Err(EngineError::Store(e)),
                Err(e) => tracing::warn!(schedule = id, error = %e, "schedule could not start its workflow"),
            }
        }
        info.next_fire_at_ms = next;
        self.store.put_schedule(&info)?;
        let kind = TimerKind::Schedule { schedule_id: id.to_string() };
        self.store.put_timer(SCHEDULE_OWNER, &kind, info.next_fire_at_ms)?;
        self.notes.note_timer(info.next_fire_at_ms);
        Ok(())
    }

    /// Applies queued effects on other runs until none is left.
    fn drain_effects(&mut self) -> Result<()> {
        let mut steps = 0;
        while let Some(effect) = self.effects.pop_front() {
            steps += 1;
            if steps > MAX_CASCADE {
                return Err(EngineError::Conflict(
                    "this request caused more than 10000 follow-up transitions (a cycle of signals?); it was not applied".into(),
                ));
            }
            self.resolve(effect)?;
        }
        Ok(())
    }

    /// Runs an input against the current running run of a workflow id; `None` if there is none.
    fn apply_to_running(&mut self, workflow_id: &str, input: Input) -> Result<Option<Result<Transition>>> {
        let Some(run_id) = self.store.current_run_id(workflow_id)? else { return Ok(None) };
        match self.apply_to(&run_id, input) {
            Err(EngineError::Store(e)) => Err(EngineError::Store(e)),
            other => Ok(Some(other)),
        }
    }

    fn resolve(&mut self, effect: Effect) -> Result<()> {
        match effect {
            Effect::StartChild { parent, request } => {
                let seq = parent.seq;
                let parent_run = parent.run_id.clone();
                let input = match self.start(request, Some(parent)) {
                    Ok(r) => Input::ChildStarted { seq, run_id: r.run_id },
                    Err(EngineError::Store(e)) => return Err(EngineError::Store(e)),
                    Err(e) => Input::ChildStartFailed { seq, reason: e.to_string() },
                };
                self.ignore_refused(&parent_run, input)
            }
            Effect::ContinueAsNew(params) => self.create_run(params),
            Effect::NotifyParent { parent, outcome } => {
                self.ignore_refused(&parent.run_id, Input::ChildClosed { seq: parent.seq, outcome })
            }
            Effect::SignalExternal { sender_run_id, seq, workflow_id, name, payload } => {
                let input = Input::Signal { name: name.clone(), payload };
                let error = match self.apply_to_running(&workflow_id, input)? {
                    Some(Ok(_)) => None,
                    Some(Err(e)) => Some(e.to_string()),
                    None => Some(format!("workflow {workflow_id} does not exist")),
                };
                self.ignore_refused(&sender_run_id, Input::ExternalSignalDone { seq, workflow_id, name, error })
            }
            Effect::RequestCancel { workflow_id, reason } => {
                self.apply_to_running(&workflow_id, Input::CancelRequest { reason })?;
                Ok(())
            }
            Effect::Terminate { workflow_id, reason } => {
                self.apply_to_running(&workflow_id, Input::Terminate { reason })?;
                Ok(())
            }
        }
    }

    /// Applies a callback whose target may have closed meanwhile; only store errors matter.
    fn ignore_refused(&mut self, run_id: &str, input: Input) -> Result<()> {
        match self.apply_to(run_id, input) {
            Err(EngineError::Store(e)) => Err(EngineError::Store(e)),
            _ => Ok(()),
        }
    }
}

fn not_found(workflow_id: &str) -> EngineError {
    EngineError::NotFound(format!(
        "no workflow with id {workflow_id:?}; GET /api/v1/workflows lists the known ones"
    ))
}

/// Takes out of a report's new tasks those the reporting worker asked to receive with the
/// answer (eager dispatch): on its queue, at most `activities` activities and one workflow
/// task. They are started in the same transaction, so their rows are never written.
fn take_eager_claims(new_tasks: &mut Vec<NewTask>, eager: &EagerRequest) -> Vec<NewTask> {
    let mut activities = eager.activities;
    let mut workflow_task = eager.workflow_task;
    let mut claims = Vec::new();
    new_tasks.retain(|task| {
        if task.task_queue != eager.task_queue {
            return true;
        }
        let take = match task.kind {
            TaskKind::Activity if activities > 0 => {
                activities -= 1;
                true
            }
            TaskKind::Workflow if workflow_task => {
                workflow_task = false;
                true
            }
            _ => false,
        };
        if take {
            claims.push(task.clone());
        }
        !take
    });
    claims
}
