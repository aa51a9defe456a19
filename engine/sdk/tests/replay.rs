//! Replay tests on golden histories (tests/histories/*.json): the replayer must reproduce the
//! recorded commands, report only the new ones, resolve races the same way on every replay, and
//! fail the task (not the workflow) when the code no longer matches the history.

use std::path::PathBuf;
use std::time::Duration;

use faultline_sdk::proto::{ActivityOptions, Command, HistoryEvent, WorkflowTask};
use faultline_sdk::{replay, ChildOptions, Either, ReplayError, WfContext, WorkflowError, WorkflowRegistry};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    events: Vec<HistoryEvent>,
}

fn task(name: &str) -> WorkflowTask {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/histories").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let golden: Golden = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let workflow_type = match &golden.events[0].kind {
        faultline_sdk::proto::EventKind::WorkflowStarted { workflow_type, .. } => workflow_type.clone(),
        other => panic!("{name}: first event is {}", other.name()),
    };
    WorkflowTask {
        task_token: "t".into(),
        workflow_id: "wf-1".into(),
        run_id: "run-1".into(),
        workflow_type,
        history: golden.events,
        attempt: 1,
    }
}

#[derive(Deserialize, serde::Serialize)]
struct Order {
    id: String,
    amount: u64,
}

async fn order(ctx: WfContext, o: Order) -> Result<String, WorkflowError> {
    let r: String = ctx.activity("reserve", &o, ActivityOptions::default()).await?;
    ctx.sleep(Duration::from_secs(1)).await?;
    let approved: bool = ctx.signal("approve").recv().await?;
    if !approved {
        return Err(WorkflowError::application("Rejected", "not approved"));
    }
    let c: String = ctx.activity("charge", &o, ActivityOptions::default()).await?;
    Ok(format!("{r}|{c}"))
}

/// The same workflow after an incompatible change: charges before reserving.
async fn order_reordered(ctx: WfContext, o: Order) -> Result<String, WorkflowError> {
    let c: String = ctx.activity("charge", &o, ActivityOptions::default()).await?;
    let r: String = ctx.activity("reserve", &o, ActivityOptions::default()).await?;
    Ok(format!("{r}|{c}"))
}

/// An incompatible change that drops the timer.
async fn order_without_timer(ctx: WfContext, o: Order) -> Result<String, WorkflowError> {
    let r: String = ctx.activity("reserve", &o, ActivityOptions::default()).await?;
    let _: bool = ctx.signal("approve").recv().await?;
    let c: String = ctx.activity("charge", &o, ActivityOptions::default()).await?;
    Ok(format!("{r}|{c}"))
}

async fn race(ctx: WfContext, _: ()) -> Result<String, WorkflowError> {
    let approve = ctx.signal("approve").recv::<String>();
    let timeout = ctx.sleep(Duration::from_secs(60));
    Ok(match ctx.select2(approve, timeout).await {
        Either::Left(s) => format!("approved: {}", s?),
        Either::Right(_) => "timed out".into(),
    })
}

/// The approval pattern that cleans up after itself: the losing timer is cancelled.
async fn race_cancelling(ctx: WfContext, _: ()) -> Result<String, WorkflowError> {
    let approve = ctx.signal("approve").recv::<String>();
    let mut timeout = ctx.sleep(Duration::from_secs(60));
    Ok(match ctx.select2(approve, &mut timeout).await {
        Either::Left(s) => {
            timeout.cancel();
            assert!(timeout.await.is_err(), "a cancelled timer resolves as cancelled");
            format!("approved: {}", s?)
        }
        Either::Right(_) => "timed out".into(),
    })
}

async fn parent(ctx: WfContext, n: u64) -> Result<u64, WorkflowError> {
    let r: u64 = ctx.child_workflow("Child", &n, ChildOptions::default()).await?;
    if r < 10 {
        return Err(ctx.continue_as_new(&r));
    }
    Ok(r)
}

async fn cancellable(ctx: WfContext, _: ()) -> Result<(), WorkflowError> {
    let nap = ctx.sleep(Duration::from_secs(3600));
    if let Either::Right(()) = ctx.select2(nap, ctx.cancelled()).await {
        let _: () = ctx.activity("cleanup", &(), ActivityOptions::default()).await?;
        return Err(WorkflowError::Cancelled);
    }
    Ok(())
}

/// The workflow of tests/engine_kill.rs, whose real history is a golden file.
async fn three_steps(ctx: WfContext, _: ()) -> Result<u32, WorkflowError> {
    let opts = ActivityOptions::default();
    let a: u32 = ctx.activity("step", &1, opts.clone()).await?;
    ctx.sleep(Duration::from_millis(300)).await?;
    let b: u32 = ctx.activity("step", &2, opts.clone()).await?;
    let c: u32 = ctx.activity("step", &3, opts).await?;
    Ok(a + b + c)
}

fn registry() -> WorkflowRegistry {
    let mut r = WorkflowRegistry::new();
    r.register("Order", order);
    r.register("Race", race);
    r.register("Parent", parent);
    r.register("Cancellable", cancellable);
    r.register("ThreeSteps", three_steps);
    r
}

#[test]
fn real_engine_history_replays_at_every_task() {
    // Recorded by the real engine (see engine_kill.rs): includes a start-to-close timeout and a
    // retry on another worker. Cut after each workflow_task_started: the new commands must be
    // what the engine recorded next.
    let full = task("engine_three_steps_killed.json");
    assert!(replay(&registry(), &full).unwrap().is_empty());
    let expect = [
        (3, vec!["schedule_activity"]),
        (9, vec!["start_timer"]),
        (14, vec!["schedule_activity"]),
        (22, vec!["schedule_activity"]),
        (28, vec!["complete_workflow"]),
    ];
    for (event_id, names) in expect {
        let mut t = full.clone();
        t.history.truncate(event_id);
        let cmds = replay(&registry(), &t).unwrap();
        assert_eq!(cmds.iter().map(|c| c.name()).collect::<Vec<_>>(), names, "cut at #{event_id}");
    }
}

#[test]
fn real_engine_history_detects_a_removed_timer() {
    let mut r = registry();
    r.register("ThreeSteps", |ctx: WfContext, _: ()| async move {
        let a: u32 = ctx.activity("step", &1, ActivityOptions::default()).await?;
        let b: u32 = ctx.activity("step", &2, ActivityOptions::default()).await?;
        Ok::<_, WorkflowError>(a + b)
    });
    let err = replay(&r, &task("engine_three_steps_killed.json")).unwrap_err();
    let ReplayError::Nondeterminism(msg) = &err else { panic!("{err:?}") };
    assert!(msg.contains("history event #11 is start_timer (seq 2) but the workflow code now produces command schedule_activity (seq 2, 'step')"), "{msg}");
}

#[test]
fn order_mid_run_reports_only_the_timer() {
    let cmds = replay(&registry(), &task("order_after_reserve.json")).unwrap();
    assert_eq!(cmds, vec![Command::StartTimer { seq: 2, duration_ms: 1000 }]);
}

#[test]
fn completed_order_replays_without_new_commands() {
    // Includes a non-final activity failure, a signal buffered before the workflow listens,
    // and a failed workflow task whose (unrecorded) commands must not be expected.
    let cmds = replay(&registry(), &task("order_completed.json")).unwrap();
    assert!(cmds.is_empty(), "{cmds:?}");
}

#[test]
fn completed_order_at_each_task_produces_the_next_recorded_command() {
    // Cut the complete history right after each counted workflow_task_started and check the
    // new commands are exactly what the engine recorded next.
    let full = task("order_completed.json");
    let mut checked = 0;
    for (i, e) in full.history.iter().enumerate() {
        if e.kind.name() != "workflow_task_started" {
            continue;
        }
        let next_outcome = full.history[i + 1..].iter().find(|n| n.kind.name().starts_with("workflow_task_")).map(|n| n.kind.name());
        if next_outcome != Some("workflow_task_completed") {
            continue;
        }
        let mut t = full.clone();
        t.history.truncate(i + 1);
        let cmds = replay(&registry(), &t).unwrap();
        let recorded: Vec<&str> = full.history[i + 1..]
            .iter()
            .skip(1)
            .take_while(|n| !n.kind.name().starts_with("workflow_task_"))
            .map(|n| n.kind.name())
            .filter(|n| ["activity_scheduled", "timer_started", "workflow_completed"].contains(n))
            .collect();
        let produced: Vec<&str> = cmds.iter().map(|c| c.name()).collect();
        let expected: Vec<&str> = recorded
            .iter()
            .map(|n| match *n {
                "activity_scheduled" => "schedule_activity",
                "timer_started" => "start_timer",
                _ => "complete_workflow",
            })
            .collect();
        assert_eq!(produced, expected, "after event #{}", e.event_id);
        checked += 1;
    }
    assert_eq!(checked, 4);
    let last = replay(&registry(), &{
        let mut t = full.clone();
        let at = t.history.iter().rposition(|e| e.kind.name() == "workflow_task_started").unwrap();
        t.history.truncate(at + 1);
        t
    })
    .unwrap();
    assert_eq!(last, vec![Command::CompleteWorkflow { result: serde_json::json!("R-1|C-3") }]);
}

#[test]
fn reordered_activities_are_nondeterminism_naming_event_and_command() {
    let mut r = registry();
    r.register("Order", order_reordered);
    let err = replay(&r, &task("order_after_reserve.json")).unwrap_err();
    let ReplayError::Nondeterminism(msg) = &err else { panic!("expected nondeterminism, got {err:?}") };
    assert!(msg.contains("history event #5 is schedule_activity (seq 1, 'reserve')"), "{msg}");
    assert!(msg.contains("now produces command schedule_activity (seq 1, 'charge')"), "{msg}");
}

#[test]
fn dropped_timer_is_nondeterminism() {
    let mut r = registry();
    r.register("Order", order_without_timer);
    let err = replay(&r, &task("order_completed.json")).unwrap_err();
    let ReplayError::Nondeterminism(msg) = &err else { panic!("expected nondeterminism, got {err:?}") };
    assert!(msg.contains("start_timer (seq 2)"), "{msg}");
}

#[test]
fn race_signal_before_timer_takes_the_signal() {
    let cmds = replay(&registry(), &task("race_signal_first.json")).unwrap();
    assert_eq!(cmds, vec![Command::CompleteWorkflow { result: serde_json::json!("approved: yes") }]);
}

#[test]
fn race_timer_before_signal_takes_the_timer() {
    let cmds = replay(&registry(), &task("race_timer_first.json")).unwrap();
    assert_eq!(cmds, vec![Command::CompleteWorkflow { result: serde_json::json!("timed out") }]);
}

#[test]
fn losing_timer_is_cancelled() {
    let mut r = registry();
    r.register("Race", race_cancelling);
    let cmds = replay(&r, &task("race_signal_first.json")).unwrap();
    assert_eq!(
        cmds,
        vec![
            Command::CancelTimer { seq: 1 },
            Command::CompleteWorkflow { result: serde_json::json!("approved: yes") }
        ]
    );
    let cmds = replay(&r, &task("race_timer_first.json")).unwrap();
    assert_eq!(cmds, vec![Command::CompleteWorkflow { result: serde_json::json!("timed out") }]);
}

#[test]
fn race_resolved_in_one_task_is_the_same_on_every_replay() {
    let t = task("race_both_same_task.json");
    let first = replay(&registry(), &t).unwrap();
    for _ in 0..20 {
        assert_eq!(replay(&registry(), &t).unwrap(), first);
    }
    // select2 polls its first argument first: the signal wins a tie.
    assert_eq!(first, vec![Command::CompleteWorkflow { result: serde_json::json!("approved: late") }]);
}

#[test]
fn closed_race_replays_cleanly_and_detects_a_changed_outcome() {
    assert!(replay(&registry(), &task("race_timer_won_closed.json")).unwrap().is_empty());
    // Code that would now fail instead of completing no longer matches workflow_completed.
    let mut r = registry();
    r.register("Race", |ctx: WfContext, _: ()| async move {
        ctx.sleep(Duration::from_secs(60)).await?;
        Err::<String, _>(WorkflowError::failed("boom"))
    });
    let err = replay(&r, &task("race_timer_won_closed.json")).unwrap_err();
    assert!(matches!(&err, ReplayError::Nondeterminism(m) if m.contains("in workflow task 2, history event #10 is complete_workflow but the workflow code now produces command fail_workflow")), "{err:?}");
}

#[test]
fn child_result_then_continue_as_new() {
    let cmds = replay(&registry(), &task("parent_child_done.json")).unwrap();
    assert_eq!(cmds, vec![Command::ContinueAsNew { input: serde_json::json!(6), workflow_type: None }]);
}

#[test]
fn cancellation_is_observed_and_cleanup_scheduled() {
    let cmds = replay(&registry(), &task("cancel_requested.json")).unwrap();
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert!(matches!(&cmds[0], Command::ScheduleActivity { seq: 2, activity_type, .. } if activity_type == "cleanup"));
}

#[test]
fn panicking_workflow_fails_the_task_not_the_process() {
    let mut r = registry();
    r.register("Order", |_ctx: WfContext, _o: Order| async move {
        let v: Vec<u32> = Vec::new();
        Ok::<u32, WorkflowError>(v[3])
    });
    let err = replay(&r, &task("order_after_reserve.json")).unwrap_err();
    assert!(matches!(err, ReplayError::Panicked(ref m) if m.contains("index out of bounds")), "{err:?}");
}

#[test]
fn tokio_in_workflow_code_fails_the_task_with_a_hint() {
    let mut r = registry();
    r.register("Order", |_ctx: WfContext, _o: Order| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<(), WorkflowError>(())
    });
    // Replay runs on its own thread in the worker; here the test thread has no runtime either.
    let err = replay(&r, &task("order_after_reserve.json")).unwrap_err();
    assert!(matches!(err, ReplayError::Panicked(ref m) if m.contains("use ctx.sleep")), "{err:?}");
}

#[test]
fn unknown_type_and_bad_input() {
    let err = replay(&WorkflowRegistry::new(), &task("race_timer_first.json")).unwrap_err();
    assert_eq!(err, ReplayError::UnknownWorkflowType("Race".into()));
    // Race's input is () but Order expects an object: the workflow fails with BadInput.
    let mut r = WorkflowRegistry::new();
    r.register("Race", order);
    let mut t = task("race_timer_first.json");
    t.history.truncate(3);
    let cmds = replay(&r, &t).unwrap();
    assert!(matches!(&cmds[..], [Command::FailWorkflow { failure }] if failure.error_type.as_deref() == Some("BadInput")), "{cmds:?}");
}

#[test]
fn now_and_random_are_deterministic() {
    let mut r = WorkflowRegistry::new();
    r.register("Race", |ctx: WfContext, _: ()| async move {
        let a = ctx.random();
        let b = ctx.random();
        Ok::<_, WorkflowError>((a, b, ctx.now_ms(), ctx.workflow_id(), ctx.run_id()))
    });
    let mut t = task("race_timer_first.json");
    t.history.truncate(3);
    let one = replay(&r, &t).unwrap();
    assert_eq!(one, replay(&r, &t).unwrap());
    let Command::CompleteWorkflow { result } = &one[0] else { panic!("{one:?}") };
    let (a, b, now, wid, rid): (u64, u64, i64, String, String) = serde_json::from_value(result.clone()).unwrap();
    assert_ne!(a, b);
    assert_eq!(now, t.history[2].timestamp_ms);
    assert_eq!((wid.as_str(), rid.as_str()), ("wf-1", "run-1"));
    // Another seed gives another sequence.
    if let faultline_sdk::proto::EventKind::WorkflowStarted { random_seed, .. } = &mut t.history[0].kind {
        *random_seed += 1;
    }
    assert_ne!(replay(&r, &t).unwrap(), one);
}
