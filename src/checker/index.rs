//! The side's data indexed for the analyses: runs by id, each step's events, deliveries and
//! executions by step, and how each becomes a witness row.

use std::collections::HashMap;

use faultline_proto::{EventKind, HistoryEvent};

use super::model::{Execution, QueueDelivery, RunHistory, SideInput};
use super::result::{Source, WitnessItem};

/// A step of a run: an activity (by seq) or the run's workflow tasks (seq 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepKind {
    Activity,
    Workflow,
}

impl StepKind {
    /// The `kind` of the twin's delivery records.
    pub fn delivery_kind(self) -> &'static str {
        match self {
            StepKind::Activity => "activity",
            StepKind::Workflow => "workflow",
        }
    }
}

pub struct Index<'a> {
    pub input: &'a SideInput,
    pub runs: HashMap<&'a str, &'a RunHistory>,
}

impl<'a> Index<'a> {
    pub fn new(input: &'a SideInput) -> Self {
        Index { input, runs: input.runs.iter().map(|r| (r.run_id.as_str(), r)).collect() }
    }

    /// The deliveries of one step of a run.
    pub fn deliveries(&self, run_id: &str, kind: StepKind, seq: u64) -> impl Iterator<Item = &'a QueueDelivery> + '_ {
        let run_id = run_id.to_string();
        self.input
            .deliveries
            .iter()
            .filter(move |d| d.run_id == run_id && d.kind == kind.delivery_kind() && (kind == StepKind::Workflow || d.seq == seq))
    }

    /// The executions of activity `seq` of a run (by idempotency key).
    pub fn executions(&self, run_id: &str, seq: u64) -> impl Iterator<Item = &'a Execution> + '_ {
        let run_id = run_id.to_string();
        self.input.executions.iter().filter(move |x| x.step() == Some((run_id.as_str(), seq)))
    }
}

/// True once the run has closed.
pub fn closed(run: &RunHistory) -> bool {
    run.events.iter().any(|e| e.kind.is_terminal())
}

/// The activity type of `seq` in a run, from its `activity_scheduled`.
pub fn activity_type(run: &RunHistory, seq: u64) -> Option<&str> {
    run.events.iter().find_map(|e| match &e.kind {
        EventKind::ActivityScheduled { seq: s, activity_type, .. } if *s == seq => Some(activity_type.as_str()),
        _ => None,
    })
}

/// The events of a run that belong to a step.
pub fn step_events(run: &RunHistory, kind: StepKind, seq: u64) -> impl Iterator<Item = &HistoryEvent> {
    run.events.iter().filter(move |e| match kind {
        StepKind::Activity => is_activity(&e.kind) && e.kind.seq() == Some(seq),
        StepKind::Workflow => is_workflow_task(&e.kind),
    })
}

pub fn is_activity(k: &EventKind) -> bool {
    use EventKind::*;
    matches!(
        k,
        ActivityScheduled { .. }
            | ActivityStarted { .. }
            | ActivityCompleted { .. }
            | ActivityFailed { .. }
            | ActivityTimedOut { .. }
            | ActivityCancelRequested { .. }
            | ActivityCanceled { .. }
    )
}

pub fn is_workflow_task(k: &EventKind) -> bool {
    use EventKind::*;
    matches!(
        k,
        WorkflowTaskScheduled { .. } | WorkflowTaskStarted { .. } | WorkflowTaskCompleted { .. } | WorkflowTaskFailed { .. } | WorkflowTaskTimedOut
    )
}

/// How a step names itself in a report: `order-1 activity 2 (charge)`.
pub fn step_subject(run: &RunHistory, kind: StepKind, seq: u64) -> String {
    let wf = if run.workflow_id == run.order { run.workflow_id.clone() } else { format!("{} › {}", run.order, run.workflow_id) };
    match kind {
        StepKind::Activity => match activity_type(run, seq) {
            Some(t) => format!("{wf} activity {seq} ({t})"),
            None => format!("{wf} activity {seq}"),
        },
        StepKind::Workflow => format!("{wf} workflow task"),
    }
}

/// A history event as a witness row.
pub fn event_item(run: &RunHistory, e: &HistoryEvent) -> WitnessItem {
    WitnessItem {
        at_ms: e.timestamp_ms,
        source: Source::History { workflow_id: run.workflow_id.clone(), run_id: run.run_id.clone(), event_id: e.event_id },
        text: describe_event(&e.kind),
    }
}

/// An event in words: `activity_scheduled seq 2 charge`, `activity_started seq 2 attempt 1`.
pub fn describe_event(k: &EventKind) -> String {
    use EventKind::*;
    let name = k.name();
    match k {
        ActivityScheduled { seq, activity_type, .. } => format!("{name} seq {seq} {activity_type}"),
        ActivityStarted { seq, attempt, .. } | ActivityCompleted { seq, attempt, .. } => format!("{name} seq {seq} attempt {attempt}"),
        ActivityFailed { seq, attempt, failure, .. } => format!("{name} seq {seq} attempt {attempt}: {}", failure.message),
        ActivityTimedOut { seq, attempt, timeout, .. } => format!("{name} seq {seq} attempt {attempt} ({timeout:?})"),
        TimerStarted { seq, fire_at_ms, .. } => format!("{name} seq {seq} fire_at_ms {fire_at_ms}"),
        _ => match k.seq() {
            Some(seq) => format!("{name} seq {seq}"),
            None => name.to_string(),
        },
    }
}

/// A queue delivery as a witness row.
pub fn delivery_item(d: &QueueDelivery) -> WitnessItem {
    let seq = if d.kind == "activity" { format!(" seq {}", d.seq) } else { String::new() };
    WitnessItem {
        at_ms: d.at_ms,
        source: Source::Queue { message_id: d.message_id, delivery: d.delivery },
        text: format!(
            "delivered {} task{seq} of run {} (created by event {}, run committed up to event {})",
            d.kind, d.run_id, d.created_event_id, d.committed_event_id
        ),
    }
}

/// A ledger execution as a witness row.
pub fn execution_item(x: &Execution) -> WitnessItem {
    let what = if x.absorbed { "replayed (absorbed by the key)" } else { "executed" };
    WitnessItem {
        at_ms: x.at_ms,
        source: Source::Ledger { service: x.service.clone(), key: x.key.clone(), ledger_seq: x.ledger_seq, absorbed: x.absorbed },
        text: format!("{} {what}: {} under key {}", x.service, x.effect, x.key),
    }
}

/// Sorts a witness in time order (a stable sort: same-millisecond rows keep their order).
pub fn in_time_order(mut items: Vec<WitnessItem>) -> Vec<WitnessItem> {
    items.sort_by_key(|i| i.at_ms);
    items
}
