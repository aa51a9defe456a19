//! The Docker runtime: pods as containers, through bollard.
//!
//! Layout:
//! - this file: [`DockerRuntime`] (the [`PodRuntime`] face: sends requests, waits for health)
//!   and [`connect_daemon`] (API version negotiation, a clear error when the daemon is away);
//! - `actor`: the single task that owns the bollard client and performs every call;
//! - `spec`: pure PodSpec -> container config and inspection -> PodStatus translation;
//! - `commands`: the equivalent `docker` command lines (pure).
//!
//! Names come from the [`Project`](crate::runtime::Project): containers `<project>-<pod>`,
//! the network `<project>`, volumes `<project>-<volume>`; everything carries
//! `dev.faultline.managed=true` and `dev.faultline.project=<project>`.

mod actor;
pub mod commands;
pub mod spec;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, oneshot};

use actor::Request;

use super::hub::Hub;
use super::lock::ProjectLock;
use super::{
    images, Describe, EquivalentCommand, Health, LogLine, PodAction, PodRuntime, PodState, PodStatus, Progress, Project,
    RebuildStage, RuntimeError, RuntimeKind, RuntimeSetup, StageReport, Topology,
};

/// Connects to the local daemon (DOCKER_HOST or the default socket), negotiates the API
/// version down to the daemon's, and checks it answers.
pub async fn connect_daemon() -> Result<Docker, RuntimeError> {
    let unavailable = |e: String| RuntimeError::DockerUnavailable(e);
    let docker = Docker::connect_with_defaults().map_err(|e| unavailable(e.to_string()))?;
    let docker = tokio::time::timeout(Duration::from_secs(5), docker.negotiate_version())
        .await
        .map_err(|_| unavailable("the daemon did not answer within 5 s".into()))?
        .map_err(|e| unavailable(e.to_string()))?;
    tokio::time::timeout(Duration::from_secs(5), docker.ping())
        .await
        .map_err(|_| unavailable("the daemon did not answer within 5 s".into()))?
        .map_err(|e| unavailable(e.to_string()))?;
    Ok(docker)
}

pub struct DockerRuntime {
    setup: RuntimeSetup,
    tx: mpsc::Sender<Request>,
    hub: Arc<Hub>,
    /// Held for the runtime's life: this process controls the project.
    _lock: Option<ProjectLock>,
}

impl DockerRuntime {
    /// Connects to the daemon and starts the actor. Does not touch any container yet.
    /// `lock`: the project's lock, held as long as the runtime lives.
    pub async fn connect(setup: RuntimeSetup, lock: Option<ProjectLock>) -> Result<Self, RuntimeError> {
        let docker = connect_daemon().await?;
        let hub = Hub::new();
        let tx = actor::spawn(docker, setup.topology.clone(), setup.project.clone(), hub.clone());
        let rt = DockerRuntime { setup, tx, hub, _lock: lock };
        // Publish the initial statuses so status_stream starts with a full picture.
        rt.status().await?;
        Ok(rt)
    }

    async fn call<T>(&self, make: impl FnOnce(actor::Reply<T>) -> Request) -> Result<T, RuntimeError> {
        let (reply, rx) = oneshot::channel();
        let gone = || RuntimeError::Other("the Docker actor stopped; restart faultline".into());
        self.tx.send(make(reply)).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// How long a pod may take to become healthy: its whole health-check budget plus margin.
    fn ready_timeout(&self, pod: &str) -> Duration {
        let budget = self
            .setup
            .topology
            .pod(pod)
            .ok()
            .and_then(|p| p.healthcheck.as_ref())
            .map(|h| h.interval_ms.saturating_mul(u64::from(h.retries)))
            .unwrap_or(0);
        Duration::from_millis(budget.max(20_000) + 10_000)
    }

    async fn wait_ready(&self, pod: &str) -> Result<(), RuntimeError> {
        let has_health = self.setup.topology.pod(pod)?.healthcheck.is_some();
        self.hub
            .wait_ready(pod, self.ready_timeout(pod), || self.status(), |s| {
                s.state == PodState::Running && (!has_health || s.health == Health::Healthy)
            })
            .await
    }

    fn current(&self, pod: &str) -> Option<PodStatus> {
        self.hub.snapshot().into_iter().find(|s| s.name == pod)
    }

    /// `--no-build`: every image must be there already (built or loaded); nothing is built.
    async fn check_images(&self, progress: Progress<'_>) -> Result<(), RuntimeError> {
        let docker = connect_daemon().await?;
        let missing = images::missing_images(&docker, self.setup.topology.images.keys()).await;
        if !missing.is_empty() {
            return Err(RuntimeError::Other(format!(
                "images missing: {} (--no-build / {} uses the images as they are); load them with `faultline images --load FILE`, or drop --no-build to build them",
                missing.join(", "),
                images::NO_BUILD_ENV
            )));
        }
        progress(&format!("using the {} images as they are (--no-build): nothing built", self.setup.topology.images.len()));
        Ok(())
    }

    /// The binaries (cargo) of `images` (image -> binary), then those of the images that are
    /// missing or out of date. `stage` hears when the images begin.
    async fn build(&self, images: &BTreeMap<String, String>, progress: Progress<'_>, stage: StageReport<'_>) -> Result<(), RuntimeError> {
        let names = images.values().cloned().collect();
        let bins = images::locate_binaries_async(self.setup.workspace.clone(), names, true, progress).await?;
        stage(RebuildStage::Image);
        let docker = connect_daemon().await?;
        images::build_images(&docker, images, &bins, false, progress).await?;
        Ok(())
    }
}

impl Describe for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Docker
    }

    fn project(&self) -> &Project {
        &self.setup.project
    }

    fn topology(&self) -> &Topology {
        &self.setup.topology
    }

    fn pods_outlive_faultline(&self) -> bool {
        true
    }

    fn equivalent_command(&self, pod: &str, action: &PodAction) -> EquivalentCommand {
        commands::render(&self.setup, pod, action, self.current(pod).as_ref())
    }

    fn rebuild_command(&self, pod: &str) -> EquivalentCommand {
        commands::rebuild(&self.setup, pod, self.current(pod).as_ref())
    }
}

#[async_trait::async_trait]
impl PodRuntime for DockerRuntime {
    async fn prepare(&self, progress: Progress<'_>) -> Result<(), RuntimeError> {
        if images::no_build() {
            return self.check_images(progress).await;
        }
        self.build(&self.setup.topology.images, progress, &|_| {}).await
    }

    async fn up(&self) -> Result<(), RuntimeError> {
        self.call(|reply| Request::Prepare { images: true, reply }).await?;
        for pod in &self.setup.topology.pods {
            for dep in &pod.depends_on {
                self.wait_ready(dep).await?;
            }
            self.call(|reply| Request::EnsurePod { pod: pod.name.clone(), reply }).await?;
        }
        for pod in &self.setup.topology.pods {
            self.wait_ready(&pod.name).await?;
        }
        Ok(())
    }

    async fn down(&self, volumes: bool) -> Result<(), RuntimeError> {
        self.call(|reply| Request::Down { volumes, reply }).await
    }

    async fn act(&self, pod: &str, action: PodAction) -> Result<(), RuntimeError> {
        self.setup.topology.pod(pod)?;
        self.call(|reply| Request::Act { pod: pod.to_string(), action, reply }).await
    }

    async fn rebuild(&self, pod: &str, progress: Progress<'_>, stage: StageReport<'_>) -> Result<String, RuntimeError> {
        let spec = self.setup.topology.pod(pod)?;
        let version = self
            .current(pod)
            .filter(|s| s.state != PodState::Missing)
            .map(|s| s.version)
            .unwrap_or_else(|| super::split_image(&spec.image).1.to_string());
        // Only this pod's binaries and images: the rest of the topology did not change.
        let images = super::images_to_rebuild(&self.setup.topology, pod)?;
        stage(RebuildStage::Compile);
        self.build(&images, progress, stage).await?;
        stage(RebuildStage::Redeploy);
        progress(&format!("redeploying {pod} ({version}) on the rebuilt image"));
        // The network and volumes, for a pod rebuilt before the topology was ever up (only
        // this pod's image is needed, and the deploy checks it).
        self.call(|reply| Request::Prepare { images: false, reply }).await?;
        self.act(pod, PodAction::Deploy { version: version.clone() }).await?;
        stage(RebuildStage::Serving);
        self.wait_ready(pod).await?;
        Ok(format!("{pod} rebuilt and redeployed ({version})"))
    }

    async fn status(&self) -> Result<Vec<PodStatus>, RuntimeError> {
        self.call(|reply| Request::Status { reply }).await
    }

    fn status_stream(&self) -> BoxStream<'static, PodStatus> {
        self.hub.status_stream()
    }

    fn log_stream(&self) -> BoxStream<'static, LogLine> {
        self.hub.log_stream()
    }

    async fn netem(&self, pod: &str, spec: Option<&super::netem::NetemSpec>) -> Result<(), RuntimeError> {
        self.setup.topology.pod(pod)?;
        // Where the kernel lacks netem, say so before asking Docker anything.
        if let super::netem::NetemSupport::Unavailable(why) = super::netem::probe().await {
            return Err(RuntimeError::NetemUnavailable(why.clone()));
        }
        match (self.call(|reply| Request::Netns { pod: pod.to_string(), reply }).await?, spec) {
            (Some(netns), spec) => super::netem::apply(&netns, spec).await,
            // A pod that is not running took its namespace, and the qdisc on it, along.
            (None, None) => Ok(()),
            (None, Some(_)) => Err(RuntimeError::InvalidAction { pod: pod.into(), action: "netem".into(), reason: "it is not running; start it first".into() }),
        }
    }
}
