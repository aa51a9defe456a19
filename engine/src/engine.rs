//! [`Engine`]: the handle the API and tests use. It owns the writer, the read pool, the
//! post-commit notifier, the clock, the poller registry, and the timer service.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use faultline_proto::{EpochMillis, PollerInfo};
use rusqlite::Connection;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::notify::Notifier;
use crate::processor::{Request, Response};
use crate::store::sqlite::durable::Watermark;
use crate::store::sqlite::{self, read, writer, Reader};

/// Pollers are shown for this long after their last poll.
pub const POLLER_TTL_MS: i64 = 60_000;

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    writer: writer::WriterHandle,
    reader: Reader,
    /// Reads wait on it, so nothing not yet durable is ever answered.
    watermark: Arc<Watermark>,
    notifier: Arc<Notifier>,
    clock: Arc<dyn Clock>,
    /// (task queue, kind, worker) -> last poll time. Presence only: not durable on purpose.
    pollers: Mutex<HashMap<(String, &'static str, String), EpochMillis>>,
    shutdown: watch::Sender<bool>,
}

/// Joins the writer thread once every [`Engine`] clone is gone (so the last commit finishes).
pub struct WriterGuard(Option<std::thread::JoinHandle<()>>);

impl WriterGuard {
    pub fn join(mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

impl Engine {
    /// Opens the store (running migrations) and starts the writer thread.
    pub fn open(path: &Path, clock: Arc<dyn Clock>) -> Result<(Engine, WriterGuard)> {
        let conn: Connection = sqlite::open_writer(path)?;
        let reader = Reader::new(path);
        let last = reader.with(read::last_cursor)?;
        let (running, timers) = reader.with(read::recovery_counts)?;
        if running > 0 || timers > 0 {
            // Nothing to rebuild in memory: the timer service reads the timer rows, and task rows
            // (including those of tasks whose worker died) come back through their timeouts.
            tracing::info!(running, timers, last_cursor = last, "recovered from the store");
        }
        let notifier = Arc::new(Notifier::new(last));
        let watermark = Watermark::new();
        let (writer, handle) = writer::spawn(conn, path, clock.clone(), notifier.clone(), watermark.clone())?;
        let engine = Engine {
            inner: Arc::new(Inner {
                writer,
                reader,
                watermark,
                notifier,
                clock,
                pollers: Mutex::new(HashMap::new()),
                shutdown: watch::channel(false).0,
            }),
        };
        Ok((engine, WriterGuard(Some(handle))))
    }

    pub fn now(&self) -> EpochMillis {
        self.inner.clock.now_ms()
    }

    pub fn notifier(&self) -> &Notifier {
        &self.inner.notifier
    }

    /// Executes a write request; returns once it is committed (durable) or refused.
    pub async fn exec(&self, req: Request) -> Result<Response> {
        self.inner.writer.exec(req).await
    }

    /// Runs a read on a pooled connection off the async threads. It returns once everything
    /// the read could have seen is durable: a read may see a batch whose fsync still runs.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        let out = tokio::task::spawn_blocking(move || inner.reader.with(f))
            .await
            .map_err(|e| EngineError::Store(format!("read task failed: {e}")))??;
        self.inner.watermark.durable_now().await;
        Ok(out)
    }

    /// Signals long polls, streams and the timer service to stop.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    pub fn record_poller(&self, queue: &str, kind: &'static str, worker: &str) {
        let now = self.now();
        let mut m = self.inner.pollers.lock().unwrap_or_else(|e| e.into_inner());
        m.retain(|_, at| now - *at < POLLER_TTL_MS);
        m.insert((queue.to_string(), kind, worker.to_string()), now);
    }

    /// Pollers of a queue seen in the last minute.
    pub fn pollers(&self, queue: &str) -> Vec<PollerInfo> {
        let now = self.now();
        let m = self.inner.pollers.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<PollerInfo> = m
            .iter()
            .filter(|((q, _, _), at)| q == queue && now - **at < POLLER_TTL_MS)
            .map(|((q, kind, worker), at)| PollerInfo {
                worker: worker.clone(),
                task_queue: q.clone(),
                kind: (*kind).to_string(),
                last_poll_at_ms: *at,
            })
            .collect();
        out.sort_by(|a, b| (&a.kind, &a.worker).cmp(&(&b.kind, &b.worker)));
        out
    }
}
