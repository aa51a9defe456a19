//! Time, injected: state never reads the system clock itself, so countdowns, ages, gates and
//! timeouts behave the same in tests (with [`ManualClock`], moved by the test) and live (with
//! [`SystemClock`]). Both the dashboard and the scenario runner take a `dyn Clock`.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::watch;

/// A source of "now" in milliseconds since the Unix epoch, and of sleeps against it.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
    /// Resolves once `now_ms() >= at_ms`.
    fn sleep_until(&self, at_ms: i64) -> BoxFuture<'static, ()>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }

    fn sleep_until(&self, at_ms: i64) -> BoxFuture<'static, ()> {
        let wait = at_ms.saturating_sub(self.now_ms()).max(0) as u64;
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(wait)))
    }
}

/// Tokio's clock, as epoch milliseconds: the wall clock in production; under tokio's paused
/// time (`#[tokio::test(start_paused = true)]`) it moves only when the test advances it or the
/// runtime has nothing left to do but wait, which makes tests of time-driven code exact and
/// instant.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    base_ms: i64,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `base_ms` now.
    pub fn new(base_ms: i64) -> Self {
        TokioClock { base_ms, start: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.base_ms.saturating_add(self.start.elapsed().as_millis() as i64)
    }

    fn sleep_until(&self, at_ms: i64) -> BoxFuture<'static, ()> {
        let wait = std::time::Duration::from_millis(at_ms.saturating_sub(self.base_ms).max(0) as u64);
        match self.start.checked_add(wait) {
            Some(deadline) => Box::pin(tokio::time::sleep_until(deadline)),
            // Beyond what an Instant can hold: never, for any test or run.
            None => Box::pin(std::future::pending()),
        }
    }
}

/// A clock that only moves when told to. Cloning shares the same time; sleepers wake when a
/// move reaches their deadline.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<watch::Sender<i64>>);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new(0)
    }
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self(Arc::new(watch::Sender::new(start_ms)))
    }
    pub fn advance(&self, ms: i64) {
        self.0.send_modify(|t| *t += ms);
    }
    pub fn set(&self, ms: i64) {
        self.0.send_replace(ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.0.borrow()
    }

    fn sleep_until(&self, at_ms: i64) -> BoxFuture<'static, ()> {
        let mut rx = self.0.subscribe();
        Box::pin(async move {
            // The sender lives as long as any clone of the clock; if all are gone, time stops.
            if rx.wait_for(|t| *t >= at_ms).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_sleep_wakes_when_time_reaches_it() {
        let clock = ManualClock::new(1_000);
        let sleep = clock.sleep_until(1_500);
        let handle = tokio::spawn(sleep);
        clock.advance(499);
        tokio::task::yield_now().await;
        assert!(!handle.is_finished());
        clock.advance(1);
        tokio::time::timeout(std::time::Duration::from_secs(5), handle).await.expect("woke").expect("joined");
        assert_eq!(clock.now_ms(), 1_500);
    }
}
