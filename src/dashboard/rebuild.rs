//! The workshop loop from the dashboard (`R`): the runtime rebuilds the pod's binaries from
//! source (and, for Docker, its images), redeploys it at its current version and waits until
//! it serves. Build lines go to the log panel as the pseudo-pod `build`; each stage, as it
//! begins, goes to the app, which shows the stages with their times in the footer.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::event::AppEvent;
use crate::runtime::{LogLine, PodRuntime, RebuildStage};

/// The rebuild on screen: which pod, when each stage began, how it ended. Pure state, fed
/// by [`AppEvent::RebuildStage`] and the action's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct RebuildView {
    /// The id of the `R` action (its notice).
    pub id: u64,
    pub pod: String,
    pub started_ms: i64,
    /// Each stage begun, with when.
    pub stages: Vec<(RebuildStage, i64)>,
    /// When it ended, and whether it succeeded.
    pub finished: Option<(i64, bool)>,
}

impl RebuildView {
    pub fn new(id: u64, pod: String, now_ms: i64) -> RebuildView {
        RebuildView { id, pod, started_ms: now_ms, stages: Vec::new(), finished: None }
    }

    pub fn begin(&mut self, stage: RebuildStage, now_ms: i64) {
        if self.finished.is_none() && !self.stages.iter().any(|(s, _)| *s == stage) {
            self.stages.push((stage, now_ms));
        }
    }

    pub fn finish(&mut self, ok: bool, now_ms: i64) {
        self.finished.get_or_insert((now_ms, ok));
    }

    /// Each stage begun with how long it took (the last one: so far, or until the end).
    pub fn durations(&self, now_ms: i64) -> Vec<(RebuildStage, i64)> {
        let end = self.finished.map(|(t, _)| t).unwrap_or(now_ms);
        self.stages
            .iter()
            .enumerate()
            .map(|(i, (stage, at))| {
                let until = self.stages.get(i + 1).map(|(_, t)| *t).unwrap_or(end);
                (*stage, (until - at).max(0))
            })
            .collect()
    }

    /// From the key press to the end (or to now).
    pub fn elapsed_ms(&self, now_ms: i64) -> i64 {
        (self.finished.map(|(t, _)| t).unwrap_or(now_ms) - self.started_ms).max(0)
    }
}

/// Runs the whole loop for action `id`; the error says which stage failed.
pub async fn rebuild_and_redeploy(rt: Arc<dyn PodRuntime>, id: u64, pod: &str, events: mpsc::Sender<AppEvent>) -> Result<String, String> {
    let lines = events.clone();
    let progress = move |line: &str| {
        // Dropped when the panel is flooded: the build goes on regardless.
        let _ = lines.try_send(AppEvent::Log(LogLine { pod: "build".into(), at: SystemTime::now(), line: line.to_string() }));
    };
    // A stage is rare and must not be lost to a flood of build lines: it waits for room,
    // in order, on a task of its own so that the build never does.
    let (stages, mut pending) = mpsc::unbounded_channel::<RebuildStage>();
    let forward = tokio::spawn(async move {
        while let Some(stage) = pending.recv().await {
            if events.send(AppEvent::RebuildStage { id, stage }).await.is_err() {
                break;
            }
        }
    });
    let stage = move |stage: RebuildStage| {
        let _ = stages.send(stage);
    };
    let result = rt.rebuild(pod, &progress, &stage).await.map_err(|e| format!("rebuild of {pod} failed: {e}"));
    drop(stage);
    // Every stage reaches the app before the outcome does.
    let _ = forward.await;
    result
}
