//! Setup, step gates and actions of a run.

use std::time::{Duration, Instant};

use futures::StreamExt;
use faultline_demo::order::{Approval, TASK_QUEUE, ORDER_WORKFLOW};
use faultline_sdk::proto::IdConflictPolicy;
use faultline_sdk::{ClientError, StartOptions};

use super::{Abort, Run, RunEvent, StepInfo};
use crate::scenario::model::{fmt_duration, Action, Step, Target};
use crate::runtime::PodAction;

/// How long the runner keeps retrying a call the engine did not answer (it may be restarting).
const ENGINE_RETRY_FOR: Duration = Duration::from_secs(60);

/// The step as the screen lists it.
pub(super) fn info(s: &Step) -> StepInfo {
    StepInfo { title: s.title.clone(), narration: s.narration.clone(), gate: gate_text(s), actions: s.actions.iter().map(Action::describe).collect() }
}

/// "presenter · at 10s · retrying >= 5", or "right away".
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
        let rt = self.rt.clone();
        self.pod_stream = Some(rt.status_stream());
        if self.cfg.bring_up {
            self.note(format!("bringing the topology up ({} runtime)", self.rt.kind()));
            let rt = self.rt.clone();
            self.drive(Box::pin(async move { rt.up().await })).await?.map_err(|e| Abort(e.to_string()))?;
        }
        self.refresh_pods().await?;
        for (pod, version) in self.sc.versions.clone() {
            let current = self.pods.get(&pod).map(|s| s.version.clone()).unwrap_or_default();
            if current != version {
                self.note(format!("deploying {pod} {version} (it runs {current})"));
                let rt = self.rt.clone();
                let (p, v) = (pod.clone(), version.clone());
                self.drive(Box::pin(async move { rt.act(&p, PodAction::Deploy { version: v }).await }))
                    .await?
                    .map_err(|e| Abort(e.to_string()))?;
                self.refresh_pods().await?;
            }
        }
        let pods: Vec<String> = self.rt.topology().pods.iter().map(|p| p.name.clone()).collect();
        let until = Instant::now() + self.cfg.min_timeout * 2;
        self.wait_for(Some(until), "every pod to be healthy", |r| pods.iter().all(|p| r.pod_healthy(p))).await?;
        self.engine_stream = Some(self.client.subscribe(None).boxed());
        let until = Instant::now() + self.cfg.min_timeout;
        self.wait_for(Some(until), "the engine's event stream", |r| r.engine_connected).await?;
        self.note(format!("ready: {} orders planned, speed ×{}", self.plans.len(), self.cfg.speed));
        Ok(())
    }

    /// Reads every pod's status once (the stream only reports changes).
    pub(super) async fn refresh_pods(&mut self) -> Result<(), Abort> {
        let rt = self.rt.clone();
        match self.drive(Box::pin(async move { rt.status().await })).await? {
            Ok(all) => {
                for s in all {
                    self.pods.insert(s.name.clone(), s);
                }
                Ok(())
            }
            Err(e) => Err(Abort(format!("cannot read pod status: {e}"))),
        }
    }

    /// Waits for step `i`'s gates, then runs its actions. Returns when it started (ms).
    pub(super) async fn run_step(&mut self, i: usize) -> Result<u64, Abort> {
        let step = self.sc.steps[i].clone();
        let prev_done = self.last_step_done.unwrap_or(self.t0);
        let text = gate_text(&step);
        self.emit(RunEvent::Waiting { step: i, text: text.clone() });
        let at = step.at.map(|d| self.t0 + self.scaled(d));
        let after = step.after.map(|d| prev_done + self.scaled(d));
        let until = step.when.as_ref().map(|_| Instant::now() + self.scaled_timeout(step.timeout));
        let when = step.when.clone();
        self.wait_for(until, &text, |r| {
            let now = Instant::now();
            (!step.manual || r.advance || r.cfg.auto_advance || r.cmds_closed)
                && at.is_none_or(|t| now >= t)
                && after.is_none_or(|t| now >= t)
                && when.as_ref().is_none_or(|c| r.condition_holds(c))
        })
        .await?;
        if step.manual {
            self.advance = false;
        }
        let at_ms = self.now_ms();
        self.emit(RunEvent::StepStarted { step: i, at_ms, title: step.title.clone(), narration: step.narration.clone() });
        for action in &step.actions {
            self.perform(i, action).await?;
        }
        self.last_step_done = Some(Instant::now());
        Ok(at_ms)
    }

    fn action_done(&mut self, step: usize, text: String, ok: bool, detail: Option<String>) {
        let at_ms = self.now_ms();
        self.emit(RunEvent::Action { step, at_ms, text, ok, detail });
    }

    async fn perform(&mut self, step: usize, action: &Action) -> Result<(), Abort> {
        let text = action.describe();
        match action {
            Action::Pod { pod, action: pa } => {
                let rt = self.rt.clone();
                let (p, a) = (pod.clone(), pa.clone());
                let started = Instant::now();
                let r = self.drive(Box::pin(async move { rt.act(&p, a).await })).await?;
                if let Err(e) = r {
                    self.action_done(step, text, false, Some(e.to_string()));
                    // A pod action that did not happen breaks the story: stop here.
                    return Err(Abort(format!("{} failed: {e}", action.describe())));
                }
                if is_comeback(pa) {
                    self.record_comeback(pod);
                }
                self.action_done(step, text, true, Some(format!("took {}", fmt_duration(started.elapsed()))));
                self.refresh_pods().await?;
            }
            Action::StartOrders { count } => {
                let left = self.plans.len() - self.next_order;
                let n = count.map(|c| c as usize).unwrap_or(left).min(left);
                let batch: Vec<_> = self.plans[self.next_order..self.next_order + n].to_vec();
                self.next_order += n;
                for p in &batch {
                    self.tracker.register(&p.workflow_id);
                }
                let inputs: Vec<_> = batch.iter().map(|p| (p.workflow_id.clone(), p.input(&self.sc.workload, self.cfg.speed))).collect();
                let client = self.client.clone();
                let gap = super::workload::start_interval(&self.sc.workload, self.cfg.speed);
                let task_timeout_ms = super::workload::task_timeout(self.cfg.speed).as_millis() as u64;
                let results = self
                    .drive(Box::pin(async move {
                        let mut out = Vec::new();
                        for (i, (id, input)) in inputs.into_iter().enumerate() {
                            if i > 0 {
                                tokio::time::sleep(gap).await;
                            }
                            let mut opts = StartOptions::new(id.clone(), TASK_QUEUE);
                            opts.id_conflict = IdConflictPolicy::UseExisting;
                            opts.options.task_timeout_ms = Some(task_timeout_ms);
                            let r = with_engine_retry(|| client.start_workflow(opts.clone(), ORDER_WORKFLOW, &input)).await;
                            out.push((id, r.map(|_| ()).map_err(|e| e.to_string())));
                        }
                        out
                    }))
                    .await?;
                let mut failed = Vec::new();
                for (id, r) in results {
                    match r {
                        Ok(()) => self.started.push(id),
                        Err(e) => {
                            failed.push(format!("{id}: {e}"));
                            self.failed_starts.push((id, e));
                        }
                    }
                }
                let ok = failed.is_empty();
                let detail = if ok { format!("{n} started") } else { format!("{} of {n} failed: {}", failed.len(), failed.join("; ")) };
                self.action_done(step, text, ok, Some(detail));
            }
            Action::Signal { name, target } => {
                let ids = self.resolve(target);
                let client = self.client.clone();
                let name = name.clone();
                let payload = Approval { approved: true, by: Some("scenario".into()), note: None };
                let errors = self
                    .drive(Box::pin(async move {
                        let mut errors = Vec::new();
                        for id in ids {
                            if let Err(e) = with_engine_retry(|| client.signal(&id, &name, &payload)).await {
                                errors.push(format!("{id}: {e}"));
                            }
                        }
                        errors
                    }))
                    .await?;
                self.report_batch(step, text, errors);
            }
            Action::RetryNow { target } => {
                let mut pairs = Vec::new();
                for id in self.resolve(target) {
                    pairs.extend(self.tracker.backoffs_of(&id));
                }
                let n = pairs.len();
                let client = self.client.clone();
                let errors = self
                    .drive(Box::pin(async move {
                        let mut errors = Vec::new();
                        for (wf, seq) in pairs {
                            if let Err(e) = client.retry_now(&wf, seq).await {
                                errors.push(format!("{wf} activity {seq}: {e}"));
                            }
                        }
                        errors
                    }))
                    .await?;
                let detail = format!("{n} activities retried now");
                if errors.is_empty() {
                    self.action_done(step, text, true, Some(detail));
                } else {
                    self.report_batch(step, text, errors);
                }
            }
            Action::Cancel { target } => {
                let ids = self.resolve(target);
                let client = self.client.clone();
                let errors = self
                    .drive(Box::pin(async move {
                        let mut errors = Vec::new();
                        for id in ids {
                            if let Err(e) = with_engine_retry(|| client.cancel(&id, "canceled by the scenario")).await {
                                errors.push(format!("{id}: {e}"));
                            }
                        }
                        errors
                    }))
                    .await?;
                self.report_batch(step, text, errors);
            }
            Action::Wait(d) => {
                let end = Instant::now() + self.scaled(*d);
                self.wait_for(None, &text, |_| Instant::now() >= end).await?;
                self.action_done(step, text, true, None);
            }
            Action::WaitUntil { condition, timeout } => {
                let until = Instant::now() + self.scaled_timeout(*timeout);
                let c = condition.clone();
                self.wait_for(Some(until), &c.describe(), |r| r.condition_holds(&c)).await?;
                self.action_done(step, text, true, None);
            }
        }
        Ok(())
    }

    /// A signal/cancel to many orders: report the failures, but go on (an order that closed
    /// meanwhile refuses a signal, which is not a reason to stop the story).
    fn report_batch(&mut self, step: usize, text: String, errors: Vec<String>) {
        if errors.is_empty() {
            self.action_done(step, text, true, None);
        } else {
            self.action_done(step, text, false, Some(errors.join("; ")));
        }
    }

    /// The workflow ids of the started orders a target names.
    pub(super) fn resolve(&self, target: &Target) -> Vec<String> {
        let started = |id: &String| self.started.contains(id);
        match target {
            Target::All => self.started.clone(),
            Target::Running => self
                .started
                .iter()
                .filter(|id| self.tracker.order(id).is_some_and(|o| o.closed_ms.is_none()))
                .cloned()
                .collect(),
            Target::Retrying => self.started.iter().filter(|id| self.tracker.is_retrying(id)).cloned().collect(),
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
pub(super) async fn with_engine_retry<T, F, Fut>(call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    with_engine_retry_until(Instant::now() + ENGINE_RETRY_FOR, call).await
}

/// [`with_engine_retry`] with an explicit deadline, shared by a batch of calls.
pub(super) async fn with_engine_retry_until<T, F, Fut>(until: Instant, mut call: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match call().await {
            // Unreachable (killed, restarting), or a 5xx that says nothing was committed:
            // every call the runner makes is safe to repeat (starts use the existing run).
            Err(ClientError::Unreachable { .. }) | Err(ClientError::Api { status: 500..=599, .. }) if Instant::now() < until => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}
