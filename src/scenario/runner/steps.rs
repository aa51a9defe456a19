//! Setup, step gates and actions of a run.

use std::time::Duration;

use faultline_demo::order::Approval;
use faultline_sdk::ClientError;

use std::sync::Arc;

use super::control::Abort;
use super::engine::EngineApi;
use super::live::Feed;
use super::{condition_holds, Run, RunEvent, StepInfo};
use crate::runtime::PodAction;
use crate::scenario::model::{fmt_duration, Action, Step, Target};
use crate::scenario::report::{EntryKind, TimelineEntry};

/// How long the runner keeps retrying a call the engine did not answer (it may be restarting).
const ENGINE_RETRY_FOR: Duration = Duration::from_secs(60);

/// The step as the screen lists it.
pub(super) fn info(s: &Step) -> StepInfo {
    StepInfo { title: s.title.clone(), narration: s.narration.clone(), gate: gate_text(s), manual: s.manual, actions: s.actions.iter().map(Action::describe).collect() }
}

/// "presenter (space) · at 10s · when retrying >= 5", or "right away".
fn gate_text(s: &Step) -> String {
    let mut parts = Vec::new();
    if s.manual {
        parts.push("presenter (space)".to_string());
    }
    if let Some(at) = s.at {
        parts.push(format!("at {}", fmt_duration(at)));
    }
    if let Some(after) = s.after {
        parts.push(format!("{} after the previous step", fmt_duration(after)));
    }
    if let Some(c) = &s.when {
        parts.push(format!("when {}", c.describe()));
    }
    if parts.is_empty() {
        "right away".into()
    } else {
        parts.join(" · ")
    }
}

fn is_comeback(a: &PodAction) -> bool {
    matches!(a, PodAction::Start | PodAction::Restart | PodAction::Unpause | PodAction::Reconnect | PodAction::Deploy { .. })
}

impl Run {
    /// Brings the pods to the scenario's starting state and connects to the event stream.
    pub(super) async fn setup(&mut self) -> Result<(), Abort> {
        if self.sc.twin && self.twin.is_none() {
            return Err(Abort::Failed(
                "the scenario runs the dual-write twin (`[setup] twin = true`) but this runtime has no twin engine; \
                 the compose file must declare `x-faultline-twin` and its profile must be active"
                    .into(),
            ));
        }
        if self.cfg.bring_up {
            self.note(format!("bringing the topology up ({} runtime)", self.rt.kind()));
            self.ctl.call(self.rt.up()).await?.map_err(|e| Abort::Failed(e.to_string()))?;
        }
        self.refresh_pods().await?;
        for (pod, version) in self.sc.versions.clone() {
            let current = self.shared.borrow().pods.get(&pod).map(|s| s.version.clone()).unwrap_or_default();
            if current != version {
                self.note(format!("deploying {pod} {version} (it runs {current})"));
                self.ctl.call(self.rt.act(&pod, PodAction::Deploy { version })).await?.map_err(|e| Abort::Failed(e.to_string()))?;
                self.refresh_pods().await?;
            }
        }
        let pods: Vec<String> = self.rt.topology().pods.iter().map(|p| p.name.clone()).collect();
        let until = Self::after(self.ctl.now(), self.cfg.min_timeout * 2);
        self.ctl.wait_until(Some(until), &[], "every pod to be healthy", |s, _, _| pods.iter().all(|p| s.pod_healthy(p))).await?;
        if let Some(feed) = &self.feed {
            let _ = feed.send(Feed::Engine(self.engine.subscribe()));
        }
        let until = Self::after(self.ctl.now(), self.cfg.min_timeout);
        self.ctl.wait_until(Some(until), &[], "the engine's event stream", |s, _, _| s.engine_connected).await?;
        if let Some((engine, order)) = self.twin_order(false) {
            let line = self.ctl.call(super::twin::set_twin_order(engine, order, self.ctl.clock.clone())).await?.map_err(Abort::Failed)?;
            self.note(line);
        }
        self.note(format!("ready: {} orders planned, speed ×{}", self.plans.len(), self.cfg.speed));
        Ok(())
    }

    /// Reads every pod's status once (the stream only reports changes).
    pub(super) async fn refresh_pods(&mut self) -> Result<(), Abort> {
        match self.ctl.call(self.rt.status()).await? {
            Ok(all) => {
                self.shared.send_modify(|s| {
                    for st in all {
                        s.pods.insert(st.name.clone(), st);
                    }
                });
                Ok(())
            }
            Err(e) => Err(Abort::Failed(format!("cannot read pod status: {e}"))),
        }
    }

    /// Waits for step `i`'s gates, then runs its actions. Returns when it started (clock ms).
    pub(super) async fn run_step(&mut self, i: usize) -> Result<i64, Abort> {
        let step = self.sc.steps[i].clone();
        let t0 = self.out.t0().unwrap_or_else(|| self.ctl.now());
        let prev_done = self.last_step_done.unwrap_or(t0);
        let text = gate_text(&step);
        self.out.emit(RunEvent::Waiting { step: i, text: text.clone(), presenter: step.manual });
        let at = step.at.map(|d| Self::after(t0, self.scaled(d)));
        let after = step.after.map(|d| Self::after(prev_done, self.scaled(d)));
        let until = step.when.as_ref().map(|_| Self::after(self.ctl.now(), self.scaled_timeout(step.timeout)));
        let wake: Vec<i64> = at.into_iter().chain(after).collect();
        let manual = step.manual && !self.cfg.auto_advance;
        let started = self.orders_started();
        if let (Some(text), Some(c)) = (&step.narration_waiting, &step.when) {
            // Only while it is true: a condition that already holds goes straight to the
            // step's own narration.
            if !condition_holds(&self.shared.borrow(), c, started) {
                self.out.emit(RunEvent::Narration { step: i, at_ms: self.now_ms(), text: text.clone() });
            }
        }
        self.ctl
            .wait_until(until, &wake, &text, |s, now, advanced| {
                (!manual || advanced)
                    && at.is_none_or(|t| now >= t)
                    && after.is_none_or(|t| now >= t)
                    && step.when.as_ref().is_none_or(|c| condition_holds(s, c, started))
            })
            .await?;
        if step.manual {
            self.ctl.advance = false;
        }
        let started_at = self.ctl.now();
        self.out.emit(RunEvent::StepStarted { step: i, at_ms: self.now_ms(), title: step.title.clone(), narration: step.narration.clone() });
        // The versions the pods run as the step starts: the report says what was deployed when.
        let versions = {
            let s = self.shared.borrow();
            s.pods
                .values()
                .map(|p| {
                    let image = p.image_id.as_deref().map(|id| format!(", image {id}")).unwrap_or_default();
                    format!("{} {} ({}{image})", p.name, p.version, format!("{:?}", p.state).to_lowercase())
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !versions.is_empty() {
            let entry = TimelineEntry { at_ms: self.now_ms(), kind: EntryKind::Pods, text: format!("pods at step {}: {versions}", i + 1) };
            self.out.push_timeline(entry);
        }
        for action in &step.actions {
            self.perform(i, action).await?;
        }
        self.last_step_done = Some(self.ctl.now());
        self.steps_done = i + 1;
        Ok(started_at)
    }

    pub(super) fn action_done(&self, step: usize, text: String, ok: bool, detail: Option<String>) {
        self.out.emit(RunEvent::Action { step, at_ms: self.now_ms(), text, ok, detail });
    }

    async fn perform(&mut self, step: usize, action: &Action) -> Result<(), Abort> {
        let text = action.describe();
        match action {
            Action::Pod { pod, action: pa } => {
                let started = self.ctl.now();
                if let Err(e) = self.ctl.call(self.rt.act(pod, pa.clone())).await? {
                    self.action_done(step, text, false, Some(e.to_string()));
                    // A pod action that did not happen breaks the story: stop here.
                    return Err(Abort::Failed(format!("{} failed: {e}", action.describe())));
                }
                if is_comeback(pa) {
                    self.record_comeback(pod);
                    let twin_engine = self.rt.topology().twin.as_ref().is_some_and(|t| &t.engine == pod);
                    // A restarted twin starts with its compose order; the run's goes on.
                    if let Some((engine, order)) = self.twin_order(true).filter(|_| twin_engine) {
                        let line = self.ctl.call(super::twin::set_twin_order(engine, order, self.ctl.clock.clone())).await?.map_err(Abort::Failed)?;
                        self.note(line);
                    }
                }
                let took = Duration::from_millis(self.ctl.now().saturating_sub(started).max(0) as u64);
                self.action_done(step, text, true, Some(format!("took {}", fmt_duration(took))));
                self.refresh_pods().await?;
            }
            Action::StartOrders { count } => self.start_orders(step, text, *count).await?,
            Action::Signal { name, target } => {
                let payload = Approval { approved: true, by: Some("scenario".into()), note: None };
                let mut errors = Vec::new();
                let clock = self.ctl.clock.clone();
                for id in self.resolve(target) {
                    let engine = self.engine.clone();
                    if let Err(e) = self.ctl.call(with_engine_retry(&*clock, || engine.signal(&id, name, &payload))).await? {
                        errors.push(format!("{id}: {e}"));
                    }
                }
                self.twin_batch(step, text, target, errors, |e, id| {
                    let name = name.clone();
                    let payload = payload.clone();
                    Box::pin(async move { e.signal(&id, &name, &payload).await })
                })
                .await?;
            }
            Action::RetryNow { target } => {
                // `resolve` reads the snapshot itself: a second read guard taken while this
                // one is held waits behind the live task's pending write, for ever.
                let ids = self.resolve(target);
                let pairs: Vec<(String, u64)> = {
                    let snap = self.shared.borrow();
                    ids.iter().filter_map(|id| snap.projection.order(id)).flat_map(|o| o.backoffs).collect()
                };
                let n = pairs.len();
                let mut errors = Vec::new();
                for (wf, seq) in pairs {
                    if let Err(e) = self.ctl.call(self.engine.retry_now(&wf, seq)).await? {
                        errors.push(format!("{wf} activity {seq}: {e}"));
                    }
                }
                if errors.is_empty() {
                    self.action_done(step, text, true, Some(format!("{n} activities retried now")));
                } else {
                    self.report_batch(step, text, errors);
                }
            }
            Action::Cancel { target } => {
                let mut errors = Vec::new();
                let clock = self.ctl.clock.clone();
                for id in self.resolve(target) {
                    let engine = self.engine.clone();
                    let call = with_engine_retry(&*clock, || engine.cancel(&id, "canceled by the scenario"));
                    if let Err(e) = self.ctl.call(call).await? {
                        errors.push(format!("{id}: {e}"));
                    }
                }
                self.twin_batch(step, text, target, errors, |e, id| Box::pin(async move { e.cancel(&id, "canceled by the scenario").await })).await?;
            }
            Action::Fault(plan) => {
                let r = self.arm_faults(plan).await;
                let ok = r.is_ok();
                self.action_done(step, text.clone(), ok, Some(r.clone().unwrap_or_else(|e| e)));
                if let Err(e) = r {
                    // A race that cannot be staged is not worth telling: stop here.
                    return Err(Abort::Failed(format!("{text} failed: {e}")));
                }
            }
            Action::ReleaseFaults { side } => {
                let r = self.release_faults(*side).await;
                let ok = r.is_ok();
                self.action_done(step, text, ok, Some(r.unwrap_or_else(|e| e)));
            }
            Action::Wait(d) => {
                let end = Self::after(self.ctl.now(), self.scaled(*d));
                self.ctl.sleep_until(end, &text).await?;
                self.action_done(step, text, true, None);
            }
            Action::WaitUntil { condition, timeout } => {
                let until = Self::after(self.ctl.now(), self.scaled_timeout(*timeout));
                let started = self.orders_started();
                self.ctl.wait_until(Some(until), &[], &condition.describe(), |s, _, _| condition_holds(s, condition, started)).await?;
                self.action_done(step, text, true, None);
            }
            Action::LinkFault { link, fault, heal_after } => self.put_link_fault(step, text, link, fault, *heal_after).await?,
            Action::Heal { link } => self.heal_links(step, text, link.as_deref()).await?,
        }
        Ok(())
    }

    /// Starts the next `count` planned orders (all that are left without a count), spaced by
    /// the workload's rate.
    async fn start_orders(&mut self, step: usize, text: String, count: Option<u32>) -> Result<(), Abort> {
        let left = self.plans.len() - self.next_order;
        let n = count.map(|c| c as usize).unwrap_or(left).min(left);
        let batch: Vec<_> = self.plans[self.next_order..self.next_order + n].to_vec();
        self.next_order += n;
        let gap = crate::scenario::workload::start_interval(&self.sc.workload, self.cfg.speed);
        let task_timeout = crate::scenario::workload::task_timeout(self.cfg.speed);
        let mut failed = Vec::new();
        for (i, p) in batch.iter().enumerate() {
            if i > 0 {
                let at = Self::after(self.ctl.now(), gap);
                self.ctl.sleep_until(at, "the next order's start").await?;
            }
            let input = p.input(&self.sc.workload, self.cfg.speed);
            let engine = self.engine.clone();
            let id = p.workflow_id.clone();
            let clock = self.ctl.clock.clone();
            // The twin's copy of the order starts at the same moment (same input, its own id).
            let twin = self.twin.as_ref().map(|t| {
                let tp = &t.plans[self.next_order - n + i];
                (t.engine.clone(), tp.workflow_id.clone(), tp.input(&self.sc.workload, self.cfg.speed))
            });
            let main = with_engine_retry(&*clock, || engine.start_order(&id, &input, task_timeout));
            let other = async {
                match &twin {
                    Some((e, tid, tinput)) => Some(with_engine_retry(&*clock, || e.start_order(tid, tinput, task_timeout)).await),
                    None => None,
                }
            };
            let (r, rt) = self.ctl.call(async { tokio::join!(main, other) }).await?;
            if let (Some((_, tid, _)), Some(rt)) = (&twin, rt) {
                match rt {
                    Ok(()) => {
                        if let Some(t) = self.twin.as_mut() {
                            t.started.push(tid.clone());
                        }
                    }
                    Err(e) => failed.push(format!("{tid} (dual-write): {e}")),
                }
            }
            match r {
                Ok(()) => self.started.push(id),
                Err(e) => {
                    failed.push(format!("{id}: {e}"));
                    self.failed_starts.push((id, e.to_string()));
                }
            }
        }
        let ok = failed.is_empty();
        let detail = if ok { format!("{n} started") } else { format!("{} of {n} failed: {}", failed.len(), failed.join("; ")) };
        self.action_done(step, text, ok, Some(detail));
        Ok(())
    }

    /// The same signal or cancel to the twin's copies of `target`'s orders, then the line for
    /// both sides (failures reported, the run goes on).
    async fn twin_batch<F>(&mut self, step: usize, text: String, target: &Target, mut errors: Vec<String>, call: F) -> Result<(), Abort>
    where
        F: Fn(Arc<dyn EngineApi>, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ClientError>> + Send>>,
    {
        let ids: Vec<String> = match &self.twin {
            Some(t) => self.resolve(target).iter().filter_map(|id| t.id_of(&self.plans, id)).filter(|id| t.started.contains(id)).collect(),
            None => Vec::new(),
        };
        if let Some(engine) = self.twin.as_ref().map(|t| t.engine.clone()) {
            let clock = self.ctl.clock.clone();
            for id in ids {
                let r = self.ctl.call(with_engine_retry(&*clock, || call(engine.clone(), id.clone()))).await?;
                if let Err(e) = r {
                    errors.push(format!("{id} (dual-write): {e}"));
                }
            }
        }
        self.report_batch(step, text, errors);
        Ok(())
    }

    /// A signal/cancel to many orders: report the failures, but go on (an order that closed
    /// meanwhile refuses a signal, which is not a reason to stop the story).
    fn report_batch(&self, step: usize, text: String, errors: Vec<String>) {
        if errors.is_empty() {
            self.action_done(step, text, true, None);
        } else {
            self.action_done(step, text, false, Some(errors.join("; ")));
        }
    }

    /// The workflow ids of the started orders a target names.
    pub(super) fn resolve(&self, target: &Target) -> Vec<String> {
        let started = |id: &String| self.started.contains(id);
        let snap = self.shared.borrow();
        let order = |id: &String| snap.projection.order(id);
        match target {
            Target::All => self.started.clone(),
            Target::Running => self.started.iter().filter(|id| order(id).is_some_and(|o| o.closed_at_ms.is_none())).cloned().collect(),
            Target::Retrying => self.started.iter().filter(|id| order(id).is_some_and(|o| o.retrying)).cloned().collect(),
            Target::NeedsApproval => self.plans.iter().filter(|p| p.needs_approval && started(&p.workflow_id)).map(|p| p.workflow_id.clone()).collect(),
            Target::Numbers(ns) => ns
                .iter()
                .filter_map(|n| self.plans.get((*n as usize).wrapping_sub(1)))
                .filter(|p| started(&p.workflow_id))
                .map(|p| p.workflow_id.clone())
                .collect(),
        }
    }
}

/// Calls the engine, retrying while it is unreachable or failing (5xx) for up to a minute.
pub(super) async fn with_engine_retry<T, F, Fut>(clock: &dyn crate::clock::Clock, call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let until = Run::after(clock.now_ms(), ENGINE_RETRY_FOR);
    with_engine_retry_until(clock, until, call).await
}

/// [`with_engine_retry`] with an explicit deadline (clock ms), shared by a batch of calls.
pub(super) async fn with_engine_retry_until<T, F, Fut>(clock: &dyn crate::clock::Clock, until: i64, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match call().await {
            // Unreachable (killed, restarting), or a 5xx that says nothing was committed:
            // every call the runner makes is safe to repeat (starts use the existing run).
            Err(ClientError::Unreachable { .. }) | Err(ClientError::Api { status: 500..=599, .. }) if clock.now_ms() < until => {
                clock.sleep_until(Run::after(clock.now_ms(), backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}
