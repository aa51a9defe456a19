//! The race harness's part of a run: the dual-write twin's orders (the same workload, started
//! at the same moments, under the twin's id prefix), the fault plan armed on both engines, and
//! the race checker once the run has quiesced.
//!
//! The transactional engine stays the run's main engine: step conditions and the classic
//! expectations read its projection. The twin is driven in lockstep (starts, signals,
//! cancels) and judged by the checker ([`crate::checker`]), per side.

use std::sync::Arc;

use faultline_demo::order::order_workflow_id;
use serde_json::{json, Value};

use super::engine::EngineApi;
use super::Run;
use crate::checker::collect::{self, LedgerSource, OrderRef, Quiesce};
use crate::checker::{self, CheckReport, Side, SideInput};
use crate::scenario::model::{FaultKind, FaultPlan, FaultSide};
use crate::scenario::workload::OrderPlan;

/// How long past its due time work may lag before the checker counts it lost (real time:
/// longer than the twin's visibility timeout, so a redelivery is not mistaken for a loss).
pub const CHECK_GRACE_MS: i64 = 8_000;

/// The twin of a run.
pub(crate) struct Twin {
    pub engine: Arc<dyn EngineApi>,
    /// The workload's orders under the twin's prefix, in the same order as the run's plans.
    pub plans: Vec<OrderPlan>,
    /// Workflow ids of the twin's orders its engine accepted.
    pub started: Vec<String>,
}

impl Twin {
    pub fn new(engine: Arc<dyn EngineApi>, plans: &[OrderPlan], prefix: &str) -> Self {
        Twin { engine, plans: plans.iter().map(|p| twin_plan(p, prefix)).collect(), started: Vec::new() }
    }

    /// The twin's workflow id of the run's order `workflow_id`.
    pub fn id_of(&self, main: &[OrderPlan], workflow_id: &str) -> Option<String> {
        let i = main.iter().position(|p| p.workflow_id == workflow_id)?;
        self.plans.get(i).map(|p| p.workflow_id.clone())
    }
}

/// The same order under the twin's prefix: `dw-<order id>`, workflow `order-dw-<order id>`.
pub fn twin_plan(p: &OrderPlan, prefix: &str) -> OrderPlan {
    let order_id = format!("{prefix}{}", p.order_id);
    OrderPlan { workflow_id: order_workflow_id(&order_id), order_id, ..p.clone() }
}

/// The engine's fault spec (engine/README.md, "Fault points") of `plan` on one side, with
/// the order number resolved to that side's workflow id. `None`: the point has no mirror on
/// that side.
pub fn fault_spec(plan: &FaultPlan, dual: bool, order_workflow_id: Option<&str>) -> Option<Value> {
    let point = plan.point_for(dual)?;
    let mut spec = json!({"point": point, "count": plan.count});
    let action = match plan.kind {
        FaultKind::Crash => "crash",
        FaultKind::Error => "error",
        FaultKind::Hold => "hold",
        FaultKind::Delay(d) => {
            spec["delay_ms"] = json!(d.as_millis() as u64);
            "delay"
        }
    };
    spec["action"] = json!(action);
    if let Some(t) = &plan.workflow_type {
        spec["workflow_type"] = json!(t);
    }
    if let Some(a) = &plan.activity_type {
        spec["activity_type"] = json!(a);
    }
    if let Some(t) = &plan.transition {
        spec["transition"] = json!(t);
    }
    if let Some(id) = order_workflow_id {
        spec["workflow_id_prefix"] = json!(id);
    }
    if let Some(n) = plan.nth {
        spec["nth"] = json!(n);
    }
    Some(spec)
}

impl Run {
    /// Arms `plan` on the engines of its side. Returns the line for the screen, or why not.
    pub(super) async fn arm_faults(&mut self, plan: &FaultPlan) -> Result<String, String> {
        let order_id = |plans: &[OrderPlan]| plan.order.and_then(|n| plans.get(n as usize - 1)).map(|p| p.workflow_id.clone());
        let mut targets: Vec<(bool, Arc<dyn EngineApi>, Option<String>)> = Vec::new();
        if plan.side.transactional() {
            targets.push((false, self.engine.clone(), order_id(&self.plans)));
        }
        if plan.side.dual_write() {
            let Some(t) = &self.twin else { return Err("the run has no dual-write twin".into()) };
            targets.push((true, t.engine.clone(), order_id(&t.plans)));
        }
        let mut armed = Vec::new();
        for (dual, engine, order) in targets {
            let side = if dual { "dual-write" } else { "transactional" };
            let Some(spec) = fault_spec(plan, dual, order.as_deref()) else {
                armed.push(format!("{side}: no mirror of {}", plan.point));
                continue;
            };
            let id = engine.arm_fault(&spec).await.map_err(|e| format!("{side} engine: {e}"))?;
            self.faults.push((dual, id));
            armed.push(format!("{side}: {} (fault {id})", spec["point"].as_str().unwrap_or_default()));
        }
        Ok(armed.join("; "))
    }

    /// The twin's dual-write order for this run, and its engine: the scenario's `twin_order`,
    /// else the order its engine pod starts with, so an order switched by an earlier run on
    /// the same pods never leaks into this one. After the run brought the twin's engine back
    /// (`restarted`), `None` unless the order differs from its start-up one.
    pub(super) fn twin_order(&self, restarted: bool) -> Option<(Arc<dyn EngineApi>, String)> {
        let engine = self.twin.as_ref()?.engine.clone();
        let default = self.rt.topology().twin_order().unwrap_or_else(|| "after-commit".into());
        let order = self.sc.twin_order.map(|o| o.as_str().to_string()).unwrap_or_else(|| default.clone());
        (!restarted || order != default).then_some((engine, order))
    }

    /// Releases the holds of every fault this run armed on `side`.
    pub(super) async fn release_faults(&mut self, side: FaultSide) -> Result<String, String> {
        let mut n = 0;
        for (dual, id) in self.faults.clone() {
            if (dual && !side.dual_write()) || (!dual && !side.transactional()) {
                continue;
            }
            let engine = if dual { self.twin.as_ref().map(|t| t.engine.clone()) } else { Some(self.engine.clone()) };
            if let Some(e) = engine {
                e.release_fault(id).await.map_err(|e| format!("fault {id}: {e}"))?;
                n += 1;
            }
        }
        Ok(format!("{n} fault(s) released"))
    }

    /// Disarms what the run armed, so the next run on these engines starts without them
    /// (an engine that crashed forgot them already; its answer is not an error worth a line).
    pub(super) async fn disarm_faults(&mut self) {
        for (dual, id) in std::mem::take(&mut self.faults) {
            let engine = if dual { self.twin.as_ref().map(|t| t.engine.clone()) } else { Some(self.engine.clone()) };
            if let Some(e) = engine {
                let _ = e.disarm_fault(id).await;
            }
        }
    }

    /// Runs the race checker on both sides (the transactional side alone without the twin),
    /// after waiting for each to quiesce.
    pub(super) async fn race_check(&mut self) -> Result<CheckReport, String> {
        let ledgers: Vec<LedgerSource> = {
            let t = self.rt.topology();
            // The services that keep ledgers are the pods with a data directory of their own.
            t.pods
                .iter()
                .filter(|p| p.environment.contains_key("FAULTLINE_DATA"))
                .filter_map(|p| t.host_url(&p.name).map(|u| LedgerSource { service: p.name.clone(), base_url: u }))
                .collect()
        };
        let mut sides: Vec<(Side, Arc<dyn EngineApi>, Vec<OrderRef>)> = Vec::new();
        let refs = |plans: &[OrderPlan], started: &[String]| -> Vec<OrderRef> {
            plans
                .iter()
                .filter(|p| started.contains(&p.workflow_id))
                .map(|p| OrderRef { workflow_id: p.workflow_id.clone(), ledger_order_id: Some(p.order_id.clone()) })
                .collect()
        };
        sides.push((Side::Transactional, self.engine.clone(), refs(&self.plans, &self.started)));
        if let Some(t) = &self.twin {
            sides.push((Side::DualWrite, t.engine.clone(), refs(&t.plans, &t.started)));
        }
        let clock = self.ctl.clock.clone();
        // Work lost at the last step must be past the grace to count: wait that long first.
        if let Some(done) = self.last_step_done {
            let until = Self::after(done, std::time::Duration::from_millis(CHECK_GRACE_MS as u64));
            if clock.now_ms() < until {
                self.note(format!("race checker: waiting {} s of grace for late work", CHECK_GRACE_MS / 1000));
                clock.sleep_until(until).await;
            }
        }
        let quiesce = Quiesce { quiet_ms: 3_000, deadline_ms: 45_000, poll_ms: 250 };
        let mut inputs: Vec<SideInput> = Vec::new();
        let mut now = clock.now_ms();
        for (side, engine, orders) in sides {
            let Some(client) = engine.http_client() else {
                return Err(format!("the {} engine is not reached over HTTP: nothing to check", side.title()));
            };
            self.note(format!("race checker: reading the {} side ({} orders)", side.title(), orders.len()));
            let c = collect::collect(side, &client, &ledgers, &orders, &*clock, quiesce).await.map_err(|e| e.to_string())?;
            if !c.quiesced {
                self.note(format!("race checker: the {} side was still moving after {} s; checking what there is", side.title(), quiesce.deadline_ms / 1000));
            }
            now = now.max(c.now_ms);
            inputs.push(c.input);
        }
        Ok(checker::check_sides(&inputs, &checker::CheckParams { now_ms: now, grace_ms: CHECK_GRACE_MS }))
    }
}

/// Sets the twin's order; the engine may still be starting, so this retries for a minute.
pub(super) async fn set_twin_order(engine: Arc<dyn EngineApi>, order: String, clock: Arc<dyn crate::clock::Clock>) -> Result<String, String> {
    let until = Run::after(clock.now_ms(), std::time::Duration::from_secs(60));
    loop {
        match engine.set_dual_write_order(&order).await {
            Ok(()) => return Ok(format!("the dual-write twin runs {order}")),
            Err(e) if clock.now_ms() >= until => return Err(format!("cannot set the twin's dual-write order to {order}: {e}")),
            Err(_) => clock.sleep_until(Run::after(clock.now_ms(), std::time::Duration::from_millis(250))).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn plan(point: &str, kind: FaultKind) -> FaultPlan {
        FaultPlan { point: point.into(), kind, workflow_type: None, activity_type: Some("charge".into()), transition: None, order: None, nth: Some(2), count: 1, side: FaultSide::Both }
    }

    #[test]
    fn one_plan_becomes_a_spec_per_side_with_the_mirror_point() {
        let p = plan("after_state_commit", FaultKind::Crash);
        let dw = fault_spec(&p, true, None).unwrap();
        assert_eq!(dw, json!({"point": "after_state_commit", "action": "crash", "activity_type": "charge", "nth": 2, "count": 1}));
        let tx = fault_spec(&p, false, Some("order-x-001")).unwrap();
        assert_eq!(tx["point"], "after_commit_before_reply");
        assert_eq!(tx["workflow_id_prefix"], "order-x-001");
        let d = fault_spec(&plan("before_state_commit", FaultKind::Delay(Duration::from_millis(1500))), false, None).unwrap();
        assert_eq!((d["point"].as_str(), d["action"].as_str(), d["delay_ms"].as_u64()), (Some("before_commit"), Some("delay"), Some(1500)));
        // A transactional point maps back onto the twin too.
        let back = fault_spec(&plan("before_commit", FaultKind::Hold), true, None).unwrap();
        assert_eq!(back["point"], "before_state_commit");
        // A transition travels to both sides as the engine's `transition`.
        let mut t = plan("after_complete_before_ack", FaultKind::Crash);
        t.transition = Some("complete_activity".into());
        assert_eq!(fault_spec(&t, true, None).unwrap()["transition"], "complete_activity");
        assert_eq!(fault_spec(&t, false, None).unwrap()["transition"], "complete_activity");
    }

    #[test]
    fn twin_orders_carry_the_prefix_and_keep_the_rest() {
        let p = OrderPlan {
            number: 2,
            order_id: "race-abc123-002".into(),
            workflow_id: order_workflow_id("race-abc123-002"),
            sku: "mug".into(),
            quantity: 1,
            amount: "12.00".into(),
            hits_v1_bug: false,
            needs_approval: false,
        };
        let t = twin_plan(&p, "dw-");
        assert_eq!(t.order_id, "dw-race-abc123-002");
        assert_eq!(t.workflow_id, order_workflow_id("dw-race-abc123-002"));
        assert_eq!((t.number, t.sku.as_str(), t.amount.as_str()), (2, "mug", "12.00"));
    }
}

