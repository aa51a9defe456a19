//! One proxied connection: two links (client → upstream, upstream → client), each a loop
//! that reads its source, runs the bytes through its direction's [`Pipeline`] and writes
//! them to its destination.
//!
//! Sockets are shared as `Arc<TcpStream>` and driven with `readable`/`try_read` and
//! `writable`/`try_write`, so nothing shuts a socket down behind our back: the end of
//! stream in one direction is passed on as a half close (`shutdown(SHUT_WR)`), a toxic's
//! close closes both sockets (with SO_LINGER 0 for `reset_peer`, which sends RST), and
//! the sockets close when both links are done.
//!
//! A link watches its proxy's toxic chains (a `watch` channel): toxics added, updated or
//! removed apply to live connections, and a chain published for another run of the
//! proxy (it was disabled, or deleted) closes the connection.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rand::SeedableRng;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::model::Stream;
use crate::pipeline::{Action, Chain, CloseKind, Pipeline};

/// Bytes read per chunk (Go's io.Copy uses 32 KiB too).
const READ_SIZE: usize = 32 * 1024;

/// The toxics of a proxy as links see them.
#[derive(Debug, Clone)]
pub struct Chains {
    /// Bumped at every change.
    pub version: u64,
    /// The run of the proxy (bumped at every start and stop); links of another run close.
    pub run: u64,
    pub upstream: Chain,
    pub downstream: Chain,
}

impl Chains {
    pub fn get(&self, stream: Stream) -> &Chain {
        match stream {
            Stream::Upstream => &self.upstream,
            Stream::Downstream => &self.downstream,
        }
    }
}

/// Proxies one accepted client to `upstream` until either side or a toxic ends it.
pub async fn serve_connection(client: TcpStream, upstream: TcpStream, chains: watch::Receiver<Chains>, run: u64) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let client = Arc::new(client);
    let upstream = Arc::new(upstream);
    let (kill_tx, kill_rx) = watch::channel(None);
    let kill_tx = Arc::new(kill_tx);
    let up = Link {
        stream: Stream::Upstream,
        src: client.clone(),
        dst: upstream.clone(),
        chains: chains.clone(),
        run,
        kill_tx: kill_tx.clone(),
        kill_rx: kill_rx.clone(),
    };
    let down = Link { stream: Stream::Downstream, src: upstream, dst: client, chains, run, kill_tx, kill_rx };
    let up = tokio::spawn(up.run());
    down.run().await;
    let _ = up.await;
}

struct Link {
    stream: Stream,
    src: Arc<TcpStream>,
    dst: Arc<TcpStream>,
    chains: watch::Receiver<Chains>,
    run: u64,
    /// Shared by both links of the connection: a close asked by either.
    kill_tx: Arc<watch::Sender<Option<CloseKind>>>,
    kill_rx: watch::Receiver<Option<CloseKind>>,
}

impl Link {
    async fn run(mut self) {
        let (chain, mut seen) = {
            let c = self.chains.borrow_and_update();
            (c.get(self.stream).clone(), c.version)
        };
        let rng = Box::new(rand::rngs::StdRng::from_rng(rand::thread_rng()).unwrap_or_else(|_| rand::rngs::StdRng::seed_from_u64(0)));
        let mut pipeline = Pipeline::new(&chain, Instant::now(), rng);
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        loop {
            // A change of the chains is picked up here, whatever woke us.
            let changed = {
                let c = self.chains.borrow();
                if c.run != self.run {
                    None
                } else if c.version != seen {
                    seen = c.version;
                    Some(Some(c.get(self.stream).clone()))
                } else {
                    Some(None)
                }
            };
            match changed {
                None => return self.close(CloseKind::Fin),
                Some(Some(chain)) => {
                    if let Some(kind) = pipeline.reconfigure(&chain, Instant::now()) {
                        return self.close(kind);
                    }
                }
                Some(None) => {}
            }
            if self.kill_rx.borrow().is_some() {
                return;
            }
            match pipeline.poll(Instant::now()) {
                Action::Write(bytes) => {
                    tokio::select! {
                        biased;
                        _ = self.kill_rx.changed() => return,
                        r = write_all(&self.dst, &bytes) => if let Err(e) = r {
                            tracing::debug!(stream = self.stream.as_str(), "write failed: {e}");
                            return self.close(CloseKind::Fin);
                        },
                    }
                }
                Action::Shutdown => {
                    let _ = socket2::SockRef::from(&*self.dst).shutdown(std::net::Shutdown::Write);
                    return;
                }
                Action::Close(kind) => return self.close(kind),
                Action::Wait(until) => {
                    let sleep = async {
                        match until {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        biased;
                        _ = self.kill_rx.changed() => return,
                        r = self.chains.changed() => if r.is_err() {
                            // The proxy was deleted.
                            return self.close(CloseKind::Fin);
                        },
                        r = read_chunk(&self.src, &mut buf), if pipeline.wants_input() => match r {
                            Ok(Some(data)) => pipeline.push(data, Instant::now()),
                            Ok(None) => pipeline.push_eof(Instant::now()),
                            Err(e) => {
                                tracing::debug!(stream = self.stream.as_str(), "read failed: {e}");
                                pipeline.push_eof(Instant::now());
                            }
                        },
                        _ = sleep => {}
                    }
                }
            }
        }
    }

    /// Closes the whole connection: both links stop and drop their sockets.
    fn close(&self, kind: CloseKind) {
        if kind == CloseKind::Reset {
            for s in [&self.src, &self.dst] {
                let _ = socket2::SockRef::from(&**s).set_linger(Some(std::time::Duration::ZERO));
            }
        }
        self.kill_tx.send_replace(Some(kind));
    }
}

/// Reads what is there (up to [`READ_SIZE`]); `None` at the end of stream.
async fn read_chunk(src: &TcpStream, buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
    buf.reserve(READ_SIZE);
    loop {
        src.readable().await?;
        match src.try_read_buf(buf) {
            Ok(0) => return Ok(None),
            Ok(_) => return Ok(Some(buf.split().freeze())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
}

async fn write_all(dst: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match dst.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => dst.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
