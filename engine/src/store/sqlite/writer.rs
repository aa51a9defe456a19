//! The single writer thread: group commit.
//!
//! Requests queue up while a batch is being applied; the thread then takes all waiting
//! requests (up to [`MAX_BATCH`]), runs them in one transaction and commits it into the WAL.
//! The [`durable`](super::durable) thread fsyncs the WAL and only then answers the callers and
//! wakes pollers, stream readers and the timer service, while this thread goes on with the next
//! batch. Nobody learns about a transition before it is durable.
//!
//! A failing request must roll back alone. A SAVEPOINT per request does that, but it makes
//! SQLite copy every page a request touches into a sub-journal first (a fifth of the writer's
//! CPU in a profile). So the common path runs the batch without savepoints; when a request
//! fails, the whole transaction is rolled back and the batch re-runs with a savepoint per
//! request ([`run_one`]). Nothing was answered yet, so the first attempt is invisible.

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::notify::Notifier;
use crate::processor::{Notes, Processor, Request, Response};
use crate::store::health::Health;
use crate::store::sqlite::durable::{Committed, Syncer, WalSync, Watermark};
use crate::store::sqlite::lock::DbLock;
use crate::store::sqlite::run_cache::RunCache;
use crate::store::sqlite::tx::SqliteTx;

pub const MAX_BATCH: usize = 512;

struct Job {
    req: Request,
    reply: oneshot::Sender<Result<Response>>,
}

/// Cheap handle to the writer; the thread stops when every handle is dropped.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<Job>,
}

impl WriterHandle {
    pub async fn exec(&self, req: Request) -> Result<Response> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Job { req, reply }).map_err(|_| EngineError::ShuttingDown)?;
        rx.await.map_err(|_| EngineError::ShuttingDown)?
    }
}

/// What the writer thread shares with the rest of the engine.
pub struct WriterParts {
    pub clock: Arc<dyn Clock>,
    pub notifier: Arc<Notifier>,
    pub watermark: Arc<Watermark>,
    pub health: Arc<Health>,
    pub fsync: Arc<dyn WalSync>,
    /// The database lock, released when the writer (and its last commit) is done.
    pub lock: DbLock,
}

/// Starts the writer thread (and its fsync thread) on `conn`, the store at `path`.
pub fn spawn(conn: Connection, path: &Path, parts: WriterParts) -> Result<(WriterHandle, std::thread::JoinHandle<()>)> {
    let WriterParts { clock, notifier, watermark, health, fsync, lock } = parts;
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let syncer = Syncer::spawn(wal.into(), notifier, watermark, health.clone(), fsync)
        .map_err(|e| EngineError::Startup(format!("cannot start the fsync thread: {e}; check the process limits")))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = std::thread::Builder::new()
        .name("faultline-writer".into())
        .spawn(move || {
            run(conn, rx, clock, syncer, &health);
            drop(lock);
        })
        .map_err(|e| EngineError::Startup(format!("cannot start the writer thread: {e}; check the process limits")))?;
    Ok((WriterHandle { tx }, handle))
}

fn run(conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, clock: Arc<dyn Clock>, syncer: Syncer, health: &Health) {
    let mut cache = RunCache::default();
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if health.write_refusal().is_some() {
            // An fsync failed: nothing more is written (see `store::health`).
            for job in batch {
                let _ = job.reply.send(Err(health.write_refusal().unwrap_or(EngineError::ShuttingDown)));
            }
            continue;
        }
        commit_batch(&conn, &mut cache, batch, clock.as_ref(), &syncer);
    }
    syncer.finish();
    tracing::info!("writer stopped");
}

fn commit_batch(conn: &Connection, cache: &mut RunCache, batch: Vec<Job>, clock: &dyn Clock, syncer: &Syncer) {
    let started = std::time::Instant::now();
    // Each request keeps the time it was first run with, so a re-run sees the same clock.
    let (work, replies): (Vec<(Request, i64)>, Vec<_>) =
        batch.into_iter().map(|j| ((j.req, clock.now_ms()), j.reply)).unzip();
    let done = match run_batch(conn, cache, &work, false) {
        Ok(None) => {
            tracing::debug!(requests = work.len(), "a request failed; re-running the batch with savepoints");
            run_batch(conn, cache, &work, true).and_then(|d| {
                d.ok_or_else(|| EngineError::Store("a request failed outside its savepoint; retry it".into()))
            })
        }
        other => other.and_then(|d| d.ok_or_else(|| EngineError::Store("the batch did not run; retry it".into()))),
    };
    let (results, notes) = match done {
        Ok(d) => d,
        Err(e) => {
            cache.clear();
            return fail_all(conn, replies, e);
        }
    };
    let applied = started.elapsed();
    let number = syncer.next_batch();
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            tracing::trace!(requests = results.len(), ?applied, total = ?started.elapsed(), "group commit");
            syncer.hand_over(Committed { number, replies: replies.into_iter().zip(results).collect(), notes });
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the whole batch is rolled back");
            cache.clear();
            fail_all(conn, replies, e.into());
            syncer.hand_over(Committed { number, replies: Vec::new(), notes: Notes::default() });
        }
    }
}

type Done = (Vec<Result<Response>>, Notes);

/// Runs the batch in a fresh transaction, left open on success. Without savepoints, a request
/// that fails after writing rows makes it roll everything back and return `None`; one that
/// fails before writing anything (a stale token, an unknown id: the usual rejections) leaves
/// the transaction as if it never ran, which `total_changes` proves (an aborted statement is
/// undone by SQLite's statement journal and not counted). With savepoints every request gets
/// its own result. Any failed request clears the run cache: what it cached may be rolled back.
pub(crate) fn run_batch(
    conn: &Connection,
    cache: &mut RunCache,
    work: &[(Request, i64)],
    savepoints: bool,
) -> Result<Option<Done>> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let mut notes = Notes::default();
    let mut results = Vec::with_capacity(work.len());
    for (req, now) in work {
        let before = conn.total_changes();
        let result = if savepoints {
            run_one(conn, cache, req.clone(), *now, &mut notes)
        } else {
            run_bare(conn, cache, req.clone(), *now, &mut notes)
        };
        if result.is_err() {
            cache.clear();
        }
        if result.is_err() && conn.is_autocommit() {
            // SQLite dropped the whole transaction (disk full, I/O error): nothing to keep.
            return result.map(|_| None);
        }
        if result.is_err() && !savepoints && conn.total_changes() != before {
            conn.execute_batch("ROLLBACK")?;
            return Ok(None);
        }
        results.push(result);
    }
    Ok(Some((results, notes)))
}

fn fail_all(conn: &Connection, replies: Vec<oneshot::Sender<Result<Response>>>, e: EngineError) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let msg = e.to_string();
    for reply in replies {
        let again = match &e {
            EngineError::Corrupt(m) => EngineError::Corrupt(m.clone()),
            _ => EngineError::Store(msg.clone()),
        };
        let _ = reply.send(Err(again));
    }
}

/// Runs one request in the open transaction without a savepoint: on error the transaction
/// holds its partial writes and must be rolled back by the caller.
fn run_bare(conn: &Connection, cache: &mut RunCache, req: Request, now: i64, notes: &mut Notes) -> Result<Response> {
    let mut stx = SqliteTx { conn, cache };
    let mut p = Processor::new(&mut stx, now);
    let resp = p.execute(req)?;
    notes.merge(std::mem::take(&mut p.notes));
    Ok(resp)
}

pub(crate) fn run_one(
    conn: &Connection,
    cache: &mut RunCache,
    req: Request,
    now: i64,
    notes: &mut Notes,
) -> Result<Response> {
    conn.execute_batch("SAVEPOINT req")?;
    let mut stx = SqliteTx { conn, cache: &mut *cache };
    let mut p = Processor::new(&mut stx, now);
    match p.execute(req) {
        Ok(resp) => {
            let n = std::mem::take(&mut p.notes);
            conn.execute_batch("RELEASE req")?;
            notes.merge(n);
            Ok(resp)
        }
        Err(e) => {
            cache.clear();
            conn.execute_batch("ROLLBACK TO req; RELEASE req")?;
            Err(e)
        }
    }
}
