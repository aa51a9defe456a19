//! The three workloads, defined exactly as other engines' benchmarks define them, so that the
//! figures compare:
//! - **chain**: 3 sequential activities, each echoing a 100-byte string (start-to-close 10 s).
//! - **timer**: sleep on a 1 s durable timer, then complete.
//! - **retry**: one activity that fails attempts 1 and 2 and succeeds on attempt 3; retry
//!   policy initial interval 100 ms, backoff coefficient 2.0.
//!
//! Every activity execution is recorded in the [`Ledger`] (for the duplicate count).

use std::sync::Arc;
use std::time::Duration;

use faultline_sdk::proto::{ActivityOptions, RetryPolicy};
use faultline_sdk::{ActContext, ActivityError, WfContext, Worker, WorkflowError};

use super::ledger::Ledger;

/// Task queue the bench's worker polls.
pub const TASK_QUEUE: &str = "bench";
/// Size of the string the chain's activities echo.
pub const PAYLOAD_BYTES: usize = 100;
/// Start-to-close timeout of every activity.
pub const START_TO_CLOSE_MS: u64 = 10_000;
/// The timer workload's durable sleep.
pub const TIMER: Duration = Duration::from_secs(1);
/// The retry workload's activity succeeds on this attempt.
pub const SUCCEEDING_ATTEMPT: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    Chain,
    Timer,
    Retry,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Chain => "chain",
            Workload::Timer => "timer",
            Workload::Retry => "retry",
        }
    }

    /// The registered workflow type.
    pub fn workflow_type(self) -> &'static str {
        match self {
            Workload::Chain => "BenchChain",
            Workload::Timer => "BenchTimer",
            Workload::Retry => "BenchRetry",
        }
    }

    /// The workflow's input, and the result it must return.
    pub fn input(self) -> String {
        match self {
            Workload::Timer => String::new(),
            Workload::Chain | Workload::Retry => payload(),
        }
    }
}

/// The 100-byte ASCII string the activities echo.
pub fn payload() -> String {
    let mut s = String::from("faultline-bench-payload:");
    while s.len() < PAYLOAD_BYTES {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s
}

fn echo_options() -> ActivityOptions {
    ActivityOptions { start_to_close_timeout_ms: Some(START_TO_CLOSE_MS), ..ActivityOptions::default() }
}

fn retry_options() -> ActivityOptions {
    ActivityOptions {
        start_to_close_timeout_ms: Some(START_TO_CLOSE_MS),
        retry_policy: RetryPolicy { initial_interval_ms: 100, backoff_coefficient: 2.0, ..RetryPolicy::default() },
        ..ActivityOptions::default()
    }
}

async fn chain(ctx: WfContext, input: String) -> Result<String, WorkflowError> {
    let a: String = ctx.activity("bench_echo", &input, echo_options()).await?;
    let b: String = ctx.activity("bench_echo", &a, echo_options()).await?;
    let c: String = ctx.activity("bench_echo", &b, echo_options()).await?;
    Ok(c)
}

async fn timer(ctx: WfContext, input: String) -> Result<String, WorkflowError> {
    ctx.sleep(TIMER).await?;
    Ok(input)
}

async fn retry(ctx: WfContext, input: String) -> Result<String, WorkflowError> {
    Ok(ctx.activity("bench_flaky", &input, retry_options()).await?)
}

/// Registers the workload's workflow and the activities on `worker`.
pub fn register(worker: &mut Worker, workload: Workload, ledger: Arc<Ledger>) {
    match workload {
        Workload::Chain => worker.register_workflow(workload.workflow_type(), chain),
        Workload::Timer => worker.register_workflow(workload.workflow_type(), timer),
        Workload::Retry => worker.register_workflow(workload.workflow_type(), retry),
    };
    let l = ledger.clone();
    worker.register_activity("bench_echo", move |ctx: ActContext, s: String| {
        l.record(ctx.idempotency_key(), ctx.attempt());
        async move { Ok::<_, ActivityError>(s) }
    });
    worker.register_activity("bench_flaky", move |ctx: ActContext, s: String| {
        ledger.record(ctx.idempotency_key(), ctx.attempt());
        let attempt = ctx.attempt();
        async move {
            if attempt < SUCCEEDING_ATTEMPT {
                Err(ActivityError::retryable(format!("planned failure of attempt {attempt}")))
            } else {
                Ok(s)
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_exactly_100_bytes() {
        assert_eq!(payload().len(), PAYLOAD_BYTES);
        assert!(payload().is_ascii());
    }

    #[test]
    fn retry_policy_is_the_defined_one() {
        let p = retry_options().retry_policy;
        assert_eq!((p.initial_interval_ms, p.backoff_coefficient), (100, 2.0));
        assert_eq!(p.backoff_ms(1), 100);
        assert_eq!(p.backoff_ms(2), 200);
        assert_eq!(retry_options().start_to_close_timeout_ms, Some(10_000));
    }
}
