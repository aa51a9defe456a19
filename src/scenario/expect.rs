//! Evaluating expectations: live (from the run's projection, while a run settles) and final
//! (with the engine's own view of every order and the ledgers). Pure: the runner gathers the
//! inputs.

use std::collections::BTreeMap;

use faultline_proto::WorkflowStatus;

use super::ledger::{self, LedgerSnapshot};
use super::model::{fmt_duration, Check, Expectation};
use super::report::{ExpectationResult, Verdict};
use crate::checker::CheckReport;
use crate::projection::Projection;

/// A pod came back: a start, restart, unpause, reconnect or deploy of it returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Comeback {
    pub pod: String,
    /// When, on the run's clock (ms since the epoch, like the engine's event times).
    pub at_ms: i64,
    /// Orders open at that moment: recovery is when the last of them closed.
    pub open: Vec<String>,
}

/// Everything the final evaluation looks at.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Orders whose start the engine accepted, in order.
    pub started: Vec<String>,
    /// Orders the runner tried and failed to start, with the error.
    pub failed_starts: Vec<(String, String)>,
    /// The engine's status of each started order (`describe`), or why it could not say.
    pub engine_status: BTreeMap<String, Result<WorkflowStatus, String>>,
    pub ledgers: Option<Result<LedgerSnapshot, String>>,
    /// workflow id -> the demo's order id (what the ledgers record).
    pub order_ids: BTreeMap<String, String>,
    pub comebacks: Vec<Comeback>,
    /// The race checker's report (both sides of the twin), when a check needs it.
    pub race: Option<Result<CheckReport, String>>,
}

/// Recovery after the last comeback of `pod`: when the last order open then closed.
/// `Err` with the measured text when not (yet) recovered.
pub fn recovery_ms(pod: &str, comebacks: &[Comeback], projection: &Projection) -> Result<u64, String> {
    let Some(cb) = comebacks.iter().rev().find(|c| c.pod == pod) else {
        return Err(format!("pod {pod} never came back"));
    };
    let mut last = cb.at_ms;
    let mut open = 0;
    for id in &cb.open {
        match projection.order(id).and_then(|o| o.closed_at_ms) {
            Some(t) => last = last.max(t),
            None => open += 1,
        }
    }
    if open > 0 {
        Err(format!("{open} order(s) open when {pod} came back are still open"))
    } else {
        Ok(last.saturating_sub(cb.at_ms).max(0) as u64)
    }
}

/// Whether an expectation already holds, from the live projection alone; `None` for checks
/// that need the final audit (ledgers, the engine's view).
pub fn holds_live(check: &Check, projection: &Projection, comebacks: &[Comeback], orders_started: u64) -> Option<bool> {
    let c = projection.counts();
    Some(match check {
        Check::AllCompleted => orders_started > 0 && c.completed >= orders_started,
        Check::RetriesAtLeast(n) => c.retries_seen >= *n,
        Check::TimersFiredAtLeast(n) => c.timers_fired >= *n,
        Check::RecoveryAtMost { pod, .. } => recovery_ms(pod, comebacks, projection).is_ok(),
        Check::NoneFailed => c.failed == 0,
        Check::NoneLost | Check::ChargedExactlyOnce | Check::NoDuplicateEffects | Check::NoAnomalies { .. } | Check::Anomalies { .. } => {
            return None
        }
    })
}

/// What an expectation measures so far, from the live projection: what a screen shows while
/// the run goes on (the verdict comes from [`evaluate`] at the end).
pub fn measure_live(check: &Check, projection: &Projection) -> String {
    let c = projection.counts();
    match check {
        Check::AllCompleted => format!("{}/{}", c.completed, c.started),
        Check::NoneFailed => format!("{} failed", c.failed),
        Check::NoneLost => format!("{} seen", c.started),
        Check::ChargedExactlyOnce => format!("{} charged, audit at end", c.charged),
        Check::NoDuplicateEffects => "audit at end".into(),
        Check::RetriesAtLeast(n) => format!("{}/{n}", c.retries_seen),
        Check::TimersFiredAtLeast(n) => format!("{}/{n}", c.timers_fired),
        Check::RecoveryAtMost { max, .. } => format!("≤ {} once back", fmt_duration(*max)),
        Check::NoAnomalies { .. } | Check::Anomalies { .. } => "race checker at end".into(),
    }
}

/// The final verdict of one expectation. `held_at_ms`: when it first held during the run
/// (for `within`), and `within_ms` its scaled deadline from the last step's start.
pub fn evaluate(e: &Expectation, projection: &Projection, ev: &Evidence, late: bool) -> ExpectationResult {
    let status = |id: &String| -> Option<WorkflowStatus> {
        match ev.engine_status.get(id) {
            Some(Ok(s)) => Some(*s),
            _ => projection.order(id).and_then(|o| o.status),
        }
    };
    let total = ev.started.len() + ev.failed_starts.len();
    let completed: Vec<String> = ev.started.iter().filter(|id| status(id) == Some(WorkflowStatus::Completed)).cloned().collect();
    let (mut passed, measured) = match &e.check {
        Check::AllCompleted => (total > 0 && completed.len() == total, format!("{}/{total} completed", completed.len())),
        Check::NoneFailed => {
            let failed: Vec<&String> = ev
                .started
                .iter()
                .filter(|id| matches!(status(id), Some(WorkflowStatus::Failed | WorkflowStatus::Terminated | WorkflowStatus::TimedOut)))
                .collect();
            let text = if failed.is_empty() { "0 failed".to_string() } else { format!("{} failed: {}", failed.len(), list(&failed)) };
            (failed.is_empty(), text)
        }
        Check::NoneLost => {
            let mut lost: Vec<String> = ev.failed_starts.iter().map(|(id, e)| format!("{id} (never started: {e})")).collect();
            for id in &ev.started {
                match ev.engine_status.get(id) {
                    Some(Ok(_)) if projection.order(id).is_some_and(|o| o.runs_started > 0) => {}
                    Some(Ok(_)) => lost.push(format!("{id} (no workflow_started event on the stream)")),
                    Some(Err(why)) => lost.push(format!("{id} ({why})")),
                    None => lost.push(format!("{id} (not checked)")),
                }
            }
            let text = if lost.is_empty() { format!("0 of {total} lost") } else { format!("{} of {total} lost: {}", lost.len(), lost.join("; ")) };
            (lost.is_empty(), text)
        }
        Check::ChargedExactlyOnce => match &ev.ledgers {
            Some(Ok(snap)) if snap.has_balances => {
                let oid = |wf: &String| ev.order_ids.get(wf).cloned().unwrap_or_else(|| wf.clone());
                let completed_orders: Vec<String> = completed.iter().map(oid).collect();
                let all_orders: Vec<String> = ev.started.iter().map(oid).collect();
                let (ok, problems) = ledger::charge_verdict(snap, &completed_orders, &all_orders);
                if problems.is_empty() {
                    (true, format!("{ok}/{} completed orders charged exactly once, none twice", completed.len()))
                } else {
                    (false, problems.join("; "))
                }
            }
            Some(Ok(_)) => (false, "no service answered the balances endpoint (is the payment pod running?)".into()),
            Some(Err(e)) => (false, format!("ledger audit failed: {e}")),
            None => (false, "ledger audit not run".into()),
        },
        Check::NoDuplicateEffects => match &ev.ledgers {
            Some(Ok(snap)) => {
                let d = ledger::duplicates(snap);
                let n: usize = snap.entries.iter().map(|(_, e)| e.len()).sum();
                if d.is_empty() {
                    (true, format!("0 duplicates in {n} ledger entries of {} services", snap.entries.len()))
                } else {
                    (false, format!("{} duplicate(s): {}", d.len(), d.join("; ")))
                }
            }
            Some(Err(e)) => (false, format!("ledger audit failed: {e}")),
            None => (false, "ledger audit not run".into()),
        },
        Check::NoAnomalies { side } => match side_report(ev, *side) {
            Ok(r) => {
                let found: Vec<String> = crate::checker::AnomalyKind::ALL
                    .iter()
                    .filter(|k| k.engine_level() && r.counters.get(**k) > 0)
                    .map(|k| format!("{} {}", r.counters.get(*k), k.title()))
                    .collect();
                let n = r.counters.engine_level();
                if n == 0 {
                    (true, format!("0 engine-level anomalies in {} orders", r.orders))
                } else {
                    (false, format!("{n} engine-level anomalies: {}", found.join(", ")))
                }
            }
            Err(why) => (false, why),
        },
        Check::Anomalies { side, kind, at_least } => match side_report(ev, *side) {
            Ok(r) => {
                let n = r.counters.get(*kind);
                let detail = match kind {
                    // Honest about what saved the effect and what one transaction rules out.
                    crate::checker::AnomalyKind::DuplicateExecution => format!(
                        " ({} absorbed by idempotency keys, {} after a committed completion)",
                        r.counters.duplicates_absorbed, r.counters.duplicates_after_completion
                    ),
                    _ => String::new(),
                };
                (n >= *at_least, format!("{n} {}{detail} in {} orders", kind.title(), r.orders))
            }
            Err(why) => (false, why),
        },
        Check::RetriesAtLeast(n) => {
            let c = projection.counts().retries_seen;
            (c >= *n, format!("{c} retries seen"))
        }
        Check::TimersFiredAtLeast(n) => {
            let c = projection.counts().timers_fired;
            (c >= *n, format!("{c} timers fired"))
        }
        Check::RecoveryAtMost { pod, max } => match recovery_ms(pod, &ev.comebacks, projection) {
            Ok(ms) => (ms <= max.as_millis() as u64, format!("recovered in {}", fmt_duration(std::time::Duration::from_millis(ms)))),
            Err(why) => (false, why),
        },
    };
    let mut measured = measured;
    if late && passed {
        passed = false;
        measured.push_str(" (but not within the deadline)");
    }
    let verdict = if passed { Verdict::Passed } else { Verdict::Failed };
    ExpectationResult { expectation: e.check.describe(), verdict, measured, line: e.line }
}

/// The checker's report of one side, or why there is none.
fn side_report(ev: &Evidence, side: crate::checker::Side) -> Result<&crate::checker::SideReport, String> {
    match &ev.race {
        Some(Ok(r)) => r.side(side).ok_or_else(|| format!("the {} side was not checked (does the scenario run the twin?)", side.title())),
        Some(Err(e)) => Err(format!("race checker failed: {e}")),
        None => Err("race checker not run".into()),
    }
}

fn list(ids: &[&String]) -> String {
    let v: Vec<&str> = ids.iter().take(5).map(|s| s.as_str()).collect();
    let more = if ids.len() > 5 { format!(" and {} more", ids.len() - 5) } else { String::new() };
    format!("{}{more}", v.join(", "))
}
