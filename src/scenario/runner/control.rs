//! How a run waits: on the snapshot (never by polling), on the injected clock, and on the
//! presenter's commands, all at once. A wait ends when its condition holds, or with an
//! [`Abort`] when its own deadline passes, the run's deadline passes, or the presenter aborts.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::live::Snapshot;
use super::RunCommand;
use crate::clock::Clock;

/// Why waiting stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Abort {
    /// The presenter (or the controller) asked to stop.
    ByPresenter,
    /// A wait's own deadline passed: `what` was awaited.
    TimedOut(String),
    /// Anything else: the message says what.
    Failed(String),
}

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Abort::ByPresenter => write!(f, "aborted by the presenter"),
            Abort::TimedOut(what) => write!(f, "timed out waiting for {what}"),
            Abort::Failed(why) => write!(f, "{why}"),
        }
    }
}

/// The waiting side of a run.
pub(crate) struct Control {
    pub clock: Arc<dyn Clock>,
    pub snapshot: watch::Receiver<Snapshot>,
    cmds: mpsc::UnboundedReceiver<RunCommand>,
    /// The controller dropped its sender: manual steps advance on their own.
    pub cmds_closed: bool,
    /// The presenter pressed space and no manual step has taken it yet.
    pub advance: bool,
    /// The run's own deadline (clock ms).
    pub deadline: i64,
}

impl Control {
    pub fn new(clock: Arc<dyn Clock>, snapshot: watch::Receiver<Snapshot>, cmds: mpsc::UnboundedReceiver<RunCommand>) -> Self {
        Control { clock, snapshot, cmds, cmds_closed: false, advance: false, deadline: i64::MAX }
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn on_command(&mut self, c: Option<RunCommand>) -> Result<(), Abort> {
        match c {
            Some(RunCommand::Advance) => self.advance = true,
            Some(RunCommand::Abort) => return Err(Abort::ByPresenter),
            None => self.cmds_closed = true,
        }
        Ok(())
    }

    /// Waits until `ready` holds. `ready` sees the snapshot, the clock's now and whether the
    /// presenter advanced (or nobody controls the run); `wake_at` are the times at which `ready` may become true
    /// without a snapshot change (time gates). Fails at `until` (naming `what`), at the
    /// run's deadline, or when the presenter aborts.
    pub async fn wait_until(
        &mut self,
        until: Option<i64>,
        wake_at: &[i64],
        what: &str,
        ready: impl Fn(&Snapshot, i64, bool) -> bool,
    ) -> Result<(), Abort> {
        loop {
            let now = self.now();
            let advanced = self.advance || self.cmds_closed;
            let holds = {
                let snap = self.snapshot.borrow_and_update();
                ready(&snap, now, advanced)
            };
            if holds {
                return Ok(());
            }
            if until.is_some_and(|u| now >= u) {
                return Err(Abort::TimedOut(what.to_string()));
            }
            if now >= self.deadline {
                return Err(Abort::Failed(format!("the run's timeout passed while waiting for {what}")));
            }
            let next_wake = wake_at.iter().copied().filter(|t| *t > now).chain(until).chain([self.deadline]).min().unwrap_or(i64::MAX);
            let sleep = self.clock.sleep_until(next_wake);
            let cmds_open = !self.cmds_closed;
            tokio::select! {
                changed = self.snapshot.changed() => {
                    // The live task ended: nothing will change any more but time.
                    if changed.is_err() {
                        self.clock.sleep_until(next_wake).await;
                    }
                }
                c = self.cmds.recv(), if cmds_open => self.on_command(c)?,
                _ = sleep => {}
            }
        }
    }

    /// Awaits `fut` (a pod action, an engine call) while listening to the presenter: an abort
    /// drops it; an advance is kept for the next manual step.
    pub async fn call<T>(&mut self, fut: impl Future<Output = T>) -> Result<T, Abort> {
        let mut fut = std::pin::pin!(fut);
        loop {
            let cmds_open = !self.cmds_closed;
            tokio::select! {
                out = &mut fut => return Ok(out),
                c = self.cmds.recv(), if cmds_open => self.on_command(c)?,
            }
        }
    }

    /// Sleeps until the clock reads `at`, listening to the presenter.
    pub async fn sleep_until(&mut self, at: i64, what: &str) -> Result<(), Abort> {
        self.wait_until(None, &[at], what, move |_, now, _| now >= at).await
    }
}
