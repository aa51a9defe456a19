//! The server parts every demo binary shares: configuration from the environment, logging,
//! `GET /healthz`, the `healthcheck` subcommand, and a clean shutdown on SIGTERM.
//!
//! A service binary is `fn main() -> ExitCode { server::main(&SPEC, build, router_fn) }`:
//! this module reads `FAULTLINE_LISTEN` and `FAULTLINE_DATA`, opens the service's ledger,
//! binds, and serves the service's router merged with the health route until SIGTERM or
//! Ctrl-C. The images are `FROM scratch` with no curl, so `<binary> healthcheck` does the
//! HTTP probe itself and exits 0 (healthy) or 1.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::ledger::{Ledger, SystemClock};

/// What a service binary needs to know about its service.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    /// Pod name, also the default data directory name and the log target.
    pub name: &'static str,
    /// Port of the default listen address (127.0.0.1), as in docs/ARCHITECTURE.md.
    pub default_port: u16,
    /// Schema the service adds to its ledger database.
    pub extra_schema: &'static str,
}

/// Where a binary listens and keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
}

/// Configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("FAULTLINE_LISTEN={value:?} is not an address like 127.0.0.1:8080; fix or unset it")]
    BadListen { value: String },
}

impl Config {
    /// Reads `FAULTLINE_LISTEN` (default `127.0.0.1:<default_port>`) and `FAULTLINE_DATA`
    /// (default `./.faultline/data/<name>`).
    pub fn from_env(name: &str, default_port: u16) -> Result<Self, ConfigError> {
        Self::from_vars(name, default_port, |k| std::env::var(k).ok())
    }

    /// Same, with the environment given as a lookup function (tests).
    pub fn from_vars(name: &str, default_port: u16, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let listen = match var("FAULTLINE_LISTEN").filter(|v| !v.trim().is_empty()) {
            Some(value) => value.trim().parse().map_err(|_| ConfigError::BadListen { value })?,
            None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), default_port),
        };
        let data_dir = var("FAULTLINE_DATA")
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(".faultline/data").join(name));
        Ok(Self { listen, data_dir })
    }
}

/// Body of `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub service: String,
    /// Which build answers, e.g. `v1-bugged` or `v2-fixed` for payment, so the dashboard
    /// can show what is deployed.
    pub build: String,
}

/// The `GET /healthz` route.
pub fn health_router(service: &str, build: &str) -> Router {
    let health = Health { status: "ok".into(), service: service.into(), build: build.into() };
    Router::new().route("/healthz", get(move || std::future::ready(Json(health.clone()))))
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Ignore the error of a second init (tests): logging is then already set up.
    // Colours only on a terminal: container logs go to the dashboard, where escapes are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).try_init();
}

pub use faultline_sdk::pod::{probe, probe_addr, shutdown_signal};

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Serve,
    Healthcheck,
}

/// Parses the arguments after the program name: none (serve) or `healthcheck`.
pub fn parse_command(program: &str, args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Serve),
        [a] if a == "healthcheck" => Ok(Command::Healthcheck),
        [a] if a == "serve" => Ok(Command::Serve),
        _ => Err(format!(
            "usage: {program} [serve | healthcheck]\n  configuration comes from FAULTLINE_LISTEN, FAULTLINE_DATA and RUST_LOG"
        )),
    }
}

/// Runs `body` on a small multi-threaded runtime (the machines demos run on are small).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()
}

/// The whole `main` of a service binary: parse the command, then serve or probe.
/// `build` names the build in `/healthz` and logs; `router` makes the service's routes.
pub fn main(spec: &ServiceSpec, build: &str, router: impl FnOnce(Ledger) -> Router) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_command(spec.name, &args) {
        Ok(c) => c,
        Err(usage) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_env(spec.name, spec.default_port) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", spec.name);
            return ExitCode::from(2);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", spec.name);
            return ExitCode::FAILURE;
        }
    };
    match command {
        Command::Healthcheck => match rt.block_on(probe(config.listen)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: unhealthy: {e}", spec.name);
                ExitCode::FAILURE
            }
        },
        Command::Serve => {
            init_tracing();
            match rt.block_on(serve_service(spec, build, &config, router)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{}: {e}", spec.name);
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Why a service stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Ledger(#[from] crate::ledger::OpenError),
    #[error("cannot listen on {addr}: {source}; is another process using the port? set FAULTLINE_LISTEN to another address")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

async fn serve_service(spec: &ServiceSpec, build: &str, config: &Config, router: impl FnOnce(Ledger) -> Router) -> Result<(), ServeError> {
    let ledger = Ledger::open(&config.data_dir, &format!("{}.db", spec.name), spec.extra_schema, Arc::new(SystemClock))?;
    let app = router(ledger.clone()).merge(health_router(spec.name, build));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    tracing::info!(
        service = spec.name,
        build,
        listen = %config.listen,
        ledger = %ledger.path().display(),
        "{} ({build}) listening on http://{}",
        spec.name,
        config.listen
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(ServeError::Serve)?;
    tracing::info!(service = spec.name, "stopped cleanly");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_overrides() {
        let c = Config::from_vars("payment", 8082, |_| None).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8082".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from(".faultline/data/payment"));
        let c = Config::from_vars("payment", 8082, |k| match k {
            "FAULTLINE_LISTEN" => Some("0.0.0.0:8080".into()),
            "FAULTLINE_DATA" => Some("/data".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.data_dir, PathBuf::from("/data"));
        assert!(Config::from_vars("x", 1, |_| Some("nonsense".into())).is_err());
    }

    #[test]
    fn wildcard_listen_is_probed_on_loopback() {
        assert_eq!(probe_addr("0.0.0.0:8080".parse().unwrap()), "127.0.0.1:8080".parse().unwrap());
        assert_eq!(probe_addr("10.0.0.2:80".parse().unwrap()), "10.0.0.2:80".parse().unwrap());
    }

    #[test]
    fn command_line() {
        assert_eq!(parse_command("p", &[]), Ok(Command::Serve));
        assert_eq!(parse_command("p", &["healthcheck".into()]), Ok(Command::Healthcheck));
        assert!(parse_command("p", &["--oops".into()]).is_err());
    }

    #[tokio::test]
    async fn probe_sees_health_and_its_absence() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, health_router("t", "test")).await });
        assert_eq!(probe(addr).await, Ok(()));
        server.abort();
        let _ = server.await;
        // A port nobody listens on: bind one, note it, free it.
        let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        assert!(probe(free).await.is_err());
    }
}
