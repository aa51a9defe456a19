//! Property tests of the wire contract: the limits are exact (a body passes iff every number
//! is within its bound), deadlines never go back, and task tokens round-trip while no string
//! makes the parser panic. Deterministic: fixed seed, 256 cases, no persistence files.

use faultline_proto::limits::{self, Bounded, MAX_DURATION_MS, MAX_TIMESTAMP_MS};
use faultline_proto::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

fn config() -> Config {
    Config {
        cases: 256,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x000f_a017_11e5),
        ..Config::default()
    }
}

fn num() -> impl Strategy<Value = u64> {
    prop_oneof![Just(u64::MAX), Just(1u64 << 63), Just(MAX_DURATION_MS), Just(MAX_DURATION_MS + 1), 0u64..100_000, any::<u64>()]
}

fn ok(v: Option<u64>) -> bool {
    v.is_none_or(|v| v <= MAX_DURATION_MS)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn workflow_options_pass_iff_every_duration_is_in_bounds(
        run in prop::option::of(num()), exec in prop::option::of(num()), task in prop::option::of(num()),
    ) {
        let o = WorkflowOptions { run_timeout_ms: run, execution_timeout_ms: exec, task_timeout_ms: task };
        prop_assert_eq!(o.check_limits().is_ok(), ok(run) && ok(exec) && ok(task));
    }

    #[test]
    fn commands_pass_iff_every_number_is_in_bounds(
        s2s in prop::option::of(num()), s2c in prop::option::of(num()), hb in prop::option::of(num()),
        initial in num(), coefficient in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -1.0f64..200.0],
        duration in num(), seq in num(),
    ) {
        let options = ActivityOptions {
            schedule_to_start_timeout_ms: s2s,
            start_to_close_timeout_ms: s2c,
            heartbeat_timeout_ms: hb,
            retry_policy: RetryPolicy { initial_interval_ms: initial, backoff_coefficient: coefficient, ..RetryPolicy::default() },
            ..ActivityOptions::default()
        };
        let commands = vec![
            Command::ScheduleActivity { seq: 1, activity_type: "a".into(), input: serde_json::Value::Null, options },
            Command::StartTimer { seq, duration_ms: duration },
        ];
        let req = CompleteWorkflowTaskRequest { task_token: "r~w~1".into(), commands, eager: None };
        let expected = ok(s2s) && ok(s2c) && ok(hb) && initial <= MAX_DURATION_MS
            && (1.0..=limits::MAX_BACKOFF_COEFFICIENT).contains(&coefficient)
            && duration <= MAX_DURATION_MS && seq <= limits::MAX_SEQ;
        let checked = req.check_limits();
        prop_assert_eq!(checked.is_ok(), expected, "{:?}", checked);
        if let Err(e) = checked {
            prop_assert!(e.field.starts_with("commands["), "the error names the command: {}", e);
        }
        // What the wire carries is what is checked (JSON has no NaN or infinity to carry).
        if coefficient.is_finite() {
            let json = serde_json::to_string(&req).unwrap();
            let back: CompleteWorkflowTaskRequest = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.check_limits().is_ok(), expected);
        }
    }

    #[test]
    fn deadlines_never_go_back_or_past_the_largest_timestamp(now in any::<i64>(), ms in num()) {
        let d = limits::deadline(now, ms);
        prop_assert!(d >= now);
        prop_assert!(d <= MAX_TIMESTAMP_MS.max(now));
        if now <= MAX_TIMESTAMP_MS - MAX_DURATION_MS as i64 && ms <= MAX_DURATION_MS {
            prop_assert_eq!(d, now + ms as i64);
        }
    }

    #[test]
    fn task_tokens_round_trip(run in "[0-9a-f-]{1,40}", id in any::<u64>(), seq in any::<u64>(), attempt in any::<u32>()) {
        for t in [TaskToken::Workflow { run_id: run.clone(), task_id: id }, TaskToken::Activity { run_id: run.clone(), seq, attempt }] {
            let back: TaskToken = t.to_string().parse().unwrap();
            prop_assert_eq!(back.run_id(), run.as_str());
            prop_assert_eq!(back, t);
        }
    }

    #[test]
    fn no_string_makes_the_token_parser_panic(s in ".{0,64}") {
        let _ = s.parse::<TaskToken>();
    }
}
