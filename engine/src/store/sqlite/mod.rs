//! The SQLite store: one file, WAL, an acknowledged commit is on disk (the writer commits with
//! `synchronous=NORMAL` and [`durable`] fsyncs the WAL before anyone is answered), versioned
//! migrations recorded in `schema_migrations`, one writer thread ([`writer`], which keeps the
//! states of the runs it writes in [`run_cache`]) and any number of read connections
//! ([`Reader`]).
//!
//! Tables: `runs` (one row per run: indexed columns plus the compact state as JSON),
//! `workflow_ids` (latest run per id), `events` (append-only history; the autoincrement
//! `cursor` is the global stream position), `tasks` (dispatchable task rows), `timers` (every
//! delayed thing, indexed by due time), `attempts` (every activity attempt), `schedules`.
//! `timers` and `attempts` are WITHOUT ROWID (since schema version 2): they are only ever
//! looked up by their composite key, so one B-tree instead of a table plus its key index is
//! written per row. Run ids are
//! time-ordered UUIDv7, so the rows of the runs in flight sit together at the end of every
//! index keyed by run id.

pub mod durable;
pub mod lock;
pub mod read;
pub mod run_cache;
pub mod tx;
pub mod writer;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

use crate::error::{EngineError, Result};

/// Schema versions, applied in order, each in its own transaction. A version, once released,
/// is never edited: a change is a new version (a test upgrades a version-1 database).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1),
    (2, V2),
];

/// Version 1: the schema as it first shipped.
const V1: &str =
    r#"
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    task_queue TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    closed_at_ms INTEGER,
    parent_workflow_id TEXT,
    retrying INTEGER NOT NULL DEFAULT 0,
    history_length INTEGER NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX runs_by_status ON runs(status, started_at_ms);
CREATE INDEX runs_by_workflow ON runs(workflow_id, started_at_ms);
CREATE TABLE workflow_ids (workflow_id TEXT PRIMARY KEY, run_id TEXT NOT NULL);
CREATE TABLE events (
    cursor INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_type TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (run_id, event_id)
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind INTEGER NOT NULL,
    task_queue TEXT NOT NULL,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    UNIQUE (run_id, kind, seq)
);
CREATE INDEX tasks_dispatch ON tasks(kind, task_queue, id);
CREATE TABLE timers (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    fire_at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX timers_due ON timers(fire_at_ms);
CREATE TABLE attempts (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq, attempt)
);
CREATE TABLE schedules (schedule_id TEXT PRIMARY KEY, body TEXT NOT NULL);
"#;

/// Version 2: `timers` and `attempts` become WITHOUT ROWID tables (one B-tree written per row
/// instead of a table and its key index), rebuilt by copy, so every row is kept; and each
/// schedule's timer gets a key of its own (`s:<schedule id>`; version 1 gave them all `s`). (Databases
/// whose version 1 already had them WITHOUT ROWID, from before versions were kept apart, are
/// rebuilt the same way, harmlessly.)
const V2: &str = r#"
CREATE TABLE timers_v2 (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    fire_at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (owner, key)
) WITHOUT ROWID;
INSERT INTO timers_v2(owner, key, fire_at_ms, kind) SELECT owner, key, fire_at_ms, kind FROM timers;
DROP TABLE timers;
ALTER TABLE timers_v2 RENAME TO timers;
CREATE INDEX timers_due ON timers(fire_at_ms);
CREATE TABLE attempts_v2 (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (run_id, seq, attempt)
) WITHOUT ROWID;
INSERT INTO attempts_v2(run_id, seq, attempt, body) SELECT run_id, seq, attempt, body FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_v2 RENAME TO attempts;
UPDATE timers SET key = 's:' || json_extract(kind, '$.schedule_id') WHERE owner = '~schedules';
"#;



/// Latest schema version this build knows.
pub fn schema_version() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // No fsync inside COMMIT: the durable thread fsyncs the WAL before any caller is answered,
    // so the writer applies the next batch meanwhile. Checkpoints still fsync (SQLite does that
    // in NORMAL mode), and WAL frames carry checksums, so a torn tail is ignored on recovery.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Statement and savepoint sub-journals and sorts in memory: a temp file would cost a write
    // syscall per page (savepoints are used when a batch is re-run after a failing request).
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // The writer's hot pages are the runs in flight at the end of each index; 32 MiB holds
    // them many times over and keeps the engine well under 100 MB resident.
    conn.pragma_update(None, "cache_size", -32_768)?;
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(conn)?;
    Ok(())
}

/// Keeps each cached statement's plan: without the query-planner stability guarantee, SQLite
/// (3.54, built with STAT4) re-prepares a statement whenever a bound value that its plan
/// consulted changes, so `claim_task` and `history_json` were parsed and planned again on
/// almost every call (a fifth more CPU per workflow). The engine's plans do not depend on the
/// values: every query is an index lookup.
fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// Opens (creating if needed) the database and brings its schema up to date.
pub fn open_writer(path: &Path) -> Result<Connection> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            EngineError::Startup(format!("cannot create the directory {}: {e}; create it or pick another --db", dir.display()))
        })?;
    }
    let mut conn = Connection::open(path).map_err(|e| {
        EngineError::Startup(format!("cannot open the database {}: {e}; check the --db path and its permissions", path.display()))
    })?;
    configure(&conn)?;
    // The writer checkpoints itself, which keeps the WAL bounded under continuous writes (a
    // checkpointer on another connection could not reset it). Every 4000 pages (16 MiB) rather
    // than SQLite's 1000: the hot pages of the runs in flight are rewritten by many commits,
    // and a rarer checkpoint copies each of them to the database once instead of four times.
    conn.pragma_update(None, "wal_autocheckpoint", 4000)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)",
    )?;
    let current: i64 =
        conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    if current > schema_version() {
        return Err(EngineError::Store(format!(
            "the database has schema version {current}, newer than this engine ({}); run the newer engine that wrote it",
            schema_version()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
        tx.execute("INSERT INTO schema_migrations(version, applied_at_ms) VALUES (?1, ?2)", (version, now))?;
        tx.commit()?;
        tracing::info!(version, "applied schema migration");
    }
    Ok(())
}

/// A small pool of read-only connections; reads never block the writer (WAL).
pub struct Reader {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Reader {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), pool: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on a pooled connection (blocking: call from `spawn_blocking`).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c.pragma_update(None, "query_only", "ON")?;
                // A reader's cache does not survive the writer's next commit (WAL), so a big
                // one only adds resident memory: 1 MiB per pooled connection.
                c.pragma_update(None, "cache_size", -1_024)?;
                c.set_prepared_statement_cache_capacity(64);
                stable_plans(&c)?;
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut p) = self.pool.lock() {
            if p.len() < 16 {
                p.push(conn);
            }
        }
        out
    }
}
