//! The race checker (issue 13): after a run quiesces, counts per side the anomalies of a
//! design that writes state and tasks in two places, and keeps a witness for each, in the
//! spirit of Jepsen's total-queue checker (lost, unexpected, duplicated, recovered) and
//! Elle's minimal witnesses.
//!
//! # API
//! - Input, per side ([`model`]): [`SideInput`] = the side's order ids, the committed
//!   histories of their runs ([`RunHistory`], children included), the twin's queue
//!   deliveries ([`QueueDelivery`], empty on the transactional side) and the executions the
//!   services' ledgers saw ([`Execution`], a ledger row plus one absorbed execution per
//!   replay of its idempotency key). [`CheckParams`]: the check's `now_ms` and a `grace_ms`.
//! - [`check`]`(&SideInput, &CheckParams) -> SideReport` and [`check_sides`] for both
//!   sides at once ([`CheckReport`]). Pure: no I/O, no clock.
//! - Output ([`result`]): [`Counters`] (lost tasks, ghost tasks, early tasks, duplicate
//!   executions with the number absorbed by idempotency keys and the number after a
//!   committed completion, lost timers, double completions, lost completions, stuck orders,
//!   recovered) and one [`Anomaly`] per finding with its witness ([`WitnessItem`]s in time
//!   order, each from a history event, a queue delivery or a ledger row). All serde.
//! - [`collect`]: gathers a side's input from a live engine (SDK client + admin deliveries)
//!   and the services' ledgers, once the run has quiesced.
//! - [`render`]: the report as Markdown (both sides as columns, then the witnesses) and JSON.
//!
//! # Definitions
//! A step is an activity of a run (by `seq`), or the run's workflow task; an execution's step
//! is its idempotency key `<run_id>:<seq>`.
//! - **lost task**: a step of an open run became due (scheduled, or a retry's time came)
//!   more than `grace` before the check, and was never delivered, started nor executed since.
//! - **lost completion**: the same, but it was delivered or executed: the message was acked
//!   before the work was done (early ack) and nothing brings it back.
//! - **early task**: delivered while the run was committed up to an event older than the one
//!   that created the task, or executed before the `activity_scheduled` timestamp.
//! - **ghost task**: delivered for an event the state never committed, or executed for a
//!   step that was never scheduled.
//! - **duplicate executions**: per order and step, every execution beyond the first;
//!   `duplicates_absorbed` of them were replays the idempotency key absorbed, and
//!   `duplicates_after_completion` began after the step's completion had committed.
//! - **lost timer**: a `timer_started` of an open run, past `fire_at + grace`, neither
//!   fired nor canceled.
//! - **double completion**: more than one `activity_completed`, `timer_fired` or
//!   `child_workflow_completed` per seq, or more than one closing event per run.
//! - **stuck order**: the order's run is open, its last event is older than `grace`, and it
//!   waits for no future timer (or the engine has no history of it at all).
//! - **recovered**: a step one of whose tries was lost (timed out, or redelivered after its
//!   lease) and that completed on a later try.
//!
//! Activities are at least once on every engine: a worker killed between an effect and its
//! report repeats the effect on both sides, and only the idempotency key saves it. So
//! duplicate executions may appear on the transactional side; [`Counters::engine_level`]
//! sums the anomalies one transaction removes, which must read 0 there.

pub mod collect;
mod effects;
mod index;
pub mod model;
mod orders;
pub mod render;
pub mod result;
mod tasks;

#[cfg(test)]
mod tests;

pub use model::{CheckParams, Execution, QueueDelivery, RunHistory, Side, SideInput};
pub use result::{Anomaly, AnomalyKind, CheckReport, Counters, SideReport, Source, WitnessItem};

/// Checks one side.
pub fn check(input: &SideInput, params: &CheckParams) -> SideReport {
    let ix = index::Index::new(input);
    let mut counters = Counters::default();
    let mut found = Vec::new();
    tasks::lost(&ix, params, &mut found);
    tasks::early_and_ghost(&ix, &mut found);
    effects::duplicates(&ix, &mut counters, &mut found);
    orders::lost_timers(&ix, params, &mut found);
    effects::double_completions(&ix, &mut found);
    orders::stuck_orders(&ix, params, &mut found);
    tasks::recovered(&ix, &mut found);
    // Stable: within a kind, the analyses' order (runs as given, steps by seq) is kept.
    found.sort_by_key(|a| a.kind);
    for a in &found {
        let n = match a.kind {
            AnomalyKind::LostTask => &mut counters.lost_tasks,
            AnomalyKind::GhostTask => &mut counters.ghost_tasks,
            AnomalyKind::EarlyTask => &mut counters.early_tasks,
            AnomalyKind::LostTimer => &mut counters.lost_timers,
            AnomalyKind::DoubleCompletion => &mut counters.double_completions,
            AnomalyKind::LostCompletion => &mut counters.lost_completions,
            AnomalyKind::StuckOrder => &mut counters.stuck_orders,
            AnomalyKind::Recovered => &mut counters.recovered,
            // Counted by the number of executions, in `effects::duplicates`.
            AnomalyKind::DuplicateExecution => continue,
        };
        *n += match a.kind {
            AnomalyKind::DoubleCompletion => (a.witness.len() as u64).saturating_sub(1).max(1),
            _ => 1,
        };
    }
    SideReport { side: input.side, orders: input.orders.len() as u64, counters, anomalies: found }
}

/// Checks every side with the same `now` and grace.
pub fn check_sides(inputs: &[SideInput], params: &CheckParams) -> CheckReport {
    CheckReport { now_ms: params.now_ms, grace_ms: params.grace_ms, sides: inputs.iter().map(|i| check(i, params)).collect() }
}
