//! The bench against the dual-write twin: which engine a run uses ([`EngineMode`]), the
//! twin's command line, and the race checker's pass over a finished run (histories and
//! delivery records from the engine, executions from the bench's own ledger), so a torture
//! of the twin reports its anomalies instead of hanging, next to the transactional engine's.

use std::collections::HashMap;

use faultline_sdk::Client;

use super::ledger;
use super::workload::{Workload, SUCCEEDING_ATTEMPT};
use crate::checker::collect::{gather, OrderRef};
use crate::checker::{check, CheckParams, Counters, Execution, Side};

/// The twin's visibility timeout in the bench: short, so that unacked work comes back well
/// within a workflow's deadline.
pub const TWIN_VISIBILITY_TIMEOUT_MS: u64 = 2_000;
/// How long past due the checker lets work wait before it counts as lost: the engines'
/// start-to-close timeout (10 s) plus a margin, since a kill loses running attempts that
/// only come back once it expires.
pub const CHECK_GRACE_MS: i64 = 15_000;

/// Which engine `faultline bench` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EngineMode {
    /// The engine proper: everything of a transition in one transaction.
    #[default]
    Transactional,
    /// The dual-write twin (state in one store, tasks and timers in a separate queue), then
    /// the transactional engine with the same settings and kill seed, side by side.
    DualWrite,
}

impl EngineMode {
    pub fn name(self) -> &'static str {
        match self {
            EngineMode::Transactional => "transactional",
            EngineMode::DualWrite => "dual-write",
        }
    }

    pub fn side(self) -> Side {
        match self {
            EngineMode::Transactional => Side::Transactional,
            EngineMode::DualWrite => Side::DualWrite,
        }
    }

    /// The engine's extra command-line arguments.
    pub fn engine_args(self) -> Vec<String> {
        match self {
            EngineMode::Transactional => Vec::new(),
            EngineMode::DualWrite => ["--mode", "dual-write", "--visibility-timeout-ms"]
                .into_iter()
                .map(String::from)
                .chain([TWIN_VISIBILITY_TIMEOUT_MS.to_string()])
                .collect(),
        }
    }
}

/// The bench ledger's executions as the checker's: only those that succeeded (the retry
/// workload fails its first attempts on purpose, which is no effect), attributed to their
/// workflow by the key's run. No idempotency key absorbs anything in the bench.
pub fn executions(workload: Workload, xs: &[ledger::Execution], order_of_run: &HashMap<String, String>) -> Vec<Execution> {
    xs.iter()
        .filter(|x| workload != Workload::Retry || x.attempt >= SUCCEEDING_ATTEMPT)
        .filter_map(|x| {
            let run = x.key.rsplit_once(':')?.0;
            Some(Execution {
                service: "bench-worker".into(),
                key: x.key.clone(),
                order: order_of_run.get(run)?.clone(),
                effect: workload.name().into(),
                at_ms: x.started_ms,
                absorbed: false,
                ledger_seq: None,
            })
        })
        .collect()
}

/// Checks a finished run: its workflows' histories and deliveries from the engine, the
/// executions from the bench ledger. Returns the counters, or why they could not be read.
pub async fn check_run(
    mode: EngineMode,
    client: &Client,
    workload: Workload,
    ids: &[String],
    xs: &[ledger::Execution],
) -> Result<Counters, String> {
    let orders: Vec<OrderRef> = ids.iter().map(|id| OrderRef::new(id.clone())).collect();
    let mut input = gather(mode.side(), client, &[], &orders).await.map_err(|e| e.to_string())?;
    let order_of_run: HashMap<String, String> = input.runs.iter().map(|r| (r.run_id.clone(), r.order.clone())).collect();
    input.executions = executions(workload, xs, &order_of_run);
    let params = CheckParams { now_ms: ledger::now_ms(), grace_ms: CHECK_GRACE_MS };
    Ok(check(&input, &params).counters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twin_arguments_and_successful_executions_only() {
        assert!(EngineMode::Transactional.engine_args().is_empty());
        assert_eq!(EngineMode::DualWrite.engine_args(), ["--mode", "dual-write", "--visibility-timeout-ms", "2000"]);
        let runs: HashMap<String, String> = [("r1".to_string(), "wf-1".to_string())].into();
        let x = |key: &str, attempt| ledger::Execution { key: key.into(), attempt, started_ms: 5 };
        let xs = [x("r1:1", 1), x("r1:1", 3), x("unknown:1", 3)];
        let chain = executions(Workload::Chain, &xs, &runs);
        assert_eq!(chain.len(), 2, "unknown runs are not the bench's");
        assert_eq!((chain[0].order.as_str(), chain[0].absorbed), ("wf-1", false));
        assert_eq!(executions(Workload::Retry, &xs, &runs).len(), 1, "failed attempts had no effect");
    }
}
