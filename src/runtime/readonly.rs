//! A runtime that only watches: what `faultline attach` gets when another Faultline holds
//! the project. Statuses, logs and equivalent commands come from the inner runtime; every
//! action is refused with the holder's name, so two Faultlines never fight over one pod.

use futures::stream::BoxStream;

use super::{
    Describe, EquivalentCommand, LogLine, PodAction, PodRuntime, PodStatus, Progress, Project, RuntimeError,
    RuntimeKind, Topology,
};

pub(crate) struct ReadOnly {
    inner: Box<dyn PodRuntime>,
    /// Why: "project `faultline` is held by faultline pid 1234 (…) since 10:32".
    reason: String,
}

impl ReadOnly {
    pub(crate) fn new(inner: Box<dyn PodRuntime>, reason: String) -> Self {
        ReadOnly { inner, reason }
    }

    fn refuse(&self) -> RuntimeError {
        RuntimeError::ReadOnly { project: self.inner.project().name().to_string(), reason: self.reason.clone() }
    }
}

impl Describe for ReadOnly {
    fn kind(&self) -> RuntimeKind {
        self.inner.kind()
    }
    fn project(&self) -> &Project {
        self.inner.project()
    }
    fn topology(&self) -> &Topology {
        self.inner.topology()
    }
    fn pods_outlive_faultline(&self) -> bool {
        self.inner.pods_outlive_faultline()
    }
    fn equivalent_command(&self, pod: &str, action: &PodAction) -> EquivalentCommand {
        self.inner.equivalent_command(pod, action)
    }
    fn rebuild_command(&self, pod: &str) -> EquivalentCommand {
        self.inner.rebuild_command(pod)
    }
}

#[async_trait::async_trait]
impl PodRuntime for ReadOnly {
    fn engine_url(&self) -> String {
        self.inner.engine_url()
    }
    async fn prepare(&self, _progress: Progress<'_>) -> Result<(), RuntimeError> {
        Err(self.refuse())
    }
    async fn up(&self) -> Result<(), RuntimeError> {
        Err(self.refuse())
    }
    async fn down(&self, _volumes: bool) -> Result<(), RuntimeError> {
        Err(self.refuse())
    }
    async fn act(&self, _pod: &str, _action: PodAction) -> Result<(), RuntimeError> {
        Err(self.refuse())
    }
    async fn link_fault(&self, _link: &str, _fault: super::LinkFault) -> Result<(), RuntimeError> {
        Err(self.refuse())
    }
    async fn heal_link(&self, _link: &str, _kind: Option<&str>) -> Result<(), RuntimeError> {
        Err(self.refuse())
    }
    async fn rebuild(&self, _pod: &str, _progress: Progress<'_>, _stage: super::StageReport<'_>) -> Result<String, RuntimeError> {
        Err(self.refuse())
    }
    async fn status(&self) -> Result<Vec<PodStatus>, RuntimeError> {
        self.inner.status().await
    }
    fn status_stream(&self) -> BoxStream<'static, PodStatus> {
        self.inner.status_stream()
    }
    fn log_stream(&self) -> BoxStream<'static, LogLine> {
        self.inner.log_stream()
    }
}
