//! The Docker runtime against the real daemon: build the images, bring the whole topology
//! up, drive the payment pod through every control action observing each effect, tear down
//! and check nothing labelled `dev.faultline.managed` remains.
//!
//! One test function does the whole sequence, because the topology has fixed names and
//! host ports. Without a daemon it is skipped with a notice, unless
//! `FAULTLINE_REQUIRE_DOCKER=1` (CI), where it fails.

mod runtime_support;

use std::collections::HashMap;

use bollard::query_parameters as q;
use faultline::runtime::images::{build_images, ensure_images, ImageOutcome, MAX_IMAGE_BYTES};
use faultline::runtime::{connect, Health, PodState, RuntimeChoice, MANAGED_LABEL};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_topology_lifecycle() {
    let compose = compose_path();
    let connected = match connect(RuntimeChoice::Docker, &compose).await {
        Ok(c) => c,
        Err(e) if skip_without_docker(&e, "docker_topology_lifecycle") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    let rt = connected.runtime;
    assert_eq!(rt.kind(), "docker");

    // Images: every x-faultline-images entry, each under the size limit; a second pass
    // finds them all up to date.
    let reports = ensure_images(&compose, false).await.expect("faultline images");
    assert_eq!(reports.len(), rt.topology().images.len());
    for r in &reports {
        assert!(r.size_bytes > 0 && r.size_bytes < MAX_IMAGE_BYTES, "{} is {} bytes", r.image, r.size_bytes);
        eprintln!("image {} ({}): {:.1} MB, {:?}", r.image, r.binary, r.size_bytes as f64 / 1048576.0, r.outcome);
    }
    // Same binaries again: every image is recognised as up to date by its content hash.
    let binaries = reports.iter().map(|r| (r.binary.clone(), r.binary_path.clone())).collect();
    let docker = faultline::runtime::docker::connect_daemon().await.expect("daemon");
    let again = build_images(&docker, rt.topology(), &binaries, false, &|l: &str| eprintln!("{l}"))
        .await
        .expect("faultline images, again");
    assert!(again.iter().all(|r| r.outcome == ImageOutcome::UpToDate), "{again:?}");

    rt.down(true).await.expect("clean slate");
    rt.up().await.expect("topology up");
    for s in rt.status().await.expect("status") {
        assert_eq!((s.state, s.health), (PodState::Running, Health::Healthy), "{s:?}");
    }
    let engine = rt.engine_url();
    assert_eq!(engine, "http://127.0.0.1:7233");

    exercise_payment(rt.as_ref(), true).await;

    // `up` again on a running topology is a no-op that succeeds.
    rt.up().await.expect("up is idempotent");

    rt.down(true).await.expect("down --volumes");
    for s in rt.status().await.expect("status after down") {
        assert_eq!(s.state, PodState::Missing, "{s:?}");
    }
    assert_nothing_labelled_remains().await;
}

async fn assert_nothing_labelled_remains() {
    let docker = faultline::runtime::docker::connect_daemon().await.expect("daemon");
    let filters: HashMap<&str, Vec<String>> = [("label", vec![format!("{MANAGED_LABEL}=true")])].into();
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
