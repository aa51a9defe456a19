//! The Docker runtime: pods as containers, through bollard.
//!
//! Layout:
//! - this file: [`DockerRuntime`] (the [`PodRuntime`] face: sends requests, waits for health)
//!   and [`connect_daemon`] (API version negotiation, a clear error when the daemon is away);
//! - `actor`: the single task that owns the bollard client and performs every call;
//! - `spec`: pure PodSpec -> container config and inspection -> PodStatus translation.
//!
//! Names: containers `faultline-<pod>`, network and volumes `faultline-<compose name>` (the
//! network `faultline` keeps its name); everything carries `dev.faultline.managed=true`.

mod actor;
pub mod spec;

use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use futures::stream::BoxStream;
use tokio::sync::{mpsc, oneshot};

use actor::Request;

use super::hub::Hub;
use super::{Health, LogLine, PodAction, PodRuntime, PodState, PodStatus, RuntimeError, Topology};

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
    topology: Arc<Topology>,
    tx: mpsc::Sender<Request>,
    hub: Arc<Hub>,
}

impl DockerRuntime {
    /// Connects to the daemon and starts the actor. Does not touch any container yet.
    pub async fn connect(topology: Topology) -> Result<Self, RuntimeError> {
        let docker = connect_daemon().await?;
        let topology = Arc::new(topology);
        let hub = Hub::new();
        let tx = actor::spawn(docker, topology.clone(), hub.clone());
        let rt = DockerRuntime { topology, tx, hub };
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
            .topology
            .pod(pod)
            .ok()
            .and_then(|p| p.healthcheck.as_ref())
            .map(|h| h.interval_ms.saturating_mul(u64::from(h.retries)))
            .unwrap_or(0);
        Duration::from_millis(budget.max(20_000) + 10_000)
    }

    async fn wait_ready(&self, pod: &str) -> Result<(), RuntimeError> {
        let has_health = self.topology.pod(pod)?.healthcheck.is_some();
        self.hub
            .wait_ready(pod, self.ready_timeout(pod), || self.status(), |s| {
                s.state == PodState::Running && (!has_health || s.health == Health::Healthy)
            })
            .await
    }
}

#[async_trait::async_trait]
impl PodRuntime for DockerRuntime {
    fn kind(&self) -> &'static str {
        "docker"
    }

    fn topology(&self) -> &Topology {
        &self.topology
    }

    fn engine_url(&self) -> String {
        self.topology.host_url("engine").unwrap_or_else(|| "http://127.0.0.1:7233".into())
    }

    async fn up(&self) -> Result<(), RuntimeError> {
        self.call(|reply| Request::Prepare { reply }).await?;
        for pod in &self.topology.pods {
            for dep in &pod.depends_on {
                self.wait_ready(dep).await?;
            }
            self.call(|reply| Request::EnsurePod { pod: pod.name.clone(), reply }).await?;
        }
        for pod in &self.topology.pods {
            self.wait_ready(&pod.name).await?;
        }
        Ok(())
    }

    async fn down(&self, volumes: bool) -> Result<(), RuntimeError> {
        self.call(|reply| Request::Down { volumes, reply }).await
    }

    async fn act(&self, pod: &str, action: PodAction) -> Result<(), RuntimeError> {
        self.topology.pod(pod)?;
        self.call(|reply| Request::Act { pod: pod.to_string(), action, reply }).await
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
}
