//! Test support: build and run the real `faultline-engine` binary on 127.0.0.1 with a temp
//! database, and wait on conditions with deadlines (never fixed sleeps).

#![allow(dead_code)]

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use faultline_sdk::Client;

/// Builds the engine once per test process (cargo releases its lock before running tests),
/// unless `FAULTLINE_ENGINE_BIN` names a binary to use as is.
pub fn engine_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(bin) = std::env::var("FAULTLINE_ENGINE_BIN") {
            return PathBuf::from(bin);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "faultline-engine", "--bin", "faultline-engine"])
            .current_dir(&root)
            .status()
            .expect("cargo could not be run to build faultline-engine");
        assert!(status.success(), "building faultline-engine failed");
        let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
        let bin = target.join("x86_64-unknown-linux-gnu/release/faultline-engine");
        let bin = if bin.exists() { bin } else { target.join("release/faultline-engine") };
        assert!(bin.exists(), "faultline-engine not found at {}", bin.display());
        bin
    })
    .clone()
}

/// A free port on 127.0.0.1 (bound then released; the engine binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running engine process, killed on drop.
pub struct Engine {
    pub child: Child,
    pub url: String,
    pub port: u16,
    pub db: PathBuf,
}

impl Engine {
    /// Starts the engine on `port` with database `db` and waits until `/healthz` answers.
    pub async fn start(port: u16, db: &Path) -> Engine {
        let child = Command::new(engine_binary())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--db"])
            .arg(db)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("faultline-engine did not start");
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::new(&url).unwrap();
        wait_until("engine healthy", Duration::from_secs(30), || {
            let c = client.clone();
            async move { c.health().await.is_ok() }
        })
        .await;
        Engine { child, url, port, db: db.to_path_buf() }
    }

    pub fn client(&self) -> Client {
        Client::new(&self.url).unwrap()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `cond` every 50 ms until it holds; panics naming `what` after `deadline`.
pub async fn wait_until<F, Fut>(what: &str, deadline: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
