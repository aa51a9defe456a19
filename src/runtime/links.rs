//! Links: the worker's connections to the engine and to each service, which go through the
//! fault proxy (`faultline-proxy`, Toxiproxy's toxics and HTTP API), and the faults put on
//! them.
//!
//! The links are declared once, in docker-compose.yml: the proxy pod's `FAULTLINE_PROXIES`
//! (Toxiproxy's JSON list `[{"name","listen","upstream"}]`), which the proxy binary reads at
//! start. A link is named `from->to` (`worker->payment`); its upstream names the pod it
//! reaches (`payment:8080`). The proxy pod is the one whose image packs the
//! `faultline-proxy` binary (`x-faultline-images`).
//!
//! A fault is one Toxiproxy toxic (`latency`, `bandwidth`, `timeout`, `reset_peer`, named
//! `<type>_<stream>` as Toxiproxy names them) or the link disabled (`partition`). Both
//! runtimes apply them the same way, through the proxy's HTTP API on the host; every fault
//! has its equivalent `curl` line. Healing a link removes all its toxics and enables it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::{EquivalentCommand, RuntimeError, Topology};

/// The workspace binary of the proxy pod's image.
pub const PROXY_BINARY: &str = "faultline-proxy";
/// The proxy pod's variable holding its links.
pub const LINKS_VAR: &str = "FAULTLINE_PROXIES";

/// One link of the proxy, as declared in the compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// `worker->payment`.
    pub name: String,
    /// The pod on the client side (`worker`).
    pub from: String,
    /// The pod the upstream names (`payment`).
    pub to: String,
    /// `0.0.0.0:18082` as written.
    pub listen: String,
    /// `payment:8080` as written.
    pub upstream: String,
}

impl Link {
    /// Whether cutting `pod` off the network cuts this link.
    pub fn touches(&self, pod: &str) -> bool {
        self.from == pod || self.to == pod
    }
}

/// Parses the proxy pod's `FAULTLINE_PROXIES`. The message names the entry that is wrong.
pub fn parse_links(json_text: &str) -> Result<Vec<Link>, String> {
    let v: Value = serde_json::from_str(json_text).map_err(|e| format!("`{LINKS_VAR}` is not a JSON list of proxies: {e}"))?;
    let items = v.as_array().ok_or_else(|| format!("`{LINKS_VAR}` must be a JSON list [{{\"name\", \"listen\", \"upstream\"}}]"))?;
    let mut out: Vec<Link> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
        let (Some(name), Some(listen), Some(upstream)) = (field("name"), field("listen"), field("upstream")) else {
            return Err(format!("`{LINKS_VAR}` entry {} needs string fields name, listen and upstream", i + 1));
        };
        let Some((from, to_side)) = name.split_once("->") else {
            return Err(format!("link `{name}` must be named `<from pod>-><to pod>`, e.g. `worker->payment`"));
        };
        let to = upstream.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or_default();
        if to != to_side {
            return Err(format!("link `{name}`: its upstream `{upstream}` must name pod `{to_side}` (`{to_side}:<port>`)"));
        }
        if out.iter().any(|l| l.name == name) {
            return Err(format!("link `{name}` is declared twice in `{LINKS_VAR}`"));
        }
        out.push(Link { name: name.clone(), from: from.to_string(), to, listen, upstream });
    }
    Ok(out)
}

impl Topology {
    /// The proxy pod, if the topology has one.
    pub fn proxy_pod(&self) -> Option<&super::PodSpec> {
        self.pods.iter().find(|p| self.images.get(&p.image).is_some_and(|b| b == PROXY_BINARY))
    }

    /// The proxy's links, in file order (none without a proxy pod). The compose file is
    /// checked when it is read, so a bad list never gets here.
    pub fn links(&self) -> Vec<Link> {
        self.proxy_pod().and_then(|p| p.environment.get(LINKS_VAR)).and_then(|t| parse_links(t).ok()).unwrap_or_default()
    }

    /// `http://127.0.0.1:<port>` of the proxy's HTTP API on the host.
    pub fn proxy_api_url(&self) -> Option<String> {
        let p = self.proxy_pod()?;
        let port: Option<u16> = p.environment.get("FAULTLINE_LISTEN").and_then(|l| l.rsplit(':').next()?.parse().ok());
        let m = p.ports.iter().find(|m| Some(m.container_port) == port).or_else(|| p.ports.first())?;
        Some(format!("http://127.0.0.1:{}", m.host_port))
    }

    /// The link named `name`, or an error listing the links there are.
    pub fn link(&self, name: &str) -> Result<Link, RuntimeError> {
        let links = self.links();
        links.iter().find(|l| l.name == name).cloned().ok_or_else(|| RuntimeError::UnknownLink {
            link: name.to_string(),
            known: if links.is_empty() { "none: docker-compose.yml has no proxy pod".into() } else { links.iter().map(|l| l.name.clone()).collect::<Vec<_>>().join(", ") },
        })
    }
}

/// Which way a toxic applies: `upstream` = worker → service, `downstream` = the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Upstream,
    #[default]
    Downstream,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
        }
    }
}

/// A fault on a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkFault {
    /// Every chunk delayed by `latency` ± `jitter`.
    Latency { latency: Duration, jitter: Duration, direction: Direction },
    /// Paced to `rate_kbps` KB/s.
    Bandwidth { rate_kbps: u64, direction: Direction },
    /// Data dropped; connections closed after `after` (zero: held until healed).
    Timeout { after: Duration, direction: Direction },
    /// Connections reset (RST) on their first data, after `after`.
    Reset { after: Duration, direction: Direction },
    /// The link is down: connections refused, open ones closed.
    Partition,
    /// Kernel netem on the interface of the pod the link reaches (Linux, root, Docker):
    /// below the proxy, so it delays and drops packets, not chunks.
    Netem(super::netem::NetemSpec),
}

/// A fault's kind, as scenarios and the screen name it.
impl LinkFault {
    pub fn kind(&self) -> &'static str {
        match self {
            LinkFault::Latency { .. } => "latency",
            LinkFault::Bandwidth { .. } => "bandwidth",
            LinkFault::Timeout { .. } => "timeout",
            LinkFault::Reset { .. } => "reset",
            LinkFault::Partition => "partition",
            LinkFault::Netem(_) => "netem",
        }
    }

    /// One line for the screen and reports: `latency 3s`, `partition`.
    pub fn describe(&self) -> String {
        use crate::scenario::model::fmt_duration as d;
        let dir = |x: Direction| if x == Direction::Upstream { " upstream" } else { "" };
        match self {
            LinkFault::Latency { latency, jitter, direction } if jitter.is_zero() => format!("latency {}{}", d(*latency), dir(*direction)),
            LinkFault::Latency { latency, jitter, direction } => format!("latency {} ±{}{}", d(*latency), d(*jitter), dir(*direction)),
            LinkFault::Bandwidth { rate_kbps, direction } => format!("bandwidth {rate_kbps} KB/s{}", dir(*direction)),
            LinkFault::Timeout { after, direction } if after.is_zero() => format!("timeout (blackhole){}", dir(*direction)),
            LinkFault::Timeout { after, direction } => format!("timeout after {}{}", d(*after), dir(*direction)),
            LinkFault::Reset { after, direction } => format!("reset after {}{}", d(*after), dir(*direction)),
            LinkFault::Partition => "partition".into(),
            LinkFault::Netem(spec) => spec.describe(),
        }
    }

    /// The Toxiproxy toxic, or `None` for a partition (the proxy disabled).
    pub fn toxic(&self) -> Option<Value> {
        let ms = |d: &Duration| d.as_millis() as u64;
        let (ty, dir, attributes) = match self {
            LinkFault::Latency { latency, jitter, direction } => ("latency", direction, json!({"latency": ms(latency), "jitter": ms(jitter)})),
            LinkFault::Bandwidth { rate_kbps, direction } => ("bandwidth", direction, json!({"rate": rate_kbps})),
            LinkFault::Timeout { after, direction } => ("timeout", direction, json!({"timeout": ms(after)})),
            LinkFault::Reset { after, direction } => ("reset_peer", direction, json!({"timeout": ms(after)})),
            LinkFault::Partition | LinkFault::Netem(_) => return None,
        };
        Some(json!({"name": format!("{ty}_{}", dir.as_str()), "type": ty, "stream": dir.as_str(), "toxicity": 1.0, "attributes": attributes}))
    }
}

/// A link as the proxy reports it: up or down, and the faults on it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkStatus {
    pub name: String,
    pub enabled: bool,
    /// Toxics, short enough for a table cell: `+3000ms`, `10KB/s`, `blackhole`, `reset`.
    pub toxics: Vec<String>,
}

impl LinkStatus {
    /// The active faults for the screen: `cut` (a partition), `+3000ms`, ...
    pub fn faults(&self) -> Vec<String> {
        let mut f = Vec::new();
        if !self.enabled {
            f.push("cut".to_string());
        }
        f.extend(self.toxics.iter().cloned());
        f
    }
}

/// `worker->payment` as a URL path segment (`>` must be escaped).
pub fn path_segment(name: &str) -> String {
    name.replace('%', "%25").replace('>', "%3E").replace(' ', "%20").replace('/', "%2F")
}

/// The `curl` line that does `fault` on `link` (a partition disables the link), or heals it
/// (`fault` = None: every link back up with no toxic is `POST /reset`; one link's heal is
/// its partition lifted and each toxic deleted).
pub fn curl(api: &str, link: &str, fault: Option<&LinkFault>) -> EquivalentCommand {
    let p = format!("{api}/proxies/{}", path_segment(link));
    EquivalentCommand::Line(match fault {
        Some(LinkFault::Partition) => format!("curl -sX POST {p} -d '{{\"enabled\":false}}'"),
        Some(f) => format!("curl -sX POST {p}/toxics -d '{}'", f.toxic().unwrap_or_default()),
        None => format!("curl -sX POST {p} -d '{{\"enabled\":true}}' && curl -s {p}/toxics  # then DELETE {p}/toxics/<name> for each"),
    })
}

/// The `curl` line that heals one fault: its toxic deleted, or the link enabled.
pub fn curl_heal(api: &str, link: &str, fault: &LinkFault) -> EquivalentCommand {
    let p = format!("{api}/proxies/{}", path_segment(link));
    EquivalentCommand::Line(match fault.toxic() {
        None => format!("curl -sX POST {p} -d '{{\"enabled\":true}}'"),
        Some(t) => format!("curl -sX DELETE {p}/toxics/{}", t["name"].as_str().unwrap_or_default()),
    })
}

/// A client of the proxy's HTTP API on the host.
#[derive(Debug, Clone)]
pub struct ProxyApi {
    base: String,
    http: reqwest::Client,
}

impl ProxyApi {
    /// The API of `topology`'s proxy pod, or an error when there is none.
    pub fn of(topology: &Topology) -> Result<Self, RuntimeError> {
        let base = topology.proxy_api_url().ok_or_else(|| RuntimeError::Other("docker-compose.yml has no proxy pod (an image mapped to `faultline-proxy` in x-faultline-images), so links cannot be faulted".into()))?;
        Ok(ProxyApi { base, http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default() })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Option<Value>, RuntimeError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let unreachable = |e: reqwest::Error| RuntimeError::Other(format!("the fault proxy's API at {} did not answer ({e}); is the `proxy` pod running?", self.base));
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        if !status.is_success() {
            let why = serde_json::from_str::<Value>(&text).ok().and_then(|v| v["error"].as_str().map(str::to_string)).unwrap_or(text);
            return Err(RuntimeError::Other(format!("the fault proxy refused {method} {path}: {status}: {why}")));
        }
        Ok(serde_json::from_str(&text).ok())
    }

    /// Puts `fault` on `link`; a toxic of the same type and direction is replaced.
    pub async fn apply(&self, link: &str, fault: &LinkFault) -> Result<(), RuntimeError> {
        let p = format!("/proxies/{}", path_segment(link));
        match (fault, fault.toxic()) {
            (LinkFault::Netem(_), _) => Err(RuntimeError::Other("netem is not the proxy's: it goes on the pod's interface (PodRuntime::netem)".into())),
            (_, None) => self.call(reqwest::Method::POST, &p, Some(json!({"enabled": false}))).await.map(drop),
            (_, Some(t)) => {
                let name = t["name"].as_str().unwrap_or_default().to_string();
                let _ = self.call(reqwest::Method::DELETE, &format!("{p}/toxics/{name}"), None).await;
                self.call(reqwest::Method::POST, &format!("{p}/toxics"), Some(t)).await.map(drop)
            }
        }
    }

    /// Enables `link` and removes its toxics: `kind` only those of that kind (`partition`
    /// only enables), `None` all of them.
    pub async fn heal(&self, link: &str, kind: Option<&str>) -> Result<(), RuntimeError> {
        let p = format!("/proxies/{}", path_segment(link));
        if kind.is_none_or(|k| k == "partition") {
            self.call(reqwest::Method::POST, &p, Some(json!({"enabled": true}))).await?;
        }
        let toxics = self.call(reqwest::Method::GET, &format!("{p}/toxics"), None).await?.unwrap_or_default();
        for t in toxics.as_array().into_iter().flatten() {
            let ty = t["type"].as_str().unwrap_or_default();
            let ty = if ty == "reset_peer" { "reset" } else { ty };
            if kind.is_none_or(|k| k == ty) {
                let name = t["name"].as_str().unwrap_or_default();
                self.call(reqwest::Method::DELETE, &format!("{p}/toxics/{}", path_segment(name)), None).await?;
            }
        }
        Ok(())
    }

    /// Enables or disables every link in `links` (a pod cut off, or back).
    pub async fn set_enabled(&self, links: &[Link], enabled: bool) -> Result<(), RuntimeError> {
        for l in links {
            self.call(reqwest::Method::POST, &format!("/proxies/{}", path_segment(&l.name)), Some(json!({"enabled": enabled}))).await?;
        }
        Ok(())
    }

    /// Every link's state and toxics.
    pub async fn status(&self) -> Result<Vec<LinkStatus>, RuntimeError> {
        let all = self.call(reqwest::Method::GET, "/proxies", None).await?.unwrap_or_default();
        let map: BTreeMap<String, Value> = serde_json::from_value(all).unwrap_or_default();
        Ok(map.into_iter().map(|(name, p)| LinkStatus { name, enabled: p["enabled"].as_bool().unwrap_or(true), toxics: p["toxics"].as_array().map(|ts| ts.iter().map(toxic_text).collect()).unwrap_or_default() }).collect())
    }
}

/// A toxic in a few characters (a table cell): `+3000ms`, `+3000±100`, `10KB/s`,
/// `blackhole`, `timeout`, `reset`; `↑` marks an upstream one.
fn toxic_text(t: &Value) -> String {
    let a = &t["attributes"];
    let n = |k: &str| a[k].as_i64().unwrap_or(0);
    let up = if t["stream"] == "upstream" { "↑" } else { "" };
    let text = match t["type"].as_str().unwrap_or("?") {
        "latency" if n("jitter") > 0 => format!("+{}±{}", n("latency"), n("jitter")),
        "latency" => format!("+{}ms", n("latency")),
        "bandwidth" => format!("{}KB/s", n("rate")),
        "timeout" if n("timeout") == 0 => "blackhole".into(),
        "timeout" => "timeout".into(),
        "reset_peer" => "reset".into(),
        other => other.to_string(),
    };
    format!("{up}{text}")
}

impl LinkFault {
    /// The same few characters as the proxy's toxics on screen (see [`LinkStatus::toxics`]).
    pub fn short(&self) -> String {
        match (self, self.toxic()) {
            (LinkFault::Netem(_), _) => "netem".into(),
            (_, Some(t)) => toxic_text(&t),
            (_, None) => "cut".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real() -> Topology {
        super::super::compose::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml")).unwrap()
    }

    #[test]
    fn the_compose_file_declares_the_worker_links() {
        let t = real();
        let names: Vec<String> = t.links().into_iter().map(|l| l.name).collect();
        assert!(names.contains(&"worker->engine".to_string()) && names.contains(&"worker->payment".to_string()), "{names:?}");
        assert_eq!(t.proxy_api_url().as_deref(), Some("http://127.0.0.1:8474"));
        let l = t.link("worker->payment").unwrap();
        assert_eq!((l.from.as_str(), l.to.as_str(), l.upstream.as_str()), ("worker", "payment", "payment:8080"));
        assert!(l.touches("payment") && !l.touches("engine"));
        let e = t.link("worker->paymnt").unwrap_err().to_string();
        assert!(e.contains("worker->paymnt") && e.contains("worker->payment"), "{e}");
    }

    #[test]
    fn bad_link_lists_are_named() {
        assert!(parse_links("{").unwrap_err().contains("not a JSON list"));
        assert!(parse_links(r#"[{"name":"a","listen":"x:1","upstream":"b:1"}]"#).unwrap_err().contains("`<from pod>-><to pod>`"));
        assert!(parse_links(r#"[{"name":"a->b","listen":"x:1","upstream":"c:1"}]"#).unwrap_err().contains("must name pod `b`"));
        assert!(parse_links(r#"[{"name":"a->b"}]"#).unwrap_err().contains("entry 1"));
    }

    #[test]
    fn faults_are_toxiproxy_toxics_with_a_curl_line() {
        let f = LinkFault::Latency { latency: Duration::from_secs(3), jitter: Duration::ZERO, direction: Direction::Downstream };
        assert_eq!(f.toxic().unwrap()["attributes"]["latency"], 3000);
        let line = curl("http://127.0.0.1:8474", "worker->payment", Some(&f)).to_string();
        let (head, body) = line.split_once(" -d ").unwrap();
        assert_eq!(head, "curl -sX POST http://127.0.0.1:8474/proxies/worker-%3Epayment/toxics");
        let body: Value = serde_json::from_str(body.trim_matches('\'')).unwrap();
        assert_eq!(body, f.toxic().unwrap());
        assert_eq!(body["name"], "latency_downstream");
        assert_eq!(
            curl("http://h", "worker->engine", Some(&LinkFault::Partition)).to_string(),
            r#"curl -sX POST http://h/proxies/worker-%3Eengine -d '{"enabled":false}'"#
        );
        assert_eq!(curl_heal("http://h", "worker->payment", &f).to_string(), "curl -sX DELETE http://h/proxies/worker-%3Epayment/toxics/latency_downstream");
        assert_eq!(LinkFault::Reset { after: Duration::ZERO, direction: Direction::Upstream }.toxic().unwrap()["type"], "reset_peer");
        assert_eq!(f.describe(), "latency 3s");
        assert_eq!(f.short(), "+3000ms");
        assert_eq!(LinkFault::Timeout { after: Duration::ZERO, direction: Direction::Upstream }.short(), "↑blackhole");
    }
}
