//! Task anomalies: lost tasks and lost completions (a pending step nobody ran), early and
//! ghost tasks (delivered or executed before, or without, the state that created them), and
//! the steps that recovered from a lost try.

use std::collections::{BTreeSet, HashSet};

use faultline_proto::{EventKind, HistoryEvent};

use super::index::{self, closed, delivery_item, event_item, execution_item, in_time_order, step_subject, Index, StepKind};
use super::model::{CheckParams, RunHistory};
use super::result::{Anomaly, AnomalyKind};

/// What a step waits for, from its last event.
enum Pending<'a> {
    /// A new try is due at `due_ms`; `event` is the one that made it due.
    Due { event: &'a HistoryEvent, due_ms: i64 },
    /// Running, finished, or nothing to wait for.
    No,
}

fn pending(last: &HistoryEvent) -> Pending<'_> {
    use EventKind::*;
    match &last.kind {
        ActivityScheduled { .. } | WorkflowTaskScheduled { .. } => Pending::Due { event: last, due_ms: last.timestamp_ms },
        ActivityFailed { next_retry_at_ms: Some(at), .. } | ActivityTimedOut { next_retry_at_ms: Some(at), .. } => {
            Pending::Due { event: last, due_ms: *at }
        }
        _ => Pending::No,
    }
}

/// The steps of a run: every activity seq, and the workflow task (seq 0).
fn steps(run: &RunHistory) -> Vec<(StepKind, u64)> {
    let seqs: BTreeSet<u64> = run
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActivityScheduled { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    std::iter::once((StepKind::Workflow, 0)).chain(seqs.into_iter().map(|s| (StepKind::Activity, s))).collect()
}

/// Lost tasks and lost completions: a step of an open run, due for a try more than `grace`
/// ago, with no try since. With a delivery or an execution since, the task reached a
/// consumer and its completion was lost (an early ack); with none, the task itself was lost.
pub fn lost(ix: &Index, p: &CheckParams, out: &mut Vec<Anomaly>) {
    for run in &ix.input.runs {
        if closed(run) {
            continue;
        }
        for (kind, seq) in steps(run) {
            let Some(last) = index::step_events(run, kind, seq).last() else { continue };
            let Pending::Due { event, due_ms } = pending(last) else { continue };
            if due_ms + p.grace_ms > p.now_ms {
                continue;
            }
            let since: Vec<_> = ix.deliveries(&run.run_id, kind, seq).filter(|d| d.created_event_id >= event.event_id).collect();
            let ran: Vec<_> = match kind {
                StepKind::Activity => ix.executions(&run.run_id, seq).filter(|x| x.at_ms >= event.timestamp_ms).collect(),
                StepKind::Workflow => Vec::new(),
            };
            let mut witness = vec![event_item(run, event)];
            let subject = step_subject(run, kind, seq);
            let waited = p.now_ms - due_ms;
            if since.is_empty() && ran.is_empty() {
                out.push(Anomaly {
                    kind: AnomalyKind::LostTask,
                    order: Some(run.order.clone()),
                    subject,
                    explanation: format!(
                        "committed as due {waited} ms before the check and never delivered nor executed since \
                         (no queue delivery, no ledger row, no start in the history)"
                    ),
                    witness,
                });
            } else {
                witness.extend(since.iter().map(|d| delivery_item(d)));
                witness.extend(ran.iter().map(|x| execution_item(x)));
                out.push(Anomaly {
                    kind: AnomalyKind::LostCompletion,
                    order: Some(run.order.clone()),
                    subject,
                    explanation: format!(
                        "delivered, but never started nor completed in the state ({waited} ms since it was due): \
                         its message was acked before the work was done, so nothing brings it back"
                    ),
                    witness: in_time_order(witness),
                });
            }
        }
    }
}

/// Early and ghost tasks from the twin's deliveries and the ledgers' executions.
pub fn early_and_ghost(ix: &Index, out: &mut Vec<Anomaly>) {
    let mut seen: HashSet<(String, String, u64, u64)> = HashSet::new();
    for d in ix.input.deliveries.iter().filter(|d| d.committed_event_id < d.created_event_id) {
        if !seen.insert((d.run_id.clone(), d.kind.clone(), d.seq, d.created_event_id)) {
            continue;
        }
        let run = ix.runs.get(d.run_id.as_str()).copied();
        let created = run.and_then(|r| r.events.iter().find(|e| e.event_id == d.created_event_id).map(|e| (r, e)));
        match created {
            Some((run, e)) => {
                let kind = if d.kind == "activity" { StepKind::Activity } else { StepKind::Workflow };
                out.push(Anomaly {
                    kind: AnomalyKind::EarlyTask,
                    order: Some(run.order.clone()),
                    subject: step_subject(run, kind, d.seq),
                    explanation: format!(
                        "delivered while the run was committed up to event {} only; the event {} that created it \
                         was not visible yet",
                        d.committed_event_id, d.created_event_id
                    ),
                    witness: in_time_order(vec![delivery_item(d), event_item(run, e)]),
                });
            }
            None => out.push(Anomaly {
                kind: AnomalyKind::GhostTask,
                order: run.map(|r| r.order.clone()),
                subject: match run {
                    Some(r) => format!("{} {} task created by event {}", r.order, d.kind, d.created_event_id),
                    None => format!("{} task of run {} (never committed)", d.kind, d.run_id),
                },
                explanation: format!(
                    "delivered for event {} of run {}, which the state never committed (the transition that \
                     published it rolled back)",
                    d.created_event_id, d.run_id
                ),
                witness: vec![delivery_item(d)],
            }),
        }
    }
    for x in &ix.input.executions {
        let Some((run_id, seq)) = x.step() else { continue };
        match ix.runs.get(run_id) {
            Some(run) => {
                let scheduled = index::step_events(run, StepKind::Activity, seq).find(|e| matches!(e.kind, EventKind::ActivityScheduled { .. }));
                match scheduled {
                    Some(e) if x.at_ms < e.timestamp_ms && seen.insert((run_id.to_string(), "activity".into(), seq, e.event_id)) => {
                        out.push(Anomaly {
                            kind: AnomalyKind::EarlyTask,
                            order: Some(run.order.clone()),
                            subject: step_subject(run, StepKind::Activity, seq),
                            explanation: "executed before the state that scheduled it was committed".into(),
                            witness: in_time_order(vec![execution_item(x), event_item(run, e)]),
                        })
                    }
                    Some(_) => {}
                    None if seen.insert((run_id.to_string(), "ghost".into(), seq, 0)) => out.push(ghost_execution(x, Some(run))),
                    None => {}
                }
            }
            // Attributed to one of the side's orders by the collector, under a run the state
            // never committed.
            None if seen.insert((run_id.to_string(), "ghost".into(), seq, 0)) => out.push(ghost_execution(x, None)),
            None => {}
        }
    }
}

fn ghost_execution(x: &super::model::Execution, run: Option<&RunHistory>) -> Anomaly {
    let (seq, run_id) = x.step().map(|(r, s)| (s, r.to_string())).unwrap_or_default();
    Anomaly {
        kind: AnomalyKind::GhostTask,
        order: Some(x.order.clone()),
        subject: match run {
            Some(r) => step_subject(r, StepKind::Activity, seq),
            None => format!("{} activity {seq} of run {run_id} (never committed)", x.order),
        },
        explanation: format!("{} executed {} for a step the state never committed as scheduled", x.service, x.effect),
        witness: vec![execution_item(x)],
    }
}

/// Steps whose first try was lost (an attempt timed out, or the message was redelivered)
/// and that completed on a later one.
pub fn recovered(ix: &Index, out: &mut Vec<Anomaly>) {
    for run in &ix.input.runs {
        for (kind, seq) in steps(run) {
            let events: Vec<&HistoryEvent> = index::step_events(run, kind, seq).collect();
            let redelivered: Vec<_> = ix.deliveries(&run.run_id, kind, seq).filter(|d| d.delivery > 1).collect();
            // For workflow tasks, each timeout that a later completion followed.
            let mut lost_try: Option<&HistoryEvent> = None;
            let mut previous_completion_ms = i64::MIN;
            for e in &events {
                match &e.kind {
                    EventKind::ActivityTimedOut { .. } | EventKind::WorkflowTaskTimedOut if lost_try.is_none() => lost_try = Some(e),
                    EventKind::ActivityCompleted { .. } | EventKind::WorkflowTaskCompleted { .. } => {
                        let completion = *e;
                        let first_redelivery = redelivered
                            .iter()
                            .find(|d| d.at_ms > previous_completion_ms && d.at_ms <= completion.timestamp_ms);
                        previous_completion_ms = completion.timestamp_ms;
                        if lost_try.is_none() && first_redelivery.is_none() {
                            continue;
                        }
                        let mut witness: Vec<_> = lost_try.map(|t| event_item(run, t)).into_iter().collect();
                        witness.extend(first_redelivery.map(|d| delivery_item(d)));
                        witness.push(event_item(run, completion));
                        out.push(Anomaly {
                            kind: AnomalyKind::Recovered,
                            order: Some(run.order.clone()),
                            subject: step_subject(run, kind, seq),
                            explanation: "a try was lost (timed out or redelivered after its lease) and a later one completed"
                                .into(),
                            witness: in_time_order(witness),
                        });
                        lost_try = None;
                        if kind == StepKind::Activity {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
