//! The demo payment service: charges an order and refunds it (the compensation). The
//! workshop bug lives in this file, in a crate of its own so that fixing it recompiles this
//! crate and nothing else.
//!
//! - `POST /charges` [`ChargeRequest`] -> 201 [`Charge`]; 400 `InvalidAmount`,
//!   400 `UnsupportedCurrency`; 500 `AmountMismatch` when the amount about to be charged is
//!   not the amount the customer saw (the service refuses rather than charge a wrong amount).
//! - `POST /refunds` [`RefundRequest`] -> 201 [`Refund`] of whatever is left of the order's
//!   charges (0 when nothing was charged, so a compensation can always run).
//! - `GET /ledger`, and `GET /ledger/orders` ([`OrderBalance`] per order) to audit
//!   "each order charged exactly once, net of refunds".
//!
//! Two builds come from this one source: `payment` (v1-bugged) and `payment-v2` (v2-fixed),
//! the binaries in `src/bin/`. They differ only in the [`PaymentBuild`] their `main` passes
//! in. The shared server parts (ledger, money, API types, handler helpers) come from
//! `faultline-demo`. See the workshop section of demo-services/README.md.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::params;

use faultline_demo::api::{paths, Charge, ChargeRequest, OrderBalance, Refund, RefundRequest};
use faultline_demo::error::ServiceError;
use faultline_demo::ledger::{Ledger, NewEntry};
use faultline_demo::money::{self, Currency};
use faultline_demo::server::ServiceSpec;
use faultline_demo::services::{idempotency_key, ledger_entries, make_id, parse_body, refuse_if_closed, reply, to_json};

pub const SPEC: ServiceSpec = ServiceSpec { name: "payment", default_port: 8082, extra_schema: "" };

/// Which build of the payment service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentBuild {
    /// The image tagged `v1-bugged`.
    V1Bugged,
    /// The image tagged `v2-fixed`.
    V2Fixed,
}

impl PaymentBuild {
    /// The image tag of this build, also shown by `/healthz`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::V1Bugged => "v1-bugged",
            Self::V2Fixed => "v2-fixed",
        }
    }
}

#[derive(Clone)]
struct Payment {
    ledger: Ledger,
    build: PaymentBuild,
}

/// The payment routes.
pub fn router(ledger: Ledger, build: PaymentBuild) -> Router {
    Router::new()
        .route(paths::CHARGES, post(charge))
        .route(paths::REFUNDS, post(refund))
        .with_state(Payment { ledger: ledger.clone(), build })
        .merge(
            Router::new()
                .route(paths::LEDGER, get(ledger_entries))
                .route(paths::BALANCES, get(balances))
                .with_state(ledger),
        )
}

fn invalid_amount(e: money::AmountError) -> ServiceError {
    ServiceError::bad_request("InvalidAmount", e.to_string())
}

/// The order's decimal amount in the card processor's minor units (cents for EUR).
pub fn to_minor_units(amount: &str, currency: Currency, build: PaymentBuild) -> Result<i64, ServiceError> {
    if build == PaymentBuild::V2Fixed {
        return money::parse_minor(amount, currency).map_err(invalid_amount);
    }
    let value: f64 = amount.trim().parse().map_err(|_| invalid_amount(money::AmountError::NotDecimal(amount.into())))?;
    if !value.is_finite() || value <= 0.0 || value >= 1e12 {
        return Err(invalid_amount(money::AmountError::NotPositive(amount.into())));
    }
    // Whole units and the cents, as the processor's API has them.
    let units = value.trunc() as i64;
    let cents = (value.fract() * currency.scale() as f64) as i64;
    Ok(units * currency.scale() + cents)
}

/// Refuses to charge an amount that is not, to the minor unit, the amount the customer saw.
pub fn check_consistent(order_id: &str, amount: &str, minor: i64, currency: Currency) -> Result<(), ServiceError> {
    let shown: f64 = amount.trim().parse().unwrap_or(f64::NAN);
    let scale = currency.scale() as f64;
    let charged = minor as f64 / scale;
    if (charged - shown).abs() < 0.5 / scale {
        return Ok(());
    }
    Err(ServiceError::internal(
        "AmountMismatch",
        format!(
            "amount mismatch on order {order_id}: the order says {amount} {code} but the charge came to {minor} minor units \
             ({charged_text} {code}); refused to charge a wrong amount",
            code = currency.code,
            charged_text = money::format_minor(minor, currency),
        ),
    ))
}

async fn charge(State(pay): State<Payment>, headers: HeaderMap, body: Bytes) -> Result<Response, ServiceError> {
    let key = idempotency_key(&headers)?;
    let req: ChargeRequest = parse_body(&body)?;
    let currency = Currency::parse(&req.currency).ok_or_else(|| {
        ServiceError::bad_request("UnsupportedCurrency", format!("currency {:?} is not supported; use one of {}", req.currency, Currency::supported()))
    })?;
    let request = to_json(&req)?;
    let build = pay.build;
    let recorded = pay
        .ledger
        .record_once(key, "charge", request, move |tx, seq| {
            refuse_if_closed(tx, &req.order_id, "refund", "charge")?;
            let minor = to_minor_units(&req.amount, currency, build)?;
            check_consistent(&req.order_id, &req.amount, minor, currency)?;
            let answer = Charge {
                charge_id: make_id("ch", seq),
                order_id: req.order_id.clone(),
                amount: money::format_minor(minor, currency),
                amount_minor: minor,
                currency: currency.code.to_string(),
            };
            tracing::info!(order = %answer.order_id, charge = %answer.charge_id, amount = %answer.amount, currency = currency.code, "charged");
            Ok(NewEntry { order_id: req.order_id, amount: Some(minor), unit: Some(currency.code.into()), response: to_json(&answer)? })
        })
        .await?;
    Ok(reply(recorded))
}

async fn refund(State(pay): State<Payment>, headers: HeaderMap, body: Bytes) -> Result<Response, ServiceError> {
    let key = idempotency_key(&headers)?;
    let req: RefundRequest = parse_body(&body)?;
    let request = to_json(&req)?;
    let recorded = pay
        .ledger
        .record_once(key, "refund", request, move |tx, seq| {
            let (net, unit): (i64, Option<String>) = tx.query_row(
                "SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount WHEN 'refund' THEN -amount ELSE 0 END), 0),
                        MAX(CASE kind WHEN 'charge' THEN unit END)
                 FROM ledger WHERE order_id = ?1",
                params![req.order_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let currency = unit.as_deref().and_then(Currency::parse).unwrap_or(Currency { code: "EUR", exponent: 2 });
            let refunded = net.max(0);
            let answer = Refund {
                refund_id: make_id("re", seq),
                order_id: req.order_id.clone(),
                amount_minor: refunded,
                amount: money::format_minor(refunded, currency),
                currency: currency.code.to_string(),
            };
            tracing::info!(order = %answer.order_id, refund = %answer.refund_id, amount = %answer.amount, reason = %req.reason, "refunded");
            Ok(NewEntry { order_id: req.order_id, amount: Some(refunded), unit: Some(currency.code.into()), response: to_json(&answer)? })
        })
        .await?;
    Ok(reply(recorded))
}

async fn balances(State(ledger): State<Ledger>) -> Result<Json<Vec<OrderBalance>>, ServiceError> {
    let rows = ledger
        .with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT order_id, COALESCE(MAX(unit), ''),
                        SUM(kind = 'charge'), SUM(kind = 'refund'),
                        COALESCE(SUM(CASE kind WHEN 'charge' THEN amount END), 0),
                        COALESCE(SUM(CASE kind WHEN 'refund' THEN amount END), 0)
                 FROM ledger GROUP BY order_id ORDER BY MIN(seq)",
            )?;
            let rows = stmt.query_map([], |r| {
                let charged: i64 = r.get(4)?;
                let refunded: i64 = r.get(5)?;
                Ok(OrderBalance {
                    order_id: r.get(0)?,
                    currency: r.get(1)?,
                    charges: r.get(2)?,
                    refunds: r.get(3)?,
                    charged_minor: charged,
                    refunded_minor: refunded,
                    net_minor: charged - refunded,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(Json(rows))
}

#[cfg(test)]
mod tests;
