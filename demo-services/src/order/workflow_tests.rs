//! Tests of the workflows' logic through the SDK's pure replayer: a tiny scripted "engine"
//! records each workflow task's commands as the matching events, then feeds the results a
//! test chooses. No engine, no network, no clock; every branch is deterministic.

use faultline_sdk::proto::{Command, EventKind, Failure, HistoryEvent, WorkflowTask};
use faultline_sdk::{replay, WorkflowRegistry};
use serde_json::{json, Value};

use super::*;
use crate::order::{activity_types as t, error_types, OrderInput, OrderOutput, ORDER_WORKFLOW, SHIPMENT_WORKFLOW};

struct Sim {
    registry: WorkflowRegistry,
    events: Vec<HistoryEvent>,
}

impl Sim {
    fn start(workflow_type: &str, input: Value) -> Sim {
        let mut registry = WorkflowRegistry::new();
        registry.register(ORDER_WORKFLOW, order);
        registry.register(SHIPMENT_WORKFLOW, shipment);
        let mut sim = Sim { registry, events: Vec::new() };
        sim.push(EventKind::WorkflowStarted {
            workflow_id: "order-o1".into(),
            workflow_type: workflow_type.into(),
            task_queue: "orders".into(),
            input,
            options: Default::default(),
            parent: None,
            continued_from_run_id: None,
            random_seed: 7,
        });
        sim
    }

    fn push(&mut self, kind: EventKind) {
        let event_id = self.events.len() as u64 + 1;
        self.events.push(HistoryEvent { event_id, timestamp_ms: 1_000 * event_id as i64, kind });
    }

    /// Delivers `results`, runs one workflow task and records its commands as events.
    fn step(&mut self, results: Vec<EventKind>) -> Vec<Command> {
        for r in results {
            self.push(r);
        }
        self.push(EventKind::WorkflowTaskScheduled { task_queue: "orders".into(), attempt: 1 });
        self.push(EventKind::WorkflowTaskStarted { worker: "test".into() });
        let task = WorkflowTask {
            task_token: "t".into(),
            workflow_id: "order-o1".into(),
            run_id: "r1".into(),
            workflow_type: match &self.events[0].kind {
                EventKind::WorkflowStarted { workflow_type, .. } => workflow_type.clone(),
                _ => unreachable!(),
            },
            history: self.events.clone(),
            attempt: 1,
        };
        let commands = replay(&self.registry, &task).expect("replay");
        self.push(EventKind::WorkflowTaskCompleted { worker: "test".into() });
        for c in &commands {
            match c.clone() {
                Command::ScheduleActivity { seq, activity_type, input, options } => {
                    self.push(EventKind::ActivityScheduled { seq, activity_type, input, task_queue: "orders".into(), options })
                }
                Command::StartTimer { seq, duration_ms } => self.push(EventKind::TimerStarted { seq, duration_ms, fire_at_ms: 0 }),
                Command::StartChildWorkflow { seq, workflow_type, workflow_id, input, parent_close_policy, .. } => {
                    self.push(EventKind::ChildWorkflowInitiated {
                        seq,
                        workflow_id: workflow_id.unwrap_or_default(),
                        workflow_type,
                        task_queue: "orders".into(),
                        input,
                        parent_close_policy,
                    })
                }
                _ => {}
            }
        }
        commands
    }
}

fn activity(c: &Command) -> (u64, &str) {
    match c {
        Command::ScheduleActivity { seq, activity_type, .. } => (*seq, activity_type.as_str()),
        other => panic!("expected an activity, got {other:?}"),
    }
}

fn done(seq: u64, result: Value) -> Vec<EventKind> {
    vec![EventKind::ActivityStarted { seq, attempt: 1, worker: "w".into() }, EventKind::ActivityCompleted { seq, attempt: 1, result }]
}

fn input(amount: &str) -> Value {
    let mut i = OrderInput::new("o1", "mug", 2, amount);
    i.timing.approval_timeout_ms = 30_000;
    serde_json::to_value(i).unwrap()
}

fn reservation() -> Value {
    json!({"reservation_id": "res_000001", "order_id": "o1", "sku": "mug", "quantity": 2, "remaining": 8})
}

fn charge(amount: &str, minor: i64) -> Value {
    json!({"charge_id": "ch_000001", "order_id": "o1", "amount": amount, "amount_minor": minor, "currency": "EUR"})
}

fn failure_of(commands: &[Command]) -> Failure {
    match commands.last() {
        Some(Command::FailWorkflow { failure }) => failure.clone(),
        other => panic!("expected the workflow to fail, got {other:?}"),
    }
}

#[test]
fn happy_path_reserves_charges_ships_and_notifies() {
    let mut sim = Sim::start(ORDER_WORKFLOW, input("25.98"));
    let c = sim.step(vec![]);
    assert_eq!(activity(&c[0]), (1, t::RESERVE_INVENTORY));
    match &c[0] {
        Command::ScheduleActivity { options, input, .. } => {
            assert_eq!(options.retry_policy.initial_interval_ms, 1_000);
            assert_eq!(input["quantity"], 2);
        }
        _ => unreachable!(),
    }
    let c = sim.step(done(1, reservation()));
    assert_eq!(activity(&c[0]), (2, t::CHARGE_PAYMENT));
    let c = sim.step(done(2, charge("25.98", 2598)));
    match &c[..] {
        [Command::StartChildWorkflow { seq: 3, workflow_type, workflow_id, .. }] => {
            assert_eq!((workflow_type.as_str(), workflow_id.as_deref()), (SHIPMENT_WORKFLOW, Some("shipment-o1")));
        }
        other => panic!("expected the shipment child, got {other:?}"),
    }
    let shipped = json!({"label_id": "lbl_000001", "tracking_number": "FL7340000001DE", "dispatch_id": "dsp_000002"});
    let c = sim.step(vec![EventKind::ChildWorkflowStarted { seq: 3, run_id: "c1".into() }, EventKind::ChildWorkflowCompleted { seq: 3, result: shipped }]);
    assert_eq!(activity(&c[0]), (4, t::SEND_NOTIFICATION));
    let c = sim.step(done(4, json!({"message_id": "msg_000001", "order_id": "o1", "channel": "email"})));
    match &c[..] {
        [Command::CompleteWorkflow { result }] => {
            let out: OrderOutput = serde_json::from_value(result.clone()).unwrap();
            assert_eq!((out.charged_minor, out.shipment.tracking_number.as_str(), out.message_id.as_str()), (2598, "FL7340000001DE", "msg_000001"));
        }
        other => panic!("expected completion, got {other:?}"),
    }
}

#[test]
fn a_charge_failing_for_good_releases_the_reservation_only() {
    let mut sim = Sim::start(ORDER_WORKFLOW, input("25.98"));
    sim.step(vec![]);
    sim.step(done(1, reservation()));
    let failure = Failure { message: "payment refused the request".into(), error_type: Some("InvalidAmount".into()), non_retryable: true, details: None };
    let c = sim.step(vec![
        EventKind::ActivityStarted { seq: 2, attempt: 1, worker: "w".into() },
        EventKind::ActivityFailed { seq: 2, attempt: 1, failure, next_retry_at_ms: None },
    ]);
    assert_eq!(c.iter().map(activity).collect::<Vec<_>>(), [(3, t::RELEASE_INVENTORY)]);
    let c = sim.step(done(3, json!({"release_id": "rel_000002", "order_id": "o1", "released": 2})));
    let f = failure_of(&c);
    assert_eq!(f.error_type.as_deref(), Some(error_types::ORDER_FAILED));
    assert!(f.message.contains("released 2 x mug") && !f.message.contains("refunded"), "{}", f.message);
}

#[test]
fn approval_timeout_refunds_then_releases() {
    let mut sim = Sim::start(ORDER_WORKFLOW, input("300.00"));
    sim.step(vec![]);
    sim.step(done(1, reservation()));
    let c = sim.step(done(2, charge("300.00", 30_000)));
    assert!(matches!(c[..], [Command::StartTimer { seq: 3, duration_ms: 30_000 }]), "{c:?}");
    let c = sim.step(vec![EventKind::TimerFired { seq: 3 }]);
    assert_eq!(activity(&c[0]), (4, t::REFUND_PAYMENT));
    let c = sim.step(done(4, json!({"refund_id": "re_000002", "order_id": "o1", "amount_minor": 30_000, "amount": "300.00", "currency": "EUR"})));
    assert_eq!(activity(&c[0]), (5, t::RELEASE_INVENTORY));
    let c = sim.step(done(5, json!({"release_id": "rel_000002", "order_id": "o1", "released": 2})));
    let f = failure_of(&c);
    assert_eq!(f.error_type.as_deref(), Some(error_types::APPROVAL_TIMED_OUT));
    assert!(f.message.contains("refunded 300.00 EUR, released 2 x mug"), "{}", f.message);
}

#[test]
fn approval_and_timeout_in_one_task_resolve_as_approved() {
    let mut sim = Sim::start(ORDER_WORKFLOW, input("300.00"));
    sim.step(vec![]);
    sim.step(done(1, reservation()));
    sim.step(done(2, charge("300.00", 30_000)));
    let c = sim.step(vec![EventKind::TimerFired { seq: 3 }, EventKind::WorkflowSignaled { name: "approve".into(), payload: json!({"by": "alice"}) }]);
    assert!(matches!(c[..], [Command::StartChildWorkflow { seq: 4, .. }]), "{c:?}");
}

#[test]
fn a_rejection_compensates() {
    let mut sim = Sim::start(ORDER_WORKFLOW, input("300.00"));
    sim.step(vec![]);
    sim.step(done(1, reservation()));
    sim.step(done(2, charge("300.00", 30_000)));
    let c = sim.step(vec![EventKind::WorkflowSignaled { name: "approve".into(), payload: json!({"approved": false, "by": "risk"}) }]);
    assert_eq!(activity(&c[0]), (4, t::REFUND_PAYMENT));
}

#[test]
fn cancel_while_charging_refunds_and_releases_then_cancels() {
    let mut sim = Sim::start(ORDER_WORKFLOW, input("19.99"));
    sim.step(vec![]);
    sim.step(done(1, reservation()));
    // The charge is retrying (the bug) when the order is canceled: it may still land, so both
    // compensations run.
    let c = sim.step(vec![EventKind::WorkflowCancelRequested { reason: "customer".into() }]);
    assert_eq!(activity(&c[0]), (3, t::REFUND_PAYMENT));
    let c = sim.step(done(3, json!({"refund_id": "re_000002", "order_id": "o1", "amount_minor": 0, "amount": "0.00", "currency": "EUR"})));
    assert_eq!(activity(&c[0]), (4, t::RELEASE_INVENTORY));
    let c = sim.step(done(4, json!({"release_id": "rel_000002", "order_id": "o1", "released": 2})));
    assert!(matches!(c[..], [Command::CancelWorkflow { .. }]), "{c:?}");
}

#[test]
fn invalid_input_fails_before_any_effect() {
    let mut sim = Sim::start(ORDER_WORKFLOW, input("12.345"));
    let f = failure_of(&sim.step(vec![]));
    assert_eq!(f.error_type.as_deref(), Some(error_types::INVALID_ORDER));
}

#[test]
fn shipment_labels_waits_for_pickup_then_dispatches() {
    let timing = OrderTiming { pickup_delay_ms: 4_321, ..OrderTiming::default() };
    let mut sim = Sim::start(SHIPMENT_WORKFLOW, json!({"order_id": "o1", "sku": "mug", "quantity": 1, "timing": timing}));
    let c = sim.step(vec![]);
    assert_eq!(activity(&c[0]), (1, t::CREATE_LABEL));
    let c = sim.step(done(1, json!({"label_id": "lbl_000001", "order_id": "o1", "tracking_number": "FL1"})));
    assert!(matches!(c[..], [Command::StartTimer { seq: 2, duration_ms: 4_321 }]), "{c:?}");
    let c = sim.step(vec![EventKind::TimerFired { seq: 2 }]);
    assert_eq!(activity(&c[0]), (3, t::DISPATCH_PARCEL));
    let c = sim.step(done(3, json!({"dispatch_id": "dsp_000002", "order_id": "o1", "label_id": "lbl_000001", "tracking_number": "FL1"})));
    assert!(matches!(&c[..], [Command::CompleteWorkflow { result }] if result["tracking_number"] == "FL1"), "{c:?}");
}
