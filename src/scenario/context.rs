//! What the validator knows about the world: the pods and the versions each can be deployed
//! with, taken from the [`Topology`] (docker-compose.yml is the single source; no pod name is
//! written in this module's code).

use std::collections::BTreeMap;
use std::path::Path;

use super::error::ScenarioError;
use crate::runtime::{compose, Topology, TwinSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// pod -> versions (image tags) it can run, in topology order.
    pods: Vec<(String, Vec<String>)>,
    /// The race twin, and the pods of its profile.
    twin: Option<(TwinSpec, Vec<String>)>,
    /// The fault proxy's links (`worker->payment`), in file order.
    links: Vec<String>,
    /// The twin's dual-write order as the compose file starts it (`after-commit`).
    twin_order: Option<String>,
}

impl Context {
    pub fn from_topology(t: &Topology) -> Self {
        let twin = t.twin.clone().map(|tw| {
            let pods = t.pods.iter().filter(|p| p.profiles.contains(&tw.profile)).map(|p| p.name.clone()).collect();
            (tw, pods)
        });
        Context {
            pods: t.pods.iter().map(|p| (p.name.clone(), t.versions_of(&p.name))).collect(),
            twin,
            links: t.links().into_iter().map(|l| l.name).collect(),
            twin_order: t.twin_order(),
        }
    }

    /// The race twin of the topology, if it declares one.
    pub fn twin(&self) -> Option<&TwinSpec> {
        self.twin.as_ref().map(|(t, _)| t)
    }

    /// The order the twin's engine starts with (`after-commit`, `enqueue-first`), if any twin.
    pub fn twin_order(&self) -> Option<&str> {
        self.twin_order.as_deref()
    }

    /// Whether `pod` runs only with the twin (a scenario must set `[setup] twin = true`).
    pub fn is_twin_pod(&self, pod: &str) -> bool {
        self.twin.as_ref().is_some_and(|(_, pods)| pods.iter().any(|p| p == pod))
    }

    /// The transactional engine's pod.
    pub fn engine_pod(&self) -> &'static str {
        crate::runtime::ENGINE_POD
    }

    /// Reads docker-compose.yml (or another compose file).
    pub fn from_compose(path: &Path) -> Result<Self, ScenarioError> {
        let t = compose::load(path).map_err(|e| ScenarioError::Topology { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(Self::from_topology(&t))
    }

    /// A context from explicit names (tests and tools that have no compose file at hand).
    pub fn from_pods(pods: BTreeMap<String, Vec<String>>) -> Self {
        Context { pods: pods.into_iter().collect(), twin: None, links: Vec::new(), twin_order: None }
    }

    /// This context with the proxy links `links`.
    pub fn with_links(mut self, links: Vec<String>) -> Self {
        self.links = links;
        self
    }

    pub fn links(&self) -> &[String] {
        &self.links
    }

    pub fn pods(&self) -> Vec<String> {
        self.pods.iter().map(|(p, _)| p.clone()).collect()
    }

    pub fn has_pod(&self, pod: &str) -> bool {
        self.pods.iter().any(|(p, _)| p == pod)
    }

    pub fn versions(&self, pod: &str) -> Vec<String> {
        self.pods.iter().find(|(p, _)| p == pod).map(|(_, v)| v.clone()).unwrap_or_default()
    }
}
