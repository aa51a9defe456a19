//! `faultline-engine check --db PATH`: does a database keep the engine's promises?
//!
//! Two layers. SQLite's own `PRAGMA integrity_check` (pages, indexes, constraints). Then the
//! engine's invariants, which only hold because every transition commits in one transaction:
//! - **gapless histories**: the events of every run are numbered 1..n, and n is what its run
//!   row and state say;
//! - **every open run has its pending work**: a scheduled workflow task or activity has its
//!   task row, a started one its timeout timer, a backoff its retry timer, a user timer and a
//!   run or execution timeout their timer rows;
//! - **no orphans**: no task row for a task that is not waiting, no timer row of a closed or
//!   unknown run, no schedule without its timer, no workflow id naming a missing run.
//!
//! All of it is read in one read transaction, so it can run next to a live engine (it sees
//! one committed snapshot). [`check_db`] is the library entry point the scenarios and the
//! bench call; the `check` subcommand prints its [`CheckReport`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use faultline_proto::{PendingActivityState, ScheduleInfo};
use rusqlite::{Connection, OpenFlags};

use crate::state::{RunState, TaskKind, TimerKind};
use crate::store::SCHEDULE_OWNER;

/// Why a database could not be checked at all (as opposed to what the check found).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot open {path} for checking: {source}; check the path and its permissions")]
    Open { path: String, source: rusqlite::Error },
    #[error("cannot read {what} from the database: {source}; the file may not be a faultline-engine database, or it is damaged beyond a check (restore a backup)")]
    Read { what: &'static str, source: rusqlite::Error },
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant: `integrity`, `gapless_history`, `pending_work`, `orphan_task`,
    /// `orphan_timer`, `schedule`, `workflow_id`, `run_row`.
    pub invariant: &'static str,
    /// What it is about (a run id, a schedule id, a table).
    pub subject: String,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", self.invariant, self.subject, self.detail)
    }
}

/// What [`check_db`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub runs: u64,
    pub running: u64,
    pub events: u64,
    pub tasks: u64,
    pub timers: u64,
    pub violations: Vec<Violation>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    fn violation(&mut self, invariant: &'static str, subject: impl Into<String>, detail: impl Into<String>) {
        self.violations.push(Violation { invariant, subject: subject.into(), detail: detail.into() });
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} runs ({} running), {} events, {} task rows, {} timer rows",
            self.runs, self.running, self.events, self.tasks, self.timers
        )?;
        if self.is_clean() {
            return write!(f, "no violation found");
        }
        writeln!(f, "{} violation(s):", self.violations.len())?;
        for v in &self.violations {
            writeln!(f, "  {v}")?;
        }
        Ok(())
    }
}

fn read<T>(what: &'static str, r: rusqlite::Result<T>) -> Result<T, CheckError> {
    r.map_err(|source| CheckError::Read { what, source })
}

/// Checks the database at `path` (see the module docs). `Ok` with violations means the check
/// ran and found them; `Err` means it could not run.
pub fn check_db(path: &Path) -> Result<CheckReport, CheckError> {
    if !path.exists() {
        return Err(CheckError::Open {
            path: path.display().to_string(),
            source: rusqlite::Error::InvalidPath(path.to_path_buf()),
        });
    }
    let open = || -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        c.pragma_update(None, "query_only", "ON")?;
        Ok(c)
    };
    let conn = open().map_err(|source| CheckError::Open { path: path.display().to_string(), source })?;
    let mut report = CheckReport::default();
    // One snapshot for everything that follows.
    read("a snapshot", conn.execute_batch("BEGIN"))?;
    if let Err(e) = integrity(&conn, &mut report) {
        // So damaged that SQLite's own check stops: that is the finding.
        report.violation("integrity", "database", format!("the integrity check could not finish: {e}"));
    }
    if let Err(e) = invariants(&conn, &mut report) {
        if report.is_clean() {
            return Err(e);
        }
        report.violation("integrity", "database", format!("the engine's invariants could not be checked: {e}"));
    }
    let _ = conn.execute_batch("COMMIT");
    Ok(report)
}

fn integrity(conn: &Connection, report: &mut CheckReport) -> rusqlite::Result<()> {
    let mut st = conn.prepare("PRAGMA integrity_check(100)")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    for row in rows {
        let line = row?;
        if line != "ok" {
            report.violation("integrity", "database", line);
        }
    }
    Ok(())
}

/// Everything the invariants need, loaded once.
struct Snapshot {
    runs: HashMap<String, (RunState, i64)>,
    /// run id -> (count, min event id, max event id)
    events: HashMap<String, (i64, i64, i64)>,
    tasks: HashSet<(String, i64, i64)>,
    timers: Vec<(String, String, String)>,
    timer_keys: HashSet<(String, String)>,
    schedules: Vec<ScheduleInfo>,
    workflow_ids: Vec<(String, String)>,
}

fn load(conn: &Connection, report: &mut CheckReport) -> Result<Snapshot, CheckError> {
    let mut runs = HashMap::new();
    let mut st = read("runs", conn.prepare("SELECT run_id, history_length, state FROM runs"))?;
    let rows = read("runs", st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))))?;
    for row in rows {
        let (run_id, len, body) = read("runs", row)?;
        match serde_json::from_str::<RunState>(&body) {
            Ok(state) => {
                runs.insert(run_id, (state, len));
            }
            Err(e) => report.violation("run_row", run_id, format!("the stored state is not valid: {e}")),
        }
    }
    let mut events = HashMap::new();
    let mut st = read(
        "events",
        conn.prepare("SELECT run_id, COUNT(*), MIN(event_id), MAX(event_id) FROM events GROUP BY run_id"),
    )?;
    let rows = read("events", st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))))?;
    for row in rows {
        let (run_id, n, min, max) = read("events", row)?;
        report.events += n as u64;
        events.insert(run_id, (n, min, max));
    }
    let mut tasks = HashSet::new();
    let mut st = read("tasks", conn.prepare("SELECT run_id, kind, seq FROM tasks"))?;
    let rows = read("tasks", st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))))?;
    for row in rows {
        tasks.insert(read("tasks", row)?);
    }
    let mut timers = Vec::new();
    let mut st = read("timers", conn.prepare("SELECT owner, key, kind FROM timers"))?;
    let rows = read("timers", st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))))?;
    for row in rows {
        timers.push(read("timers", row)?);
    }
    let timer_keys = timers.iter().map(|(o, k, _)| (o.clone(), k.clone())).collect();
    let mut schedules = Vec::new();
    let mut st = read("schedules", conn.prepare("SELECT schedule_id, body FROM schedules"))?;
    let rows = read("schedules", st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))))?;
    for row in rows {
        let (id, body) = read("schedules", row)?;
        match serde_json::from_str(&body) {
            Ok(info) => schedules.push(info),
            Err(e) => report.violation("schedule", id, format!("the stored schedule is not valid: {e}")),
        }
    }
    let mut workflow_ids = Vec::new();
    let mut st = read("workflow ids", conn.prepare("SELECT workflow_id, run_id FROM workflow_ids"))?;
    let rows = read("workflow ids", st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))))?;
    for row in rows {
        workflow_ids.push(read("workflow ids", row)?);
    }
    Ok(Snapshot { runs, events, tasks, timers, timer_keys, schedules, workflow_ids })
}

fn invariants(conn: &Connection, report: &mut CheckReport) -> Result<(), CheckError> {
    let snap = load(conn, report)?;
    report.runs = snap.runs.len() as u64;
    report.tasks = snap.tasks.len() as u64;
    report.timers = snap.timers.len() as u64;
    for (run_id, (state, len)) in &snap.runs {
        histories(report, &snap, run_id, state, *len);
        if state.is_running() {
            report.running += 1;
            pending_work(report, &snap, run_id, state);
        }
    }
    for run_id in snap.events.keys().filter(|r| !snap.runs.contains_key(*r)) {
        report.violation("gapless_history", run_id.clone(), "events of a run that has no run row");
    }
    orphans(report, &snap);
    Ok(())
}

fn histories(report: &mut CheckReport, snap: &Snapshot, run_id: &str, state: &RunState, len: i64) {
    let expected = state.next_event_id as i64 - 1;
    let (n, min, max) = snap.events.get(run_id).copied().unwrap_or((0, 0, 0));
    if n != max || (n > 0 && min != 1) {
        report.violation("gapless_history", run_id, format!("{n} events numbered {min}..={max}: ids must be 1..=n without a gap"));
    }
    if n != expected || len != expected {
        report.violation(
            "gapless_history",
            run_id,
            format!("{n} events stored, but the run row says {len} and its state {expected}"),
        );
    }
}

fn pending_work(report: &mut CheckReport, snap: &Snapshot, run_id: &str, s: &RunState) {
    let has_task = |kind: TaskKind, seq: u64| snap.tasks.contains(&(run_id.to_string(), kind.as_i64(), seq as i64));
    let has_timer = |kind: TimerKind| snap.timer_keys.contains(&(run_id.to_string(), kind.key()));
    let mut missing = Vec::new();
    if let Some(w) = &s.wft {
        if w.started_at_ms.is_some() {
            if !has_timer(TimerKind::WorkflowTaskTimeout { id: w.id }) {
                missing.push(format!("the timeout timer of started workflow task {}", w.id));
            }
        } else if w.backoff_until_ms.is_some() {
            if !has_timer(TimerKind::WorkflowTaskRetry { id: w.id }) {
                missing.push(format!("the retry timer of workflow task {}", w.id));
            }
        } else if !has_task(TaskKind::Workflow, 0) {
            missing.push(format!("the task row of scheduled workflow task {}", w.id));
        }
    }
    for a in s.activities.values() {
        let seq = a.seq;
        let attempt = a.attempt;
        match a.status {
            PendingActivityState::Scheduled if !has_task(TaskKind::Activity, seq) => {
                missing.push(format!("the task row of scheduled activity {seq}"))
            }
            PendingActivityState::Started => {
                // Every started attempt has a start-to-close timeout (10 s by default) unless
                // a schedule-to-close one bounds it instead.
                let runs_out = has_timer(TimerKind::ActivityStartToClose { seq, attempt })
                    || has_timer(TimerKind::ActivityScheduleToClose { seq });
                if !runs_out {
                    missing.push(format!("a timeout timer of started activity {seq} attempt {attempt}"));
                }
            }
            PendingActivityState::Backoff if !has_timer(TimerKind::ActivityRetry { seq }) => {
                missing.push(format!("the retry timer of activity {seq}"))
            }
            _ => {}
        }
    }
    for seq in s.timers.keys() {
        if !has_timer(TimerKind::User { seq: *seq }) {
            missing.push(format!("the timer row of user timer {seq}"));
        }
    }
    if s.options.run_timeout_ms.is_some() && !has_timer(TimerKind::RunTimeout) {
        missing.push("the run timeout timer".into());
    }
    if s.execution_deadline_ms.is_some() && !has_timer(TimerKind::ExecutionTimeout) {
        missing.push("the execution timeout timer".into());
    }
    for m in missing {
        report.violation("pending_work", run_id, format!("running, but {m} is missing"));
    }
}

fn orphans(report: &mut CheckReport, snap: &Snapshot) {
    for (run_id, kind, seq) in &snap.tasks {
        let state = snap.runs.get(run_id).map(|(s, _)| s);
        let waiting = match (state, *kind) {
            (Some(s), 0) if s.is_running() => {
                s.wft.as_ref().is_some_and(|w| w.started_at_ms.is_none() && w.backoff_until_ms.is_none())
            }
            (Some(s), 1) if s.is_running() => s
                .activities
                .get(&(*seq as u64))
                .is_some_and(|a| a.status == PendingActivityState::Scheduled),
            _ => false,
        };
        if !waiting {
            let what = if *kind == 0 { "workflow task".to_string() } else { format!("activity {seq}") };
            let why = match state {
                None => "its run does not exist",
                Some(s) if !s.is_running() => "its run is closed",
                Some(_) => "that task is not waiting for a worker",
            };
            report.violation("orphan_task", run_id.clone(), format!("a task row for {what}, but {why}"));
        }
    }
    let schedule_ids: HashSet<&str> = snap.schedules.iter().map(|s| s.spec.schedule_id.as_str()).collect();
    for (owner, key, kind) in &snap.timers {
        if owner == SCHEDULE_OWNER {
            let known = match serde_json::from_str::<TimerKind>(kind) {
                Ok(TimerKind::Schedule { schedule_id }) => schedule_ids.contains(schedule_id.as_str()),
                _ => false,
            };
            if !known {
                report.violation("orphan_timer", owner.clone(), format!("timer {key} names no existing schedule"));
            }
            continue;
        }
        match snap.runs.get(owner) {
            Some((s, _)) if s.is_running() => {}
            Some(_) => report.violation("orphan_timer", owner.clone(), format!("timer {key} of a closed run")),
            None => report.violation("orphan_timer", owner.clone(), format!("timer {key} of a run that does not exist")),
        }
    }
    for info in &snap.schedules {
        let kind = TimerKind::Schedule { schedule_id: info.spec.schedule_id.clone() };
        if !snap.timer_keys.contains(&(SCHEDULE_OWNER.to_string(), kind.key())) {
            report.violation("schedule", info.spec.schedule_id.clone(), "the schedule has no timer: it never fires again");
        }
    }
    for (workflow_id, run_id) in &snap.workflow_ids {
        if !snap.runs.contains_key(run_id) {
            report.violation("workflow_id", workflow_id.clone(), format!("names run {run_id}, which does not exist"));
        }
    }
}
