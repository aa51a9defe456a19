//! Run-level transitions: start, signals, cancellation, closing (with the parent notification
//! and the parent-close policy of children), continue-as-new, and callbacks from other runs.

use std::collections::BTreeMap;

use faultline_proto::limits::deadline;
use faultline_proto::{
    EpochMillis, EventKind, ParentClosePolicy, ParentRef, Payload, StartWorkflowRequest, WorkflowOptions,
    WorkflowStatus,
};

use super::{Builder, ChildOutcome, ChildState, Effect, RunState, TimerKind, Transition};
use crate::error::Result;

/// Everything needed to create a run (a start, a child start or a continue-as-new).
#[derive(Debug, Clone, PartialEq)]
pub struct StartParams {
    pub run_id: String,
    pub workflow_id: String,
    pub workflow_type: String,
    pub task_queue: String,
    pub input: Payload,
    pub options: WorkflowOptions,
    pub parent: Option<ParentRef>,
    pub continued_from_run_id: Option<String>,
    /// Deadline of the chain; `None` on a fresh start computes it from the options.
    pub execution_deadline_ms: Option<EpochMillis>,
    pub random_seed: u64,
}

/// Creates a run: `WorkflowStarted`, the first workflow task and the run's timeouts.
pub fn start(p: StartParams, now: EpochMillis) -> Transition {
    let execution_deadline_ms =
        p.execution_deadline_ms.or_else(|| p.options.execution_timeout_ms.map(|ms| deadline(now, ms)));
    let state = RunState {
        run_id: p.run_id.clone(),
        workflow_id: p.workflow_id.clone(),
        workflow_type: p.workflow_type.clone(),
        task_queue: p.task_queue.clone(),
        status: WorkflowStatus::Running,
        next_event_id: 1,
        started_at_ms: now,
        closed_at_ms: None,
        options: p.options.clone(),
        execution_deadline_ms,
        parent: p.parent.clone(),
        wft: None,
        wft_counter: 0,
        wft_needed: false,
        wft_last_failure: None,
        activities: BTreeMap::new(),
        timers: BTreeMap::new(),
        children: BTreeMap::new(),
        cancel_requested: false,
        result: None,
        failure: None,
        continued_to: None,
        max_seq: 0,
    };
    let mut b = Builder::new(&state, now);
    b.event(EventKind::WorkflowStarted {
        workflow_id: p.workflow_id,
        workflow_type: p.workflow_type,
        task_queue: p.task_queue,
        input: p.input,
        options: p.options.clone(),
        parent: p.parent,
        continued_from_run_id: p.continued_from_run_id,
        random_seed: p.random_seed,
    });
    if let Some(ms) = p.options.run_timeout_ms {
        b.timer(TimerKind::RunTimeout, deadline(now, ms));
    }
    if let Some(d) = execution_deadline_ms {
        b.timer(TimerKind::ExecutionTimeout, d);
    }
    b.want_wft();
    b.finish()
}

pub fn signal(b: &mut Builder, name: String, payload: Payload) -> Result<()> {
    b.event(EventKind::WorkflowSignaled { name, payload });
    b.want_wft();
    Ok(())
}

/// Records the request; the workflow code decides what to do (it closes with CancelWorkflow).
pub fn cancel_request(b: &mut Builder, reason: String) -> Result<()> {
    if b.t.state.cancel_requested {
        return Ok(()); // already requested: idempotent
    }
    b.t.state.cancel_requested = true;
    b.event(EventKind::WorkflowCancelRequested { reason });
    b.want_wft();
    Ok(())
}

/// Closes the run with a terminal event. The store drops its remaining tasks and timers; the
/// parent is told and children follow their parent-close policy, all in this transaction.
pub fn close(b: &mut Builder, terminal: EventKind) {
    // Callers pass closing events only; the fallback keeps a stray event from panicking.
    let status = terminal.closing_status().unwrap_or(WorkflowStatus::ContinuedAsNew);
    let outcome = match &terminal {
        EventKind::WorkflowCompleted { result } => Some(ChildOutcome::Completed(result.clone())),
        EventKind::WorkflowFailed { failure } => Some(ChildOutcome::Failed(failure.clone())),
        EventKind::WorkflowCanceled { .. } => Some(ChildOutcome::Canceled),
        EventKind::WorkflowTerminated { .. } => Some(ChildOutcome::Terminated),
        EventKind::WorkflowTimedOut => Some(ChildOutcome::TimedOut),
        _ => None, // continue-as-new: the next run of the chain reports to the parent
    };
    if let EventKind::WorkflowTerminated { reason } = &terminal {
        b.t.state.failure = Some(faultline_proto::Failure::new(format!("terminated: {reason}")));
    }
    b.event(terminal);
    let now = b.now;
    let s = b.state();
    s.status = status;
    s.closed_at_ms = Some(now);
    s.wft = None;
    s.wft_needed = false;
    s.activities.clear();
    s.timers.clear();
    b.t.closed = true;
    if let (Some(parent), Some(outcome)) = (b.t.state.parent.clone(), outcome) {
        b.t.effects.push(Effect::NotifyParent { parent, outcome });
    }
    let reason = format!("parent {} closed ({})", b.t.state.workflow_id, status.as_str());
    let children: Vec<ChildState> = b.t.state.children.values().cloned().collect();
    for c in children.into_iter().filter(|c| c.status.is_none_or(|s| !s.is_closed())) {
        match c.parent_close_policy {
            ParentClosePolicy::Terminate => {
                b.t.effects.push(Effect::Terminate { workflow_id: c.workflow_id, reason: reason.clone() })
            }
            ParentClosePolicy::RequestCancel => {
                b.t.effects.push(Effect::RequestCancel { workflow_id: c.workflow_id, reason: reason.clone() })
            }
            ParentClosePolicy::Abandon => {}
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn initiate_child(
    b: &mut Builder,
    seq: u64,
    workflow_type: String,
    workflow_id: Option<String>,
    task_queue: Option<String>,
    input: Payload,
    options: WorkflowOptions,
    parent_close_policy: ParentClosePolicy,
) {
    let s = &b.t.state;
    let workflow_id = workflow_id.unwrap_or_else(|| format!("{}/{seq}", s.workflow_id));
    let task_queue = task_queue.unwrap_or_else(|| s.task_queue.clone());
    let parent = ParentRef { workflow_id: s.workflow_id.clone(), run_id: s.run_id.clone(), seq };
    b.event(EventKind::ChildWorkflowInitiated {
        seq,
        workflow_id: workflow_id.clone(),
        workflow_type: workflow_type.clone(),
        task_queue: task_queue.clone(),
        input: input.clone(),
        parent_close_policy,
    });
    b.t.state.children.insert(
        seq,
        ChildState {
            seq,
            workflow_id: workflow_id.clone(),
            workflow_type: workflow_type.clone(),
            run_id: None,
            status: None,
            parent_close_policy,
        },
    );
    b.t.effects.push(Effect::StartChild {
        parent,
        request: StartWorkflowRequest {
            workflow_id,
            workflow_type,
            task_queue,
            input,
            options,
            id_conflict: faultline_proto::IdConflictPolicy::Fail,
        },
    });
}

pub fn continue_as_new(b: &mut Builder, input: Payload, workflow_type: Option<String>) {
    // Time-ordered like every run id (see `Processor::start`), taken from the transition's
    // own clock rather than the system's.
    let ms = b.now.max(0) as u64;
    let at = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32);
    let new_run_id = uuid::Uuid::new_v7(at).to_string();
    let s = &b.t.state;
    let params = StartParams {
        run_id: new_run_id.clone(),
        workflow_id: s.workflow_id.clone(),
        workflow_type: workflow_type.unwrap_or_else(|| s.workflow_type.clone()),
        task_queue: s.task_queue.clone(),
        input: input.clone(),
        options: s.options.clone(),
        parent: s.parent.clone(),
        continued_from_run_id: Some(s.run_id.clone()),
        execution_deadline_ms: s.execution_deadline_ms,
        random_seed: rand::random(),
    };
    b.t.state.continued_to = Some(new_run_id.clone());
    close(b, EventKind::WorkflowContinuedAsNew { new_run_id, input });
    b.t.effects.push(Effect::ContinueAsNew(params));
}

pub fn child_started(b: &mut Builder, seq: u64, run_id: String) -> Result<()> {
    if let Some(c) = b.t.state.children.get_mut(&seq) {
        c.run_id = Some(run_id.clone());
        c.status = Some(WorkflowStatus::Running);
        b.event(EventKind::ChildWorkflowStarted { seq, run_id });
        b.want_wft();
    }
    Ok(())
}

pub fn child_start_failed(b: &mut Builder, seq: u64, reason: String) -> Result<()> {
    if b.t.state.children.remove(&seq).is_some() {
        b.event(EventKind::ChildWorkflowStartFailed { seq, reason });
        b.want_wft();
    }
    Ok(())
}

pub fn child_closed(b: &mut Builder, seq: u64, outcome: ChildOutcome) -> Result<()> {
    let Some(c) = b.t.state.children.get_mut(&seq) else { return Ok(()) };
    let (status, kind) = match outcome {
        ChildOutcome::Completed(result) => (WorkflowStatus::Completed, EventKind::ChildWorkflowCompleted { seq, result }),
        ChildOutcome::Failed(failure) => (WorkflowStatus::Failed, EventKind::ChildWorkflowFailed { seq, failure }),
        ChildOutcome::Canceled => (WorkflowStatus::Canceled, EventKind::ChildWorkflowCanceled { seq }),
        ChildOutcome::Terminated => (WorkflowStatus::Terminated, EventKind::ChildWorkflowTerminated { seq }),
        ChildOutcome::TimedOut => (WorkflowStatus::TimedOut, EventKind::ChildWorkflowTimedOut { seq }),
    };
    c.status = Some(status);
    b.event(kind);
    b.want_wft();
    Ok(())
}

pub fn external_signal_done(b: &mut Builder, seq: u64, workflow_id: String, name: String, error: Option<String>) -> Result<()> {
    match error {
        None => b.event(EventKind::ExternalSignalSent { seq, workflow_id, name }),
        Some(reason) => b.event(EventKind::ExternalSignalFailed { seq, workflow_id, reason }),
    };
    b.want_wft();
    Ok(())
}
