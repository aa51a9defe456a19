//! The `faultline-proxy` binary: Toxiproxy's HTTP API on `FAULTLINE_LISTEN` (default
//! 127.0.0.1:8474, Toxiproxy's port), the proxies of `--config FILE` and
//! `FAULTLINE_PROXIES` created at start, a clean stop on SIGTERM/SIGINT, and a
//! `healthcheck` subcommand for `FROM scratch` images (no curl there): it GETs its own
//! `/healthz` and exits 0 or 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use faultline_proxy::{config, server, ProxyServer};

#[derive(Parser)]
#[command(name = "faultline-proxy", version, about = "Layer-4 fault proxy with Toxiproxy's toxics and HTTP API")]
struct Cli {
    /// Address of the HTTP API.
    #[arg(long, env = "FAULTLINE_LISTEN", default_value = "127.0.0.1:8474")]
    listen: SocketAddr,
    /// JSON file with a list of proxies to create at start: [{"name","listen","upstream","enabled"}].
    #[arg(long, env = "FAULTLINE_PROXIES_FILE")]
    config: Option<PathBuf>,
    /// The same list inline (created after the file's).
    #[arg(long, env = "FAULTLINE_PROXIES", hide_env_values = true)]
    proxies: Option<String>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// GET /healthz of the API at --listen; exit 0 when healthy, 1 otherwise.
    Healthcheck,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faultline-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Some(Cmd::Healthcheck) => match rt.block_on(server::probe(cli.listen)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("faultline-proxy: unhealthy: {e}");
                ExitCode::FAILURE
            }
        },
        None => {
            init_tracing();
            match rt.block_on(serve(cli)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("faultline-proxy: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    let initial = config::initial_proxies(cli.config.as_deref(), cli.proxies.as_deref())?;
    let server = ProxyServer::start(cli.listen).await?;
    let (created, err) = server.registry.populate(initial).await;
    for p in &created {
        tracing::info!(proxy = %p.name, listen = %p.listen, upstream = %p.upstream, enabled = p.enabled, "proxy configured");
    }
    if let Some(e) = err {
        server.shutdown().await;
        return Err(e).context("creating the configured proxies");
    }
    faultline_sdk::pod::shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

