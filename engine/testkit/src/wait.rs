//! Waiting on a condition with a deadline. Tests never sleep to synchronise: they wait for
//! what they need, and fail with what they waited for when it does not come. Time is tokio's,
//! so the waits also work under a paused test clock.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// The pause between two checks.
const PAUSE: Duration = Duration::from_millis(10);

/// Checks `cond` until it holds; panics naming `what` once `deadline` has passed.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(what, deadline, || {
        let f = cond();
        async move { f.await.then_some(()) }
    })
    .await
}

/// Checks `check` until it yields a value, and returns it; panics naming `what` once
/// `deadline` has passed.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for: {what}");
        tokio::time::sleep(PAUSE).await;
    }
}
