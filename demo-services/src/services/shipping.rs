//! Shipping: creates a shipping label for an order, then dispatches the parcel.
//!
//! - `POST /labels` [`LabelRequest`] -> 201 [`Label`] with a tracking number.
//! - `POST /dispatches` [`DispatchRequest`] -> 201 [`Dispatch`]; 409 `UnknownLabel` when the
//!   label was never created (or belongs to another order).
//! - `GET /ledger`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use rusqlite::{params, OptionalExtension};

use super::{idempotency_key, make_id, parse_body, reply, to_json};
use crate::api::{paths, Dispatch, DispatchRequest, Label, LabelRequest};
use crate::error::ServiceError;
use crate::ledger::{Ledger, NewEntry};
use crate::server::ServiceSpec;

pub const SPEC: ServiceSpec = ServiceSpec { name: "shipping", default_port: 8083, extra_schema: "" };

/// The shipping routes.
pub fn router(ledger: Ledger) -> Router {
    Router::new()
        .route(paths::LABELS, post(create_label))
        .route(paths::DISPATCHES, post(dispatch))
        .route(paths::LEDGER, get(super::ledger_entries))
        .with_state(ledger)
}

async fn create_label(State(ledger): State<Ledger>, headers: HeaderMap, body: Bytes) -> Result<Response, ServiceError> {
    let key = idempotency_key(&headers)?;
    let req: LabelRequest = parse_body(&body)?;
    let request = to_json(&req)?;
    let recorded = ledger
        .record_once(key, "label", request, move |_tx, seq| {
            let answer = Label {
                label_id: make_id("lbl", seq),
                order_id: req.order_id.clone(),
                // A made-up but well-formed tracking number, unique per label.
                tracking_number: format!("FL{:010}DE", 7_340_000_000 + seq),
            };
            tracing::info!(order = %answer.order_id, label = %answer.label_id, tracking = %answer.tracking_number, "label created");
            Ok(NewEntry { order_id: req.order_id, amount: Some(i64::from(req.quantity)), unit: Some("items".into()), response: to_json(&answer)? })
        })
        .await?;
    Ok(reply(recorded))
}

async fn dispatch(State(ledger): State<Ledger>, headers: HeaderMap, body: Bytes) -> Result<Response, ServiceError> {
    let key = idempotency_key(&headers)?;
    let req: DispatchRequest = parse_body(&body)?;
    let request = to_json(&req)?;
    let recorded = ledger
        .record_once(key, "dispatch", request, move |tx, seq| {
            let label: Option<String> = tx
                .query_row(
                    "SELECT response FROM ledger WHERE kind = 'label' AND order_id = ?1 AND json_extract(response, '$.label_id') = ?2",
                    params![req.order_id, req.label_id],
                    |r| r.get(0),
                )
                .optional()?;
            let label: Label = label.and_then(|l| serde_json::from_str(&l).ok()).ok_or_else(|| {
                ServiceError::rejected("UnknownLabel", format!("no label {} for order {}; create the label first", req.label_id, req.order_id))
            })?;
            let answer = Dispatch {
                dispatch_id: make_id("dsp", seq),
                order_id: req.order_id.clone(),
                label_id: req.label_id,
                tracking_number: label.tracking_number,
            };
            tracing::info!(order = %answer.order_id, tracking = %answer.tracking_number, "dispatched");
            Ok(NewEntry { order_id: req.order_id, amount: None, unit: None, response: to_json(&answer)? })
        })
        .await?;
    Ok(reply(recorded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testing::TestService;

    #[tokio::test]
    async fn label_and_dispatch_are_idempotent() {
        let svc = TestService::start(&SPEC, router).await;
        let c = svc.client();
        let req = LabelRequest { order_id: "o1".into(), sku: "mug".into(), quantity: 2 };
        let a = c.post::<_, Label>(paths::LABELS, "l1", &req).await.unwrap();
        let b = c.post::<_, Label>(paths::LABELS, "l1", &req).await.unwrap();
        assert_eq!(a.value, b.value);
        assert!(b.replayed);
        let d = DispatchRequest { order_id: "o1".into(), label_id: a.value.label_id.clone() };
        let d1 = c.post::<_, Dispatch>(paths::DISPATCHES, "d1", &d).await.unwrap();
        let d2 = c.post::<_, Dispatch>(paths::DISPATCHES, "d1", &d).await.unwrap();
        assert_eq!(d1.value.tracking_number, a.value.tracking_number);
        assert!(d2.replayed);
        assert_eq!(c.ledger().await.unwrap().len(), 2);
        assert_eq!(c.ledger_of("o1").await.unwrap().len(), 2);
        assert!(c.ledger_of("o 2&x").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn dispatch_without_label_is_refused() {
        let svc = TestService::start(&SPEC, router).await;
        let d = DispatchRequest { order_id: "o1".into(), label_id: "lbl_000042".into() };
        let err = svc.client().post::<_, Dispatch>(paths::DISPATCHES, "d1", &d).await.unwrap_err();
        assert_eq!(err.code(), Some("UnknownLabel"));
    }
}
