//! A validated scenario: what the runner executes and the dashboard shows.
//!
//! Durations here are as written in the file (unscaled); the runner divides them by the
//! speed factor (`Scenario::scaled`), so one file serves a talk (`--speed 1`) and CI.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use faultline_demo::order::OrderTiming;

use crate::runtime::{LinkFault, PodAction};

pub use crate::checker::{AnomalyKind, Side};

/// One scenario file, checked against the topology.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub path: PathBuf,
    /// File stem: `bugged-pod`.
    pub name: String,
    pub title: String,
    /// Shown on screen under the title.
    pub description: String,
    /// Hard cap on a run, after which it is aborted.
    pub timeout: Duration,
    /// pod -> image tag the pod must run before the first step.
    pub versions: BTreeMap<String, String>,
    /// Run the dual-write twin beside the transactional engine (`[setup] twin = true`):
    /// every order runs on both sides, faults arm on both, the race checker reports both.
    pub twin: bool,
    /// `[setup] twin_order`: the twin's dual-write order for this run (`None`: the order its
    /// engine pod starts with in the compose file). The runner sets it on every twin run.
    pub twin_order: Option<TwinOrder>,
    pub workload: Workload,
    pub steps: Vec<Step>,
    pub expectations: Vec<Expectation>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    pub orders: u32,
    /// Orders per second when a step starts several.
    pub rate: f64,
    /// (sku, unit price) of the catalog products to pick from with the seed.
    pub products: Vec<(String, String)>,
    pub quantities: Vec<u32>,
    pub payment_bug: BugFilter,
    pub seed: u64,
    /// Orders above this amount (decimal EUR) wait for an `approve` signal.
    pub approval_threshold: String,
    pub timing: Timing,
}

/// Which orders the workload keeps, by whether their amount hits the payment v1 bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BugFilter {
    Any,
    /// Every order hits the bug (they all get stuck on v1).
    All,
    /// No order hits the bug.
    None,
}

/// Durations inside each order (unscaled); the demo's `OrderTiming` once scaled.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub pickup: Duration,
    pub approval_timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub retry_backoff: f64,
    pub activity_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        let d = OrderTiming::default();
        Timing {
            pickup: Duration::from_millis(d.pickup_delay_ms),
            approval_timeout: Duration::from_millis(d.approval_timeout_ms),
            retry_initial: Duration::from_millis(d.retry_initial_ms),
            retry_max: Duration::from_millis(d.retry_max_ms),
            retry_backoff: d.retry_backoff,
            activity_timeout: Duration::from_millis(d.activity_timeout_ms),
        }
    }
}

impl Timing {
    /// The order input's timing at `speed` (the demo's own scaling rules apply, e.g. the
    /// activity timeout never drops below 1 s).
    pub fn to_order_timing(&self, speed: f64) -> OrderTiming {
        OrderTiming {
            retry_initial_ms: self.retry_initial.as_millis() as u64,
            retry_backoff: self.retry_backoff,
            retry_max_ms: self.retry_max.as_millis() as u64,
            activity_timeout_ms: self.activity_timeout.as_millis() as u64,
            pickup_delay_ms: self.pickup.as_millis() as u64,
            approval_timeout_ms: self.approval_timeout.as_millis() as u64,
        }
        .scaled(speed)
    }
}

/// One step. It runs when all its gates are open, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub title: String,
    /// Shown when the step runs: its gates are open, its `when` condition holds.
    pub narration: String,
    /// Shown while the step waits for its `when` condition (which does not hold yet), in
    /// place of the previous step's narration.
    pub narration_waiting: Option<String>,
    /// 1-based line of the step in its file (for messages and reports).
    pub line: usize,
    pub manual: bool,
    pub at: Option<Duration>,
    pub after: Option<Duration>,
    pub when: Option<Condition>,
    /// How long `when` may take before the run is aborted.
    pub timeout: Duration,
    pub actions: Vec<Action>,
}

/// The counts a condition can wait on: defined once, in the projection.
pub use crate::projection::Counter;

/// A condition a step (or a `wait`) waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    AtLeast(Counter, u64),
    AllCompleted,
    PodHealthy(String),
    PodStopped(String),
}

impl Condition {
    pub fn describe(&self) -> String {
        match self {
            Condition::AtLeast(c, n) => format!("{} >= {n}", c.name()),
            Condition::AllCompleted => "all orders completed".into(),
            Condition::PodHealthy(p) => format!("pod {p} healthy"),
            Condition::PodStopped(p) => format!("pod {p} stopped"),
        }
    }
}

/// Which orders a signal, retry or cancel addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    All,
    Running,
    Retrying,
    /// Orders whose amount is over the approval threshold.
    NeedsApproval,
    /// 1-based order numbers of the workload.
    Numbers(Vec<u32>),
}

impl Target {
    pub fn describe(&self) -> String {
        match self {
            Target::All => "all orders".into(),
            Target::Running => "running orders".into(),
            Target::Retrying => "retrying orders".into(),
            Target::NeedsApproval => "orders awaiting approval".into(),
            Target::Numbers(n) => {
                let s: Vec<String> = n.iter().map(|n| format!("#{n}")).collect();
                format!("orders {}", s.join(", "))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Pod { pod: String, action: PodAction },
    /// Starts the next `count` orders of the workload (all that are left when `None`).
    StartOrders { count: Option<u32> },
    Signal { name: String, target: Target },
    RetryNow { target: Target },
    Cancel { target: Target },
    Wait(Duration),
    WaitUntil { condition: Condition, timeout: Duration },
    /// A fault on a proxy link; with `heal_after` (unscaled) it heals itself that long later.
    LinkFault { link: String, fault: LinkFault, heal_after: Option<Duration> },
    /// Lifts every fault from `link` (from every link the run faulted when `None`).
    Heal { link: Option<String> },
    /// Arms a fault point on the engine(s) of `side` (see [`FaultPlan`]).
    Fault(FaultPlan),
    /// Releases the holds of every fault this run armed on `side`, now and later.
    ReleaseFaults { side: FaultSide },
}

/// When the dual-write twin publishes a transition's tasks (the engine's `DualOrder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwinOrder {
    /// Enqueue after the state commit (Rails' `enqueue_after_transaction_commit`).
    AfterCommit,
    /// Publish, then commit the state.
    EnqueueFirst,
}

impl TwinOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            TwinOrder::AfterCommit => "after-commit",
            TwinOrder::EnqueueFirst => "enqueue-first",
        }
    }

    pub fn parse(s: &str) -> Option<TwinOrder> {
        [TwinOrder::AfterCommit, TwinOrder::EnqueueFirst].into_iter().find(|o| o.as_str() == s)
    }
}

/// What a fault's transition does (`match.transition`; the engine's `FaultTransition`).
pub const FAULT_TRANSITIONS: [&str; 3] = ["schedule_activity", "start_timer", "complete_activity"];

/// Which engine(s) a fault action addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultSide {
    Transactional,
    DualWrite,
    Both,
}

impl FaultSide {
    pub fn describe(self) -> &'static str {
        match self {
            FaultSide::Transactional => "the transactional engine",
            FaultSide::DualWrite => "the dual-write engine",
            FaultSide::Both => "both engines",
        }
    }

    pub fn transactional(self) -> bool {
        matches!(self, FaultSide::Transactional | FaultSide::Both)
    }

    pub fn dual_write(self) -> bool {
        matches!(self, FaultSide::DualWrite | FaultSide::Both)
    }
}

/// What a fault point does when it fires (the engine's `FaultAction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `abort()` on the spot, like SIGKILL: the engine pod exits.
    Crash,
    /// The request fails with 500 (what committed before the point stays).
    Error,
    Delay(Duration),
    /// Waits until `release_faults`.
    Hold,
}

/// A fault as a scenario arms it: one plan, run against both engines, each point mapped to its
/// mirror on the other side ([`FaultPlan::point_for`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// The point as written (a dual-write or a transactional point name).
    pub point: String,
    pub kind: FaultKind,
    pub workflow_type: Option<String>,
    pub activity_type: Option<String>,
    /// One of [`FAULT_TRANSITIONS`].
    pub transition: Option<String>,
    /// 1-based order number of the workload: that order's workflow id on each side.
    pub order: Option<u32>,
    pub nth: Option<u64>,
    /// Fires this many times (0: until the run ends).
    pub count: u64,
    pub side: FaultSide,
}

/// The dual-write points and their transactional mirrors: the same moment of a transition,
/// where one transaction has no gap. `None`: the dual-write point has no transactional
/// counterpart, so the transactional engine is left alone (every point has one today).
/// The reasoning per row is in scenarios/README.md ("Fault point reference").
pub const FAULT_POINTS: [(&str, Option<&str>); 5] = [
    // Nothing committed yet, on either side.
    ("before_state_commit", Some("before_commit")),
    // The state committed; the twin's tasks are not enqueued, the engine's are committed with it.
    ("after_state_commit", Some("after_commit_before_reply")),
    // The twin's tasks are published, its state is not; the engine commits both or neither.
    ("after_enqueue_before_commit", Some("before_commit")),
    // A completion committed, the twin's message not acked; the engine has nothing to ack.
    ("after_complete_before_ack", Some("after_commit_before_reply")),
    // The twin acked the message, the task not yet handed out; the engine's hand-out is a
    // commit ("started") that the worker never hears of, and its timeout brings it back.
    ("after_ack_before_complete", Some("after_commit_before_reply")),
];

/// The transactional engine's own points.
pub const TRANSACTIONAL_POINTS: [&str; 2] = ["before_commit", "after_commit_before_reply"];

impl FaultPlan {
    /// The point to arm on the dual-write (`dual = true`) or the transactional engine;
    /// `None` when it has no mirror there.
    pub fn point_for(&self, dual: bool) -> Option<&'static str> {
        if let Some((dw, tx)) = FAULT_POINTS.iter().find(|(dw, _)| *dw == self.point) {
            return if dual { Some(dw) } else { *tx };
        }
        let tx = TRANSACTIONAL_POINTS.iter().find(|p| **p == self.point)?;
        if dual {
            // A transactional point's mirror: the first dual-write point that maps onto it.
            FAULT_POINTS.iter().find(|(_, t)| *t == Some(*tx)).map(|(dw, _)| *dw)
        } else {
            Some(tx)
        }
    }

    /// `crash at after_state_commit (activity charge) on both engines`.
    pub fn describe(&self) -> String {
        let kind = match self.kind {
            FaultKind::Crash => "crash".to_string(),
            FaultKind::Error => "error".to_string(),
            FaultKind::Delay(d) => format!("delay {}", fmt_duration(d)),
            FaultKind::Hold => "hold".to_string(),
        };
        let mut m = Vec::new();
        if let Some(o) = self.order {
            m.push(format!("order #{o}"));
        }
        if let Some(w) = &self.workflow_type {
            m.push(format!("workflow {w}"));
        }
        if let Some(a) = &self.activity_type {
            m.push(format!("activity {a}"));
        }
        if let Some(t) = &self.transition {
            m.push(t.replace('_', " "));
        }
        if let Some(n) = self.nth {
            m.push(format!("from hit {n}"));
        }
        let m = if m.is_empty() { String::new() } else { format!(" ({})", m.join(", ")) };
        format!("fault: {kind} at {}{m} on {}", self.point, self.side.describe())
    }
}

impl Action {
    /// One line for the screen and the report, e.g. `kill engine`.
    pub fn describe(&self) -> String {
        match self {
            Action::Pod { pod, action } => format!("{} {pod}", action.describe()),
            Action::StartOrders { count: Some(n) } => format!("start {n} orders"),
            Action::StartOrders { count: None } => "start the remaining orders".into(),
            Action::Signal { name, target } => format!("signal `{name}` to {}", target.describe()),
            Action::RetryNow { target } => format!("retry now: {}", target.describe()),
            Action::Cancel { target } => format!("cancel {}", target.describe()),
            Action::Wait(d) => format!("wait {}", fmt_duration(*d)),
            Action::WaitUntil { condition, .. } => format!("wait until {}", condition.describe()),
            Action::Fault(plan) => plan.describe(),
            Action::ReleaseFaults { side } => format!("release the held faults on {}", side.describe()),
            Action::LinkFault { link, fault, heal_after: None } => format!("{} on {link}", fault.describe()),
            Action::LinkFault { link, fault, heal_after: Some(d) } => format!("{} on {link} for {}", fault.describe(), fmt_duration(*d)),
            Action::Heal { link: Some(link) } => format!("heal {link}"),
            Action::Heal { link: None } => "heal every link".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Check {
    AllCompleted,
    NoneFailed,
    /// Every order the runner started is known to the engine and was seen starting.
    NoneLost,
    /// Every completed order has exactly one net charge in the payment ledger; none has more.
    ChargedExactlyOnce,
    /// No service ledger holds two effects for one order's step.
    NoDuplicateEffects,
    RetriesAtLeast(u64),
    TimersFiredAtLeast(u64),
    /// From the moment `pod` came back (its last start, restart, unpause, reconnect or deploy
    /// returned) until every order open then has closed.
    RecoveryAtMost { pod: String, max: Duration },
    /// The race checker finds none of the anomalies one transaction removes on `side`.
    NoAnomalies { side: Side },
    /// The race checker counts at least `at_least` anomalies of `kind` on `side`.
    Anomalies { side: Side, kind: AnomalyKind, at_least: u64 },
}

impl Check {
    pub fn describe(&self) -> String {
        match self {
            Check::AllCompleted => "all orders completed".into(),
            Check::NoneFailed => "no order failed".into(),
            Check::NoneLost => "no order lost".into(),
            Check::ChargedExactlyOnce => "each order charged exactly once".into(),
            Check::NoDuplicateEffects => "no side effect duplicated".into(),
            Check::RetriesAtLeast(n) => format!("at least {n} retries seen"),
            Check::TimersFiredAtLeast(n) => format!("at least {n} timers fired"),
            Check::RecoveryAtMost { pod, max } => {
                format!("recovered within {} after {pod} came back", fmt_duration(*max))
            }
            Check::NoAnomalies { side } => format!("{}: no engine-level anomaly", side.title()),
            Check::Anomalies { side, kind, at_least } => format!("{}: at least {at_least} {}", side.title(), kind.title()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub check: Check,
    /// Must hold no later than this after the last step started.
    pub within: Option<Duration>,
    pub line: usize,
}

/// `1.5s`, `250ms`, `2m`: short and exact enough for screens and reports.
// `is_multiple_of` is newer than the workspace's rust-version (1.85).
#[allow(clippy::manual_is_multiple_of)]
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if ms < 1000 {
        format!("{ms}ms")
    } else if ms % 60_000 == 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

impl Scenario {
    /// Every scenario duration divided by `speed` (>= 1 compresses a run).
    pub fn scale(d: Duration, speed: f64) -> Duration {
        if speed.is_finite() && speed > 0.0 {
            d.div_f64(speed)
        } else {
            d
        }
    }
}
