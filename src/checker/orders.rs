//! Timer and order anomalies: timers past their fire time (plus grace) that never fired, and
//! orders still open with nothing due.

use faultline_proto::EventKind;

use super::index::{closed, event_item, Index};
use super::model::{CheckParams, RunHistory};
use super::result::{Anomaly, AnomalyKind};

/// Timers of open runs, past `fire_at + grace`, neither fired nor canceled.
pub fn lost_timers(ix: &Index, p: &CheckParams, out: &mut Vec<Anomaly>) {
    for run in ix.input.runs.iter().filter(|r| !closed(r)) {
        for e in &run.events {
            let EventKind::TimerStarted { seq, fire_at_ms, .. } = &e.kind else { continue };
            let ended = run.events.iter().any(|x| match &x.kind {
                EventKind::TimerFired { seq: s } | EventKind::TimerCanceled { seq: s } => s == seq,
                _ => false,
            });
            if ended || fire_at_ms + p.grace_ms > p.now_ms {
                continue;
            }
            out.push(Anomaly {
                kind: AnomalyKind::LostTimer,
                order: Some(run.order.clone()),
                subject: format!("{} timer {seq}", run.workflow_id),
                explanation: format!(
                    "due at {fire_at_ms}, {} ms before the check, and never fired (no timer_fired, no timer_canceled)",
                    p.now_ms - fire_at_ms
                ),
                witness: vec![event_item(run, e)],
            });
        }
    }
}

/// Orders whose top-level run is still open, whose last event is older than the grace, and
/// that wait for no future timer; and orders that never committed at all.
pub fn stuck_orders(ix: &Index, p: &CheckParams, out: &mut Vec<Anomaly>) {
    for order in &ix.input.orders {
        let runs: Vec<&RunHistory> = ix.input.runs.iter().filter(|r| &r.workflow_id == order).collect();
        // The current run: the open one, else the latest.
        let Some(run) = runs.iter().find(|r| !closed(r)).or(runs.last()).copied() else {
            out.push(Anomaly {
                kind: AnomalyKind::StuckOrder,
                order: Some(order.clone()),
                subject: order.clone(),
                explanation: "asked for, but the engine has no history of it".into(),
                witness: Vec::new(),
            });
            continue;
        };
        if closed(run) {
            continue;
        }
        let (Some(first), Some(last)) = (run.events.first(), run.events.last()) else { continue };
        let waits_for_timer = run.events.iter().any(|e| match &e.kind {
            EventKind::TimerStarted { fire_at_ms, .. } => fire_at_ms + p.grace_ms > p.now_ms,
            _ => false,
        });
        if waits_for_timer || last.timestamp_ms + p.grace_ms > p.now_ms {
            continue;
        }
        let mut witness = vec![event_item(run, first)];
        if last.event_id != first.event_id {
            witness.push(event_item(run, last));
        }
        out.push(Anomaly {
            kind: AnomalyKind::StuckOrder,
            order: Some(order.clone()),
            subject: order.clone(),
            explanation: format!("still open, and nothing happened for {} ms", p.now_ms - last.timestamp_ms),
            witness,
        });
    }
}
