//! One test per definition of a status or count, on hand-made streams.

use faultline_proto::{EventKind, WorkflowStatus};
use faultline_testkit::history::*;

use super::*;

const T0: i64 = 1_000_000;

fn registered(ids: &[&str]) -> Projection {
    let mut p = Projection::new(Options { scope: Scope::Registered, keep_history: false, notable: true, history_budget: None });
    for id in ids {
        p.register(id);
    }
    p
}

fn apply(p: &mut Projection, s: &mut Stream, wf: &str, kind: EventKind) {
    let ev = s.ev(wf, kind);
    p.apply_stream(ev, s.now_ms);
}

#[test]
fn retrying_covers_the_wait_and_the_retry_in_flight_until_success() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    apply(&mut p, &mut s, "a", started(None));
    apply(&mut p, &mut s, "a", scheduled(1, "ChargePayment"));
    apply(&mut p, &mut s, "a", attempt_started(1, 1));
    assert_eq!((p.counts().running, p.counts().retrying), (1, 0), "a first attempt is not a retry");

    apply(&mut p, &mut s, "a", failed(1, 1, "HTTP 500", Some(T0 + 1_000)));
    let c = p.counts();
    assert_eq!((c.retrying, c.in_backoff, c.retries_seen), (1, 1, 1));
    assert_eq!(p.order("a").unwrap().backoffs, vec![("a".to_string(), 1)]);

    // The retry runs: no longer waiting (nothing to "retry now"), still retrying.
    apply(&mut p, &mut s, "a", attempt_started(1, 2));
    let c = p.counts();
    assert_eq!((c.retrying, c.in_backoff), (1, 0));
    assert!(p.order("a").unwrap().backoffs.is_empty());

    apply(&mut p, &mut s, "a", activity_completed(1, 2));
    let c = p.counts();
    assert_eq!((c.running, c.retrying, c.in_backoff, c.charged), (1, 0, 0, 1));
}

#[test]
fn a_final_failure_is_not_retrying() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    apply(&mut p, &mut s, "a", started(None));
    apply(&mut p, &mut s, "a", scheduled(1, "reserve_inventory"));
    apply(&mut p, &mut s, "a", failed(1, 1, "out of stock", None));
    let c = p.counts();
    assert_eq!((c.retrying, c.retries_seen), (0, 0));
    apply(&mut p, &mut s, "a", workflow_failed("out of stock"));
    let c = p.counts();
    assert_eq!((c.running, c.failed), (0, 1));
}

#[test]
fn a_childs_retries_and_timers_count_for_its_order() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    apply(&mut p, &mut s, "a", started(None));
    apply(&mut p, &mut s, "a", child_initiated(3, "a/3"));
    apply(&mut p, &mut s, "a/3", started(Some("a")));
    apply(&mut p, &mut s, "a/3", scheduled(1, "create_label"));
    apply(&mut p, &mut s, "a/3", failed(1, 1, "503", Some(T0 + 500)));
    let c = p.counts();
    assert_eq!((c.started, c.running, c.retrying, c.in_backoff), (1, 1, 1, 1), "one order, retrying through its child");
    assert_eq!(p.order("a").unwrap().backoffs, vec![("a/3".to_string(), 1)]);
    assert!(p.order("a/3").is_none(), "a child is not an order");

    apply(&mut p, &mut s, "a/3", activity_completed(1, 2));
    apply(&mut p, &mut s, "a/3", timer_started(2, 5_000, T0 + 5_000));
    let c = p.counts();
    assert_eq!((c.retrying, c.on_timer, c.timers_pending), (0, 1, 1));
    apply(&mut p, &mut s, "a/3", EventKind::TimerFired { seq: 2 });
    let c = p.counts();
    assert_eq!((c.on_timer, c.timers_pending, c.timers_fired), (0, 0, 1));
}

#[test]
fn closed_orders_are_completed_failed_or_canceled() {
    let ids = ["ok", "bad", "killed", "late", "gone"];
    let (mut p, mut s) = (registered(&ids), Stream::new(T0));
    for id in ids {
        apply(&mut p, &mut s, id, started(None));
    }
    apply(&mut p, &mut s, "ok", completed());
    apply(&mut p, &mut s, "bad", workflow_failed("no"));
    apply(&mut p, &mut s, "killed", EventKind::WorkflowTerminated { reason: "by hand".into() });
    apply(&mut p, &mut s, "late", EventKind::WorkflowTimedOut);
    apply(&mut p, &mut s, "gone", EventKind::WorkflowCanceled { details: serde_json::json!({}) });
    let c = p.counts();
    assert_eq!((c.started, c.running, c.completed, c.failed, c.canceled), (5, 0, 1, 3, 1));
    assert_eq!(c.closed(), 5);
    assert_eq!(p.order("ok").unwrap().closed_at_ms, Some(T0));
}

#[test]
fn a_pending_timer_of_a_closed_run_no_longer_counts() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    apply(&mut p, &mut s, "a", started(None));
    apply(&mut p, &mut s, "a", timer_started(1, 60_000, T0 + 60_000));
    apply(&mut p, &mut s, "a", scheduled(2, "ChargePayment"));
    apply(&mut p, &mut s, "a", failed(2, 1, "500", Some(T0 + 1_000)));
    assert_eq!((p.counts().on_timer, p.counts().retrying), (1, 1));
    apply(&mut p, &mut s, "a", EventKind::WorkflowTerminated { reason: "stop".into() });
    let c = p.counts();
    assert_eq!((c.on_timer, c.retrying, c.in_backoff, c.timers_pending), (0, 0, 0, 0));
}

#[test]
fn continue_as_new_stays_running_under_the_same_id() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    apply(&mut p, &mut s, "a", started(None));
    apply(&mut p, &mut s, "a", EventKind::WorkflowContinuedAsNew { new_run_id: "a-2".into(), input: serde_json::json!({}) });
    assert_eq!(p.counts().running, 1);
    let ev = s.ev_in_run("a", "a-2", started(None));
    p.apply_stream(ev, T0);
    let o = p.order("a").unwrap();
    assert_eq!((o.runs_started, o.status), (2, Some(WorkflowStatus::Running)));
    assert_eq!(p.counts().running, 1);
}

#[test]
fn registered_scope_ignores_other_workflows_and_all_scope_counts_them() {
    let (mut p, mut s) = (registered(&["mine"]), Stream::new(T0));
    apply(&mut p, &mut s, "leftover", started(None));
    apply(&mut p, &mut s, "leftover", completed());
    apply(&mut p, &mut s, "mine", started(None));
    assert_eq!((p.counts().started, p.counts().completed, p.len()), (1, 0, 1), "an earlier run's leftovers are not kept");

    let mut all = Projection::new(Options { scope: Scope::All, keep_history: true, notable: false, history_budget: None });
    let mut s = Stream::new(T0);
    apply(&mut all, &mut s, "leftover", started(None));
    apply(&mut all, &mut s, "leftover", completed());
    apply(&mut all, &mut s, "mine", started(None));
    assert_eq!((all.counts().started, all.counts().completed), (2, 1));
    assert_eq!(all.get("mine").unwrap().events.len(), 1, "histories are kept when asked");
}

#[test]
fn the_history_budget_lets_go_of_the_first_closed_histories_and_keeps_open_ones() {
    let mut p = Projection::new(Options { scope: Scope::All, keep_history: true, notable: false, history_budget: Some(5) });
    let mut s = Stream::new(T0);
    apply(&mut p, &mut s, "open", started(None));
    for wf in ["a", "b", "c"] {
        apply(&mut p, &mut s, wf, started(None));
        apply(&mut p, &mut s, wf, scheduled(1, "ChargePayment"));
        apply(&mut p, &mut s, wf, completed());
    }
    // 3 closed runs of 3 events each against a budget of 5: `a` then `b` are let go.
    assert_eq!(p.get("a").map(|r| (r.events.len(), r.events_let_go)), Some((0, 3)));
    assert_eq!(p.get("b").map(|r| (r.events.len(), r.events_let_go)), Some((0, 3)));
    assert_eq!(p.get("c").map(|r| (r.events.len(), r.events_let_go)), Some((3, 0)));
    assert_eq!(p.closed_events_kept(), 3);
    for _ in 0..10 {
        apply(&mut p, &mut s, "open", scheduled(1, "ChargePayment"));
    }
    assert!(p.get("open").unwrap().events.len() > 5, "an open run keeps its whole history");
    // The counts never forget: only histories are let go.
    assert_eq!((p.counts().completed, p.counts().started), (3, 4));
    assert_eq!(p.get("a").unwrap().status, WorkflowStatus::Completed);
    // Looked at again: its history is paged back in, and the oldest kept one (b's is gone,
    // so c's) makes room.
    let mut again = Stream::new(T0);
    let history: Vec<_> = [started(None), scheduled(1, "ChargePayment"), completed()].into_iter().map(|k| again.ev("a", k).event).collect();
    assert!(p.restore_history("a", "a-run", &history));
    assert_eq!(p.get("a").map(|r| (r.events.len(), r.events_let_go, r.compact.len())), Some((3, 0, 3)));
    assert_eq!(p.get("c").map(|r| r.events.len()), Some(0));
    assert_eq!(p.closed_events_kept(), 3);
    assert!(!p.restore_history("a", "a-run", &history), "a kept history is not replaced");
}

#[test]
fn replayed_cursors_and_event_ids_change_nothing() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    let first = s.ev("a", started(None));
    assert!(p.apply_stream(first.clone(), T0));
    assert!(!p.apply_stream(first.clone(), T0), "same cursor");
    assert!(!p.apply_event("a", "a-run", "Order", first.event, T0), "same event id from a backfill");
    assert_eq!(p.total_events, 1);
}

#[test]
fn the_most_frequent_failure_is_the_bug_not_the_last_blip() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    apply(&mut p, &mut s, "a", started(None));
    apply(&mut p, &mut s, "a", scheduled(1, "ChargePayment"));
    for attempt in 1..=3 {
        apply(&mut p, &mut s, "a", failed(1, attempt, "500 AmountMismatch", Some(T0)));
    }
    s.now_ms += 10;
    apply(&mut p, &mut s, "a", failed(1, 4, "dns error", Some(T0)));
    let o = p.order("a").unwrap();
    assert_eq!(o.most_frequent_failure, Some(("500 AmountMismatch".to_string(), 3)));
    assert_eq!(o.last_failure_text().as_deref(), Some("ChargePayment: dns error"));
    assert_eq!(o.retries, 4);
}

#[test]
fn notable_events_are_typed() {
    let (mut p, mut s) = (registered(&["a"]), Stream::new(T0));
    apply(&mut p, &mut s, "a", started(None));
    apply(&mut p, &mut s, "a", timer_started(1, 1_000, T0 + 1_000));
    apply(&mut p, &mut s, "a", EventKind::TimerFired { seq: 1 });
    apply(&mut p, &mut s, "a", signaled("approve"));
    apply(&mut p, &mut s, "a", completed());
    let kinds: Vec<String> = p.notable().iter().map(|n| n.kind.to_string()).collect();
    assert_eq!(kinds, ["durable timer 1 started (1000 ms)", "durable timer 1 fired", "signal `approve` received", "completed"]);
}
