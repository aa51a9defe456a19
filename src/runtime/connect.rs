//! Choosing a runtime: Docker when asked or reachable, local processes otherwise; taking the
//! project's lock (or watching read-only when another Faultline holds it).

use std::path::Path;
use std::sync::Arc;

use super::docker::DockerRuntime;
use super::local::LocalRuntime;
use super::readonly::ReadOnly;
use super::{
    compose, docker, fake, images, local, lock, Describe, EquivalentCommand, PodAction, PodRuntime, Project, RuntimeError,
    RuntimeKind, RuntimeSetup, Topology,
};

/// Where pods run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// Docker when the daemon answers, local processes otherwise (with a notice).
    Auto,
    Docker,
    Local,
}

/// What the caller means to do with the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Control them (dashboard, runner, `down`): takes the project's lock, and fails with
    /// [`RuntimeError::ProjectHeld`] when another Faultline holds it.
    Control,
    /// Watch them (`attach`): controls when the project is free, and when it is held,
    /// watches read-only (every action refused, naming the holder).
    Watch,
}

/// A connected runtime, and a notice for the user (fell back to local processes, took over
/// a stale lock, watching read-only).
pub struct Connected {
    pub runtime: Box<dyn PodRuntime>,
    pub notice: Option<String>,
}

/// Reads the compose file, takes the project and connects the chosen runtime. Local data
/// goes to `.faultline/local/` beside the compose file (`.faultline/local-<project>/` for
/// another project).
pub async fn connect(
    choice: RuntimeChoice,
    compose_path: &Path,
    project: &Project,
    access: Access,
) -> Result<Connected, RuntimeError> {
    let setup = RuntimeSetup::load(compose_path, project)?;
    let (lock, mut notices, read_only) = match lock::acquire(project.name()) {
        Ok((lock, notice)) => (Some(lock), notice.into_iter().collect::<Vec<_>>(), None),
        Err(e @ RuntimeError::ProjectHeld { .. }) if access == Access::Watch => {
            let why = e.to_string();
            (None, vec![format!("{why}: watching read-only")], Some(why))
        }
        Err(e) => return Err(e),
    };
    let data = |s: &RuntimeSetup| {
        let dir = if project.name() == super::DEFAULT_PROJECT { "local".to_string() } else { format!("local-{}", project.name()) };
        s.workspace.join(".faultline").join(dir)
    };
    let local = |s: RuntimeSetup, lock| {
        let d = data(&s);
        Box::new(LocalRuntime::new(s, d).with_lock(lock)) as Box<dyn PodRuntime>
    };
    let runtime: Box<dyn PodRuntime> = match choice {
        RuntimeChoice::Local => local(setup, lock),
        RuntimeChoice::Docker => Box::new(DockerRuntime::connect(setup, lock).await?),
        RuntimeChoice::Auto => match docker::connect_daemon().await {
            Ok(_) => Box::new(DockerRuntime::connect(setup, lock).await?),
            Err(RuntimeError::DockerUnavailable(why)) => {
                notices.insert(0, format!("Docker not reachable ({why}): running pods as local processes"));
                local(setup, lock)
            }
            Err(e) => return Err(e),
        },
    };
    let runtime = match read_only {
        Some(why) => Box::new(ReadOnly::new(runtime, why)) as Box<dyn PodRuntime>,
        None => runtime,
    };
    let notice = if notices.is_empty() { None } else { Some(notices.join("; ")) };
    Ok(Connected { runtime, notice })
}

impl RuntimeSetup {
    /// The compose file's topology moved by the project's port offset.
    pub fn load(compose_path: &Path, project: &Project) -> Result<Self, RuntimeError> {
        let topology = project.apply(compose::load(compose_path)?)?;
        Ok(RuntimeSetup {
            topology: Arc::new(topology),
            project: project.clone(),
            workspace: images::workspace_dir(compose_path),
            compose_path: std::fs::canonicalize(compose_path).unwrap_or_else(|_| compose_path.to_path_buf()),
        })
    }
}

/// What a runtime of `kind` would say about itself, without connecting to anything (the
/// commands name the pods as not yet known: no pid, the compose versions). For previews and
/// tests of what is shown on screen.
pub fn describe_offline(compose_path: &Path, project: &Project, kind: RuntimeKind) -> Result<Arc<dyn Describe>, RuntimeError> {
    Ok(Arc::new(Offline { kind, setup: RuntimeSetup::load(compose_path, project)? }))
}

/// What a recorded session's runtime said about itself (`faultline replay`): the topology
/// from the compose text kept in the recording, connected to nothing.
pub fn describe_recorded(compose_text: &str, compose_path: &Path, project: &Project, kind: RuntimeKind) -> Result<Arc<dyn Describe>, RuntimeError> {
    let topology = project.apply(compose::parse(compose_text, &compose_path.display().to_string())?)?;
    let setup = RuntimeSetup {
        topology: Arc::new(topology),
        project: project.clone(),
        workspace: images::workspace_dir(compose_path),
        compose_path: compose_path.to_path_buf(),
    };
    Ok(Arc::new(Offline { kind, setup }))
}

struct Offline {
    kind: RuntimeKind,
    setup: RuntimeSetup,
}

impl Describe for Offline {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }
    fn project(&self) -> &Project {
        &self.setup.project
    }
    fn topology(&self) -> &Topology {
        &self.setup.topology
    }
    fn pods_outlive_faultline(&self) -> bool {
        self.kind == RuntimeKind::Docker
    }
    fn equivalent_command(&self, pod: &str, action: &PodAction) -> EquivalentCommand {
        match self.kind {
            RuntimeKind::Docker => docker::commands::render(&self.setup, pod, action, None),
            RuntimeKind::Local => local::commands::render(&self.setup, pod, action, None),
            RuntimeKind::InMemory => fake::no_command(),
        }
    }
    fn rebuild_command(&self, pod: &str) -> EquivalentCommand {
        match self.kind {
            RuntimeKind::Docker => docker::commands::rebuild(&self.setup, pod, None),
            RuntimeKind::Local => local::commands::rebuild(&self.setup, pod),
            RuntimeKind::InMemory => fake::no_command(),
        }
    }
}
