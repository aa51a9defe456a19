//! The setup defects of the trial, each reproduced:
//! - a container left on an old image under the same tag is recreated at setup;
//! - a second controller of a project is refused, naming the holder (and `attach` watches
//!   read-only), in-process and through the real `faultline run --headless`;
//! - one project's `down` (what a test does) never touches another project (a demo);
//! - a taken host port is reported as `127.0.0.1:<port> is already in use`, on Docker and
//!   on local processes.

mod runtime_support;

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::Duration;

use bollard::query_parameters as q;
use faultline::runtime::images::{build_one, ensure_images, locate_binaries_async, workspace_dir};
use faultline::runtime::local::LocalRuntime;
use faultline::runtime::{compose, connect, Access, Describe, PodAction, PodRuntime, PodState, RuntimeChoice, RuntimeError, RuntimeSetup};
use runtime_support::*;

async fn container_image(docker: &bollard::Docker, name: &str) -> String {
    docker
        .inspect_container(name, None::<q::InspectContainerOptions>)
        .await
        .expect("inspect container")
        .image
        .expect("image id")
}

async fn image_id(docker: &bollard::Docker, tag: &str) -> String {
    docker.inspect_image(tag).await.expect("inspect image").id.expect("id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_on_an_old_image_of_its_tag_is_recreated_at_setup() {
    const TAG: &str = "fltest-stale/notification:latest";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = one_pod_compose(dir.path(), "notification", TAG, 8084, &[(TAG, "notification")]);
    let project = test_project("stale", 20600);
    let connected = match connect(RuntimeChoice::Docker, &file, &project, Access::Control).await {
        Ok(c) => c,
        Err(e) if skip_without_docker(&e, "a_container_on_an_old_image_of_its_tag_is_recreated_at_setup") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    let rt = connected.runtime;
    let docker = faultline::runtime::docker::connect_daemon().await.expect("daemon");
    let real = compose::load(&compose_path()).expect("compose");
    let print = |l: &str| eprintln!("{l}");
    let bins = locate_binaries_async(workspace_dir(&compose_path()), real.binaries(), true, &print).await.expect("binaries");
    let bin = std::fs::read(&bins["notification"]).expect("read the notification binary");
    // Two builds under one tag that differ (as after `R` and a checkout of the fix).
    build_one(&docker, TAG, "notification", "fltest-generation-1", bin.clone(), &print).await.expect("build 1");
    let first = image_id(&docker, TAG).await;
    rt.down(true).await.expect("clean slate");
    rt.up().await.expect("up on the first build");
    assert_eq!(container_image(&docker, "fltest-stale-notification").await, first);

    build_one(&docker, TAG, "notification", "fltest-generation-2", bin, &print).await.expect("build 2");
    let second = image_id(&docker, TAG).await;
    assert_ne!(first, second, "the second build is another image under the same tag");
    rt.up().await.expect("setup again");
    assert_eq!(container_image(&docker, "fltest-stale-notification").await, second, "setup recreated the stale container");
    let status = rt.status().await.expect("status");
    assert_eq!(status[0].state, PodState::Running, "{status:?}");

    rt.down(true).await.expect("down");
    assert_nothing_of_project_remains(&project).await;
    let _ = docker.remove_image(TAG, Some(q::RemoveImageOptionsBuilder::new().force(true).build()), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_controller_is_refused_naming_the_holder_and_attach_watches_read_only() {
    let project = test_project("held", 21000);
    let compose = compose_path();
    let first = connect(RuntimeChoice::Local, &compose, &project, Access::Control).await.expect("the first controller");
    let me = format!("pid {}", std::process::id());

    let Err(e) = connect(RuntimeChoice::Local, &compose, &project, Access::Control).await else {
        panic!("a second controller must be refused")
    };
    let msg = e.to_string();
    assert!(matches!(e, RuntimeError::ProjectHeld { .. }), "{msg}");
    assert!(msg.contains("project `fltest-held` is held by") && msg.contains(&me), "{msg}");
    assert!(msg.contains("--project NAME") && msg.contains("faultline attach"), "{msg}");

    let watcher = connect(RuntimeChoice::Local, &compose, &project, Access::Watch).await.expect("attach");
    assert!(watcher.notice.as_deref().is_some_and(|n| n.contains("read-only") && n.contains(&me)), "{:?}", watcher.notice);
    let refused = watcher.runtime.act("worker", PodAction::Start).await.expect_err("read-only");
    assert!(matches!(refused, RuntimeError::ReadOnly { .. }) && refused.to_string().contains(&me), "{refused}");
    assert!(watcher.runtime.status().await.is_ok(), "watching still shows the pods");

    // The real CLI: a second runner on the same project exits with the holder's name,
    // before touching any pod.
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["--runtime", "local", "--project", project.name(), "--compose"])
            .arg(&compose)
            .args(["run", "--headless"])
            .arg(workspace_dir(&compose).join("scenarios/all-up.toml"))
            .output(),
    )
    .await
    .expect("the second runner answers at once")
    .expect("run faultline");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the second runner must fail: {stderr}");
    assert!(stderr.contains("project `fltest-held` is held by") && stderr.contains(&me), "{stderr}");

    drop(first);
    let again = connect(RuntimeChoice::Local, &compose, &project, Access::Control).await;
    assert!(again.is_ok(), "released when the holder goes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_down_never_touches_another_project() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = [("faultline/payment:v1-bugged", "payment")];
    let file = one_pod_compose(dir.path(), "payment", "faultline/payment:v1-bugged", 8082, &images);
    let demo_project = test_project("demo", 20700);
    let demo = match connect(RuntimeChoice::Docker, &file, &demo_project, Access::Control).await {
        Ok(c) => c.runtime,
        Err(e) if skip_without_docker(&e, "a_projects_down_never_touches_another_project") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    ensure_images(&compose_path(), false).await.expect("faultline images");
    demo.up().await.expect("the demo is up");
    // What every Docker test does first and last: `down --volumes` of its own project.
    let test = connect(RuntimeChoice::Docker, &file, &test_project("other", 20800), Access::Control).await.expect("connect");
    test.runtime.down(true).await.expect("the test project's down");

    let docker = faultline::runtime::docker::connect_daemon().await.expect("daemon");
    let c = docker.inspect_container("fltest-demo-payment", None::<q::InspectContainerOptions>).await.expect("the demo's pod is still there");
    assert_eq!(c.state.and_then(|s| s.running), Some(true));
    docker.inspect_network("fltest-demo", None::<q::InspectNetworkOptions>).await.expect("the demo's network is still there");
    docker.inspect_volume("fltest-demo-payment-data").await.expect("the demo's volume is still there");
    let filters: HashMap<&str, Vec<String>> = [("label", vec![demo_project.label_filter()])].into();
    let listed = docker.list_containers(Some(q::ListContainersOptionsBuilder::new().filters(&filters).build())).await.expect("list");
    assert_eq!(listed.len(), 1);

    demo.down(true).await.expect("the demo's own down");
    assert_nothing_of_project_remains(&demo_project).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_named_on_docker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = [("faultline/payment:v1-bugged", "payment")];
    let file = one_pod_compose(dir.path(), "payment", "faultline/payment:v1-bugged", 8082, &images);
    let project = test_project("port", 20900);
    let connected = match connect(RuntimeChoice::Docker, &file, &project, Access::Control).await {
        Ok(c) => c,
        Err(e) if skip_without_docker(&e, "a_taken_port_is_named_on_docker") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    ensure_images(&compose_path(), false).await.expect("faultline images");
    let rt = connected.runtime;
    rt.down(true).await.expect("clean slate");
    let taken = TcpListener::bind("127.0.0.1:28982").expect("bind the pod's port first");
    let e = rt.up().await.expect_err("the port is taken");
    assert!(matches!(e, RuntimeError::PortInUse { .. }), "{e}");
    assert!(e.to_string().starts_with("127.0.0.1:28982 is already in use"), "{e}");
    drop(taken);
    rt.up().await.expect("up once the port is free");
    rt.down(true).await.expect("down");
    assert_nothing_of_project_remains(&project).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_named_on_local_processes() {
    let setup = RuntimeSetup::load(&compose_path(), &test_project("port-local", 21100)).expect("compose");
    let data = tempfile::tempdir().expect("tempdir");
    let rt = LocalRuntime::new(setup, data.path().to_path_buf());
    let engine_port = rt.topology().pod("engine").expect("engine").ports[0].host_port;
    assert_eq!(engine_port, 28333);
    let taken = TcpListener::bind(("127.0.0.1", engine_port)).expect("bind the engine's port first");
    let e = rt.up().await.expect_err("the port is taken");
    assert!(e.to_string().starts_with("127.0.0.1:28333 is already in use"), "{e}");
    drop(taken);
    rt.down(true).await.expect("down");
}
