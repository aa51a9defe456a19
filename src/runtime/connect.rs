//! Choosing a runtime: Docker when asked or reachable, local processes otherwise.

use std::path::{Path, PathBuf};

use super::docker::DockerRuntime;
use super::local::LocalRuntime;
use super::{compose, images, PodRuntime, RuntimeError};

/// Where pods run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// Docker when the daemon answers, local processes otherwise (with a notice).
    Auto,
    Docker,
    Local,
}

/// A connected runtime, and a notice for the user when Faultline fell back to local processes.
pub struct Connected {
    pub runtime: Box<dyn PodRuntime>,
    pub notice: Option<String>,
}

/// Reads the compose file and connects the chosen runtime. Local data goes to
/// `.faultline/local/` beside the compose file.
pub async fn connect(choice: RuntimeChoice, compose_path: &Path) -> Result<Connected, RuntimeError> {
    let topology = compose::load(compose_path)?;
    let workspace = images::workspace_dir(compose_path);
    let local = |workspace: PathBuf| {
        let data = workspace.join(".faultline").join("local");
        Box::new(LocalRuntime::new(topology.clone(), workspace, data)) as Box<dyn PodRuntime>
    };
    match choice {
        RuntimeChoice::Local => Ok(Connected { runtime: local(workspace), notice: None }),
        RuntimeChoice::Docker => {
            Ok(Connected { runtime: Box::new(DockerRuntime::connect(topology.clone()).await?), notice: None })
        }
        RuntimeChoice::Auto => match DockerRuntime::connect(topology.clone()).await {
            Ok(rt) => Ok(Connected { runtime: Box::new(rt), notice: None }),
            Err(RuntimeError::DockerUnavailable(why)) => Ok(Connected {
                runtime: local(workspace),
                notice: Some(format!("Docker not reachable ({why}): running pods as local processes")),
            }),
            Err(e) => Err(e),
        },
    }
}
