//! What the proxy costs, measured: request/response round trips over loopback, direct vs
//! through a proxy with no toxics, and the accuracy of a 100 ms latency toxic.
//!
//! `cargo bench -p faultline-proxy --bench overhead` (add `-- --quick` for a short run).
//!
//! Workloads:
//! - `http`: a reqwest client (as the worker's SDK) POSTing a small JSON body to an axum
//!   service (as the demo services) over a kept-alive connection: the demo's traffic.
//! - `http+1ms`: the same, the service awaiting 1 ms (a store commit, a downstream call)
//!   before it answers, as the demo services do real work per request.
//! - `tcp-echo-64B`: 64 bytes written and echoed back on a raw socket: no work at all on
//!   either end, so the proxy's cost stands alone (the worst case, in relative terms).
//!
//! Client, service and proxy each run on their own tokio runtime (one worker thread
//! each), as three processes would. Direct and proxied samples are taken in alternating
//! rounds so that drift on a shared machine hits both alike.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Json, Router};
use faultline_proxy::{ProxyServer, ProxySpec, Stream, Toxic, ToxicKind};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

fn runtime(name: &str) -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name(name).enable_all().build().unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats { p50: percentile(&v, 0.50), p99: percentile(&v, 0.99) }
}

async fn http_service() -> SocketAddr {
    let app = Router::new().route(
        "/charge",
        post(|Json(body): Json<Value>| async move {
            Json(json!({"charge_id": "ch_0001", "order_id": body["order_id"], "amount_cents": body["amount_cents"], "status": "captured"}))
        }),
    );
    let app = app.route(
        "/charge-slow",
        post(|Json(body): Json<Value>| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Json(json!({"charge_id": "ch_0001", "order_id": body["order_id"], "status": "captured"}))
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn echo_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn http_once(client: &reqwest::Client, url: &str) -> Duration {
    let start = Instant::now();
    let resp = client.post(url).json(&json!({"order_id": "o-42", "amount_cents": 1999, "idempotency_key": "k-42"})).send().await.unwrap();
    let _ = resp.bytes().await.unwrap();
    start.elapsed()
}

async fn echo_once(s: &mut TcpStream, msg: &[u8; 64]) -> Duration {
    let start = Instant::now();
    s.write_all(msg).await.unwrap();
    let mut back = [0u8; 64];
    s.read_exact(&mut back).await.unwrap();
    start.elapsed()
}

fn report(name: &str, direct: Stats, proxied: Stats) {
    let overhead = (us(proxied.p50) / us(direct.p50) - 1.0) * 100.0;
    println!(
        "{name:<14} direct p50 {:>7.1} µs p99 {:>7.1} µs | proxied p50 {:>7.1} µs p99 {:>7.1} µs | p50 overhead {:>+6.1} % ({:+.1} µs)",
        us(direct.p50),
        us(direct.p99),
        us(proxied.p50),
        us(proxied.p99),
        overhead,
        us(proxied.p50) - us(direct.p50)
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, per_round) = if quick { (10, 200) } else { (40, 500) };
    let service_rt = runtime("service");
    let proxy_rt = runtime("proxy");
    let client_rt = runtime("client");

    let (http_addr, echo_addr) = service_rt.block_on(async { (http_service().await, echo_service().await) });
    let server = proxy_rt.block_on(ProxyServer::start("127.0.0.1:0".parse().unwrap())).unwrap();
    let registry = server.registry.clone();
    let (http_proxy, echo_proxy, lat_proxy) = proxy_rt.block_on(async {
        let h = registry.create(ProxySpec::new("http", "127.0.0.1:0", http_addr.to_string())).await.unwrap();
        let e = registry.create(ProxySpec::new("echo", "127.0.0.1:0", echo_addr.to_string())).await.unwrap();
        let l = registry.create(ProxySpec::new("lat", "127.0.0.1:0", echo_addr.to_string())).await.unwrap();
        registry
            .add_toxic("lat", Toxic::new("lat", Stream::Downstream, ToxicKind::Latency { latency: 100, jitter: 0 }))
            .await
            .unwrap();
        (h.listen, e.listen, l.listen)
    });

    println!("faultline-proxy overhead bench: {rounds} rounds x {per_round} round trips per mode, alternating");
    client_rt.block_on(async {
        // HTTP: one kept-alive connection per client, as the SDK's pooled client.
        let direct_client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
        let proxied_client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
        let direct_url = format!("http://{http_addr}/charge");
        let proxied_url = format!("http://{http_proxy}/charge");
        for _ in 0..1000 {
            http_once(&direct_client, &direct_url).await;
            http_once(&proxied_client, &proxied_url).await;
        }
        let (mut d, mut p) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            for _ in 0..per_round {
                d.push(http_once(&direct_client, &direct_url).await);
            }
            for _ in 0..per_round {
                p.push(http_once(&proxied_client, &proxied_url).await);
            }
        }
        report("http", stats(d), stats(p));

        let direct_url = format!("http://{http_addr}/charge-slow");
        let proxied_url = format!("http://{http_proxy}/charge-slow");
        let (mut d, mut p) = (Vec::new(), Vec::new());
        for _ in 0..rounds / 4 {
            for _ in 0..per_round / 4 {
                d.push(http_once(&direct_client, &direct_url).await);
            }
            for _ in 0..per_round / 4 {
                p.push(http_once(&proxied_client, &proxied_url).await);
            }
        }
        report("http+1ms", stats(d), stats(p));

        let msg = [42u8; 64];
        let mut direct = TcpStream::connect(echo_addr).await.unwrap();
        let mut proxied = TcpStream::connect(&echo_proxy).await.unwrap();
        direct.set_nodelay(true).unwrap();
        proxied.set_nodelay(true).unwrap();
        for _ in 0..1000 {
            echo_once(&mut direct, &msg).await;
            echo_once(&mut proxied, &msg).await;
        }
        let (mut d, mut p) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            for _ in 0..per_round {
                d.push(echo_once(&mut direct, &msg).await);
            }
            for _ in 0..per_round {
                p.push(echo_once(&mut proxied, &msg).await);
            }
        }
        report("tcp-echo-64B", stats(d), stats(p));

        // Latency toxic, 100 ms downstream: round trips on 10 connections at once.
        let samples_per_conn = if quick { 10 } else { 50 };
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let addr = lat_proxy.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut v = Vec::new();
                for _ in 0..samples_per_conn {
                    v.push(echo_once(&mut s, &msg).await);
                }
                v
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let n = all.len();
        all.sort();
        let set = Duration::from_millis(100);
        let min = all[0];
        let s = stats(all);
        println!(
            "latency 100ms  {n} round trips: min {:.2} ms p50 {:.2} ms p99 {:.2} ms | error vs set: p50 {:+.2} ms p99 {:+.2} ms (min {:+.2} ms)",
            min.as_secs_f64() * 1e3,
            s.p50.as_secs_f64() * 1e3,
            s.p99.as_secs_f64() * 1e3,
            (s.p50.as_secs_f64() - set.as_secs_f64()) * 1e3,
            (s.p99.as_secs_f64() - set.as_secs_f64()) * 1e3,
            (min.as_secs_f64() - set.as_secs_f64()) * 1e3,
        );
    });
    proxy_rt.block_on(server.shutdown());
}
