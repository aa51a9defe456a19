//! [`StoreTx`] over a SQLite connection inside an open transaction (the writer's).

use faultline_proto::{EpochMillis, ScheduleInfo};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::Result;
use crate::state::{NewTask, RunState, TaskKind, TimerKind, Transition};
use crate::store::sqlite::run_cache::RunCache;
use crate::store::{DueTimer, StoreTx};

pub struct SqliteTx<'a> {
    pub conn: &'a Connection,
    /// The writer's run states; whoever rolls this transaction back must clear it.
    pub cache: &'a mut RunCache,
}

impl StoreTx for SqliteTx<'_> {
    fn load_run(&mut self, run_id: &str) -> Result<Option<RunState>> {
        if let Some(s) = self.cache.get(run_id) {
            return Ok(Some(s.clone()));
        }
        let mut st = self.conn.prepare_cached("SELECT state FROM runs WHERE run_id = ?1")?;
        let body: Option<String> = st.query_row([run_id], |r| r.get(0)).optional()?;
        let state: Option<RunState> = body.map(|b| serde_json::from_str(&b)).transpose()?;
        if let Some(s) = &state {
            self.cache.put(s);
        }
        Ok(state)
    }

    fn current_run_id(&mut self, workflow_id: &str) -> Result<Option<String>> {
        let mut st = self.conn.prepare_cached("SELECT run_id FROM workflow_ids WHERE workflow_id = ?1")?;
        Ok(st.query_row([workflow_id], |r| r.get(0)).optional()?)
    }

    fn set_current_run(&mut self, workflow_id: &str, run_id: &str) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO workflow_ids(workflow_id, run_id) VALUES (?1, ?2)
             ON CONFLICT(workflow_id) DO UPDATE SET run_id = excluded.run_id",
        )?;
        st.execute([workflow_id, run_id])?;
        Ok(())
    }

    fn put_run(&mut self, s: &RunState) -> Result<()> {
        let history_length = (s.next_event_id - 1) as i64;
        let body = serde_json::to_string(s)?;
        // Same stored status: the indexed columns stay as they are, so only the row changes.
        // (Should the row be missing after all, the full upsert below writes it.)
        if self.cache.get(&s.run_id).is_some_and(|stored| stored.status == s.status) {
            let updated = self
                .conn
                .prepare_cached("UPDATE runs SET retrying = ?2, history_length = ?3, state = ?4 WHERE run_id = ?1")?
                .execute(params![s.run_id, s.retrying_activities(), history_length, body])?;
            if updated == 1 {
                self.cache.put(s);
                return Ok(());
            }
        }
        let mut st = self.conn.prepare_cached(
            "INSERT INTO runs(run_id, workflow_id, workflow_type, task_queue, status, started_at_ms,
                              closed_at_ms, parent_workflow_id, retrying, history_length, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(run_id) DO UPDATE SET status = excluded.status,
                closed_at_ms = excluded.closed_at_ms, retrying = excluded.retrying,
                history_length = excluded.history_length, state = excluded.state",
        )?;
        st.execute(params![
            s.run_id,
            s.workflow_id,
            s.workflow_type,
            s.task_queue,
            s.status.as_str(),
            s.started_at_ms,
            s.closed_at_ms,
            s.parent.as_ref().map(|p| p.workflow_id.clone()),
            s.retrying_activities(),
            history_length,
            body,
        ])?;
        self.cache.put(s);
        Ok(())
    }

    fn write_changes(&mut self, t: &Transition) -> Result<Option<u64>> {
        if t.noop {
            return Ok(None);
        }
        let s = &t.state;
        let mut last_cursor = None;
        {
            let mut st = self.conn.prepare_cached(
                "INSERT INTO events(run_id, event_id, workflow_id, workflow_type, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for e in &t.events {
                let body = serde_json::to_string(e)?;
                st.execute(params![s.run_id, e.event_id as i64, s.workflow_id, s.workflow_type, body])?;
                last_cursor = Some(self.conn.last_insert_rowid() as u64);
            }
        }
        for kind in &t.cancel_timers {
            self.delete_timer(&s.run_id, kind)?;
        }
        for (kind, at) in &t.timers {
            self.put_timer(&s.run_id, kind, *at)?;
        }
        for (kind, seq) in &t.remove_tasks {
            self.take_task(*kind, &s.run_id, *seq)?;
        }
        for task in &t.new_tasks {
            self.put_task(&s.run_id, task)?;
        }
        if t.closed {
            self.conn.prepare_cached("DELETE FROM tasks WHERE run_id = ?1")?.execute([&s.run_id])?;
            self.conn.prepare_cached("DELETE FROM timers WHERE owner = ?1")?.execute([&s.run_id])?;
        }
        {
            let mut st = self.conn.prepare_cached(
                "INSERT OR REPLACE INTO attempts(run_id, seq, attempt, body) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for a in &t.attempts {
                st.execute(params![s.run_id, a.seq as i64, a.attempt, serde_json::to_string(a)?])?;
            }
        }
        Ok(last_cursor)
    }

    fn put_task(&mut self, run_id: &str, task: &NewTask) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO tasks(kind, task_queue, run_id, seq) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![task.kind.as_i64(), task.task_queue, run_id, task.seq as i64])?;
        Ok(())
    }

    fn claim_task(&mut self, kind: TaskKind, queue: &str) -> Result<Option<(String, u64)>> {
        let row: Option<(i64, String, i64)> = self
            .conn
            .prepare_cached("SELECT id, run_id, seq FROM tasks WHERE kind = ?1 AND task_queue = ?2 ORDER BY id LIMIT 1")?
            .query_row(params![kind.as_i64(), queue], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((id, run_id, seq)) = row else { return Ok(None) };
        self.conn.prepare_cached("DELETE FROM tasks WHERE id = ?1")?.execute([id])?;
        Ok(Some((run_id, seq as u64)))
    }

    fn take_task(&mut self, kind: TaskKind, run_id: &str, seq: u64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM tasks WHERE run_id = ?1 AND kind = ?2 AND seq = ?3")?
            .execute(params![run_id, kind.as_i64(), seq as i64])?;
        Ok(n > 0)
    }

    fn history_json(&mut self, run_id: &str, upto: u64) -> Result<String> {
        let mut st =
            self.conn.prepare_cached("SELECT body FROM events WHERE run_id = ?1 AND event_id <= ?2 ORDER BY event_id")?;
        let mut rows = st.query(params![run_id, upto as i64])?;
        let mut out = String::from("[");
        while let Some(row) = rows.next()? {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
        }
        out.push(']');
        Ok(out)
    }

    fn due_timers(&mut self, now: EpochMillis, limit: usize) -> Result<Vec<DueTimer>> {
        let mut st = self.conn.prepare_cached(
            "SELECT owner, kind FROM timers WHERE fire_at_ms <= ?1 ORDER BY fire_at_ms LIMIT ?2",
        )?;
        let rows = st.query_map(params![now, limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (owner, kind) = row?;
            out.push(DueTimer { owner, kind: serde_json::from_str(&kind)? });
        }
        Ok(out)
    }

    fn delete_timer(&mut self, owner: &str, kind: &TimerKind) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM timers WHERE owner = ?1 AND key = ?2")?
            .execute(params![owner, kind.key()])?;
        Ok(())
    }

    fn put_timer(&mut self, owner: &str, kind: &TimerKind, fire_at: EpochMillis) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO timers(owner, key, fire_at_ms, kind) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![owner, kind.key(), fire_at, serde_json::to_string(kind)?])?;
        Ok(())
    }

    fn next_timer_at(&mut self) -> Result<Option<EpochMillis>> {
        Ok(self.conn.prepare_cached("SELECT MIN(fire_at_ms) FROM timers")?.query_row([], |r| r.get(0))?)
    }

    fn get_schedule(&mut self, id: &str) -> Result<Option<ScheduleInfo>> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM schedules WHERE schedule_id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    fn put_schedule(&mut self, info: &ScheduleInfo) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO schedules(schedule_id, body) VALUES (?1, ?2)")?
            .execute(params![info.spec.schedule_id, serde_json::to_string(info)?])?;
        Ok(())
    }

    fn delete_schedule(&mut self, id: &str) -> Result<bool> {
        let n = self.conn.prepare_cached("DELETE FROM schedules WHERE schedule_id = ?1")?.execute([id])?;
        Ok(n > 0)
    }
}
