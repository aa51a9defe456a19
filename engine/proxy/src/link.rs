//! One proxied connection: two links (client → upstream, upstream → client), each a loop
//! that reads its source, runs the bytes through its direction's [`Pipeline`] and writes
//! them to its destination.
//!
//! Each socket is split in owned halves: a link reads one socket's read half and writes
//! the other's write half. The end of stream in one direction is passed on as a half
//! close (`shutdown(SHUT_WR)`); a toxic's close closes both sockets, with SO_LINGER 0 for
//! `reset_peer` (RST), and then the write halves are `forget`-ed rather than dropped, so
//! no FIN goes out before the RST. A socket closes when both its halves are gone.
//!
//! A link watches its proxy's toxic chains (a `watch` channel): toxics added, updated or
//! removed apply to live connections, and a chain published for another run of the
//! proxy (it was disabled, or deleted) closes the connection.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::model::Stream;
use crate::pipeline::{Action, Chain, CloseKind, Pipeline};

/// The last stretch before a deadline that is waited by yielding instead of the timer.
const PRECISE_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

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
    let (client_r, client_w) = client.into_split();
    let (upstream_r, upstream_w) = upstream.into_split();
    let (kill_tx, kill_rx) = watch::channel(None);
    let kill_tx = Arc::new(kill_tx);
    let up = Link {
        stream: Stream::Upstream,
        src: client_r,
        dst: Some(upstream_w),
        chains: chains.clone(),
        run,
        kill_tx: kill_tx.clone(),
        kill_rx: kill_rx.clone(),
    };
    let down = Link { stream: Stream::Downstream, src: upstream_r, dst: Some(client_w), chains, run, kill_tx, kill_rx };
    let up = tokio::spawn(up.run());
    down.run().await;
    let _ = up.await;
}

struct Link {
    stream: Stream,
    src: OwnedReadHalf,
    /// `None` once shut down or forgotten.
    dst: Option<OwnedWriteHalf>,
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
        let rng = Box::new(rand::rngs::StdRng::from_rng(&mut rand::rng()));
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
                return self.forget();
            }
            match pipeline.poll(Instant::now()) {
                Action::Write(bytes) => {
                    let Some(dst) = self.dst.as_mut() else { return };
                    tokio::select! {
                        biased;
                        _ = self.kill_rx.changed() => return self.forget(),
                        r = dst.write_all(&bytes) => if let Err(e) = r {
                            tracing::debug!(stream = self.stream.as_str(), "write failed: {e}");
                            return self.close(CloseKind::Fin);
                        },
                    }
                }
                Action::Shutdown => {
                    if let Some(mut dst) = self.dst.take() {
                        let _ = dst.shutdown().await;
                    }
                    return;
                }
                Action::Close(kind) => return self.close(kind),
                Action::Wait(until) => {
                    let sleep = async {
                        match until {
                            // tokio's timer ticks in whole milliseconds and fires up to
                            // ~2 ms late: sleep to a millisecond before the deadline, and
                            // wait the last stretch by yielding (a latency toxic is then
                            // accurate to well under a millisecond, for a little CPU).
                            Some(at) => match at.checked_duration_since(Instant::now()) {
                                Some(left) if left > PRECISE_WAIT => tokio::time::sleep_until(at - PRECISE_WAIT).await,
                                _ => tokio::task::yield_now().await,
                            },
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        biased;
                        _ = self.kill_rx.changed() => return self.forget(),
                        r = self.chains.changed() => if r.is_err() {
                            // The proxy was deleted.
                            return self.close(CloseKind::Fin);
                        },
                        r = read_chunk(&mut self.src, &mut buf), if pipeline.wants_input() => match r {
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
    fn close(mut self, kind: CloseKind) {
        if kind == CloseKind::Reset {
            let _ = socket2::SockRef::from(self.src.as_ref()).set_linger(Some(std::time::Duration::ZERO));
            if let Some(dst) = &self.dst {
                let _ = socket2::SockRef::from(dst.as_ref()).set_linger(Some(std::time::Duration::ZERO));
            }
        }
        self.kill_tx.send_replace(Some(kind));
        self.forget();
    }

    /// Drops the write half without the FIN its drop would send (the connection is being
    /// closed as a whole, maybe with RST); the socket closes with its read half.
    fn forget(&mut self) {
        if let Some(dst) = self.dst.take() {
            dst.forget();
        }
    }
}

/// Reads what is there (up to [`READ_SIZE`]); `None` at the end of stream.
async fn read_chunk(src: &mut OwnedReadHalf, buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
    buf.reserve(READ_SIZE);
    match src.read_buf(buf).await? {
        0 => Ok(None),
        _ => Ok(Some(buf.split().freeze())),
    }
}
