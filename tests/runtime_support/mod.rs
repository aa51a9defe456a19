//! Helpers shared by the runtime integration tests (`tests/runtime_*.rs`): test projects,
//! waiting on the status stream with a deadline, probing `/healthz`, and the Docker
//! skip/require rule.
//!
//! Every test runs under its own project, `fltest-<name>`, with its own host-port offset,
//! so it never touches (nor collides with) a demo running under the default project, and
//! cleans up only what carries its project label. `.ci/run` removes whatever `fltest-*`
//! projects a crashed test left behind.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bollard::query_parameters as q;
use faultline::runtime::{PodStatus, Project, RuntimeError};
use futures::stream::BoxStream;
use futures::StreamExt;

pub fn compose_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")
}

/// The project of one test: `fltest-<name>`, host ports moved by `offset` (pick one per
/// test, a multiple of 100 from 20000; the ports stay below the ephemeral range).
pub fn test_project(name: &str, offset: u16) -> Project {
    Project::new(&format!("fltest-{name}"), offset).expect("a valid test project name")
}

/// Asserts that no container, network or volume of `project` remains.
pub async fn assert_nothing_of_project_remains(project: &Project) {
    let docker = faultline::runtime::docker::connect_daemon().await.expect("daemon");
    let filters: HashMap<&str, Vec<String>> = [("label", vec![project.label_filter()])].into();
    let containers = docker
        .list_containers(Some(q::ListContainersOptionsBuilder::new().all(true).filters(&filters).build()))
        .await
        .expect("list containers");
    assert!(containers.is_empty(), "containers left: {containers:?}");
    let nets = docker
        .list_networks(Some(q::ListNetworksOptionsBuilder::new().filters(&filters).build()))
        .await
        .expect("list networks");
    assert!(nets.is_empty(), "networks left: {nets:?}");
    let vols = docker
        .list_volumes(Some(q::ListVolumesOptionsBuilder::new().filters(&filters).build()))
        .await
        .expect("list volumes");
    assert!(vols.volumes.unwrap_or_default().is_empty(), "volumes left");
}

/// `FAULTLINE_REQUIRE_DOCKER=1` (CI): a missing daemon fails the test instead of skipping it.
pub fn docker_required() -> bool {
    std::env::var("FAULTLINE_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

/// Returns true when the test should be skipped (Docker unavailable and not required).
pub fn skip_without_docker(err: &RuntimeError, test: &str) -> bool {
    if matches!(err, RuntimeError::DockerUnavailable(_)) && !docker_required() {
        eprintln!("SKIPPED {test}: {err} (set FAULTLINE_REQUIRE_DOCKER=1 to make this a failure)");
        return true;
    }
    false
}

/// Consumes `stream` until `pod` reaches a status satisfying `pred`; panics at the deadline
/// with the last status seen.
pub async fn wait_status(
    stream: &mut BoxStream<'static, PodStatus>,
    pod: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&PodStatus) -> bool,
) -> PodStatus {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(s)) if s.name == pod => {
                if pred(&s) {
                    return s;
                }
                last = Some(s);
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("status stream ended while waiting for {pod}: {what}"),
            Err(_) => panic!("{pod} did not reach `{what}` within {timeout:?}; last status: {last:?}"),
        }
    }
}

/// `GET http://127.0.0.1:<port>/healthz` with a short timeout; the JSON body when it answers.
pub async fn healthz(port: u16) -> Option<serde_json::Value> {
    let client = reqwest::Client::builder().no_proxy().build().ok()?;
    let resp = client
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_millis(1_500))
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    resp.json().await.ok()
}

/// Polls `/healthz` until it answers, or panics at the deadline.
pub async fn wait_healthz(port: u16, timeout: Duration) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(body) = healthz(port).await {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "127.0.0.1:{port}/healthz did not answer within {timeout:?}");
        // A short pause between probes of a condition that has a deadline, not a sync sleep.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub const STEP: Duration = Duration::from_secs(60);

use faultline::runtime::{Health, PodAction, PodRuntime, PodState};

/// The control sequence both runtimes must pass, each effect observed from outside:
/// stop, start, kill (SIGKILL), pause/unpause, deploy v2-fixed (and back), and, when the
/// runtime supports it, disconnect/reconnect. Expects the topology up and healthy.
pub async fn exercise_payment(rt: &dyn PodRuntime, network_faults: bool) {
    let port = rt.topology().pod("payment").expect("payment pod").ports[0].host_port;
    let mut statuses = rt.status_stream();
    let healthy = |s: &PodStatus| s.state == PodState::Running && s.health == Health::Healthy;

    let body = wait_healthz(port, STEP).await;
    assert_eq!(body["build"], "v1-bugged", "payment starts at the compose version: {body}");

    rt.act("payment", PodAction::Stop).await.expect("stop");
    wait_status(&mut statuses, "payment", "stopped", STEP, |s| s.state == PodState::Stopped).await;
    assert!(healthz(port).await.is_none(), "a stopped payment pod must not answer");

    rt.act("payment", PodAction::Start).await.expect("start");
    let started = wait_status(&mut statuses, "payment", "healthy after start", STEP, healthy).await;
    assert!(started.started_at.is_some());
    wait_healthz(port, STEP).await;

    rt.act("payment", PodAction::Kill).await.expect("kill");
    let killed = wait_status(&mut statuses, "payment", "exited", STEP, |s| s.state == PodState::Exited).await;
    assert_eq!(killed.exit_code, Some(137), "SIGKILL shows as 128 + 9");
    rt.act("payment", PodAction::Start).await.expect("start after kill");
    let restarted = wait_status(&mut statuses, "payment", "healthy after kill", STEP, healthy).await;
    assert!(restarted.restarts >= 2, "two restarts counted: {restarted:?}");

    rt.act("payment", PodAction::Pause).await.expect("pause");
    wait_status(&mut statuses, "payment", "paused", STEP, |s| s.state == PodState::Paused).await;
    assert!(healthz(port).await.is_none(), "a paused pod must not answer /healthz");
    rt.act("payment", PodAction::Unpause).await.expect("unpause");
    wait_status(&mut statuses, "payment", "running after unpause", STEP, |s| s.state == PodState::Running).await;
    wait_healthz(port, STEP).await;

    let err = rt
        .act("payment", PodAction::Deploy { version: "v9-nope".into() })
        .await
        .expect_err("an unknown version is refused");
    assert!(err.to_string().contains("v2-fixed"), "the error lists the versions: {err}");

    rt.act("payment", PodAction::Deploy { version: "v2-fixed".into() }).await.expect("deploy v2-fixed");
    wait_status(&mut statuses, "payment", "v2-fixed healthy", STEP, |s| s.version == "v2-fixed" && healthy(s)).await;
    let body = wait_healthz(port, STEP).await;
    assert_eq!(body["build"], "v2-fixed", "the pod now runs the fixed build: {body}");

    if network_faults {
        rt.act("payment", PodAction::Disconnect).await.expect("disconnect");
        wait_status(&mut statuses, "payment", "disconnected", STEP, |s| s.state == PodState::Disconnected).await;
        rt.act("payment", PodAction::Reconnect).await.expect("reconnect");
        wait_status(&mut statuses, "payment", "reconnected", STEP, |s| s.state == PodState::Running).await;
    } else {
        // Local processes share one network: a pod is cut off through the fault proxy's links.
        rt.act("payment", PodAction::Disconnect).await.expect("disconnect through the proxy");
        rt.act("payment", PodAction::Reconnect).await.expect("reconnect through the proxy");
    }

    rt.act("payment", PodAction::Deploy { version: "v1-bugged".into() }).await.expect("deploy back");
    wait_status(&mut statuses, "payment", "v1-bugged healthy", STEP, |s| s.version == "v1-bugged" && healthy(s)).await;

    let err = rt.act("nope", PodAction::Kill).await.expect_err("unknown pod");
    assert!(matches!(err, RuntimeError::UnknownPod(_)), "{err}");

    // The merged log stream carries the pods' own output.
    let mut logs = rt.log_stream();
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        match tokio::time::timeout_at(deadline, logs.next()).await {
            Ok(Some(l)) if l.pod == "payment" && !l.line.is_empty() => break,
            Ok(Some(_)) => {}
            other => panic!("no payment log line within {STEP:?}: {other:?}"),
        }
    }
}

/// A one-pod compose file: `pod` from `image` (its versions listed in `images`, image ->
/// binary), listening on 8080, published on 127.0.0.1:`host_port` (before the project's
/// offset), with a data volume and a fast health check. Written into `dir`.
pub fn one_pod_compose(dir: &std::path::Path, pod: &str, image: &str, host_port: u16, images: &[(&str, &str)]) -> PathBuf {
    let mut text = format!(
        "services:\n  {pod}:\n    image: \"{image}\"\n    user: \"10001:10001\"\n    read_only: true\n    \
         environment: {{FAULTLINE_LISTEN: \"0.0.0.0:8080\", FAULTLINE_DATA: /data, RUST_LOG: info}}\n    \
         ports: [\"127.0.0.1:{host_port}:8080\"]\n    volumes: [\"{pod}-data:/data\"]\n    \
         healthcheck: {{test: [\"CMD\", \"/app\", \"healthcheck\"], interval: 1s, timeout: 2s, retries: 30}}\n\
         networks:\n  faultline: {{}}\nvolumes:\n  {pod}-data: {{}}\nx-faultline-images:\n"
    );
    for (image, binary) in images {
        text.push_str(&format!("  \"{image}\": {binary}\n"));
    }
    let path = dir.join("docker-compose.yml");
    std::fs::write(&path, text).expect("write the test compose file");
    path
}

/// Runs `line` with `sh -c` and asserts it succeeds.
pub async fn sh(line: &str) {
    eprintln!("$ {line}");
    let out = tokio::process::Command::new("sh").arg("-c").arg(line).output().await.expect("run sh");
    assert!(
        out.status.success(),
        "`{line}` failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
