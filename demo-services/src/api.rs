//! Request and response bodies of the four services, shared by the services themselves,
//! the order activities that call them, and any auditor (scenario runner, tests).
//!
//! Every mutating endpoint is a POST with a JSON body and an `Idempotency-Key` header; the
//! answer is 201 for a new effect and 200 (with `Idempotent-Replayed: true`) for a replay.

use serde::{Deserialize, Deserializer, Serialize};

/// The header that carries the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// Set to `true` on an answer replayed from the ledger.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// Endpoint paths.
pub mod paths {
    pub const LEDGER: &str = "/ledger";
    pub const RESERVATIONS: &str = "/reservations";
    pub const RELEASES: &str = "/releases";
    pub const CHARGES: &str = "/charges";
    pub const REFUNDS: &str = "/refunds";
    /// Payment: per-order totals of charges and refunds.
    pub const BALANCES: &str = "/ledger/orders";
    pub const LABELS: &str = "/labels";
    pub const DISPATCHES: &str = "/dispatches";
    pub const MESSAGES: &str = "/messages";
}

/// `POST /reservations` (inventory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveRequest {
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub reservation_id: String,
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
    /// Stock of the SKU left after this reservation.
    pub remaining: i64,
}

/// `POST /releases` (inventory): gives back every reservation of the order not yet released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub order_id: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub release_id: String,
    pub order_id: String,
    /// Items put back into stock (0 when nothing was reserved).
    pub released: u32,
}

/// `POST /charges` (payment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeRequest {
    pub order_id: String,
    /// Decimal amount as shown to the customer, e.g. `"19.99"` (a JSON number is accepted too).
    #[serde(deserialize_with = "string_or_number")]
    pub amount: String,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub charge_id: String,
    pub order_id: String,
    /// The charged amount, decimal.
    pub amount: String,
    /// The charged amount in minor units (cents).
    pub amount_minor: i64,
    pub currency: String,
}

/// `POST /refunds` (payment): refunds what is left of the order's charges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub order_id: String,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: String,
    pub order_id: String,
    /// Refunded minor units (0 when nothing was charged).
    pub amount_minor: i64,
    pub amount: String,
    pub currency: String,
}

/// One order's money, from `GET /ledger/orders` (payment). An order processed correctly has
/// `charges == 1` and `net_minor` equal to its amount, or `net_minor == 0` once compensated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderBalance {
    pub order_id: String,
    pub currency: String,
    pub charges: u32,
    pub refunds: u32,
    pub charged_minor: i64,
    pub refunded_minor: i64,
    pub net_minor: i64,
}

/// `POST /labels` (shipping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRequest {
    pub order_id: String,
    pub sku: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub label_id: String,
    pub order_id: String,
    pub tracking_number: String,
}

/// `POST /dispatches` (shipping).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRequest {
    pub order_id: String,
    pub label_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispatch {
    pub dispatch_id: String,
    pub order_id: String,
    pub label_id: String,
    pub tracking_number: String,
}

/// `POST /messages` (notification).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    pub order_id: String,
    /// `email` or `sms`.
    pub channel: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message_id: String,
    pub order_id: String,
    pub channel: String,
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Amount {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Amount::deserialize(d)? {
        Amount::Text(s) => s,
        Amount::Number(n) => n.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_accepts_string_or_number() {
        let a: ChargeRequest = serde_json::from_str(r#"{"order_id":"o","amount":"19.99","currency":"EUR"}"#).unwrap();
        let b: ChargeRequest = serde_json::from_str(r#"{"order_id":"o","amount":19.99,"currency":"EUR"}"#).unwrap();
        assert_eq!(a, b);
    }
}
