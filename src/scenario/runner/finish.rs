//! The end of a run: settle (wait for expectations with `within`), audit (the engine's view
//! of every order, the ledgers), evaluate, report.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use faultline_sdk::ClientError;

use super::control::Abort;
use super::steps::with_engine_retry_until;
use super::{Run, RunEvent};
use crate::scenario::expect::{self, Evidence};
use crate::scenario::ledger;
use crate::scenario::model::{fmt_duration, Check};
use crate::scenario::report::{ExpectationResult, OrderLine, Report, Verdict};

impl Run {
    /// Waits until every expectation with `within` holds, or the latest such deadline passes
    /// (counted from the start of the last step). Expectations that need the audit count as
    /// holding here.
    pub(super) async fn settle(&mut self, last_step_start: i64) -> Result<(), Abort> {
        let withins: Vec<_> = self.sc.expectations.iter().filter(|e| e.within.is_some()).cloned().collect();
        let Some(max) = withins.iter().filter_map(|e| e.within).max() else { return Ok(()) };
        let until = Self::after(last_step_start, self.scaled_timeout(max));
        let what: Vec<String> = withins.iter().map(|e| e.check.describe()).collect();
        let left = Duration::from_millis(until.saturating_sub(self.ctl.now()).max(0) as u64);
        self.note(format!("settling: waiting up to {} for {}", fmt_duration(left), what.join(", ")));
        let scaled: Vec<_> = withins.iter().map(|e| self.scaled_check(&e.check)).collect();
        let (comebacks, started) = (self.comebacks.clone(), self.orders_started());
        let r = self
            .ctl
            .wait_until(Some(until), &[], "the expectations", |s, _, _| {
                scaled.iter().all(|c| expect::holds_live(c, &s.projection, &comebacks, started).unwrap_or(true))
            })
            .await;
        match r {
            // Not holding in time is a failed expectation, not an aborted run.
            Err(Abort::TimedOut(_)) => Ok(()),
            other => other,
        }
    }

    /// A check with its durations at this run's speed.
    fn scaled_check(&self, c: &Check) -> Check {
        match c {
            Check::RecoveryAtMost { pod, max } => Check::RecoveryAtMost { pod: pod.clone(), max: self.scaled(*max) },
            other => other.clone(),
        }
    }

    /// The engine's status of every started order, with one budget for the whole audit: a
    /// dead engine must not cost a minute per order.
    async fn audit_statuses(&mut self) -> BTreeMap<String, Result<faultline_proto::WorkflowStatus, String>> {
        let clock = self.ctl.clock.clone();
        let until = Self::after(clock.now_ms(), Duration::from_secs(60));
        let mut out = BTreeMap::new();
        for id in self.started.clone() {
            let engine = self.engine.clone();
            let r = with_engine_retry_until(&*clock, until, || engine.status(&id)).await;
            out.insert(
                id,
                match r {
                    Ok(s) => Ok(s),
                    Err(ClientError::Api { status: 404, .. }) => Err("the engine does not know it".to_string()),
                    Err(ClientError::Unreachable { .. }) => Err("the engine was unreachable at the audit".to_string()),
                    Err(e) => Err(format!("cannot ask the engine: {e}")),
                },
            );
        }
        out
    }

    /// Audits, evaluates every expectation and builds the report. `aborted`: why the run
    /// stopped early, and the sentence for the report.
    pub(super) async fn finish(mut self, aborted: Option<(Abort, String)>) -> Report {
        if let Some((_, why)) = &aborted {
            self.note(format!("run aborted: {why}"));
        }
        // First of all, whatever ended the run: no fault of this run outlives it.
        self.heal_all_links().await;
        // The last events count: give those in flight a moment, then fold all that arrived.
        let drain_until = Self::after(self.ctl.now(), self.cfg.drain);
        let _ = self.ctl.wait_until(Some(drain_until), &[], "the last events", |_, _, _| false).await;
        self.flush_live().await;
        let mut ev = Evidence { started: self.started.clone(), failed_starts: self.failed_starts.clone(), comebacks: self.comebacks.clone(), ..Evidence::default() };
        ev.order_ids = self.plans.iter().map(|p| (p.workflow_id.clone(), p.order_id.clone())).collect();
        ev.engine_status = self.audit_statuses().await;

        let topology = self.rt.topology();
        let urls: Vec<(String, String)> = topology.pods.iter().filter_map(|p| topology.host_url(&p.name).map(|u| (p.name.clone(), u))).collect();
        let orders: HashSet<String> = self.plans.iter().filter(|p| self.started.contains(&p.workflow_id)).map(|p| p.order_id.clone()).collect();
        let needs_ledgers = self.sc.expectations.iter().any(|e| matches!(e.check, Check::ChargedExactlyOnce | Check::NoDuplicateEffects));
        if needs_ledgers {
            ev.ledgers = Some(ledger::fetch(&urls, &orders).await);
        }

        // The race checker, once the run has quiesced: with the twin, or for a check on a side.
        let needs_race = self.twin.is_some() || self.sc.expectations.iter().any(|e| matches!(e.check, Check::NoAnomalies { .. } | Check::Anomalies { .. }));
        if needs_race && !self.started.is_empty() {
            let r = self.race_check().await;
            match &r {
                Ok(rep) => {
                    for s in &rep.sides {
                        self.note(format!("race checker, {}: {} engine-level anomalies", s.side.title(), s.counters.engine_level()));
                    }
                }
                Err(e) => self.note(format!("race checker failed: {e}")),
            }
            ev.race = Some(r);
        }
        let results = self.evaluate(&ev, aborted.as_ref().map(|(a, _)| a));
        for r in &results {
            self.out.emit(RunEvent::Expectation(r.clone()));
        }
        let (counts, orders) = {
            let snap = self.shared.borrow();
            let p = &snap.projection;
            let orders: Vec<OrderLine> = self
                .plans
                .iter()
                .filter(|pl| self.started.contains(&pl.workflow_id) || self.failed_starts.iter().any(|(id, _)| *id == pl.workflow_id))
                .map(|pl| {
                    let o = p.order(&pl.workflow_id);
                    let status = match ev.engine_status.get(&pl.workflow_id) {
                        Some(Ok(s)) => Some(*s),
                        _ => o.as_ref().and_then(|o| o.status),
                    };
                    OrderLine {
                        number: pl.number,
                        workflow_id: pl.workflow_id.clone(),
                        amount: format!("{} EUR ({} × {})", pl.amount, pl.quantity, pl.sku),
                        status: status.map(|s| s.as_str().to_string()).unwrap_or_else(|| "not started".into()),
                        retries: o.as_ref().map_or(0, |o| o.retries),
                        last_failure: o.as_ref().and_then(|o| o.last_failure_text()),
                        most_frequent_failure: o.and_then(|o| o.most_frequent_failure),
                    }
                })
                .collect();
            (p.counts(), orders)
        };

        self.disarm_faults().await;
        if self.cfg.terminate_leftovers {
            self.terminate_leftovers().await;
        }

        let verdict = match &aborted {
            Some((Abort::ByPresenter, _)) => Verdict::NotEvaluated,
            Some(_) => Verdict::Failed,
            None if results.iter().all(ExpectationResult::passed) => Verdict::Passed,
            None => Verdict::Failed,
        };
        let report = Report {
            scenario: self.sc.name.clone(),
            title: self.sc.title.clone(),
            description: self.sc.description.clone(),
            file: self.sc.path.display().to_string(),
            runtime: self.rt.kind().to_string(),
            speed: self.cfg.speed,
            started_at: self.started_wall.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_ms: self.now_ms(),
            aborted: aborted.map(|(_, why)| why),
            verdict,
            passed: verdict == Verdict::Passed,
            counts,
            orders,
            expectations: results,
            timeline: self.out.take_timeline(),
            race: ev.race.as_ref().and_then(|r| r.as_ref().ok().cloned()),
            race_error: ev.race.as_ref().and_then(|r| r.as_ref().err().cloned()),
        };
        self.out.emit(RunEvent::Finished(Box::new(report.clone())));
        report
    }

    /// Every expectation's verdict. A run cut short judges nothing it did not reach: its
    /// expectations read "not evaluated", never "failed".
    fn evaluate(&self, ev: &Evidence, aborted: Option<&Abort>) -> Vec<ExpectationResult> {
        let snap = self.shared.borrow();
        let all_steps_ran = self.steps_done == self.sc.steps.len();
        self.sc
            .expectations
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.check = self.scaled_check(&e.check);
                let not_evaluated = |why: String| ExpectationResult { expectation: e.check.describe(), verdict: Verdict::NotEvaluated, measured: format!("not evaluated: {why}"), line: e.line };
                match aborted {
                    Some(Abort::ByPresenter) if !all_steps_ran => return not_evaluated(format!("aborted by the presenter after {} of {} steps", self.steps_done, self.sc.steps.len())),
                    Some(why) if !all_steps_ran => return not_evaluated(format!("the run stopped early ({why})")),
                    _ => {}
                }
                if self.started.is_empty() && self.failed_starts.is_empty() {
                    // Nothing ran: "0 failed" would be a hollow pass.
                    return not_evaluated("no order was started".into());
                }
                expect::evaluate(&e, &snap.projection, ev, false)
            })
            .collect()
    }

    async fn terminate_leftovers(&mut self) {
        let open: Vec<String> = {
            let snap = self.shared.borrow();
            self.started.iter().filter(|id| snap.projection.order(id).is_some_and(|o| o.closed_at_ms.is_none())).cloned().collect()
        };
        if !open.is_empty() {
            self.note(format!("terminating {} order(s) still open, so the next run starts clean", open.len()));
            for id in open {
                let _ = self.engine.terminate(&id, "scenario finished").await;
            }
        }
        // The twin's orders: those that closed refuse, which is fine.
        if let Some(t) = &self.twin {
            for id in &t.started {
                let _ = t.engine.terminate(id, "scenario finished").await;
            }
        }
    }
}
