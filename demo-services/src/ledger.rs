//! The durable ledger of a service's side effects, keyed by idempotency key.
//!
//! One SQLite file (WAL) per service in its data directory. Table `ledger` holds one row per
//! effect that happened (a reservation, a charge, a label, a message ...), with the
//! idempotency key it was asked under, the request and the answer given. [`Ledger::record_once`]
//! runs "look the key up, do the effect, record it" in one immediate transaction, so a
//! repeated key replays the recorded answer and never repeats the effect, even when two
//! copies of the request race. Failed requests are not recorded: a request that failed (for
//! example on the payment bug) may be retried under the same key and succeed later.
//!
//! Each replay is logged too (table `replays`: key and time), so an audit can tell how often a
//! step really reached the service ([`Entry::replays_at_ms`]): the race checker counts
//! duplicate executions raw and the number the keys absorbed.
//!
//! Services may add their own tables (inventory's stock) through `extra_schema`; they are
//! written in the same transaction as the ledger row.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ServiceError;

/// Where "now" comes from, so tests control the timestamps they assert on.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self(AtomicI64::new(start_ms))
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// One recorded side effect, as `GET /ledger` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Position in the ledger, from 1.
    pub seq: i64,
    /// The idempotency key the effect was requested under.
    pub key: String,
    /// What happened: `reservation`, `release`, `charge`, `refund`, `label`, `dispatch`, `message`.
    pub kind: String,
    pub order_id: String,
    /// Minor units of money (payment) or a quantity (inventory); absent when meaningless.
    pub amount: Option<i64>,
    /// The currency of a money amount, or `items`.
    pub unit: Option<String>,
    /// When it was recorded, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub request: Value,
    pub response: Value,
    /// When the same key came again and the recorded answer was replayed (the effect did not
    /// run again), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replays_at_ms: Vec<i64>,
}

/// What an effect reports for its ledger row.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub order_id: String,
    pub amount: Option<i64>,
    pub unit: Option<String>,
    pub response: Value,
}

/// The answer of [`Ledger::record_once`].
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub response: Value,
    /// True when the key had been seen: the effect did not run again.
    pub replayed: bool,
}

/// Opening the ledger failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the ledger at {path}: {source}; check that FAULTLINE_DATA names a writable directory")]
pub struct OpenError {
    path: PathBuf,
    #[source]
    source: OpenCause,
}

#[derive(Debug, thiserror::Error)]
enum OpenCause {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    order_id TEXT NOT NULL,
    amount INTEGER,
    unit TEXT,
    at_ms INTEGER NOT NULL,
    request TEXT NOT NULL,
    response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ledger_order ON ledger(order_id, kind);
CREATE TABLE IF NOT EXISTS replays (key TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS replays_key ON replays(key);
";

/// A service's ledger. Cheap to clone; all clones share one connection.
#[derive(Clone)]
pub struct Ledger {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
    path: PathBuf,
}

impl Ledger {
    /// Opens (creating if needed) `<dir>/<file>` with `extra_schema` applied after the ledger's.
    pub fn open(dir: &Path, file: &str, extra_schema: &str, clock: Arc<dyn Clock>) -> Result<Self, OpenError> {
        let path = dir.join(file);
        let wrap = |source: OpenCause| OpenError { path: path.clone(), source };
        std::fs::create_dir_all(dir).map_err(|e| wrap(e.into()))?;
        let conn = Connection::open(&path).map_err(|e| wrap(e.into()))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| wrap(e.into()))?;
        // WAL with synchronous=FULL: a recorded effect survives a power cut, which is the
        // whole point of the ledger.
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| wrap(e.into()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| wrap(e.into()))?;
        conn.execute_batch(SCHEMA).map_err(|e| wrap(e.into()))?;
        conn.execute_batch(extra_schema).map_err(|e| wrap(e.into()))?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)), clock, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Runs `effect` once per `key`: the first call runs it and records its answer in the same
    /// transaction; later calls with the same key and the same request replay that answer.
    /// The same key with another kind or request is refused (`IdempotencyKeyReused`).
    /// `effect` gets the transaction (to read or write service tables) and the new row's `seq`.
    pub async fn record_once<F>(&self, key: String, kind: &'static str, request: Value, effect: F) -> Result<Recorded, ServiceError>
    where
        F: FnOnce(&Transaction<'_>, i64) -> Result<NewEntry, ServiceError> + Send + 'static,
    {
        let at_ms = self.clock.now_ms();
        self.with_conn(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let seen: Option<(String, String, String)> = tx
                .query_row("SELECT kind, request, response FROM ledger WHERE key = ?1", [&key], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            if let Some((seen_kind, seen_request, seen_response)) = seen {
                let seen_request: Value = serde_json::from_str(&seen_request).unwrap_or(Value::Null);
                if seen_kind != kind || seen_request != request {
                    return Err(ServiceError::KeyReused {
                        message: format!(
                            "idempotency key {key:?} was already used for another request ({seen_kind} {seen_request}); \
                             send a new key for a new request"
                        ),
                    });
                }
                let response = serde_json::from_str(&seen_response).unwrap_or(Value::Null);
                tx.execute("INSERT INTO replays (key, at_ms) VALUES (?1, ?2)", params![key, at_ms])?;
                tx.commit()?;
                return Ok(Recorded { response, replayed: true });
            }
            let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM ledger", [], |r| r.get(0))?;
            let entry = effect(&tx, seq)?;
            tx.execute(
                "INSERT INTO ledger (seq, key, kind, order_id, amount, unit, at_ms, request, response)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![seq, key, kind, entry.order_id, entry.amount, entry.unit, at_ms, request.to_string(), entry.response.to_string()],
            )?;
            tx.commit()?;
            Ok(Recorded { response: entry.response, replayed: false })
        })
        .await
    }

    /// Every entry, oldest first.
    pub async fn entries(&self) -> Result<Vec<Entry>, ServiceError> {
        self.select(None).await
    }

    /// The entries of one order, oldest first.
    pub async fn entries_of(&self, order_id: &str) -> Result<Vec<Entry>, ServiceError> {
        self.select(Some(order_id.to_string())).await
    }

    async fn select(&self, order_id: Option<String>) -> Result<Vec<Entry>, ServiceError> {
        self.with_conn(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, key, kind, order_id, amount, unit, at_ms, request, response FROM ledger
                 WHERE ?1 IS NULL OR order_id = ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map([&order_id], |r| {
                let request: String = r.get(7)?;
                let response: String = r.get(8)?;
                Ok(Entry {
                    seq: r.get(0)?,
                    key: r.get(1)?,
                    kind: r.get(2)?,
                    order_id: r.get(3)?,
                    amount: r.get(4)?,
                    unit: r.get(5)?,
                    at_ms: r.get(6)?,
                    request: serde_json::from_str(&request).unwrap_or(Value::Null),
                    response: serde_json::from_str(&response).unwrap_or(Value::Null),
                    replays_at_ms: Vec::new(),
                })
            })?;
            let mut entries = rows.collect::<Result<Vec<_>, _>>()?;
            let mut replays: HashMap<String, Vec<i64>> = HashMap::new();
            let mut stmt = conn.prepare("SELECT key, at_ms FROM replays ORDER BY rowid")?;
            for r in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                let (key, at) = r?;
                replays.entry(key).or_default().push(at);
            }
            for e in &mut entries {
                e.replays_at_ms = replays.remove(&e.key).unwrap_or_default();
            }
            Ok(entries)
        })
        .await
    }

    /// Runs `f` on the connection off the async runtime (SQLite calls block).
    pub async fn with_conn<T, F>(&self, f: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ServiceError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite inconsistent (the open
            // transaction rolls back on drop), so a poisoned lock is safe to reuse.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| ServiceError::internal("TaskFailed", format!("ledger task did not finish: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn open(dir: &Path) -> Ledger {
        Ledger::open(dir, "test.db", "", Arc::new(ManualClock::new(1_000))).expect("open ledger")
    }

    fn effect(order: &str) -> impl FnOnce(&Transaction<'_>, i64) -> Result<NewEntry, ServiceError> + Send + 'static {
        let order = order.to_string();
        move |_tx, seq| Ok(NewEntry { order_id: order, amount: Some(5), unit: None, response: json!({ "id": seq }) })
    }

    #[tokio::test]
    async fn same_key_replays_and_records_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(dir.path());
        let a = ledger.record_once("k1".into(), "thing", json!({"x": 1}), effect("o1")).await.unwrap();
        let b = ledger.record_once("k1".into(), "thing", json!({"x": 1}), effect("o1")).await.unwrap();
        assert!(!a.replayed);
        assert!(b.replayed);
        assert_eq!(a.response, b.response);
        let entries = ledger.entries().await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].replays_at_ms, [1_000], "the replay is logged");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn racing_copies_of_one_request_have_one_effect() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(dir.path());
        let effects = Arc::new(AtomicI64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (ledger, effects) = (ledger.clone(), effects.clone());
            tasks.push(tokio::spawn(async move {
                ledger
                    .record_once("k".into(), "thing", json!({"x": 1}), move |_tx, seq| {
                        effects.fetch_add(1, Ordering::SeqCst);
                        Ok(NewEntry { order_id: "o1".into(), amount: None, unit: None, response: json!({ "id": seq }) })
                    })
                    .await
                    .unwrap()
            }));
        }
        let mut replays = 0;
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.response, json!({ "id": 1 }));
            replays += usize::from(r.replayed);
        }
        assert_eq!((effects.load(Ordering::SeqCst), replays), (1, 19));
    }

    #[tokio::test]
    async fn same_key_other_request_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open(dir.path());
        ledger.record_once("k1".into(), "thing", json!({"x": 1}), effect("o1")).await.unwrap();
        let err = ledger.record_once("k1".into(), "thing", json!({"x": 2}), effect("o1")).await.unwrap_err();
        assert_eq!(err.code(), "IdempotencyKeyReused");
    }

    #[tokio::test]
    async fn failed_effect_is_not_recorded_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ledger = open(dir.path());
            let err = ledger
                .record_once("k1".into(), "thing", json!({}), |_tx, _| Err(ServiceError::internal("Boom", "boom")))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "Boom");
            ledger.record_once("k1".into(), "thing", json!({}), effect("o1")).await.unwrap();
        }
        let reopened = open(dir.path());
        let entries = reopened.entries().await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(reopened.entries_of("o1").await.unwrap(), entries);
        assert!(reopened.entries_of("o2").await.unwrap().is_empty());
        assert_eq!(entries[0].at_ms, 1_000);
        assert_eq!(entries[0].order_id, "o1");
    }
}
