//! Waiting on a condition with a deadline. Tests never sleep to synchronise: they wait for
//! what they need, and fail with what they waited for when it does not come.

use std::future::Future;
use std::time::{Duration, Instant};

/// Checks `cond` until it holds, pausing `PAUSE` between checks; panics naming `what` once
/// `deadline` has passed.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    const PAUSE: Duration = Duration::from_millis(50);
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for: {what}");
        tokio::time::sleep(PAUSE).await;
    }
}
