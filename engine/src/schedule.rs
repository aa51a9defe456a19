//! Schedules: when the next start is due, for an interval or a cron expression (with seconds).

use std::str::FromStr;

use faultline_proto::limits::{deadline, Bounded};
use faultline_proto::{EpochMillis, ScheduleSpec};

use crate::error::{EngineError, Result};

/// Shortest interval accepted, so a typo cannot flood the engine.
pub const MIN_INTERVAL_MS: u64 = 100;

/// Checks a spec and returns its first fire time after `now` (always later than `now`, so a
/// schedule can never fire in a tight loop).
pub fn next_fire(spec: &ScheduleSpec, now: EpochMillis) -> Result<EpochMillis> {
    spec.check_limits()?;
    match (&spec.interval_ms, &spec.cron) {
        (Some(ms), None) => {
            if *ms < MIN_INTERVAL_MS {
                return Err(EngineError::BadRequest(format!(
                    "interval_ms {ms} is below the minimum of {MIN_INTERVAL_MS} ms; use a longer interval"
                )));
            }
            Ok(deadline(now, *ms))
        }
        (None, Some(expr)) => {
            let sched = cron::Schedule::from_str(expr).map_err(|e| {
                EngineError::BadRequest(format!(
                    "cron expression {expr:?} is invalid ({e}); use 6 fields: sec min hour day-of-month month day-of-week, e.g. \"*/10 * * * * *\""
                ))
            })?;
            let from = chrono::DateTime::from_timestamp_millis(now)
                .ok_or_else(|| EngineError::BadRequest("the clock is out of range".into()))?;
            sched
                .after(&from)
                .next()
                .map(|t| t.timestamp_millis())
                .ok_or_else(|| EngineError::BadRequest(format!("cron expression {expr:?} never fires again")))
        }
        _ => Err(EngineError::BadRequest(
            "a schedule needs exactly one of interval_ms or cron".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_proto::{IdConflictPolicy, StartWorkflowRequest, WorkflowOptions};

    fn spec(interval_ms: Option<u64>, cron: Option<&str>) -> ScheduleSpec {
        ScheduleSpec {
            schedule_id: "s".into(),
            start: StartWorkflowRequest {
                workflow_id: "w".into(),
                workflow_type: "T".into(),
                task_queue: "q".into(),
                input: serde_json::Value::Null,
                options: WorkflowOptions::default(),
                id_conflict: IdConflictPolicy::Fail,
            },
            interval_ms,
            cron: cron.map(String::from),
        }
    }

    #[test]
    fn interval_and_cron() {
        assert_eq!(next_fire(&spec(Some(1000), None), 5_000).unwrap(), 6_000);
        // every 10 seconds: from t=5s the next is t=10s
        assert_eq!(next_fire(&spec(None, Some("*/10 * * * * *")), 5_000).unwrap(), 10_000);
        assert!(next_fire(&spec(None, Some("nonsense")), 0).is_err());
        assert!(next_fire(&spec(Some(1), None), 0).is_err());
        assert!(next_fire(&spec(None, None), 0).is_err());
    }

    #[test]
    fn a_huge_interval_is_refused_not_wrapped_into_the_past() {
        // Was: u64::MAX as i64 == -1, a fire time in the past, and a busy loop of skips.
        for ms in [u64::MAX, 1 << 63, faultline_proto::limits::MAX_DURATION_MS + 1] {
            let e = next_fire(&spec(Some(ms), None), 5_000).unwrap_err();
            assert!(e.to_string().contains("interval_ms") && e.to_string().contains("maximum"), "{e}");
        }
        let max = faultline_proto::limits::MAX_DURATION_MS;
        assert!(next_fire(&spec(Some(max), None), 5_000).unwrap() > 5_000);
    }
}
