//! Compatibility with a Toxiproxy client nobody here wrote: PyPI's `toxiproxy-python`
//! drives the proxy over HTTP (create, latency toxic and its effect on a TCP echo, remove,
//! down, errors, reset). `.ci/run` installs it in a virtualenv and sets
//! `FAULTLINE_TOXIPROXY_PYTHON` to that venv's python. Without the variable the test is
//! skipped with a notice, except under `CI=true`, where that is a failure.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_python_client_drives_the_proxy() {
    let Some(python) = std::env::var_os("FAULTLINE_TOXIPROXY_PYTHON").filter(|p| !p.is_empty()) else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "CI=true but FAULTLINE_TOXIPROXY_PYTHON is not set: .ci/run must install toxiproxy-python in a venv and export it");
        eprintln!(
            "NOTICE: skipping toxiproxy_python_client_drives_the_proxy: set FAULTLINE_TOXIPROXY_PYTHON to a python with \
             toxiproxy-python installed (python3 -m venv v && v/bin/pip install toxiproxy-python==0.1.1)"
        );
        return;
    };
    let server = proxy_server().await;
    let echo = echo_server().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/toxiproxy_client.py");
    let run = tokio::process::Command::new(&python)
        .arg(script)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .arg(echo.to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the toxiproxy-python script did not finish within 60 s")
        .unwrap_or_else(|e| panic!("cannot run {python:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success() && stdout.trim_end().ends_with("OK"), "the client script failed:\n{stdout}\n{stderr}");
    assert!(server.registry.list().await.is_empty(), "the script removes its proxy");
}
