//! The `faultline-engine` binary: serves the HTTP API over a SQLite file, logs with tracing,
//! stops cleanly on SIGTERM/SIGINT, and has a `healthcheck` subcommand for `FROM scratch`
//! containers (no curl there): it GETs its own `/healthz` and exits 0 or 1, and a `check`
//! subcommand that checks a database file (exit 0 clean, 1 violations, 2 cannot check).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use faultline_engine::clock::SystemClock;
use faultline_engine::dual::{AckMode, DualOptions, DualOrder, Mode};
use faultline_engine::engine::EngineOptions;
use faultline_engine::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Parser)]
#[command(name = "faultline-engine", version, about = "Durable, transactional workflow engine (HTTP/JSON API over SQLite)")]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "FAULTLINE_LISTEN", default_value = "127.0.0.1:7233")]
    listen: String,
    /// SQLite database file (created if missing).
    #[arg(long, env = "FAULTLINE_DB", default_value = "faultline.db")]
    db: PathBuf,
    /// How transitions commit: `transactional` (everything in one transaction) or
    /// `dual-write` (the race twin: state in the database, tasks and timers in `<db>.queue`).
    #[arg(long, env = "FAULTLINE_MODE", default_value = "transactional")]
    mode: Mode,
    /// Dual-write only: publish tasks `after-commit` (Rails, Django) or `enqueue-first`.
    #[arg(long, env = "FAULTLINE_DUAL_WRITE_ORDER", default_value = "after-commit")]
    dual_write_order: DualOrder,
    /// Dual-write only: ack a task's message `late` (after its completion commits) or
    /// `early` (on receipt, Celery's default).
    #[arg(long, env = "FAULTLINE_ACK", default_value = "late")]
    ack: AckMode,
    /// Dual-write only: the queue's visibility timeout (lease) in milliseconds.
    #[arg(long, env = "FAULTLINE_VISIBILITY_TIMEOUT_MS", default_value_t = 30_000)]
    visibility_timeout_ms: i64,
    /// Faults armed at start: a JSON array of fault specs (see engine/README.md).
    #[arg(long, env = "FAULTLINE_FAULTS")]
    faults: Option<String>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// GET /healthz of the engine at --listen; exit 0 when healthy, 1 otherwise.
    Healthcheck,
    /// Check the database at --db: SQLite's integrity check and the engine's invariants.
    /// Exit 0 when clean, 1 with the violations found, 2 when it cannot be checked.
    Check,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    match cli.command {
        Some(Cmd::Healthcheck) => {
            let ok = rt.block_on(healthcheck(&cli.listen));
            std::process::exit(if ok { 0 } else { 1 });
        }
        Some(Cmd::Check) => match faultline_engine::check::check_db(&cli.db) {
            Ok(report) => {
                println!("{}: {report}", cli.db.display());
                std::process::exit(if report.is_clean() { 0 } else { 1 });
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        },
        None => rt.block_on(serve(cli)),
    }
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let options = EngineOptions {
        mode: cli.mode,
        dual: DualOptions { order: cli.dual_write_order, ack: cli.ack, lease_ms: cli.visibility_timeout_ms.max(1) },
        faults: cli.faults.clone(),
        ..Default::default()
    };
    let server = Server::start_with(&cli.db, &cli.listen, Arc::new(SystemClock), options)
        .await
        .with_context(|| format!("starting the engine on {} with database {}", cli.listen, cli.db.display()))?;
    tracing::info!(addr = %server.addr, db = %cli.db.display(), mode = %cli.mode.as_str(), "faultline-engine listening");
    wait_for_signal().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// A minimal HTTP/1.0 GET, so the image needs no curl.
async fn healthcheck(listen: &str) -> bool {
    let target = listen.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(&target).await.ok()?;
        s.write_all(format!("GET /healthz HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        Some(text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"))
    };
    matches!(tokio::time::timeout(Duration::from_secs(3), attempt).await, Ok(Some(true)))
}
