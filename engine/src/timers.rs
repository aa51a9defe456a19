//! The timer service: one task that sleeps until the earliest due timer row and fires the due
//! ones through the writer (each firing is a committed transition). Its only memory is "when is
//! the next one due", re-read from the store after every round, so a restart re-arms everything.

use std::time::Duration;

use crate::engine::Engine;
use crate::processor::{Request, Response};

/// How many timers one writer request fires (the rest follow in the next round).
const FIRE_BATCH: usize = 256;
/// Upper bound on one sleep, as a safety net against a missed wake-up.
const MAX_SLEEP_MS: i64 = 5_000;

pub fn spawn(engine: Engine) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(engine))
}

async fn run(engine: Engine) {
    let mut shutdown = engine.shutdown_signal();
    loop {
        if *shutdown.borrow() {
            return;
        }
        // Until the next sleep is planned, any newly armed timer must wake this loop.
        engine.notifier().set_timer_wake_at(i64::MAX);
        let next_at = match engine.exec(Request::FireTimers { limit: FIRE_BATCH }).await {
            Ok(Response::Fired { fired, next_at }) if fired < FIRE_BATCH => next_at,
            Ok(_) => continue, // a full batch: more may be due right now
            Err(e) => {
                tracing::warn!(error = %e, "firing timers failed; retrying shortly");
                Some(engine.now() + 500)
            }
        };
        let wait_ms = next_at.map_or(MAX_SLEEP_MS, |t| (t - engine.now()).clamp(0, MAX_SLEEP_MS));
        if wait_ms == 0 {
            continue;
        }
        engine.notifier().set_timer_wake_at(engine.now() + wait_ms);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            _ = engine.notifier().timers.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}
