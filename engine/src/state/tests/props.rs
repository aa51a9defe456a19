//! Property tests over the command and request surface (issue 15, item 2): whatever numbers a
//! client sends, no deadline lands in the past and no timer chain spins without time passing.
//! The transition logic is driven directly, *without* the wire limits in front of it, so the
//! saturating arithmetic is shown to hold on its own; the limits come on top.
//!
//! Deterministic for CI: a fixed RNG seed, 256 cases, and no failure-persistence files.

use std::collections::HashMap;

use faultline_proto::limits::{Bounded, MAX_DURATION_MS, MAX_TIMESTAMP_MS};
use faultline_proto::{
    ActivityOptions, Command, CompleteWorkflowTaskRequest, EpochMillis, Failure, ParentClosePolicy, RetryPolicy,
    ScheduleSpec, StartWorkflowRequest, WorkflowOptions,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use serde_json::json;

use super::Run;
use crate::clock::Clock;
use crate::state::{Input, Output, TimerKind, Transition};

fn config() -> Config {
    Config {
        cases: 256,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x000f_a017_11e5),
        ..Config::default()
    }
}

/// Interesting u64s: the edges where the old arithmetic wrapped, and everything else.
fn num() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(1u64 << 63),
        Just(i64::MAX as u64),
        Just(MAX_DURATION_MS),
        Just(MAX_DURATION_MS + 1),
        1u64..5_000,
        any::<u64>(),
    ]
}

fn opt_num() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(num())
}

fn workflow_options() -> impl Strategy<Value = WorkflowOptions> {
    (opt_num(), opt_num(), opt_num()).prop_map(|(run_timeout_ms, execution_timeout_ms, task_timeout_ms)| {
        WorkflowOptions { run_timeout_ms, execution_timeout_ms, task_timeout_ms }
    })
}

fn activity_options() -> impl Strategy<Value = ActivityOptions> {
    (opt_num(), opt_num(), opt_num(), opt_num(), num(), opt_num(), prop_oneof![Just(1.0f64), Just(2.0), Just(1e300), Just(f64::NAN), 0.0f64..200.0], any::<u32>())
        .prop_map(|(s2s, s2c_start, s2c, hb, initial, max, coefficient, attempts)| ActivityOptions {
            task_queue: None,
            schedule_to_start_timeout_ms: s2s,
            start_to_close_timeout_ms: s2c_start,
            schedule_to_close_timeout_ms: s2c,
            heartbeat_timeout_ms: hb,
            retry_policy: RetryPolicy {
                initial_interval_ms: initial,
                backoff_coefficient: coefficient,
                maximum_interval_ms: max,
                maximum_attempts: attempts % 6,
                non_retryable_error_types: Vec::new(),
            },
        })
}

fn seq() -> impl Strategy<Value = u64> {
    prop_oneof![1u64..6, Just(0u64), Just(u64::MAX), any::<u64>()]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (seq(), activity_options()).prop_map(|(seq, options)| Command::ScheduleActivity {
            seq,
            activity_type: "a".into(),
            input: json!(null),
            options
        }),
        (seq(), num()).prop_map(|(seq, duration_ms)| Command::StartTimer { seq, duration_ms }),
        seq().prop_map(|seq| Command::CancelTimer { seq }),
        seq().prop_map(|seq| Command::RequestCancelActivity { seq }),
        (seq(), workflow_options()).prop_map(|(seq, options)| Command::StartChildWorkflow {
            seq,
            workflow_type: "C".into(),
            workflow_id: None,
            task_queue: None,
            input: json!(null),
            options,
            parent_close_policy: ParentClosePolicy::Abandon,
        }),
        seq().prop_map(|seq| Command::RecordMarker { seq, name: "m".into(), details: json!(null) }),
        Just(Command::CompleteWorkflow { result: json!(1) }),
        Just(Command::FailWorkflow { failure: Failure::new("f") }),
        Just(Command::ContinueAsNew { input: json!(null), workflow_type: None }),
    ]
}

/// The run's timer rows with their fire times, as the store holds them.
#[derive(Default)]
struct Timers(HashMap<String, (TimerKind, EpochMillis)>);

impl Timers {
    /// Applies a transition's timer changes; every newly armed timer must be due no earlier
    /// than `now`, and no later than the largest timestamp.
    fn apply(&mut self, t: &Transition, now: EpochMillis) -> Result<(), TestCaseError> {
        if t.closed {
            self.0.clear();
        }
        for kind in &t.cancel_timers {
            self.0.remove(&kind.key());
        }
        for (kind, at) in &t.timers {
            prop_assert!(*at >= now, "{kind:?} armed at {at}, before now {now}");
            prop_assert!(*at <= MAX_TIMESTAMP_MS, "{kind:?} armed at {at}, past the largest timestamp");
            self.0.insert(kind.key(), (kind.clone(), *at));
        }
        Ok(())
    }
}

/// Starts every waiting activity (a worker that never finishes them) and checks its deadline.
fn start_activities(r: &mut Run, timers: &mut Timers) -> Result<(), TestCaseError> {
    let waiting: Vec<u64> = r
        .state
        .activities
        .values()
        .filter(|a| a.status == faultline_proto::PendingActivityState::Scheduled)
        .map(|a| a.seq)
        .collect();
    for seq in waiting {
        let now = r.clock.now_ms();
        let t = r.apply(Input::ActivityStart { seq, worker: "w".into() }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Output::ActivityTask(task) = &t.output {
            if let Some(d) = task.deadline_ms {
                prop_assert!(d >= now, "activity {seq} deadline {d} before now {now}");
            }
        }
        let t = t.clone();
        timers.apply(&t, now)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_command_list_makes_a_past_deadline_or_a_tight_loop(
        options in workflow_options(),
        commands in prop::collection::vec(command(), 0..8),
    ) {
        let mut r = Run::new(options);
        let mut timers = Timers::default();
        timers.apply(r.last.as_ref().unwrap(), r.clock.now_ms())?;
        let now = r.clock.now_ms();
        let token = r.start_wft();
        timers.apply(r.last.as_ref().unwrap(), now)?;
        // What the wire would have said first (it must not panic either).
        let _ = CompleteWorkflowTaskRequest { task_token: token.clone(), commands: commands.clone(), eager: None }.check_limits();
        if let Ok(t) = r.apply(Input::WorkflowTaskComplete { token, commands }) {
            let t = t.clone();
            timers.apply(&t, now)?;
        }
        start_activities(&mut r, &mut timers)?;
        // Let time run: fire whatever is due, restarting activities as a worker would. The
        // clock only moves forward; firings at one instant are bounded (no spin).
        let mut same_instant = 0;
        let mut last_now = r.clock.now_ms();
        for _ in 0..200 {
            let Some((key, (kind, at))) = timers.0.iter().min_by_key(|(_, (_, at))| *at).map(|(k, v)| (k.clone(), v.clone())) else { break };
            if at > r.clock.now_ms() {
                r.clock.set(at);
            }
            let now = r.clock.now_ms();
            same_instant = if now == last_now { same_instant + 1 } else { 0 };
            last_now = now;
            prop_assert!(same_instant < 50, "timers keep firing at {now} without time passing");
            timers.0.remove(&key);
            if !r.state.is_running() {
                break;
            }
            let t = r.apply(Input::TimerFired(kind)).map_err(|e| TestCaseError::fail(e.to_string()))?.clone();
            timers.apply(&t, now)?;
            if r.state.is_running() {
                start_activities(&mut r, &mut timers)?;
            }
        }
    }

    #[test]
    fn no_start_request_makes_a_past_deadline(options in workflow_options(), now in 0i64..=MAX_TIMESTAMP_MS) {
        let req = StartWorkflowRequest {
            workflow_id: "w".into(),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            input: json!(null),
            options: options.clone(),
            id_conflict: Default::default(),
        };
        let bounded = req.check_limits().is_ok() && crate::state::validate_workflow_options(&options).is_ok();
        let params = crate::state::StartParams {
            run_id: "r".into(),
            workflow_id: "w".into(),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            input: json!(null),
            options: options.clone(),
            parent: None,
            continued_from_run_id: None,
            execution_deadline_ms: None,
            random_seed: 1,
        };
        let t = crate::state::start(params, now);
        for (kind, at) in &t.timers {
            prop_assert!(*at >= now && *at <= MAX_TIMESTAMP_MS, "{kind:?} at {at} (now {now})");
            if bounded && now < MAX_TIMESTAMP_MS && matches!(kind, TimerKind::RunTimeout | TimerKind::ExecutionTimeout) {
                prop_assert!(*at > now, "a positive timeout is in the future");
            }
        }
    }

    #[test]
    fn no_schedule_fires_at_or_before_now(interval in num(), now in 0i64..=MAX_TIMESTAMP_MS) {
        let spec = ScheduleSpec {
            schedule_id: "s".into(),
            start: StartWorkflowRequest {
                workflow_id: "w".into(),
                workflow_type: "T".into(),
                task_queue: "q".into(),
                input: json!(null),
                options: WorkflowOptions::default(),
                id_conflict: Default::default(),
            },
            interval_ms: Some(interval),
            cron: None,
        };
        match crate::schedule::next_fire(&spec, now) {
            Ok(next) => prop_assert!(next > now || now >= MAX_TIMESTAMP_MS, "interval {interval}: fires at {next}, now {now}"),
            Err(e) => prop_assert!(!(crate::schedule::MIN_INTERVAL_MS..=MAX_DURATION_MS).contains(&interval), "{e}"),
        }
    }
}
