//! The single writer thread: group commit.
//!
//! Requests queue up while a commit is being fsynced; the thread then takes all waiting
//! requests (up to [`MAX_BATCH`]), runs each in its own SAVEPOINT (a failing request rolls back
//! alone), commits them with one fsync, and only then answers the callers and wakes pollers,
//! stream readers and the timer service. Nobody learns about a transition before it is durable.

use std::sync::Arc;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::notify::Notifier;
use crate::processor::{Notes, Processor, Request, Response};
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

pub fn spawn(conn: Connection, clock: Arc<dyn Clock>, notifier: Arc<Notifier>) -> (WriterHandle, std::thread::JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = std::thread::Builder::new()
        .name("faultline-writer".into())
        .spawn(move || run(conn, rx, clock, notifier))
        .expect("spawning the writer thread at startup");
    (WriterHandle { tx }, handle)
}

fn run(conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>, clock: Arc<dyn Clock>, notifier: Arc<Notifier>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch, clock.as_ref(), &notifier);
    }
    tracing::info!("writer stopped");
}

fn commit_batch(conn: &Connection, batch: Vec<Job>, clock: &dyn Clock, notifier: &Notifier) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        for job in batch {
            let _ = job.reply.send(Err(EngineError::Store(e.to_string())));
        }
        return;
    }
    let started = std::time::Instant::now();
    let mut notes = Notes::default();
    let mut answers = Vec::with_capacity(batch.len());
    for job in batch {
        let result = run_one(conn, job.req, clock.now_ms(), &mut notes);
        answers.push((job.reply, result));
    }
    let applied = started.elapsed();
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            tracing::trace!(requests = answers.len(), ?applied, total = ?started.elapsed(), "group commit");
            for (reply, result) in answers {
                let _ = reply.send(result);
            }
            notifier.publish(notes);
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; the whole batch is rolled back");
            let _ = conn.execute_batch("ROLLBACK");
            for (reply, _) in answers {
                let _ = reply.send(Err(EngineError::Store(e.to_string())));
            }
        }
    }
}

pub(crate) fn run_one(conn: &Connection, req: Request, now: i64, notes: &mut Notes) -> Result<Response> {
    conn.execute_batch("SAVEPOINT req")?;
    let mut stx = SqliteTx { conn };
    let mut p = Processor::new(&mut stx, now);
    match p.execute(req) {
        Ok(resp) => {
            let n = std::mem::take(&mut p.notes);
            conn.execute_batch("RELEASE req")?;
            notes.merge(n);
            Ok(resp)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO req; RELEASE req")?;
            Err(e)
        }
    }
}
