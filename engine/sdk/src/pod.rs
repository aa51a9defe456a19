//! What every Faultline binary that runs as a pod needs: a health probe for the `healthcheck`
//! subcommand (`FROM scratch` images have no curl) and the shutdown signal (`docker stop`
//! sends SIGTERM).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Resolves on SIGTERM (docker stop) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        _ = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// The address to probe for a listen address: a wildcard listen is probed on loopback.
pub fn probe_addr(listen: SocketAddr) -> SocketAddr {
    if listen.ip().is_unspecified() {
        let ip = if listen.is_ipv4() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { IpAddr::V6(std::net::Ipv6Addr::LOCALHOST) };
        SocketAddr::new(ip, listen.port())
    } else {
        listen
    }
}

/// GETs `http://<listen>/healthz`; Ok when it answers 2xx within 2 s.
pub async fn probe(listen: SocketAddr) -> Result<(), String> {
    let url = format!("http://{}/healthz", probe_addr(listen));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().map_err(|e| e.to_string())?;
    match client.get(&url).send().await {
        Ok(resp) if resp.status().is_success() => Ok(()),
        Ok(resp) => Err(format!("{url} answered {}", resp.status())),
        Err(e) => Err(format!("{url} is not reachable: {e}")),
    }
}

