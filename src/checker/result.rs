//! What the checker finds, per side: the counters and, for each anomaly, its witness (the
//! smallest set of history events, queue deliveries and ledger rows, in time order, that
//! proves it).

use serde::{Deserialize, Serialize};

use super::model::Side;
use faultline_proto::EpochMillis;

/// The checker's verdict on both sides of a run, in the order they were given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub now_ms: EpochMillis,
    pub grace_ms: i64,
    pub sides: Vec<SideReport>,
}

impl CheckReport {
    /// The report of one side, if it was checked.
    pub fn side(&self, side: Side) -> Option<&SideReport> {
        self.sides.iter().find(|s| s.side == side)
    }
}

/// One side's counters and anomalies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideReport {
    pub side: Side,
    /// How many orders were checked.
    pub orders: u64,
    pub counters: Counters,
    /// Every anomaly found, grouped by kind in [`AnomalyKind::ALL`] order.
    pub anomalies: Vec<Anomaly>,
}

impl SideReport {
    /// The anomalies of one kind.
    pub fn of(&self, kind: AnomalyKind) -> impl Iterator<Item = &Anomaly> {
        self.anomalies.iter().filter(move |a| a.kind == kind)
    }
}

/// The counters of one side. Field order is the JSON key order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Committed as scheduled, never delivered nor executed, past due + grace.
    pub lost_tasks: u64,
    /// Delivered or executed, never committed as scheduled.
    pub ghost_tasks: u64,
    /// Delivered or executed before the state that created them was visible.
    pub early_tasks: u64,
    /// Executions beyond the first per order and step (raw, whatever absorbed them).
    pub duplicate_executions: u64,
    /// Of those, how many the idempotency keys absorbed (the service replayed its answer).
    pub duplicates_absorbed: u64,
    /// Of those, how many began after the step's completion had committed: a redelivery of
    /// finished work, which one transaction rules out.
    pub duplicates_after_completion: u64,
    /// Past fire time + grace, never fired nor canceled.
    pub lost_timers: u64,
    /// More than one accepted completion of one step.
    pub double_completions: u64,
    /// Delivered (and acked) but never started nor completed: stuck after an early ack.
    pub lost_completions: u64,
    /// Orders still open, with nothing due, past grace.
    pub stuck_orders: u64,
    /// Steps whose first try was lost (timed out, redelivered) and that completed later.
    pub recovered: u64,
}

impl Counters {
    /// The anomalies one transaction removes: they must read 0 on the transactional side.
    /// Duplicate executions as such are not among them (activities are at least once on
    /// every durable engine); those after a committed completion are.
    pub fn engine_level(&self) -> u64 {
        self.lost_tasks
            + self.ghost_tasks
            + self.early_tasks
            + self.duplicates_after_completion
            + self.lost_timers
            + self.double_completions
            + self.lost_completions
    }

    /// The counter of one kind (for duplicates: the raw number).
    pub fn get(&self, kind: AnomalyKind) -> u64 {
        match kind {
            AnomalyKind::LostTask => self.lost_tasks,
            AnomalyKind::GhostTask => self.ghost_tasks,
            AnomalyKind::EarlyTask => self.early_tasks,
            AnomalyKind::DuplicateExecution => self.duplicate_executions,
            AnomalyKind::LostTimer => self.lost_timers,
            AnomalyKind::DoubleCompletion => self.double_completions,
            AnomalyKind::LostCompletion => self.lost_completions,
            AnomalyKind::StuckOrder => self.stuck_orders,
            AnomalyKind::Recovered => self.recovered,
        }
    }
}

/// The kinds of anomaly (and `Recovered`, which is good news with a witness too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    LostTask,
    GhostTask,
    EarlyTask,
    DuplicateExecution,
    LostTimer,
    DoubleCompletion,
    LostCompletion,
    StuckOrder,
    Recovered,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 9] = [
        AnomalyKind::LostTask,
        AnomalyKind::GhostTask,
        AnomalyKind::EarlyTask,
        AnomalyKind::DuplicateExecution,
        AnomalyKind::LostTimer,
        AnomalyKind::DoubleCompletion,
        AnomalyKind::LostCompletion,
        AnomalyKind::StuckOrder,
        AnomalyKind::Recovered,
    ];

    /// The row title in reports.
    pub fn title(self) -> &'static str {
        match self {
            AnomalyKind::LostTask => "lost tasks",
            AnomalyKind::GhostTask => "ghost tasks",
            AnomalyKind::EarlyTask => "early tasks",
            AnomalyKind::DuplicateExecution => "duplicate executions",
            AnomalyKind::LostTimer => "lost timers",
            AnomalyKind::DoubleCompletion => "double completions",
            AnomalyKind::LostCompletion => "lost completions",
            AnomalyKind::StuckOrder => "stuck orders",
            AnomalyKind::Recovered => "recovered",
        }
    }

    /// True for the anomalies one transaction removes (see [`Counters::engine_level`]).
    pub fn engine_level(self) -> bool {
        !matches!(self, AnomalyKind::DuplicateExecution | AnomalyKind::StuckOrder | AnomalyKind::Recovered)
    }
}

/// One anomaly and the proof of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    /// The order (top-level workflow id), when it could be attributed to one.
    pub order: Option<String>,
    /// What it is about, e.g. `order-o-1 run 0192… activity 2 (ChargePayment)`.
    pub subject: String,
    /// Why the witness proves it, including what is missing (no delivery, no fired event).
    pub explanation: String,
    /// The proof, in time order.
    pub witness: Vec<WitnessItem>,
}

/// One row of a witness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WitnessItem {
    pub at_ms: EpochMillis,
    pub source: Source,
    /// The row in words, e.g. `activity_scheduled seq 2 ChargePayment`.
    pub text: String,
}

/// Where a witness row comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// A committed history event.
    History { workflow_id: String, run_id: String, event_id: u64 },
    /// A delivery of a queue message by the twin.
    Queue { message_id: i64, delivery: u32 },
    /// An execution a service's ledger saw (a row, or a replay of its key).
    Ledger { service: String, key: String, ledger_seq: Option<i64>, absorbed: bool },
}

impl Source {
    /// A short label: `history #4`, `queue msg 7 (2nd delivery)`, `payment ledger #3`.
    pub fn label(&self) -> String {
        match self {
            Source::History { event_id, .. } => format!("history #{event_id}"),
            Source::Queue { message_id, delivery } => match delivery {
                1 => format!("queue msg {message_id}"),
                n => format!("queue msg {message_id} (delivery {n})"),
            },
            Source::Ledger { service, ledger_seq, absorbed, .. } => {
                let row = ledger_seq.map(|s| format!(" #{s}")).unwrap_or_default();
                if *absorbed {
                    format!("{service} ledger{row} replay")
                } else {
                    format!("{service} ledger{row}")
                }
            }
        }
    }
}
