//! Effect anomalies: duplicate executions of a step (from the ledgers; the raw number, how
//! many the idempotency keys absorbed, how many began after the completion had committed)
//! and double completions (from the histories).

use std::collections::{BTreeMap, HashMap};

use faultline_proto::{EventKind, HistoryEvent};

use super::index::{self, event_item, execution_item, in_time_order, step_subject, Index, StepKind};
use super::model::Execution;
use super::result::{Anomaly, AnomalyKind, Counters};

/// Duplicate executions: per order and step (the idempotency key), every execution beyond
/// the first. Adds to the three duplicate counters and returns one anomaly per step.
pub fn duplicates(ix: &Index, counters: &mut Counters, out: &mut Vec<Anomaly>) {
    let mut steps: BTreeMap<(&str, &str), Vec<&Execution>> = BTreeMap::new();
    for x in &ix.input.executions {
        steps.entry((x.order.as_str(), x.key.as_str())).or_default().push(x);
    }
    for ((order, key), mut xs) in steps {
        if xs.len() < 2 {
            continue;
        }
        xs.sort_by_key(|x| (x.at_ms, x.absorbed));
        let step = xs[0].step();
        let run = step.and_then(|(run_id, _)| ix.runs.get(run_id).copied());
        let completion: Option<&HistoryEvent> = match (run, step) {
            (Some(run), Some((_, seq))) => index::step_events(run, StepKind::Activity, seq)
                .find(|e| matches!(e.kind, EventKind::ActivityCompleted { .. })),
            _ => None,
        };
        let extra = (xs.len() - 1) as u64;
        let absorbed = xs.iter().filter(|x| x.absorbed).count() as u64;
        let after: Vec<&&Execution> = match completion {
            Some(c) => xs.iter().skip(1).filter(|x| x.at_ms > c.timestamp_ms).collect(),
            None => Vec::new(),
        };
        counters.duplicate_executions += extra;
        counters.duplicates_absorbed += absorbed;
        counters.duplicates_after_completion += after.len() as u64;
        let mut witness: Vec<_> = xs.iter().map(|x| execution_item(x)).collect();
        if let (Some(run), Some(c)) = (run, completion) {
            witness.push(event_item(run, c));
        }
        let effect = &xs[0].effect;
        let mut explanation = format!("{} executions of {effect} under key {key}", xs.len());
        explanation.push_str(&match absorbed {
            0 => "; nothing absorbed them: the effect happened each time".to_string(),
            n if n == extra => "; the idempotency key absorbed every repeat (one effect)".to_string(),
            n => format!("; the idempotency key absorbed {n} of the {extra} repeats"),
        });
        if !after.is_empty() {
            explanation.push_str(&format!("; {} began after the completion had committed", after.len()));
        }
        out.push(Anomaly {
            kind: AnomalyKind::DuplicateExecution,
            order: Some(order.to_string()),
            subject: match (run, step) {
                (Some(run), Some((_, seq))) => step_subject(run, StepKind::Activity, seq),
                _ => format!("{order} {effect} ({key})"),
            },
            explanation,
            witness: in_time_order(witness),
        });
    }
}

/// More than one accepted completion of one step: an activity completed, a timer fired, a
/// child completed twice, or a run closed twice.
pub fn double_completions(ix: &Index, out: &mut Vec<Anomaly>) {
    for run in &ix.input.runs {
        let mut by_step: HashMap<(&'static str, u64), Vec<&HistoryEvent>> = HashMap::new();
        for e in &run.events {
            let key = match &e.kind {
                EventKind::ActivityCompleted { seq, .. } => ("activity", *seq),
                EventKind::TimerFired { seq } => ("timer", *seq),
                EventKind::ChildWorkflowCompleted { seq, .. } => ("child", *seq),
                k if k.is_terminal() => ("run", 0),
                _ => continue,
            };
            by_step.entry(key).or_default().push(e);
        }
        let mut doubled: Vec<_> = by_step.into_iter().filter(|(_, v)| v.len() > 1).collect();
        doubled.sort_by_key(|(k, _)| *k);
        for ((what, seq), events) in doubled {
            let subject = match what {
                "activity" => step_subject(run, StepKind::Activity, seq),
                "run" => format!("{} run {}", run.workflow_id, run.run_id),
                other => format!("{} {other} {seq}", run.workflow_id),
            };
            out.push(Anomaly {
                kind: AnomalyKind::DoubleCompletion,
                order: Some(run.order.clone()),
                subject,
                explanation: format!("{} completions accepted for one {what}: nothing checked the attempt", events.len()),
                witness: events.iter().map(|e| event_item(run, e)).collect(),
            });
        }
    }
}
