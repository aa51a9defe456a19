//! The fan-out shared by both runtimes: the latest status of every pod, a broadcast of status
//! changes, and a broadcast of log lines with a bounded buffer of recent lines.
//!
//! A runtime publishes here; any number of dashboard panels, scenario steps and tests
//! subscribe. Subscribers first receive what is already known (current statuses, recent
//! logs), then live changes, so a late subscriber never starts blind. A slow subscriber that
//! falls behind skips lines instead of blocking the runtime.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::{LogLine, PodState, PodStatus, RuntimeError};

/// Recent log lines kept for late subscribers and for error messages.
const RECENT_LOGS: usize = 2_000;

pub(crate) struct Hub {
    status_tx: broadcast::Sender<PodStatus>,
    last: Mutex<BTreeMap<String, PodStatus>>,
    log_tx: broadcast::Sender<LogLine>,
    recent: Mutex<VecDeque<LogLine>>,
}

impl Hub {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Hub {
            status_tx: broadcast::channel(1_024).0,
            last: Mutex::new(BTreeMap::new()),
            log_tx: broadcast::channel(4_096).0,
            recent: Mutex::new(VecDeque::new()),
        })
    }

    /// Records a status and broadcasts it when it differs from the last one of that pod.
    pub(crate) fn publish_status(&self, status: PodStatus) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.get(&status.name) == Some(&status) {
            return;
        }
        last.insert(status.name.clone(), status.clone());
        drop(last);
        let _ = self.status_tx.send(status);
    }

    pub(crate) fn publish_log(&self, line: LogLine) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_LOGS {
            recent.pop_front();
        }
        recent.push_back(line.clone());
        drop(recent);
        let _ = self.log_tx.send(line);
    }

    pub(crate) fn snapshot(&self) -> Vec<PodStatus> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The last `n` log lines of `pod`, oldest first.
    pub(crate) fn recent_logs(&self, pod: &str, n: usize) -> Vec<String> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines: Vec<String> =
            recent.iter().rev().filter(|l| l.pod == pod).take(n).map(|l| l.line.clone()).collect();
        lines.reverse();
        lines
    }

    pub(crate) fn status_stream(&self) -> BoxStream<'static, PodStatus> {
        let rx = self.status_tx.subscribe();
        let current = self.snapshot();
        stream::iter(current)
            .chain(BroadcastStream::new(rx).filter_map(|r| async move { r.ok() }))
            .boxed()
    }

    pub(crate) fn log_stream(&self) -> BoxStream<'static, LogLine> {
        let rx = self.log_tx.subscribe();
        let recent: Vec<LogLine> =
            self.recent.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect();
        stream::iter(recent)
            .chain(BroadcastStream::new(rx).filter_map(|r| async move { r.ok() }))
            .boxed()
    }

    /// Waits until `pod` satisfies `ready`, re-reading the statuses through `refresh` on
    /// every change and at least once a second (a missed event cannot stall it). Fails early
    /// when the pod exits, quoting its last log lines.
    pub(crate) async fn wait_ready<F, Fut>(
        &self,
        pod: &str,
        timeout: Duration,
        refresh: F,
        ready: impl Fn(&PodStatus) -> bool,
    ) -> Result<(), RuntimeError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<PodStatus>, RuntimeError>>,
    {
        let mut rx = self.status_tx.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let statuses = refresh().await?;
            let status = statuses.iter().find(|s| s.name == pod);
            if let Some(s) = status {
                if ready(s) {
                    return Ok(());
                }
                if s.state == PodState::Exited {
                    return Err(RuntimeError::Other(format!(
                        "pod `{pod}` exited (code {}) while starting. Its last log lines:\n{}",
                        s.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
                        self.recent_logs(pod, 15).join("\n")
                    )));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                let last = status.map(|s| format!("{:?}/{:?}", s.state, s.health)).unwrap_or_default();
                return Err(RuntimeError::Other(format!(
                    "pod `{pod}` was not ready within {} s (last seen: {last}). Its last log lines:\n{}",
                    timeout.as_secs(),
                    self.recent_logs(pod, 15).join("\n")
                )));
            }
            let wait = Duration::from_secs(1).min(deadline - tokio::time::Instant::now());
            let _ = tokio::time::timeout(wait, rx.recv()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Health;

    fn status(state: PodState) -> PodStatus {
        PodStatus {
            name: "payment".into(),
            version: "v1-bugged".into(),
            state,
            health: Health::Unknown,
            restarts: 0,
            started_at: None,
            exit_code: None,
            image_id: None,
        }
    }

    #[tokio::test]
    async fn only_changes_are_broadcast_and_late_subscribers_get_the_snapshot() {
        let hub = Hub::new();
        let mut live = hub.status_stream();
        hub.publish_status(status(PodState::Running));
        hub.publish_status(status(PodState::Running));
        hub.publish_status(status(PodState::Paused));
        assert_eq!(live.next().await.map(|s| s.state), Some(PodState::Running));
        assert_eq!(live.next().await.map(|s| s.state), Some(PodState::Paused));
        let mut late = hub.status_stream();
        assert_eq!(late.next().await.map(|s| s.state), Some(PodState::Paused));
    }

    #[tokio::test]
    async fn recent_logs_are_bounded_and_per_pod() {
        let hub = Hub::new();
        for i in 0..(RECENT_LOGS + 10) {
            let pod = if i % 2 == 0 { "a" } else { "b" };
            hub.publish_log(LogLine { pod: pod.into(), at: std::time::SystemTime::now(), line: i.to_string() });
        }
        let last = hub.recent_logs("b", 2);
        assert_eq!(last, vec![(RECENT_LOGS + 7).to_string(), (RECENT_LOGS + 9).to_string()]);
        assert_eq!(hub.log_stream().take(RECENT_LOGS).count().await, RECENT_LOGS);
    }
}
