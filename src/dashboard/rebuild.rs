//! The workshop loop from the dashboard: rebuild the binaries from source (cargo), rebuild the
//! images (Docker runtime only), then redeploy the pod with the same version tag. Progress lines
//! go to the log panel as the pseudo-pod `build`.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::event::AppEvent;
use crate::runtime::{docker, images, LogLine, PodAction, PodRuntime};

/// Runs the whole loop; the error says which stage failed.
pub async fn rebuild_and_redeploy(
    rt: Arc<dyn PodRuntime>,
    compose_path: &Path,
    pod: &str,
    version: &str,
    events: mpsc::Sender<AppEvent>,
) -> Result<String, String> {
    let progress = move |line: &str| {
        // Dropped when the panel is flooded: the build goes on regardless.
        let _ = events.try_send(AppEvent::Log(LogLine { pod: "build".into(), at: SystemTime::now(), line: line.to_string() }));
    };
    let topology = rt.topology().clone();
    let workspace = images::workspace_dir(compose_path);
    let bins = images::locate_binaries_async(workspace, &topology, &progress)
        .await
        .map_err(|e| format!("build from source failed: {e}"))?;
    if rt.kind() == "docker" {
        let daemon = docker::connect_daemon().await.map_err(|e| e.to_string())?;
        images::build_images(&daemon, &topology, &bins, false, &progress)
            .await
            .map_err(|e| format!("image build failed: {e}"))?;
    }
    rt.act(pod, PodAction::Deploy { version: version.to_string() })
        .await
        .map_err(|e| format!("rebuilt, but the redeploy failed: {e}"))?;
    Ok(format!("{pod} rebuilt and redeployed ({version})"))
}
