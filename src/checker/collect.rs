//! Gathers one side's [`SideInput`] from live components: the engine's histories through
//! the SDK client (each order's run and its children), the twin's delivery records
//! (`GET /api/v1/admin/deliveries`; a transactional engine answers 404 and has none) and the
//! services' ledgers (`GET /ledger`). It first waits for the run to quiesce: every order
//! closed, or nothing new (events, deliveries) for a quiet period, with a deadline; time
//! comes from an injected [`Clock`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use faultline_demo::client::{CallFailure, ServiceClient};
use faultline_proto::EventKind;
use faultline_sdk::{Client, ClientError};
use serde::{Deserialize, Serialize};

use super::model::{CheckParams, Execution, QueueDelivery, RunHistory, Side, SideInput};
use crate::clock::Clock;

/// `GET` path of the twin's delivery records.
pub const DELIVERIES_PATH: &str = "/api/v1/admin/deliveries";

/// One order of the side: its top-level workflow id, and the order id the services' ledgers
/// know it by (`o-1003` for workflow `order-o-1003`), if it differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRef {
    pub workflow_id: String,
    pub ledger_order_id: Option<String>,
}

impl OrderRef {
    pub fn new(workflow_id: impl Into<String>) -> Self {
        OrderRef { workflow_id: workflow_id.into(), ledger_order_id: None }
    }
}

/// A service whose ledger to read: its name and base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerSource {
    pub service: String,
    pub base_url: String,
}

/// How long to wait for the run to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quiesce {
    /// Nothing new for this long counts as settled.
    pub quiet_ms: i64,
    /// Give up waiting after this long, and collect what there is.
    pub deadline_ms: i64,
    /// Between two looks.
    pub poll_ms: i64,
}

impl Default for Quiesce {
    fn default() -> Self {
        Quiesce { quiet_ms: 2_000, deadline_ms: 60_000, poll_ms: 200 }
    }
}

/// A side's input and how the wait ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Collected {
    pub input: SideInput,
    /// The check's moment (the clock's now once collected).
    pub now_ms: i64,
    /// False when the deadline came first (the run was still moving).
    pub quiesced: bool,
}

impl Collected {
    /// Check parameters at the collection's moment with `grace_ms`.
    pub fn params(&self, grace_ms: i64) -> CheckParams {
        CheckParams { now_ms: self.now_ms, grace_ms }
    }
}

/// Why a side could not be collected.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("reading the {side} engine failed: {source}")]
    Engine { side: &'static str, source: ClientError },
    #[error("reading the {side} engine's delivery records failed: {message}; is it a faultline-engine of this version?")]
    Deliveries { side: &'static str, message: String },
    #[error("reading the {service} ledger failed: {source}")]
    Ledger { service: String, source: CallFailure },
}

/// Waits for the side to quiesce, then gathers its input.
pub async fn collect(
    side: Side,
    engine: &Client,
    ledgers: &[LedgerSource],
    orders: &[OrderRef],
    clock: &dyn Clock,
    quiesce: Quiesce,
) -> Result<Collected, CollectError> {
    let start = clock.now_ms();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    let mut last_marker = None;
    let mut quiet_since = start;
    let quiesced = loop {
        let runs = histories(side, engine, orders).await?;
        let deliveries = deliveries(side, &http, engine.base_url()).await?;
        let now = clock.now_ms();
        let all_closed = orders.iter().all(|o| runs.iter().any(|r| r.workflow_id == o.workflow_id && closed(r)));
        let marker = (runs.iter().map(|r| r.events.len()).sum::<usize>(), deliveries.len());
        if Some(marker) != last_marker {
            last_marker = Some(marker);
            quiet_since = now;
        }
        if all_closed || now - quiet_since >= quiesce.quiet_ms {
            break true;
        }
        if now - start >= quiesce.deadline_ms {
            break false;
        }
        clock.sleep_until(now + quiesce.poll_ms).await;
    };
    let input = gather(side, engine, ledgers, orders).await?;
    Ok(Collected { input, now_ms: clock.now_ms(), quiesced })
}

/// Gathers a side's input now, without waiting (for a caller that knows the run is over).
pub async fn gather(side: Side, engine: &Client, ledgers: &[LedgerSource], orders: &[OrderRef]) -> Result<SideInput, CollectError> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
    let runs = histories(side, engine, orders).await?;
    let deliveries = deliveries(side, &http, engine.base_url()).await?;
    let executions = executions(ledgers, orders, &runs).await?;
    let deliveries = relevant_deliveries(deliveries, &runs);
    Ok(SideInput { side, orders: orders.iter().map(|o| o.workflow_id.clone()).collect(), runs, deliveries, executions })
}

fn closed(run: &RunHistory) -> bool {
    run.events.iter().any(|e| e.kind.is_terminal())
}

/// The current run of each order and, transitively, of its children.
async fn histories(side: Side, engine: &Client, orders: &[OrderRef]) -> Result<Vec<RunHistory>, CollectError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for o in orders {
        let mut todo = vec![o.workflow_id.clone()];
        while let Some(wf) = todo.pop() {
            if !seen.insert(wf.clone()) {
                continue;
            }
            let h = match engine.history(&wf).await {
                Ok(h) => h,
                // Never committed (a start that rolled back, or not started yet).
                Err(ClientError::Api { status: 404, .. }) => continue,
                Err(source) => return Err(CollectError::Engine { side: side.title(), source }),
            };
            for e in &h.events {
                if let EventKind::ChildWorkflowInitiated { workflow_id, .. } = &e.kind {
                    todo.push(workflow_id.clone());
                }
            }
            out.push(RunHistory { order: o.workflow_id.clone(), workflow_id: h.workflow_id, run_id: h.run_id, events: h.events });
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct DeliveriesBody {
    deliveries: Vec<QueueDelivery>,
}

/// The twin's delivery records; none from a transactional engine (404).
async fn deliveries(side: Side, http: &reqwest::Client, base: &str) -> Result<Vec<QueueDelivery>, CollectError> {
    let err = |message: String| CollectError::Deliveries { side: side.title(), message };
    let url = format!("{base}{DELIVERIES_PATH}");
    let resp = http.get(&url).send().await.map_err(|e| err(format!("GET {url}: {e}")))?;
    if resp.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    if !resp.status().is_success() {
        return Err(err(format!("GET {url}: HTTP {}", resp.status())));
    }
    let body: DeliveriesBody = resp.json().await.map_err(|e| err(format!("GET {url}: unexpected answer: {e}")))?;
    Ok(body.deliveries)
}

/// The deliveries of the side's runs, plus those of runs the state never committed that
/// happened while the side's orders ran (ghost candidates: a rolled-back run leaves no id to
/// match them by).
fn relevant_deliveries(all: Vec<QueueDelivery>, runs: &[RunHistory]) -> Vec<QueueDelivery> {
    let known: HashSet<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
    let from = runs.iter().filter_map(|r| r.events.first()).map(|e| e.timestamp_ms).min();
    let topics: BTreeSet<&str> = all.iter().filter(|d| known.contains(d.run_id.as_str())).map(|d| d.topic.as_str()).collect();
    let (committed_runs, others): (Vec<_>, Vec<_>) = all.iter().partition(|d| known.contains(d.run_id.as_str()));
    let mut out: Vec<QueueDelivery> = committed_runs.into_iter().cloned().collect();
    // A run id another workflow committed is not a ghost; only never-committed runs count.
    if let Some(from) = from {
        out.extend(
            others
                .into_iter()
                .filter(|d| d.committed_event_id == 0 && d.at_ms >= from && (topics.is_empty() || topics.contains(d.topic.as_str())))
                .cloned(),
        );
    }
    out
}

/// The ledgers' executions of the side's orders: by the key's run, or by the ledger's order
/// id for a run the state never committed.
async fn executions(ledgers: &[LedgerSource], orders: &[OrderRef], runs: &[RunHistory]) -> Result<Vec<Execution>, CollectError> {
    let by_run: HashMap<&str, &str> = runs.iter().map(|r| (r.run_id.as_str(), r.order.as_str())).collect();
    let by_ledger_id: HashMap<&str, &str> =
        orders.iter().filter_map(|o| o.ledger_order_id.as_deref().map(|l| (l, o.workflow_id.as_str()))).collect();
    let mut out = Vec::new();
    for l in ledgers {
        let client = ServiceClient::new(&l.service, &l.base_url, Duration::from_secs(10));
        let entries = match client.ledger().await {
            Ok(e) => e,
            // This pod keeps no ledger.
            Err(CallFailure::Rejected { status: 404, .. }) => continue,
            Err(source) => return Err(CollectError::Ledger { service: l.service.clone(), source }),
        };
        for e in &entries {
            let run = e.key.rsplit_once(':').map(|(r, _)| r);
            let order = run.and_then(|r| by_run.get(r)).or_else(|| by_ledger_id.get(e.order_id.as_str()));
            if let Some(order) = order {
                out.extend(Execution::from_ledger(&l.service, order, e));
            }
        }
    }
    Ok(out)
}
