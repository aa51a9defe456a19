//! Rewrites a pod's compose environment for a local process on 127.0.0.1.
//!
//! Inside Docker, pods reach each other by DNS alias (`http://payment:8080`) and listen on
//! `0.0.0.0:<container port>`; as local processes they all share the loopback interface,
//! so every `http://<pod>:<container port>` becomes `http://127.0.0.1:<host port>`, the
//! listen address becomes `127.0.0.1:<host port>`, and paths under a mounted volume
//! (`/data/engine.db`) move under the pod's local data directory. Pure: unit tested.

use std::collections::BTreeMap;
use std::path::Path;

use crate::runtime::{PodSpec, Topology};

pub fn local_env(topology: &Topology, spec: &PodSpec, data_dir: &Path) -> BTreeMap<String, String> {
    let pod_dir = data_dir.join(&spec.name);
    spec.environment
        .iter()
        .map(|(k, v)| {
            let v = if k == "FAULTLINE_LISTEN" {
                listen_addr(spec, v)
            } else if k == crate::runtime::links::LINKS_VAR {
                proxy_links(topology, spec, v)
            } else {
                let v = rewrite_urls(topology, v);
                rewrite_volume_paths(spec, &pod_dir, &v)
            };
            (k.clone(), v)
        })
        .collect()
}

/// `0.0.0.0:8080` -> `127.0.0.1:<host port published for 8080>`.
fn listen_addr(spec: &PodSpec, value: &str) -> String {
    let port: Option<u16> = value.rsplit(':').next().and_then(|p| p.parse().ok());
    let mapping = spec
        .ports
        .iter()
        .find(|m| Some(m.container_port) == port)
        .or_else(|| spec.ports.first());
    match mapping {
        Some(m) => format!("127.0.0.1:{}", m.host_port),
        // Not published: any free loopback port, never every interface.
        None => "127.0.0.1:0".to_string(),
    }
}

/// The fault proxy's links (`FAULTLINE_PROXIES`): each listener moves to its published
/// loopback port, each upstream `pod:port` to that pod's host port. Left as written when it
/// is not a JSON list (the compose check has refused it already).
fn proxy_links(topology: &Topology, spec: &PodSpec, value: &str) -> String {
    let Ok(serde_json::Value::Array(mut items)) = serde_json::from_str::<serde_json::Value>(value) else { return value.to_string() };
    for item in &mut items {
        if let Some(listen) = item.get("listen").and_then(|l| l.as_str()).map(str::to_string) {
            item["listen"] = listen_addr(spec, &listen).into();
        }
        if let Some(up) = item.get("upstream").and_then(|u| u.as_str()).map(str::to_string) {
            let host = rewrite_urls(topology, &format!("http://{up}"));
            item["upstream"] = host.strip_prefix("http://").unwrap_or(&up).to_string().into();
        }
    }
    serde_json::Value::Array(items).to_string()
}

fn rewrite_urls(topology: &Topology, value: &str) -> String {
    let mut out = value.to_string();
    for pod in &topology.pods {
        for m in &pod.ports {
            let from = format!("http://{}:{}", pod.name, m.container_port);
            let to = format!("http://127.0.0.1:{}", m.host_port);
            out = replace_authority(&out, &from, &to);
        }
    }
    out
}

/// Replaces `from` only where it is a whole authority (not `http://engine:72330`).
fn replace_authority(value: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find(from) {
        let after = &rest[i + from.len()..];
        let whole = after.chars().next().is_none_or(|c| !c.is_ascii_digit());
        out.push_str(&rest[..i]);
        out.push_str(if whole { to } else { from });
        rest = after;
    }
    out.push_str(rest);
    out
}

fn rewrite_volume_paths(spec: &PodSpec, pod_dir: &Path, value: &str) -> String {
    for (_, mount) in &spec.volumes {
        let mount = mount.trim_end_matches('/');
        if value == mount {
            return pod_dir.display().to_string();
        }
        if let Some(rest) = value.strip_prefix(&format!("{mount}/")) {
            return pod_dir.join(rest).display().to_string();
        }
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::compose;

    fn topology() -> Topology {
        compose::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")).unwrap()
    }

    #[test]
    fn worker_reaches_services_on_loopback_host_ports() {
        let t = topology();
        let worker = t.pod("worker").unwrap();
        let env = local_env(&t, worker, Path::new("/tmp/fl"));
        // Through the proxy's links, as in Docker.
        assert_eq!(env["FAULTLINE_ENGINE_URL"], "http://127.0.0.1:17233");
        assert_eq!(env["PAYMENT_URL"], "http://127.0.0.1:18082");
        assert_eq!(env["NOTIFICATION_URL"], "http://127.0.0.1:18084");
        assert_eq!(env["FAULTLINE_LISTEN"], "127.0.0.1:8085");
        assert_eq!(env["FAULTLINE_TASK_QUEUE"], "orders");
    }

    #[test]
    fn engine_database_moves_under_the_local_data_dir() {
        let t = topology();
        let env = local_env(&t, t.pod("engine").unwrap(), Path::new("/tmp/fl"));
        assert_eq!(env["FAULTLINE_DB"], "/tmp/fl/engine/engine.db");
        assert_eq!(env["FAULTLINE_LISTEN"], "127.0.0.1:7233");
        let env = local_env(&t, t.pod("payment").unwrap(), Path::new("/tmp/fl"));
        assert_eq!(env["FAULTLINE_DATA"], "/tmp/fl/payment");
    }

    #[test]
    fn proxy_links_listen_and_reach_on_loopback() {
        let t = topology();
        let env = local_env(&t, t.proxy_pod().unwrap(), Path::new("/tmp/fl"));
        let links: serde_json::Value = serde_json::from_str(&env["FAULTLINE_PROXIES"]).unwrap();
        let payment = links.as_array().unwrap().iter().find(|l| l["name"] == "worker->payment").unwrap();
        assert_eq!(payment["listen"], "127.0.0.1:18082");
        assert_eq!(payment["upstream"], "127.0.0.1:8082");
        assert_eq!(env["FAULTLINE_LISTEN"], "127.0.0.1:8474");
    }

    #[test]
    fn only_whole_authorities_are_rewritten() {
        assert_eq!(replace_authority("http://a:80/x http://a:8080", "http://a:80", "L"), "L/x http://a:8080");
    }
}
