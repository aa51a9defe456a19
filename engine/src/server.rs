//! Wiring for the binary and for tests: open the store, start the writer, the timer service
//! and the HTTP server; stop them in order (HTTP first, then timers, then the last commit).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::engine::{Engine, EngineOptions, WriterGuard};
use crate::error::{EngineError, Result};

pub struct Server {
    pub addr: SocketAddr,
    pub engine: Engine,
    http: tokio::task::JoinHandle<()>,
    timers: tokio::task::JoinHandle<()>,
    writer: WriterGuard,
}

impl Server {
    /// Opens `db` and serves on `listen` (port 0 picks a free one; see [`Server::addr`]).
    pub async fn start(db: &Path, listen: &str, clock: Arc<dyn Clock>) -> Result<Server> {
        Self::start_with(db, listen, clock, EngineOptions::default()).await
    }

    /// [`Server::start`] with engine options (tests inject faults through them).
    pub async fn start_with(db: &Path, listen: &str, clock: Arc<dyn Clock>, options: EngineOptions) -> Result<Server> {
        let (engine, writer) = Engine::open_with(db, clock, options)?;
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            EngineError::Startup(format!("cannot listen on {listen}: {e}; pick a free address with --listen"))
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| EngineError::Startup(format!("cannot read the listening address: {e}; try another --listen")))?;
        if let Some(warning) = exposure_warning(addr, in_container()) {
            tracing::warn!("{warning}");
        }
        let timers = match engine.dual() {
            Some(dual) => crate::dual::poll::spawn_timers(engine.clone(), dual.clone()),
            None => crate::timers::spawn(engine.clone()),
        };
        let app = crate::api::router(engine.clone());
        let mut stop = engine.shutdown_signal();
        let http = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        Ok(Server { addr, engine, http, timers, writer })
    }

    /// Graceful stop: no new requests, open long polls and streams end, the writer drains.
    pub async fn shutdown(self) {
        self.engine.shutdown();
        let _ = self.http.await;
        let _ = self.timers.await;
        drop(self.engine);
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    }
}

/// A warning when the API is reachable from other machines outside a container: it has no
/// authentication. (Inside a container, listening on every interface is how the published
/// port reaches it, and `docker-compose.yml` publishes it on 127.0.0.1 only.)
pub fn exposure_warning(addr: SocketAddr, in_container: bool) -> Option<String> {
    if in_container || addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "listening on {addr}, reachable from other machines, and the API has no authentication: anyone who can \
         reach it can start, signal and terminate workflows; listen on 127.0.0.1 unless this is intended"
    ))
}

/// Whether this process runs in a container (Docker and Podman leave these marks).
pub fn in_container() -> bool {
    Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists() || std::env::var_os("container").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_interface_outside_a_container_warns_about_authentication() {
        let any: SocketAddr = "0.0.0.0:7233".parse().unwrap();
        let warning = exposure_warning(any, false).expect("a warning for 0.0.0.0");
        assert!(warning.contains("no authentication") && warning.contains("127.0.0.1"), "{warning}");
        assert!(exposure_warning("[::]:7233".parse().unwrap(), false).is_some());
        assert_eq!(exposure_warning(any, true), None, "intended inside a container");
        assert_eq!(exposure_warning("127.0.0.1:7233".parse().unwrap(), false), None);
    }
}
