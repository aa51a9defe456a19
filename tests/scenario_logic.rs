//! The pure parts of a run: the workload generator, the ledger verdicts, expectation
//! evaluation and the report. (The fold of the event stream is tested in `src/projection`.)

use std::collections::BTreeMap;
use std::path::PathBuf;

use faultline::scenario::expect::{self, Comeback, Evidence};
use faultline::scenario::ledger::{self, LedgerSnapshot};
use faultline::projection::{Options, Projection, Scope};
use faultline::scenario::report::{Report, Verdict};
use faultline::scenario::workload;
use faultline::scenario::{BugFilter, Check, Context, Expectation};
use faultline_demo::api::OrderBalance;
use faultline_demo::ledger::Entry;
use faultline_demo::order::catalog::hits_v1_bug;
use faultline_sdk::proto::WorkflowStatus;
use faultline_testkit::history::{completed, started, Stream};
use serde_json::json;

fn load(name: &str) -> faultline::scenario::Scenario {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let ctx = Context::from_compose(&root.join("docker-compose.yml")).unwrap();
    faultline::scenario::load(&root.join("scenarios").join(format!("{name}.toml")), &ctx).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn workloads_are_deterministic_and_tell_the_intended_story() {
    let s = load("bugged-pod");
    let a = workload::generate("bugged-pod", "aaaaaa", &s.workload);
    let b = workload::generate("bugged-pod", "bbbbbb", &s.workload);
    assert_eq!(a.len(), 6);
    let strip = |v: &[workload::OrderPlan]| v.iter().map(|p| (p.sku.clone(), p.quantity, p.amount.clone())).collect::<Vec<_>>();
    assert_eq!(strip(&a), strip(&b), "same seed, same orders; only the ids differ");
    assert_ne!(a[0].workflow_id, b[0].workflow_id);
    assert!(a[0].workflow_id.starts_with("order-bugged-pod-aaaaaa-"), "{}", a[0].workflow_id);
    // `payment_bug = "all"`: every order is stuck on v1, which the `retrying = 6` step counts on.
    assert_eq!(s.workload.payment_bug, BugFilter::All);
    assert!(a.iter().all(|p| p.hits_v1_bug && hits_v1_bug(&p.amount)), "{a:?}");
    assert!(load("fixed-pod").workload.payment_bug == BugFilter::All);

    // all-up shows the approval signal: at least one order is over its threshold, and not all.
    let up = load("all-up");
    let orders = workload::generate("all-up", "t", &up.workload);
    let approvals = orders.iter().filter(|p| p.needs_approval).count();
    assert!(approvals >= 1 && approvals < orders.len(), "{approvals} of {} need approval", orders.len());
    // Other seeds give other orders.
    let mut w = up.workload.clone();
    w.seed += 1;
    assert_ne!(strip(&workload::generate("all-up", "t", &w)), strip(&orders));
}

#[test]
fn inputs_carry_the_scaled_timing() {
    let s = load("fixed-pod");
    let plan = &workload::generate("fixed-pod", "t", &s.workload)[0];
    let slow = plan.input(&s.workload, 1.0);
    let fast = plan.input(&s.workload, 5.0);
    assert_eq!(slow.timing.retry_initial_ms, 1000);
    assert_eq!(fast.timing.retry_initial_ms, 200);
    assert_eq!(fast.timing.pickup_delay_ms, 600);
    assert_eq!((slow.sku.as_str(), slow.amount.as_str()), (plan.sku.as_str(), plan.amount.as_str()));
    assert!(workload::over("250.01", "250.00") && !workload::over("250.00", "250.00"));
}

fn entry(seq: i64, key: &str, kind: &str, order: &str) -> Entry {
    Entry { seq, key: key.into(), kind: kind.into(), order_id: order.into(), amount: Some(1999), unit: Some("EUR".into()), at_ms: 0, request: json!({"order_id": order}), response: json!({}), replays_at_ms: vec![] }
}

fn balance(order: &str, charges: u32, refunds: u32) -> OrderBalance {
    OrderBalance { order_id: order.into(), currency: "EUR".into(), charges, refunds, charged_minor: 1999 * charges as i64, refunded_minor: 0, net_minor: 1999 }
}

#[test]
fn ledger_verdicts_find_double_charges_and_duplicates() {
    let mut snap = LedgerSnapshot { has_balances: true, ..Default::default() };
    snap.entries.push(("payment".into(), vec![entry(1, "run1:2", "charge", "a"), entry(2, "run1:3", "charge", "b")]));
    snap.balances.insert("a".into(), balance("a", 1, 0));
    snap.balances.insert("b".into(), balance("b", 1, 0));
    assert!(ledger::duplicates(&snap).is_empty());
    let (ok, problems) = ledger::charge_verdict(&snap, &["a".into(), "b".into()], &["a".into(), "b".into(), "c".into()]);
    assert_eq!((ok, problems.len()), (2, 0), "{problems:?}");

    // The same charge under a second key (a new run re-did the work) is a duplicate.
    snap.entries[0].1.push(entry(3, "run2:2", "charge", "a"));
    snap.balances.insert("a".into(), balance("a", 2, 0));
    let d = ledger::duplicates(&snap);
    assert_eq!(d.len(), 1);
    assert!(d[0].contains("charge a twice"), "{d:?}");
    let (_, problems) = ledger::charge_verdict(&snap, &["a".into()], &["a".into()]);
    assert_eq!(problems, vec!["a charged 2 times".to_string()]);
    // A completed order never charged is a problem too.
    let (_, problems) = ledger::charge_verdict(&snap, &["c".into()], &["c".into()]);
    assert!(problems[0].contains("never charged"), "{problems:?}");
}

#[test]
fn expectations_evaluate_with_measured_values() {
    let mut t = Projection::new(Options { scope: Scope::Registered, ..Options::default() });
    let mut s = Stream::new(0);
    for id in ["order-a", "order-b"] {
        t.register(id);
        t.apply_stream(s.ev(id, started(None)), 0);
    }
    s.now_ms = 4_000;
    t.apply_stream(s.ev("order-a", completed()), 4_000);
    let mut ev = Evidence { started: vec!["order-a".into(), "order-b".into()], ..Default::default() };
    ev.engine_status = BTreeMap::from([("order-a".to_string(), Ok(WorkflowStatus::Completed)), ("order-b".to_string(), Err("the engine does not know it".to_string()))]);
    ev.comebacks = vec![Comeback { pod: "payment".into(), at_ms: 1_000, open: vec!["order-a".into()] }];
    let e = |check| Expectation { check, within: None, line: 1 };

    let r = expect::evaluate(&e(Check::AllCompleted), &t, &ev, false);
    assert!(!r.passed());
    assert_eq!(r.measured, "1/2 completed");
    let r = expect::evaluate(&e(Check::NoneLost), &t, &ev, false);
    assert!(!r.passed() && r.measured.contains("order-b (the engine does not know it)"), "{}", r.measured);
    let r = expect::evaluate(&e(Check::RecoveryAtMost { pod: "payment".into(), max: std::time::Duration::from_secs(5) }), &t, &ev, false);
    assert!(r.passed(), "{}", r.measured);
    assert_eq!(r.measured, "recovered in 3s");
    let r = expect::evaluate(&e(Check::RecoveryAtMost { pod: "payment".into(), max: std::time::Duration::from_secs(2) }), &t, &ev, false);
    assert!(!r.passed());
    let r = expect::evaluate(&e(Check::ChargedExactlyOnce), &t, &ev, false);
    assert!(!r.passed() && r.measured.contains("not run"), "{}", r.measured);
    assert_eq!(expect::holds_live(&Check::RetriesAtLeast(1), &t, &ev.comebacks, 2), Some(false));
    assert_eq!(expect::holds_live(&Check::NoneLost, &t, &ev.comebacks, 2), None);
}

#[test]
fn reports_render_as_json_and_markdown() {
    let report = Report {
        scenario: "fixed-pod".into(),
        title: "Fixed pod".into(),
        description: "Deploy v2 | while retrying".into(),
        file: "scenarios/fixed-pod.toml".into(),
        runtime: "docker".into(),
        speed: 5.0,
        started_at: "2026-01-01T00:00:00Z".into(),
        duration_ms: 42_000,
        aborted: None,
        verdict: Verdict::Failed,
        passed: false,
        counts: Default::default(),
        orders: vec![],
        expectations: vec![faultline::scenario::report::ExpectationResult { expectation: "all orders completed".into(), verdict: Verdict::Failed, measured: "5/6 completed".into(), line: 3 }],
        timeline: vec![faultline::scenario::report::TimelineEntry { at_ms: 61_500, kind: faultline::scenario::report::EntryKind::Step, text: "2. Stuck — all six".into() }],
        race: None,
        race_error: None,
    };
    let md = report.to_markdown();
    assert!(md.starts_with("# Fixed pod — FAILED"), "{md}");
    assert!(md.contains("| ❌ fail | all orders completed | 5/6 completed |"), "{md}");
    assert!(md.contains("Deploy v2 | while"), "descriptions are prose, not table cells");
    assert!(md.contains("| 1:01.5 | **step** | 2. Stuck — all six |"), "{md}");

    let dir = tempfile::tempdir().unwrap();
    report.write(&dir.path().join("r.json")).unwrap();
    let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    assert_eq!(back["expectations"][0]["measured"], "5/6 completed");
    assert_eq!(back["passed"], false);
    report.write(&dir.path().join("r.md")).unwrap();
    assert!(report.write(&dir.path().join("r.txt")).is_err());
}

#[test]
fn the_workflow_task_timeout_follows_the_speed_down_to_a_floor() {
    use std::time::Duration;
    assert_eq!(workload::task_timeout(1.0), workload::ENGINE_TASK_TIMEOUT);
    assert_eq!(workload::task_timeout(5.0), Duration::from_secs(2));
    assert_eq!(workload::task_timeout(0.5), Duration::from_secs(20), "a slowed-down talk waits longer");
    assert_eq!(workload::task_timeout(1000.0), workload::MIN_TASK_TIMEOUT);
}
