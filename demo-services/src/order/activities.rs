//! The order activities: one HTTP call each to a service, under the SDK's idempotency key
//! (`<run_id>:<seq>`, the same for every attempt), so a retried activity has its effect once.
//!
//! Errors are mapped for the engine's retry policy: an unreachable service or a 5xx is an
//! application error of the service's code (e.g. `AmountMismatch`), retried with backoff
//! until it works; a 4xx is a business failure and never retried.

use std::sync::Arc;
use std::time::Duration;

use faultline_sdk::{ActContext, ActivityError, Worker};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::activity_types as t;
use crate::api::{paths, Charge, ChargeRequest, Dispatch, DispatchRequest, Label, LabelRequest, Message, MessageRequest, Refund, RefundRequest, Release, ReleaseRequest, Reservation, ReserveRequest};
use crate::client::{CallFailure, ServiceClient};

/// Error types of business failures, listed as non-retryable in the activities' retry policy
/// (they are also sent as non-retryable, so an unlisted one is not retried either).
pub const BUSINESS_ERRORS: &[&str] = &[
    "OutOfStock",
    "InvalidQuantity",
    "InvalidSku",
    "InvalidAmount",
    "UnsupportedCurrency",
    "OrderClosed",
    "UnknownLabel",
    "UnknownChannel",
    "IdempotencyKeyReused",
];

/// Where the services are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrls {
    pub inventory: String,
    pub payment: String,
    pub shipping: String,
    pub notification: String,
}

impl Default for ServiceUrls {
    /// The services on 127.0.0.1 at their default ports.
    fn default() -> Self {
        Self {
            inventory: "http://127.0.0.1:8081".into(),
            payment: "http://127.0.0.1:8082".into(),
            shipping: "http://127.0.0.1:8083".into(),
            notification: "http://127.0.0.1:8084".into(),
        }
    }
}

impl ServiceUrls {
    /// `INVENTORY_URL`, `PAYMENT_URL`, `SHIPPING_URL`, `NOTIFICATION_URL`, each defaulting to
    /// [`ServiceUrls::default`].
    pub fn from_env() -> Self {
        let d = Self::default();
        let var = |k: &str, default: String| std::env::var(k).ok().filter(|v| !v.trim().is_empty()).unwrap_or(default);
        Self {
            inventory: var("INVENTORY_URL", d.inventory),
            payment: var("PAYMENT_URL", d.payment),
            shipping: var("SHIPPING_URL", d.shipping),
            notification: var("NOTIFICATION_URL", d.notification),
        }
    }
}

/// HTTP timeout of one service call; shorter than the default activity timeout, so a hung
/// service shows up as a clear "not reachable" failure rather than an activity timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

struct Clients {
    inventory: ServiceClient,
    payment: ServiceClient,
    shipping: ServiceClient,
    notification: ServiceClient,
}

/// Maps a failed service call to the activity error the engine's retry policy acts on.
pub fn to_activity_error(failure: CallFailure) -> ActivityError {
    let message = failure.to_string();
    match &failure {
        CallFailure::Unreachable { .. } => ActivityError::application("ServiceUnavailable", message),
        CallFailure::Failed { code, .. } => ActivityError::application(code, message),
        CallFailure::Rejected { code, .. } => ActivityError::non_retryable(code, message),
        CallFailure::Decode { .. } => ActivityError::non_retryable("DecodeError", message),
    }
}

async fn call<Req: Serialize, Resp: DeserializeOwned>(client: &ServiceClient, path: &str, ctx: &ActContext, req: &Req) -> Result<Resp, ActivityError> {
    match client.post::<Req, Resp>(path, ctx.idempotency_key(), req).await {
        Ok(posted) => {
            tracing::info!(
                activity = ctx.activity_type(),
                workflow = ctx.workflow_id(),
                attempt = ctx.attempt(),
                replayed = posted.replayed,
                "{} {path} succeeded",
                client.base_url()
            );
            Ok(posted.value)
        }
        Err(failure) => {
            tracing::warn!(activity = ctx.activity_type(), workflow = ctx.workflow_id(), attempt = ctx.attempt(), "{failure}");
            Err(to_activity_error(failure))
        }
    }
}

/// Registers every order activity on `worker`.
pub fn register(worker: &mut Worker, urls: ServiceUrls) {
    let clients = Arc::new(Clients {
        inventory: ServiceClient::new("inventory", urls.inventory, CALL_TIMEOUT),
        payment: ServiceClient::new("payment", urls.payment, CALL_TIMEOUT),
        shipping: ServiceClient::new("shipping", urls.shipping, CALL_TIMEOUT),
        notification: ServiceClient::new("notification", urls.notification, CALL_TIMEOUT),
    });
    // One registration per activity: the closure picks the service and the path.
    macro_rules! activity {
        ($name:expr, $svc:ident, $path:expr, $req:ty => $resp:ty) => {{
            let clients = clients.clone();
            worker.register_activity($name, move |ctx: ActContext, req: $req| {
                let clients = clients.clone();
                async move { call::<$req, $resp>(&clients.$svc, $path, &ctx, &req).await }
            });
        }};
    }
    activity!(t::RESERVE_INVENTORY, inventory, paths::RESERVATIONS, ReserveRequest => Reservation);
    activity!(t::RELEASE_INVENTORY, inventory, paths::RELEASES, ReleaseRequest => Release);
    activity!(t::CHARGE_PAYMENT, payment, paths::CHARGES, ChargeRequest => Charge);
    activity!(t::REFUND_PAYMENT, payment, paths::REFUNDS, RefundRequest => Refund);
    activity!(t::CREATE_LABEL, shipping, paths::LABELS, LabelRequest => Label);
    activity!(t::DISPATCH_PARCEL, shipping, paths::DISPATCHES, DispatchRequest => Dispatch);
    activity!(t::SEND_NOTIFICATION, notification, paths::MESSAGES, MessageRequest => Message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_retry_behaviour() {
        let bug = to_activity_error(CallFailure::Failed { service: "payment".into(), status: 500, code: "AmountMismatch".into(), message: "amount mismatch on order o-1".into() });
        assert_eq!(bug.failure.error_type.as_deref(), Some("AmountMismatch"));
        assert!(!bug.failure.non_retryable, "the bug must leave orders retrying until the fix is deployed");
        assert!(bug.failure.message.contains("amount mismatch on order o-1"));
        let stock = to_activity_error(CallFailure::Rejected { service: "inventory".into(), status: 409, code: "OutOfStock".into(), message: "none left".into() });
        assert!(stock.failure.non_retryable);
        let down = to_activity_error(CallFailure::Unreachable { service: "shipping".into(), url: "http://x".into(), message: "refused".into() });
        assert!(!down.failure.non_retryable);
    }
}
