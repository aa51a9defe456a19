//! Notification: sends a message about an order (recorded, not really delivered).
//!
//! - `POST /messages` [`MessageRequest`] -> 201 [`Message`]; 400 `UnknownChannel`.
//! - `GET /ledger`: every message "sent", so a scenario can check nobody got two.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use super::{idempotency_key, make_id, parse_body, reply, to_json};
use crate::api::{paths, Message, MessageRequest};
use crate::error::ServiceError;
use crate::ledger::{Ledger, NewEntry};
use crate::server::ServiceSpec;

pub const SPEC: ServiceSpec = ServiceSpec { name: "notification", default_port: 8084, extra_schema: "" };

const CHANNELS: &[&str] = &["email", "sms"];

/// The notification routes.
pub fn router(ledger: Ledger) -> Router {
    Router::new().route(paths::MESSAGES, post(send)).route(paths::LEDGER, get(super::ledger_entries)).with_state(ledger)
}

async fn send(State(ledger): State<Ledger>, headers: HeaderMap, body: Bytes) -> Result<Response, ServiceError> {
    let key = idempotency_key(&headers)?;
    let req: MessageRequest = parse_body(&body)?;
    if !CHANNELS.contains(&req.channel.as_str()) {
        return Err(ServiceError::bad_request("UnknownChannel", format!("channel {:?} is not one of {}", req.channel, CHANNELS.join(", "))));
    }
    let request = to_json(&req)?;
    let recorded = ledger
        .record_once(key, "message", request, move |_tx, seq| {
            let answer = Message { message_id: make_id("msg", seq), order_id: req.order_id.clone(), channel: req.channel.clone() };
            tracing::info!(order = %answer.order_id, channel = %answer.channel, text = %req.text, "message sent");
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
    async fn a_message_is_sent_once_per_key() {
        let svc = TestService::start(&SPEC, router).await;
        let c = svc.client();
        let req = MessageRequest { order_id: "o1".into(), channel: "email".into(), text: "Your order shipped".into() };
        for _ in 0..3 {
            c.post::<_, Message>(paths::MESSAGES, "m1", &req).await.unwrap();
        }
        let ledger = c.ledger().await.unwrap();
        assert_eq!(ledger.len(), 1);
        assert_eq!((ledger[0].kind.as_str(), ledger[0].order_id.as_str(), ledger[0].at_ms), ("message", "o1", 1_700_000_000_000));
        svc.clock.advance(250);
        c.post::<_, Message>(paths::MESSAGES, "m2", &req).await.unwrap();
        assert_eq!(c.ledger().await.unwrap()[1].at_ms, 1_700_000_000_250, "timestamps come from the injected clock");
        let bad = MessageRequest { channel: "pigeon".into(), ..req };
        assert_eq!(c.post::<_, Message>(paths::MESSAGES, "m3", &bad).await.unwrap_err().code(), Some("UnknownChannel"));
    }
}
