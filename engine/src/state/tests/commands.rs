//! Command lists the engine refuses (with the index and the reason) or reports back: issue 15,
//! items 5 and 6.

use faultline_proto::{Command, Failure, RetryPolicy, WorkflowOptions};
use serde_json::json;

use super::{activity, Run};
use crate::error::EngineError;
use crate::state::{Input, Output};

fn refused(r: &mut Run, commands: Vec<Command>) -> String {
    let token = r.start_wft();
    match r.apply(Input::WorkflowTaskComplete { token, commands }) {
        Err(EngineError::MalformedCommands(m)) => m,
        other => panic!("expected malformed_commands, got {other:?}"),
    }
}

#[test]
fn commands_after_a_closing_one_are_refused_not_dropped() {
    let mut r = Run::new(WorkflowOptions::default());
    let m = refused(&mut r, vec![Command::CompleteWorkflow { result: json!(1) }, Command::StartTimer { seq: 1, duration_ms: 5 }]);
    assert!(m.starts_with("commands[1] (start_timer) follows complete_workflow at index 0"), "{m}");
    assert!(r.state.is_running(), "nothing of a refused list is applied");
}

#[test]
fn two_closing_commands_are_refused_not_first_wins() {
    let mut r = Run::new(WorkflowOptions::default());
    let both = vec![Command::CompleteWorkflow { result: json!(1) }, Command::FailWorkflow { failure: Failure::new("x") }];
    let m = refused(&mut r, both);
    assert!(m.starts_with("commands[1] (fail_workflow)"), "{m}");
}

#[test]
fn cancels_of_seqs_the_run_never_issued_are_refused() {
    let mut r = Run::new(WorkflowOptions::default());
    let m = refused(&mut r, vec![Command::CancelTimer { seq: 7 }]);
    assert!(m.starts_with("commands[0] (cancel_timer) names seq 7, which this run never issued"), "{m}");
    // The refused task timed out or failed in real life; here the next attempt is started.
    let mut r = Run::new(WorkflowOptions::default());
    let m = refused(&mut r, vec![Command::StartTimer { seq: 1, duration_ms: 5 }, Command::RequestCancelActivity { seq: 1 }]);
    assert!(m.starts_with("commands[1] (request_cancel_activity) names seq 1, which is a pending timer"), "{m}");
    let mut r = Run::new(WorkflowOptions::default());
    let m = refused(&mut r, vec![Command::RequestCancelActivity { seq: 3 }]);
    assert!(m.contains("never issued"), "{m}");
}

#[test]
fn cancelling_a_timer_that_already_fired_is_a_harmless_race() {
    let mut r = Run::new(WorkflowOptions::default());
    r.complete_wft(vec![Command::StartTimer { seq: 1, duration_ms: 10 }, activity(2, RetryPolicy::default())]);
    r.clock.advance(10);
    r.apply(Input::TimerFired(crate::state::TimerKind::User { seq: 1 })).unwrap();
    // The code had not seen timer_fired yet when it decided to cancel it.
    let t = r.complete_wft(vec![Command::CancelTimer { seq: 1 }]);
    assert!(t.events.iter().all(|e| e.kind.name() != "timer_canceled"));
}

#[test]
fn a_refused_close_is_reported_as_such() {
    let mut r = Run::new(WorkflowOptions::default());
    let token = r.start_wft();
    r.apply(Input::Signal { name: "late".into(), payload: json!(1) }).unwrap();
    let t = r.apply(Input::WorkflowTaskComplete { token, commands: vec![Command::CompleteWorkflow { result: json!(1) }] }).unwrap();
    match &t.output {
        Output::CloseRefused { message } => assert!(message.contains("not applied"), "{message}"),
        other => panic!("a refused close must say so, got {other:?}"),
    }
}
