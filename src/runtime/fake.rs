//! A pod runtime with no pods: every action changes an in-memory state at once and is
//! recorded. It lets the scenario runner and the dashboard be tested in milliseconds,
//! with gates, timeouts, aborts and every action, and no Docker or processes.
//!
//! A test can make an action fail ([`FakeRuntime::fail_next`]) or hang until released
//! ([`FakeRuntime::hold`]), to stage what real pods do.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::stream::BoxStream;
use tokio::sync::Notify;

use super::hub::Hub;
use super::{
    split_image, Describe, EquivalentCommand, Health, LogLine, PodAction, PodRuntime, PodSpec, PodState, PodStatus, Progress, Project,
    RuntimeError, RuntimeKind, Topology,
};
use super::{LinkFault, LinkStatus};

/// What the in-memory runtime offers as an equivalent command: none.
pub(crate) fn no_command() -> EquivalentCommand {
    EquivalentCommand::NotOneLine { reason: "the in-memory test runtime runs no pods".into() }
}

/// An in-memory runtime over a topology.
pub struct FakeRuntime {
    topology: Topology,
    project: Project,
    hub: Arc<Hub>,
    calls: Mutex<Vec<(String, PodAction)>>,
    failures: Mutex<Vec<(String, String)>>,
    held: Mutex<BTreeMap<String, Arc<Notify>>>,
    /// link -> the faults on it now.
    faults: Mutex<BTreeMap<String, Vec<LinkFault>>>,
    /// Every link call, as `latency 3s worker->payment` / `heal worker->payment`.
    link_calls: Mutex<Vec<String>>,
    /// Why kernel netem is unavailable (`None`: it works, as on a Linux host with sch_netem).
    no_netem: Option<String>,
}

impl FakeRuntime {
    /// A runtime over `topology`; no pod exists until `up` or `start`.
    pub fn new(topology: Topology) -> Self {
        FakeRuntime { topology, project: Project::default(), hub: Hub::new(), calls: Mutex::default(), failures: Mutex::default(), held: Mutex::default(), faults: Mutex::default(), link_calls: Mutex::default(), no_netem: None }
    }

    /// The same runtime on a kernel without netem: netem faults fail, saying `why`.
    pub fn without_netem(mut self, why: &str) -> Self {
        self.no_netem = Some(why.to_string());
        self
    }

    /// The demo's shape: engine, worker and payment (with `v1-bugged` and `v2-fixed`).
    pub fn demo() -> Self {
        let pod = |name: &str, image: &str| PodSpec {
            name: name.into(),
            image: image.into(),
            environment: BTreeMap::new(),
            ports: Vec::new(),
            volumes: Vec::new(),
            healthcheck: None,
            depends_on: Vec::new(),
            user: None,
            read_only: true,
            profiles: Vec::new(),
        };
        let images = [
            ("faultline/engine:latest", "faultline-engine"),
            ("faultline/worker:latest", "order-worker"),
            ("faultline/payment:v1-bugged", "payment"),
            ("faultline/payment:v2-fixed", "payment-v2"),
        ];
        FakeRuntime::new(Topology {
            pods: vec![pod("engine", "faultline/engine:latest"), pod("worker", "faultline/worker:latest"), pod("payment", "faultline/payment:v1-bugged")],
            network: "faultline".into(),
            volumes: Vec::new(),
            images: images.iter().map(|(i, b)| (i.to_string(), b.to_string())).collect(),
            image_order: images.iter().map(|(i, _)| i.to_string()).collect(),
            twin: None,
        })
    }

    /// [`FakeRuntime::demo`] with a fault proxy whose links are `worker->engine` and
    /// `worker->payment`.
    pub fn with_proxy() -> Self {
        let mut rt = Self::demo();
        let links = r#"[{"name":"worker->engine","listen":"0.0.0.0:17233","upstream":"engine:7233"},{"name":"worker->payment","listen":"0.0.0.0:18082","upstream":"payment:8080"}]"#;
        let mut proxy = rt.topology.pods[0].clone();
        proxy.name = "proxy".into();
        proxy.image = "faultline/proxy:latest".into();
        proxy.environment = BTreeMap::from([(super::links::LINKS_VAR.to_string(), links.to_string()), ("FAULTLINE_LISTEN".into(), "0.0.0.0:8474".into())]);
        proxy.ports = vec![super::PortMapping { host_ip: "127.0.0.1".into(), host_port: 8474, container_port: 8474 }];
        rt.topology.pods.insert(1, proxy);
        rt.topology.images.insert("faultline/proxy:latest".into(), super::links::PROXY_BINARY.into());
        rt.topology.image_order.push("faultline/proxy:latest".into());
        rt
    }

    /// Every link call so far, in order: `latency 3s worker->payment`, `heal worker->payment`.
    pub fn link_calls(&self) -> Vec<String> {
        self.link_calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The faults on each link now (links without any are left out).
    pub fn faults(&self) -> BTreeMap<String, Vec<LinkFault>> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|(_, f)| !f.is_empty()).map(|(l, f)| (l.clone(), f.clone())).collect()
    }

    /// Every action performed so far, in order.
    pub fn calls(&self) -> Vec<(String, PodAction)> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The next action on `pod` fails with `message`.
    pub fn fail_next(&self, pod: &str, message: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).push((pod.into(), message.into()));
    }

    /// The next action on `pod` hangs until [`FakeRuntime::release`].
    pub fn hold(&self, pod: &str) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(pod.into(), Arc::new(Notify::new()));
    }

    pub fn release(&self, pod: &str) {
        if let Some(n) = self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(pod) {
            n.notify_one();
        }
    }

    fn current(&self, pod: &str) -> PodStatus {
        let version = self.topology.pod(pod).map(|p| split_image(&p.image).1.to_string()).unwrap_or_default();
        self.hub.snapshot().into_iter().find(|s| s.name == pod).unwrap_or(PodStatus {
            name: pod.into(),
            version,
            state: PodState::Missing,
            health: Health::Unknown,
            restarts: 0,
            started_at: None,
            exit_code: None,
            image_id: None,
        })
    }

    fn set(&self, pod: &str, state: PodState, version: Option<String>) {
        let mut s = self.current(pod);
        if state == PodState::Running && s.state != PodState::Running && s.started_at.is_some() {
            s.restarts += 1;
        }
        s.state = state;
        s.health = if matches!(state, PodState::Running) { Health::Healthy } else { Health::Unknown };
        if state == PodState::Running && s.started_at.is_none() {
            s.started_at = Some(std::time::SystemTime::UNIX_EPOCH);
        }
        if let Some(v) = version {
            s.version = v;
        }
        self.hub.publish_status(s);
    }
}

impl Describe for FakeRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::InMemory
    }
    fn project(&self) -> &Project {
        &self.project
    }
    fn topology(&self) -> &Topology {
        &self.topology
    }
    fn pods_outlive_faultline(&self) -> bool {
        false
    }
    fn equivalent_command(&self, _pod: &str, _action: &PodAction) -> EquivalentCommand {
        no_command()
    }
    fn rebuild_command(&self, _pod: &str) -> EquivalentCommand {
        no_command()
    }
}

#[async_trait::async_trait]
impl PodRuntime for FakeRuntime {
    fn engine_url(&self) -> String {
        "http://127.0.0.1:0".into()
    }

    async fn prepare(&self, _progress: Progress<'_>) -> Result<(), RuntimeError> {
        Ok(())
    }

    async fn rebuild(&self, pod: &str, _progress: Progress<'_>, stage: super::StageReport<'_>) -> Result<String, RuntimeError> {
        stage(super::RebuildStage::Compile);
        let version = self.current(pod).version;
        stage(super::RebuildStage::Redeploy);
        self.act(pod, PodAction::Deploy { version: version.clone() }).await?;
        stage(super::RebuildStage::Serving);
        Ok(format!("{pod} rebuilt and redeployed ({version})"))
    }

    async fn up(&self) -> Result<(), RuntimeError> {
        for p in &self.topology.pods {
            self.set(&p.name, PodState::Running, None);
        }
        Ok(())
    }

    async fn down(&self, _volumes: bool) -> Result<(), RuntimeError> {
        for p in &self.topology.pods {
            self.set(&p.name, PodState::Missing, None);
        }
        Ok(())
    }

    async fn act(&self, pod: &str, action: PodAction) -> Result<(), RuntimeError> {
        self.topology.pod(pod)?;
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push((pod.into(), action.clone()));
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).get(pod).cloned();
        if let Some(n) = held {
            n.notified().await;
        }
        let failure = {
            let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            f.iter().position(|(p, _)| p == pod).map(|i| f.remove(i).1)
        };
        if let Some(reason) = failure {
            return Err(RuntimeError::InvalidAction { pod: pod.into(), action: action.describe(), reason });
        }
        match action {
            PodAction::Start | PodAction::Restart | PodAction::Unpause | PodAction::Reconnect => self.set(pod, PodState::Running, None),
            PodAction::Stop => self.set(pod, PodState::Stopped, None),
            PodAction::Kill => self.set(pod, PodState::Exited, None),
            PodAction::Pause => self.set(pod, PodState::Paused, None),
            PodAction::Disconnect => self.set(pod, PodState::Disconnected, None),
            PodAction::Deploy { version } => {
                self.topology.image_at(pod, &version)?;
                self.set(pod, PodState::Running, Some(version));
            }
        }
        Ok(())
    }

    async fn status(&self) -> Result<Vec<PodStatus>, RuntimeError> {
        Ok(self.topology.pods.iter().map(|p| self.current(&p.name)).collect())
    }

    fn status_stream(&self) -> BoxStream<'static, PodStatus> {
        self.hub.status_stream()
    }

    fn log_stream(&self) -> BoxStream<'static, LogLine> {
        self.hub.log_stream()
    }

    async fn link_fault(&self, link: &str, fault: LinkFault) -> Result<(), RuntimeError> {
        self.topology.link(link)?;
        if let (LinkFault::Netem(_), Some(why)) = (&fault, &self.no_netem) {
            return Err(RuntimeError::NetemUnavailable(why.clone()));
        }
        self.link_calls.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{} {link}", fault.describe()));
        let mut all = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let faults = all.entry(link.to_string()).or_default();
        faults.retain(|f| f.kind() != fault.kind());
        faults.push(fault);
        Ok(())
    }

    async fn heal_link(&self, link: &str, kind: Option<&str>) -> Result<(), RuntimeError> {
        self.topology.link(link)?;
        let call = match kind {
            Some(k) => format!("heal {k} {link}"),
            None => format!("heal {link}"),
        };
        self.link_calls.lock().unwrap_or_else(|e| e.into_inner()).push(call);
        if let Some(faults) = self.faults.lock().unwrap_or_else(|e| e.into_inner()).get_mut(link) {
            faults.retain(|f| kind.is_some_and(|k| k != f.kind()));
        }
        Ok(())
    }

    async fn link_status(&self) -> Result<Vec<LinkStatus>, RuntimeError> {
        let all = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self
            .topology
            .links()
            .into_iter()
            .map(|l| {
                let faults = all.get(&l.name).cloned().unwrap_or_default();
                LinkStatus {
                    name: l.name,
                    enabled: !faults.contains(&LinkFault::Partition),
                    toxics: faults.iter().filter(|f| **f != LinkFault::Partition).map(LinkFault::short).collect(),
                }
            })
            .collect())
    }
}
