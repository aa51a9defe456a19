//! Read queries of the API, on read-only connections (they see only committed rows).

use faultline_proto::{
    ActivityAttempt, EpochMillis, HistoryEvent, ScheduleInfo, StreamEvent, WorkflowStatus, WorkflowSummary,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::state::{RunState, TaskKind};

pub fn last_cursor(c: &Connection) -> Result<u64> {
    let v: Option<i64> = c.query_row("SELECT MAX(cursor) FROM events", [], |r| r.get(0))?;
    Ok(v.unwrap_or(0) as u64)
}

pub fn current_run(c: &Connection, workflow_id: &str) -> Result<Option<String>> {
    Ok(c.prepare_cached("SELECT run_id FROM workflow_ids WHERE workflow_id = ?1")?
        .query_row([workflow_id], |r| r.get(0))
        .optional()?)
}

pub fn run_state(c: &Connection, run_id: &str) -> Result<Option<RunState>> {
    let body: Option<String> = c
        .prepare_cached("SELECT state FROM runs WHERE run_id = ?1")?
        .query_row([run_id], |r| r.get(0))
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

/// The history of a run, optionally only up to (and including) `upto`.
pub fn history(c: &Connection, run_id: &str, upto: Option<u64>) -> Result<Vec<HistoryEvent>> {
    let mut st = c.prepare_cached(
        "SELECT body FROM events WHERE run_id = ?1 AND event_id <= ?2 ORDER BY event_id",
    )?;
    let upto = upto.map(|u| u as i64).unwrap_or(i64::MAX);
    let rows = st.query_map(params![run_id, upto], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row?)?);
    }
    Ok(out)
}

/// Committed events after `cursor`, in cursor order.
pub fn events_after(c: &Connection, cursor: u64, limit: usize) -> Result<Vec<StreamEvent>> {
    let mut st = c.prepare_cached(
        "SELECT cursor, run_id, workflow_id, workflow_type, body FROM events WHERE cursor > ?1 ORDER BY cursor LIMIT ?2",
    )?;
    let rows = st.query_map(params![cursor as i64, limit as i64], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, String>(4)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (cursor, run_id, workflow_id, workflow_type, body) = row?;
        out.push(StreamEvent {
            cursor: cursor as u64,
            workflow_id,
            run_id,
            workflow_type,
            event: serde_json::from_str(&body)?,
        });
    }
    Ok(out)
}

fn parse_status(s: &str) -> WorkflowStatus {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or(WorkflowStatus::Running)
}

/// Runs, newest first, optionally with one status.
pub fn list(c: &Connection, status: Option<WorkflowStatus>, limit: usize) -> Result<Vec<WorkflowSummary>> {
    let sql = "SELECT workflow_id, run_id, workflow_type, task_queue, status, started_at_ms, closed_at_ms,
                      parent_workflow_id, retrying FROM runs
               WHERE (?1 IS NULL OR status = ?1) ORDER BY started_at_ms DESC, rowid DESC LIMIT ?2";
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params![status.map(|s| s.as_str()), limit as i64], |r| {
        Ok(WorkflowSummary {
            workflow_id: r.get(0)?,
            run_id: r.get(1)?,
            workflow_type: r.get(2)?,
            task_queue: r.get(3)?,
            status: parse_status(&r.get::<_, String>(4)?),
            started_at_ms: r.get(5)?,
            closed_at_ms: r.get(6)?,
            parent_workflow_id: r.get(7)?,
            retrying_activities: r.get::<_, i64>(8)? as u32,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub fn summary(s: &RunState) -> WorkflowSummary {
    WorkflowSummary {
        workflow_id: s.workflow_id.clone(),
        run_id: s.run_id.clone(),
        workflow_type: s.workflow_type.clone(),
        task_queue: s.task_queue.clone(),
        status: s.status,
        started_at_ms: s.started_at_ms,
        closed_at_ms: s.closed_at_ms,
        parent_workflow_id: s.parent.as_ref().map(|p| p.workflow_id.clone()),
        retrying_activities: s.retrying_activities(),
    }
}

pub fn attempts(c: &Connection, run_id: &str, seq: u64) -> Result<Vec<ActivityAttempt>> {
    let mut st = c.prepare_cached("SELECT body FROM attempts WHERE run_id = ?1 AND seq = ?2 ORDER BY attempt")?;
    let rows = st.query_map(params![run_id, seq as i64], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row?)?);
    }
    Ok(out)
}

/// Dispatchable tasks waiting in a queue.
pub fn backlog(c: &Connection, kind: TaskKind, queue: &str) -> Result<u64> {
    let n: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM tasks WHERE kind = ?1 AND task_queue = ?2")?
        .query_row(params![kind.as_i64(), queue], |r| r.get(0))?;
    Ok(n as u64)
}

pub fn schedules(c: &Connection) -> Result<Vec<ScheduleInfo>> {
    let mut st = c.prepare_cached("SELECT body FROM schedules ORDER BY schedule_id")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row?)?);
    }
    Ok(out)
}

pub fn schedule(c: &Connection, id: &str) -> Result<Option<ScheduleInfo>> {
    let body: Option<String> = c
        .prepare_cached("SELECT body FROM schedules WHERE schedule_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

/// Earliest due timer (the timer service sleeps until then).
pub fn next_timer_at(c: &Connection) -> Result<Option<EpochMillis>> {
    Ok(c.query_row("SELECT MIN(fire_at_ms) FROM timers", [], |r| r.get(0))?)
}

/// Running runs and armed timers, logged at startup.
pub fn recovery_counts(c: &Connection) -> Result<(i64, i64)> {
    let running: i64 = c.query_row("SELECT COUNT(*) FROM runs WHERE status = 'running'", [], |r| r.get(0))?;
    let timers: i64 = c.query_row("SELECT COUNT(*) FROM timers", [], |r| r.get(0))?;
    Ok((running, timers))
}

/// A cheap read of every table (the first and the newest row of each, from the table itself,
/// not a covering index), so `/healthz` fails when the store answers errors, corrupted pages
/// included. Damage deeper in a table is caught when a request meets it ([`crate::store::health`]
/// remembers it) and by `faultline-engine check`.
pub fn probe(c: &Connection) -> Result<()> {
    for sql in [
        "SELECT * FROM runs NOT INDEXED LIMIT 1",
        "SELECT * FROM runs NOT INDEXED ORDER BY rowid DESC LIMIT 1",
        "SELECT * FROM workflow_ids NOT INDEXED LIMIT 1",
        "SELECT * FROM events NOT INDEXED LIMIT 1",
        "SELECT * FROM events NOT INDEXED ORDER BY cursor DESC LIMIT 1",
        "SELECT * FROM tasks NOT INDEXED LIMIT 1",
        "SELECT * FROM timers NOT INDEXED LIMIT 1",
        "SELECT * FROM timers INDEXED BY timers_due ORDER BY fire_at_ms LIMIT 1",
        "SELECT * FROM attempts NOT INDEXED LIMIT 1",
        "SELECT * FROM schedules NOT INDEXED LIMIT 1",
    ] {
        let mut st = c.prepare_cached(sql)?;
        let mut rows = st.query([])?;
        rows.next()?;
    }
    Ok(())
}
