//! The equivalent commands shown on screen, run for real: for each pod action the runtime
//! renders its command, the test runs it with `sh -c`, and the runtime's own status must
//! show the action's effect. Docker (kill, start, stop, pause, unpause, deploy a version,
//! disconnect, reconnect, start of a removed container, restart) against the real daemon,
//! under the test project `fltest-eqv`; local processes (kill, stop, pause, unpause by pid)
//! under `fltest-eqv-local`. What has no one-line equivalent must say so.

mod runtime_support;

use faultline::runtime::images::ensure_images;
use faultline::runtime::local::LocalRuntime;
use faultline::runtime::{
    connect, Access, Describe, EquivalentCommand, Health, PodAction, PodRuntime, PodState, PodStatus, RuntimeChoice, RuntimeSetup,
};
use runtime_support::*;

/// Renders `action`'s equivalent command on `pod` and runs it.
async fn run_equivalent(rt: &dyn PodRuntime, pod: &str, action: PodAction) -> String {
    let cmd = rt.equivalent_command(pod, &action);
    let line = cmd.line().unwrap_or_else(|| panic!("{} has no line: {cmd}", action.describe())).to_string();
    sh(&line).await;
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_equivalent_commands_have_their_effect() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = [("faultline/payment:v1-bugged", "payment"), ("faultline/payment:v2-fixed", "payment-v2")];
    let compose = one_pod_compose(dir.path(), "payment", "faultline/payment:v1-bugged", 8082, &images);
    let project = test_project("eqv", 20400);
    let connected = match connect(RuntimeChoice::Docker, &compose, &project, Access::Control).await {
        Ok(c) => c,
        Err(e) if skip_without_docker(&e, "docker_equivalent_commands_have_their_effect") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    ensure_images(&compose_path(), false).await.expect("faultline images");
    let rt = connected.runtime;
    rt.down(true).await.expect("clean slate");
    rt.up().await.expect("up");
    let port = rt.topology().pod("payment").expect("payment").ports[0].host_port;
    assert_eq!(port, 28482);
    let mut st = rt.status_stream();
    let running = |s: &PodStatus| s.state == PodState::Running;
    let healthy = |s: &PodStatus| s.state == PodState::Running && s.health == Health::Healthy;

    let line = run_equivalent(rt.as_ref(), "payment", PodAction::Kill).await;
    assert_eq!(line, "docker kill --signal KILL fltest-eqv-payment");
    let killed = wait_status(&mut st, "payment", "killed", STEP, |s| s.state == PodState::Exited).await;
    assert_eq!(killed.exit_code, Some(137));

    assert_eq!(run_equivalent(rt.as_ref(), "payment", PodAction::Start).await, "docker start fltest-eqv-payment");
    wait_status(&mut st, "payment", "healthy after start", STEP, healthy).await;

    run_equivalent(rt.as_ref(), "payment", PodAction::Stop).await;
    wait_status(&mut st, "payment", "stopped", STEP, |s| matches!(s.state, PodState::Exited | PodState::Stopped)).await;
    assert!(healthz(port).await.is_none(), "a stopped pod does not answer");
    run_equivalent(rt.as_ref(), "payment", PodAction::Start).await;
    wait_status(&mut st, "payment", "healthy after the second start", STEP, healthy).await;

    run_equivalent(rt.as_ref(), "payment", PodAction::Pause).await;
    wait_status(&mut st, "payment", "paused", STEP, |s| s.state == PodState::Paused).await;
    run_equivalent(rt.as_ref(), "payment", PodAction::Unpause).await;
    wait_status(&mut st, "payment", "running after unpause", STEP, running).await;

    let deploy = run_equivalent(rt.as_ref(), "payment", PodAction::Deploy { version: "v2-fixed".into() }).await;
    assert!(deploy.contains("--network fltest-eqv ") && deploy.contains("-p 127.0.0.1:28482:8080"), "{deploy}");
    wait_status(&mut st, "payment", "v2-fixed running", STEP, |s| s.version == "v2-fixed" && running(s)).await;
    let body = wait_healthz(port, STEP).await;
    assert_eq!(body["build"], "v2-fixed", "the hand-deployed pod runs the fixed build: {body}");

    run_equivalent(rt.as_ref(), "payment", PodAction::Disconnect).await;
    wait_status(&mut st, "payment", "disconnected", STEP, |s| s.state == PodState::Disconnected).await;
    run_equivalent(rt.as_ref(), "payment", PodAction::Reconnect).await;
    wait_status(&mut st, "payment", "reconnected", STEP, running).await;

    // A removed container is started with `docker run`, not `docker start`.
    sh("docker rm -f fltest-eqv-payment").await;
    wait_status(&mut st, "payment", "missing", STEP, |s| s.state == PodState::Missing).await;
    let start = run_equivalent(rt.as_ref(), "payment", PodAction::Start).await;
    assert!(start.starts_with("docker run -d --name fltest-eqv-payment"), "{start}");
    wait_status(&mut st, "payment", "running after docker run", STEP, running).await;
    wait_healthz(port, STEP).await;

    let before = rt.status().await.expect("status").into_iter().find(|s| s.name == "payment").and_then(|s| s.started_at);
    run_equivalent(rt.as_ref(), "payment", PodAction::Restart).await;
    wait_status(&mut st, "payment", "restarted", STEP, |s| running(s) && s.started_at != before).await;

    // `R` by hand: images from the checkout, then a recreate at the current version.
    let rebuild = rt.rebuild_command("payment");
    let rebuild = rebuild.line().expect("the Docker rebuild is one line");
    assert!(rebuild.contains("cargo run --release -- images --compose ") && rebuild.contains("docker rm -f fltest-eqv-payment && docker run"), "{rebuild}");
    assert!(rebuild.ends_with("faultline/payment:v1-bugged"), "the pod runs v1-bugged again after the docker run: {rebuild}");

    rt.down(true).await.expect("down");
    assert_nothing_of_project_remains(&project).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_equivalent_commands_have_their_effect() {
    let setup = RuntimeSetup::load(&compose_path(), &test_project("eqv-local", 20500)).expect("compose");
    let data = tempfile::tempdir().expect("tempdir");
    let rt = LocalRuntime::new(setup, data.path().to_path_buf());
    let port = rt.topology().pod("payment").expect("payment").ports[0].host_port;
    let mut st = rt.status_stream();
    let healthy = |s: &PodStatus| s.state == PodState::Running && s.health == Health::Healthy;

    let not_running = rt.equivalent_command("payment", &PodAction::Kill);
    assert!(matches!(&not_running, EquivalentCommand::NotOneLine { reason } if reason.contains("no running process")), "{not_running}");

    rt.act("payment", PodAction::Start).await.expect("start");
    wait_status(&mut st, "payment", "healthy", STEP, healthy).await;

    let line = run_equivalent(&rt, "payment", PodAction::Pause).await;
    assert!(line.starts_with("kill -STOP ") && line[11..].parse::<u32>().is_ok(), "{line}");
    wait_status(&mut st, "payment", "paused", STEP, |s| s.state == PodState::Paused).await;
    assert!(healthz(port).await.is_none(), "a stopped process does not answer");
    run_equivalent(&rt, "payment", PodAction::Unpause).await;
    wait_status(&mut st, "payment", "running again", STEP, |s| s.state == PodState::Running).await;
    wait_healthz(port, STEP).await;

    run_equivalent(&rt, "payment", PodAction::Stop).await;
    wait_status(&mut st, "payment", "terminated", STEP, |s| matches!(s.state, PodState::Exited | PodState::Stopped)).await;
    rt.act("payment", PodAction::Start).await.expect("start again");
    wait_status(&mut st, "payment", "healthy again", STEP, healthy).await;

    run_equivalent(&rt, "payment", PodAction::Kill).await;
    let killed = wait_status(&mut st, "payment", "killed", STEP, |s| s.state == PodState::Exited).await;
    assert_eq!(killed.exit_code, Some(137));

    for action in [PodAction::Start, PodAction::Deploy { version: "v2-fixed".into() }] {
        let c = rt.equivalent_command("payment", &action);
        assert!(matches!(c, EquivalentCommand::NotOneLine { .. }), "{}: {c}", action.describe());
    }

    // Cutting a local pod off is its proxy links going down: the curl lines do it by hand.
    rt.act("proxy", PodAction::Start).await.expect("start the proxy");
    wait_status(&mut st, "proxy", "healthy", STEP, healthy).await;
    let link_up = |up: bool| {
        let rt = &rt;
        async move { rt.link_status().await.expect("the proxy answers").iter().find(|l| l.name == "worker->payment").is_some_and(|l| l.enabled == up) }
    };
    let line = run_equivalent(&rt, "payment", PodAction::Disconnect).await;
    assert!(line.starts_with("curl -sX POST http://127.0.0.1:") && line.contains("/proxies/worker-%3Epayment"), "{line}");
    assert!(link_up(false).await, "the curl line took the link down");
    run_equivalent(&rt, "payment", PodAction::Reconnect).await;
    assert!(link_up(true).await, "and up again");
    assert!(rt.rebuild_command("payment").to_string().contains("cargo build --release --workspace --bins"));
    rt.down(true).await.expect("down");
}
