//! The project: the name that keeps one Faultline topology apart from another on the same
//! Docker daemon (and machine), and the host-port offset that lets two run side by side.
//!
//! Every Docker object of a project carries `dev.faultline.managed=true` and
//! `dev.faultline.project=<name>`; `down`, the event watcher and test cleanups select by the
//! project label, so nothing ever touches another project's pods. Names are derived from the
//! project: containers `<project>-<pod>`, the network `<project>` (the compose network
//! `faultline`), volumes `<project>-<volume>`. The default project `faultline` keeps the
//! names Faultline always used.
//!
//! A project also says which compose profiles are active: pods with `profiles:` (the race
//! twin's) are part of the topology only when one of their profiles is ([`Project::apply`]),
//! so the normal demo neither starts nor shows them.

use std::collections::HashMap;

use super::{RuntimeError, Topology, MANAGED_LABEL};

/// The project used when none is given (`--project`, `FAULTLINE_PROJECT`).
pub const DEFAULT_PROJECT: &str = "faultline";
/// Label naming the project a container, network or volume belongs to.
pub const PROJECT_LABEL: &str = "dev.faultline.project";

/// A validated project name and host-port offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    name: String,
    port_offset: u16,
    /// Active compose profiles (e.g. `twin`).
    profiles: Vec<String>,
}

impl Default for Project {
    fn default() -> Self {
        Project { name: DEFAULT_PROJECT.into(), port_offset: 0, profiles: Vec::new() }
    }
}

impl Project {
    /// `name`: lower-case letters, digits, `-` and `_`, starting with a letter or digit, at
    /// most 40 characters (it prefixes Docker names). `port_offset` is added to every host
    /// port the compose file publishes.
    pub fn new(name: &str, port_offset: u16) -> Result<Self, RuntimeError> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        let first_ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !first_ok || name.len() > 40 || !name.chars().all(ok_char) {
            return Err(RuntimeError::Project(format!(
                "`{name}` is not a project name: use 1 to 40 lower-case letters, digits, `-` or `_`, \
                 starting with a letter or digit (e.g. `--project talk2`)"
            )));
        }
        Ok(Project { name: name.into(), port_offset, profiles: Vec::new() })
    }

    /// The same project with `profiles` active too (`docker compose --profile P`).
    pub fn with_profiles<S: Into<String>>(mut self, profiles: impl IntoIterator<Item = S>) -> Self {
        for p in profiles {
            let p = p.into();
            if !self.profiles.contains(&p) {
                self.profiles.push(p);
            }
        }
        self
    }

    /// The active compose profiles.
    pub fn profiles(&self) -> &[String] {
        &self.profiles
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn port_offset(&self) -> u16 {
        self.port_offset
    }

    /// The container of `pod`: `<project>-<pod>`.
    pub fn container_name(&self, pod: &str) -> String {
        format!("{}-{pod}", self.name)
    }

    /// Docker name of a compose-level network or volume: `faultline` becomes `<project>`,
    /// `faultline-x` becomes `<project>-x`, any other `name` becomes `<project>-<name>`.
    pub fn resource_name(&self, name: &str) -> String {
        if name == DEFAULT_PROJECT {
            self.name.clone()
        } else if let Some(rest) = name.strip_prefix("faultline-") {
            format!("{}-{rest}", self.name)
        } else {
            format!("{}-{name}", self.name)
        }
    }

    /// The labels of every object of the project.
    pub fn labels(&self) -> HashMap<String, String> {
        [(MANAGED_LABEL.to_string(), "true".to_string()), (PROJECT_LABEL.to_string(), self.name.clone())].into()
    }

    /// `dev.faultline.project=<name>`, for Docker's `label` filter.
    pub fn label_filter(&self) -> String {
        format!("{PROJECT_LABEL}={}", self.name)
    }

    /// The topology of this project: the pods of inactive profiles (and the volumes only they
    /// use) left out, every published host port moved by the offset.
    pub fn apply(&self, mut topology: Topology) -> Result<Topology, RuntimeError> {
        topology.pods.retain(|p| p.profiles.is_empty() || p.profiles.iter().any(|x| self.profiles.contains(x)));
        let used: std::collections::BTreeSet<&str> = topology.pods.iter().flat_map(|p| p.volumes.iter().map(|(v, _)| v.as_str())).collect();
        let volumes = topology.volumes.iter().filter(|v| used.contains(v.as_str())).cloned().collect();
        topology.volumes = volumes;
        if self.port_offset == 0 {
            return Ok(topology);
        }
        for pod in &mut topology.pods {
            for m in &mut pod.ports {
                m.host_port = m.host_port.checked_add(self.port_offset).ok_or_else(|| {
                    RuntimeError::Project(format!(
                        "--port-offset {} moves port {} of pod `{}` past 65535; use a smaller offset",
                        self.port_offset, m.host_port, pod.name
                    ))
                })?;
            }
        }
        Ok(topology)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::compose;

    #[test]
    fn names_keep_the_default_and_derive_from_the_project() {
        let d = Project::default();
        assert_eq!((d.container_name("payment"), d.resource_name("faultline")), ("faultline-payment".into(), "faultline".into()));
        assert_eq!(d.resource_name("payment-data"), "faultline-payment-data");
        let p = Project::new("talk2", 100).unwrap();
        assert_eq!(p.container_name("payment"), "talk2-payment");
        assert_eq!(p.resource_name("faultline"), "talk2");
        assert_eq!(p.resource_name("engine-data"), "talk2-engine-data");
        assert_eq!(p.labels()[PROJECT_LABEL], "talk2");
        assert_eq!(p.label_filter(), "dev.faultline.project=talk2");
    }

    #[test]
    fn bad_names_and_offsets_are_refused() {
        for bad in ["", "Talk", "-x", "a b", "x/y", &"a".repeat(41)] {
            let e = Project::new(bad, 0).unwrap_err().to_string();
            assert!(e.contains("--project"), "{e}");
        }
        let t = compose::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")).unwrap();
        let moved = Project::new("x", 1000).unwrap().apply(t.clone()).unwrap();
        assert_eq!(moved.host_url("engine").as_deref(), Some("http://127.0.0.1:8233"));
        let e = Project::new("x", 60000).unwrap().apply(t).unwrap_err().to_string();
        assert!(e.contains("65535"), "{e}");
    }

    #[test]
    fn profile_pods_run_only_when_their_profile_is_active() {
        let t = compose::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")).unwrap();
        let plain = Project::default().apply(t.clone()).unwrap();
        assert!(plain.pod("engine-dw").is_err() && plain.pod("worker-dw").is_err());
        assert!(!plain.volumes.iter().any(|v| v == "engine-dw-data"), "no twin volume for the normal demo");
        assert_eq!(plain.pods.len(), t.pods.iter().filter(|p| p.profiles.is_empty()).count());
        let twin = Project::default().with_profiles(["twin"]).apply(t.clone()).unwrap();
        assert!(twin.pod("engine-dw").is_ok() && twin.pod("worker-dw").is_ok() && twin.pod("engine").is_ok());
        assert_eq!(twin.host_url("engine-dw").as_deref(), Some("http://127.0.0.1:7243"));
    }
}
