//! The order worker: runs the `Order` and `Shipment` workflows and their activities.
//!
//! Environment: `FAULTLINE_ENGINE_URL` (default http://127.0.0.1:7233), `FAULTLINE_TASK_QUEUE`
//! (default `orders`), `INVENTORY_URL`, `PAYMENT_URL`, `SHIPPING_URL`, `NOTIFICATION_URL`,
//! `FAULTLINE_LISTEN` (its `/healthz`, default 127.0.0.1:8085), `RUST_LOG`.
//! `order-worker healthcheck` probes that `/healthz` (exit 0 or 1).
//!
//! When the engine is down at start, it waits for it calmly (one log line per attempt, backing
//! off to 10 s); the SDK's pollers then ride out later outages on their own.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use faultline_demo::order::{self, ServiceUrls};
use faultline_demo::server::{self, Command, Config};
use faultline_sdk::{Client, Worker, WorkerOptions};

const NAME: &str = "order-worker";
const DEFAULT_PORT: u16 = 8085;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match server::parse_command(NAME, &args) {
        Ok(c) => c,
        Err(usage) => {
            eprintln!("{usage}\n  and FAULTLINE_ENGINE_URL, FAULTLINE_TASK_QUEUE, INVENTORY_URL, PAYMENT_URL, SHIPPING_URL, NOTIFICATION_URL");
            return ExitCode::from(2);
        }
    };
    let result = server::runtime().context("cannot start the async runtime").and_then(|rt| match command {
        Command::Healthcheck => {
            let config = Config::from_env(NAME, DEFAULT_PORT)?;
            rt.block_on(server::probe(config.listen)).map_err(|e| anyhow::anyhow!("unhealthy: {e}"))
        }
        Command::Serve => {
            server::init_tracing();
            rt.block_on(run())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_env(NAME, DEFAULT_PORT)?;
    let engine_url = std::env::var("FAULTLINE_ENGINE_URL").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "http://127.0.0.1:7233".into());
    let task_queue = std::env::var("FAULTLINE_TASK_QUEUE").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| order::TASK_QUEUE.into());
    let urls = ServiceUrls::from_env();
    let client = Client::new(engine_url.clone()).with_context(|| format!("FAULTLINE_ENGINE_URL={engine_url:?} is not a usable URL"))?;

    // Health first, so the pod reports healthy as soon as the process is up, engine or not.
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} for /healthz; set FAULTLINE_LISTEN to a free address", config.listen))?;
    let health = server::health_router(NAME, "latest");
    let health_server = tokio::spawn(async move { axum::serve(listener, health).await });

    tracing::info!(
        engine = %engine_url, task_queue = %task_queue, inventory = %urls.inventory, payment = %urls.payment,
        shipping = %urls.shipping, notification = %urls.notification, health = %config.listen, "order worker starting"
    );

    let shutdown = server::shutdown_signal();
    tokio::pin!(shutdown);
    tokio::select! {
        _ = wait_for_engine(&client, &engine_url) => {}
        _ = &mut shutdown => {
            health_server.abort();
            return Ok(());
        }
    }

    let mut worker = Worker::new(client, WorkerOptions::new(task_queue));
    order::register(&mut worker, urls);
    let outcome = worker.run(shutdown).await.context("the worker stopped");
    health_server.abort();
    outcome
}

/// Returns once the engine answers its health check, logging each failed attempt.
async fn wait_for_engine(client: &Client, url: &str) {
    let mut wait = Duration::from_millis(500);
    loop {
        match client.health().await {
            Ok(()) => {
                tracing::info!(engine = %url, "engine reachable, polling for tasks");
                return;
            }
            Err(e) => {
                tracing::warn!(engine = %url, retry_in = ?wait, "engine not reachable yet ({e}); is it running? retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}
