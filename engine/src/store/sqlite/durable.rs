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
//! loss can drop only commits nobody was answered for. Read connections can see a commit
//! while its fsync runs, so readers wait on the [`Watermark`] before answering anything.
//!
//! A failed fsync stops all writes for good (see [`crate::store::health`]): its batches and
//! every later one answer 503 `store_failed`. The fsync itself goes through [`WalSync`], so
//! tests can inject the failure.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::error::{EngineError, Result};
use crate::notify::Notifier;
use crate::processor::{Notes, Response};
use crate::store::health::Health;

/// Makes the WAL durable. The real one is [`FileSync`]; tests inject failures.
pub trait WalSync: Send + Sync + 'static {
    fn sync(&self, wal: &File) -> std::io::Result<()>;
}

/// `fdatasync` of the WAL file.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileSync;

impl WalSync for FileSync {
    fn sync(&self, wal: &File) -> std::io::Result<()> {
        wal.sync_data()
    }
}

/// How far commits and fsyncs have got, so a read can wait until what it saw is durable.
pub struct Watermark {
    /// Number of the last batch the writer started to COMMIT (set before COMMIT, so a reader
    /// that can see a batch's rows always sees its number too).
    committed: AtomicU64,
    /// Number of the last batch whose fsync finished.
    durable: watch::Sender<u64>,
}

impl Watermark {
    pub fn new() -> Arc<Watermark> {
        Arc::new(Watermark { committed: AtomicU64::new(0), durable: watch::channel(0).0 })
    }

    fn next_batch(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits until every batch committed so far is durable. Call it after a read and before
    /// answering with what the read saw.
    pub async fn durable_now(&self) {
        let target = self.committed.load(Ordering::SeqCst);
        let mut rx = self.durable.subscribe();
        // An error means the writer is gone (shutdown): nothing more will become durable.
        let _ = rx.wait_for(|d| *d >= target).await;
    }
}

/// A batch committed to the WAL, waiting for its fsync.
pub struct Committed {
    /// Its number from [`Syncer::next_batch`].
    pub number: u64,
    pub replies: Vec<(oneshot::Sender<Result<Response>>, Result<Response>)>,
    pub notes: Notes,
}

/// Hands committed batches to the fsync thread; dropping it stops that thread after the
/// batches already handed over are answered.
pub struct Syncer {
    tx: mpsc::Sender<Committed>,
    thread: std::thread::JoinHandle<()>,
    watermark: Arc<Watermark>,
}

impl Syncer {
    pub fn spawn(
        wal: PathBuf,
        notifier: Arc<Notifier>,
        watermark: Arc<Watermark>,
        health: Arc<Health>,
        fsync: Arc<dyn WalSync>,
    ) -> std::io::Result<Syncer> {
        let (tx, rx) = mpsc::channel();
        let marks = watermark.clone();
        let thread = std::thread::Builder::new().name("faultline-fsync".into()).spawn(move || {
            let wal = Wal { path: wal, file: None, fsync };
            run(wal, &rx, &notifier, &marks, &health)
        })?;
        Ok(Syncer { tx, thread, watermark })
    }

    /// Numbers the batch about to be committed; it must then be handed over, committed or not.
    pub fn next_batch(&self) -> u64 {
        self.watermark.next_batch()
    }

    pub fn hand_over(&self, batch: Committed) {
        if let Err(mpsc::SendError(batch)) = self.tx.send(batch) {
            // Only if the thread died: nobody would ever be answered, so say so now.
            fail(batch, EngineError::StoreFailed("the fsync thread is gone; restart the engine".into()));
        }
    }

    /// Waits until every handed-over batch is answered.
    pub fn finish(self) {
        drop(self.tx);
        let _ = self.thread.join();
    }
}

/// The WAL file, opened lazily so a failed attempt starts afresh.
struct Wal {
    path: PathBuf,
    file: Option<File>,
    fsync: Arc<dyn WalSync>,
}

impl Wal {
    fn sync(&mut self) -> std::io::Result<()> {
        let f = match &self.file {
            Some(f) => f,
            None => self.file.insert(File::open(&self.path)?),
        };
        let result = self.fsync.sync(f);
        if result.is_err() {
            self.file = None;
        }
        result
    }
}

fn run(mut wal: Wal, rx: &mpsc::Receiver<Committed>, notifier: &Notifier, watermark: &Watermark, health: &Health) {
    while let Ok(first) = rx.recv() {
        // Everything committed so far is covered by one fsync (group commit of the fsyncs).
        let batches: Vec<Committed> = std::iter::once(first).chain(rx.try_iter()).collect();
        let last = batches.iter().map(|b| b.number).max().unwrap_or(0);
        // Once an fsync failed, a later one proves nothing (the kernel may have dropped the
        // pages it could not write): writes stay stopped and nothing more is acknowledged.
        let synced = match health.write_refusal() {
            Some(refused) => Err(refused),
            None => wal.sync().map_err(|e| {
                let reason = format!("fsync of {} failed ({e})", wal.path.display());
                health.stop_writes(reason.clone());
                EngineError::StoreFailed(format!(
                    "{reason}; the engine stopped accepting writes and this request may or may not have been applied; \
                     restart the engine (it recovers from its WAL) after checking the disk"
                ))
            }),
        };
        // Also after a failed fsync: readers must not hang; the error is logged and answered.
        watermark.durable.send_if_modified(|d| {
            let moved = last > *d;
            *d = (*d).max(last);
            moved
        });
        match synced {
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
                let msg = e.to_string();
                for batch in batches {
                    fail(batch, EngineError::StoreFailed(msg.clone()));
                }
            }
        }
    }
}

fn fail(batch: Committed, e: EngineError) {
    let msg = e.to_string();
    for (reply, _) in batch.replies {
        let _ = reply.send(Err(EngineError::StoreFailed(msg.clone())));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const DEADLINE: Duration = Duration::from_secs(10);

    fn batch(number: u64) -> (Committed, oneshot::Receiver<Result<Response>>) {
        let (reply, answer) = oneshot::channel();
        (Committed { number, replies: vec![(reply, Ok(Response::Done))], notes: Notes::default() }, answer)
    }

    #[tokio::test]
    async fn a_batch_is_answered_and_readable_only_after_its_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("engine.db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let marks = Watermark::new();
        let syncer = spawn(wal, &marks, Arc::new(FileSync));

        let number = syncer.next_batch();
        let mut reader = tokio::spawn({
            let marks = marks.clone();
            async move { marks.durable_now().await }
        });
        // Committed but not yet handed over for its fsync: a read that could see it must wait.
        let early = tokio::time::timeout(Duration::from_millis(200), &mut reader).await;
        assert!(early.is_err(), "a read returned before the batch it could see was durable");

        let (committed, answer) = batch(number);
        syncer.hand_over(committed);
        let answered = tokio::time::timeout(DEADLINE, answer).await.expect("answered within the deadline");
        assert!(matches!(answered, Ok(Ok(Response::Done))));
        tokio::time::timeout(DEADLINE, reader).await.expect("the read finished once durable").unwrap();
        syncer.finish();
    }

    fn spawn(wal: PathBuf, marks: &Arc<Watermark>, fsync: Arc<dyn WalSync>) -> Syncer {
        Syncer::spawn(wal, Arc::new(Notifier::new(0)), marks.clone(), Arc::new(Health::default()), fsync).unwrap()
    }

    /// Fails every fsync after the first `ok` ones.
    struct FailingSync(std::sync::atomic::AtomicUsize);

    impl WalSync for FailingSync {
        fn sync(&self, _: &File) -> std::io::Result<()> {
            if self.0.fetch_sub(1, Ordering::SeqCst) > 0 {
                Ok(())
            } else {
                self.0.store(0, Ordering::SeqCst);
                Err(std::io::Error::other("injected EIO"))
            }
        }
    }

    #[tokio::test]
    async fn a_failed_fsync_stops_every_later_batch_and_does_not_hang_reads() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("engine.db-wal");
        std::fs::write(&wal, b"frames").unwrap();
        let marks = Watermark::new();
        // The injected fault: the first fsync fails; every later one would succeed.
        let syncer = spawn(wal, &marks, Arc::new(FailingSync(0.into())));
        for round in 0..2 {
            let (committed, answer) = batch(syncer.next_batch());
            syncer.hand_over(committed);
            let answered = tokio::time::timeout(DEADLINE, answer).await.expect("answered within the deadline");
            match answered {
                Ok(Err(EngineError::StoreFailed(msg))) => {
                    assert!(msg.contains("fsync") && msg.contains("restart"), "round {round}: {msg}")
                }
                other => panic!("round {round}: expected store_failed naming the fsync, got {other:?}"),
            }
        }
        tokio::time::timeout(DEADLINE, marks.durable_now()).await.expect("reads go on after a failed fsync");
        syncer.finish();
    }
}
