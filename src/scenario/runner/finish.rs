//! The end of a run: settle (wait for expectations with `within`), audit (the engine's view
//! of every order, the ledgers), evaluate, report.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use faultline_sdk::ClientError;

use super::steps::with_engine_retry_until;
use super::{Abort, Run, RunEvent};
use crate::scenario::expect::{self, Evidence};
use crate::scenario::ledger;
use crate::scenario::report::{OrderLine, Report};

impl Run {
    /// Waits until every expectation with `within` holds, or the latest such deadline passes
    /// (counted from the start of the last step). Expectations that need the audit count as
    /// holding here.
    pub(super) async fn settle(&mut self, last_step_ms: u64) -> Result<(), Abort> {
        let withins: Vec<_> = self.sc.expectations.iter().filter(|e| e.within.is_some()).cloned().collect();
        let Some(max) = withins.iter().filter_map(|e| e.within).max() else { return Ok(()) };
        let until = self.t0 + Duration::from_millis(last_step_ms) + self.scaled_timeout(max);
        let what: Vec<String> = withins.iter().map(|e| e.check.describe()).collect();
        self.note(format!("settling: waiting up to {} for {}", crate::scenario::model::fmt_duration(until.saturating_duration_since(Instant::now())), what.join(", ")));
        let scaled: Vec<_> = withins.iter().map(|e| self.scaled_check(&e.check)).collect();
        let r = self
            .wait_for(Some(until), "the expectations", |r| {
                scaled.iter().all(|c| expect::holds_live(c, &r.tracker, &r.comebacks, r.orders_started()).unwrap_or(true))
            })
            .await;
        match r {
            // Not holding in time is a failed expectation, not an aborted run.
            Err(Abort(why)) if why.starts_with("timed out") => Ok(()),
            other => other,
        }
    }

    /// A check with its durations at this run's speed.
    fn scaled_check(&self, c: &crate::scenario::model::Check) -> crate::scenario::model::Check {
        use crate::scenario::model::Check;
        match c {
            Check::RecoveryAtMost { pod, max } => Check::RecoveryAtMost { pod: pod.clone(), max: self.scaled(*max) },
            other => other.clone(),
        }
    }

    /// Audits, evaluates every expectation and builds the report.
    pub(super) async fn finish(mut self, aborted: Option<String>) -> Report {
        if let Some(why) = &aborted {
            self.note(format!("run aborted: {why}"));
        }
        // Drain what the stream already holds, so the last events count.
        let _ = self.wait_for(Some(Instant::now() + Duration::from_millis(300)), "the last events", |_| false).await;
        let mut ev = Evidence { started: self.started.clone(), failed_starts: self.failed_starts.clone(), comebacks: self.comebacks.clone(), ..Evidence::default() };
        ev.order_ids = self.plans.iter().map(|p| (p.workflow_id.clone(), p.order_id.clone())).collect();
        let client = self.client.clone();
        let ids = self.started.clone();
        let statuses = self
            .drive(Box::pin(async move {
                // One budget for the whole audit: a dead engine must not cost a minute per order.
                let until = Instant::now() + Duration::from_secs(60);
                let mut out = BTreeMap::new();
                for id in ids {
                    let r = with_engine_retry_until(until, || client.describe(&id)).await;
                    out.insert(
                        id.clone(),
                        match r {
                            Ok(d) => Ok(d.summary.status),
                            Err(ClientError::Api { status: 404, .. }) => Err("the engine does not know it".to_string()),
                            Err(ClientError::Unreachable { .. }) => Err("the engine was unreachable at the audit".to_string()),
                            Err(e) => Err(format!("cannot ask the engine: {e}")),
                        },
                    );
                }
                out
            }))
            .await
            .unwrap_or_default();
        for (id, s) in &statuses {
            if let Ok(s) = s {
                self.tracker.reconcile(id, *s);
            }
        }
        ev.engine_status = statuses;

        let urls: Vec<(String, String)> =
            self.rt.topology().pods.iter().filter_map(|p| self.rt.topology().host_url(&p.name).map(|u| (p.name.clone(), u))).collect();
        let orders: HashSet<String> = self.plans.iter().filter(|p| self.started.contains(&p.workflow_id)).map(|p| p.order_id.clone()).collect();
        let needs_ledgers = self.sc.expectations.iter().any(|e| {
            matches!(e.check, crate::scenario::model::Check::ChargedExactlyOnce | crate::scenario::model::Check::NoDuplicateEffects)
        });
        if needs_ledgers {
            ev.ledgers = self.drive(Box::pin(async move { ledger::fetch(&urls, &orders).await })).await.ok();
        }

        let mut results = Vec::new();
        let expectations = self.sc.expectations.clone();
        for e in &expectations {
            let mut e = e.clone();
            e.check = self.scaled_check(&e.check);
            let mut r = expect::evaluate(&e, &self.tracker, &ev, false);
            if self.started.is_empty() && self.failed_starts.is_empty() {
                // Nothing ran: "0 failed" would be a hollow pass.
                r.passed = false;
                r.measured = "not evaluated: no order was started".into();
            }
            self.emit(RunEvent::Expectation(r.clone()));
            results.push(r);
        }
        let counts = self.tracker.counts();
        let orders: Vec<OrderLine> = self
            .plans
            .iter()
            .filter(|p| self.started.contains(&p.workflow_id) || self.failed_starts.iter().any(|(id, _)| *id == p.workflow_id))
            .map(|p| {
                let t = self.tracker.order(&p.workflow_id);
                OrderLine {
                    number: p.number,
                    workflow_id: p.workflow_id.clone(),
                    amount: format!("{} EUR ({} × {})", p.amount, p.quantity, p.sku),
                    status: t.and_then(|t| t.status).map(|s| s.as_str().to_string()).unwrap_or_else(|| "not started".into()),
                    retries: t.map_or(0, |t| t.retries),
                    last_failure: t.and_then(|t| t.last_failure.clone()),
                }
            })
            .collect();

        if self.cfg.terminate_leftovers {
            let open: Vec<String> = self.started.iter().filter(|id| self.tracker.order(id).is_some_and(|o| o.closed_ms.is_none())).cloned().collect();
            if !open.is_empty() {
                self.note(format!("terminating {} order(s) still open, so the next run starts clean", open.len()));
                let client = self.client.clone();
                let _ = self
                    .drive(Box::pin(async move {
                        for id in open {
                            let _ = client.terminate(&id, "scenario finished").await;
                        }
                    }))
                    .await;
            }
        }

        let passed = aborted.is_none() && results.iter().all(|r| r.passed);
        let report = Report {
            scenario: self.sc.name.clone(),
            title: self.sc.title.clone(),
            description: self.sc.description.clone(),
            file: self.sc.path.display().to_string(),
            runtime: self.rt.kind().to_string(),
            speed: self.cfg.speed,
            started_at: self.started_wall.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_ms: self.now_ms(),
            aborted,
            passed,
            counts,
            orders,
            expectations: results,
            timeline: std::mem::take(&mut self.timeline),
        };
        let _ = self.tx.send(RunEvent::Finished(Box::new(report.clone())));
        report
    }
}
