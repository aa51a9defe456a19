//! Tests of the payment service: idempotent charges and refunds, balances, the v1 bug and
//! its v2 fix, over real HTTP and a real SQLite ledger.

use super::*;
use faultline_demo::client::CallFailure;
use faultline_demo::order::catalog;
use faultline_demo::services::testing::TestService;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn charge_req(order: &str, amount: &str) -> ChargeRequest {
    ChargeRequest { order_id: order.into(), amount: amount.into(), currency: "EUR".into() }
}

// Tests named `v1_bug_*` pin the workshop bug: they fail once it is fixed in the source.

#[test]
fn v1_bug_truncates_some_amounts_but_not_all() {
    // The bug: 19.99 becomes 1998 on v1.
    assert_eq!(to_minor_units("19.99", eur(), PaymentBuild::V1Bugged).unwrap(), 1998);
    // Many amounts come out right even on v1, which is what makes it hard to spot.
    for ok in ["12.99", "49.95", "100.00", "100", "24.50"] {
        let exact = money::parse_minor(ok, eur()).unwrap();
        assert_eq!(to_minor_units(ok, eur(), PaymentBuild::V1Bugged).unwrap(), exact, "{ok}");
    }
}

#[test]
fn v2_fix_is_exact_on_every_price_up_to_500() {
    assert_eq!(to_minor_units("19.99", eur(), PaymentBuild::V2Fixed).unwrap(), 1999);
    for units in 0..500 {
        for cents in 0..100 {
            let text = format!("{units}.{cents:02}");
            let expected = units * 100 + cents;
            if expected == 0 {
                continue;
            }
            let minor = to_minor_units(&text, eur(), PaymentBuild::V2Fixed).unwrap();
            assert_eq!(minor, expected, "{text}");
            assert!(check_consistent("o", &text, minor, eur()).is_ok(), "{text}");
        }
    }
}

#[test]
fn v1_bug_hits_a_good_share_of_catalog_prices_deterministically() {
    let hit = catalog::CATALOG
        .iter()
        .filter(|item| {
            let minor = to_minor_units(item.price, eur(), PaymentBuild::V1Bugged).unwrap();
            check_consistent("o", item.price, minor, eur()).is_err()
        })
        .count();
    let share = hit as f64 / catalog::CATALOG.len() as f64;
    assert!((0.3..=0.6).contains(&share), "v1 fails {hit} of {} catalog prices ({share:.2})", catalog::CATALOG.len());
    for item in catalog::CATALOG {
        let v1 = to_minor_units(item.price, eur(), PaymentBuild::V1Bugged).unwrap();
        assert_eq!(v1, to_minor_units(item.price, eur(), PaymentBuild::V1Bugged).unwrap(), "same input, same outcome");
        let v2 = to_minor_units(item.price, eur(), PaymentBuild::V2Fixed).unwrap();
        assert!(check_consistent("o", item.price, v2, eur()).is_ok(), "v2 must charge {} exactly", item.price);
        assert_eq!(catalog::hits_v1_bug(item.price), v1 != v2, "{}", item.price);
    }
}

#[tokio::test]
async fn v1_bug_answers_500_naming_the_mismatch_and_records_nothing() {
    let svc = TestService::start(&SPEC, |l| router(l, PaymentBuild::V1Bugged)).await;
    let c = svc.client();
    for _ in 0..3 {
        let err = c.post::<_, Charge>(paths::CHARGES, "k1", &charge_req("o-17", "19.99")).await.unwrap_err();
        match &err {
            CallFailure::Failed { status: 500, code, message, .. } => {
                assert_eq!(code, "AmountMismatch");
                assert!(message.contains("o-17") && message.contains("19.99 EUR") && message.contains("1998"), "{message}");
            }
            other => panic!("expected a 500 AmountMismatch, got {other:?}"),
        }
    }
    assert!(c.ledger().await.unwrap().is_empty(), "a refused charge leaves no trace");
    // Amounts the bug does not touch go through on v1.
    let ok = c.post::<_, Charge>(paths::CHARGES, "k2", &charge_req("o-18", "12.99")).await.unwrap();
    assert_eq!(ok.value.amount_minor, 1299);
}

#[tokio::test]
async fn v1_bug_then_v2_over_the_same_ledger_charges_once() {
    let svc = TestService::start(&SPEC, |l| router(l, PaymentBuild::V1Bugged)).await;
    assert!(svc.client().post::<_, Charge>(paths::CHARGES, "k1", &charge_req("o-1", "29.99")).await.is_err());
    // "Redeploy": v2 on the very same ledger file, as the volume survives the container.
    let ledger = svc.ledger.clone();
    let v2 = TestService::start(&SPEC, move |_| router(ledger, PaymentBuild::V2Fixed)).await;
    let c = v2.client();
    let first = c.post::<_, Charge>(paths::CHARGES, "k1", &charge_req("o-1", "29.99")).await.unwrap();
    let again = c.post::<_, Charge>(paths::CHARGES, "k1", &charge_req("o-1", "29.99")).await.unwrap();
    assert_eq!((first.value.amount_minor, first.replayed, again.replayed), (2999, false, true));
    let balances = c.balances().await.unwrap();
    assert_eq!(balances.len(), 1);
    assert_eq!((balances[0].charges, balances[0].net_minor), (1, 2999));
}

#[tokio::test]
async fn refund_is_idempotent_and_nets_to_zero() {
    let svc = TestService::start(&SPEC, |l| router(l, PaymentBuild::V2Fixed)).await;
    let c = svc.client();
    c.post::<_, Charge>(paths::CHARGES, "c1", &charge_req("o-1", "49.95")).await.unwrap();
    let refund = RefundRequest { order_id: "o-1".into(), reason: "approval timed out".into() };
    let r1 = c.post::<_, Refund>(paths::REFUNDS, "r1", &refund).await.unwrap();
    let r2 = c.post::<_, Refund>(paths::REFUNDS, "r1", &refund).await.unwrap();
    assert_eq!((r1.value.amount_minor, r1.value.amount.as_str(), r2.replayed), (4995, "49.95", true));
    // A refund with a new key finds nothing left: money never goes negative.
    let r3 = c.post::<_, Refund>(paths::REFUNDS, "r2", &refund).await.unwrap();
    assert_eq!(r3.value.amount_minor, 0);
    // Refunding an order never charged is a harmless no-op (compensation of a failed charge).
    let r4 = c.post::<_, Refund>(paths::REFUNDS, "r3", &RefundRequest { order_id: "o-2".into(), reason: String::new() }).await.unwrap();
    assert_eq!(r4.value.amount_minor, 0);
    let b = c.balances().await.unwrap();
    let o1 = b.iter().find(|b| b.order_id == "o-1").unwrap();
    assert_eq!((o1.charges, o1.refunds, o1.charged_minor, o1.refunded_minor, o1.net_minor), (1, 2, 4995, 4995, 0));
}

#[tokio::test]
async fn bad_currency_and_amount_are_refused_with_400() {
    let svc = TestService::start(&SPEC, |l| router(l, PaymentBuild::V2Fixed)).await;
    let c = svc.client();
    let mut req = charge_req("o", "10.00");
    req.currency = "XXX".into();
    let err = c.post::<_, Charge>(paths::CHARGES, "k", &req).await.unwrap_err();
    assert_eq!(err.code(), Some("UnsupportedCurrency"));
    let err = c.post::<_, Charge>(paths::CHARGES, "k", &charge_req("o", "ten")).await.unwrap_err();
    assert!(matches!(err, CallFailure::Rejected { status: 400, .. }), "{err:?}");
    // The same key, a different request: refused, not silently replayed.
    c.post::<_, Charge>(paths::CHARGES, "k2", &charge_req("o", "10.00")).await.unwrap();
    let err = c.post::<_, Charge>(paths::CHARGES, "k2", &charge_req("o", "11.00")).await.unwrap_err();
    assert_eq!(err.code(), Some("IdempotencyKeyReused"));
}

#[tokio::test]
async fn no_new_charge_lands_after_the_order_was_refunded() {
    let svc = TestService::start(&SPEC, |l| router(l, PaymentBuild::V2Fixed)).await;
    let c = svc.client();
    let first = c.post::<_, Charge>(paths::CHARGES, "c1", &charge_req("o-1", "10.00")).await.unwrap();
    c.post::<_, Refund>(paths::REFUNDS, "r1", &RefundRequest { order_id: "o-1".into(), reason: "canceled".into() }).await.unwrap();
    // A charge still retrying when the order was compensated is refused for good...
    let err = c.post::<_, Charge>(paths::CHARGES, "c2", &charge_req("o-1", "10.00")).await.unwrap_err();
    assert!(matches!(&err, CallFailure::Rejected { status: 409, code, .. } if code == "OrderClosed"), "{err:?}");
    // ...while the replay of the charge that did happen still answers as before.
    assert_eq!(c.post::<_, Charge>(paths::CHARGES, "c1", &charge_req("o-1", "10.00")).await.unwrap().value, first.value);
    let b = c.balances().await.unwrap();
    assert_eq!((b[0].charges, b[0].net_minor), (1, 0));
}
