//! The local-process runtime: the same topology as child processes on 127.0.0.1, driven
//! through the same control sequence as the Docker runtime, with its data in a temporary
//! directory. Needs no Docker, so it always runs (it does need the host ports of
//! docker-compose.yml free, like the Docker test it never runs concurrently with).

mod runtime_support;

use faultline::runtime::local::LocalRuntime;
use faultline::runtime::{compose, images, Health, PodRuntime, PodState};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_topology_lifecycle() {
    let compose_file = compose_path();
    let topology = compose::load(&compose_file).expect("compose");
    let data = tempfile::tempdir().expect("tempdir");
    let rt = LocalRuntime::new(topology, images::workspace_dir(&compose_file), data.path().to_path_buf());
    assert_eq!(rt.kind(), "local");

    rt.up().await.expect("topology up as local processes");
    for s in rt.status().await.expect("status") {
        assert_eq!((s.state, s.health), (PodState::Running, Health::Healthy), "{s:?}");
    }
    assert!(data.path().join("engine").is_dir(), "the engine's data lives under the data dir");

    exercise_payment(&rt, false).await;

    rt.down(true).await.expect("down --volumes");
    for s in rt.status().await.expect("status after down") {
        assert_eq!(s.state, PodState::Missing, "{s:?}");
    }
    assert!(!data.path().join("payment").exists(), "down --volumes removes pod data");
}
