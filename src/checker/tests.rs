//! The checker on hand-made histories, deliveries and ledgers: each counter finds the
//! anomaly it is for (and only it), and clean sides find nothing.

use faultline_proto::{EventKind, HistoryEvent, TimeoutKind};
use faultline_testkit::history::*;

use super::*;

const GRACE: i64 = 1_000;

/// Builds one side from hand-written runs.
struct Side1 {
    s: faultline_testkit::history::Stream,
    input: SideInput,
}

impl Side1 {
    fn new(side: Side) -> Self {
        Side1 { s: faultline_testkit::history::Stream::new(1_000), input: SideInput::new(side) }
    }

    /// Appends events to run `<wf>-run` of order `order` at the stream's current time.
    fn ev(&mut self, order: &str, wf: &str, kind: EventKind) -> u64 {
        let e = self.s.ev(wf, kind);
        if !self.input.orders.iter().any(|o| o == order) && order == wf {
            self.input.orders.push(order.to_string());
        }
        let run = match self.input.runs.iter_mut().find(|r| r.run_id == e.run_id) {
            Some(r) => r,
            None => {
                self.input.runs.push(RunHistory { order: order.into(), workflow_id: wf.into(), run_id: e.run_id.clone(), events: vec![] });
                self.input.runs.last_mut().unwrap()
            }
        };
        run.events.push(HistoryEvent { event_id: e.event.event_id, timestamp_ms: e.event.timestamp_ms, kind: e.event.kind });
        e.event.event_id
    }

    fn at(&mut self, ms: i64) -> &mut Self {
        self.s.now_ms = ms;
        self
    }

    fn delivery(&mut self, run: &str, kind: &str, seq: u64, created: u64, committed: u64, delivery: u32, at_ms: i64) {
        let message_id = self.input.deliveries.len() as i64 + 1;
        self.input.deliveries.push(QueueDelivery {
            message_id,
            topic: format!("{kind}:orders"),
            run_id: run.into(),
            kind: kind.into(),
            seq,
            created_event_id: created,
            committed_event_id: committed,
            delivery,
            at_ms,
        });
    }

    fn exec(&mut self, order: &str, key: &str, at_ms: i64, absorbed: bool) {
        self.input.executions.push(Execution {
            service: "payment".into(),
            key: key.into(),
            order: order.into(),
            effect: "charge".into(),
            at_ms,
            absorbed,
            ledger_seq: Some(1),
        });
    }

    /// A complete, clean order: workflow task, one activity (`charge`), completion.
    fn clean_order(&mut self, o: &str) {
        self.at(1_000);
        self.ev(o, o, started(None));
        self.ev(o, o, EventKind::WorkflowTaskScheduled { task_queue: "orders".into(), attempt: 1 });
        self.at(1_010).ev(o, o, EventKind::WorkflowTaskStarted { worker: "w".into() });
        self.ev(o, o, EventKind::WorkflowTaskCompleted { worker: "w".into() });
        self.ev(o, o, scheduled(1, "charge"));
        self.at(1_020).ev(o, o, attempt_started(1, 1));
        self.at(1_030).ev(o, o, activity_completed(1, 1));
        self.ev(o, o, EventKind::WorkflowTaskScheduled { task_queue: "orders".into(), attempt: 1 });
        self.at(1_040).ev(o, o, EventKind::WorkflowTaskStarted { worker: "w".into() });
        self.ev(o, o, EventKind::WorkflowTaskCompleted { worker: "w".into() });
        self.ev(o, o, completed());
        self.exec(o, &format!("{o}-run:1"), 1_025, false);
    }

    fn check(&self, now_ms: i64) -> SideReport {
        check(&self.input, &CheckParams { now_ms, grace_ms: GRACE })
    }
}

/// Counters with exactly the given ones set.
fn only(f: impl FnOnce(&mut Counters)) -> Counters {
    let mut c = Counters::default();
    f(&mut c);
    c
}

fn wft_scheduled() -> EventKind {
    EventKind::WorkflowTaskScheduled { task_queue: "orders".into(), attempt: 1 }
}

/// An open order that scheduled `charge` (seq 1) at 1 000 ms and heard nothing since.
fn scheduled_charge(s: &mut Side1, o: &str) -> u64 {
    s.at(1_000).ev(o, o, started(None));
    s.ev(o, o, wft_scheduled());
    s.ev(o, o, EventKind::WorkflowTaskStarted { worker: "w".into() });
    s.ev(o, o, EventKind::WorkflowTaskCompleted { worker: "w".into() });
    s.ev(o, o, scheduled(1, "charge"))
}

#[test]
fn clean_sides_find_nothing() {
    for side in [Side::Transactional, Side::DualWrite] {
        let mut s = Side1::new(side);
        s.clean_order("o1");
        s.clean_order("o2");
        if side == Side::DualWrite {
            s.delivery("o1-run", "workflow", 0, 2, 2, 1, 1_005);
            s.delivery("o1-run", "activity", 1, 5, 5, 1, 1_015);
        }
        let r = s.check(60_000);
        assert_eq!(r.counters, Counters::default(), "{:#?}", r.anomalies);
        assert!(r.anomalies.is_empty());
        assert_eq!(r.orders, 2);
    }
}

#[test]
fn lost_task_committed_as_scheduled_never_delivered() {
    let mut s = Side1::new(Side::DualWrite);
    let id = scheduled_charge(&mut s, "o1");
    // Within the grace: not lost yet, not stuck yet.
    assert_eq!(s.check(1_500).counters, Counters::default());
    let r = s.check(10_000);
    assert_eq!(r.counters, only(|c| (c.lost_tasks, c.stuck_orders) = (1, 1)), "{:#?}", r.anomalies);
    let lost = r.of(AnomalyKind::LostTask).next().unwrap();
    assert_eq!(lost.order.as_deref(), Some("o1"));
    assert!(lost.subject.contains("activity 1 (charge)"), "{}", lost.subject);
    assert_eq!(lost.witness.len(), 1, "the minimal witness is the scheduled event");
    assert_eq!(lost.witness[0].source, Source::History { workflow_id: "o1".into(), run_id: "o1-run".into(), event_id: id });
}

#[test]
fn a_lost_workflow_task_and_a_retry_that_never_came_are_lost_tasks() {
    let mut s = Side1::new(Side::Transactional);
    s.at(1_000).ev("o1", "o1", started(None));
    s.ev("o1", "o1", wft_scheduled());
    let mut t = Side1::new(Side::Transactional);
    scheduled_charge(&mut t, "o2");
    t.at(1_100).ev("o2", "o2", attempt_started(1, 1));
    t.at(1_200).ev("o2", "o2", failed(1, 1, "boom", Some(2_000)));
    assert_eq!(s.check(10_000).counters.lost_tasks, 1);
    assert_eq!(t.check(2_500).counters.lost_tasks, 0, "the retry is not due + grace yet");
    assert_eq!(t.check(10_000).counters.lost_tasks, 1);
}

#[test]
fn lost_completion_delivered_then_acked_and_never_done() {
    let mut s = Side1::new(Side::DualWrite);
    let id = scheduled_charge(&mut s, "o1");
    s.delivery("o1-run", "activity", 1, id, id, 1, 1_050);
    let r = s.check(10_000);
    assert_eq!(r.counters, only(|c| (c.lost_completions, c.stuck_orders) = (1, 1)), "{:#?}", r.anomalies);
    let a = r.of(AnomalyKind::LostCompletion).next().unwrap();
    assert!(matches!(a.witness[1].source, Source::Queue { message_id: 1, delivery: 1 }), "{a:#?}");
}

#[test]
fn early_task_delivered_before_its_state_committed() {
    let mut s = Side1::new(Side::DualWrite);
    s.clean_order("o1");
    // The first workflow task (created by event 2) delivered while nothing was committed.
    s.delivery("o1-run", "workflow", 0, 2, 0, 1, 999);
    let r = s.check(60_000);
    assert_eq!(r.counters, only(|c| c.early_tasks = 1), "{:#?}", r.anomalies);
    let w = &r.of(AnomalyKind::EarlyTask).next().unwrap().witness;
    assert_eq!(w.len(), 2);
    assert!(w[0].at_ms < w[1].at_ms, "delivered before the creating event: {w:#?}");
}

#[test]
fn early_task_executed_before_the_schedule_was_stamped() {
    let mut s = Side1::new(Side::DualWrite);
    s.clean_order("o1");
    s.input.executions[0].at_ms = 900;
    assert_eq!(s.check(60_000).counters, only(|c| c.early_tasks = 1));
}

#[test]
fn ghost_task_delivered_for_a_run_that_never_committed() {
    let mut s = Side1::new(Side::DualWrite);
    s.clean_order("o1");
    s.delivery("rolled-back-run", "workflow", 0, 2, 0, 1, 1_005);
    let r = s.check(60_000);
    assert_eq!(r.counters, only(|c| c.ghost_tasks = 1), "{:#?}", r.anomalies);
    assert_eq!(r.of(AnomalyKind::GhostTask).next().unwrap().order, None, "no committed run to attribute it to");
}

#[test]
fn ghost_task_executed_for_a_step_never_scheduled() {
    let mut s = Side1::new(Side::DualWrite);
    s.clean_order("o1");
    s.exec("o1", "o1-run:7", 1_030, false);
    s.exec("o1", "gone-run:1", 1_030, false);
    let r = s.check(60_000);
    assert_eq!(r.counters, only(|c| c.ghost_tasks = 2), "{:#?}", r.anomalies);
}

#[test]
fn duplicate_executions_raw_absorbed_and_after_completion() {
    // Both sides: a worker killed between the effect and its report repeats the effect,
    // before the completion; the key absorbs it.
    let mut tx = Side1::new(Side::Transactional);
    tx.clean_order("o1");
    tx.exec("o1", "o1-run:1", 1_028, true);
    let r = tx.check(60_000);
    assert_eq!(r.counters, only(|c| (c.duplicate_executions, c.duplicates_absorbed) = (1, 1)), "{:#?}", r.anomalies);
    assert_eq!(r.counters.engine_level(), 0, "at least once is not an engine anomaly");
    // Twin: redelivered after the completion committed, twice; one absorbed, one not (a
    // service without idempotency, as in the bench).
    let mut dw = Side1::new(Side::DualWrite);
    dw.clean_order("o1");
    dw.exec("o1", "o1-run:1", 1_500, true);
    dw.exec("o1", "o1-run:1", 2_500, false);
    let r = dw.check(60_000);
    let want = only(|c| (c.duplicate_executions, c.duplicates_absorbed, c.duplicates_after_completion) = (2, 1, 2));
    assert_eq!(r.counters, want, "{:#?}", r.anomalies);
    assert_eq!(r.counters.engine_level(), 2);
    let a = r.of(AnomalyKind::DuplicateExecution).next().unwrap();
    assert_eq!(a.witness.len(), 4, "three executions and the completion: {a:#?}");
    assert!(a.witness.windows(2).all(|w| w[0].at_ms <= w[1].at_ms), "in time order");
}

#[test]
fn lost_timer_past_fire_time_never_fired() {
    let mut s = Side1::new(Side::DualWrite);
    s.at(1_000).ev("o1", "o1", started(None));
    s.ev("o1", "o1", timer_started(1, 500, 1_500));
    assert_eq!(s.check(2_000).counters, Counters::default(), "within the grace it waits for the timer");
    let r = s.check(10_000);
    assert_eq!(r.counters, only(|c| (c.lost_timers, c.stuck_orders) = (1, 1)), "{:#?}", r.anomalies);
    // Fired: nothing lost.
    s.at(1_500).ev("o1", "o1", EventKind::TimerFired { seq: 1 });
    assert_eq!(s.check(10_000).counters.lost_timers, 0);
}

#[test]
fn double_completion_of_one_activity() {
    let mut s = Side1::new(Side::DualWrite);
    s.clean_order("o1");
    s.ev("o1", "o1", activity_completed(1, 1));
    let r = s.check(60_000);
    assert_eq!(r.counters, only(|c| c.double_completions = 1), "{:#?}", r.anomalies);
    assert_eq!(r.of(AnomalyKind::DoubleCompletion).next().unwrap().witness.len(), 2);
}

#[test]
fn stuck_orders_open_and_idle_or_never_committed_but_not_one_waiting_for_a_timer() {
    let mut s = Side1::new(Side::DualWrite);
    s.at(1_000).ev("o1", "o1", started(None));
    s.ev("o1", "o1", signaled("approve"));
    s.input.orders.push("never".into());
    let r = s.check(60_000);
    assert_eq!(r.counters, only(|c| c.stuck_orders = 2), "{:#?}", r.anomalies);
    let mut t = Side1::new(Side::DualWrite);
    t.at(1_000).ev("o2", "o2", started(None));
    t.ev("o2", "o2", timer_started(1, 3_600_000, 3_601_000));
    assert_eq!(t.check(60_000).counters, Counters::default());
}

#[test]
fn recovered_after_a_timed_out_attempt_or_a_redelivery() {
    let mut s = Side1::new(Side::Transactional);
    let o = "o1";
    scheduled_charge(&mut s, o);
    s.at(1_100).ev(o, o, attempt_started(1, 1));
    s.at(11_100).ev(o, o, EventKind::ActivityTimedOut { seq: 1, attempt: 1, timeout: TimeoutKind::StartToClose, next_retry_at_ms: Some(12_000) });
    s.at(12_000).ev(o, o, attempt_started(1, 2));
    s.at(12_010).ev(o, o, activity_completed(1, 2));
    s.ev(o, o, completed());
    let r = s.check(60_000);
    assert_eq!(r.counters, only(|c| c.recovered = 1), "{:#?}", r.anomalies);

    let mut d = Side1::new(Side::DualWrite);
    d.clean_order("o2");
    d.delivery("o2-run", "activity", 1, 5, 5, 2, 1_025);
    assert_eq!(d.check(60_000).counters, only(|c| c.recovered = 1));
}

#[test]
fn children_belong_to_their_order() {
    let mut s = Side1::new(Side::DualWrite);
    s.clean_order("o1");
    s.at(1_000).ev("o1", "shipment-o1", started(Some("o1")));
    s.ev("o1", "shipment-o1", scheduled(1, "label"));
    let r = s.check(60_000);
    assert_eq!(r.counters, only(|c| c.lost_tasks = 1), "{:#?}", r.anomalies);
    let a = r.of(AnomalyKind::LostTask).next().unwrap();
    assert_eq!(a.order.as_deref(), Some("o1"));
    assert!(a.subject.starts_with("o1 › shipment-o1"), "{}", a.subject);
}

#[test]
fn reports_round_trip_and_render_both_columns() {
    let mut tx = Side1::new(Side::Transactional);
    tx.clean_order("t1");
    let mut dw = Side1::new(Side::DualWrite);
    scheduled_charge(&mut dw, "d1");
    let report = check_sides(&[tx.input.clone(), dw.input.clone()], &CheckParams { now_ms: 60_000, grace_ms: GRACE });
    let json = render::json(&report);
    let back: CheckReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    assert_eq!(report.side(Side::DualWrite).unwrap().counters.lost_tasks, 1);
    let md = render::markdown(&report);
    assert!(md.contains("| anomaly | Transactional | Dual-write |"), "{md}");
    assert!(md.contains("| lost tasks ¹ | 0 | 1 |"), "{md}");
    assert!(md.contains("### Witnesses: Dual-write"), "{md}");
    assert!(!md.contains("### Witnesses: Transactional"), "{md}");
    // Inputs serialize too (to keep them next to a report).
    let back: SideInput = serde_json::from_str(&serde_json::to_string(&dw.input).unwrap()).unwrap();
    assert_eq!(back, dw.input);
}
