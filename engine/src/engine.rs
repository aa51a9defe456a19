//! [`Engine`]: the handle the API and tests use. It owns the writer, the read pool, the
//! post-commit notifier, the clock, the poller registry ([`crate::pollers`]), and the timer service.

use std::path::Path;
use std::sync::Arc;

use faultline_proto::{EpochMillis, PollerInfo, TaskToken};

use crate::pollers::{PollGuard, Pollers};
use rusqlite::Connection;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::dual::{request_ctx, Dual, DualOptions, Mode};
use crate::faults::{FaultCtx, FaultPoint, Faults};
use crate::error::{EngineError, Result};
use crate::notify::Notifier;
use crate::processor::{Request, Response};
use crate::store::health::Health;
use crate::store::sqlite::durable::{FileSync, WalSync, Watermark};
use crate::store::sqlite::{self, lock, read, writer, Reader};

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
    /// Who polls which queue now (presence, not durable on purpose).
    pollers: Arc<Pollers>,
    shutdown: watch::Sender<bool>,
    health: Arc<Health>,
    faults: Arc<Faults>,
    /// The dual-write twin's commit path and queue (`--mode dual-write`), else `None`.
    dual: Option<Arc<Dual>>,
}

/// How to open an engine; `Default` is what the binary uses.
#[derive(Clone)]
pub struct EngineOptions {
    /// How the WAL is made durable (tests inject a failing one).
    pub fsync: Arc<dyn WalSync>,
    /// How a transition commits (`--mode`): the engine proper, or the dual-write twin.
    pub mode: Mode,
    /// The twin's order, ack mode and lease (ignored in transactional mode).
    pub dual: DualOptions,
    /// Faults armed at start, a JSON array of `faults::FaultSpec` (`--faults`).
    pub faults: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { fsync: Arc::new(FileSync), mode: Mode::Transactional, dual: DualOptions::default(), faults: None }
    }
}

/// What to do when the store cannot be opened at startup.
const STARTUP_FIX: &str = "check that --db names a faultline-engine database this user can read and write \
    (run `faultline-engine check --db <file>` on it, or move it aside to start with an empty one)";

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
        Self::open_with(path, clock, EngineOptions::default())
    }

    /// [`Engine::open`] with options. Takes the database's lock first: a second engine on the
    /// same file is refused, naming the pid of the first.
    pub fn open_with(path: &Path, clock: Arc<dyn Clock>, options: EngineOptions) -> Result<(Engine, WriterGuard)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                EngineError::Startup(format!(
                    "cannot create the directory {} of --db: {e}; create it or pick another --db",
                    dir.display()
                ))
            })?;
        }
        let lock = lock::acquire(path)?;
        let conn: Connection = sqlite::open_writer(path).map_err(|e| e.at_startup(STARTUP_FIX))?;
        let reader = Reader::new(path);
        let last = reader.with(read::last_cursor).map_err(|e| e.at_startup(STARTUP_FIX))?;
        let (running, timers) = reader.with(read::recovery_counts).map_err(|e| e.at_startup(STARTUP_FIX))?;
        if running > 0 || timers > 0 {
            // Nothing to rebuild in memory: the timer service reads the timer rows, and task rows
            // (including those of tasks whose worker died) come back through their timeouts.
            tracing::info!(running, timers, last_cursor = last, "recovered from the store");
        }
        let faults = Arc::new(Faults::new(clock.clone()));
        if let Some(json) = &options.faults {
            faults.arm_json(json)?;
        }
        let dual = match options.mode {
            Mode::Transactional => None,
            Mode::DualWrite => Some(Arc::new(Dual::open(path, options.dual).map_err(|e| e.at_startup(STARTUP_FIX))?)),
        };
        let notifier = Arc::new(Notifier::new(last));
        let watermark = Watermark::new();
        let health = Arc::new(Health::default());
        let parts = writer::WriterParts {
            clock: clock.clone(),
            notifier: notifier.clone(),
            watermark: watermark.clone(),
            health: health.clone(),
            fsync: options.fsync,
            lock,
        };
        let (writer, handle) = writer::spawn(conn, path, parts)?;
        let engine = Engine {
            inner: Arc::new(Inner {
                writer,
                reader,
                watermark,
                notifier,
                pollers: Pollers::new(clock.clone()),
                clock,
                shutdown: watch::channel(false).0,
                health,
                faults,
                dual,
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
        if let Some(dual) = &self.inner.dual {
            return dual.exec(self, req).await;
        }
        if self.inner.faults.any_armed() {
            return self.exec_with_faults(req).await;
        }
        let out = self.inner.writer.exec(req).await;
        if let Err(e) = &out {
            self.inner.health.observe(e);
        }
        out
    }

    /// The transactional fault points: they sit around the group commit (the transaction
    /// itself runs on the writer thread, which never waits on a fault).
    async fn exec_with_faults(&self, req: Request) -> Result<Response> {
        let mut ctx = request_ctx(&req);
        self.report_ctx(&req, &mut ctx).await;
        self.inner.faults.hit(FaultPoint::BeforeCommit, &ctx).await?;
        let out = self.inner.writer.exec(req).await;
        if let Err(e) = &out {
            self.inner.health.observe(e);
        }
        let out = out?;
        self.inner.faults.hit(FaultPoint::AfterCommitBeforeReply, &ctx).await?;
        Ok(out)
    }

    /// A worker's report names its run by token only: the run's workflow id and type, and
    /// the reported activity's type, are read from the committed state (as the twin reads
    /// them in its transaction), so `workflow_type`, an order's id and `activity_type` match
    /// reports on both modes. Only when a fault is armed; a read that fails leaves the
    /// context as it was (the fault then matches less, never more).
    async fn report_ctx(&self, req: &Request, ctx: &mut FaultCtx) {
        let Request::ToTaskRun { token, .. } = req else { return };
        let Ok(token) = token.parse::<TaskToken>() else { return };
        let run_id = token.run_id().to_string();
        let Ok(Some(run)) = self.read(move |c| read::run_state(c, &run_id)).await else { return };
        ctx.workflow_id = ctx.workflow_id.take().or(Some(run.workflow_id.clone()));
        ctx.workflow_type = ctx.workflow_type.take().or(Some(run.workflow_type.clone()));
        if let TaskToken::Activity { seq, .. } = token {
            if let Some(a) = run.activities.get(&seq) {
                ctx.activity_types.push(a.activity_type.clone());
            }
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn mode(&self) -> Mode {
        if self.inner.dual.is_some() {
            Mode::DualWrite
        } else {
            Mode::Transactional
        }
    }

    /// The dual-write twin (`None` in transactional mode).
    pub fn dual(&self) -> Option<&Arc<Dual>> {
        self.inner.dual.as_ref()
    }

    /// What the engine knows about its store (`/healthz`).
    pub fn health(&self) -> &Health {
        &self.inner.health
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
            .map_err(|e| EngineError::Store(format!("read task failed: {e}")))?;
        if let Err(e) = &out {
            self.inner.health.observe(e);
        }
        let out = out?;
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

    /// A long poll of `worker` on `queue` opens: the worker is listed as a poller while the
    /// returned guard lives (and about a second after).
    pub fn poller_present(&self, queue: &str, kind: &'static str, worker: &str) -> PollGuard {
        self.inner.pollers.open(queue, kind, worker)
    }

    /// Pollers of a queue present now: with a long poll open, or one that ended a moment ago.
    pub fn pollers(&self, queue: &str) -> Vec<PollerInfo> {
        self.inner.pollers.of_queue(queue)
    }
}
