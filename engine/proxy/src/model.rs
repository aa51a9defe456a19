//! The data model of proxies and toxics, and their JSON shapes as Toxiproxy has them.
//!
//! A toxic is `{"name", "type", "stream", "toxicity", "attributes"}`; a proxy is
//! `{"name", "listen", "upstream", "enabled", "toxics": [...]}`. Parsing is done by hand
//! from [`serde_json::Value`] so that every refusal names the field and the value that is
//! wrong (serde's messages name neither). Durations are milliseconds, rates KB/s
//! (1 KB = 1000 bytes), as in Toxiproxy.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Direction of a toxic: `upstream` is client → server, `downstream` server → client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Stream {
    /// Parses `upstream` / `downstream`, ignoring case like Toxiproxy.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value.to_ascii_lowercase().as_str() {
            "upstream" => Ok(Stream::Upstream),
            "downstream" => Ok(Stream::Downstream),
            _ => Err(ApiError::InvalidStream(value.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// What a toxic does, with its attributes. Integers are Toxiproxy's `int64` attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToxicKind {
    /// Delays every chunk by `latency` ± `jitter` ms.
    Latency { latency: i64, jitter: i64 },
    /// Limits the rate to `rate` KB/s (0: no limit).
    Bandwidth { rate: i64 },
    /// Delays the close (EOF) by `delay` ms.
    SlowClose { delay: i64 },
    /// Drops all data; closes the connection after `timeout` ms (0: never).
    Timeout { timeout: i64 },
    /// On the first data, waits `timeout` ms then resets the connection (TCP RST).
    ResetPeer { timeout: i64 },
    /// Closes the connection once `bytes` bytes have gone through.
    LimitData { bytes: i64 },
    /// Passes everything (Toxiproxy registers it too).
    Noop,
}

/// The attribute names of each type, in Toxiproxy's JSON order.
fn attribute_names(type_name: &str) -> Option<&'static [&'static str]> {
    Some(match type_name {
        "latency" => &["latency", "jitter"],
        "bandwidth" => &["rate"],
        "slow_close" => &["delay"],
        "timeout" => &["timeout"],
        "reset_peer" => &["timeout"],
        "limit_data" => &["bytes"],
        "noop" => &[],
        _ => return None,
    })
}

impl ToxicKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ToxicKind::Latency { .. } => "latency",
            ToxicKind::Bandwidth { .. } => "bandwidth",
            ToxicKind::SlowClose { .. } => "slow_close",
            ToxicKind::Timeout { .. } => "timeout",
            ToxicKind::ResetPeer { .. } => "reset_peer",
            ToxicKind::LimitData { .. } => "limit_data",
            ToxicKind::Noop => "noop",
        }
    }

    /// The attribute values, in the order of [`attribute_names`].
    fn values(&self) -> Vec<i64> {
        match *self {
            ToxicKind::Latency { latency, jitter } => vec![latency, jitter],
            ToxicKind::Bandwidth { rate } => vec![rate],
            ToxicKind::SlowClose { delay } => vec![delay],
            ToxicKind::Timeout { timeout } | ToxicKind::ResetPeer { timeout } => vec![timeout],
            ToxicKind::LimitData { bytes } => vec![bytes],
            ToxicKind::Noop => vec![],
        }
    }

    fn from_values(type_name: &str, v: &[i64]) -> Option<Self> {
        let get = |i: usize| v.get(i).copied().unwrap_or(0);
        Some(match type_name {
            "latency" => ToxicKind::Latency { latency: get(0), jitter: get(1) },
            "bandwidth" => ToxicKind::Bandwidth { rate: get(0) },
            "slow_close" => ToxicKind::SlowClose { delay: get(0) },
            "timeout" => ToxicKind::Timeout { timeout: get(0) },
            "reset_peer" => ToxicKind::ResetPeer { timeout: get(0) },
            "limit_data" => ToxicKind::LimitData { bytes: get(0) },
            "noop" => ToxicKind::Noop,
            _ => return None,
        })
    }

    /// Builds a toxic of `type_name` from its `attributes` object (absent fields are 0).
    pub fn parse(type_name: &str, attributes: Option<&Value>) -> Result<Self, ApiError> {
        let Some(names) = attribute_names(type_name) else {
            return Err(ApiError::InvalidToxicType(type_name.to_string()));
        };
        let zero = vec![0; names.len()];
        Self::merge_values(type_name, names, zero, attributes)
    }

    /// The same toxic with the attributes given in `attributes` replaced (a partial update,
    /// as Toxiproxy decodes an update onto the existing toxic).
    pub fn merged(&self, attributes: Option<&Value>) -> Result<Self, ApiError> {
        let type_name = self.type_name();
        let names = attribute_names(type_name).unwrap_or(&[]);
        Self::merge_values(type_name, names, self.values(), attributes)
    }

    fn merge_values(type_name: &str, names: &[&str], mut values: Vec<i64>, attributes: Option<&Value>) -> Result<Self, ApiError> {
        let map = match attributes {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => Some(map),
            Some(other) => {
                return Err(ApiError::BadRequestBody(format!("attributes must be a JSON object, got {other}")));
            }
        };
        if let Some(map) = map {
            for (i, name) in names.iter().enumerate() {
                if let Some(v) = int_field(map, name)? {
                    values[i] = v;
                }
            }
        }
        for (name, v) in names.iter().zip(&values) {
            if *v < 0 {
                return Err(ApiError::InvalidValue(format!(
                    "attributes.{name} of a {type_name} toxic must be >= 0, got {v}"
                )));
            }
        }
        Self::from_values(type_name, &values).ok_or_else(|| ApiError::InvalidToxicType(type_name.to_string()))
    }

    /// The `attributes` object, every field present (Go marshals zero values too).
    pub fn attributes_json(&self) -> Value {
        let names = attribute_names(self.type_name()).unwrap_or(&[]);
        let map: Map<String, Value> = names.iter().zip(self.values()).map(|(n, v)| (n.to_string(), Value::from(v))).collect();
        Value::Object(map)
    }
}

/// Reads an integer attribute; refuses other JSON types, naming the field.
fn int_field(map: &Map<String, Value>, name: &str) -> Result<Option<i64>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            ApiError::BadRequestBody(format!("attributes.{name} must be an integer, got {v}"))
        }),
    }
}

/// A toxic as configured on a proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct Toxic {
    pub name: String,
    pub stream: Stream,
    /// Probability, per connection, that the toxic applies (0.0 ..= 1.0).
    pub toxicity: f32,
    pub kind: ToxicKind,
}

/// The JSON shape of a toxic, field for field as Toxiproxy's `ToxicWrapper`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToxicJson {
    pub attributes: Value,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub stream: String,
    pub toxicity: f32,
}

impl Toxic {
    /// Creates a latency/bandwidth/... toxic with toxicity 1.
    pub fn new(name: impl Into<String>, stream: Stream, kind: ToxicKind) -> Self {
        Toxic { name: name.into(), stream, toxicity: 1.0, kind }
    }

    pub fn to_json(&self) -> ToxicJson {
        ToxicJson {
            attributes: self.kind.attributes_json(),
            name: self.name.clone(),
            kind: self.kind.type_name().to_string(),
            stream: self.stream.as_str().to_string(),
            toxicity: self.toxicity,
        }
    }

    /// Parses the body of `POST /proxies/{proxy}/toxics`. Defaults as Toxiproxy: stream
    /// `downstream`, toxicity 1, name `<type>_<stream>`.
    pub fn from_create_body(body: &[u8]) -> Result<Self, ApiError> {
        let map = parse_object(body)?;
        let stream = match str_field(&map, "stream")? {
            Some(s) if !s.is_empty() => Stream::parse(s)?,
            _ => Stream::Downstream,
        };
        let type_name = str_field(&map, "type")?.unwrap_or_default();
        if type_name.is_empty() {
            return Err(ApiError::MissingField("type (one of latency, bandwidth, slow_close, timeout, reset_peer, limit_data, noop)".into()));
        }
        let kind = ToxicKind::parse(type_name, map.get("attributes"))?;
        let toxicity = toxicity_field(&map)?.unwrap_or(1.0);
        let name = match str_field(&map, "name")? {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => format!("{}_{}", type_name, stream.as_str()),
        };
        Ok(Toxic { name, stream, toxicity, kind })
    }

    /// Applies the body of `POST /proxies/{proxy}/toxics/{toxic}`: `attributes` (partial)
    /// and `toxicity`; other fields are ignored, as in Toxiproxy.
    pub fn updated(&self, body: &[u8]) -> Result<Self, ApiError> {
        let map = parse_object(body)?;
        let kind = self.kind.merged(map.get("attributes"))?;
        let toxicity = toxicity_field(&map)?.unwrap_or(self.toxicity);
        Ok(Toxic { kind, toxicity, ..self.clone() })
    }
}

fn toxicity_field(map: &Map<String, Value>) -> Result<Option<f32>, ApiError> {
    match map.get("toxicity") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(t) if (0.0..=1.0).contains(&t) => Ok(Some(t as f32)),
            Some(t) => Err(ApiError::InvalidValue(format!("toxicity must be between 0 and 1, got {t}"))),
            None => Err(ApiError::BadRequestBody(format!("toxicity must be a number between 0 and 1, got {v}"))),
        },
    }
}

/// Parses a body that must be a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::BadRequestBody(format!("expected a JSON object, got {}", json_kind(&other)))),
        Err(e) => Err(ApiError::BadRequestBody(format!("malformed JSON: {e}"))),
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn str_field<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(ApiError::BadRequestBody(format!("{name} must be a string, got {v}"))),
    }
}

pub(crate) fn bool_field(map: &Map<String, Value>, name: &str) -> Result<Option<bool>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(ApiError::BadRequestBody(format!("{name} must be true or false, got {v}"))),
    }
}

/// A proxy's configuration: `{"name", "listen", "upstream", "enabled"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySpec {
    pub name: String,
    /// `host:port` to listen on; port 0 picks a free one. Default `127.0.0.1:0`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `host:port` to connect to, resolved at each connection (container names work).
    pub upstream: String,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_listen() -> String {
    "127.0.0.1:0".into()
}

fn default_enabled() -> bool {
    true
}

impl ProxySpec {
    pub fn new(name: impl Into<String>, listen: impl Into<String>, upstream: impl Into<String>) -> Self {
        ProxySpec { name: name.into(), listen: listen.into(), upstream: upstream.into(), enabled: true }
    }

    /// Parses one proxy object (`what` names it in errors, e.g. "proxy 2").
    pub fn from_map(map: &Map<String, Value>, what: Option<&str>) -> Result<Self, ApiError> {
        let at = what.map(|w| format!(" at {w}")).unwrap_or_default();
        let name = str_field(map, "name")?.unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(ApiError::MissingField(format!("name{at}")));
        }
        let upstream = str_field(map, "upstream")?.unwrap_or_default().to_string();
        if upstream.is_empty() {
            return Err(ApiError::MissingField(format!("upstream{at}")));
        }
        let listen = match str_field(map, "listen")? {
            Some(l) if !l.is_empty() => l.to_string(),
            _ => default_listen(),
        };
        let enabled = bool_field(map, "enabled")?.unwrap_or(true);
        let spec = ProxySpec { name, listen, upstream, enabled };
        spec.validate()?;
        Ok(spec)
    }

    /// Parses a JSON array of proxies (`POST /populate`, `--config`).
    pub fn list_from_json(body: &[u8]) -> Result<Vec<Self>, ApiError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::BadRequestBody(format!("malformed JSON: {e}")))?;
        let Value::Array(items) = value else {
            return Err(ApiError::BadRequestBody(format!("expected a JSON array of proxies, got {}", json_kind(&value))));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Self::from_map(map, Some(&format!("proxy {}", i + 1))),
                other => Err(ApiError::BadRequestBody(format!("proxy {} must be a JSON object, got {}", i + 1, json_kind(other)))),
            })
            .collect()
    }

    /// Checks that `listen` and `upstream` look like `host:port`.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_host_port("upstream", &self.upstream, false)?;
        check_host_port("listen", &self.listen, true)
    }
}

/// `host:port` with a numeric port (`[v6]:port` too); `:port` only where `empty_host_ok`.
pub(crate) fn check_host_port(field: &str, value: &str, empty_host_ok: bool) -> Result<(), ApiError> {
    let bad = || ApiError::InvalidValue(format!("{field} must be host:port, e.g. 127.0.0.1:6379, got {value:?}"));
    let (host, port) = value.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() && !empty_host_ok || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(())
}

/// Milliseconds as a duration, negative as zero, capped at ten years so that adding it
/// to an instant cannot overflow.
pub(crate) fn millis(ms: i64) -> Duration {
    const TEN_YEARS_MS: u64 = 10 * 365 * 24 * 3600 * 1000;
    Duration::from_millis((ms.max(0) as u64).min(TEN_YEARS_MS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_defaults_as_toxiproxy() {
        let t = Toxic::from_create_body(br#"{"type":"latency","attributes":{"latency":100}}"#).unwrap();
        assert_eq!(t.name, "latency_downstream");
        assert_eq!(t.stream, Stream::Downstream);
        assert_eq!(t.toxicity, 1.0);
        assert_eq!(t.kind, ToxicKind::Latency { latency: 100, jitter: 0 });
        let j = serde_json::to_value(t.to_json()).unwrap();
        assert_eq!(
            j,
            json!({"attributes":{"latency":100,"jitter":0},"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1.0})
        );
    }

    #[test]
    fn stream_is_case_insensitive_and_checked() {
        let t = Toxic::from_create_body(br#"{"type":"timeout","stream":"UpStream"}"#).unwrap();
        assert_eq!(t.stream, Stream::Upstream);
        assert_eq!(t.name, "timeout_upstream");
        let e = Toxic::from_create_body(br#"{"type":"timeout","stream":"sideways"}"#).unwrap_err();
        assert!(matches!(e, ApiError::InvalidStream(ref s) if s == "sideways"), "{e}");
    }

    #[test]
    fn bad_toxics_are_named() {
        let e = Toxic::from_create_body(br#"{"type":"teleport"}"#).unwrap_err();
        assert!(e.to_string().contains("\"teleport\""), "{e}");
        let e = Toxic::from_create_body(br#"{"type":"latency","attributes":{"latency":-5}}"#).unwrap_err();
        assert_eq!(e.to_string(), "invalid value: attributes.latency of a latency toxic must be >= 0, got -5");
        let e = Toxic::from_create_body(br#"{"type":"latency","attributes":{"latency":"slow"}}"#).unwrap_err();
        assert!(e.to_string().contains("attributes.latency must be an integer"), "{e}");
        let e = Toxic::from_create_body(br#"{"type":"latency","toxicity":2}"#).unwrap_err();
        assert!(e.to_string().contains("toxicity must be between 0 and 1"), "{e}");
        let e = Toxic::from_create_body(b"{\"type\":").unwrap_err();
        assert!(e.to_string().starts_with("bad request body: malformed JSON"), "{e}");
        let e = Toxic::from_create_body(b"[1]").unwrap_err();
        assert!(e.to_string().contains("expected a JSON object, got an array"), "{e}");
    }

    #[test]
    fn update_is_partial() {
        let t = Toxic::new("l", Stream::Upstream, ToxicKind::Latency { latency: 100, jitter: 10 });
        let u = t.updated(br#"{"attributes":{"jitter":3},"toxicity":0.5,"type":"bandwidth"}"#).unwrap();
        assert_eq!(u.kind, ToxicKind::Latency { latency: 100, jitter: 3 });
        assert_eq!(u.toxicity, 0.5);
        assert!(t.updated(br#"{"attributes":{"latency":-1}}"#).is_err());
    }

    #[test]
    fn proxies_are_checked() {
        let list = ProxySpec::list_from_json(br#"[{"name":"a","upstream":"payment:8080"},{"name":"b","listen":"0.0.0.0:9000","upstream":"x:1","enabled":false}]"#).unwrap();
        assert_eq!(list[0].listen, "127.0.0.1:0");
        assert!(list[0].enabled);
        assert!(!list[1].enabled);
        let e = ProxySpec::list_from_json(br#"[{"name":"a","upstream":"x:1"},{"upstream":"x:1"}]"#).unwrap_err();
        assert_eq!(e.to_string(), "missing required field: name at proxy 2");
        let e = ProxySpec::list_from_json(br#"[{"name":"a","upstream":"nope"}]"#).unwrap_err();
        assert!(e.to_string().contains("upstream must be host:port"), "{e}");
        assert!(check_host_port("listen", ":8474", true).is_ok());
        assert!(check_host_port("listen", "[::1]:8474", true).is_ok());
    }

    #[test]
    fn millis_never_overflows() {
        assert_eq!(millis(-3), Duration::ZERO);
        let far = tokio::time::Instant::now() + millis(i64::MAX);
        assert!(far > tokio::time::Instant::now());
    }
}
