//! What the checker reads, per side: the committed histories of the run's orders, the twin's
//! queue delivery records and the executions the services' ledgers saw. Plain data with
//! serde, so a side's input can be saved next to a report and checked again offline.

use serde::{Deserialize, Serialize};

use faultline_demo::ledger::Entry;
use faultline_proto::{EpochMillis, HistoryEvent};

/// Which engine a side ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// State, history, tasks and timers in one transaction (the engine proper).
    Transactional,
    /// State in one store, tasks and timers in a separate queue (the twin).
    DualWrite,
}

impl Side {
    /// The column title.
    pub fn title(self) -> &'static str {
        match self {
            Side::Transactional => "Transactional",
            Side::DualWrite => "Dual-write",
        }
    }
}

/// One run's committed history, and the order it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHistory {
    /// The order this run belongs to: the order's top-level workflow id (a child run names
    /// its parent's).
    pub order: String,
    pub workflow_id: String,
    pub run_id: String,
    pub events: Vec<HistoryEvent>,
}

/// One delivery of a queue message by the dual-write twin (the JSON of
/// `GET /api/v1/admin/deliveries`, field for field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDelivery {
    pub message_id: i64,
    pub topic: String,
    pub run_id: String,
    /// `activity`, `workflow` or `timer`.
    pub kind: String,
    /// The activity's seq (0 for workflow tasks and timers).
    pub seq: u64,
    /// The id of the last event of the transition that created the message.
    pub created_event_id: u64,
    /// The run's last committed event id when the message was delivered (0: no such run yet).
    pub committed_event_id: u64,
    /// 1 for the first delivery, 2 and more for redeliveries.
    pub delivery: u32,
    pub at_ms: EpochMillis,
}

/// One execution of a step that reached a service (or, in the bench, the worker's activity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The service (or pod) whose ledger saw it.
    pub service: String,
    /// The idempotency key it came with: `<run_id>:<seq>` for the SDK's activities.
    pub key: String,
    /// The order it belongs to (its top-level workflow id), as the collector attributed it.
    pub order: String,
    /// What happened: the ledger's kind (`charge`, `label` ...) or the activity type.
    pub effect: String,
    pub at_ms: EpochMillis,
    /// True when the idempotency key absorbed it: the service replayed the recorded answer
    /// and did not repeat the effect.
    pub absorbed: bool,
    /// The ledger row (its `seq`), when the execution made or replayed one.
    pub ledger_seq: Option<i64>,
}

impl Execution {
    /// The executions one ledger row stands for: the row itself, then one absorbed execution
    /// per replay of its key.
    pub fn from_ledger(service: &str, order: &str, entry: &Entry) -> Vec<Execution> {
        let first = Execution {
            service: service.to_string(),
            key: entry.key.clone(),
            order: order.to_string(),
            effect: entry.kind.clone(),
            at_ms: entry.at_ms,
            absorbed: false,
            ledger_seq: Some(entry.seq),
        };
        let replays = entry.replays_at_ms.iter().map(|&at_ms| Execution { at_ms, absorbed: true, ..first.clone() });
        std::iter::once(first.clone()).chain(replays).collect()
    }

    /// The run and seq of an SDK idempotency key (`<run_id>:<seq>`).
    pub fn step(&self) -> Option<(&str, u64)> {
        let (run, seq) = self.key.rsplit_once(':')?;
        Some((run, seq.parse().ok()?))
    }
}

/// Everything the checker reads of one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideInput {
    pub side: Side,
    /// The top-level workflow ids of the side's orders (an order without a history is
    /// reported as stuck: it was asked for and never committed).
    pub orders: Vec<String>,
    pub runs: Vec<RunHistory>,
    /// Empty on the transactional side: it has no separate queue.
    #[serde(default)]
    pub deliveries: Vec<QueueDelivery>,
    #[serde(default)]
    pub executions: Vec<Execution>,
}

impl SideInput {
    pub fn new(side: Side) -> Self {
        SideInput { side, orders: Vec::new(), runs: Vec::new(), deliveries: Vec::new(), executions: Vec::new() }
    }
}

/// When the check is made, and how long work may lag before it counts as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckParams {
    /// The moment of the check (ms since the epoch), after the run quiesced.
    pub now_ms: EpochMillis,
    /// How long past its due time a task, timer or order may wait before it counts as lost
    /// or stuck. Longer than a healthy worker's pick-up time and the engine's redelivery.
    pub grace_ms: i64,
}
