//! The `faultline-proxy` binary as a pod runs it: configuration from the environment
//! (`FAULTLINE_LISTEN`, `FAULTLINE_PROXIES`), the `healthcheck` subcommand, a clean exit
//! on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_faultline-proxy");

fn healthcheck(api: &str) -> bool {
    Command::new(BIN).arg("healthcheck").env("FAULTLINE_LISTEN", api).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_serves_configured_proxies_and_stops_on_sigterm() {
    let echo = echo_server().await;
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let (api, listen) = (free(), free());
    let proxies = format!(r#"[{{"name":"echo","listen":"{listen}","upstream":"{echo}"}}]"#);
    let mut child = tokio::process::Command::new(BIN)
        .env("FAULTLINE_LISTEN", &api)
        .env("FAULTLINE_PROXIES", &proxies)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let probe_api = api.clone();
    wait_until("the binary's healthcheck to pass", Duration::from_secs(20), || {
        let api = probe_api.clone();
        async move { tokio::task::spawn_blocking(move || healthcheck(&api)).await.unwrap_or(false) }
    })
    .await;
    let mut s = connect(&listen).await;
    round_trip(&mut s, b"through the configured proxy").await.unwrap();
    let body = reqwest::get(format!("http://{api}/proxies/echo")).await.unwrap().text().await.unwrap();
    assert!(body.contains(r#""enabled":true"#), "{body}");

    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
    let api2 = api.clone();
    assert!(!tokio::task::spawn_blocking(move || healthcheck(&api2)).await.unwrap());
}

#[test]
fn binary_refuses_a_bad_configuration_clearly() {
    let out = Command::new(BIN)
        .env("FAULTLINE_LISTEN", "127.0.0.1:0")
        .env("FAULTLINE_PROXIES", r#"[{"name":"x","upstream":"no-port"}]"#)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FAULTLINE_PROXIES") && err.contains("upstream must be host:port"), "{err}");
}
