//! Toxiproxy's HTTP API: routes, JSON shapes, status codes, and bad input refused with a
//! clear 4xx while the proxy keeps forwarding.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(server: &faultline_proxy::ProxyServer) -> Self {
        Api { base: server.url(), http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap() }
    }

    async fn send(&self, method: &str, path: &str, body: Option<&str>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, value)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send("GET", path, None).await
    }

    async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.send("POST", path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send("DELETE", path, None).await
    }
}

/// Asserts a Toxiproxy error: the status, `{"error", "status"}`, and words of the message.
fn assert_error(got: (StatusCode, Value), status: u16, words: &[&str]) {
    assert_eq!(got.0.as_u16(), status, "{:?}", got.1);
    assert_eq!(got.1["status"], json!(status), "{:?}", got.1);
    let msg = got.1["error"].as_str().unwrap_or_default();
    for w in words {
        assert!(msg.contains(w), "error {msg:?} should contain {w:?}");
    }
}

#[tokio::test]
async fn proxy_and_toxic_lifecycle_with_toxiproxy_shapes() {
    let server = proxy_server().await;
    let api = Api::new(&server);
    let echo = echo_server().await;

    let (st, v) = api.get("/version").await;
    assert_eq!(st, StatusCode::OK);
    assert!(v["version"].is_string());
    assert_eq!(api.get("/proxies").await, (StatusCode::OK, json!({})));

    let (st, p) = api.post("/proxies", &format!(r#"{{"name":"echo","upstream":"{echo}"}}"#)).await;
    assert_eq!(st, StatusCode::CREATED);
    let listen = p["listen"].as_str().unwrap().to_string();
    assert!(listen.starts_with("127.0.0.1:") && !listen.ends_with(":0"), "{listen}");
    assert_eq!(p, json!({"name":"echo","listen":listen,"upstream":echo.to_string(),"enabled":true,"toxics":[]}));

    let (st, t) = api.post("/proxies/echo/toxics", r#"{"type":"latency","attributes":{"latency":20,"jitter":5},"stream":"upstream"}"#).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t, json!({"attributes":{"latency":20,"jitter":5},"name":"latency_upstream","type":"latency","stream":"upstream","toxicity":1.0}));
    let (st, t) = api.post("/proxies/echo/toxics/latency_upstream", r#"{"attributes":{"latency":30}}"#).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t["attributes"], json!({"latency":30,"jitter":5}));
    let (st, t) = api.send("PATCH", "/proxies/echo/toxics/latency_upstream", Some(r#"{"toxicity":0.5}"#)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(t["toxicity"], json!(0.5));
    assert_eq!(api.get("/proxies/echo/toxics/latency_upstream").await.1["attributes"]["latency"], json!(30));
    let (_, list) = api.get("/proxies/echo/toxics").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, all) = api.get("/proxies").await;
    assert_eq!(all["echo"]["toxics"][0]["name"], json!("latency_upstream"));

    // Down and up, as clients do it.
    let (st, p) = api.post("/proxies/echo", r#"{"enabled":false}"#).await;
    assert_eq!((st, &p["enabled"]), (StatusCode::OK, &json!(false)));
    assert!(tokio::net::TcpStream::connect(&listen).await.is_err());
    let (_, p) = api.post("/proxies/echo", r#"{"enabled":true}"#).await;
    assert_eq!(p["enabled"], json!(true));

    // Reset: every proxy enabled, every toxic gone.
    api.post("/proxies/echo", r#"{"enabled":false}"#).await;
    assert_eq!(api.post("/reset", "").await.0, StatusCode::NO_CONTENT);
    let (_, p) = api.get("/proxies/echo").await;
    assert_eq!((&p["enabled"], &p["toxics"]), (&json!(true), &json!([])));
    let mut s = connect(&listen).await;
    round_trip(&mut s, b"after reset").await.unwrap();

    assert_eq!(api.delete("/proxies/echo/toxics/latency_upstream").await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.delete("/proxies/echo").await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.get("/proxies").await.1, json!({}));
}

#[tokio::test]
async fn populate_creates_keeps_and_replaces() {
    let server = proxy_server().await;
    let api = Api::new(&server);
    let echo = echo_server().await;
    let body = format!(r#"[{{"name":"a","upstream":"{echo}"}},{{"name":"b","upstream":"{echo}","enabled":false}}]"#);
    let (st, v) = api.post("/populate", &body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let proxies = v["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), 2);
    assert_eq!(proxies[1]["enabled"], json!(false));
    assert!(v.get("error").is_none());
    // The same list again keeps "a" (and its toxic); a new upstream replaces it.
    api.post("/proxies/a/toxics", r#"{"type":"timeout"}"#).await;
    let listen_a = proxies[0]["listen"].as_str().unwrap().to_string();
    let again = format!(r#"[{{"name":"a","listen":"{listen_a}","upstream":"{echo}"}}]"#);
    let (_, v) = api.post("/populate", &again).await;
    assert_eq!(v["proxies"][0]["toxics"].as_array().unwrap().len(), 1);
    let other = r#"[{"name":"a","upstream":"127.0.0.1:1"}]"#;
    let (_, v) = api.post("/populate", other).await;
    assert_eq!(v["proxies"][0]["upstream"], json!("127.0.0.1:1"));
    assert_eq!(v["proxies"][0]["toxics"], json!([]));
    // Invalid entries: nothing is created.
    let (st, v) = api.post("/populate", r#"[{"name":"c","upstream":"x:1"},{"name":"d"}]"#).await;
    assert_error((st, v), 400, &["missing required field", "upstream at proxy 2"]);
    assert_eq!(api.get("/proxies/c").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_is_refused_clearly_and_forwarding_goes_on() {
    let server = proxy_server().await;
    let api = Api::new(&server);
    let echo = echo_server().await;
    let (_, p) = api.post("/proxies", &format!(r#"{{"name":"echo","upstream":"{echo}"}}"#)).await;
    let listen = p["listen"].as_str().unwrap().to_string();
    let mut live = connect(&listen).await;
    round_trip(&mut live, b"before").await.unwrap();

    // Unknown toxic type.
    assert_error(api.post("/proxies/echo/toxics", r#"{"type":"teleport"}"#).await, 400, &["invalid toxic type", "\"teleport\""]);
    // Negative latency, on create and on update.
    assert_error(
        api.post("/proxies/echo/toxics", r#"{"type":"latency","attributes":{"latency":-100}}"#).await,
        400,
        &["attributes.latency", ">= 0", "-100"],
    );
    api.post("/proxies/echo/toxics", r#"{"name":"lag","type":"latency","attributes":{"latency":0}}"#).await;
    assert_error(api.post("/proxies/echo/toxics/lag", r#"{"attributes":{"jitter":-1}}"#).await, 400, &["attributes.jitter", "-1"]);
    // A wrongly typed attribute, a bad stream, a toxicity out of range.
    assert_error(api.post("/proxies/echo/toxics", r#"{"type":"latency","attributes":{"latency":"100ms"}}"#).await, 400, &["attributes.latency must be an integer"]);
    assert_error(api.post("/proxies/echo/toxics", r#"{"type":"latency","stream":"sideways"}"#).await, 400, &["stream was invalid", "sideways"]);
    assert_error(api.post("/proxies/echo/toxics", r#"{"type":"latency","toxicity":1.5}"#).await, 400, &["toxicity", "1.5"]);
    // A missing proxy, for every route that names one.
    for (method, path) in [
        ("GET", "/proxies/ghost"),
        ("POST", "/proxies/ghost"),
        ("DELETE", "/proxies/ghost"),
        ("GET", "/proxies/ghost/toxics"),
        ("POST", "/proxies/ghost/toxics"),
        ("GET", "/proxies/ghost/toxics/lag"),
        ("POST", "/proxies/ghost/toxics/lag"),
        ("DELETE", "/proxies/ghost/toxics/lag"),
    ] {
        let body = if method == "POST" { Some(r#"{"type":"latency"}"#) } else { None };
        assert_error(api.send(method, path, body).await, 404, &["proxy not found", "\"ghost\""]);
    }
    assert_error(api.get("/proxies/echo/toxics/nope").await, 404, &["toxic not found", "\"nope\""]);
    // Malformed JSON, everywhere a body is read.
    for path in ["/proxies", "/proxies/echo", "/proxies/echo/toxics", "/proxies/echo/toxics/lag", "/populate"] {
        assert_error(api.post(path, r#"{"name": "x",,}"#).await, 400, &["bad request body", "malformed JSON"]);
    }
    assert_error(api.post("/proxies", "[]").await, 400, &["expected a JSON object, got an array"]);
    assert_error(api.post("/proxies/echo", r#"{"enabled":"no"}"#).await, 400, &["enabled must be true or false"]);
    // Missing fields and bad addresses.
    assert_error(api.post("/proxies", r#"{"upstream":"x:1"}"#).await, 400, &["missing required field", "name"]);
    assert_error(api.post("/proxies", r#"{"name":"n"}"#).await, 400, &["missing required field", "upstream"]);
    assert_error(api.post("/proxies", r#"{"name":"n","upstream":"no-port"}"#).await, 400, &["upstream must be host:port", "no-port"]);
    // Duplicate names: a proxy, a toxic (in either direction).
    assert_error(api.post("/proxies", &format!(r#"{{"name":"echo","upstream":"{echo}"}}"#)).await, 409, &["proxy already exists", "\"echo\""]);
    assert_error(api.post("/proxies/echo/toxics", r#"{"name":"lag","type":"timeout","stream":"upstream"}"#).await, 409, &["toxic already exists", "\"lag\""]);
    // A listen address in use.
    assert_error(api.post("/proxies", &format!(r#"{{"name":"clash","listen":"{listen}","upstream":"{echo}"}}"#)).await, 500, &["cannot listen on", &listen]);
    // Browsers are turned away, as by Toxiproxy.
    let resp = api.http.get(format!("{}/proxies", api.base)).header("User-Agent", "Mozilla/5.0").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // The live connection and new ones still forward, with no toxic in the way.
    api.delete("/proxies/echo/toxics/lag").await;
    round_trip(&mut live, b"after").await.unwrap();
    let mut fresh = connect(&listen).await;
    round_trip(&mut fresh, b"fresh").await.unwrap();
    let (_, p) = api.get("/proxies/echo").await;
    assert_eq!((&p["enabled"], &p["toxics"]), (&json!(true), &json!([])));
}

#[tokio::test]
async fn healthcheck_probe_sees_the_api_and_its_absence() {
    let server = proxy_server().await;
    let addr = server.addr;
    assert_eq!(faultline_proxy::server::probe(addr).await, Ok(()));
    server.shutdown().await;
    assert!(faultline_proxy::server::probe(addr).await.is_err());
}
