//! The orders of a run, generated deterministically from the workload's seed.
//!
//! Orders are products of the demo catalog (`faultline_demo::order::catalog`) in chosen
//! quantities, optionally only those whose amount hits (or misses) the payment v1 bug.
//! The same seed gives the same orders in the same order on every machine (ChaCha8, whose
//! output is fixed by its specification, unlike `StdRng`). Only the workflow ids carry a
//! per-run tag, so repeated runs against one engine database never collide.

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use faultline_demo::money::{parse_minor, Currency};
use faultline_sdk::proto::DEFAULT_TASK_TIMEOUT_MS;
use faultline_demo::order::{catalog, order_workflow_id, OrderInput};

use super::model::{BugFilter, Scenario, Workload};

/// One order of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    /// 1-based position in the workload (what `orders = [1, 3]` refers to).
    pub number: u32,
    /// The demo's order id (what the ledgers record).
    pub order_id: String,
    /// `order-<order_id>`.
    pub workflow_id: String,
    pub sku: String,
    pub quantity: u32,
    /// Exact decimal total in EUR, e.g. `"39.98"`.
    pub amount: String,
    /// Whether payment v1 fails this amount (known in advance, so conditions can count on it).
    pub hits_v1_bug: bool,
    /// Whether the amount is over the workload's approval threshold.
    pub needs_approval: bool,
}

impl OrderPlan {
    /// The `Order` workflow's input, with the workload's threshold and timing at `speed`.
    pub fn input(&self, w: &Workload, speed: f64) -> OrderInput {
        let mut input = OrderInput::new(&self.order_id, &self.sku, self.quantity, &self.amount);
        input.approval_threshold = w.approval_threshold.clone();
        input.timing = w.timing.to_order_timing(speed);
        input
    }
}

/// The (sku, quantity, amount) choices that pass the workload's bug filter, in a fixed order.
pub fn candidates(products: &[(String, String)], quantities: &[u32], filter: BugFilter) -> Vec<(String, u32, String)> {
    let mut out = Vec::new();
    for (sku, price) in products {
        for q in quantities {
            let Some(amount) = catalog::total(price, *q) else { continue };
            let hit = catalog::hits_v1_bug(&amount);
            let keep = match filter {
                BugFilter::Any => true,
                BugFilter::All => hit,
                BugFilter::None => !hit,
            };
            if keep {
                out.push((sku.clone(), *q, amount));
            }
        }
    }
    out
}

/// Every order of the workload, in start order. `run_tag` makes the ids unique per run.
pub fn generate(scenario_name: &str, run_tag: &str, w: &Workload) -> Vec<OrderPlan> {
    let choices = candidates(&w.products, &w.quantities, w.payment_bug);
    let mut rng = ChaCha8Rng::seed_from_u64(w.seed);
    (1..=w.orders)
        .filter_map(|number| {
            // Validation guarantees at least one choice; an empty list yields no orders.
            let (sku, quantity, amount) = choices.get(rng.random_range(0..choices.len().max(1)))?.clone();
            let hits_v1_bug = catalog::hits_v1_bug(&amount);
            let needs_approval = over(&amount, &w.approval_threshold);
            let order_id = format!("{scenario_name}-{run_tag}-{number:03}");
            let workflow_id = order_workflow_id(&order_id);
            Some(OrderPlan { number, order_id, workflow_id, sku, quantity, amount, hits_v1_bug, needs_approval })
        })
        .collect()
}

/// Gap between two order starts at `rate` orders per second, scaled by `speed`.
pub fn start_interval(w: &Workload, speed: f64) -> Duration {
    let per = if w.rate > 0.0 { 1.0 / w.rate } else { 0.5 };
    Scenario::scale(Duration::from_secs_f64(per.min(3600.0)), speed)
}

/// The engine's workflow-task timeout when a run sets none.
pub const ENGINE_TASK_TIMEOUT: Duration = Duration::from_millis(DEFAULT_TASK_TIMEOUT_MS);
/// Below this a busy machine would time out healthy workflow tasks.
pub const MIN_TASK_TIMEOUT: Duration = Duration::from_secs(1);

/// The workflow-task timeout of the orders at `speed`: the engine's default scaled like every
/// other duration of the run, so a task lost with a killed worker comes back as much sooner
/// as the rest of the story, but never under [`MIN_TASK_TIMEOUT`].
pub fn task_timeout(speed: f64) -> Duration {
    Scenario::scale(ENGINE_TASK_TIMEOUT, speed).max(MIN_TASK_TIMEOUT)
}

/// A short random tag for the ids of one run (not from the seed: runs must not collide).
pub fn run_tag() -> String {
    let n: u32 = rand::rng().random();
    format!("{:06x}", n & 0xff_ffff)
}

/// Whether decimal `amount` is strictly over decimal `threshold` (EUR, exact).
pub fn over(amount: &str, threshold: &str) -> bool {
    let eur = Currency { code: "EUR", exponent: 2 };
    match (parse_minor(amount, eur), parse_minor(threshold, eur)) {
        (Ok(a), Ok(t)) => a > t,
        _ => false,
    }
}
