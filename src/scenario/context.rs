//! What the validator knows about the world: the pods and the versions each can be deployed
//! with, taken from the [`Topology`] (docker-compose.yml is the single source; no pod name is
//! written in this module's code).

use std::collections::BTreeMap;
use std::path::Path;

use super::error::ScenarioError;
use crate::runtime::{compose, Topology};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// pod -> versions (image tags) it can run, in topology order.
    pods: Vec<(String, Vec<String>)>,
    /// The fault proxy's links (`worker->payment`), in file order.
    links: Vec<String>,
}

impl Context {
    pub fn from_topology(t: &Topology) -> Self {
        Context { pods: t.pods.iter().map(|p| (p.name.clone(), t.versions_of(&p.name))).collect(), links: t.links().into_iter().map(|l| l.name).collect() }
    }

    /// Reads docker-compose.yml (or another compose file).
    pub fn from_compose(path: &Path) -> Result<Self, ScenarioError> {
        let t = compose::load(path).map_err(|e| ScenarioError::Topology { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(Self::from_topology(&t))
    }

    /// A context from explicit names (tests and tools that have no compose file at hand).
    pub fn from_pods(pods: BTreeMap<String, Vec<String>>) -> Self {
        Context { pods: pods.into_iter().collect(), links: Vec::new() }
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
