//! Pods: the engine, the worker and the demo services, run either as Docker containers
//! (through bollard) or as local child processes, behind one interface, [`PodRuntime`].
//!
//! Scenarios and the dashboard only ever talk to `dyn PodRuntime` (or, for what is shown on
//! screen, to its [`Describe`] half). The topology (pod names, images, environment, ports,
//! health checks) is read from `docker-compose.yml` into a [`Topology`]; nothing about it is
//! repeated in code. Nothing outside this module tells Docker and local processes apart: a
//! runtime prepares itself, rebuilds a pod, and renders the shell command equivalent to each
//! of its actions.
//!
//! Layout:
//! - `compose`: parses docker-compose.yml into a [`Topology`].
//! - `project`: the project name (and port offset) that keeps topologies apart.
//! - `lock`: one controlling Faultline per project; the holder is named to whoever asks.
//! - `docker`: the Docker runtime; every bollard call goes through one actor task.
//! - `local`: the local-process runtime (SIGKILL, SIGSTOP/SIGCONT, restart with another build).
//! - `fake`: an in-memory runtime for tests of the runner and the dashboard.
//! - `images`: builds the static binaries and the `FROM scratch` images.
//! - `hub`: the status/log fan-out both runtimes publish to.
//! - `ports`: "is this host port free, and who has it".
//! - `readonly`: a runtime that watches a project held by another Faultline.
//! - `shell`: quoting for the equivalent commands.
//! - `links`: the worker's links through the fault proxy, their faults and the proxy's API.
//! - `connect`: picks the runtime (`auto` falls back from Docker to local with a notice).

pub mod bundle;
pub mod compose;
pub mod docker;
pub mod fake;
pub mod images;
pub mod links;
pub mod local;
pub mod netem;
pub mod lock;
pub mod project;
pub mod workshop;
mod connect;
mod hub;
mod ports;
mod readonly;
mod shell;

pub use connect::{connect, describe_offline, describe_recorded, Access, Connected, RuntimeChoice};
pub use images::Progress;
pub use links::{Direction, Link, LinkFault, LinkStatus};
pub use project::{Project, DEFAULT_PROJECT, PROJECT_LABEL};

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use futures::stream::BoxStream;

/// The pod of the (transactional) workflow engine in docker-compose.yml.
pub const ENGINE_POD: &str = "engine";

/// Label carried by every container, network and volume Faultline creates.
pub const MANAGED_LABEL: &str = "dev.faultline.managed";

/// One pod of the topology, as declared in docker-compose.yml.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSpec {
    /// Compose service name: `engine`, `worker`, `payment`, ...
    pub name: String,
    /// Full image reference, e.g. `faultline/payment:v1-bugged`.
    pub image: String,
    pub environment: BTreeMap<String, String>,
    /// (host ip, host port, container port)
    pub ports: Vec<PortMapping>,
    /// Named volumes: (volume name, mount path in the container).
    pub volumes: Vec<(String, String)>,
    pub healthcheck: Option<HealthCheck>,
    pub depends_on: Vec<String>,
    pub user: Option<String>,
    pub read_only: bool,
    /// Compose `profiles`: empty for a pod that always runs; otherwise it runs only when one
    /// of them is active (the race twin's pods are in `twin`).
    pub profiles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PortMapping {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheck {
    /// The `test` array, e.g. `["CMD", "/app", "healthcheck"]`.
    pub test: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
}

/// The whole topology: pods in start order (dependencies first), the network, the volumes.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub pods: Vec<PodSpec>,
    pub network: String,
    pub volumes: Vec<String>,
    /// `x-faultline-images`: image reference -> workspace binary packed into it.
    pub images: BTreeMap<String, String>,
    /// The keys of `x-faultline-images` in file order: a pod's versions are listed in this
    /// order (the dashboard's `b` key deploys the first, `f` the second).
    pub image_order: Vec<String>,
    /// `x-faultline-twin`: the dual-write twin, when the compose file declares one.
    pub twin: Option<TwinSpec>,
}

/// The race twin of the compose file (`x-faultline-twin`): a second engine in dual-write
/// mode and its worker, in their own compose profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwinSpec {
    /// The compose profile of the twin's pods (`twin`).
    pub profile: String,
    /// The dual-write engine pod (`engine-dw`).
    pub engine: String,
    /// Put before the twin's order ids (`dw-`), so both sides' orders stay apart.
    pub order_prefix: String,
}

impl Topology {
    pub fn pod(&self, name: &str) -> Result<&PodSpec, RuntimeError> {
        self.pods.iter().find(|p| p.name == name).ok_or_else(|| RuntimeError::UnknownPod(name.into()))
    }

    /// The dual-write order the twin's engine pod starts with (its `FAULTLINE_DUAL_WRITE_ORDER`,
    /// the engine's default `after-commit` without one); `None` without a twin.
    pub fn twin_order(&self) -> Option<String> {
        let twin = self.twin.as_ref()?;
        let env = self.pods.iter().find(|p| p.name == twin.engine).and_then(|p| p.environment.get("FAULTLINE_DUAL_WRITE_ORDER"));
        Some(env.cloned().unwrap_or_else(|| "after-commit".into()))
    }

    /// `http://127.0.0.1:<host port>` of a pod's first published port.
    pub fn host_url(&self, pod: &str) -> Option<String> {
        let p = self.pods.iter().find(|p| p.name == pod)?;
        p.ports.first().map(|m| format!("http://127.0.0.1:{}", m.host_port))
    }

    /// The tags a pod can be deployed with: every `x-faultline-images` entry of its
    /// repository, in the order of the compose file.
    pub fn versions_of(&self, pod: &str) -> Vec<String> {
        let Some(p) = self.pods.iter().find(|p| p.name == pod) else { return Vec::new() };
        let (repo, _) = split_image(&p.image);
        self.image_order
            .iter()
            .filter(|i| split_image(i).0 == repo)
            .map(|i| split_image(i).1.to_string())
            .collect()
    }

    /// The images `pod` can run (every `x-faultline-images` entry of its repository), each
    /// with the workspace binary packed into it: what `R` rebuilds.
    pub fn images_of(&self, pod: &str) -> BTreeMap<String, String> {
        let Some(p) = self.pods.iter().find(|p| p.name == pod) else { return BTreeMap::new() };
        let (repo, _) = split_image(&p.image);
        self.images.iter().filter(|(i, _)| split_image(i).0 == repo).map(|(i, b)| (i.clone(), b.clone())).collect()
    }

    /// Every workspace binary `x-faultline-images` names.
    pub fn binaries(&self) -> BTreeSet<String> {
        self.images.values().cloned().collect()
    }

    /// The image reference of `pod` at `version`, if `x-faultline-images` lists it.
    pub fn image_at(&self, pod: &str, version: &str) -> Result<String, RuntimeError> {
        let p = self.pod(pod)?;
        let image = format!("{}:{version}", split_image(&p.image).0);
        if self.images.contains_key(&image) {
            Ok(image)
        } else {
            Err(RuntimeError::InvalidAction {
                pod: pod.into(),
                action: format!("deploy {version}"),
                reason: format!(
                    "there is no image {image}; the versions are: {} (see x-faultline-images)",
                    self.versions_of(pod).join(", ")
                ),
            })
        }
    }
}

/// The images (image -> binary) a rebuild of `pod` makes: an error for a pod that has none in
/// `x-faultline-images` (nothing to build from source).
pub fn images_to_rebuild(topology: &Topology, pod: &str) -> Result<BTreeMap<String, String>, RuntimeError> {
    topology.pod(pod)?;
    let images = topology.images_of(pod);
    if images.is_empty() {
        return Err(RuntimeError::InvalidAction {
            pod: pod.into(),
            action: "rebuild".into(),
            reason: "no image of it is listed in x-faultline-images, so there is nothing to build from source".into(),
        });
    }
    Ok(images)
}

/// A stage of the workshop loop ([`PodRuntime::rebuild`]), in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildStage {
    /// cargo builds the pod's binaries.
    Compile,
    /// The pod's images are packed (Docker; local processes skip it).
    Image,
    /// The pod is recreated on the new build.
    Redeploy,
    /// Waiting for the new pod to answer its health check.
    Serving,
}

impl RebuildStage {
    pub const ALL: [RebuildStage; 4] = [Self::Compile, Self::Image, Self::Redeploy, Self::Serving];

    pub fn word(self) -> &'static str {
        match self {
            Self::Compile => "compile",
            Self::Image => "image",
            Self::Redeploy => "redeploy",
            Self::Serving => "serving",
        }
    }
}

/// Hears each [`RebuildStage`] of a rebuild as it begins.
pub type StageReport<'a> = &'a (dyn Fn(RebuildStage) + Send + Sync);

/// `repo:tag` -> (`repo`, `tag`), with `latest` when there is no tag.
pub fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// What a pod is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PodState {
    /// No container/process exists.
    Missing,
    Starting,
    Running,
    Paused,
    /// Running but cut off from the network.
    Disconnected,
    Stopped,
    /// Exited on its own (crash) or was killed.
    Exited,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Unknown,
    Starting,
    Healthy,
    Unhealthy,
}

/// A snapshot of one pod, sent on every change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PodStatus {
    pub name: String,
    /// Image tag in use: `v1-bugged`, `v2-fixed`, `latest`, `dev`.
    pub version: String,
    pub state: PodState,
    pub health: Health,
    pub restarts: u32,
    pub started_at: Option<SystemTime>,
    /// Exit code of the last exit, if any.
    pub exit_code: Option<i64>,
    /// The short id of the image the container runs (Docker; `None` for local processes),
    /// so a report can say which build served each step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

/// One line of a pod's output.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub pod: String,
    pub at: SystemTime,
    pub line: String,
}

/// Every control action on a pod. Scenarios and the dashboard use exactly these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodAction {
    Start,
    /// Graceful stop (SIGTERM, then SIGKILL after a grace period).
    Stop,
    /// SIGKILL.
    Kill,
    Pause,
    Unpause,
    Restart,
    /// Replace the running pod with another image version (tag), e.g. `v2-fixed`.
    Deploy { version: String },
    Disconnect,
    Reconnect,
}

impl PodAction {
    /// The name used in scenario files and on screen: `kill`, `deploy v2-fixed`, ...
    pub fn describe(&self) -> String {
        match self {
            PodAction::Start => "start".into(),
            PodAction::Stop => "stop".into(),
            PodAction::Kill => "kill".into(),
            PodAction::Pause => "pause".into(),
            PodAction::Unpause => "unpause".into(),
            PodAction::Restart => "restart".into(),
            PodAction::Deploy { version } => format!("deploy {version}"),
            PodAction::Disconnect => "disconnect".into(),
            PodAction::Reconnect => "reconnect".into(),
        }
    }
}

/// Which runtime runs the pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    /// Containers, through the Docker daemon.
    Docker,
    /// Child processes of Faultline on 127.0.0.1.
    Local,
    /// No pods at all: [`fake::FakeRuntime`], for tests.
    InMemory,
}

impl std::fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RuntimeKind::Docker => "docker",
            RuntimeKind::Local => "local",
            RuntimeKind::InMemory => "in-memory",
        })
    }
}

/// The shell command that does what a dashboard action does, shown for teaching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EquivalentCommand {
    /// One line for `sh -c`, which really has the action's effect on the pods Faultline runs.
    Line(String),
    /// The action has no honest one-line equivalent; `reason` says why (and what comes close).
    NotOneLine { reason: String },
}

impl EquivalentCommand {
    /// The line, when there is one.
    pub fn line(&self) -> Option<&str> {
        match self {
            EquivalentCommand::Line(l) => Some(l),
            EquivalentCommand::NotOneLine { .. } => None,
        }
    }
}

impl std::fmt::Display for EquivalentCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EquivalentCommand::Line(l) => f.write_str(l),
            EquivalentCommand::NotOneLine { reason } => write!(f, "(no one-line equivalent: {reason})"),
        }
    }
}

/// Errors of a pod runtime. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("Docker is not reachable ({0}). Start the Docker daemon, or run with `--runtime local`.")]
    DockerUnavailable(String),
    #[error("unknown pod `{0}`; the pods are those of docker-compose.yml")]
    UnknownPod(String),
    #[error("unknown link `{link}`; the links are: {known} (the proxy's FAULTLINE_PROXIES in docker-compose.yml)")]
    UnknownLink { link: String, known: String },
    #[error("image {0} is missing; build it with `faultline images`")]
    ImageMissing(String),
    #[error("{action} is not possible on pod `{pod}` now: {reason}")]
    InvalidAction { pod: String, action: String, reason: String },
    #[error("docker-compose.yml: {0}")]
    Compose(String),
    /// A host port the topology publishes is taken. `addr` is exactly `127.0.0.1:7233`.
    #[error("{addr} is already in use{}; stop it, or run beside it with --project NAME --port-offset N", by.as_ref().map(|b| format!(" (by {b})")).unwrap_or_default())]
    PortInUse { addr: String, by: Option<String> },
    /// Another Faultline controls this project.
    #[error("project `{project}` is held by {holder}; use --project NAME to run another, or `faultline attach` to watch it")]
    ProjectHeld { project: String, holder: String },
    /// This runtime only watches: another Faultline controls the project.
    #[error("pods of project `{project}` are read-only here: {reason}")]
    ReadOnly { project: String, reason: String },
    #[error("invalid project: {0}")]
    Project(String),
    /// Kernel netem cannot be used here; the fault proxy's toxics still work.
    #[error("{0}; use the fault proxy's `latency` on a link instead, which works everywhere")]
    NetemUnavailable(String),
    #[error("{0}")]
    Other(String),
}

/// What a runtime says about itself without doing anything: its kind, its project and
/// topology, and the shell command equivalent to each action. Cheap and synchronous, so the
/// dashboard's pure update can call it.
pub trait Describe: Send + Sync {
    fn kind(&self) -> RuntimeKind;
    fn project(&self) -> &Project;
    fn topology(&self) -> &Topology;
    /// Whether the pods keep running after this Faultline process exits (containers do,
    /// child processes do not).
    fn pods_outlive_faultline(&self) -> bool;
    /// The command that does `action` on `pod` by hand, against the very pods this runtime runs.
    fn equivalent_command(&self, pod: &str, action: &PodAction) -> EquivalentCommand;
    /// The command that does [`PodRuntime::rebuild`] of `pod` by hand.
    fn rebuild_command(&self, pod: &str) -> EquivalentCommand;
    /// The `curl` against the fault proxy's API that puts `fault` on `link`.
    fn link_command(&self, link: &str, fault: &LinkFault) -> EquivalentCommand {
        if let LinkFault::Netem(spec) = fault {
            return self.netem_command(link, Some(spec));
        }
        match self.topology().proxy_api_url() {
            Some(api) => links::curl(&api, link, Some(fault)),
            None => EquivalentCommand::NotOneLine { reason: "docker-compose.yml has no proxy pod".into() },
        }
    }
    /// The `nsenter ... tc` line that puts netem on (or lifts it from) the pod `link` reaches.
    fn netem_command(&self, link: &str, spec: Option<&netem::NetemSpec>) -> EquivalentCommand {
        match (self.kind(), self.topology().link(link)) {
            (_, Err(e)) => EquivalentCommand::NotOneLine { reason: e.to_string() },
            (RuntimeKind::Docker, Ok(l)) => EquivalentCommand::Line(netem::command(&self.project().container_name(&l.to), spec)),
            (kind, Ok(_)) => EquivalentCommand::NotOneLine { reason: format!("netem needs the Docker runtime on Linux; this is the {kind} runtime") },
        }
    }
    /// The `curl` that lifts `fault` from `link`.
    fn heal_command(&self, link: &str, fault: &LinkFault) -> EquivalentCommand {
        if let LinkFault::Netem(_) = fault {
            return self.netem_command(link, None);
        }
        match self.topology().proxy_api_url() {
            Some(api) => links::curl_heal(&api, link, fault),
            None => EquivalentCommand::NotOneLine { reason: "docker-compose.yml has no proxy pod".into() },
        }
    }
}

impl std::fmt::Debug for dyn Describe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} runtime (project {})", self.kind(), self.project().name())
    }
}

/// The one interface to pods, implemented by the Docker and the local-process runtime.
#[async_trait::async_trait]
pub trait PodRuntime: Describe {
    /// Base URL of the engine's HTTP API as reachable from this process.
    fn engine_url(&self) -> String {
        self.topology().host_url(ENGINE_POD).unwrap_or_else(|| "http://127.0.0.1:7233".into())
    }
    /// Gets what the pods run ready: Docker builds the binaries and the images that are
    /// missing or out of date; local processes locate (or build) the binaries.
    /// Base URL of the dual-write twin's engine, when the topology runs it (a scenario with
    /// `[setup] twin = true` activates its compose profile).
    fn twin_engine_url(&self) -> Option<String> {
        let twin = self.topology().twin.as_ref()?;
        self.topology().host_url(&twin.engine)
    }
    async fn prepare(&self, progress: Progress<'_>) -> Result<(), RuntimeError>;
    /// Brings the whole topology up (network, volumes, pods in dependency order) and waits
    /// until every pod with a health check is healthy. A pod whose container runs another
    /// image than its tag now names is recreated.
    async fn up(&self) -> Result<(), RuntimeError>;
    /// Removes everything this runtime's project created (containers/processes; with
    /// `volumes`, data too), nothing of another project.
    async fn down(&self, volumes: bool) -> Result<(), RuntimeError>;
    async fn act(&self, pod: &str, action: PodAction) -> Result<(), RuntimeError>;
    /// The workshop loop: builds `pod`'s binaries from source (and, for Docker, its images:
    /// only those), redeploys it at the version it runs now and waits until it serves.
    /// `stage` hears each [`RebuildStage`] as it begins. Returns a one-line summary.
    async fn rebuild(&self, pod: &str, progress: Progress<'_>, stage: StageReport<'_>) -> Result<String, RuntimeError>;
    async fn status(&self) -> Result<Vec<PodStatus>, RuntimeError>;
    /// Live stream of pod status changes (a snapshot per change).
    fn status_stream(&self) -> BoxStream<'static, PodStatus>;
    /// Live stream of the merged logs of all pods (recent lines first, then new ones).
    fn log_stream(&self) -> BoxStream<'static, LogLine>;
    /// Puts `fault` on `link` (through the fault proxy's API, on either runtime).
    /// Kernel netem goes on the interface of the pod the link reaches instead.
    async fn link_fault(&self, link: &str, fault: LinkFault) -> Result<(), RuntimeError> {
        let l = self.topology().link(link)?;
        if let LinkFault::Netem(spec) = &fault {
            return self.netem(&l.to, Some(spec)).await;
        }
        links::ProxyApi::of(self.topology())?.apply(link, &fault).await
    }
    /// Lifts the faults of `kind` (`latency`, `partition`, ...; all the proxy's with `None`)
    /// from `link`; `netem` lifts the kernel netem of the pod the link reaches.
    async fn heal_link(&self, link: &str, kind: Option<&str>) -> Result<(), RuntimeError> {
        let l = self.topology().link(link)?;
        if kind == Some("netem") {
            return self.netem(&l.to, None).await;
        }
        links::ProxyApi::of(self.topology())?.heal(link, kind).await
    }
    /// Puts kernel netem on `pod`'s network interface (`None`: lifts it). Only where each
    /// pod has its own network namespace (Docker on Linux, as root, with `sch_netem`).
    async fn netem(&self, pod: &str, spec: Option<&netem::NetemSpec>) -> Result<(), RuntimeError> {
        let _ = (pod, spec);
        Err(RuntimeError::NetemUnavailable(format!("netem needs pods with their own network namespace, which the {} runtime does not give", self.kind())))
    }
    /// Every link with its active faults, as the proxy reports them.
    async fn link_status(&self) -> Result<Vec<LinkStatus>, RuntimeError> {
        links::ProxyApi::of(self.topology())?.status().await
    }
}

/// What both runtimes are set up from: the topology (moved by the project's port offset),
/// the project, the workspace that builds the binaries, and the compose file.
#[derive(Debug, Clone)]
pub struct RuntimeSetup {
    pub topology: std::sync::Arc<Topology>,
    pub project: Project,
    /// Where `cargo build` runs (the directory of the compose file in a checkout).
    pub workspace: std::path::PathBuf,
    pub compose_path: std::path::PathBuf,
}
