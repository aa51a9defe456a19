//! Shared by the integration tests: a TCP echo server, a proxy server on a free port,
//! and waiting on a condition with a deadline (never sleeping to synchronise).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use faultline_proxy::ProxyServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on 127.0.0.1: writes back what it reads, half-closes on EOF.
pub async fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

pub async fn proxy_server() -> ProxyServer {
    ProxyServer::start("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

/// Connects to a proxy's listen address with TCP_NODELAY.
pub async fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `msg` and reads back as many bytes; the time it took.
pub async fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Duration> {
    let start = tokio::time::Instant::now();
    s.write_all(msg).await?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).await?;
    assert_eq!(back, msg);
    Ok(start.elapsed())
}

/// Waits for a condition with a deadline (shared with every crate's tests).
#[allow(unused_imports)]
pub use faultline_testkit::wait::wait_until;

/// Reads until the peer closes; Ok(bytes) on a clean EOF, the error otherwise.
pub async fn read_to_close(s: &mut TcpStream, within: Duration) -> std::io::Result<Vec<u8>> {
    let mut all = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut all)).await {
        Ok(Ok(_)) => Ok(all),
        Ok(Err(e)) => Err(e),
        Err(_) => panic!("the connection did not close within {within:?} (read {} bytes)", all.len()),
    }
}
