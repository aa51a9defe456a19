//! Pure translation between Faultline's pod model and Docker's API models: a [`PodSpec`]
//! becomes a container-create body, a container inspection becomes a [`PodStatus`].
//! No I/O here, so every rule (127.0.0.1-only ports, read-only root, labels, state mapping)
//! is unit tested without a daemon.

use std::collections::HashMap;
use std::time::SystemTime;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum, EndpointSettings,
    HealthConfig, HealthStatusEnum, HostConfig, Mount, MountType, NetworkingConfig,
    PortBinding,
};

use crate::runtime::{split_image, Health, PodSpec, PodState, PodStatus, Project};

/// Label naming the pod a container belongs to.
pub const POD_LABEL: &str = "dev.faultline.pod";

/// The create body of `spec` running `image` in `project`, attached to `network` with the
/// pod name as DNS alias (so `http://engine:7233` resolves), ports published on the
/// declared IP only, labelled with the project.
pub fn create_body(spec: &PodSpec, image: &str, network: &str, project: &Project) -> ContainerCreateBody {
    let mut labels = project.labels();
    labels.insert(POD_LABEL.into(), spec.name.clone());
    let env = spec.environment.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &spec.ports {
        let key = format!("{}/tcp", p.container_port);
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(
            PortBinding { host_ip: Some(p.host_ip.clone()), host_port: Some(p.host_port.to_string()) },
        );
    }
    let mounts = spec
        .volumes
        .iter()
        .map(|(vol, path)| Mount {
            target: Some(path.clone()),
            source: Some(project.resource_name(vol)),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        })
        .collect();
    let healthcheck = spec.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(h.test.clone()),
        interval: Some(ms_to_ns(h.interval_ms)),
        timeout: Some(ms_to_ns(h.timeout_ms)),
        retries: Some(i64::from(h.retries)),
        ..Default::default()
    });
    let endpoint = EndpointSettings { aliases: Some(vec![spec.name.clone()]), ..Default::default() };
    ContainerCreateBody {
        image: Some(image.to_string()),
        user: Some(spec.user.clone().unwrap_or_else(|| "10001:10001".into())),
        env: Some(env),
        labels: Some(labels),
        exposed_ports: Some(exposed),
        healthcheck,
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            mounts: Some(mounts),
            readonly_rootfs: Some(spec.read_only),
            network_mode: Some(network.to_string()),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some([(network.to_string(), endpoint)].into()),
        }),
        ..Default::default()
    }
}

fn ms_to_ns(ms: u64) -> i64 {
    i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX)
}

/// What the harness last asked of a pod: Docker reports a graceful stop and a crash alike
/// as "exited", and only the intent tells them apart on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Intent {
    #[default]
    Run,
    Stopped,
}

/// The status of `pod` from its inspection (`None`: no container).
pub fn status_of(
    pod: &str,
    default_image: &str,
    inspect: Option<&ContainerInspectResponse>,
    network: &str,
    intent: Intent,
    restarts: u32,
) -> PodStatus {
    let missing = PodStatus {
        name: pod.to_string(),
        version: split_image(default_image).1.to_string(),
        state: PodState::Missing,
        health: Health::Unknown,
        restarts,
        started_at: None,
        exit_code: None,
        image_id: None,
    };
    let Some(c) = inspect else { return missing };
    let image = c.config.as_ref().and_then(|c| c.image.clone()).unwrap_or_else(|| default_image.into());
    let state = c.state.clone().unwrap_or_default();
    let attached = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .is_some_and(|n| n.contains_key(network));
    let pod_state = match state.status {
        Some(ContainerStateStatusEnum::RUNNING) if !attached => PodState::Disconnected,
        Some(ContainerStateStatusEnum::RUNNING) => PodState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => PodState::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => PodState::Starting,
        Some(ContainerStateStatusEnum::CREATED) => PodState::Stopped,
        Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD)
            if intent == Intent::Stopped =>
        {
            PodState::Stopped
        }
        Some(ContainerStateStatusEnum::EXITED) | Some(ContainerStateStatusEnum::DEAD) => PodState::Exited,
        Some(ContainerStateStatusEnum::REMOVING) => PodState::Stopped,
        _ => PodState::Missing,
    };
    let running = matches!(pod_state, PodState::Running | PodState::Disconnected | PodState::Paused);
    let health = match state.health.as_ref().and_then(|h| h.status) {
        _ if !running => Health::Unknown,
        Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        Some(HealthStatusEnum::STARTING) => Health::Starting,
        _ => Health::Unknown,
    };
    let never_finished = state.finished_at.as_deref().is_none_or(never);
    let exit_code = if running || never_finished {
        None
    } else {
        state.exit_code
    };
    PodStatus {
        name: pod.to_string(),
        version: split_image(&image).1.to_string(),
        state: pod_state,
        health,
        restarts: restarts.saturating_add(u32::try_from(c.restart_count.unwrap_or(0)).unwrap_or(0)),
        started_at: state.started_at.as_deref().and_then(parse_time),
        exit_code,
        image_id: c.image.as_deref().map(short_image_id),
    }
}

/// `sha256:3f2a9c1b7d2e…` -> `3f2a9c1b7d2e`, as `docker ps` shows it.
pub fn short_image_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

/// Docker's "never" is the zero time `0001-01-01T00:00:00Z`.
fn never(t: &str) -> bool {
    t.starts_with("0001-")
}

/// An RFC 3339 time from Docker, `None` for its zero time.
pub fn parse_time(t: &str) -> Option<SystemTime> {
    if never(t) {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(t).ok().map(SystemTime::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::compose;
    use crate::runtime::{MANAGED_LABEL, PROJECT_LABEL};
    use bollard::models::{ContainerConfig, ContainerState, NetworkSettings};

    fn payment() -> PodSpec {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
        compose::load(&path).unwrap().pods.into_iter().find(|p| p.name == "payment").unwrap()
    }

    #[test]
    fn create_body_is_locked_down() {
        let body = create_body(&payment(), "faultline/payment:v2-fixed", "faultline", &Project::default());
        assert_eq!(body.image.as_deref(), Some("faultline/payment:v2-fixed"));
        assert_eq!(body.user.as_deref(), Some("10001:10001"));
        let host = body.host_config.unwrap();
        assert_eq!(host.readonly_rootfs, Some(true));
        let b = host.port_bindings.unwrap()["8080/tcp"].clone().unwrap();
        assert_eq!(b[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(b[0].host_port.as_deref(), Some("8082"));
        assert_eq!(host.mounts.unwrap()[0].source.as_deref(), Some("faultline-payment-data"));
        let labels = body.labels.unwrap();
        assert_eq!(labels[MANAGED_LABEL], "true");
        assert_eq!(labels[POD_LABEL], "payment");
        assert_eq!(labels[PROJECT_LABEL], "faultline");
        let ep = &body.networking_config.unwrap().endpoints_config.unwrap()["faultline"];
        assert_eq!(ep.aliases, Some(vec!["payment".to_string()]));
        assert_eq!(body.healthcheck.unwrap().interval, Some(2_000_000_000));
    }

    fn inspect(status: ContainerStateStatusEnum, attached: bool) -> ContainerInspectResponse {
        ContainerInspectResponse {
            config: Some(ContainerConfig { image: Some("faultline/payment:v2-fixed".into()), ..Default::default() }),
            image: Some("sha256:3f2a9c1b7d2e4f60a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718".into()),
            state: Some(ContainerState {
                status: Some(status),
                exit_code: Some(137),
                started_at: Some("2026-11-25T14:00:00.5Z".into()),
                finished_at: Some("2026-11-25T14:01:00Z".into()),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: attached.then(|| [("faultline".to_string(), EndpointSettings::default())].into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn states_map_with_intent_and_network() {
        let s = |st, att, intent| status_of("payment", "x:y", Some(&inspect(st, att)), "faultline", intent, 0);
        assert_eq!(s(ContainerStateStatusEnum::RUNNING, true, Intent::Run).state, PodState::Running);
        assert_eq!(s(ContainerStateStatusEnum::RUNNING, false, Intent::Run).state, PodState::Disconnected);
        assert_eq!(s(ContainerStateStatusEnum::PAUSED, true, Intent::Run).state, PodState::Paused);
        let killed = s(ContainerStateStatusEnum::EXITED, true, Intent::Run);
        assert_eq!((killed.state, killed.exit_code), (PodState::Exited, Some(137)));
        assert_eq!(s(ContainerStateStatusEnum::EXITED, true, Intent::Stopped).state, PodState::Stopped);
        assert_eq!(killed.version, "v2-fixed");
        assert_eq!(killed.image_id.as_deref(), Some("3f2a9c1b7d2e"), "the image it runs, as `docker ps` names it");
        assert!(killed.started_at.is_some());
        let missing = status_of("payment", "faultline/payment:v1-bugged", None, "faultline", Intent::Run, 0);
        assert_eq!((missing.state, missing.version.as_str(), missing.image_id), (PodState::Missing, "v1-bugged", None));
    }

    #[test]
    fn zero_time_is_none() {
        assert_eq!(parse_time("0001-01-01T00:00:00Z"), None);
        assert!(parse_time("2026-11-25T14:00:00.123456789Z").is_some());
    }
}
