//! [`ProxyServer`]: the API server and its registry, started in-process (the local
//! runtime, tests) or by the `faultline-proxy` binary; plus the health probe the
//! `healthcheck` subcommand runs.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api;
use crate::registry::Registry;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} for the API: {source}; is another process (a Toxiproxy?) using the port? set FAULTLINE_LISTEN to another address")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A running proxy server: its API address and its registry.
pub struct ProxyServer {
    /// Where the API listens (the real port when started on port 0).
    pub addr: SocketAddr,
    pub registry: Arc<Registry>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ProxyServer {
    /// Binds the API on `api_addr` (Toxiproxy's port is 8474) with an empty registry.
    pub async fn start(api_addr: SocketAddr) -> Result<Self, StartError> {
        Self::start_with(api_addr, Arc::new(Registry::new())).await
    }

    /// Same, over an existing registry.
    pub async fn start_with(api_addr: SocketAddr, registry: Arc<Registry>) -> Result<Self, StartError> {
        let listener = tokio::net::TcpListener::bind(api_addr).await.map_err(|source| StartError::Bind { addr: api_addr, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: api_addr, source })?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = api::router(registry.clone());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = served.await {
                tracing::error!("the proxy API server failed: {e}");
            }
        });
        tracing::info!(%addr, "faultline-proxy API listening on http://{addr}");
        Ok(ProxyServer { addr, registry, shutdown: Some(tx), task })
    }

    /// The API's base URL, e.g. `http://127.0.0.1:8474`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the API, then every proxy and its connections.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.registry.clear().await;
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub use faultline_sdk::pod::{probe, probe_addr};
