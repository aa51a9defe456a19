//! The Docker runtime against the real daemon: build the images, bring the whole topology
//! up, drive the payment pod through every control action observing each effect, tear down
//! and check nothing of the test's project remains.
//!
//! One test function does the whole sequence, under its own project (`fltest-lifecycle`,
//! host ports moved by 20000), so a demo running beside it is never touched. Without a
//! daemon it is skipped with a notice, unless `FAULTLINE_REQUIRE_DOCKER=1` (CI), where it
//! fails.

mod runtime_support;

use faultline::runtime::images::{build_images, ensure_images, ImageOutcome, MAX_IMAGE_BYTES};
use faultline::runtime::{connect, Access, Health, PodState, RuntimeChoice, RuntimeKind};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_topology_lifecycle() {
    let compose = compose_path();
    let project = test_project("lifecycle", 20000);
    let connected = match connect(RuntimeChoice::Docker, &compose, &project, Access::Control).await {
        Ok(c) => c,
        Err(e) if skip_without_docker(&e, "docker_topology_lifecycle") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    let rt = connected.runtime;
    assert_eq!(rt.kind(), RuntimeKind::Docker);

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
    let again = build_images(&docker, &rt.topology().images, &binaries, false, &|l: &str| eprintln!("{l}"))
        .await
        .expect("faultline images, again");
    assert!(again.iter().all(|r| r.outcome == ImageOutcome::UpToDate), "{again:?}");

    rt.down(true).await.expect("clean slate");
    rt.up().await.expect("topology up");
    for s in rt.status().await.expect("status") {
        assert_eq!((s.state, s.health), (PodState::Running, Health::Healthy), "{s:?}");
    }
    let engine = rt.engine_url();
    assert_eq!(engine, "http://127.0.0.1:27233", "the project's port offset applies");

    exercise_payment(rt.as_ref(), true).await;

    // `up` again on a running topology is a no-op that succeeds.
    rt.up().await.expect("up is idempotent");

    rt.down(true).await.expect("down --volumes");
    for s in rt.status().await.expect("status after down") {
        assert_eq!(s.state, PodState::Missing, "{s:?}");
    }
    assert_nothing_of_project_remains(&project).await;
}

/// `R` (and `faultline rebuild`) on Docker, on a project with nothing up yet: only the pod's
/// binaries and images, the network made for it, the pod recreated and serving, each stage
/// heard in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_redeploys_the_pod_and_waits_until_it_serves() {
    use faultline::runtime::workshop::timed_rebuild;
    use faultline::runtime::RebuildStage;
    let compose = compose_path();
    let project = test_project("rebuild", 20500);
    let connected = match connect(RuntimeChoice::Docker, &compose, &project, Access::Control).await {
        Ok(c) => c,
        Err(e) if skip_without_docker(&e, "a_rebuild_redeploys_the_pod_and_waits_until_it_serves") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    let rt = connected.runtime;
    rt.down(true).await.expect("clean slate");
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let progress = |l: &str| lines.lock().unwrap().push(l.to_string());
    let heard = std::sync::Mutex::new(Vec::new());
    let t = timed_rebuild(&*rt, "payment", &progress, &|s| heard.lock().unwrap().push(s)).await.expect("rebuild");
    eprintln!("{}", t.line());
    assert_eq!(*heard.lock().unwrap(), RebuildStage::ALL, "every stage, in order");
    let lines = lines.lock().unwrap().join("\n");
    assert!(lines.contains("--bin payment --bin payment-v2") && !lines.contains("--bins"), "only payment's binaries: {lines}");
    // (Image ids are not compared: the lifecycle test beside this one may remake images.)
    assert!(!lines.contains("faultline/engine"), "no other image is looked at: {lines}");
    let status = rt.status().await.expect("status").into_iter().find(|s| s.name == "payment").expect("payment");
    assert_eq!((status.state, status.health, status.version.as_str()), (PodState::Running, Health::Healthy, "v1-bugged"));
    assert!(status.image_id.as_ref().is_some_and(|id| id.len() == 12), "{status:?}");
    rt.down(true).await.expect("down");
    assert_nothing_of_project_remains(&project).await;
}
