//! The local-process runtime: the same pods as child processes on 127.0.0.1, for a machine
//! without Docker (a presenter's laptop on conference Wi-Fi, a CI box).
//!
//! Layout:
//! - this file: [`LocalRuntime`]: spawning, signals (SIGKILL, SIGSTOP/SIGCONT, SIGTERM with a
//!   grace period), deploy (restart with the binary mapped to the other tag), a supervisor
//!   task per process (log lines, exit status) and one health poller (`GET /healthz`);
//! - `env`: the compose environment rewritten for loopback (pure);
//! - `commands`: the equivalent commands (`kill -<SIGNAL> <pid>`, pure).
//!
//! A process stopped or continued from outside (`kill -STOP <pid>`) is seen by the health
//! poller, which reads the process state from `/proc`.
//!
//! Data lives under `<data dir>/<pod>/` (by default `.faultline/local/` beside the compose
//! file). Network disconnection cannot be emulated for processes sharing the loopback
//! interface, so those actions are rejected with a clear message.

pub mod commands;
mod env;

pub use env::local_env;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::stream::BoxStream;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::watch;

use super::hub::Hub;
use super::images::locate_binaries_async;
use super::lock::ProjectLock;
use super::{
    ports, split_image, Describe, EquivalentCommand, Health, LogLine, PodAction, PodRuntime, PodState, PodStatus,
    Progress, Project, RebuildStage, RuntimeError, RuntimeKind, RuntimeSetup, StageReport, Topology,
};

/// Grace period between SIGTERM and SIGKILL on stop.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Proc {
    image: String,
    pid: Option<i32>,
    /// Bumped at every spawn, so the exit of an old process never overwrites a new one.
    generation: u64,
    state: PodState,
    health: Health,
    fail_streak: u32,
    starts: u32,
    started_at: Option<SystemTime>,
    exit_code: Option<i64>,
    stopping: bool,
    exited: Option<watch::Receiver<bool>>,
}

impl Proc {
    fn status(&self, pod: &str) -> PodStatus {
        PodStatus {
            name: pod.to_string(),
            version: split_image(&self.image).1.to_string(),
            state: self.state,
            health: self.health,
            restarts: self.starts.saturating_sub(1),
            started_at: self.started_at,
            exit_code: self.exit_code,
            image_id: None,
        }
    }
}

struct Shared {
    topology: Arc<Topology>,
    hub: Arc<Hub>,
    procs: Mutex<BTreeMap<String, Proc>>,
}

impl Shared {
    /// Runs `f` on a pod's record and publishes the resulting status.
    fn update<R>(&self, pod: &str, f: impl FnOnce(&mut Proc) -> R) -> Option<R> {
        let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        let p = procs.get_mut(pod)?;
        let r = f(p);
        let status = p.status(pod);
        drop(procs);
        self.hub.publish_status(status);
        Some(r)
    }

    fn snapshot(&self) -> Vec<PodStatus> {
        let procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        self.topology.pods.iter().filter_map(|s| procs.get(&s.name).map(|p| p.status(&s.name))).collect()
    }
}

pub struct LocalRuntime {
    shared: Arc<Shared>,
    setup: RuntimeSetup,
    data_dir: PathBuf,
    binaries: tokio::sync::Mutex<Option<BTreeMap<String, PathBuf>>>,
    /// Serializes control actions, so a stop cannot interleave with a deploy.
    actions: tokio::sync::Mutex<()>,
    health_task: tokio::task::JoinHandle<()>,
    /// Held for the runtime's life: this process controls the project.
    _lock: Option<ProjectLock>,
}

impl LocalRuntime {
    /// `setup.workspace`: where cargo builds the binaries (or where they are found);
    /// `data_dir`: the parent of each pod's data directory. Must be called inside tokio.
    pub fn new(setup: RuntimeSetup, data_dir: PathBuf) -> Self {
        let topology = setup.topology.clone();
        let procs = topology
            .pods
            .iter()
            .map(|p| {
                let proc = Proc {
                    image: p.image.clone(),
                    pid: None,
                    generation: 0,
                    state: PodState::Missing,
                    health: Health::Unknown,
                    fail_streak: 0,
                    starts: 0,
                    started_at: None,
                    exit_code: None,
                    stopping: false,
                    exited: None,
                };
                (p.name.clone(), proc)
            })
            .collect();
        let shared = Arc::new(Shared { topology, hub: Hub::new(), procs: Mutex::new(procs) });
        for s in shared.snapshot() {
            shared.hub.publish_status(s);
        }
        let health_task = tokio::spawn(poll_health(shared.clone()));
        LocalRuntime {
            shared,
            setup,
            data_dir,
            binaries: tokio::sync::Mutex::new(None),
            actions: tokio::sync::Mutex::new(()),
            health_task,
            _lock: None,
        }
    }

    /// Holds `lock` (the project's) for as long as the runtime lives.
    pub fn with_lock(mut self, lock: Option<ProjectLock>) -> Self {
        self._lock = lock;
        self
    }

    /// Builds (cargo) or finds the binaries now, replacing what was located before.
    async fn locate(&self, progress: Progress<'_>) -> Result<(), RuntimeError> {
        // `--no-build`: the binaries as they are, next to this executable.
        let build = !super::images::no_build();
        let found = locate_binaries_async(self.setup.workspace.clone(), self.shared.topology.binaries(), build, progress).await?;
        *self.binaries.lock().await = Some(found);
        Ok(())
    }

    fn pid_of(&self, pod: &str) -> Option<i32> {
        let procs = self.shared.procs.lock().unwrap_or_else(|p| p.into_inner());
        procs.get(pod).and_then(|p| p.pid)
    }

    async fn binary_for(&self, image: &str) -> Result<PathBuf, RuntimeError> {
        if self.binaries.lock().await.is_none() {
            let hub = self.shared.hub.clone();
            let progress = move |l: &str| {
                hub.publish_log(LogLine { pod: "faultline".into(), at: SystemTime::now(), line: l.to_string() })
            };
            self.locate(&progress).await?;
        }
        let bins = self.binaries.lock().await;
        let name = self.shared.topology.images.get(image).ok_or_else(|| {
            RuntimeError::Compose(format!("image {image} has no entry in x-faultline-images"))
        })?;
        bins.as_ref()
            .and_then(|b| b.get(name).cloned())
            .ok_or_else(|| RuntimeError::ImageMissing(format!("{image} (binary `{name}`)")))
    }

    fn is_alive(&self, pod: &str) -> bool {
        let procs = self.shared.procs.lock().unwrap_or_else(|p| p.into_inner());
        procs.get(pod).is_some_and(|p| p.pid.is_some())
    }

    async fn spawn_pod(&self, pod: &str) -> Result<(), RuntimeError> {
        if self.is_alive(pod) {
            return Ok(());
        }
        let spec = self.shared.topology.pod(pod)?.clone();
        let image = self.shared.update(pod, |p| p.image.clone()).unwrap_or(spec.image.clone());
        let binary = self.binary_for(&image).await?;
        ports::check_free(&spec)?;
        let pod_dir = self.data_dir.join(pod);
        std::fs::create_dir_all(&pod_dir).map_err(|e| {
            RuntimeError::Other(format!("cannot create {}: {e}; check permissions", pod_dir.display()))
        })?;
        let mut child = tokio::process::Command::new(&binary)
            .envs(local_env(&self.shared.topology, &spec, &self.data_dir))
            .current_dir(&pod_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Own process group: a Ctrl-C in the terminal reaches the harness, which then
            // decides what happens to the pods.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| RuntimeError::Other(format!("cannot start {} for pod `{pod}`: {e}", binary.display())))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok());
        let (exit_tx, exit_rx) = watch::channel(false);
        let generation = self
            .shared
            .update(pod, |p| {
                p.generation += 1;
                p.pid = pid;
                p.state = PodState::Running;
                p.health = if spec.healthcheck.is_some() { Health::Starting } else { Health::Unknown };
                p.fail_streak = 0;
                p.starts += 1;
                p.started_at = Some(SystemTime::now());
                p.exit_code = None;
                p.stopping = false;
                p.exited = Some(exit_rx);
                p.generation
            })
            .unwrap_or(0);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_lines(out, pod.to_string(), self.shared.hub.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward_lines(err, pod.to_string(), self.shared.hub.clone()));
        }
        let shared = self.shared.clone();
        let pod = pod.to_string();
        tokio::spawn(async move {
            let status = child.wait().await;
            let code = status.ok().and_then(|s| {
                use std::os::unix::process::ExitStatusExt;
                s.code().map(i64::from).or_else(|| s.signal().map(|sig| 128 + i64::from(sig)))
            });
            shared.update(&pod, |p| {
                if p.generation == generation {
                    p.pid = None;
                    p.state = if p.stopping { PodState::Stopped } else { PodState::Exited };
                    p.health = Health::Unknown;
                    p.exit_code = code;
                }
            });
            let _ = exit_tx.send(true);
        });
        Ok(())
    }

    fn signal(&self, pod: &str, sig: Signal) -> Result<(), RuntimeError> {
        let pid = {
            let procs = self.shared.procs.lock().unwrap_or_else(|p| p.into_inner());
            procs.get(pod).and_then(|p| p.pid)
        };
        let pid = pid.ok_or_else(|| RuntimeError::InvalidAction {
            pod: pod.into(),
            action: format!("{sig}"),
            reason: "the pod is not running; start it first".into(),
        })?;
        kill(Pid::from_raw(pid), sig)
            .map_err(|e| RuntimeError::Other(format!("cannot send {sig} to pod `{pod}` (pid {pid}): {e}")))
    }

    /// SIGTERM (with SIGCONT, in case it is paused), then SIGKILL after the grace period.
    async fn stop_pod(&self, pod: &str) -> Result<(), RuntimeError> {
        let exited = self.shared.update(pod, |p| {
            p.stopping = true;
            p.exited.clone()
        });
        let Some(Some(mut exited)) = exited else { return Ok(()) };
        if !self.is_alive(pod) {
            self.shared.update(pod, |p| p.state = PodState::Stopped);
            return Ok(());
        }
        let _ = self.signal(pod, Signal::SIGTERM);
        let _ = self.signal(pod, Signal::SIGCONT);
        if tokio::time::timeout(STOP_GRACE, exited.wait_for(|e| *e)).await.is_err() {
            let _ = self.signal(pod, Signal::SIGKILL);
            let _ = exited.wait_for(|e| *e).await;
        }
        Ok(())
    }

    /// Waits (at most a second) until the kernel shows the pod's process stopped or not,
    /// so the health poller's view of `/proc` agrees with the state this action sets.
    async fn settle(&self, pod: &str, stopped: bool) {
        let Some(pid) = self.pid_of(pod) else { return };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        while proc_stopped(pid).is_some_and(|s| s != stopped) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn wait_ready(&self, pod: &str) -> Result<(), RuntimeError> {
        let spec = self.shared.topology.pod(pod)?;
        let has_health = spec.healthcheck.is_some() && !spec.ports.is_empty();
        let budget = spec.healthcheck.as_ref().map(|h| h.interval_ms * u64::from(h.retries)).unwrap_or(0);
        let timeout = Duration::from_millis(budget.max(20_000) + 10_000);
        let shared = self.shared.clone();
        self.shared
            .hub
            .wait_ready(pod, timeout, || {
                let s = shared.snapshot();
                async move { Ok(s) }
            }, |s| s.state == PodState::Running && (!has_health || s.health == Health::Healthy))
            .await
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        self.health_task.abort();
        // Never leave orphans behind: kill whatever still runs (a paused process too).
        let procs = self.shared.procs.lock().unwrap_or_else(|p| p.into_inner());
        for pid in procs.values().filter_map(|p| p.pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

impl Describe for LocalRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Local
    }

    fn project(&self) -> &Project {
        &self.setup.project
    }

    fn topology(&self) -> &Topology {
        &self.shared.topology
    }

    fn pods_outlive_faultline(&self) -> bool {
        false
    }

    fn equivalent_command(&self, pod: &str, action: &PodAction) -> EquivalentCommand {
        commands::render(&self.setup, pod, action, self.pid_of(pod))
    }

    fn rebuild_command(&self, pod: &str) -> EquivalentCommand {
        commands::rebuild(&self.setup, pod)
    }
}

#[async_trait::async_trait]
impl PodRuntime for LocalRuntime {
    async fn prepare(&self, progress: Progress<'_>) -> Result<(), RuntimeError> {
        self.locate(progress).await
    }

    async fn rebuild(&self, pod: &str, progress: Progress<'_>, stage: StageReport<'_>) -> Result<String, RuntimeError> {
        let spec = self.shared.topology.pod(pod)?;
        let version = self.shared.update(pod, |p| split_image(&p.image).1.to_string()).unwrap_or_else(|| split_image(&spec.image).1.to_string());
        let names = super::images_to_rebuild(&self.shared.topology, pod)?.into_values().collect();
        stage(RebuildStage::Compile);
        // One guard: a pod started meanwhile waits instead of locating everything again.
        let mut binaries = self.binaries.lock().await;
        if binaries.is_none() {
            *binaries = Some(locate_binaries_async(self.setup.workspace.clone(), self.shared.topology.binaries(), true, progress).await?);
        } else {
            // Only this pod's binaries; the paths of the others stay as they were.
            let found = locate_binaries_async(self.setup.workspace.clone(), names, true, progress).await?;
            binaries.get_or_insert_with(Default::default).extend(found);
        }
        drop(binaries);
        stage(RebuildStage::Redeploy);
        progress(&format!("restarting {pod} ({version}) on the new build"));
        self.act(pod, PodAction::Deploy { version: version.clone() }).await?;
        stage(RebuildStage::Serving);
        self.wait_ready(pod).await?;
        Ok(format!("{pod} rebuilt and redeployed ({version})"))
    }

    async fn up(&self) -> Result<(), RuntimeError> {
        let _guard = self.actions.lock().await;
        let pods: Vec<_> = self.shared.topology.pods.clone();
        for pod in &pods {
            for dep in &pod.depends_on {
                self.wait_ready(dep).await?;
            }
            self.spawn_pod(&pod.name).await?;
        }
        for pod in &pods {
            self.wait_ready(&pod.name).await?;
        }
        Ok(())
    }

    async fn down(&self, volumes: bool) -> Result<(), RuntimeError> {
        let _guard = self.actions.lock().await;
        for pod in self.shared.topology.pods.iter().rev() {
            self.stop_pod(&pod.name).await?;
            self.shared.update(&pod.name, |p| {
                p.state = PodState::Missing;
                p.image = pod.image.clone();
                p.starts = 0;
                p.started_at = None;
                p.exit_code = None;
            });
            let dir = self.data_dir.join(&pod.name);
            if volumes && dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| {
                    RuntimeError::Other(format!("cannot remove {}: {e}", dir.display()))
                })?;
            }
        }
        Ok(())
    }

    async fn act(&self, pod: &str, action: PodAction) -> Result<(), RuntimeError> {
        self.shared.topology.pod(pod)?;
        let _guard = self.actions.lock().await;
        let invalid = |reason: &str| RuntimeError::InvalidAction {
            pod: pod.into(),
            action: action.describe(),
            reason: reason.into(),
        };
        match &action {
            PodAction::Start => self.spawn_pod(pod).await,
            PodAction::Stop => self.stop_pod(pod).await,
            PodAction::Kill => self.signal(pod, Signal::SIGKILL),
            PodAction::Pause => {
                self.signal(pod, Signal::SIGSTOP)?;
                self.settle(pod, true).await;
                self.shared.update(pod, |p| p.state = PodState::Paused);
                Ok(())
            }
            PodAction::Unpause => {
                let paused = self.shared.update(pod, |p| p.state == PodState::Paused).unwrap_or(false);
                if !paused {
                    return Err(invalid("the pod is not paused"));
                }
                self.signal(pod, Signal::SIGCONT)?;
                self.settle(pod, false).await;
                self.shared.update(pod, |p| p.state = PodState::Running);
                Ok(())
            }
            PodAction::Restart => {
                self.stop_pod(pod).await?;
                self.spawn_pod(pod).await
            }
            PodAction::Deploy { version } => {
                let image = self.shared.topology.image_at(pod, version)?;
                // Resolve the binary first: a missing build must not take the pod down.
                self.binary_for(&image).await?;
                self.stop_pod(pod).await?;
                self.shared.update(pod, |p| p.image = image);
                self.spawn_pod(pod).await
            }
            // Processes share the loopback interface: a pod is cut off by taking down every
            // proxy link to or from it (what Docker's network disconnect does to the worker's
            // view of it).
            PodAction::Disconnect | PodAction::Reconnect => {
                let links: Vec<_> = self.shared.topology.links().into_iter().filter(|l| l.touches(pod)).collect();
                if links.is_empty() {
                    return Err(invalid("local processes share the loopback interface; only the proxy's links can be cut, and none touches this pod"));
                }
                let connect = action == PodAction::Reconnect;
                crate::runtime::links::ProxyApi::of(&self.shared.topology)?.set_enabled(&links, connect).await?;
                self.shared.update(pod, |p| p.state = if connect { PodState::Running } else { PodState::Disconnected });
                Ok(())
            }
        }
    }

    async fn status(&self) -> Result<Vec<PodStatus>, RuntimeError> {
        Ok(self.shared.snapshot())
    }

    fn status_stream(&self) -> BoxStream<'static, PodStatus> {
        self.shared.hub.status_stream()
    }

    fn log_stream(&self) -> BoxStream<'static, LogLine> {
        self.shared.hub.log_stream()
    }
}

async fn forward_lines(out: impl AsyncRead + Unpin, pod: String, hub: Arc<Hub>) {
    let mut lines = BufReader::new(out).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        hub.publish_log(LogLine { pod: pod.clone(), at: SystemTime::now(), line });
    }
}

/// Polls `GET /healthz` of every running pod with a health check, with the compose
/// interval, timeout and retries: healthy on the first success, unhealthy after `retries`
/// failures in a row. A paused process does not answer and so turns unhealthy, as in Docker.
async fn poll_health(shared: Arc<Shared>) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap_or_default();
    let interval = shared
        .topology
        .pods
        .iter()
        .filter_map(|p| p.healthcheck.as_ref().map(|h| h.interval_ms))
        .min()
        .unwrap_or(2_000)
        .clamp(200, 2_000);
    let mut tick = tokio::time::interval(Duration::from_millis(interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sync_stopped(&shared);
        let checks = shared.topology.pods.iter().filter_map(|spec| {
            let hc = spec.healthcheck.as_ref()?;
            let port = spec.ports.first()?.host_port;
            let live = {
                let procs = shared.procs.lock().unwrap_or_else(|p| p.into_inner());
                procs.get(&spec.name).is_some_and(|p| p.pid.is_some())
            };
            if !live {
                return None;
            }
            let url = format!("http://127.0.0.1:{port}{}", faultline_proto::paths::HEALTH);
            let req = client.get(url).timeout(Duration::from_millis(hc.timeout_ms.max(100)));
            let (name, retries, shared) = (spec.name.clone(), hc.retries, shared.clone());
            Some(async move {
                let ok = req.send().await.is_ok_and(|r| r.status().is_success());
                shared.update(&name, |p| {
                    if p.pid.is_none() {
                        return;
                    }
                    if ok {
                        p.fail_streak = 0;
                        p.health = Health::Healthy;
                    } else {
                        p.fail_streak += 1;
                        if p.fail_streak >= retries.max(1) {
                            p.health = Health::Unhealthy;
                        }
                    }
                });
            })
        });
        futures::future::join_all(checks).await;
    }
}

/// A process stopped or continued from outside (`kill -STOP <pid>`, `kill -CONT <pid>`)
/// shows as paused or running.
fn sync_stopped(shared: &Shared) {
    let pids: Vec<(String, i32)> = {
        let procs = shared.procs.lock().unwrap_or_else(|p| p.into_inner());
        procs.iter().filter_map(|(name, p)| p.pid.map(|pid| (name.clone(), pid))).collect()
    };
    for (pod, pid) in pids {
        let Some(stopped) = proc_stopped(pid) else { continue };
        shared.update(&pod, |p| {
            if p.pid != Some(pid) {
                return;
            }
            match (p.state, stopped) {
                (PodState::Running, true) => p.state = PodState::Paused,
                (PodState::Paused, false) => p.state = PodState::Running,
                _ => {}
            }
        });
    }
}

/// Whether the process is stopped (state `T` in `/proc/<pid>/stat`); `None` when unknown.
fn proc_stopped(pid: i32) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
    Some(state == 'T' || state == 't')
}
