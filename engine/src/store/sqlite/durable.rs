//! Durability after commit, off the writer thread.
//!
//! The writer commits a batch into the WAL without waiting for the disk
//! (`synchronous=NORMAL`) and goes on with the next batch, while this thread fsyncs the WAL
//! file and only then answers the batch's callers and publishes its wake-ups. So the fsync of
//! one batch overlaps the work of the next one instead of stalling the only writer, and an
//! acknowledged transition is still on disk before anyone is told about it.
//!
//! Why this is safe: frames reach the WAL in commit order, and an fsync started after a
//! batch's COMMIT returned covers that batch and everything before it. A later batch that
//! builds on an earlier one (a poll claiming a task created just before) is answered after
//! its own fsync, which covers both. A process crash loses nothing the kernel has; a power
//! loss can drop only commits nobody was answered for. Read connections may see a commit
//! during its fsync (about a millisecond) before its callers are answered.

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::error::{EngineError, Result};
use crate::notify::Notifier;
use crate::processor::{Notes, Response};

/// A batch committed to the WAL, waiting for its fsync.
pub struct Committed {
    pub replies: Vec<(oneshot::Sender<Result<Response>>, Result<Response>)>,
    pub notes: Notes,
}

/// Hands committed batches to the fsync thread; dropping it stops that thread after the
/// batches already handed over are answered.
pub struct Syncer {
    tx: mpsc::Sender<Committed>,
    thread: std::thread::JoinHandle<()>,
}

impl Syncer {
    pub fn spawn(wal: PathBuf, notifier: Arc<Notifier>) -> std::io::Result<Syncer> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new().name("faultline-fsync".into()).spawn(move || run(&wal, &rx, &notifier))?;
        Ok(Syncer { tx, thread })
    }

    pub fn hand_over(&self, batch: Committed) {
        if let Err(mpsc::SendError(batch)) = self.tx.send(batch) {
            // Only if the thread died: nobody would ever be answered, so say so now.
            fail(batch, "the fsync thread is gone; restart the engine");
        }
    }

    /// Waits until every handed-over batch is answered.
    pub fn finish(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

fn run(wal: &std::path::Path, rx: &mpsc::Receiver<Committed>, notifier: &Notifier) {
    let mut file: Option<File> = None;
    while let Ok(first) = rx.recv() {
        // Everything committed so far is covered by one fsync (group commit of the fsyncs).
        let batches: Vec<Committed> = std::iter::once(first).chain(rx.try_iter()).collect();
        match sync(wal, &mut file) {
            Ok(()) => {
                let mut notes = Notes::default();
                for batch in batches {
                    for (reply, result) in batch.replies {
                        let _ = reply.send(result);
                    }
                    notes.merge(batch.notes);
                }
                notifier.publish(notes);
            }
            Err(e) => {
                tracing::error!(error = %e, wal = %wal.display(), "fsync of the WAL failed; the last commits may not be durable");
                let msg = format!("fsync of {} failed ({e}); the request may or may not have been applied, check the disk and retry", wal.display());
                for batch in batches {
                    fail(batch, &msg);
                }
            }
        }
    }
}

/// One fsync of the WAL; the file is (re)opened lazily, so a failed attempt starts afresh.
fn sync(wal: &std::path::Path, file: &mut Option<File>) -> std::io::Result<()> {
    let f = match file {
        Some(f) => f,
        None => file.insert(File::open(wal)?),
    };
    let result = f.sync_data();
    if result.is_err() {
        *file = None;
    }
    result
}

fn fail(batch: Committed, msg: &str) {
    for (reply, _) in batch.replies {
        let _ = reply.send(Err(EngineError::Store(msg.to_string())));
    }
}
