//! Turns a raw scenario file into a [`Scenario`], or into diagnostics with positions.
//!
//! Checks, in one pass, collecting every problem rather than stopping at the first:
//! - shape and types (toml/serde, with the position toml reports);
//! - names: pods and versions against the topology ([`Context`], read from
//!   docker-compose.yml), actions, checks, conditions, order targets;
//! - impossible steps, by simulating each pod's state through the steps in order: unpause a
//!   pod that is not paused, start one that runs, wait for a stopped pod to be healthy, signal
//!   before any order started, start more orders than the workload has, count more orders than
//!   exist, expect all completed while a step cancels orders.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

mod actions;
mod race;

pub use race::kind_name;
mod links;

use super::context::Context;
use super::error::Diagnostic;
use super::format::{self, RawCondition, RawStep, RawWorkload};
use super::model::*;
use faultline_demo::money::{self, Currency};
use faultline_demo::order::catalog::CATALOG;
use faultline_demo::order::DEFAULT_APPROVAL_THRESHOLD;

const EUR: Currency = Currency { code: "EUR", exponent: 2 };

const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(120);
const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(600);
const MAX_ORDERS: i64 = 10_000;

/// Simulated pod state while walking the steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sim {
    Up,
    Paused,
    Down,
    Disconnected,
}

struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    ctx: &'a Context,
    diags: Vec<Diagnostic>,
    /// `[setup] twin = true`: the dual-write twin runs beside the engine.
    twin: bool,
    /// The twin's order for this run (the setup's, else the compose file's).
    twin_order: Option<TwinOrder>,
    /// Links an earlier action puts a fault on (a `heal` needs one).
    faulted_links: std::collections::BTreeSet<String>,
}

/// Validates the text of one scenario file.
pub fn validate_text(file: &Path, text: &str, ctx: &Context) -> Result<Scenario, Vec<Diagnostic>> {
    let raw = match format::parse(text) {
        Ok(raw) => raw,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            // toml's message can span several lines with its own excerpt; keep the first line.
            let msg = e.message().lines().next().unwrap_or("invalid TOML").to_string();
            return Err(vec![Diagnostic::at(file, text, span, msg)]);
        }
    };
    let mut c = Checker { file, text, ctx, diags: Vec::new(), twin: false, twin_order: None, faulted_links: Default::default() };
    let scenario = c.scenario(raw);
    if c.diags.is_empty() {
        Ok(scenario)
    } else {
        Err(c.diags)
    }
}

impl Checker<'_> {
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.diags.push(Diagnostic::at(self.file, self.text, span, msg));
    }

    fn line(&self, span: &Range<usize>) -> usize {
        super::error::line_col(self.text, span.start).0
    }

    fn duration(&mut self, s: &Spanned<String>) -> Duration {
        match humantime::parse_duration(s.get_ref().trim()) {
            Ok(d) => d,
            Err(e) => {
                self.err(s.span(), format!("`{}` is not a duration ({e}); write e.g. \"500ms\", \"5s\" or \"2m\"", s.get_ref()));
                Duration::ZERO
            }
        }
    }

    fn opt_duration(&mut self, s: &Option<Spanned<String>>, default: Duration) -> Duration {
        s.as_ref().map(|s| self.duration(s)).unwrap_or(default)
    }

    fn count(&mut self, v: &Spanned<i64>, what: &str, min: i64) -> u64 {
        let n = *v.get_ref();
        let max = MAX_ORDERS * 100;
        if n < min {
            self.err(v.span(), format!("{what} must be at least {min} (got {n})"));
            return min.max(0) as u64;
        }
        if n > max {
            self.err(v.span(), format!("{what} must be at most {max} (got {n})"));
            return max as u64;
        }
        n as u64
    }

    fn pod(&mut self, s: &Spanned<String>) -> Option<String> {
        if self.ctx.has_pod(s.get_ref()) {
            Some(s.get_ref().clone())
        } else {
            self.err(s.span(), format!("unknown pod `{}`; the pods of docker-compose.yml are: {}", s.get_ref(), self.ctx.pods().join(", ")));
            None
        }
    }

    fn version(&mut self, pod: &str, v: &Spanned<String>) -> Option<String> {
        let known = self.ctx.versions(pod);
        if known.iter().any(|k| k == v.get_ref()) {
            Some(v.get_ref().clone())
        } else {
            self.err(v.span(), format!("unknown version `{}` of pod `{pod}`; the versions in docker-compose.yml (x-faultline-images) are: {}", v.get_ref(), known.join(", ")));
            None
        }
    }

    fn scenario(&mut self, raw: format::RawScenario) -> Scenario {
        let title = raw.title.get_ref().trim().to_string();
        if title.is_empty() {
            self.err(raw.title.span(), "the title is empty; give the scenario a short title");
        }
        let timeout = self.opt_duration(&raw.timeout, DEFAULT_RUN_TIMEOUT);
        let mut versions = BTreeMap::new();
        if let Some(t) = raw.setup.as_ref().and_then(|s| s.twin.as_ref()) {
            self.twin = *t.get_ref();
            if self.twin && self.ctx.twin().is_none() {
                self.err(t.span(), "the compose file declares no twin (`x-faultline-twin`); use Faultline's docker-compose.yml or add one");
            }
        }
        let twin_order = raw.setup.as_ref().and_then(|s| s.twin_order.as_ref()).and_then(|o| self.parse_twin_order(o, self.twin));
        // What the points of the twin are checked against: the order the run sets, else the
        // one its engine starts with.
        self.twin_order = twin_order.or_else(|| self.ctx.twin_order().and_then(TwinOrder::parse));
        if let Some(setup) = &raw.setup {
            for (pod, version) in &setup.versions {
                if let Some(p) = self.pod(pod) {
                    self.twin_pod_without_twin(pod, self.twin);
                    if let Some(v) = self.version(&p, version) {
                        versions.insert(p, v);
                    }
                }
            }
        }
        let workload = self.workload(&raw.workload);
        if raw.steps.is_empty() {
            self.err(raw.workload.span(), "the scenario has no steps; add at least one [[step]] that starts orders");
        }
        let mut sim: BTreeMap<String, Sim> = self.ctx.pods().into_iter().map(|p| (p, Sim::Up)).collect();
        let mut started: u64 = 0;
        let mut cancels = false;
        let mut comebacks: Vec<String> = Vec::new();
        let mut steps = Vec::new();
        for (i, step) in raw.steps.iter().enumerate() {
            let line = self.line(&step.span());
            let s = self.step(i, step.get_ref(), step.span(), line, &workload, &mut sim, &mut started, &mut cancels, &mut comebacks);
            steps.push(s);
        }
        if !raw.steps.is_empty() && started == 0 {
            self.err(raw.steps[0].span(), "no step starts orders; add an action { do = \"start_orders\" }");
        }
        let mut expectations = Vec::new();
        for e in &raw.expectations {
            if let Some(x) = self.expectation(e.get_ref(), e.span(), cancels, &comebacks, &workload) {
                expectations.push(x);
            }
        }
        Scenario {
            path: self.file.to_path_buf(),
            name: self.file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            title,
            description: raw.description.get_ref().trim().to_string(),
            timeout,
            versions,
            twin: self.twin,
            twin_order,
            workload,
            steps,
            expectations,
        }
    }

    fn workload(&mut self, w: &Spanned<RawWorkload>) -> Workload {
        let r = w.get_ref();
        let orders = self.count(&r.orders, "workload.orders", 1);
        if orders as i64 > MAX_ORDERS {
            self.err(r.orders.span(), format!("workload.orders must be at most {MAX_ORDERS}"));
        }
        let rate = match &r.rate {
            Some(rate) if !(rate.get_ref().is_finite() && *rate.get_ref() > 0.0) => {
                self.err(rate.span(), "workload.rate is orders per second and must be above 0");
                1.0
            }
            Some(rate) => *rate.get_ref(),
            None => 2.0,
        };
        let mut products = Vec::new();
        match &r.products {
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.err(list.span(), "workload.products is empty; list at least one SKU of the demo catalog, e.g. [\"mug\"]");
                }
                for sku in list.get_ref() {
                    match CATALOG.iter().find(|i| i.sku == sku.get_ref()) {
                        Some(i) => products.push((i.sku.to_string(), i.price.to_string())),
                        None => {
                            let all: Vec<&str> = CATALOG.iter().map(|i| i.sku).collect();
                            self.err(sku.span(), format!("unknown product `{}`; the demo catalog has: {}", sku.get_ref(), all.join(", ")));
                        }
                    }
                }
            }
            None => products = CATALOG.iter().map(|i| (i.sku.to_string(), i.price.to_string())).collect(),
        }
        let mut quantities = Vec::new();
        match &r.quantities {
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.err(list.span(), "workload.quantities is empty; write e.g. [1, 2]");
                }
                for q in list.get_ref() {
                    let n = *q.get_ref();
                    if (1..=100).contains(&n) {
                        quantities.push(n as u32);
                    } else {
                        self.err(q.span(), format!("quantity {n} must be between 1 and 100"));
                    }
                }
            }
            None => quantities.push(1),
        }
        let payment_bug = match &r.payment_bug {
            None => BugFilter::Any,
            Some(b) => match b.get_ref().as_str() {
                "any" => BugFilter::Any,
                "all" => BugFilter::All,
                "none" => BugFilter::None,
                other => {
                    self.err(b.span(), format!("payment_bug must be \"all\", \"none\" or \"any\", not `{other}`"));
                    BugFilter::Any
                }
            },
        };
        if !products.is_empty() && !quantities.is_empty() && super::workload::candidates(&products, &quantities, payment_bug).is_empty() {
            let span = r.payment_bug.as_ref().map(|b| b.span()).unwrap_or(w.span());
            self.err(span, "no product and quantity of this workload passes the payment_bug filter; add other products or quantities");
        }
        let seed = *r.seed.get_ref();
        if seed < 0 {
            self.err(r.seed.span(), "workload.seed must be 0 or more");
        }
        let mut timing = Timing::default();
        if let Some(t) = &r.timing {
            let t = t.get_ref();
            timing.pickup = self.opt_duration(&t.pickup, timing.pickup);
            timing.approval_timeout = self.opt_duration(&t.approval_timeout, timing.approval_timeout);
            timing.retry_initial = self.opt_duration(&t.retry_initial, timing.retry_initial);
            timing.retry_max = self.opt_duration(&t.retry_max, timing.retry_max);
            timing.activity_timeout = self.opt_duration(&t.activity_timeout, timing.activity_timeout);
            if let Some(b) = &t.retry_backoff {
                if (1.0..=10.0).contains(b.get_ref()) {
                    timing.retry_backoff = *b.get_ref();
                } else {
                    self.err(b.span(), "retry_backoff must be between 1.0 and 10.0");
                }
            }
            if timing.retry_max < timing.retry_initial {
                if let Some(s) = &t.retry_max {
                    self.err(s.span(), "retry_max is below retry_initial; the cap must be at least the first backoff");
                }
            }
        }
        let approval_threshold = match &r.approval_threshold {
            None => DEFAULT_APPROVAL_THRESHOLD.to_string(),
            Some(t) => match money::parse_minor(t.get_ref(), EUR) {
                Ok(_) => t.get_ref().trim().to_string(),
                Err(e) => {
                    self.err(t.span(), format!("approval_threshold: {e}"));
                    DEFAULT_APPROVAL_THRESHOLD.to_string()
                }
            },
        };
        Workload {
            orders: orders.min(MAX_ORDERS as u64) as u32,
            rate,
            products,
            quantities,
            payment_bug,
            seed: seed.max(0) as u64,
            approval_threshold,
            timing,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        index: usize,
        raw: &RawStep,
        span: Range<usize>,
        line: usize,
        w: &Workload,
        sim: &mut BTreeMap<String, Sim>,
        started: &mut u64,
        cancels: &mut bool,
        comebacks: &mut Vec<String>,
    ) -> Step {
        let n = index + 1;
        if raw.narration.get_ref().trim().is_empty() {
            self.err(raw.narration.span(), format!("step {n} has an empty narration; say what the audience should watch"));
        }
        let manual = raw.manual.as_ref().map(|m| *m.get_ref()).unwrap_or(false);
        let at = raw.at.as_ref().map(|a| self.duration(a));
        let after = raw.after.as_ref().map(|a| self.duration(a));
        let when = raw.when.as_ref().and_then(|c| self.condition(c, w, sim, *started));
        if raw.timeout.is_some() && raw.when.is_none() {
            if let Some(t) = &raw.timeout {
                self.err(t.span(), "timeout only applies to a `when` condition; remove it or add `when`");
            }
        }
        let narration_waiting = raw.narration_waiting.as_ref().map(|t| t.get_ref().trim().to_string());
        if let Some(t) = &raw.narration_waiting {
            if raw.when.is_none() {
                self.err(t.span(), format!("step {n}: narration_waiting is shown while the `when` condition does not hold yet; add `when` or remove it"));
            } else if t.get_ref().trim().is_empty() {
                self.err(t.span(), format!("step {n} has an empty narration_waiting; say what the audience sees while the step waits, or remove it"));
            }
        }
        let timeout = self.opt_duration(&raw.timeout, DEFAULT_STEP_TIMEOUT);
        let mut actions = Vec::new();
        for a in &raw.actions {
            if let Some(action) = self.action(a.get_ref(), a.span(), w, sim, started, cancels, comebacks) {
                actions.push(action);
            }
        }
        if raw.actions.is_empty() && raw.when.is_none() && !manual && at.is_none() && after.is_none() {
            self.err(span, format!("step {n} neither waits for anything nor acts; add `actions`, `when`, `at`, `after` or `manual`"));
        }
        Step {
            title: raw.title.get_ref().trim().to_string(),
            narration: raw.narration.get_ref().trim().to_string(),
            narration_waiting,
            line,
            manual,
            at,
            after,
            when,
            timeout,
            actions,
        }
    }

    fn condition(&mut self, c: &Spanned<RawCondition>, w: &Workload, sim: &BTreeMap<String, Sim>, started: u64) -> Option<Condition> {
        let r = c.get_ref();
        let counters: [(&Option<Spanned<i64>>, Counter); 12] = [
            (&r.started, Counter::Started),
            (&r.running, Counter::Running),
            (&r.retrying, Counter::Retrying),
            (&r.in_backoff, Counter::InBackoff),
            (&r.on_timer, Counter::OnTimer),
            (&r.canceled, Counter::Canceled),
            (&r.completed, Counter::Completed),
            (&r.failed, Counter::Failed),
            (&r.retries_seen, Counter::RetriesSeen),
            (&r.timers_pending, Counter::TimersPending),
            (&r.timers_fired, Counter::TimersFired),
            (&r.charged, Counter::Charged),
        ];
        let mut found: Vec<Condition> = Vec::new();
        for (v, counter) in counters {
            let Some(v) = v else { continue };
            let n = self.count(v, counter.name(), 0);
            let per_order = counter.is_per_order();
            if per_order && n > w.orders as u64 {
                self.err(v.span(), format!("{} = {n} can never hold: the workload has {}", counter.name(), plural(w.orders as u64, "order")));
            } else if n > 0 && started == 0 {
                self.err(v.span(), format!("{} = {n} can never hold: no orders are started before this point", counter.name()));
            } else if per_order && n > started && counter != Counter::Started {
                self.err(v.span(), format!("{} = {n} can never hold: only {} started before this point", counter.name(), if started == 1 { "1 order is".to_string() } else { format!("{started} orders are") }));
            }
            found.push(Condition::AtLeast(counter, n));
        }
        if let Some(b) = &r.all_completed {
            if !*b.get_ref() {
                self.err(b.span(), "all_completed = false means nothing; write all_completed = true or remove it");
            }
            if started == 0 {
                self.err(b.span(), "all_completed can never hold: no orders are started before this point");
            }
            found.push(Condition::AllCompleted);
        }
        for p in [&r.pod_healthy, &r.pod_stopped].into_iter().flatten() {
            self.twin_pod_without_twin(p, self.twin);
        }
        if let Some(p) = &r.pod_healthy {
            if let Some(pod) = self.pod(p) {
                match sim.get(&pod) {
                    Some(Sim::Up) => {}
                    Some(state) => self.err(p.span(), format!("waits for pod `{pod}` to be healthy, but it is {} at this point and no earlier action brings it back", sim_name(*state))),
                    None => {}
                }
                found.push(Condition::PodHealthy(pod));
            }
        }
        if let Some(p) = &r.pod_stopped {
            if let Some(pod) = self.pod(p) {
                if sim.get(&pod) != Some(&Sim::Down) {
                    self.err(p.span(), format!("waits for pod `{pod}` to be stopped, but no earlier action stops or kills it"));
                }
                found.push(Condition::PodStopped(pod));
            }
        }
        let keys = counters.iter().filter(|(v, _)| v.is_some()).count()
            + [r.all_completed.is_some(), r.pod_healthy.is_some(), r.pod_stopped.is_some()].iter().filter(|b| **b).count();
        match (keys, found.len()) {
            (1, 1) => found.pop(),
            // The one key was reported already (unknown pod...).
            (1, _) => None,
            (0, _) => {
                self.err(c.span(), "empty condition; set one of started, running, retrying, in_backoff, on_timer, completed, failed, canceled, retries_seen, timers_pending, timers_fired, charged, all_completed, pod_healthy, pod_stopped");
                None
            }
            _ => {
                self.err(c.span(), "a condition has exactly one key; split it over two steps (each waits in turn)");
                None
            }
        }
    }

}

pub(crate) fn sim_name(s: Sim) -> &'static str {
    match s {
        Sim::Up => "running",
        Sim::Paused => "paused",
        Sim::Down => "stopped",
        Sim::Disconnected => "disconnected",
    }
}

/// `1 order`, `3 orders`.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}
