//! The scenario file as written: TOML deserialized into "raw" structs whose values keep
//! their byte spans (`toml::Spanned`), so the validator can point at a file, line and column.
//!
//! Nothing here decides what is valid. Every table denies unknown keys (a typo is an error
//! with a position), and every choice (`do = "kill"`, `check = "none_failed"`, a condition)
//! is a plain string or table validated in `validate`: serde's untagged enums would lose the
//! spans, and "unknown action `kil`, expected one of ..." is a better message than serde's.
//!
//! The format is documented in `scenarios/README.md`.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub title: Spanned<String>,
    pub description: Spanned<String>,
    /// Hard cap on one run (unscaled), e.g. "5m".
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub setup: Option<RawSetup>,
    pub workload: Spanned<RawWorkload>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Spanned<RawStep>>,
    #[serde(default, rename = "expect")]
    pub expectations: Vec<Spanned<RawExpectation>>,
}

/// The state the pods must be in before the first step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSetup {
    /// pod -> image tag, e.g. `payment = "v1-bugged"`.
    #[serde(default)]
    pub versions: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Run the dual-write twin beside the transactional engine (races side by side).
    #[serde(default)]
    pub twin: Option<Spanned<bool>>,
    /// The twin's dual-write order for this run: `after-commit` or `enqueue-first`.
    #[serde(default)]
    pub twin_order: Option<Spanned<String>>,
}

/// The orders a run starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub orders: Spanned<i64>,
    /// Orders per second when a step starts several.
    #[serde(default)]
    pub rate: Option<Spanned<f64>>,
    /// SKUs of the demo catalog to pick from (with the seed); default: the whole catalog.
    #[serde(default)]
    pub products: Option<Spanned<Vec<Spanned<String>>>>,
    /// Quantities to pick from; default `[1]`.
    #[serde(default)]
    pub quantities: Option<Spanned<Vec<Spanned<i64>>>>,
    /// Keep only orders whose amount hits the payment v1 bug ("all"), misses it ("none"),
    /// or either ("any", the default).
    #[serde(default)]
    pub payment_bug: Option<Spanned<String>>,
    pub seed: Spanned<i64>,
    /// Orders above this amount wait for an `approve` signal (decimal, e.g. "100.00").
    #[serde(default)]
    pub approval_threshold: Option<Spanned<String>>,
    #[serde(default)]
    pub timing: Option<Spanned<RawTiming>>,
}

/// The durations inside each order, unscaled; `--speed N` divides them all by N.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTiming {
    /// Shipment's durable "courier pickup" timer.
    #[serde(default)]
    pub pickup: Option<Spanned<String>>,
    /// How long an order over the approval threshold waits for `approve`.
    #[serde(default)]
    pub approval_timeout: Option<Spanned<String>>,
    /// First retry backoff of an activity.
    #[serde(default)]
    pub retry_initial: Option<Spanned<String>>,
    /// Cap on the retry backoff.
    #[serde(default)]
    pub retry_max: Option<Spanned<String>>,
    /// Growth of the backoff per attempt.
    #[serde(default)]
    pub retry_backoff: Option<Spanned<f64>>,
    /// Limit of one activity attempt.
    #[serde(default)]
    pub activity_timeout: Option<Spanned<String>>,
}

/// One step: when it runs (its gates), what it does, and what the presenter's screen says.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub title: Spanned<String>,
    pub narration: Spanned<String>,
    /// Shown instead while the step waits for its `when` condition (it does not hold yet),
    /// so the screen never says what the audience does not see yet.
    #[serde(default)]
    pub narration_waiting: Option<Spanned<String>>,
    /// Wait for the presenter (space bar); auto-advanced in headless mode.
    #[serde(default)]
    pub manual: Option<Spanned<bool>>,
    /// Not before this long after the run started.
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// Not before this long after the previous step finished.
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    /// Not before this condition holds.
    #[serde(default)]
    pub when: Option<Spanned<RawCondition>>,
    /// How long `when` may take before the run is aborted (unscaled).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub actions: Vec<Spanned<RawAction>>,
}

/// A condition: exactly one key is set. Counts mean "at least".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    #[serde(default)]
    pub started: Option<Spanned<i64>>,
    #[serde(default)]
    pub running: Option<Spanned<i64>>,
    #[serde(default)]
    pub retrying: Option<Spanned<i64>>,
    #[serde(default)]
    pub in_backoff: Option<Spanned<i64>>,
    #[serde(default)]
    pub on_timer: Option<Spanned<i64>>,
    #[serde(default)]
    pub canceled: Option<Spanned<i64>>,
    #[serde(default)]
    pub completed: Option<Spanned<i64>>,
    #[serde(default)]
    pub failed: Option<Spanned<i64>>,
    #[serde(default)]
    pub retries_seen: Option<Spanned<i64>>,
    #[serde(default)]
    pub timers_pending: Option<Spanned<i64>>,
    #[serde(default)]
    pub timers_fired: Option<Spanned<i64>>,
    #[serde(default)]
    pub charged: Option<Spanned<i64>>,
    #[serde(default)]
    pub all_completed: Option<Spanned<bool>>,
    #[serde(default)]
    pub pod_healthy: Option<Spanned<String>>,
    #[serde(default)]
    pub pod_stopped: Option<Spanned<String>>,
}

/// An action: `do` names it, the other keys are its arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    #[serde(rename = "do")]
    pub action: Spanned<String>,
    #[serde(default)]
    pub pod: Option<Spanned<String>>,
    #[serde(default)]
    pub version: Option<Spanned<String>>,
    /// `start_orders`: how many (default: all that are left).
    #[serde(default)]
    pub count: Option<Spanned<i64>>,
    /// `signal`: the signal name.
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// `signal`, `retry_now`, `cancel`: which orders.
    #[serde(default)]
    pub orders: Option<Spanned<toml::Value>>,
    /// `wait`: a duration.
    #[serde(default, rename = "for")]
    pub duration: Option<Spanned<String>>,
    /// `wait`: a condition.
    #[serde(default)]
    pub until: Option<Spanned<RawCondition>>,
    /// `wait` with `until`: how long before the run is aborted. `timeout`, `reset`: how long
    /// before the link closes (resets) a connection (default 0: at once; `timeout` then
    /// holds it until healed).
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Link actions: the proxy link, e.g. `worker->payment`.
    #[serde(default)]
    pub link: Option<Spanned<String>>,
    /// `latency`: the delay, e.g. "3s".
    #[serde(default)]
    pub latency: Option<Spanned<String>>,
    /// `latency`: ± this much at random, e.g. "100ms".
    #[serde(default)]
    pub jitter: Option<Spanned<String>>,
    /// `bandwidth`: KB/s (1 KB = 1000 bytes).
    #[serde(default)]
    pub rate: Option<Spanned<i64>>,
    /// Link faults: "downstream" (answers, the default) or "upstream" (requests).
    #[serde(default)]
    pub stream: Option<Spanned<String>>,
    /// `fault`: the fault point, e.g. `after_state_commit`.
    #[serde(default)]
    pub point: Option<Spanned<String>>,
    /// `fault`: what the point does (`crash`, `error`, `delay`, `hold`).
    #[serde(default, rename = "action")]
    pub fault_action: Option<Spanned<String>>,
    /// `fault` with `action = "delay"`: how long.
    #[serde(default)]
    pub delay: Option<Spanned<String>>,
    /// `fault`: which requests it fires on.
    #[serde(default, rename = "match")]
    pub matcher: Option<Spanned<RawFaultMatch>>,
    /// `fault`, `release_faults`: `transactional`, `dual-write` or `both` (the default).
    #[serde(default)]
    pub side: Option<Spanned<String>>,
    /// `netem`: the share of packets dropped, e.g. "5%".
    #[serde(default)]
    pub loss: Option<Spanned<String>>,
}

impl RawAction {
    /// Every key set on this action besides `do`, with where it is, so validation can point
    /// at a key the action does not take.
    pub fn keys_set(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        fn at<T>(key: &'static str, v: &Option<Spanned<T>>) -> Option<(&'static str, std::ops::Range<usize>)> {
            v.as_ref().map(|v| (key, v.span()))
        }
        [
            at("pod", &self.pod),
            at("version", &self.version),
            at("count", &self.count),
            at("name", &self.name),
            at("orders", &self.orders),
            at("for", &self.duration),
            at("until", &self.until),
            at("timeout", &self.timeout),
            at("point", &self.point),
            at("action", &self.fault_action),
            at("delay", &self.delay),
            at("match", &self.matcher),
            at("side", &self.side),
            at("link", &self.link),
            at("latency", &self.latency),
            at("jitter", &self.jitter),
            at("rate", &self.rate),
            at("stream", &self.stream),
            at("loss", &self.loss),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Which requests a fault fires on; keys left out match anything.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFaultMatch {
    /// A workflow type, e.g. `Order`.
    #[serde(default)]
    pub workflow_type: Option<Spanned<String>>,
    /// An activity type: a transition that schedules, starts, completes or fails one.
    #[serde(default)]
    pub activity_type: Option<Spanned<String>>,
    /// The workload's order number (1-based): that order's workflow id on each side.
    #[serde(default)]
    pub order: Option<Spanned<i64>>,
    /// Fire from the n-th matching hit on (1-based).
    #[serde(default)]
    pub nth: Option<Spanned<i64>>,
    /// What the transition does: `schedule_activity`, `start_timer`, `complete_activity`.
    #[serde(default)]
    pub transition: Option<Spanned<String>>,
}

/// An expectation: `check` names it; the other keys are its arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpectation {
    pub check: Spanned<String>,
    #[serde(default)]
    pub at_least: Option<Spanned<i64>>,
    #[serde(default)]
    pub at_most: Option<Spanned<String>>,
    #[serde(default)]
    pub pod: Option<Spanned<String>>,
    /// Must hold no later than this long after the last step started (unscaled).
    #[serde(default)]
    pub within: Option<Spanned<String>>,
    /// `no_anomalies`, `anomalies`: which side of the twin (`transactional`, `dual-write`).
    #[serde(default)]
    pub side: Option<Spanned<String>>,
    /// `anomalies`: which counter of the race checker, e.g. `lost_task`.
    #[serde(default)]
    pub kind: Option<Spanned<String>>,
}

/// Parses the TOML text; the error carries the byte span toml reports, if any.
pub fn parse(text: &str) -> Result<RawScenario, toml::de::Error> {
    toml::from_str(text)
}
