//! `faultline-proxy`: a layer-4 fault proxy with Toxiproxy's model and HTTP API.
//!
//! Each proxy listens on an address and forwards every TCP connection to its upstream,
//! through a chain of toxics per direction (`upstream` = client → server, `downstream` =
//! server → client): `latency` (with jitter), `bandwidth`, `slow_close`, `timeout`,
//! `reset_peer`, `limit_data`, and the proxy's `enabled = false` ("down"). It needs no
//! privileges, no kernel module and no tc/iptables, so it runs as a `FROM scratch` pod,
//! as a process, or inside another program:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use faultline_proxy::{ProxyServer, ProxySpec, Stream, Toxic, ToxicKind};
//! let server = ProxyServer::start("127.0.0.1:0".parse()?).await?;
//! let p = server.registry.create(ProxySpec::new("payment", "127.0.0.1:0", "127.0.0.1:8082")).await?;
//! server.registry.add_toxic("payment", Toxic::new("slow", Stream::Downstream,
//!     ToxicKind::Latency { latency: 100, jitter: 10 })).await?;
//! println!("clients connect to {}", p.listen);
//! # Ok(()) }
//! ```
//!
//! Modules: [`model`] (toxics, proxies, JSON shapes), [`pipeline`] (the toxic chain as a
//! pure, clock-free state machine), [`link`] (socket loops), [`proxy`] (listener and
//! accept loop), [`registry`] (the API's behaviour without HTTP), [`api`] (axum routes),
//! [`server`] (start/stop, health probe), [`config`] (the binary's configuration).

pub mod api;
pub mod config;
pub mod error;
pub mod link;
pub mod model;
pub mod pipeline;
mod proxy;
pub mod registry;
pub mod server;

pub use error::ApiError;
pub use model::{ProxySpec, Stream, Toxic, ToxicKind};
pub use registry::{ProxyInfo, ProxyUpdate, Registry};
pub use server::ProxyServer;

/// The version `GET /version` reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
