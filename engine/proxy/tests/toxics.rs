//! Every toxic end to end, over real sockets on loopback, through the in-process API
//! (`Registry`). Timing is checked as a lower bound (the proxy cannot deliver early)
//! with generous upper bounds; the exact timing is tested in `pipeline`'s unit tests.

mod common;

use std::io::ErrorKind;
use std::time::Duration;

use common::*;
use faultline_proxy::{ProxySpec, Stream, Toxic, ToxicKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn forwards_both_ways_and_passes_a_half_close() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    let mut s = connect(&p.listen).await;
    round_trip(&mut s, b"hello").await.unwrap();
    // A large message, in many chunks.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
    let (mut r, mut w) = s.into_split();
    let send = big.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&send).await.unwrap();
        w.shutdown().await.unwrap(); // half close: the echo still answers
    });
    let mut back = Vec::new();
    tokio::time::timeout(LONG, r.read_to_end(&mut back)).await.unwrap().unwrap();
    writer.await.unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big);
}

#[tokio::test]
async fn latency_delays_round_trips_and_applies_to_live_connections() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    let mut s = connect(&p.listen).await;
    round_trip(&mut s, b"warm").await.unwrap();
    let toxic = Toxic::new("lag", Stream::Downstream, ToxicKind::Latency { latency: 100, jitter: 0 });
    server.registry.add_toxic("echo", toxic).await.unwrap();
    let took = round_trip(&mut s, b"ping").await.unwrap();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(5), "{took:?}");
    // Both directions add up.
    let up = Toxic::new("lag_up", Stream::Upstream, ToxicKind::Latency { latency: 50, jitter: 0 });
    server.registry.add_toxic("echo", up).await.unwrap();
    let took = round_trip(&mut s, b"ping").await.unwrap();
    assert!(took >= Duration::from_millis(150), "{took:?}");
    server.registry.remove_toxic("echo", "lag").await.unwrap();
    server.registry.remove_toxic("echo", "lag_up").await.unwrap();
    let took = round_trip(&mut s, b"ping").await.unwrap();
    assert!(took < Duration::from_millis(100), "no latency once removed: {took:?}");
}

#[tokio::test]
async fn removing_latency_releases_data_in_flight() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    let toxic = Toxic::new("lag", Stream::Downstream, ToxicKind::Latency { latency: 60_000, jitter: 0 });
    server.registry.add_toxic("echo", toxic).await.unwrap();
    let mut s = connect(&p.listen).await;
    s.write_all(b"stuck").await.unwrap();
    let mut back = [0u8; 5];
    // Nothing comes back while the toxic holds it.
    assert!(tokio::time::timeout(Duration::from_millis(200), s.read_exact(&mut back)).await.is_err());
    server.registry.remove_toxic("echo", "lag").await.unwrap();
    tokio::time::timeout(LONG, s.read_exact(&mut back)).await.unwrap().unwrap();
    assert_eq!(&back, b"stuck");
}

#[tokio::test]
async fn down_refuses_new_clients_and_closes_live_ones() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    let mut live = connect(&p.listen).await;
    round_trip(&mut live, b"up").await.unwrap();
    let off = server.registry.set_enabled("echo", false).await.unwrap();
    assert!(!off.enabled);
    let err = tokio::net::TcpStream::connect(&p.listen).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let _ = read_to_close(&mut live, LONG).await; // closed (EOF or reset)
    // Up again on the same address.
    let on = server.registry.set_enabled("echo", true).await.unwrap();
    assert_eq!(on.listen, p.listen);
    let mut s = connect(&p.listen).await;
    round_trip(&mut s, b"back").await.unwrap();
}

#[tokio::test]
async fn timeout_holds_data_then_closes() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    let toxic = Toxic::new("t", Stream::Upstream, ToxicKind::Timeout { timeout: 150 });
    server.registry.add_toxic("echo", toxic).await.unwrap();
    let mut s = connect(&p.listen).await;
    let start = tokio::time::Instant::now();
    s.write_all(b"lost").await.unwrap();
    let got = read_to_close(&mut s, LONG).await.unwrap_or_default();
    assert!(got.is_empty(), "the data must be dropped, got {got:?}");
    assert!(start.elapsed() >= Duration::from_millis(150), "{:?}", start.elapsed());
}

#[tokio::test]
async fn timeout_zero_holds_until_removed_which_closes() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    server.registry.add_toxic("echo", Toxic::new("t", Stream::Downstream, ToxicKind::Timeout { timeout: 0 })).await.unwrap();
    let mut s = connect(&p.listen).await;
    s.write_all(b"void").await.unwrap();
    let mut b = [0u8; 1];
    assert!(tokio::time::timeout(Duration::from_millis(200), s.read(&mut b)).await.is_err(), "held: nothing, not even a close");
    server.registry.remove_toxic("echo", "t").await.unwrap();
    assert!(read_to_close(&mut s, LONG).await.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn reset_peer_resets_the_connection() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    server.registry.add_toxic("echo", Toxic::new("rst", Stream::Upstream, ToxicKind::ResetPeer { timeout: 0 })).await.unwrap();
    let mut s = connect(&p.listen).await;
    s.write_all(b"boom").await.unwrap();
    let err = read_to_close(&mut s, LONG).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
}

#[tokio::test]
async fn limit_data_closes_after_the_limit() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    server.registry.add_toxic("echo", Toxic::new("lim", Stream::Downstream, ToxicKind::LimitData { bytes: 10 })).await.unwrap();
    let mut s = connect(&p.listen).await;
    s.write_all(b"0123456789abcdef").await.unwrap();
    let got = read_to_close(&mut s, LONG).await.unwrap();
    assert_eq!(got, b"0123456789");
}

#[tokio::test]
async fn slow_close_delays_the_close() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    server.registry.add_toxic("echo", Toxic::new("sc", Stream::Downstream, ToxicKind::SlowClose { delay: 200 })).await.unwrap();
    let mut s = connect(&p.listen).await;
    s.write_all(b"bye").await.unwrap();
    s.shutdown().await.unwrap();
    let start = tokio::time::Instant::now();
    let got = read_to_close(&mut s, LONG).await.unwrap();
    assert_eq!(got, b"bye");
    assert!(start.elapsed() >= Duration::from_millis(190), "{:?}", start.elapsed());
}

#[tokio::test]
async fn bandwidth_limits_the_rate() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    // 100 KB/s: 30 KB take at least 300 ms.
    server.registry.add_toxic("echo", Toxic::new("bw", Stream::Downstream, ToxicKind::Bandwidth { rate: 100 })).await.unwrap();
    let mut s = connect(&p.listen).await;
    let msg = vec![7u8; 30_000];
    let took = round_trip(&mut s, &msg).await.unwrap();
    assert!(took >= Duration::from_millis(290) && took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn an_unreachable_upstream_closes_the_client() {
    let server = proxy_server().await;
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let p = server.registry.create(ProxySpec::new("nowhere", "127.0.0.1:0", free.to_string())).await.unwrap();
    let mut s = connect(&p.listen).await;
    let _ = read_to_close(&mut s, LONG).await;
    // The proxy still serves.
    assert!(server.registry.get("nowhere").await.unwrap().enabled);
}

#[tokio::test]
async fn deleting_a_proxy_closes_its_connections_and_frees_its_port() {
    let server = proxy_server().await;
    let echo = echo_server().await;
    let p = server.registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo.to_string())).await.unwrap();
    let mut s = connect(&p.listen).await;
    round_trip(&mut s, b"x").await.unwrap();
    server.registry.delete("echo").await.unwrap();
    let _ = read_to_close(&mut s, LONG).await;
    // The port is free again: a new proxy can take it.
    let again = server.registry.create(ProxySpec::new("echo", p.listen.clone(), echo.to_string())).await.unwrap();
    let mut s = connect(&again.listen).await;
    round_trip(&mut s, b"y").await.unwrap();
    wait_until("the registry to list one proxy", LONG, || async { server.registry.list().await.len() == 1 }).await;
}
