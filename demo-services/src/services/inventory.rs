//! Inventory: reserves stock for an order and releases it again (the compensation).
//!
//! Stock lives in table `stock` next to the ledger; each reservation is a row of
//! `reservations`, so a release gives back exactly what the order still holds. A SKU seen for
//! the first time starts with `initial_stock` items (`FAULTLINE_INITIAL_STOCK`, default one
//! million, so demos never run dry unless a scenario asks for it).
//!
//! - `POST /reservations` [`ReserveRequest`] -> 201 [`Reservation`]; 409 `OutOfStock`.
//! - `POST /releases` [`ReleaseRequest`] -> 201 [`Release`] (0 released if nothing was held).
//! - `GET /ledger`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use rusqlite::{params, OptionalExtension};

use super::{idempotency_key, make_id, parse_body, refuse_if_closed, reply, to_json};
use crate::api::{paths, Release, ReleaseRequest, Reservation, ReserveRequest};
use crate::error::ServiceError;
use crate::ledger::{Ledger, NewEntry};
use crate::server::ServiceSpec;

pub const SPEC: ServiceSpec = ServiceSpec {
    name: "inventory",
    default_port: 8081,
    extra_schema: "
        CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, available INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS reservations (
            reservation_id TEXT PRIMARY KEY,
            order_id TEXT NOT NULL,
            sku TEXT NOT NULL,
            quantity INTEGER NOT NULL,
            released INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX IF NOT EXISTS reservations_order ON reservations(order_id);
    ",
};

/// Default stock of a SKU seen for the first time.
pub const DEFAULT_INITIAL_STOCK: i64 = 1_000_000;
/// Most items one reservation may take.
pub const MAX_QUANTITY: u32 = 10_000;

#[derive(Clone)]
struct Inventory {
    ledger: Ledger,
    initial_stock: i64,
}

/// Reads `FAULTLINE_INITIAL_STOCK`, falling back to [`DEFAULT_INITIAL_STOCK`].
pub fn initial_stock_from_env() -> i64 {
    std::env::var("FAULTLINE_INITIAL_STOCK").ok().and_then(|v| v.trim().parse().ok()).filter(|n: &i64| *n >= 0).unwrap_or(DEFAULT_INITIAL_STOCK)
}

/// The inventory routes.
pub fn router(ledger: Ledger, initial_stock: i64) -> Router {
    let inv = Inventory { ledger: ledger.clone(), initial_stock };
    Router::new()
        .route(paths::RESERVATIONS, post(reserve))
        .route(paths::RELEASES, post(release))
        .with_state(inv)
        .merge(Router::new().route(paths::LEDGER, get(super::ledger_entries)).with_state(ledger))
}

async fn reserve(State(inv): State<Inventory>, headers: HeaderMap, body: Bytes) -> Result<Response, ServiceError> {
    let key = idempotency_key(&headers)?;
    let req: ReserveRequest = parse_body(&body)?;
    if req.quantity == 0 || req.quantity > MAX_QUANTITY {
        return Err(ServiceError::bad_request("InvalidQuantity", format!("quantity must be 1 to {MAX_QUANTITY}, got {}", req.quantity)));
    }
    if req.sku.trim().is_empty() {
        return Err(ServiceError::bad_request("InvalidSku", "sku must not be empty"));
    }
    let initial = inv.initial_stock;
    let request = to_json(&req)?;
    let recorded = inv
        .ledger
        .record_once(key, "reservation", request, move |tx, seq| {
            refuse_if_closed(tx, &req.order_id, "release", "reservation")?;
            tx.execute("INSERT OR IGNORE INTO stock (sku, available) VALUES (?1, ?2)", params![req.sku, initial])?;
            let available: i64 = tx.query_row("SELECT available FROM stock WHERE sku = ?1", [&req.sku], |r| r.get(0))?;
            let quantity = i64::from(req.quantity);
            if available < quantity {
                return Err(ServiceError::rejected(
                    "OutOfStock",
                    format!("only {available} of {} left, order {} asks for {quantity}", req.sku, req.order_id),
                ));
            }
            tx.execute("UPDATE stock SET available = available - ?1 WHERE sku = ?2", params![quantity, req.sku])?;
            let reservation_id = make_id("res", seq);
            tx.execute(
                "INSERT INTO reservations (reservation_id, order_id, sku, quantity) VALUES (?1, ?2, ?3, ?4)",
                params![reservation_id, req.order_id, req.sku, quantity],
            )?;
            let answer = Reservation { reservation_id, order_id: req.order_id.clone(), sku: req.sku, quantity: req.quantity, remaining: available - quantity };
            tracing::info!(order = %answer.order_id, reservation = %answer.reservation_id, sku = %answer.sku, quantity, "reserved");
            Ok(NewEntry { order_id: req.order_id, amount: Some(quantity), unit: Some("items".into()), response: to_json(&answer)? })
        })
        .await?;
    Ok(reply(recorded))
}

async fn release(State(inv): State<Inventory>, headers: HeaderMap, body: Bytes) -> Result<Response, ServiceError> {
    let key = idempotency_key(&headers)?;
    let req: ReleaseRequest = parse_body(&body)?;
    let request = to_json(&req)?;
    let recorded = inv
        .ledger
        .record_once(key, "release", request, move |tx, seq| {
            let held: Vec<(String, String, i64)> = {
                let mut stmt = tx.prepare("SELECT reservation_id, sku, quantity FROM reservations WHERE order_id = ?1 AND released = 0")?;
                let rows = stmt.query_map([&req.order_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut released: i64 = 0;
            for (reservation_id, sku, quantity) in &held {
                tx.execute("UPDATE stock SET available = available + ?1 WHERE sku = ?2", params![quantity, sku])?;
                tx.execute("UPDATE reservations SET released = 1 WHERE reservation_id = ?1", [reservation_id])?;
                released += quantity;
            }
            let answer = Release { release_id: make_id("rel", seq), order_id: req.order_id.clone(), released: u32::try_from(released).unwrap_or(u32::MAX) };
            tracing::info!(order = %answer.order_id, released, reason = %req.reason, "released");
            Ok(NewEntry { order_id: req.order_id, amount: Some(released), unit: Some("items".into()), response: to_json(&answer)? })
        })
        .await?;
    Ok(reply(recorded))
}

/// Items of `sku` available now (tests and audits).
pub async fn available(ledger: &Ledger, sku: &str) -> Result<Option<i64>, ServiceError> {
    let sku = sku.to_string();
    ledger
        .with_conn(move |conn| Ok(conn.query_row("SELECT available FROM stock WHERE sku = ?1", [&sku], |r| r.get(0)).optional()?))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::paths;
    use crate::services::testing::TestService;

    fn reserve_req(order: &str, qty: u32) -> ReserveRequest {
        ReserveRequest { order_id: order.into(), sku: "mug".into(), quantity: qty }
    }

    #[tokio::test]
    async fn reserve_is_idempotent_and_release_gives_back() {
        let svc = TestService::start(&SPEC, |l| router(l, 10)).await;
        let c = svc.client();
        let a = c.post::<_, Reservation>(paths::RESERVATIONS, "k1", &reserve_req("o1", 3)).await.unwrap();
        let b = c.post::<_, Reservation>(paths::RESERVATIONS, "k1", &reserve_req("o1", 3)).await.unwrap();
        assert!(!a.replayed && b.replayed);
        assert_eq!(a.value, b.value);
        assert_eq!(a.value.remaining, 7);
        assert_eq!(available(&svc.ledger, "mug").await.unwrap(), Some(7));

        let r1 = c.post::<_, Release>(paths::RELEASES, "k2", &ReleaseRequest { order_id: "o1".into(), reason: "test".into() }).await.unwrap();
        let r2 = c.post::<_, Release>(paths::RELEASES, "k2", &ReleaseRequest { order_id: "o1".into(), reason: "test".into() }).await.unwrap();
        assert_eq!(r1.value.released, 3);
        assert!(r2.replayed);
        assert_eq!(available(&svc.ledger, "mug").await.unwrap(), Some(10));
        // A second release under a new key finds nothing left to give back.
        let r3 = c.post::<_, Release>(paths::RELEASES, "k3", &ReleaseRequest { order_id: "o1".into(), reason: String::new() }).await.unwrap();
        assert_eq!(r3.value.released, 0);
        assert_eq!(available(&svc.ledger, "mug").await.unwrap(), Some(10));
        let kinds: Vec<String> = c.ledger().await.unwrap().into_iter().map(|e| e.kind).collect();
        assert_eq!(kinds, ["reservation", "release", "release"]);
    }

    #[tokio::test]
    async fn no_reservation_lands_after_the_order_was_released() {
        let svc = TestService::start(&SPEC, |l| router(l, 10)).await;
        let c = svc.client();
        // The release ran first (the order was canceled while inventory was down)...
        c.post::<_, Release>(paths::RELEASES, "k1", &ReleaseRequest { order_id: "o1".into(), reason: "canceled".into() }).await.unwrap();
        // ...so the reservation still being retried must not take stock any more.
        let err = c.post::<_, Reservation>(paths::RESERVATIONS, "k2", &reserve_req("o1", 1)).await.unwrap_err();
        assert_eq!(err.code(), Some("OrderClosed"));
        assert_eq!(available(&svc.ledger, "mug").await.unwrap(), None, "no stock was touched");
    }

    #[tokio::test]
    async fn out_of_stock_is_refused_and_not_recorded() {
        let svc = TestService::start(&SPEC, |l| router(l, 2)).await;
        let err = svc.client().post::<_, Reservation>(paths::RESERVATIONS, "k1", &reserve_req("o1", 3)).await.unwrap_err();
        assert_eq!(err.code(), Some("OutOfStock"));
        assert!(matches!(err, crate::client::CallFailure::Rejected { status: 409, .. }));
        assert!(svc.client().ledger().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn missing_key_and_bad_json_answer_json_400() {
        let svc = TestService::start(&SPEC, |l| router(l, 2)).await;
        let http = reqwest::Client::new();
        let resp = http.post(format!("{}{}", svc.base, paths::RESERVATIONS)).json(&reserve_req("o1", 1)).send().await.unwrap();
        assert_eq!(resp.status(), 400);
        let body: crate::error::ErrorBody = resp.json().await.unwrap();
        assert_eq!(body.error, "MissingIdempotencyKey");
        let resp = http.post(format!("{}{}", svc.base, paths::RESERVATIONS)).header("Idempotency-Key", "k").body("{").send().await.unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.json::<crate::error::ErrorBody>().await.unwrap().error, "BadJson");
    }
}
