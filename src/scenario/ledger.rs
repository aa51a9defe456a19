//! The side-effect audit: reads every service's ledger over HTTP (`GET /ledger`, and on the
//! payment service `GET /ledger/orders`) and finds double charges and duplicated effects.
//!
//! No pod name is assumed: every pod with a published port is asked, and a pod that answers
//! 404 simply keeps no ledger (the engine, the worker). The fetching is I/O; the verdicts
//! ([`duplicates`], [`charge_verdict`]) are pure functions tested on their own.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use faultline_demo::api::{paths, OrderBalance};
use faultline_demo::ledger::Entry;

/// Ledgers of the run's orders, per service.
#[derive(Debug, Clone, Default)]
pub struct LedgerSnapshot {
    /// (pod, entries of the run's orders).
    pub entries: Vec<(String, Vec<Entry>)>,
    /// order id -> its money, from the service that keeps balances.
    pub balances: BTreeMap<String, OrderBalance>,
    /// Whether some service answered the balances endpoint at all.
    pub has_balances: bool,
}

/// Fetches the ledgers from `(pod, base url)` pairs, keeping only entries of `orders`.
pub async fn fetch(urls: &[(String, String)], orders: &HashSet<String>) -> Result<LedgerSnapshot, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut snap = LedgerSnapshot::default();
    for (pod, base) in urls {
        if let Some(entries) = get_json::<Vec<Entry>>(&http, &format!("{base}{}", paths::LEDGER)).await.map_err(|e| format!("{pod}: {e}"))? {
            snap.entries.push((pod.clone(), entries.into_iter().filter(|e| orders.contains(&e.order_id)).collect()));
        }
        if let Some(b) = get_json::<Vec<OrderBalance>>(&http, &format!("{base}{}", paths::BALANCES)).await.map_err(|e| format!("{pod}: {e}"))? {
            snap.has_balances = true;
            for b in b.into_iter().filter(|b| orders.contains(&b.order_id)) {
                snap.balances.insert(b.order_id.clone(), b);
            }
        }
    }
    Ok(snap)
}

/// `Ok(None)` on 404 (this pod keeps no such ledger); an error when unreachable.
async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<Option<T>, String> {
    // A pod that was just restarted may take a moment; a few quick retries keep the audit
    // from failing on that alone.
    let mut last = String::new();
    for attempt in 0..5u32 {
        match http.get(url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
            Ok(r) if r.status().is_success() => {
                return r.json::<T>().await.map(Some).map_err(|e| format!("GET {url}: unexpected answer: {e}"));
            }
            Ok(r) => last = format!("GET {url}: HTTP {}", r.status()),
            Err(e) => last = format!("GET {url}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200 * (attempt as u64 + 1))).await;
    }
    Err(format!("{last}; is the pod running?"))
}

/// Effects recorded twice: same service, order, kind and request under different keys.
/// (A replay with the same key never makes a second row, so a second row means the work was
/// really done twice.) Returns human-readable lines.
pub fn duplicates(snap: &LedgerSnapshot) -> Vec<String> {
    let mut out = Vec::new();
    for (pod, entries) in &snap.entries {
        let mut seen: BTreeMap<(String, String, String), &Entry> = BTreeMap::new();
        for e in entries {
            let k = (e.order_id.clone(), e.kind.clone(), e.request.to_string());
            if let Some(first) = seen.get(&k) {
                out.push(format!("{pod}: {} {} twice (keys {} and {})", e.kind, e.order_id, first.key, e.key));
            } else {
                seen.insert(k, e);
            }
        }
    }
    out
}

/// The verdict of "each order charged exactly once": completed orders have exactly one charge
/// and no refund; no order has more than one charge. Returns (orders ok, problems).
pub fn charge_verdict(snap: &LedgerSnapshot, completed: &[String], all: &[String]) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let mut ok = 0;
    for id in all {
        let b = snap.balances.get(id);
        let charges = b.map_or(0, |b| b.charges);
        if charges > 1 {
            problems.push(format!("{id} charged {charges} times"));
            continue;
        }
        if completed.contains(id) {
            match b {
                Some(b) if b.charges == 1 && b.refunds == 0 => ok += 1,
                Some(b) => problems.push(format!("{id} completed with {} charge(s) and {} refund(s)", b.charges, b.refunds)),
                None => problems.push(format!("{id} completed but was never charged")),
            }
        }
    }
    (ok, problems)
}
