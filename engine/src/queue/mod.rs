//! The dual-write twin's durable queue: a second SQLite file (`<db>.queue`), separate from the
//! state database, with the semantics of SQS, Celery's Redis transport or a Sidekiq-style queue:
//! [`Queue::enqueue`] with a delivery time (timers are delayed messages), [`Queue::reserve`] with
//! a lease (the visibility timeout), [`Queue::ack`], and redelivery of a reserved message whose
//! lease expired without an ack. It is as durable as the state database (WAL, `synchronous =
//! FULL`): every anomaly of the twin comes from the gap between the two stores, not from a
//! flimsy queue. Time is passed in (`now`), so tests drive it with the engine's clock.
//!
//! It also keeps the delivery records ([`Delivery`]): per delivered message, the event id that
//! created it and the run's committed last event id when it was delivered, so a checker can
//! count "early" deliveries ([`read_deliveries`] reads them from the file offline).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use faultline_proto::EpochMillis;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// A reserved message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub topic: String,
    pub body: String,
    pub deliver_at_ms: EpochMillis,
    /// How many times it was reserved, this time included (2 and more: a redelivery).
    pub deliveries: u32,
    /// What was handed out at the previous delivery (a task token and its wire body), if any.
    pub handed_out: Option<String>,
}

/// One delivery of a message to a consumer, as recorded for the race checker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub message_id: i64,
    pub topic: String,
    pub run_id: String,
    /// `activity`, `workflow` or `timer`.
    pub kind: String,
    pub seq: u64,
    /// The id of the last event of the transition that created the message.
    pub created_event_id: u64,
    /// The run's last committed event id when the message was delivered (0: no such run yet).
    pub committed_event_id: u64,
    /// 1 for the first delivery, 2 and more for redeliveries.
    pub delivery: u32,
    pub at_ms: EpochMillis,
    /// `committed_event_id < created_event_id`: the consumer could read a state older than
    /// the one that created its task.
    pub early: bool,
}

/// Counts for the admin API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Depth {
    /// Not acked, deliverable now or later.
    pub pending: u64,
    /// Reserved, lease not yet expired.
    pub leased: u64,
    pub acked: u64,
}

pub struct Queue {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// The queue file of a state database: `<db>.queue`.
pub fn queue_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".queue");
    p.into()
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    deliver_at_ms INTEGER NOT NULL,
    lease_until_ms INTEGER,
    deliveries INTEGER NOT NULL DEFAULT 0,
    handed_out TEXT,
    token TEXT,
    enqueued_at_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages(topic, deliver_at_ms);
CREATE INDEX IF NOT EXISTS messages_token ON messages(token);
CREATE TABLE IF NOT EXISTS acks (message_id INTEGER PRIMARY KEY, topic TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id INTEGER NOT NULL, topic TEXT NOT NULL, run_id TEXT NOT NULL, kind TEXT NOT NULL,
    seq INTEGER NOT NULL, created_event_id INTEGER NOT NULL, committed_event_id INTEGER NOT NULL,
    delivery INTEGER NOT NULL, at_ms INTEGER NOT NULL
);
";

fn store_err(e: rusqlite::Error) -> EngineError {
    EngineError::Store(format!("queue: {e}"))
}

impl Queue {
    /// Opens (creating) the queue file.
    pub fn open(path: &Path) -> Result<Queue> {
        let conn = Connection::open(path).map_err(|e| {
            EngineError::Startup(format!("cannot open the queue {}: {e}; check the --db path", path.display()))
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(store_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(store_err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(store_err)?;
        conn.execute_batch(SCHEMA).map_err(store_err)?;
        Ok(Queue { conn: Mutex::new(conn), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn).map_err(store_err)
    }

    /// Publishes a message, deliverable from `deliver_at_ms` on. Durable when it returns.
    pub fn enqueue(&self, topic: &str, body: &str, deliver_at_ms: EpochMillis, now: EpochMillis) -> Result<i64> {
        self.with(|c| {
            c.execute(
                "INSERT INTO messages(topic, body, deliver_at_ms, enqueued_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![topic, body, deliver_at_ms, now],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Takes the oldest deliverable message of a topic for `lease_ms`: due, and either never
    /// reserved or with an expired lease (a redelivery). Unacked, it comes back after the lease.
    pub fn reserve(&self, topic: &str, now: EpochMillis, lease_ms: i64) -> Result<Option<Message>> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let found = tx
                .query_row(
                    "SELECT id, body, deliver_at_ms, deliveries, handed_out FROM messages
                     WHERE topic = ?1 AND deliver_at_ms <= ?2 AND (lease_until_ms IS NULL OR lease_until_ms <= ?2)
                     ORDER BY deliver_at_ms, id LIMIT 1",
                    params![topic, now],
                    |r| {
                        Ok(Message {
                            id: r.get(0)?,
                            topic: topic.to_string(),
                            body: r.get(1)?,
                            deliver_at_ms: r.get(2)?,
                            deliveries: r.get::<_, u32>(3)? + 1,
                            handed_out: r.get(4)?,
                        })
                    },
                )
                .optional()?;
            if let Some(m) = &found {
                tx.execute(
                    "UPDATE messages SET lease_until_ms = ?2, deliveries = deliveries + 1 WHERE id = ?1",
                    params![m.id, now + lease_ms],
                )?;
            }
            tx.commit()?;
            Ok(found)
        })
    }

    /// Remembers what a delivery handed out (its task token, for the late ack, and the body).
    pub fn handed_out(&self, id: i64, token: &str, body: &str) -> Result<()> {
        self.with(|c| {
            c.execute("UPDATE messages SET token = ?2, handed_out = ?3 WHERE id = ?1", params![id, token, body])?;
            Ok(())
        })
    }

    /// Deletes a message for good; false if it was already acked (or never existed).
    pub fn ack(&self, id: i64, now: EpochMillis) -> Result<bool> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            let topic: Option<String> =
                tx.query_row("SELECT topic FROM messages WHERE id = ?1", [id], |r| r.get(0)).optional()?;
            if let Some(topic) = &topic {
                tx.execute("DELETE FROM messages WHERE id = ?1", [id])?;
                tx.execute("INSERT OR IGNORE INTO acks(message_id, topic, at_ms) VALUES (?1, ?2, ?3)", params![id, topic, now])?;
            }
            tx.commit()?;
            Ok(topic.is_some())
        })
    }

    /// Acks the message whose delivery handed out this task token (the late ack).
    pub fn ack_token(&self, token: &str, now: EpochMillis) -> Result<bool> {
        let id: Option<i64> =
            self.with(|c| c.query_row("SELECT id FROM messages WHERE token = ?1", [token], |r| r.get(0)).optional())?;
        match id {
            Some(id) => self.ack(id, now),
            None => Ok(false),
        }
    }

    /// When the next message of a topic becomes deliverable (due or lease expiry), if any.
    pub fn next_at(&self, topic: &str) -> Result<Option<EpochMillis>> {
        self.with(|c| {
            c.query_row(
                "SELECT MIN(MAX(deliver_at_ms, COALESCE(lease_until_ms, 0))) FROM messages WHERE topic = ?1",
                [topic],
                |r| r.get(0),
            )
        })
    }

    pub fn depth(&self, now: EpochMillis) -> Result<Depth> {
        self.with(|c| {
            let (pending, leased): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COALESCE(SUM(lease_until_ms IS NOT NULL AND lease_until_ms > ?1), 0) FROM messages",
                [now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let acked: i64 = c.query_row("SELECT COUNT(*) FROM acks", [], |r| r.get(0))?;
            Ok(Depth { pending: pending as u64, leased: leased as u64, acked: acked as u64 })
        })
    }

    pub fn record_delivery(&self, d: &Delivery) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO deliveries(message_id, topic, run_id, kind, seq, created_event_id, committed_event_id, delivery, at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    d.message_id,
                    d.topic,
                    d.run_id,
                    d.kind,
                    d.seq as i64,
                    d.created_event_id as i64,
                    d.committed_event_id as i64,
                    d.delivery,
                    d.at_ms
                ],
            )?;
            Ok(())
        })
    }

    pub fn deliveries(&self) -> Result<Vec<Delivery>> {
        self.with(deliveries_of)
    }
}

fn deliveries_of(c: &Connection) -> rusqlite::Result<Vec<Delivery>> {
    let mut st = c.prepare(
        "SELECT message_id, topic, run_id, kind, seq, created_event_id, committed_event_id, delivery, at_ms
         FROM deliveries ORDER BY id",
    )?;
    let rows = st.query_map([], |r| {
        let created = r.get::<_, i64>(5)? as u64;
        let committed = r.get::<_, i64>(6)? as u64;
        Ok(Delivery {
            message_id: r.get(0)?,
            topic: r.get(1)?,
            run_id: r.get(2)?,
            kind: r.get(3)?,
            seq: r.get::<_, i64>(4)? as u64,
            created_event_id: created,
            committed_event_id: committed,
            delivery: r.get(7)?,
            at_ms: r.get(8)?,
            early: committed < created,
        })
    })?;
    rows.collect()
}

/// The delivery records of a queue file, read offline (for a `check`-style race checker).
pub fn read_deliveries(queue_file: &Path) -> Result<Vec<Delivery>> {
    let c = Connection::open_with_flags(queue_file, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(store_err)?;
    deliveries_of(&c).map_err(store_err)
}

#[cfg(test)]
mod tests;
