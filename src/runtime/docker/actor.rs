//! The one task that owns the bollard client. Every Docker call of the runtime is a
//! [`Request`] sent here and answered on a oneshot channel, so calls never interleave in
//! surprising ways (a deploy's remove-then-create cannot race a start) and the bookkeeping
//! (intents, restart counts, log followers) lives in one place without locks.
//!
//! Two helper tasks feed it: the event watcher (docker events filtered by the managed label)
//! asks for a refresh on every container or network event, coalesced so that a burst of
//! events costs one round of inspections; and one log follower per running container
//! forwards lines to the [`Hub`]. Both use clones of the actor's client and only read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bollard::models::{EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, VolumeCreateRequest};
use bollard::query_parameters as q;
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::spec::{self, Intent, POD_LABEL};
use crate::runtime::hub::Hub;
use crate::runtime::{ports, LogLine, PodAction, PodStatus, Project, RuntimeError, Topology};

pub(super) type Reply<T> = oneshot::Sender<Result<T, RuntimeError>>;

pub(super) enum Request {
    /// Network and volumes exist; with `images`, every image of the topology is present
    /// (a rebuild checks only its own pod's, at the deploy).
    Prepare { images: bool, reply: Reply<()> },
    /// The pod's container exists (created if missing) and is started.
    EnsurePod { pod: String, reply: Reply<()> },
    Act { pod: String, action: PodAction, reply: Reply<()> },
    Status { reply: Reply<Vec<PodStatus>> },
    /// The network namespace (Docker's sandbox key) of the pod's running container, or
    /// `None` when it is not running.
    Netns { pod: String, reply: Reply<Option<String>> },
    /// Sent by the event watcher: re-inspect every pod.
    Refresh,
    Down { volumes: bool, reply: Reply<()> },
}

/// Graceful stop grace period, in seconds.
pub(super) const STOP_GRACE_S: i32 = 5;

pub(super) struct Actor {
    docker: Docker,
    topology: Arc<Topology>,
    project: Project,
    hub: Arc<Hub>,
    intents: HashMap<String, Intent>,
    /// Per pod: the last `started_at` seen and how many different starts followed the first.
    starts: HashMap<String, (Option<String>, u32)>,
    followers: HashMap<String, (String, JoinHandle<()>)>,
    /// Timestamp of the last log line forwarded per pod, so a re-attached follower
    /// does not repeat lines.
    log_marks: Arc<Mutex<HashMap<String, chrono::DateTime<chrono::FixedOffset>>>>,
    refresh_pending: Arc<AtomicBool>,
    watchers: Vec<JoinHandle<()>>,
}

pub(super) fn spawn(docker: Docker, topology: Arc<Topology>, project: Project, hub: Arc<Hub>) -> mpsc::Sender<Request> {
    let (tx, rx) = mpsc::channel(64);
    let refresh_pending = Arc::new(AtomicBool::new(false));
    // Two event streams: containers by the project label, and the project's network by name
    // (network events carry no labels, and a `docker network disconnect` typed by hand must
    // show too).
    let container_filters: HashMap<String, Vec<String>> =
        [("label".into(), vec![project.label_filter()]), ("type".into(), vec!["container".into()])].into();
    let network_filters: HashMap<String, Vec<String>> = [
        ("type".into(), vec!["network".into()]),
        ("network".into(), vec![project.resource_name(&topology.network)]),
    ]
    .into();
    let watchers = [container_filters, network_filters]
        .map(|f| tokio::spawn(watch_events(docker.clone(), f, tx.downgrade(), refresh_pending.clone())));
    let actor = Actor {
        docker,
        topology,
        project,
        hub,
        intents: HashMap::new(),
        starts: HashMap::new(),
        followers: HashMap::new(),
        log_marks: Arc::new(Mutex::new(HashMap::new())),
        refresh_pending,
        watchers: watchers.into(),
    };
    tokio::spawn(actor.run(rx));
    tx
}

impl Actor {
    async fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        while let Some(req) = rx.recv().await {
            match req {
                Request::Prepare { images, reply } => {
                    let _ = reply.send(self.prepare(images).await);
                }
                Request::EnsurePod { pod, reply } => {
                    let r = self.ensure_pod(&pod).await;
                    self.refresh().await;
                    let _ = reply.send(r);
                }
                Request::Act { pod, action, reply } => {
                    let r = self.act(&pod, action).await;
                    self.refresh().await;
                    let _ = reply.send(r);
                }
                Request::Status { reply } => {
                    let _ = reply.send(Ok(self.refresh().await));
                }
                Request::Netns { pod, reply } => {
                    let _ = reply.send(self.netns(&pod).await);
                }
                Request::Refresh => {
                    self.refresh_pending.store(false, Ordering::SeqCst);
                    self.refresh().await;
                }
                Request::Down { volumes, reply } => {
                    let r = self.down(volumes).await;
                    self.refresh().await;
                    let _ = reply.send(r);
                }
            }
        }
        // The runtime was dropped: stop the helper tasks (containers keep running).
        for w in self.watchers.drain(..) {
            w.abort();
        }
        for (_, (_, h)) in self.followers.drain() {
            h.abort();
        }
    }

    async fn prepare(&mut self, images: bool) -> Result<(), RuntimeError> {
        for image in self.topology.pods.iter().filter(|_| images).map(|p| p.image.clone()).collect::<Vec<_>>() {
            if self.docker.inspect_image(&image).await.is_err() {
                return Err(RuntimeError::ImageMissing(image));
            }
        }
        let net = self.project.resource_name(&self.topology.network);
        if self.docker.inspect_network(&net, None::<q::InspectNetworkOptions>).await.is_err() {
            let req = NetworkCreateRequest {
                name: net.clone(),
                driver: Some("bridge".into()),
                labels: Some(self.project.labels()),
                ..Default::default()
            };
            self.docker.create_network(req).await.map_err(|e| docker_err("creating network", &net, e))?;
        }
        for vol in &self.topology.volumes {
            let name = self.project.resource_name(vol);
            if self.docker.inspect_volume(&name).await.is_err() {
                let req = VolumeCreateRequest { name: Some(name.clone()), labels: Some(self.project.labels()), ..Default::default() };
                self.docker.create_volume(req).await.map_err(|e| docker_err("creating volume", &name, e))?;
            }
        }
        Ok(())
    }

    /// The pod's container exists, runs the image its tag names now, and is started. A
    /// container left from an earlier image under the same tag (a rebuild, a checkout of
    /// the fix) is recreated at the same tag: comparing tags alone would keep the old code.
    async fn ensure_pod(&mut self, pod: &str) -> Result<(), RuntimeError> {
        let spec = self.topology.pod(pod)?.clone();
        self.intents.insert(pod.to_string(), Intent::Run);
        let name = self.project.container_name(pod);
        let Ok(c) = self.docker.inspect_container(&name, None::<q::InspectContainerOptions>).await else {
            self.create(&spec.name, &spec.image).await?;
            return self.start(pod).await;
        };
        let tag = c.config.as_ref().and_then(|c| c.image.clone()).unwrap_or_else(|| spec.image.clone());
        let want = self
            .docker
            .inspect_image(&tag)
            .await
            .map_err(|_| RuntimeError::ImageMissing(tag.clone()))?
            .id
            .unwrap_or_default();
        let have = c.image.clone().unwrap_or_default();
        if have != want {
            self.note(format!(
                "{name} runs image {} but {tag} is now {}: recreating it",
                short_id(&have),
                short_id(&want)
            ));
            let opts = q::RemoveContainerOptionsBuilder::new().force(true).build();
            self.docker.remove_container(&name, Some(opts)).await.map_err(|e| docker_err("removing", pod, e))?;
            self.create(pod, &tag).await?;
            return self.start(pod).await;
        }
        if c.state.as_ref().and_then(|s| s.running) == Some(true) {
            return Ok(());
        }
        self.start(pod).await
    }

    /// A line in the merged log under the pseudo-pod `faultline`.
    fn note(&self, line: String) {
        self.hub.publish_log(LogLine { pod: "faultline".into(), at: std::time::SystemTime::now(), line });
    }

    async fn create(&self, pod: &str, image: &str) -> Result<(), RuntimeError> {
        let spec = self.topology.pod(pod)?;
        if self.docker.inspect_image(image).await.is_err() {
            return Err(RuntimeError::ImageMissing(image.to_string()));
        }
        let body = spec::create_body(spec, image, &self.project.resource_name(&self.topology.network), &self.project);
        let opts = q::CreateContainerOptionsBuilder::new().name(&self.project.container_name(pod)).build();
        self.docker.create_container(Some(opts), body).await.map_err(|e| docker_err("creating", pod, e))?;
        Ok(())
    }

    /// Starts the pod's container; a taken host port is reported as such, with the
    /// container that holds it when it is one.
    async fn start(&self, pod: &str) -> Result<(), RuntimeError> {
        let spec = self.topology.pod(pod)?;
        let name = self.project.container_name(pod);
        let inspect = self.docker.inspect_container(&name, None::<q::InspectContainerOptions>).await;
        if inspect.ok().and_then(|c| c.state).and_then(|s| s.running) == Some(true) {
            // Already running (its own ports are taken by itself).
            return Ok(());
        }
        if let Err(e) = ports::check_free(spec) {
            return Err(self.name_port_holder(e).await);
        }
        match self.docker.start_container(&name, None::<q::StartContainerOptions>).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, status_code }) => {
                match ports::from_docker_message(spec, &message) {
                    Some(e) => Err(self.name_port_holder(e).await),
                    None => Err(docker_err("starting", pod, bollard::errors::Error::DockerResponseServerError { status_code, message })),
                }
            }
            Err(e) => Err(docker_err("starting", pod, e)),
        }
    }

    /// Fills in `by` of a [`RuntimeError::PortInUse`] when a container publishes the port.
    async fn name_port_holder(&self, e: RuntimeError) -> RuntimeError {
        let RuntimeError::PortInUse { addr, by: None } = e else { return e };
        let port = addr.rsplit(':').next().unwrap_or_default().to_string();
        let filters: HashMap<&str, Vec<String>> = [("publish", vec![port])].into();
        let opts = q::ListContainersOptionsBuilder::new().filters(&filters).build();
        let by = match self.docker.list_containers(Some(opts)).await {
            Ok(list) => list
                .into_iter()
                .filter_map(|c| c.names.and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string())))
                .next()
                .map(|n| format!("container {n}")),
            Err(_) => None,
        };
        RuntimeError::PortInUse { addr, by }
    }

    async fn act(&mut self, pod: &str, action: PodAction) -> Result<(), RuntimeError> {
        let spec = self.topology.pod(pod)?.clone();
        let name = self.project.container_name(pod);
        let net = self.project.resource_name(&self.topology.network);
        let exists = self.docker.inspect_container(&name, None::<q::InspectContainerOptions>).await.is_ok();
        let label = action.describe();
        if !exists && !matches!(action, PodAction::Start | PodAction::Deploy { .. }) {
            return Err(RuntimeError::InvalidAction {
                pod: pod.into(),
                action: label,
                reason: "the pod has no container; start it (or run the topology) first".into(),
            });
        }
        let d = &self.docker;
        let err = |e| docker_err(&label, pod, e);
        match action {
            PodAction::Start => {
                self.intents.insert(pod.into(), Intent::Run);
                if !exists {
                    self.create(pod, &spec.image).await?;
                }
                self.start(pod).await
            }
            PodAction::Stop => {
                self.intents.insert(pod.into(), Intent::Stopped);
                let opts = q::StopContainerOptionsBuilder::new().t(STOP_GRACE_S).build();
                d.stop_container(&name, Some(opts)).await.map_err(err)
            }
            PodAction::Kill => {
                self.intents.insert(pod.into(), Intent::Run);
                let opts = q::KillContainerOptionsBuilder::new().signal("SIGKILL").build();
                d.kill_container(&name, Some(opts)).await.map_err(err)
            }
            PodAction::Pause => d.pause_container(&name).await.map_err(err),
            PodAction::Unpause => d.unpause_container(&name).await.map_err(err),
            PodAction::Restart => {
                self.intents.insert(pod.into(), Intent::Run);
                let opts = q::RestartContainerOptionsBuilder::new().t(STOP_GRACE_S).build();
                d.restart_container(&name, Some(opts)).await.map_err(err)
            }
            PodAction::Deploy { version } => {
                let image = self.topology.image_at(pod, &version)?;
                if d.inspect_image(&image).await.is_err() {
                    return Err(RuntimeError::ImageMissing(image));
                }
                self.intents.insert(pod.into(), Intent::Run);
                if exists {
                    // Same name, same volume: only the container is replaced.
                    let opts = q::RemoveContainerOptionsBuilder::new().force(true).build();
                    d.remove_container(&name, Some(opts)).await.map_err(err)?;
                }
                self.create(pod, &image).await?;
                self.start(pod).await
            }
            PodAction::Disconnect => {
                let req = NetworkDisconnectRequest { container: name.clone(), force: Some(true) };
                d.disconnect_network(&net, req).await.map_err(err)
            }
            PodAction::Reconnect => {
                let req = NetworkConnectRequest {
                    container: name.clone(),
                    endpoint_config: Some(EndpointSettings { aliases: Some(vec![pod.to_string()]), ..Default::default() }),
                };
                d.connect_network(&net, req).await.map_err(err)
            }
        }
    }

    async fn netns(&self, pod: &str) -> Result<Option<String>, RuntimeError> {
        let name = self.project.container_name(pod);
        let c = self.docker.inspect_container(&name, None::<q::InspectContainerOptions>).await.map_err(|e| docker_err("netem", pod, e))?;
        if !c.state.and_then(|s| s.running).unwrap_or(false) {
            return Ok(None);
        }
        Ok(c.network_settings.and_then(|n| n.sandbox_key).filter(|k| !k.is_empty()))
    }

    /// Inspects every pod, publishes the statuses, (re)attaches log followers.
    async fn refresh(&mut self) -> Vec<PodStatus> {
        let net = self.project.resource_name(&self.topology.network);
        let mut out = Vec::new();
        for spec in self.topology.pods.clone() {
            let inspect = self
                .docker
                .inspect_container(&self.project.container_name(&spec.name), None::<q::InspectContainerOptions>)
                .await
                .ok();
            let state = inspect.as_ref().and_then(|c| c.state.as_ref());
            let started = state.and_then(|s| s.started_at.clone()).filter(|t| spec::parse_time(t).is_some());
            let entry = self.starts.entry(spec.name.clone()).or_insert((None, 0));
            if started.is_some() && started != entry.0 {
                if entry.0.is_some() {
                    entry.1 += 1;
                }
                entry.0 = started;
            }
            let restarts = entry.1;
            let intent = self.intents.get(&spec.name).copied().unwrap_or_default();
            let status = spec::status_of(&spec.name, &spec.image, inspect.as_ref(), &net, intent, restarts);
            if let (Some(c), true) = (&inspect, state.and_then(|s| s.running) == Some(true)) {
                self.follow_logs(&spec.name, c.id.clone().unwrap_or_default());
            }
            self.hub.publish_status(status.clone());
            out.push(status);
        }
        out
    }

    fn follow_logs(&mut self, pod: &str, id: String) {
        if let Some((cur, h)) = self.followers.get(pod) {
            if *cur == id && !h.is_finished() {
                return;
            }
            h.abort();
        }
        let handle = tokio::spawn(follow(self.docker.clone(), pod.to_string(), id.clone(), self.hub.clone(), self.log_marks.clone()));
        self.followers.insert(pod.to_string(), (id, handle));
    }

    /// Removes every container and network (and volume) labelled with this project, nothing
    /// of another project.
    async fn down(&mut self, volumes: bool) -> Result<(), RuntimeError> {
        for (_, (_, h)) in self.followers.drain() {
            h.abort();
        }
        let filters: HashMap<&str, Vec<String>> = [("label", vec![self.project.label_filter()])].into();
        let d = &self.docker;
        let list = q::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        for c in d.list_containers(Some(list)).await.map_err(|e| docker_err("listing", "containers", e))? {
            let id = c.id.unwrap_or_default();
            let opts = q::RemoveContainerOptionsBuilder::new().force(true).build();
            d.remove_container(&id, Some(opts)).await.map_err(|e| docker_err("removing container", &id, e))?;
        }
        let nets = q::ListNetworksOptionsBuilder::new().filters(&filters).build();
        for n in d.list_networks(Some(nets)).await.map_err(|e| docker_err("listing", "networks", e))? {
            let id = n.id.unwrap_or_default();
            d.remove_network(&id).await.map_err(|e| docker_err("removing network", &id, e))?;
        }
        if volumes {
            let vols = q::ListVolumesOptionsBuilder::new().filters(&filters).build();
            let list = d.list_volumes(Some(vols)).await.map_err(|e| docker_err("listing", "volumes", e))?;
            for v in list.volumes.unwrap_or_default() {
                d.remove_volume(&v.name, None::<q::RemoveVolumeOptions>)
                    .await
                    .map_err(|e| docker_err("removing volume", &v.name, e))?;
            }
        }
        self.intents.clear();
        self.starts.clear();
        Ok(())
    }
}

/// Follows one container's stdout and stderr, skipping lines already forwarded.
async fn follow(
    docker: Docker,
    pod: String,
    id: String,
    hub: Arc<Hub>,
    marks: Arc<Mutex<HashMap<String, chrono::DateTime<chrono::FixedOffset>>>>,
) {
    let mark = marks.lock().unwrap_or_else(|p| p.into_inner()).get(&pod).copied();
    let mut opts = q::LogsOptionsBuilder::new().follow(true).stdout(true).stderr(true).timestamps(true);
    opts = match mark {
        Some(m) => opts.since(i32::try_from(m.timestamp()).unwrap_or(0)),
        None => opts.tail("200"),
    };
    let mut logs = docker.logs(&id, Some(opts.build()));
    while let Some(Ok(chunk)) = logs.next().await {
        for raw in String::from_utf8_lossy(&chunk.into_bytes()).lines() {
            let (ts, text) = raw.split_once(' ').unwrap_or(("", raw));
            let at = chrono::DateTime::parse_from_rfc3339(ts).ok();
            if let Some(at) = at {
                let mut marks = marks.lock().unwrap_or_else(|p| p.into_inner());
                if marks.get(&pod).is_some_and(|m| at <= *m) {
                    continue;
                }
                marks.insert(pod.clone(), at);
            }
            hub.publish_log(LogLine {
                pod: pod.clone(),
                at: at.map(std::time::SystemTime::from).unwrap_or_else(std::time::SystemTime::now),
                line: text.to_string(),
            });
        }
    }
}

/// Watches the docker events that `filters` select and asks the actor for a refresh, at
/// most one pending at a time. Reconnects if the event stream breaks.
async fn watch_events(
    docker: Docker,
    filters: HashMap<String, Vec<String>>,
    tx: mpsc::WeakSender<Request>,
    pending: Arc<AtomicBool>,
) {
    loop {
        let opts = q::EventsOptionsBuilder::new().filters(&filters).build();
        let mut events = docker.events(Some(opts));
        while let Some(ev) = events.next().await {
            let Ok(ev) = ev else { break };
            let ours = ev
                .actor
                .as_ref()
                .and_then(|a| a.attributes.as_ref())
                .is_some_and(|a| a.contains_key(POD_LABEL) || a.contains_key("container"));
            if !ours {
                continue;
            }
            let Some(tx) = tx.upgrade() else { return };
            if !pending.swap(true, Ordering::SeqCst) && tx.send(Request::Refresh).await.is_err() {
                return;
            }
        }
        let Some(_) = tx.upgrade() else { return };
        // The daemon went away or restarted: try again shortly.
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// `sha256:0123456789ab…` -> `0123456789ab`.
fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

fn docker_err(what: &str, subject: &str, e: bollard::errors::Error) -> RuntimeError {
    use bollard::errors::Error as E;
    match e {
        // 409: the container is in the wrong state for the action (pause a stopped pod...).
        E::DockerResponseServerError { status_code: 409, message } => RuntimeError::InvalidAction {
            pod: subject.to_string(),
            action: what.to_string(),
            reason: message,
        },
        E::DockerResponseServerError { status_code, message } => {
            RuntimeError::Other(format!("docker refused {what} `{subject}` ({status_code}): {message}"))
        }
        E::IOError { .. } | E::HyperLegacyError { .. } | E::SocketNotFoundError(_) | E::RequestTimeoutError => {
            RuntimeError::DockerUnavailable(format!("{what} `{subject}`: {e}"))
        }
        other => RuntimeError::Other(format!("docker error while {what} `{subject}`: {other}")),
    }
}
