//! The Docker runtime's equivalent commands: plain `docker` CLI lines against the very
//! container, network and volume names the runtime creates (`<project>-<pod>` on network
//! `<project>`), so that a line copied from the screen does what the key did. Pure: each
//! line is unit tested here and run for real in `tests/runtime_equivalent.rs`.

use super::actor::STOP_GRACE_S;
use super::spec::POD_LABEL;
use crate::runtime::shell::quote;
use crate::runtime::{EquivalentCommand, PodAction, PodState, PodStatus, RuntimeSetup, MANAGED_LABEL, PROJECT_LABEL};

/// The command that does `action` on `pod`. `current`: the pod's last known status (a
/// missing container is started with `docker run`, not `docker start`).
pub fn render(setup: &RuntimeSetup, pod: &str, action: &PodAction, current: Option<&PodStatus>) -> EquivalentCommand {
    if setup.topology.pod(pod).is_err() {
        return EquivalentCommand::NotOneLine { reason: format!("there is no pod `{pod}` in docker-compose.yml") };
    }
    let c = quote(&setup.project.container_name(pod));
    let net = quote(&setup.project.resource_name(&setup.topology.network));
    let missing = current.is_some_and(|s| s.state == PodState::Missing);
    let line = match action {
        PodAction::Start if missing => {
            return match run_line(setup, pod, current.map(|s| s.version.as_str())) {
                Ok(l) => EquivalentCommand::Line(l),
                Err(reason) => EquivalentCommand::NotOneLine { reason },
            }
        }
        PodAction::Start => format!("docker start {c}"),
        PodAction::Stop => format!("docker stop -t {STOP_GRACE_S} {c}"),
        PodAction::Kill => format!("docker kill --signal KILL {c}"),
        PodAction::Pause => format!("docker pause {c}"),
        PodAction::Unpause => format!("docker unpause {c}"),
        PodAction::Restart => format!("docker restart -t {STOP_GRACE_S} {c}"),
        PodAction::Deploy { version } => {
            return match run_line(setup, pod, Some(version)) {
                Ok(run) => EquivalentCommand::Line(format!("docker rm -f {c} && {run}")),
                Err(reason) => EquivalentCommand::NotOneLine { reason },
            }
        }
        PodAction::Disconnect => format!("docker network disconnect -f {net} {c}"),
        PodAction::Reconnect => format!("docker network connect --alias {} {net} {c}", quote(pod)),
    };
    EquivalentCommand::Line(line)
}

/// `R` by hand: rebuild the binaries and images from the checkout, then recreate the pod at
/// the version it runs now (`docker restart` would keep the old image).
pub fn rebuild(setup: &RuntimeSetup, pod: &str, current: Option<&PodStatus>) -> EquivalentCommand {
    let version = current.map(|s| s.version.clone()).or_else(|| {
        setup.topology.pod(pod).ok().map(|p| crate::runtime::split_image(&p.image).1.to_string())
    });
    let deploy = render(setup, pod, &PodAction::Deploy { version: version.unwrap_or_default() }, None);
    match deploy {
        EquivalentCommand::Line(deploy) => EquivalentCommand::Line(format!(
            "cd {} && cargo run --release -- images --compose {} && {deploy}",
            quote(&setup.workspace.display().to_string()),
            quote(&setup.compose_path.display().to_string()),
        )),
        other => other,
    }
}

/// `docker run` of `pod` at `version` (its compose version when `None`) with everything the
/// runtime gives the container: name, network and alias, user, read-only root, loopback
/// ports, volumes, environment, labels. Only the health check is missing: `docker run` can
/// only give a shell-form check, and a `FROM scratch` image has no shell.
fn run_line(setup: &RuntimeSetup, pod: &str, version: Option<&str>) -> Result<String, String> {
    let spec = setup.topology.pod(pod).map_err(|e| e.to_string())?;
    let image = match version {
        Some(v) => setup.topology.image_at(pod, v).map_err(|e| e.to_string())?,
        None => spec.image.clone(),
    };
    let p = &setup.project;
    let mut w: Vec<String> = vec!["docker run -d".into()];
    w.push(format!("--name {}", quote(&p.container_name(pod))));
    w.push(format!("--network {}", quote(&p.resource_name(&setup.topology.network))));
    w.push(format!("--network-alias {}", quote(pod)));
    w.push(format!("--user {}", quote(spec.user.as_deref().unwrap_or("10001:10001"))));
    if spec.read_only {
        w.push("--read-only".into());
    }
    for m in &spec.ports {
        w.push(format!("-p {}:{}:{}", m.host_ip, m.host_port, m.container_port));
    }
    for (vol, path) in &spec.volumes {
        w.push(format!("-v {}", quote(&format!("{}:{path}", p.resource_name(vol)))));
    }
    for (k, v) in &spec.environment {
        w.push(format!("-e {}", quote(&format!("{k}={v}"))));
    }
    w.push(format!("--label {MANAGED_LABEL}=true"));
    w.push(format!("--label {}", quote(&format!("{PROJECT_LABEL}={}", p.name()))));
    w.push(format!("--label {}", quote(&format!("{POD_LABEL}={pod}"))));
    w.push(quote(&image));
    Ok(w.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Health, Project};

    fn setup(project: &str) -> RuntimeSetup {
        let compose = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
        RuntimeSetup::load(&compose, &Project::new(project, 0).unwrap()).unwrap()
    }

    fn line(c: EquivalentCommand) -> String {
        c.line().map(str::to_string).unwrap_or_else(|| panic!("not a line: {c}"))
    }

    #[test]
    fn actions_name_the_real_container_and_network() {
        let s = setup("faultline");
        let r = |a: PodAction| line(render(&s, "notification", &a, None));
        assert_eq!(r(PodAction::Unpause), "docker unpause faultline-notification");
        assert_eq!(r(PodAction::Kill), "docker kill --signal KILL faultline-notification");
        assert_eq!(r(PodAction::Stop), "docker stop -t 5 faultline-notification");
        assert_eq!(r(PodAction::Disconnect), "docker network disconnect -f faultline faultline-notification");
        assert_eq!(r(PodAction::Reconnect), "docker network connect --alias notification faultline faultline-notification");
        let other = setup("talk2");
        assert_eq!(line(render(&other, "payment", &PodAction::Pause, None)), "docker pause talk2-payment");
    }

    #[test]
    fn deploy_recreates_with_everything_the_runtime_sets() {
        let s = setup("talk2");
        let d = line(render(&s, "payment", &PodAction::Deploy { version: "v2-fixed".into() }, None));
        assert!(d.starts_with("docker rm -f talk2-payment && docker run -d --name talk2-payment --network talk2 --network-alias payment"), "{d}");
        for part in [
            "--user 10001:10001",
            "--read-only",
            "-p 127.0.0.1:8082:8080",
            "-v talk2-payment-data:/data",
            "-e FAULTLINE_LISTEN=0.0.0.0:8080",
            "--label dev.faultline.managed=true",
            "--label dev.faultline.project=talk2",
            "--label dev.faultline.pod=payment",
        ] {
            assert!(d.contains(part), "{part} missing in {d}");
        }
        assert!(d.ends_with(" faultline/payment:v2-fixed"), "{d}");
        assert!(!d.contains("faultline_faultline") && !d.contains("compose"), "{d}");
        let bad = render(&s, "payment", &PodAction::Deploy { version: "v9".into() }, None);
        assert!(matches!(&bad, EquivalentCommand::NotOneLine { reason } if reason.contains("v2-fixed")), "{bad}");
    }

    #[test]
    fn start_of_a_missing_pod_runs_it_and_rebuild_recreates_at_the_current_version() {
        let s = setup("faultline");
        let missing = PodStatus {
            name: "payment".into(),
            version: "v2-fixed".into(),
            state: PodState::Missing,
            health: Health::Unknown,
            restarts: 0,
            started_at: None,
            exit_code: None,
            image_id: None,
        };
        let start = line(render(&s, "payment", &PodAction::Start, Some(&missing)));
        assert!(start.starts_with("docker run -d --name faultline-payment"), "{start}");
        let running = PodStatus { state: PodState::Running, ..missing };
        assert_eq!(line(render(&s, "payment", &PodAction::Start, Some(&running))), "docker start faultline-payment");
        let r = line(rebuild(&s, "payment", Some(&running)));
        assert!(r.contains("cargo run --release -- images --compose ") && r.contains("docker rm -f faultline-payment && docker run"), "{r}");
        assert!(r.ends_with("faultline/payment:v2-fixed"), "{r}");
        assert!(!r.contains("restart") && !r.contains("&& faultline "), "{r}");
    }
}
