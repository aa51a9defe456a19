//! Validation of the race harness's parts of a scenario: `[setup] twin`, the `fault` and
//! `release_faults` actions, and the checks that name a side of the twin (`no_anomalies`,
//! `anomalies`).

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::{Checker, Sim};
use crate::scenario::format::{RawAction, RawExpectation};
use crate::scenario::model::*;

/// The fault actions of the engine, as a scenario writes them.
const FAULT_ACTIONS: &str = "crash, error, delay, hold";

impl Checker<'_> {
    /// `side = "transactional" | "dual-write" | "both"` of a fault action; the default is
    /// `both` with the twin, `transactional` without.
    fn fault_side(&mut self, a: &RawAction, twin: bool) -> FaultSide {
        let side = match &a.side {
            None if twin => FaultSide::Both,
            None => FaultSide::Transactional,
            Some(s) => match s.get_ref().as_str() {
                "both" => FaultSide::Both,
                "transactional" => FaultSide::Transactional,
                "dual-write" => FaultSide::DualWrite,
                other => {
                    self.err(s.span(), format!("unknown side `{other}`; write \"transactional\", \"dual-write\" or \"both\""));
                    return FaultSide::Transactional;
                }
            },
        };
        if side.dual_write() && !twin {
            let span = a.side.as_ref().map(|s| s.span()).unwrap_or(a.action.span());
            self.err(span, "the dual-write side runs only with the twin; add `[setup]` with `twin = true`, or write side = \"transactional\"");
        }
        side
    }

    /// `{ do = "fault", point, action, delay?, match?, count?, side? }`. A crash takes the
    /// engine pod(s) of its side down in the simulation (so a later step may wait for it to
    /// stop, and start it again).
    pub(super) fn fault(&mut self, a: &RawAction, span: Range<usize>, w: &Workload, twin: bool, sim: &mut BTreeMap<String, Sim>) -> Option<FaultPlan> {
        let twin_order = self.twin_order;
        let side = self.fault_side(a, twin);
        let Some(point) = &a.point else {
            self.err(span, "`fault` needs a point, e.g. { do = \"fault\", point = \"after_state_commit\", action = \"crash\" }");
            return None;
        };
        let known = FAULT_POINTS.iter().any(|(dw, _)| dw == point.get_ref()) || TRANSACTIONAL_POINTS.contains(&point.get_ref().as_str());
        if !known {
            let all: Vec<&str> = FAULT_POINTS.iter().map(|(p, _)| *p).chain(TRANSACTIONAL_POINTS).collect();
            self.err(point.span(), format!("unknown fault point `{}`; the points are: {}", point.get_ref(), all.join(", ")));
            return None;
        }
        let Some(action) = &a.fault_action else {
            self.err(span, format!("`fault` needs an action: one of {FAULT_ACTIONS}"));
            return None;
        };
        let kind = match action.get_ref().as_str() {
            "crash" => FaultKind::Crash,
            "error" => FaultKind::Error,
            "hold" => FaultKind::Hold,
            "delay" => match &a.delay {
                Some(d) => {
                    let d = self.duration(d);
                    if d.as_millis() > 600_000 {
                        self.err(a.delay.as_ref().map(|d| d.span()).unwrap_or(span.clone()), "a fault's delay is at most 10m");
                    }
                    FaultKind::Delay(d)
                }
                None => {
                    self.err(action.span(), "a `delay` fault needs `delay = \"2s\"`");
                    return None;
                }
            },
            other => {
                self.err(action.span(), format!("unknown fault action `{other}`; the actions are {FAULT_ACTIONS}"));
                return None;
            }
        };
        if let (Some(d), false) = (&a.delay, matches!(kind, FaultKind::Delay(_))) {
            self.err(d.span(), "`delay` applies only to action = \"delay\"");
        }
        let count = match &a.count {
            Some(c) => self.count(c, "count", 0),
            None => 1,
        };
        let mut plan = FaultPlan { point: point.get_ref().clone(), kind, workflow_type: None, activity_type: None, transition: None, order: None, nth: None, count, side };
        if let Some(m) = &a.matcher {
            let m = m.get_ref();
            plan.workflow_type = non_empty(self, &m.workflow_type, "workflow_type");
            plan.activity_type = non_empty(self, &m.activity_type, "activity_type");
            if let Some(o) = &m.order {
                let n = *o.get_ref();
                if n < 1 || n > w.orders as i64 {
                    self.err(o.span(), format!("match.order is an order number from 1 to the workload's {}; `{n}` is not one", w.orders));
                } else {
                    plan.order = Some(n as u32);
                }
            }
            if let Some(n) = &m.nth {
                plan.nth = Some(self.count(n, "match.nth", 1));
            }
            if let Some(t) = &m.transition {
                if FAULT_TRANSITIONS.contains(&t.get_ref().as_str()) {
                    plan.transition = Some(t.get_ref().clone());
                } else {
                    self.err(t.span(), format!(
                        "unknown transition `{}`; match.transition is one of {} (a workflow task that schedules an activity, one that starts a durable timer, an activity's completion)",
                        t.get_ref(),
                        FAULT_TRANSITIONS.join(", ")
                    ));
                }
            }
        }
        if side.dual_write() {
            self.point_fires_on_the_twin(point, twin_order);
        }
        if plan.kind == FaultKind::Crash {
            // The engine pods of the side go down (if the fault fires; the simulation assumes
            // it does, so `pod_stopped` and a later `start` are accepted).
            let mut pods = Vec::new();
            if side.transactional() && plan.point_for(false).is_some() {
                pods.push(self.ctx.engine_pod().to_string());
            }
            if let (true, Some(t)) = (side.dual_write(), self.ctx.twin()) {
                pods.push(t.engine.clone());
            }
            for p in pods {
                sim.insert(p, Sim::Down);
            }
        }
        Some(plan)
    }

    /// A dual-write point of the other order never fires: say so where it is written.
    fn point_fires_on_the_twin(&mut self, point: &Spanned<String>, order: Option<TwinOrder>) {
        let Some(order) = order else { return };
        let needs = match point.get_ref().as_str() {
            "after_state_commit" => TwinOrder::AfterCommit,
            "after_enqueue_before_commit" => TwinOrder::EnqueueFirst,
            _ => return,
        };
        if needs != order {
            self.err(point.span(), format!(
                "`{}` never fires on a twin that runs {}: it is a point of the {} order; set `twin_order = \"{}\"` in `[setup]`, or pick another point",
                point.get_ref(),
                order.as_str(),
                needs.as_str(),
                needs.as_str()
            ));
        }
    }

    /// `[setup] twin_order`: needs the twin; one of the engine's orders.
    pub(super) fn parse_twin_order(&mut self, raw: &Spanned<String>, twin: bool) -> Option<TwinOrder> {
        if !twin {
            self.err(raw.span(), "`twin_order` applies to the dual-write twin; add `twin = true` to `[setup]`");
            return None;
        }
        let order = TwinOrder::parse(raw.get_ref());
        if order.is_none() {
            self.err(raw.span(), format!("unknown twin_order `{}`; write \"after-commit\" or \"enqueue-first\"", raw.get_ref()));
        }
        order
    }

    pub(super) fn release_faults(&mut self, a: &RawAction, twin: bool) -> FaultSide {
        self.fault_side(a, twin)
    }

    /// `side = "transactional" | "dual-write"` of a check.
    fn check_side(&mut self, e: &RawExpectation, span: &Range<usize>, twin: bool) -> Option<Side> {
        let Some(s) = &e.side else {
            self.err(span.clone(), format!("check `{}` needs a side: side = \"transactional\" or side = \"dual-write\"", e.check.get_ref()));
            return None;
        };
        let side = match s.get_ref().as_str() {
            "transactional" => Side::Transactional,
            "dual-write" => Side::DualWrite,
            other => {
                self.err(s.span(), format!("unknown side `{other}`; write \"transactional\" or \"dual-write\""));
                return None;
            }
        };
        if side == Side::DualWrite && !twin {
            self.err(s.span(), "the dual-write side runs only with the twin; add `[setup]` with `twin = true`");
        }
        Some(side)
    }

    /// `no_anomalies` and `anomalies`.
    pub(super) fn race_check(&mut self, name: &str, e: &RawExpectation, span: &Range<usize>, twin: bool) -> Option<Check> {
        let side = self.check_side(e, span, twin)?;
        if name == "no_anomalies" {
            return Some(Check::NoAnomalies { side });
        }
        let names: Vec<String> = AnomalyKind::ALL.iter().map(|k| kind_name(*k)).collect();
        let Some(k) = &e.kind else {
            self.err(span.clone(), format!("check `anomalies` needs a kind: one of {}", names.join(", ")));
            return None;
        };
        let Some(kind) = AnomalyKind::ALL.iter().copied().find(|x| kind_name(*x) == *k.get_ref()) else {
            self.err(k.span(), format!("unknown anomaly kind `{}`; the kinds are: {}", k.get_ref(), names.join(", ")));
            return None;
        };
        let at_least = e.at_least.as_ref().map(|n| self.count(n, "at_least", 1)).unwrap_or(1);
        Some(Check::Anomalies { side, kind, at_least })
    }

    /// A pod of the twin's profile named by a scenario without the twin.
    pub(super) fn twin_pod_without_twin(&mut self, pod: &Spanned<String>, twin: bool) {
        if !twin && self.ctx.is_twin_pod(pod.get_ref()) {
            self.err(pod.span(), format!("pod `{}` belongs to the dual-write twin, which runs only when the scenario asks for it; add `[setup]` with `twin = true`", pod.get_ref()));
        }
    }
}

/// The name of a kind in a scenario file (`lost_task`), as the checker's JSON spells it.
pub fn kind_name(k: AnomalyKind) -> String {
    serde_json::to_value(k).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn non_empty(c: &mut Checker<'_>, v: &Option<Spanned<String>>, key: &str) -> Option<String> {
    let v = v.as_ref()?;
    if v.get_ref().trim().is_empty() {
        c.err(v.span(), format!("match.{key} is empty; remove it to match any"));
        return None;
    }
    Some(v.get_ref().clone())
}
