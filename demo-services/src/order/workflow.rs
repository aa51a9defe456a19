//! The `Order` and `Shipment` workflows: deterministic code run by the SDK's replayer.
//!
//! `Order`: reserve, charge, (approval over the threshold), `Shipment` child, notify. Every
//! step before the shipment completes races the run's cancellation. When a step fails for good,
//! the approval is refused or times out, or the run is canceled, the saga compensates what
//! the order may hold (refund, then release) and the run fails with a named error type (or
//! closes as canceled). Once the parcel is dispatched the order is done: a late cancel request
//! is not honoured, and the notification is best effort.
//!
//! Nothing here does I/O or reads the clock: durations come from [`OrderTiming`] in the input.

use std::future::Future;
use std::time::Duration;

use faultline_sdk::proto::{ActivityOptions, Failure, RetryPolicy};
use faultline_sdk::{CallError, ChildOptions, Either, WfContext, WorkflowError};
use serde_json::json;

use super::activities::BUSINESS_ERRORS;
use super::activity_types as t;
use super::error_types::*;
use super::{Approval, OrderInput, OrderOutput, OrderTiming, ShipmentInput, ShipmentOutput, APPROVE_SIGNAL, SHIPMENT_WORKFLOW};
use crate::api::{Charge, ChargeRequest, Dispatch, DispatchRequest, Label, LabelRequest, Message, MessageRequest, Refund, RefundRequest, Release, ReleaseRequest, Reservation, ReserveRequest};
use crate::money::{self, Currency};

/// Options of every order activity: retries that read well on screen (1 s, x2, at most 10 s
/// by default), unlimited for transient errors, never for business failures.
pub fn activity_options(timing: &OrderTiming) -> ActivityOptions {
    ActivityOptions {
        start_to_close_timeout_ms: Some(timing.activity_timeout_ms),
        retry_policy: RetryPolicy {
            initial_interval_ms: timing.retry_initial_ms,
            backoff_coefficient: timing.retry_backoff,
            maximum_interval_ms: Some(timing.retry_max_ms),
            maximum_attempts: 0,
            non_retryable_error_types: BUSINESS_ERRORS.iter().map(|s| s.to_string()).collect(),
        },
        ..ActivityOptions::default()
    }
}

/// Why the order's forward path stopped.
enum Stop {
    Cancelled,
    Failed { error_type: &'static str, message: String, cause: Option<Failure> },
}

/// What the order may hold that a compensation must give back.
#[derive(Default)]
struct Held {
    reservation: bool,
    charge: bool,
}

/// Awaits `call` unless the run is canceled first.
async fn step<T>(ctx: &WfContext, what: &str, call: impl Future<Output = Result<T, CallError>>) -> Result<T, Stop> {
    match ctx.select2(call, ctx.cancelled()).await {
        Either::Left(Ok(v)) => Ok(v),
        Either::Left(Err(CallError::Cancelled { .. })) | Either::Right(()) => Err(Stop::Cancelled),
        Either::Left(Err(e)) => Err(Stop::Failed { error_type: ORDER_FAILED, message: format!("{what} failed for good: {e}"), cause: Some(e.failure()) }),
    }
}

fn invalid(input: &OrderInput, why: impl std::fmt::Display) -> WorkflowError {
    WorkflowError::Failed(Failure {
        message: format!("order {} is not a valid order: {why}; nothing was reserved or charged", input.order_id),
        error_type: Some(INVALID_ORDER.into()),
        non_retryable: true,
        details: None,
    })
}

/// The `Order` workflow.
pub async fn order(ctx: WfContext, input: OrderInput) -> Result<OrderOutput, WorkflowError> {
    let currency = Currency::parse(&input.currency).ok_or_else(|| invalid(&input, format!("currency {:?} is not supported", input.currency)))?;
    let amount_minor = money::parse_minor(&input.amount, currency).map_err(|e| invalid(&input, e))?;
    let threshold_minor = money::parse_minor(&input.approval_threshold, currency).map_err(|e| invalid(&input, format!("approval threshold: {e}")))?;
    if input.quantity == 0 {
        return Err(invalid(&input, "quantity is 0"));
    }
    let mut held = Held::default();
    let stop = match forward(&ctx, &input, amount_minor > threshold_minor, &mut held).await {
        Ok(output) => return Ok(output),
        Err(stop) => stop,
    };
    let reason = match &stop {
        Stop::Cancelled => "order canceled".to_string(),
        Stop::Failed { message, .. } => message.clone(),
    };
    let undone = match compensate(&ctx, &input, &held, &reason).await {
        Ok(undone) => undone,
        Err(e) => {
            return Err(WorkflowError::Failed(Failure {
                message: format!("order {}: {reason}; then the compensation failed: {e}; check the payment and inventory ledgers", input.order_id),
                error_type: Some(COMPENSATION_FAILED.into()),
                non_retryable: true,
                details: Some(json!({ "cause": e.failure() })),
            }))
        }
    };
    match stop {
        Stop::Cancelled => Err(WorkflowError::Cancelled),
        Stop::Failed { error_type, message, cause } => {
            let undone_text = if undone.is_empty() { "nothing to undo".to_string() } else { undone.join(", ") };
            Err(WorkflowError::Failed(Failure {
                message: format!("order {} was not completed: {message}; compensated: {undone_text}", input.order_id),
                error_type: Some(error_type.into()),
                non_retryable: true,
                details: Some(json!({ "cause": cause, "compensations": undone })),
            }))
        }
    }
}

/// The forward path. Marks what the order may hold before each step that takes something,
/// because a canceled step may still have happened; unmarks it when the step failed for good.
async fn forward(ctx: &WfContext, input: &OrderInput, needs_approval: bool, held: &mut Held) -> Result<OrderOutput, Stop> {
    let opts = activity_options(&input.timing);
    let order_id = input.order_id.clone();

    held.reservation = true;
    let reserve = ReserveRequest { order_id: order_id.clone(), sku: input.sku.clone(), quantity: input.quantity };
    let reservation: Reservation = step(ctx, "reserving inventory", ctx.activity(t::RESERVE_INVENTORY, &reserve, opts.clone()))
        .await
        .inspect_err(|s| held.reservation = matches!(s, Stop::Cancelled))?;

    held.charge = true;
    let charge = ChargeRequest { order_id: order_id.clone(), amount: input.amount.clone(), currency: input.currency.clone() };
    let charged: Charge = step(ctx, "charging the payment", ctx.activity(t::CHARGE_PAYMENT, &charge, opts.clone()))
        .await
        .inspect_err(|s| held.charge = matches!(s, Stop::Cancelled))?;

    let approved_by = if needs_approval { Some(await_approval(ctx, input).await?) } else { None };

    let shipment_input = ShipmentInput { order_id: order_id.clone(), sku: input.sku.clone(), quantity: input.quantity, timing: input.timing.clone() };
    let child = ChildOptions { workflow_id: Some(format!("shipment-{order_id}")), ..ChildOptions::default() };
    let shipment: ShipmentOutput = step(ctx, "shipping", ctx.child_workflow(SHIPMENT_WORKFLOW, &shipment_input, child)).await?;

    // Shipped: from here on the order stands. The notification retries like any activity; if
    // it fails for good the order still completes, without a message id.
    let text = format!("Your order {order_id} is on its way, tracking number {}.", shipment.tracking_number);
    let notify = MessageRequest { order_id: order_id.clone(), channel: "email".into(), text };
    let message_id = match ctx.activity::<Message, _>(t::SEND_NOTIFICATION, &notify, opts).await {
        Ok(m) => m.message_id,
        Err(_) => String::new(),
    };

    Ok(OrderOutput {
        order_id,
        reservation_id: reservation.reservation_id,
        charge_id: charged.charge_id,
        charged: charged.amount,
        charged_minor: charged.amount_minor,
        currency: charged.currency,
        shipment,
        message_id,
        approved_by,
    })
}

/// Waits for the `approve` signal, racing the approval timeout (a durable timer) and
/// cancellation. The signal is polled first, so an approval and a timeout recorded in the
/// same workflow task resolve as approved, on every replay.
async fn await_approval(ctx: &WfContext, input: &OrderInput) -> Result<String, Stop> {
    let timeout = Duration::from_millis(input.timing.approval_timeout_ms);
    let signals = ctx.signal(APPROVE_SIGNAL);
    let decision = ctx.select2(signals.recv::<serde_json::Value>(), ctx.sleep(timeout));
    match ctx.select2(decision, ctx.cancelled()).await {
        Either::Right(()) => Err(Stop::Cancelled),
        Either::Left(Either::Left(Ok(payload))) => {
            let approval = Approval::from_payload(&payload);
            let by = approval.by.clone().unwrap_or_else(|| "an approver".into());
            if approval.approved {
                Ok(by)
            } else {
                let note = approval.note.map(|n| format!(" ({n})")).unwrap_or_default();
                Err(Stop::Failed { error_type: APPROVAL_REJECTED, message: format!("{by} rejected the order{note}"), cause: None })
            }
        }
        Either::Left(Either::Left(Err(e))) => Err(Stop::Failed { error_type: APPROVAL_REJECTED, message: format!("the approval signal was unreadable: {e}"), cause: None }),
        Either::Left(Either::Right(Err(_))) => Err(Stop::Cancelled),
        Either::Left(Either::Right(Ok(()))) => Err(Stop::Failed {
            error_type: APPROVAL_TIMED_OUT,
            message: format!(
                "amount {} {} is over the approval threshold {} and no `{APPROVE_SIGNAL}` signal came within {} ms",
                input.amount, input.currency, input.approval_threshold, input.timing.approval_timeout_ms
            ),
            cause: None,
        }),
    }
}

/// Gives back what the order may hold, newest first: refund, then release. Runs to the end
/// even when the run is being canceled; each step retries like any activity.
async fn compensate(ctx: &WfContext, input: &OrderInput, held: &Held, reason: &str) -> Result<Vec<String>, CallError> {
    let opts = activity_options(&input.timing);
    let mut undone = Vec::new();
    if held.charge {
        let req = RefundRequest { order_id: input.order_id.clone(), reason: reason.to_string() };
        let refund: Refund = ctx.activity(t::REFUND_PAYMENT, &req, opts.clone()).await?;
        undone.push(format!("refunded {} {}", refund.amount, refund.currency));
    }
    if held.reservation {
        let req = ReleaseRequest { order_id: input.order_id.clone(), reason: reason.to_string() };
        let release: Release = ctx.activity(t::RELEASE_INVENTORY, &req, opts).await?;
        undone.push(format!("released {} x {}", release.released, input.sku));
    }
    Ok(undone)
}

/// The `Shipment` workflow: a label, the durable "courier pickup" timer, then dispatch.
pub async fn shipment(ctx: WfContext, input: ShipmentInput) -> Result<ShipmentOutput, WorkflowError> {
    let opts = activity_options(&input.timing);
    let label_req = LabelRequest { order_id: input.order_id.clone(), sku: input.sku.clone(), quantity: input.quantity };
    let label: Label = ctx.activity(t::CREATE_LABEL, &label_req, opts.clone()).await?;
    // Courier pickup: a durable timer, it survives worker and engine restarts.
    ctx.sleep(Duration::from_millis(input.timing.pickup_delay_ms)).await?;
    let dispatch_req = DispatchRequest { order_id: input.order_id.clone(), label_id: label.label_id.clone() };
    let dispatch: Dispatch = ctx.activity(t::DISPATCH_PARCEL, &dispatch_req, opts).await?;
    Ok(ShipmentOutput { label_id: label.label_id, tracking_number: dispatch.tracking_number, dispatch_id: dispatch.dispatch_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_options_read_well_on_screen() {
        let o = activity_options(&OrderTiming::default());
        assert_eq!(o.retry_policy.initial_interval_ms, 1_000);
        assert_eq!(o.retry_policy.maximum_interval_ms, Some(10_000));
        assert_eq!(o.retry_policy.maximum_attempts, 0, "unlimited: a bugged payment leaves orders retrying");
        assert_eq!((1..=6).map(|n| o.retry_policy.backoff_ms(n)).collect::<Vec<_>>(), [1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
        assert!(o.retry_policy.non_retryable_error_types.iter().any(|t| t == "OutOfStock"));
        assert!(!o.retry_policy.non_retryable_error_types.iter().any(|t| t == "AmountMismatch"));
    }
}

#[cfg(test)]
#[path = "workflow_tests.rs"]
mod replay_tests;
