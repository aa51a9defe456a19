//! The workshop loop from the dashboard (`R`): the runtime rebuilds the binaries from source
//! (and, for Docker, the images) and redeploys the pod at its current version. Progress
//! lines go to the log panel as the pseudo-pod `build`.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::event::AppEvent;
use crate::runtime::{LogLine, PodRuntime};

/// Runs the whole loop; the error says which stage failed.
pub async fn rebuild_and_redeploy(rt: Arc<dyn PodRuntime>, pod: &str, events: mpsc::Sender<AppEvent>) -> Result<String, String> {
    let progress = move |line: &str| {
        // Dropped when the panel is flooded: the build goes on regardless.
        let _ = events.try_send(AppEvent::Log(LogLine { pod: "build".into(), at: SystemTime::now(), line: line.to_string() }));
    };
    rt.rebuild(pod, &progress).await.map_err(|e| format!("rebuild of {pod} failed: {e}"))
}
