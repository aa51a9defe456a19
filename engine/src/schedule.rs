//! Schedules: when the next start is due, for an interval or a cron expression (with seconds).

use std::str::FromStr;

use faultline_proto::{EpochMillis, ScheduleSpec};

use crate::error::{EngineError, Result};

/// Shortest interval accepted, so a typo cannot flood the engine.
pub const MIN_INTERVAL_MS: u64 = 100;

/// Checks a spec and returns its first fire time after `now`.
pub fn next_fire(spec: &ScheduleSpec, now: EpochMillis) -> Result<EpochMillis> {
    if spec.schedule_id.trim().is_empty() {
        return Err(EngineError::BadRequest("schedule_id is empty; give the schedule a name".into()));
    }
    match (&spec.interval_ms, &spec.cron) {
        (Some(ms), None) => {
            if *ms < MIN_INTERVAL_MS {
                return Err(EngineError::BadRequest(format!(
                    "interval_ms {ms} is below the minimum of {MIN_INTERVAL_MS} ms; use a longer interval"
                )));
            }
            Ok(now.saturating_add(*ms as i64))
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
}
