//! One proxy: its configuration, its toxics, and, while enabled, a listener whose accept
//! loop connects each client to the upstream and hands both sockets to
//! [`crate::link::serve_connection`].
//!
//! Disabling a proxy ("down") closes its listener (new clients are refused) and every
//! connection it carries, as Toxiproxy does. The methods here are called with the
//! registry's lock held, so a proxy changes one API call at a time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::link::{serve_connection, Chains};
use crate::model::{ProxySpec, Stream, Toxic};
use crate::pipeline::ToxicInstance;

/// How long to wait for the upstream to accept a connection before closing the client.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Running {
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

/// A proxy and its toxics.
pub(crate) struct Proxy {
    pub spec: ProxySpec,
    /// Toxics in the order they were added, both directions.
    toxics: Vec<ToxicInstance>,
    chains: watch::Sender<Chains>,
    running: Option<Running>,
}

impl Proxy {
    pub fn new(spec: ProxySpec) -> Self {
        let empty: Arc<[ToxicInstance]> = Arc::from(Vec::new());
        let (chains, _) = watch::channel(Chains { version: 0, run: 0, upstream: empty.clone(), downstream: empty });
        Proxy { spec: ProxySpec { enabled: false, ..spec }, toxics: Vec::new(), chains, running: None }
    }

    pub fn toxics(&self) -> impl Iterator<Item = &Toxic> {
        self.toxics.iter().map(|t| &t.toxic)
    }

    pub fn toxic(&self, name: &str) -> Option<&Toxic> {
        self.toxics().find(|t| t.name == name)
    }

    /// Binds the listener and starts accepting. No-op when already enabled.
    pub async fn start(&mut self) -> Result<(), ApiError> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = bind(&self.spec.listen).await?;
        let local = listener.local_addr().map_err(|e| ApiError::Listen { addr: self.spec.listen.clone(), reason: e.to_string() })?;
        // As Toxiproxy, the proxy keeps the address it got (port 0 becomes a real port).
        self.spec.listen = local.to_string();
        let mut run = 0;
        self.chains.send_modify(|c| {
            c.run += 1;
            c.version += 1;
            run = c.run;
        });
        let (stop, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(
            self.spec.name.clone(),
            listener,
            self.spec.upstream.clone(),
            self.chains.subscribe(),
            run,
            stop_rx,
        ));
        self.running = Some(Running { stop, accept });
        self.spec.enabled = true;
        tracing::info!(proxy = %self.spec.name, listen = %self.spec.listen, upstream = %self.spec.upstream, "proxy started");
        Ok(())
    }

    /// Closes the listener (waiting until it is closed) and every connection.
    pub async fn stop(&mut self) {
        self.spec.enabled = false;
        if let Some(running) = self.running.take() {
            running.stop.send_replace(true);
            let _ = running.accept.await;
            self.chains.send_modify(|c| {
                c.run += 1;
                c.version += 1;
            });
            tracing::info!(proxy = %self.spec.name, "proxy stopped");
        }
    }

    /// Applies `enabled`, `listen` and `upstream`; a new address restarts the proxy.
    pub async fn update(&mut self, listen: String, upstream: String, enabled: bool) -> Result<(), ApiError> {
        if self.differs(&listen, &upstream).await {
            self.stop().await;
            self.spec.listen = listen;
            self.spec.upstream = upstream;
        }
        if enabled {
            self.start().await
        } else {
            self.stop().await;
            Ok(())
        }
    }

    /// Whether `listen`/`upstream` name another endpoint than the proxy's.
    pub async fn differs(&self, listen: &str, upstream: &str) -> bool {
        if upstream != self.spec.upstream {
            return true;
        }
        if listen == self.spec.listen {
            return false;
        }
        // "localhost:1234" is the same as the "127.0.0.1:1234" the proxy reports.
        match (resolve(listen).await, self.spec.listen.parse::<SocketAddr>()) {
            (Ok(a), Ok(b)) => a != b,
            _ => true,
        }
    }

    pub fn add_toxic(&mut self, toxic: ToxicInstance) {
        self.toxics.push(toxic);
        self.publish();
    }

    pub fn replace_toxic(&mut self, toxic: ToxicInstance) {
        if let Some(slot) = self.toxics.iter_mut().find(|t| t.toxic.name == toxic.toxic.name) {
            *slot = toxic;
        }
        self.publish();
    }

    pub fn remove_toxic(&mut self, name: &str) -> bool {
        let before = self.toxics.len();
        self.toxics.retain(|t| t.toxic.name != name);
        let removed = self.toxics.len() != before;
        if removed {
            self.publish();
        }
        removed
    }

    pub fn clear_toxics(&mut self) {
        if !self.toxics.is_empty() {
            self.toxics.clear();
            self.publish();
        }
    }

    fn publish(&self) {
        let of = |s: Stream| -> Arc<[ToxicInstance]> { self.toxics.iter().filter(|t| t.toxic.stream == s).cloned().collect() };
        let (up, down) = (of(Stream::Upstream), of(Stream::Downstream));
        self.chains.send_modify(|c| {
            c.version += 1;
            c.upstream = up;
            c.downstream = down;
        });
    }
}

/// `host:port` to a socket address; `:port` is every interface, as in Go.
async fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let full = if addr.starts_with(':') { format!("0.0.0.0{addr}") } else { addr.to_string() };
    let found = match tokio::net::lookup_host(full.as_str()).await {
        Ok(mut addrs) => addrs.next().ok_or_else(|| format!("{addr} resolves to no address")),
        Err(e) => Err(e.to_string()),
    };
    found
}

async fn bind(listen: &str) -> Result<TcpListener, ApiError> {
    let err = |reason: String| ApiError::Listen { addr: listen.to_string(), reason };
    let addr = resolve(listen).await.map_err(err)?;
    TcpListener::bind(addr).await.map_err(|e| err(e.to_string()))
}

async fn accept_loop(
    name: String,
    listener: TcpListener,
    upstream: String,
    chains: watch::Receiver<Chains>,
    run: u64,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            a = listener.accept() => a,
        };
        let (client, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors and the like: log, and keep accepting.
                tracing::warn!(proxy = %name, "accept failed: {e}");
                tokio::task::yield_now().await;
                continue;
            }
        };
        let upstream = upstream.clone();
        let chains = chains.clone();
        let name = name.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&upstream));
            let server = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                c = connect => c,
            };
            match server {
                Ok(Ok(server)) => {
                    tracing::debug!(proxy = %name, client = %peer, "accepted client");
                    serve_connection(client, server, chains, run).await;
                }
                Ok(Err(e)) => tracing::warn!(proxy = %name, client = %peer, %upstream, "cannot connect to the upstream: {e}"),
                Err(_) => tracing::warn!(proxy = %name, client = %peer, %upstream, "the upstream did not accept within {CONNECT_TIMEOUT:?}"),
            }
        });
    }
    // Dropping the listener here closes it before `stop` returns.
    drop(listener);
}
