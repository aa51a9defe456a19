//! The local-process runtime: the same topology as child processes on 127.0.0.1, driven
//! through the same control sequence as the Docker runtime, with its data in a temporary
//! directory. Needs no Docker, so it always runs, under its own project's host ports
//! (docker-compose.yml's moved by 20100), beside a demo if one runs.

mod runtime_support;

use faultline::runtime::local::LocalRuntime;
use faultline::runtime::{Describe, Health, PodRuntime, PodState, RuntimeKind, RuntimeSetup};
use runtime_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_topology_lifecycle() {
    let compose_file = compose_path();
    let setup = RuntimeSetup::load(&compose_file, &test_project("local", 20100)).expect("compose");
    let data = tempfile::tempdir().expect("tempdir");
    let rt = LocalRuntime::new(setup, data.path().to_path_buf());
    assert_eq!(rt.kind(), RuntimeKind::Local);
    assert_eq!(rt.engine_url(), "http://127.0.0.1:27333");

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
