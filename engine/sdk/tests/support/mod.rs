//! Test support: build and run the real `faultline-engine` binary on 127.0.0.1 with a temp
//! database, and wait on conditions with deadlines (never fixed sleeps).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use faultline_sdk::Client;

#[allow(unused_imports)]
pub use faultline_testkit::bins::engine_binary;
#[allow(unused_imports)]
pub use faultline_testkit::net::free_port;
#[allow(unused_imports)]
pub use faultline_testkit::wait::wait_until;

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
