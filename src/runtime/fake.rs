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
}

impl FakeRuntime {
    /// A runtime over `topology`; no pod exists until `up` or `start`.
    pub fn new(topology: Topology) -> Self {
        FakeRuntime { topology, project: Project::default(), hub: Hub::new(), calls: Mutex::default(), failures: Mutex::default(), held: Mutex::default() }
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

    async fn rebuild(&self, pod: &str, _progress: Progress<'_>) -> Result<String, RuntimeError> {
        let version = self.current(pod).version;
        self.act(pod, PodAction::Deploy { version: version.clone() }).await?;
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
}
