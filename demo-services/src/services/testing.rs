//! Test helper: a service on 127.0.0.1:0 with a real SQLite ledger in a temp directory.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use crate::client::ServiceClient;
use crate::ledger::{Ledger, ManualClock};
use crate::server::{health_router, ServiceSpec};

pub struct TestService {
    pub base: String,
    pub ledger: Ledger,
    pub clock: Arc<ManualClock>,
    name: &'static str,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl TestService {
    pub async fn start(spec: &ServiceSpec, router: impl FnOnce(Ledger) -> Router) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let ledger = Ledger::open(dir.path(), "test.db", spec.extra_schema, clock.clone()).expect("open ledger");
        let app = router(ledger.clone()).merge(health_router(spec.name, "test"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, ledger, clock, name: spec.name, _dir: dir, server }
    }

    pub fn client(&self) -> ServiceClient {
        ServiceClient::new(self.name, self.base.clone(), Duration::from_secs(10))
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.server.abort();
    }
}
