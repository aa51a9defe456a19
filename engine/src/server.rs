//! Wiring for the binary and for tests: open the store, start the writer, the timer service
//! and the HTTP server; stop them in order (HTTP first, then timers, then the last commit).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::clock::Clock;
use crate::engine::{Engine, WriterGuard};
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
        let (engine, writer) = Engine::open(db, clock)?;
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            EngineError::BadRequest(format!("cannot listen on {listen}: {e}; pick a free address with --listen"))
        })?;
        let addr = listener.local_addr().map_err(|e| EngineError::BadRequest(e.to_string()))?;
        let timers = crate::timers::spawn(engine.clone());
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
