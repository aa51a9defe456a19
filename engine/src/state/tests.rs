//! Unit tests of the pure transition logic, driven by a [`ManualClock`]: no I/O, no sleeps.

use faultline_proto::{
    ActivityOptions, Command, EventKind, Failure, ParentClosePolicy, PendingActivityState, RetryPolicy,
    TimeoutKind, WorkflowOptions, WorkflowStatus,
};
use serde_json::json;

use super::*;
use crate::clock::{Clock, ManualClock};

mod commands;
mod props;

pub(super) struct Run {
    pub(super) clock: ManualClock,
    pub(super) state: RunState,
    last: Option<Transition>,
    /// The run's timer rows as the store would hold them: a fired timer's row is deleted
    /// before its input is applied, then each transition cancels and arms.
    timers: BTreeMap<String, TimerKind>,
}

impl Run {
    pub(super) fn new(options: WorkflowOptions) -> Self {
        let clock = ManualClock::new(1_000_000);
        let t = start(
            StartParams {
                run_id: "r1".into(),
                workflow_id: "wf".into(),
                workflow_type: "Order".into(),
                task_queue: "q".into(),
                input: json!({"n": 1}),
                options,
                parent: None,
                continued_from_run_id: None,
                execution_deadline_ms: None,
                random_seed: 7,
            },
            clock.now_ms(),
        );
        let state = t.state.clone();
        let mut run = Run { clock, state, last: None, timers: BTreeMap::new() };
        run.keep_timer_rows(&t);
        run.last = Some(t);
        run
    }

    fn keep_timer_rows(&mut self, t: &Transition) {
        for kind in &t.cancel_timers {
            self.timers.remove(&kind.key());
        }
        for (kind, _) in &t.timers {
            self.timers.insert(kind.key(), kind.clone());
        }
    }

    pub(super) fn apply(&mut self, input: Input) -> Result<&Transition> {
        if let Input::TimerFired(kind) = &input {
            self.timers.remove(&kind.key());
        }
        let t = apply(&self.state, input, self.clock.now_ms())?;
        self.keep_timer_rows(&t);
        // Ids continue exactly where the state left off: gapless.
        for (i, e) in t.events.iter().enumerate() {
            assert_eq!(e.event_id, self.state.next_event_id + i as u64, "event ids must be gapless");
        }
        self.state = t.state.clone();
        self.last = Some(t);
        Ok(self.last.as_ref().unwrap())
    }

    pub(super) fn kinds(&self) -> Vec<&'static str> {
        self.last.as_ref().unwrap().events.iter().map(|e| e.kind.name()).collect()
    }

    /// Claims the workflow task and returns its token.
    pub(super) fn start_wft(&mut self) -> String {
        let t = self.apply(Input::WorkflowTaskStart { worker: "w".into() }).unwrap();
        match &t.output {
            Output::WorkflowTask { token, .. } => token.clone(),
            o => panic!("expected a workflow task, got {o:?}"),
        }
    }

    pub(super) fn complete_wft(&mut self, commands: Vec<Command>) -> &Transition {
        let token = self.start_wft();
        self.apply(Input::WorkflowTaskComplete { token, commands }).unwrap()
    }

    pub(super) fn start_activity(&mut self, seq: u64) -> String {
        let t = self.apply(Input::ActivityStart { seq, worker: "aw".into() }).unwrap();
        match &t.output {
            Output::ActivityTask(a) => a.task_token.clone(),
            o => panic!("expected an activity task, got {o:?}"),
        }
    }

    fn has_wft_task(&self) -> bool {
        self.last.as_ref().unwrap().new_tasks.iter().any(|t| t.kind == TaskKind::Workflow)
    }
}

pub(super) fn activity(seq: u64, policy: RetryPolicy) -> Command {
    Command::ScheduleActivity {
        seq,
        activity_type: "charge".into(),
        input: json!({}),
        options: ActivityOptions { retry_policy: policy, ..Default::default() },
    }
}

#[test]
fn start_records_started_and_schedules_one_workflow_task() {
    let r = Run::new(WorkflowOptions::default());
    assert_eq!(r.kinds(), ["workflow_started", "workflow_task_scheduled"]);
    assert!(r.has_wft_task());
    assert_eq!(r.state.next_event_id, 3);
}

#[test]
fn thin_path_activity_then_complete() {
    let mut r = Run::new(WorkflowOptions::default());
    let t = r.complete_wft(vec![activity(1, RetryPolicy::default())]);
    assert_eq!(t.new_tasks, vec![NewTask { kind: TaskKind::Activity, task_queue: "q".into(), seq: 1 }]);
    assert_eq!(r.kinds(), ["workflow_task_completed", "activity_scheduled"]);
    let token = r.start_activity(1);
    r.apply(Input::ActivityComplete { token: token.clone(), result: json!("ok") }).unwrap();
    assert_eq!(r.kinds(), ["activity_completed", "workflow_task_scheduled"]);
    // A duplicate completion is stale.
    assert!(matches!(
        r.apply(Input::ActivityComplete { token, result: json!("again") }),
        Err(EngineError::StaleToken(_))
    ));
    let t = r.complete_wft(vec![Command::CompleteWorkflow { result: json!("done") }]);
    assert!(t.closed);
    assert_eq!(r.state.status, WorkflowStatus::Completed);
    assert_eq!(r.state.result, Some(json!("done")));
}

#[test]
fn stale_workflow_task_token_is_rejected() {
    let mut r = Run::new(WorkflowOptions::default());
    let token = r.start_wft();
    r.apply(Input::WorkflowTaskComplete { token: token.clone(), commands: vec![] }).unwrap();
    let again = r.apply(Input::WorkflowTaskComplete { token, commands: vec![] });
    assert!(matches!(again, Err(EngineError::StaleToken(_))));
}

#[test]
fn signal_during_started_task_causes_another_and_blocks_closing() {
    let mut r = Run::new(WorkflowOptions::default());
    let token = r.start_wft();
    r.apply(Input::Signal { name: "go".into(), payload: json!(1) }).unwrap();
    assert_eq!(r.kinds(), ["workflow_signaled"]); // no second workflow task while one is started
    assert!(!r.has_wft_task());
    let t = r
        .apply(Input::WorkflowTaskComplete { token, commands: vec![Command::CompleteWorkflow { result: json!(1) }] })
        .unwrap();
    assert!(!t.closed, "closing without seeing the signal must be refused");
    assert!(matches!(t.output, Output::CloseRefused { .. }), "the refusal is told: {:?}", t.output);
    assert_eq!(r.kinds(), ["workflow_task_failed", "workflow_task_scheduled"]);
    assert!(r.state.is_running());
    // Signal while a task is only scheduled: nothing new is scheduled.
    r.apply(Input::Signal { name: "again".into(), payload: json!(2) }).unwrap();
    assert_eq!(r.kinds(), ["workflow_signaled"]);
    let t = r.complete_wft(vec![Command::CompleteWorkflow { result: json!(2) }]);
    assert!(t.closed);
}

#[test]
fn activity_retries_with_backoff_then_fails_for_good() {
    let mut r = Run::new(WorkflowOptions::default());
    let policy = RetryPolicy { initial_interval_ms: 1000, backoff_coefficient: 2.0, maximum_attempts: 3, ..Default::default() };
    r.complete_wft(vec![activity(1, policy)]);
    for attempt in 1..=2u32 {
        let token = r.start_activity(1);
        let now = r.clock.now_ms();
        let t = r.apply(Input::ActivityFail { token, failure: Failure::new("boom") }).unwrap().clone();
        let expected = now + 1000 * 2i64.pow(attempt - 1);
        assert!(matches!(&t.events[0].kind,
            EventKind::ActivityFailed { attempt: a, next_retry_at_ms: Some(n), .. } if *a == attempt && *n == expected));
        assert!(!r.has_wft_task(), "a retry does not wake the workflow");
        assert_eq!(t.timers, vec![(TimerKind::ActivityRetry { seq: 1 }, expected)]);
        assert_eq!(t.attempts.len(), 1);
        assert_eq!(t.attempts[0].outcome, "failed");
        assert_eq!(t.attempts[0].next_retry_at_ms, Some(expected));
        assert_eq!(r.state.activities[&1].status, PendingActivityState::Backoff);
        r.clock.set(expected);
        let t = r.apply(Input::TimerFired(TimerKind::ActivityRetry { seq: 1 })).unwrap();
        assert_eq!(t.new_tasks.len(), 1);
    }
    let token = r.start_activity(1);
    let t = r.apply(Input::ActivityFail { token, failure: Failure::new("boom") }).unwrap().clone();
    assert!(matches!(&t.events[0].kind, EventKind::ActivityFailed { attempt: 3, next_retry_at_ms: None, .. }));
    assert!(r.has_wft_task());
    assert!(r.state.activities.is_empty());
}

#[test]
fn non_retryable_error_types_fail_at_once() {
    let mut r = Run::new(WorkflowOptions::default());
    let policy = RetryPolicy { non_retryable_error_types: vec!["CardDeclined".into()], ..Default::default() };
    r.complete_wft(vec![activity(1, policy)]);
    let token = r.start_activity(1);
    let failure = Failure { message: "declined".into(), error_type: Some("CardDeclined".into()), ..Default::default() };
    let t = r.apply(Input::ActivityFail { token, failure }).unwrap();
    assert!(matches!(&t.events[0].kind, EventKind::ActivityFailed { next_retry_at_ms: None, .. }));
}

#[test]
fn retry_now_skips_the_backoff() {
    let mut r = Run::new(WorkflowOptions::default());
    r.complete_wft(vec![activity(1, RetryPolicy { initial_interval_ms: 60_000, ..Default::default() })]);
    let token = r.start_activity(1);
    r.apply(Input::ActivityFail { token, failure: Failure::new("down") }).unwrap();
    let t = r.apply(Input::RetryNow { seq: 1 }).unwrap();
    assert_eq!(t.new_tasks.len(), 1);
    assert!(t.cancel_timers.contains(&TimerKind::ActivityRetry { seq: 1 }));
    assert_eq!(r.state.activities[&1].attempt, 2);
    // Not in backoff any more: a second retry-now is a conflict; the old retry timer is a no-op.
    assert!(matches!(r.apply(Input::RetryNow { seq: 1 }), Err(EngineError::Conflict(_))));
    assert!(r.apply(Input::TimerFired(TimerKind::ActivityRetry { seq: 1 })).unwrap().noop);
    assert!(matches!(r.apply(Input::RetryNow { seq: 9 }), Err(EngineError::NotFound(_))));
}

#[test]
fn start_to_close_timeout_retries_and_stale_timer_is_ignored() {
    let mut r = Run::new(WorkflowOptions::default());
    r.complete_wft(vec![activity(1, RetryPolicy::default())]);
    let token = r.start_activity(1);
    let (kind, at) = r.last.as_ref().unwrap().timers[0].clone();
    assert_eq!(kind, TimerKind::ActivityStartToClose { seq: 1, attempt: 1 });
    assert_eq!(at, r.clock.now_ms() + DEFAULT_START_TO_CLOSE_MS as i64);
    r.clock.set(at);
    let t = r.apply(Input::TimerFired(kind.clone())).unwrap();
    assert!(matches!(&t.events[0].kind,
        EventKind::ActivityTimedOut { timeout: TimeoutKind::StartToClose, next_retry_at_ms: Some(_), .. }));
    // The late worker's completion is stale; firing the same timer again changes nothing.
    assert!(matches!(r.apply(Input::ActivityComplete { token, result: json!(1) }), Err(EngineError::StaleToken(_))));
    assert!(r.apply(Input::TimerFired(kind)).unwrap().noop);
}

#[test]
fn schedule_to_start_timeout_is_final() {
    let mut r = Run::new(WorkflowOptions::default());
    let cmd = Command::ScheduleActivity {
        seq: 1,
        activity_type: "x".into(),
        input: json!(null),
        options: ActivityOptions { schedule_to_start_timeout_ms: Some(500), ..Default::default() },
    };
    r.complete_wft(vec![cmd]);
    r.clock.advance(500);
    let t = r.apply(Input::TimerFired(TimerKind::ActivityScheduleToStart { seq: 1, attempt: 1 })).unwrap();
    assert!(matches!(&t.events[0].kind,
        EventKind::ActivityTimedOut { timeout: TimeoutKind::ScheduleToStart, next_retry_at_ms: None, .. }));
    assert_eq!(t.remove_tasks, vec![(TaskKind::Activity, 1)]);
}

#[test]
fn heartbeat_extends_the_deadline_and_reports_cancellation() {
    let mut r = Run::new(WorkflowOptions::default());
    let cmd = Command::ScheduleActivity {
        seq: 1,
        activity_type: "x".into(),
        input: json!(null),
        options: ActivityOptions { heartbeat_timeout_ms: Some(1000), ..Default::default() },
    };
    r.complete_wft(vec![cmd]);
    let token = r.start_activity(1);
    r.clock.advance(800);
    let now = r.clock.now_ms();
    let t = r.apply(Input::ActivityHeartbeat { token: token.clone(), details: Some(json!({"step": 2})) }).unwrap();
    assert_eq!(t.timers, vec![(TimerKind::ActivityHeartbeat { seq: 1, attempt: 1 }, now + 1000)]);
    assert_eq!(t.output, Output::Heartbeat { cancel_requested: false });
    r.apply(Input::Signal { name: "stop".into(), payload: json!(null) }).unwrap();
    r.complete_wft(vec![Command::RequestCancelActivity { seq: 1 }]);
    let t = r.apply(Input::ActivityHeartbeat { token: token.clone(), details: None }).unwrap();
    assert_eq!(t.output, Output::Heartbeat { cancel_requested: true });
    r.apply(Input::ActivityFail { token, failure: Failure::new("stopped") }).unwrap();
    assert_eq!(r.kinds(), ["activity_canceled", "workflow_task_scheduled"]);
}

#[test]
fn workflow_task_timeout_redispatches_with_next_attempt() {
    let mut r = Run::new(WorkflowOptions { task_timeout_ms: Some(2000), ..Default::default() });
    let token = r.start_wft();
    let id = r.state.wft.as_ref().unwrap().id;
    r.clock.advance(2000);
    r.apply(Input::TimerFired(TimerKind::WorkflowTaskTimeout { id })).unwrap();
    assert_eq!(r.kinds(), ["workflow_task_timed_out", "workflow_task_scheduled"]);
    assert!(r.has_wft_task());
    assert_eq!(r.state.wft.as_ref().unwrap().attempt, 2);
    assert!(matches!(
        r.apply(Input::WorkflowTaskComplete { token, commands: vec![] }),
        Err(EngineError::StaleToken(_))
    ));
}

#[test]
fn failed_workflow_task_stays_visible_and_retries_after_backoff() {
    let mut r = Run::new(WorkflowOptions::default());
    let token = r.start_wft();
    let t = r
        .apply(Input::WorkflowTaskFail { token, message: "nondeterminism: expected timer".into(), nondeterminism: true })
        .unwrap()
        .clone();
    assert_eq!(r.kinds(), ["workflow_task_failed"]);
    assert_eq!(r.state.wft_last_failure.as_deref(), Some("nondeterminism: expected timer"));
    let (kind, at) = t.timers[0].clone();
    r.clock.set(at);
    r.apply(Input::TimerFired(kind)).unwrap();
    assert_eq!(r.kinds(), ["workflow_task_scheduled"]);
    assert_eq!(r.state.wft.as_ref().unwrap().attempt, 2);
}

#[test]
fn user_timers_fire_and_cancel() {
    let mut r = Run::new(WorkflowOptions::default());
    let now = r.clock.now_ms();
    let t = r.complete_wft(vec![
        Command::StartTimer { seq: 1, duration_ms: 5000 },
        Command::StartTimer { seq: 2, duration_ms: 9000 },
    ]);
    assert!(t.timers.contains(&(TimerKind::User { seq: 1 }, now + 5000)));
    assert!(r.apply(Input::WorkflowTaskStart { worker: "w".into() }).is_err(), "no task until something happens");
    r.clock.advance(5000);
    r.apply(Input::TimerFired(TimerKind::User { seq: 1 })).unwrap();
    assert_eq!(r.kinds(), ["timer_fired", "workflow_task_scheduled"]);
    let t = r.complete_wft(vec![Command::CancelTimer { seq: 2 }]);
    assert!(t.cancel_timers.contains(&TimerKind::User { seq: 2 }));
    assert!(r.apply(Input::TimerFired(TimerKind::User { seq: 2 })).unwrap().noop);
}

#[test]
fn duplicate_seq_is_a_bad_request() {
    let mut r = Run::new(WorkflowOptions::default());
    let token = r.start_wft();
    let res = r.apply(Input::WorkflowTaskComplete {
        token,
        commands: vec![Command::StartTimer { seq: 1, duration_ms: 1 }, Command::StartTimer { seq: 1, duration_ms: 2 }],
    });
    assert!(matches!(&res, Err(EngineError::MalformedCommands(m)) if m.starts_with("commands[1] (start_timer)")), "{res:?}");
}

#[test]
fn cancellation_is_a_request_the_code_accepts() {
    let mut r = Run::new(WorkflowOptions::default());
    r.complete_wft(vec![]);
    r.apply(Input::CancelRequest { reason: "user".into() }).unwrap();
    assert_eq!(r.kinds(), ["workflow_cancel_requested", "workflow_task_scheduled"]);
    r.apply(Input::CancelRequest { reason: "again".into() }).unwrap();
    assert!(r.kinds().is_empty(), "a second request is idempotent");
    r.complete_wft(vec![Command::CancelWorkflow { details: json!(null) }]);
    assert_eq!(r.state.status, WorkflowStatus::Canceled);
    assert!(matches!(r.apply(Input::Signal { name: "x".into(), payload: json!(1) }), Err(EngineError::Conflict(_))));
}

#[test]
fn run_timeout_closes_the_run() {
    let mut r = Run::new(WorkflowOptions { run_timeout_ms: Some(3000), ..Default::default() });
    let (kind, at) = r.last.as_ref().unwrap().timers[0].clone();
    assert_eq!(kind, TimerKind::RunTimeout);
    r.clock.set(at);
    let t = r.apply(Input::TimerFired(kind)).unwrap();
    assert!(t.closed);
    assert_eq!(r.state.status, WorkflowStatus::TimedOut);
}

#[test]
fn parent_close_policies_and_child_callbacks() {
    let mut r = Run::new(WorkflowOptions::default());
    let child = |seq, policy| Command::StartChildWorkflow {
        seq,
        workflow_type: "Ship".into(),
        workflow_id: None,
        task_queue: None,
        input: json!(null),
        options: WorkflowOptions::default(),
        parent_close_policy: policy,
    };
    let t = r.complete_wft(vec![
        child(1, ParentClosePolicy::Terminate),
        child(2, ParentClosePolicy::Abandon),
        child(3, ParentClosePolicy::RequestCancel),
    ]);
    assert!(matches!(&t.effects[0], Effect::StartChild { request, .. } if request.workflow_id == "wf/1"));
    r.apply(Input::ChildStarted { seq: 1, run_id: "c1".into() }).unwrap();
    r.apply(Input::ChildClosed { seq: 1, outcome: ChildOutcome::Completed(json!(5)) }).unwrap();
    assert_eq!(r.kinds(), ["child_workflow_completed"]); // a task is already scheduled
    let t = r.complete_wft(vec![Command::CompleteWorkflow { result: json!(null) }]);
    // Child 1 already closed; 2 is abandoned; 3 gets a cancellation request.
    assert_eq!(t.effects, vec![Effect::RequestCancel { workflow_id: "wf/3".into(), reason: "parent wf closed (completed)".into() }]);
}

#[test]
fn continue_as_new_closes_and_starts_the_next_run() {
    let mut r = Run::new(WorkflowOptions::default());
    let t = r.complete_wft(vec![Command::ContinueAsNew { input: json!({"n": 2}), workflow_type: None }]).clone();
    assert_eq!(r.state.status, WorkflowStatus::ContinuedAsNew);
    let Effect::ContinueAsNew(p) = &t.effects[0] else { panic!("expected continue-as-new") };
    assert_eq!(p.continued_from_run_id.as_deref(), Some("r1"));
    assert_eq!(Some(p.run_id.clone()), r.state.continued_to);
    // Time-ordered, stamped with the transition's clock (UUIDv7 keeps the runs in flight at
    // the end of every index keyed by run id).
    let id = uuid::Uuid::parse_str(&p.run_id).unwrap();
    assert_eq!(id.get_version_num(), 7);
    let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
    assert_eq!(secs as i64 * 1000 + (nanos / 1_000_000) as i64, r.clock.now_ms());
    let next = start(p.clone(), r.clock.now_ms());
    assert_eq!(next.events[0].event_id, 1, "a new run's history starts at 1");
}

#[test]
fn execution_deadline_is_carried_across_continue_as_new() {
    let mut r = Run::new(WorkflowOptions { execution_timeout_ms: Some(60_000), ..Default::default() });
    let deadline = r.state.execution_deadline_ms.unwrap();
    r.clock.advance(10_000);
    let t = r.complete_wft(vec![Command::ContinueAsNew { input: json!(null), workflow_type: None }]).clone();
    let Effect::ContinueAsNew(p) = &t.effects[0] else { panic!("expected continue-as-new") };
    let next = start(p.clone(), r.clock.now_ms());
    assert_eq!(next.state.execution_deadline_ms, Some(deadline));
    assert!(next.timers.contains(&(TimerKind::ExecutionTimeout, deadline)));
}

fn activity_with(seq: u64, options: ActivityOptions) -> Command {
    Command::ScheduleActivity { seq, activity_type: "charge".into(), input: json!({}), options }
}

/// A way for an activity to end, named for the failure message.
type Ending = (&'static str, fn(&mut Run));

#[test]
fn an_ended_activity_leaves_no_timer_armed_and_cancels_only_what_it_armed() {
    let every_timeout = ActivityOptions {
        schedule_to_start_timeout_ms: Some(5_000),
        start_to_close_timeout_ms: Some(10_000),
        schedule_to_close_timeout_ms: Some(60_000),
        heartbeat_timeout_ms: Some(2_000),
        retry_policy: RetryPolicy { initial_interval_ms: 100, ..Default::default() },
        ..Default::default()
    };
    let endings: [Ending; 5] = [
        ("completed", |r| {
            let token = r.start_activity(1);
            r.apply(Input::ActivityComplete { token, result: json!(1) }).unwrap();
        }),
        ("failed, retried, completed", |r| {
            let token = r.start_activity(1);
            r.apply(Input::ActivityFail { token, failure: Failure::new("down") }).unwrap();
            r.clock.advance(100);
            r.apply(Input::TimerFired(TimerKind::ActivityRetry { seq: 1 })).unwrap();
            let token = r.start_activity(1);
            r.apply(Input::ActivityComplete { token, result: json!(1) }).unwrap();
        }),
        ("failed, retried now, timed out waiting for a worker", |r| {
            let token = r.start_activity(1);
            r.apply(Input::ActivityFail { token, failure: Failure::new("down") }).unwrap();
            r.apply(Input::RetryNow { seq: 1 }).unwrap();
            r.apply(Input::TimerFired(TimerKind::ActivityScheduleToStart { seq: 1, attempt: 2 })).unwrap();
        }),
        ("canceled before it started", |r| {
            r.apply(Input::Signal { name: "stop".into(), payload: json!(null) }).unwrap();
            r.complete_wft(vec![Command::RequestCancelActivity { seq: 1 }]);
        }),
        ("canceled in its backoff", |r| {
            let token = r.start_activity(1);
            r.apply(Input::ActivityFail { token, failure: Failure::new("down") }).unwrap();
            // A retry does not wake the workflow; a signal does, and it cancels the activity.
            r.apply(Input::Signal { name: "stop".into(), payload: json!(null) }).unwrap();
            r.complete_wft(vec![Command::RequestCancelActivity { seq: 1 }]);
        }),
    ];
    for (ending, run_to_end) in endings {
        let mut r = Run::new(WorkflowOptions::default());
        r.complete_wft(vec![activity_with(1, every_timeout.clone())]);
        run_to_end(&mut r);
        assert!(!r.state.activities.contains_key(&1), "{ending}: the activity must have ended");
        assert!(r.timers.is_empty(), "{ending}: timers left armed: {:?}", r.timers);
    }

    // With the default options only start-to-close is armed, so only it is cancelled.
    let mut r = Run::new(WorkflowOptions::default());
    r.complete_wft(vec![activity(1, RetryPolicy::default())]);
    let token = r.start_activity(1);
    assert_eq!(r.last.as_ref().unwrap().cancel_timers, []);
    let t = r.apply(Input::ActivityComplete { token, result: json!(1) }).unwrap();
    assert_eq!(t.cancel_timers, [TimerKind::ActivityStartToClose { seq: 1, attempt: 1 }]);
}
