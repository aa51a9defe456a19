//! The bounds of every number (and id) on the wire, checked in one place.
//!
//! A client written from the docs alone sent `u64::MAX` where a duration goes; the engine
//! turned it into an `i64` deadline that wrapped into the past and spun on it. So every request
//! body implements [`Bounded`], the engine's body parser calls it before anything else runs,
//! and deadlines are computed with [`deadline`], which saturates. The maxima are generous (100
//! years for a duration) so that no real workload meets them; they exist so that no value,
//! however large, can reach the arithmetic.
//!
//! | kind | constant | maximum |
//! |---|---|---|
//! | duration or interval (ms) | [`MAX_DURATION_MS`] | 100 years (3 155 760 000 000) |
//! | timestamp (ms since the epoch) | [`MAX_TIMESTAMP_MS`] | 9999-12-31T23:59:59.999Z |
//! | sequence number, cursor | [`MAX_SEQ`] | 2^53 - 1 (exact in every JSON parser) |
//! | activity attempts | [`MAX_ATTEMPTS`] | 1 000 000 |
//! | backoff coefficient | [`MAX_BACKOFF_COEFFICIENT`] | 100 (and at least 1) |
//! | commands per completion, eager activities | [`MAX_COMMANDS`] | 10 000 |
//! | reports per batch | [`crate::MAX_REPORTS_PER_BATCH`] | 256 |
//! | id, task queue, type or signal name | [`MAX_NAME_BYTES`] | 1 000 bytes, not empty, not `.` or `..` |
//!
//! Checking is cheap: no allocation unless a check fails (the field path is built lazily).

use std::fmt;

use crate::{
    ActivityOptions, Command, CompleteActivityTaskRequest, CompleteWorkflowTaskRequest, EagerRequest, EpochMillis,
    FailActivityTaskRequest, FailWorkflowTaskRequest, HeartbeatRequest, PollRequest, ReasonRequest,
    ReportBatchRequest, RetryPolicy, ScheduleSpec, SignalRequest, SignalWithStartRequest, StartWorkflowRequest,
    TaskReport, WorkflowOptions, MAX_REPORTS_PER_BATCH,
};

/// Longest duration or interval accepted anywhere: 100 years of 365.25 days.
pub const MAX_DURATION_MS: u64 = 100 * 36_525 * 24 * 3_600 * 1_000 / 100;
/// Latest timestamp the engine computes or accepts: the end of the year 9999.
pub const MAX_TIMESTAMP_MS: EpochMillis = 253_402_300_799_999;
/// Largest sequence number or cursor: the largest integer every JSON parser reads exactly.
pub const MAX_SEQ: u64 = (1 << 53) - 1;
/// Largest `retry_policy.maximum_attempts` (0 still means unlimited).
pub const MAX_ATTEMPTS: u32 = 1_000_000;
/// Largest `retry_policy.backoff_coefficient`; the smallest is 1.
pub const MAX_BACKOFF_COEFFICIENT: f64 = 100.0;
/// Most commands in one completion, and most eager activities asked for.
pub const MAX_COMMANDS: usize = 10_000;
/// Longest id, task queue, type or signal name, in bytes.
pub const MAX_NAME_BYTES: usize = 1_000;

/// `now + ms`, saturating, and never past [`MAX_TIMESTAMP_MS`]: a deadline is never in the
/// past and never wraps, whatever `ms` is.
pub fn deadline(now: EpochMillis, ms: u64) -> EpochMillis {
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    now.saturating_add(ms).min(MAX_TIMESTAMP_MS.max(now))
}

/// A value out of bounds: which field, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {problem}")]
pub struct LimitError {
    /// The path of the field in the body, e.g. `commands[2].options.start_to_close_timeout_ms`.
    pub field: String,
    pub problem: String,
}

/// Where a field sits in a body; built on the stack, printed only when a check fails.
#[derive(Clone, Copy)]
pub enum At<'a> {
    Root,
    Field(&'a At<'a>, &'static str),
    Index(&'a At<'a>, usize),
}

impl<'a> At<'a> {
    pub fn field(&'a self, name: &'static str) -> At<'a> {
        At::Field(self, name)
    }
    pub fn index(&'a self, i: usize) -> At<'a> {
        At::Index(self, i)
    }
    fn fail(&self, problem: String) -> LimitError {
        LimitError { field: self.to_string(), problem }
    }
}

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Field(parent, name) => {
                if matches!(parent, At::Root) {
                    write!(f, "{name}")
                } else {
                    write!(f, "{parent}.{name}")
                }
            }
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

type Check = Result<(), LimitError>;

/// A duration or interval in milliseconds.
pub fn duration(at: At<'_>, ms: u64) -> Check {
    if ms > MAX_DURATION_MS {
        return Err(at.fail(format!(
            "is {ms} ms, above the maximum of {MAX_DURATION_MS} ms (100 years); use a shorter duration"
        )));
    }
    Ok(())
}

pub fn opt_duration(at: At<'_>, ms: Option<u64>) -> Check {
    ms.map_or(Ok(()), |ms| duration(at, ms))
}

/// A sequence number or cursor.
pub fn seq(at: At<'_>, v: u64) -> Check {
    if v > MAX_SEQ {
        return Err(at.fail(format!("is {v}, above the maximum of {MAX_SEQ} (2^53 - 1)")));
    }
    Ok(())
}

/// A count with a maximum.
pub fn count(at: At<'_>, n: usize, max: usize) -> Check {
    if n > max {
        return Err(at.fail(format!("has {n} entries, above the maximum of {max}; send fewer")));
    }
    Ok(())
}

/// An id, task queue or type: it ends up in URL paths and log lines.
pub fn name(at: At<'_>, v: &str) -> Check {
    if v.trim().is_empty() {
        return Err(at.fail("is empty; give it a non-empty value".into()));
    }
    if v == "." || v == ".." {
        return Err(at.fail(format!("is {v:?}, which cannot name anything in a URL path; pick another")));
    }
    if v.len() > MAX_NAME_BYTES {
        return Err(at.fail(format!("is {} bytes long, above the maximum of {MAX_NAME_BYTES}", v.len())));
    }
    Ok(())
}

pub fn opt_name(at: At<'_>, v: Option<&str>) -> Check {
    v.map_or(Ok(()), |v| name(at, v))
}

/// A request body whose numbers and ids are within the documented bounds.
pub trait Bounded {
    /// Checks the value; `at` is where it sits in the body (use [`At::Root`] for a whole body).
    fn check_at(&self, at: At<'_>) -> Check;

    /// Checks a whole body.
    fn check_limits(&self) -> Check {
        self.check_at(At::Root)
    }
}

impl<T: Bounded> Bounded for Option<T> {
    fn check_at(&self, at: At<'_>) -> Check {
        self.as_ref().map_or(Ok(()), |v| v.check_at(at))
    }
}

impl Bounded for WorkflowOptions {
    fn check_at(&self, at: At<'_>) -> Check {
        opt_duration(at.field("run_timeout_ms"), self.run_timeout_ms)?;
        opt_duration(at.field("execution_timeout_ms"), self.execution_timeout_ms)?;
        opt_duration(at.field("task_timeout_ms"), self.task_timeout_ms)
    }
}

impl Bounded for RetryPolicy {
    fn check_at(&self, at: At<'_>) -> Check {
        duration(at.field("initial_interval_ms"), self.initial_interval_ms)?;
        opt_duration(at.field("maximum_interval_ms"), self.maximum_interval_ms)?;
        let c = self.backoff_coefficient;
        if !(1.0..=MAX_BACKOFF_COEFFICIENT).contains(&c) {
            // Also refuses NaN and infinities.
            return Err(at.field("backoff_coefficient").fail(format!(
                "is {c}; use a number from 1 to {MAX_BACKOFF_COEFFICIENT}"
            )));
        }
        if self.maximum_attempts > MAX_ATTEMPTS {
            return Err(at.field("maximum_attempts").fail(format!(
                "is {}, above the maximum of {MAX_ATTEMPTS}; use 0 for unlimited",
                self.maximum_attempts
            )));
        }
        Ok(())
    }
}

impl Bounded for ActivityOptions {
    fn check_at(&self, at: At<'_>) -> Check {
        opt_name(at.field("task_queue"), self.task_queue.as_deref())?;
        opt_duration(at.field("schedule_to_start_timeout_ms"), self.schedule_to_start_timeout_ms)?;
        opt_duration(at.field("start_to_close_timeout_ms"), self.start_to_close_timeout_ms)?;
        opt_duration(at.field("schedule_to_close_timeout_ms"), self.schedule_to_close_timeout_ms)?;
        opt_duration(at.field("heartbeat_timeout_ms"), self.heartbeat_timeout_ms)?;
        self.retry_policy.check_at(at.field("retry_policy"))
    }
}

impl Bounded for StartWorkflowRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        name(at.field("workflow_id"), &self.workflow_id)?;
        name(at.field("workflow_type"), &self.workflow_type)?;
        name(at.field("task_queue"), &self.task_queue)?;
        self.options.check_at(at.field("options"))
    }
}

impl Bounded for SignalRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        name(at.field("name"), &self.name)
    }
}

impl Bounded for SignalWithStartRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        self.start.check_at(at.field("start"))?;
        self.signal.check_at(at.field("signal"))
    }
}

impl Bounded for ReasonRequest {
    fn check_at(&self, _: At<'_>) -> Check {
        Ok(())
    }
}

impl Bounded for ScheduleSpec {
    fn check_at(&self, at: At<'_>) -> Check {
        name(at.field("schedule_id"), &self.schedule_id)?;
        opt_duration(at.field("interval_ms"), self.interval_ms)?;
        self.start.check_at(at.field("start"))
    }
}

impl Bounded for PollRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        name(at.field("task_queue"), &self.task_queue)?;
        duration(at.field("timeout_ms"), self.timeout_ms)
    }
}

impl Bounded for EagerRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        name(at.field("task_queue"), &self.task_queue)?;
        count(at.field("activities"), self.activities as usize, MAX_COMMANDS)
    }
}

impl Bounded for Command {
    fn check_at(&self, at: At<'_>) -> Check {
        match self {
            Command::ScheduleActivity { seq: s, activity_type, options, .. } => {
                seq(at.field("seq"), *s)?;
                name(at.field("activity_type"), activity_type)?;
                options.check_at(at.field("options"))
            }
            Command::RequestCancelActivity { seq: s } | Command::CancelTimer { seq: s } => seq(at.field("seq"), *s),
            Command::StartTimer { seq: s, duration_ms } => {
                seq(at.field("seq"), *s)?;
                duration(at.field("duration_ms"), *duration_ms)
            }
            Command::StartChildWorkflow { seq: s, workflow_type, workflow_id, task_queue, options, .. } => {
                seq(at.field("seq"), *s)?;
                name(at.field("workflow_type"), workflow_type)?;
                opt_name(at.field("workflow_id"), workflow_id.as_deref())?;
                opt_name(at.field("task_queue"), task_queue.as_deref())?;
                options.check_at(at.field("options"))
            }
            Command::SignalExternalWorkflow { seq: s, workflow_id, name: n, .. } => {
                seq(at.field("seq"), *s)?;
                name(at.field("workflow_id"), workflow_id)?;
                name(at.field("name"), n)
            }
            Command::RecordMarker { seq: s, name: n, .. } => {
                seq(at.field("seq"), *s)?;
                name(at.field("name"), n)
            }
            Command::ContinueAsNew { workflow_type, .. } => opt_name(at.field("workflow_type"), workflow_type.as_deref()),
            Command::CompleteWorkflow { .. } | Command::FailWorkflow { .. } | Command::CancelWorkflow { .. } => Ok(()),
        }
    }
}

impl Bounded for CompleteWorkflowTaskRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        let commands = at.field("commands");
        count(commands, self.commands.len(), MAX_COMMANDS)?;
        for (i, c) in self.commands.iter().enumerate() {
            c.check_at(commands.index(i))?;
        }
        self.eager.check_at(at.field("eager"))
    }
}

impl Bounded for FailWorkflowTaskRequest {
    fn check_at(&self, _: At<'_>) -> Check {
        Ok(())
    }
}

impl Bounded for CompleteActivityTaskRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        self.eager.check_at(at.field("eager"))
    }
}

impl Bounded for FailActivityTaskRequest {
    fn check_at(&self, _: At<'_>) -> Check {
        Ok(())
    }
}

impl Bounded for HeartbeatRequest {
    fn check_at(&self, _: At<'_>) -> Check {
        Ok(())
    }
}

impl Bounded for TaskReport {
    fn check_at(&self, at: At<'_>) -> Check {
        match self {
            TaskReport::CompleteWorkflowTask(r) => r.check_at(at),
            TaskReport::FailWorkflowTask(r) => r.check_at(at),
            TaskReport::CompleteActivityTask(r) => r.check_at(at),
            TaskReport::FailActivityTask(r) => r.check_at(at),
        }
    }
}

impl Bounded for ReportBatchRequest {
    fn check_at(&self, at: At<'_>) -> Check {
        let reports = at.field("reports");
        count(reports, self.reports.len(), MAX_REPORTS_PER_BATCH)?;
        for (i, r) in self.reports.iter().enumerate() {
            r.check_at(reports.index(i))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate_and_never_go_back() {
        assert_eq!(deadline(1_000, 500), 1_500);
        assert_eq!(deadline(1_000, u64::MAX), MAX_TIMESTAMP_MS);
        assert_eq!(deadline(1_000, 1 << 63), MAX_TIMESTAMP_MS);
        assert_eq!(deadline(i64::MAX - 1, 5), i64::MAX - 1, "a clock past the maximum is not moved back");
    }

    #[test]
    fn field_paths_name_the_index() {
        let req = CompleteWorkflowTaskRequest {
            task_token: "t".into(),
            commands: vec![
                Command::StartTimer { seq: 1, duration_ms: 5 },
                Command::StartTimer { seq: 2, duration_ms: u64::MAX },
            ],
            eager: None,
        };
        let e = req.check_limits().unwrap_err();
        assert_eq!(e.field, "commands[1].duration_ms");
        assert!(e.to_string().contains("maximum of 3155760000000 ms"), "{e}");
    }

    #[test]
    fn dot_ids_and_empty_signal_names_are_refused() {
        for bad in [".", "..", "", "  "] {
            assert!(name(At::Root.field("workflow_id"), bad).is_err(), "{bad:?}");
        }
        assert!(SignalRequest { name: String::new(), payload: serde_json::Value::Null }.check_limits().is_err());
        assert_eq!(MAX_DURATION_MS, 3_155_760_000_000);
    }
}
