//! The order flow: inputs and outputs, names, and the registration of its workflows and
//! activities on a worker.
//!
//! Layout:
//! - this file: [`OrderInput`] (with [`OrderTiming`], every duration of the flow, so a
//!   scenario's `--speed` can scale them), [`OrderOutput`], the workflow, activity and signal
//!   names, [`register`] and small client helpers ([`start_order`], [`approve`]).
//! - [`workflow`]: the `Order` and `Shipment` workflows (deterministic code on the SDK).
//! - [`activities`]: the activities, which call the services with the SDK's idempotency key.
//! - [`catalog`]: realistic products and a deterministic order generator.
//!
//! The flow: reserve inventory, charge payment, wait for an `approve` signal when the amount is
//! over the threshold (or time out), ship in the child workflow `Shipment` (label, durable
//! "courier pickup" timer, dispatch), notify. When a step fails for good, the approval is
//! refused or times out, or the order is canceled: refund and release, then fail (or cancel).

pub mod activities;
pub mod catalog;
pub mod workflow;

use std::time::Duration;

use faultline_sdk::proto::{IdConflictPolicy, StartWorkflowResponse};
use faultline_sdk::{Client, ClientError, StartOptions, Worker};
use serde::{Deserialize, Serialize};

pub use activities::ServiceUrls;

/// Workflow type of an order.
pub const ORDER_WORKFLOW: &str = "Order";
/// Workflow type of an order's shipment (a child of `Order`).
pub const SHIPMENT_WORKFLOW: &str = "Shipment";
/// Signal that approves (or, with `{"approved": false}`, rejects) an order over the threshold.
pub const APPROVE_SIGNAL: &str = "approve";
/// Default task queue of the order flow.
pub const TASK_QUEUE: &str = "orders";

/// Activity types, as they appear in histories.
pub mod activity_types {
    pub const RESERVE_INVENTORY: &str = "ReserveInventory";
    pub const CHARGE_PAYMENT: &str = "ChargePayment";
    pub const CREATE_LABEL: &str = "CreateShippingLabel";
    pub const DISPATCH_PARCEL: &str = "DispatchParcel";
    pub const SEND_NOTIFICATION: &str = "SendNotification";
    pub const REFUND_PAYMENT: &str = "RefundPayment";
    pub const RELEASE_INVENTORY: &str = "ReleaseInventory";
}

/// Error types with which the order workflow fails.
pub mod error_types {
    /// The input cannot be an order (bad amount, zero quantity ...). Nothing was done.
    pub const INVALID_ORDER: &str = "InvalidOrder";
    /// No approval arrived in time; the order was compensated.
    pub const APPROVAL_TIMED_OUT: &str = "ApprovalTimedOut";
    /// The approval signal said no; the order was compensated.
    pub const APPROVAL_REJECTED: &str = "ApprovalRejected";
    /// A step failed for good; the order was compensated.
    pub const ORDER_FAILED: &str = "OrderFailed";
    /// A compensation itself failed for good: someone must look at the ledgers.
    pub const COMPENSATION_FAILED: &str = "CompensationFailed";
}

/// Every duration of the order flow, in milliseconds. Defaults suit a live demo at speed 1;
/// [`OrderTiming::scaled`] divides them for a faster scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderTiming {
    /// First retry interval of every activity.
    pub retry_initial_ms: u64,
    /// Growth of the retry interval per attempt.
    pub retry_backoff: f64,
    /// Cap of the retry interval.
    pub retry_max_ms: u64,
    /// Limit of one activity attempt, start to close.
    pub activity_timeout_ms: u64,
    /// The durable "courier pickup" timer between label and dispatch.
    pub pickup_delay_ms: u64,
    /// How long an order over the threshold waits for its `approve` signal.
    pub approval_timeout_ms: u64,
}

impl Default for OrderTiming {
    fn default() -> Self {
        Self {
            retry_initial_ms: 1_000,
            retry_backoff: 2.0,
            retry_max_ms: 10_000,
            activity_timeout_ms: 10_000,
            pickup_delay_ms: 5_000,
            approval_timeout_ms: 60_000,
        }
    }
}

impl OrderTiming {
    /// Every duration divided by `speed` (>= 1 is faster), each at least 1 ms. The activity
    /// timeout never drops below 1 s, so a fast scenario does not time out healthy HTTP calls.
    pub fn scaled(&self, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 { speed } else { 1.0 };
        let div = |ms: u64| ((ms as f64 / speed).round() as u64).max(1);
        Self {
            retry_initial_ms: div(self.retry_initial_ms),
            retry_backoff: self.retry_backoff,
            retry_max_ms: div(self.retry_max_ms),
            activity_timeout_ms: div(self.activity_timeout_ms).max(1_000),
            pickup_delay_ms: div(self.pickup_delay_ms),
            approval_timeout_ms: div(self.approval_timeout_ms),
        }
    }
}

fn default_currency() -> String {
    "EUR".into()
}

fn default_threshold() -> String {
    DEFAULT_APPROVAL_THRESHOLD.into()
}

/// Orders above this amount need an `approve` signal (in the order's currency).
pub const DEFAULT_APPROVAL_THRESHOLD: &str = "250.00";

/// Input of the `Order` workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderInput {
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
    /// Decimal total, e.g. `"19.99"`.
    pub amount: String,
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Orders with `amount` above this wait for approval. Decimal, default `"250.00"`.
    #[serde(default = "default_threshold")]
    pub approval_threshold: String,
    #[serde(default)]
    pub timing: OrderTiming,
}

impl OrderInput {
    /// An order with default currency, threshold and timing.
    pub fn new(order_id: impl Into<String>, sku: impl Into<String>, quantity: u32, amount: impl Into<String>) -> Self {
        Self {
            order_id: order_id.into(),
            sku: sku.into(),
            quantity,
            amount: amount.into(),
            currency: default_currency(),
            approval_threshold: default_threshold(),
            timing: OrderTiming::default(),
        }
    }

    /// The `n`-th order of the catalog's deterministic stream (about 45% hit the v1 bug).
    pub fn sample(order_id: impl Into<String>, n: u64) -> Self {
        let (sku, quantity, amount) = catalog::sample(n);
        Self::new(order_id, sku, quantity, amount)
    }

    /// The workflow id of this order: `order-<order_id>`.
    pub fn workflow_id(&self) -> String {
        order_workflow_id(&self.order_id)
    }
}

/// The workflow id of an order: `order-<order_id>`.
pub fn order_workflow_id(order_id: &str) -> String {
    format!("order-{order_id}")
}

/// Payload of the `approve` signal. `null`, `true` and `{}` approve; `false` and
/// `{"approved": false}` reject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    #[serde(default = "yes")]
    pub approved: bool,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

fn yes() -> bool {
    true
}

impl Approval {
    /// Reads any reasonable payload of the `approve` signal.
    pub fn from_payload(payload: &serde_json::Value) -> Approval {
        match payload {
            serde_json::Value::Bool(approved) => Approval { approved: *approved, by: None, note: None },
            serde_json::Value::String(by) => Approval { approved: true, by: Some(by.clone()), note: None },
            other => serde_json::from_value(other.clone()).unwrap_or(Approval { approved: true, by: None, note: None }),
        }
    }
}

/// Result of the `Shipment` workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentOutput {
    pub label_id: String,
    pub tracking_number: String,
    pub dispatch_id: String,
}

/// Input of the `Shipment` workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShipmentInput {
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
    #[serde(default)]
    pub timing: OrderTiming,
}

/// Result of a completed `Order` workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOutput {
    pub order_id: String,
    pub reservation_id: String,
    pub charge_id: String,
    /// What was charged, decimal, and in minor units.
    pub charged: String,
    pub charged_minor: i64,
    pub currency: String,
    pub shipment: ShipmentOutput,
    pub message_id: String,
    /// Who approved, for an order over the threshold.
    pub approved_by: Option<String>,
}

/// Registers the `Order` and `Shipment` workflows and every activity they use on `worker`,
/// with the activities calling the services at `urls`.
pub fn register(worker: &mut Worker, urls: ServiceUrls) {
    worker.register_workflow(ORDER_WORKFLOW, workflow::order).register_workflow(SHIPMENT_WORKFLOW, workflow::shipment);
    activities::register(worker, urls);
}

/// The signal an `Order` run waits for when its pending timer is the approval timeout (the
/// only timer an `Order` starts), read from the run's input: what a screen shows instead of a
/// bare timer. `None` for any other workflow or timer.
pub fn awaited_signal(workflow_type: &str, input: &serde_json::Value, timer_ms: u64) -> Option<&'static str> {
    let timeout = input.get("timing")?.get("approval_timeout_ms")?.as_u64()?;
    (workflow_type == ORDER_WORKFLOW && timeout == timer_ms).then_some(APPROVE_SIGNAL)
}

/// Starts the order (workflow id `order-<order_id>`); starting it again returns the running one.
pub async fn start_order(client: &Client, task_queue: &str, input: &OrderInput) -> Result<StartWorkflowResponse, ClientError> {
    let mut opts = StartOptions::new(input.workflow_id(), task_queue);
    opts.id_conflict = IdConflictPolicy::UseExisting;
    client.start_workflow(opts, ORDER_WORKFLOW, input).await
}

/// Approves an order waiting over the threshold.
pub async fn approve(client: &Client, order_id: &str, by: &str) -> Result<(), ClientError> {
    let approval = Approval { approved: true, by: Some(by.to_string()), note: None };
    client.signal(&order_workflow_id(order_id), APPROVE_SIGNAL, &approval).await
}

/// Waits for the order's result.
pub async fn order_result(client: &Client, order_id: &str, timeout: Duration) -> Result<OrderOutput, ClientError> {
    client.result(&order_workflow_id(order_id), timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_defaults_and_scaling() {
        let input: OrderInput = serde_json::from_value(json!({"order_id": "o1", "sku": "mug", "quantity": 1, "amount": "12.99"})).unwrap();
        assert_eq!((input.currency.as_str(), input.approval_threshold.as_str()), ("EUR", "250.00"));
        assert_eq!(input.timing, OrderTiming::default());
        let fast = OrderTiming::default().scaled(10.0);
        assert_eq!((fast.retry_initial_ms, fast.retry_max_ms, fast.pickup_delay_ms, fast.approval_timeout_ms), (100, 1_000, 500, 6_000));
        assert_eq!(fast.activity_timeout_ms, 1_000);
        assert_eq!(OrderTiming::default().scaled(f64::NAN), OrderTiming::default());
    }

    #[test]
    fn approval_payloads() {
        assert!(Approval::from_payload(&json!(null)).approved);
        assert!(Approval::from_payload(&json!(true)).approved);
        assert!(Approval::from_payload(&json!({})).approved);
        assert!(!Approval::from_payload(&json!(false)).approved);
        assert!(!Approval::from_payload(&json!({"approved": false, "by": "risk"})).approved);
        assert_eq!(Approval::from_payload(&json!("alice")).by.as_deref(), Some("alice"));
    }
}
