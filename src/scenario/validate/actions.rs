//! Validation of actions, order targets and expectations (the part of [`Checker`] that
//! walks pod states through pod actions).

use std::collections::BTreeMap;
use std::ops::Range;

use super::{sim_name, Checker, Sim, DEFAULT_STEP_TIMEOUT};
use crate::runtime::PodAction;
use crate::scenario::format::{RawAction, RawExpectation};
use crate::scenario::model::*;

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn action(
        &mut self,
        a: &RawAction,
        span: Range<usize>,
        w: &Workload,
        sim: &mut BTreeMap<String, Sim>,
        started: &mut u64,
        cancels: &mut bool,
        comebacks: &mut Vec<String>,
    ) -> Option<Action> {
        let name = a.action.get_ref().as_str();
        if super::links::LINK_ACTIONS.contains(&name) {
            return self.link_action(a, span);
        }
        let pod_action = match name {
            "start" => Some(PodAction::Start),
            "stop" => Some(PodAction::Stop),
            "kill" => Some(PodAction::Kill),
            "pause" => Some(PodAction::Pause),
            "unpause" => Some(PodAction::Unpause),
            "restart" => Some(PodAction::Restart),
            "disconnect" => Some(PodAction::Disconnect),
            "reconnect" => Some(PodAction::Reconnect),
            "deploy" => Some(PodAction::Deploy { version: String::new() }),
            _ => None,
        };
        // Keys each action accepts; anything else set is a mistake worth pointing at.
        let allowed: &[&str] = match name {
            "deploy" => &["pod", "version"],
            _ if pod_action.is_some() => &["pod"],
            "start_orders" => &["count"],
            "signal" => &["name", "orders"],
            "retry_now" | "cancel" => &["orders"],
            "wait" => &["for", "until", "timeout"],
            "fault" => &["point", "action", "delay", "match", "count", "side"],
            "release_faults" => &["side"],
            _ => {
                self.err(a.action.span(), format!("unknown action `{name}`; the actions are start, stop, kill, pause, unpause, restart, deploy, disconnect, reconnect, start_orders, signal, retry_now, cancel, wait, fault, release_faults, {}", super::links::LINK_ACTIONS.join(", ")));
                return None;
            }
        };
        for (key, sp) in a.keys_set() {
            if !allowed.contains(&key) {
                self.err(sp, format!("`{key}` does not apply to `{name}`; it takes: {}", allowed.join(", ")));
            }
        }
        if let Some(mut pa) = pod_action {
            let Some(p) = &a.pod else {
                self.err(span, format!("`{name}` needs a pod: {{ do = \"{name}\", pod = \"...\" }}"));
                return None;
            };
            let pod = self.pod(p)?;
            self.twin_pod_without_twin(p, self.twin);
            if let PodAction::Deploy { version } = &mut pa {
                let Some(v) = &a.version else {
                    self.err(span, format!("`deploy` needs a version; the versions of `{pod}` are: {}", self.ctx.versions(&pod).join(", ")));
                    return None;
                };
                *version = self.version(&pod, v)?;
            }
            let state = sim.get(&pod).copied().unwrap_or(Sim::Up);
            let next = match (&pa, state) {
                (PodAction::Start, Sim::Down) => Ok(Sim::Up),
                (PodAction::Start, s) => Err(format!("cannot start pod `{pod}`: it is already {}", sim_name(s))),
                (PodAction::Stop | PodAction::Kill, Sim::Down) => Err(format!("cannot {name} pod `{pod}`: it is already stopped by an earlier action")),
                (PodAction::Stop | PodAction::Kill, _) => Ok(Sim::Down),
                (PodAction::Pause, Sim::Up) => Ok(Sim::Paused),
                (PodAction::Pause, s) => Err(format!("cannot pause pod `{pod}`: it is {}", sim_name(s))),
                (PodAction::Unpause, Sim::Paused) => Ok(Sim::Up),
                (PodAction::Unpause, _) => Err(format!("cannot unpause pod `{pod}`: no earlier action pauses it")),
                (PodAction::Disconnect, Sim::Up) => Ok(Sim::Disconnected),
                (PodAction::Disconnect, s) => Err(format!("cannot disconnect pod `{pod}`: it is {}", sim_name(s))),
                (PodAction::Reconnect, Sim::Disconnected) => Ok(Sim::Up),
                (PodAction::Reconnect, _) => Err(format!("cannot reconnect pod `{pod}`: no earlier action disconnects it")),
                (PodAction::Restart | PodAction::Deploy { .. }, _) => Ok(Sim::Up),
            };
            match next {
                Ok(s) => {
                    if s == Sim::Up {
                        comebacks.push(pod.clone());
                    }
                    sim.insert(pod.clone(), s);
                }
                Err(msg) => self.err(a.action.span(), msg),
            }
            return Some(Action::Pod { pod, action: pa });
        }
        match name {
            "start_orders" => {
                let left = (w.orders as u64).saturating_sub(*started);
                let count = a.count.as_ref().map(|c| (self.count(c, "count", 1), c.span()));
                match &count {
                    Some((n, sp)) if *n > left => {
                        self.err(sp.clone(), format!("cannot start {n} more orders: the workload has {} and {} are started before this point", w.orders, *started));
                    }
                    None if left == 0 => self.err(a.action.span(), format!("no orders are left to start: all {} are started before this point", w.orders)),
                    _ => {}
                }
                let n = count.as_ref().map(|c| c.0).unwrap_or(left).min(left);
                *started += n;
                Some(Action::StartOrders { count: count.map(|c| c.0 as u32) })
            }
            "signal" => {
                let Some(sig) = &a.name else {
                    self.err(span, "`signal` needs a name: { do = \"signal\", name = \"approve\", orders = \"needs_approval\" }");
                    return None;
                };
                let target = self.target(a, span, w, *started)?;
                Some(Action::Signal { name: sig.get_ref().clone(), target })
            }
            "retry_now" => Some(Action::RetryNow { target: self.target(a, span, w, *started)? }),
            "fault" => Some(Action::Fault(self.fault(a, span, w, self.twin, sim)?)),
            "release_faults" => Some(Action::ReleaseFaults { side: self.release_faults(a, self.twin) }),
            "cancel" => {
                *cancels = true;
                Some(Action::Cancel { target: self.target(a, span, w, *started)? })
            }
            _ => match (&a.duration, &a.until) {
                (Some(d), None) => Some(Action::Wait(self.duration(d))),
                (None, Some(c)) => {
                    let condition = self.condition(c, w, sim, *started)?;
                    let timeout = self.opt_duration(&a.timeout, DEFAULT_STEP_TIMEOUT);
                    Some(Action::WaitUntil { condition, timeout })
                }
                _ => {
                    self.err(span, "`wait` takes either `for = \"5s\"` or `until = { ... }`");
                    None
                }
            },
        }
    }

    fn target(&mut self, a: &RawAction, span: Range<usize>, w: &Workload, started: u64) -> Option<Target> {
        let name = a.action.get_ref();
        if started == 0 {
            self.err(a.action.span(), format!("`{name}` has no order to act on: no orders are started before this point"));
        }
        let Some(v) = &a.orders else {
            self.err(span, format!("`{name}` needs `orders`: \"all\", \"running\", \"retrying\", \"needs_approval\" or a list of order numbers"));
            return None;
        };
        match v.get_ref() {
            toml::Value::String(s) => match s.as_str() {
                "all" => Some(Target::All),
                "running" => Some(Target::Running),
                "retrying" => Some(Target::Retrying),
                "needs_approval" => Some(Target::NeedsApproval),
                other => {
                    self.err(v.span(), format!("unknown orders `{other}`; write \"all\", \"running\", \"retrying\", \"needs_approval\" or a list of order numbers like [1, 3]"));
                    None
                }
            },
            toml::Value::Array(items) => {
                let mut nums = Vec::new();
                for item in items {
                    match item.as_integer() {
                        Some(n) if n >= 1 && n <= started.min(w.orders as u64) as i64 => nums.push(n as u32),
                        _ => {
                            self.err(v.span(), format!("order numbers run from 1 to the {started} orders started before this point; `{item}` is not one of them"));
                            return None;
                        }
                    }
                }
                Some(Target::Numbers(nums))
            }
            _ => {
                self.err(v.span(), "orders must be a string like \"running\" or a list of order numbers like [1, 3]");
                None
            }
        }
    }

    pub(super) fn expectation(&mut self, e: &RawExpectation, span: Range<usize>, cancels: bool, comebacks: &[String], w: &Workload) -> Option<Expectation> {
        let name = e.check.get_ref().as_str();
        let allowed: &[&str] = match name {
            "all_completed" | "none_failed" | "none_lost" | "charged_exactly_once" | "no_duplicate_effects" => &["within"],
            "retries" | "timers_fired" => &["at_least", "within"],
            "recovery" => &["pod", "at_most"],
            "no_anomalies" => &["side"],
            "anomalies" => &["side", "kind", "at_least"],
            _ => {
                self.err(e.check.span(), format!("unknown check `{name}`; the checks are all_completed, none_failed, none_lost, charged_exactly_once, no_duplicate_effects, retries, timers_fired, recovery, no_anomalies, anomalies"));
                return None;
            }
        };
        let present = [
            ("side", e.side.as_ref().map(|v| v.span())),
            ("kind", e.kind.as_ref().map(|v| v.span())),
            ("at_least", e.at_least.as_ref().map(|v| v.span())),
            ("at_most", e.at_most.as_ref().map(|v| v.span())),
            ("pod", e.pod.as_ref().map(|v| v.span())),
            ("within", e.within.as_ref().map(|v| v.span())),
        ];
        for (key, sp) in present {
            if let (Some(sp), false) = (sp, allowed.contains(&key)) {
                self.err(sp, format!("`{key}` does not apply to check `{name}`; it takes: {}", allowed.join(", ")));
            }
        }
        let within = e.within.as_ref().map(|d| self.duration(d));
        let line = self.line(&span);
        let check = match name {
            "all_completed" => {
                if cancels {
                    self.err(e.check.span(), "all_completed can never hold: a step cancels orders");
                }
                Check::AllCompleted
            }
            "none_failed" => Check::NoneFailed,
            "none_lost" => Check::NoneLost,
            "charged_exactly_once" => Check::ChargedExactlyOnce,
            "no_duplicate_effects" => Check::NoDuplicateEffects,
            "no_anomalies" | "anomalies" => self.race_check(name, e, &span, self.twin)?,
            "retries" | "timers_fired" => {
                let Some(n) = &e.at_least else {
                    self.err(span, format!("check `{name}` needs `at_least = N`"));
                    return None;
                };
                let n = self.count(n, "at_least", 1);
                if name == "retries" {
                    Check::RetriesAtLeast(n)
                } else {
                    Check::TimersFiredAtLeast(n)
                }
            }
            _ => {
                let (Some(p), Some(max)) = (&e.pod, &e.at_most) else {
                    self.err(span, "check `recovery` needs `pod` and `at_most`, e.g. { check = \"recovery\", pod = \"payment\", at_most = \"30s\" }");
                    return None;
                };
                let pod = self.pod(p)?;
                if !comebacks.contains(&pod) {
                    self.err(p.span(), format!("recovery of pod `{pod}` can never be measured: no step starts, restarts, unpauses, reconnects or deploys it"));
                }
                Check::RecoveryAtMost { pod, max: self.duration(max) }
            }
        };
        let _ = w;
        Some(Expectation { check, within, line })
    }
}

