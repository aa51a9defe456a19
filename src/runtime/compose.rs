//! Reads docker-compose.yml into a [`Topology`].
//!
//! The file is parsed as a generic YAML value first so that anchors, aliases and merge keys
//! (`<<: *pod`) are resolved exactly as Docker Compose resolves them, then each service is
//! read field by field with an error that names the file, the service and the field.
//! Only what Faultline runs is understood: named volumes, one network, `host:port:port`
//! mappings, health checks, `depends_on`, `user` and `read_only`. Pods come out in start
//! order (dependencies first, otherwise file order).
//!
//! The `x-faultline-images` extension maps each image reference to the workspace binary
//! packed into it; it is read into [`Topology::images`]. Compose's `profiles` are kept on each
//! pod ([`PodSpec::profiles`]: a pod with profiles runs only when one of them is active, see
//! [`super::Project::with_profiles`]), and the `x-faultline-twin` extension names the race
//! twin's profile, engine pod and order-id prefix ([`Topology::twin`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_norway::{Mapping, Value};

use super::{HealthCheck, PodSpec, PortMapping, RuntimeError, Topology, TwinSpec};

/// Reads and parses a compose file.
pub fn load(path: &Path) -> Result<Topology, RuntimeError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        RuntimeError::Compose(format!(
            "cannot read {}: {e}; run from the Faultline checkout or pass --compose <file>",
            path.display()
        ))
    })?;
    parse(&text, &path.display().to_string())
}

/// Parses compose text; `file` only names the source in error messages.
pub fn parse(text: &str, file: &str) -> Result<Topology, RuntimeError> {
    let err = |msg: String| RuntimeError::Compose(format!("{file}: {msg}"));
    let mut root: Value =
        serde_norway::from_str(text).map_err(|e| err(format!("not valid YAML: {e}")))?;
    root.apply_merge().map_err(|e| err(format!("bad merge key (`<<`): {e}")))?;
    let root = root.as_mapping().ok_or_else(|| err("the top level must be a mapping".into()))?;

    let services = get(root, "services")
        .and_then(Value::as_mapping)
        .ok_or_else(|| err("no `services` mapping".into()))?;
    if services.is_empty() {
        return Err(err("`services` is empty".into()));
    }

    let network = match get(root, "networks").and_then(Value::as_mapping) {
        Some(nets) if nets.len() == 1 => key_str(nets.keys().next().unwrap_or(&Value::Null))
            .ok_or_else(|| err("network names must be strings".into()))?,
        Some(nets) if nets.len() > 1 => {
            return Err(err("Faultline supports exactly one network under `networks`".into()))
        }
        _ => "default".to_string(),
    };
    let volumes: Vec<String> = match get(root, "volumes").and_then(Value::as_mapping) {
        Some(vols) => vols.keys().filter_map(key_str).collect(),
        None => Vec::new(),
    };

    let mut pods = Vec::new();
    for (name, svc) in services {
        let name = key_str(name).ok_or_else(|| err("service names must be strings".into()))?;
        let svc = svc
            .as_mapping()
            .ok_or_else(|| err(format!("service `{name}` must be a mapping")))?;
        let pod = parse_service(&name, svc, &volumes)
            .map_err(|m| err(format!("service `{name}`: {m}")))?;
        pods.push(pod);
    }

    let mut images = BTreeMap::new();
    let mut image_order = Vec::new();
    if let Some(map) = get(root, "x-faultline-images") {
        let map = map
            .as_mapping()
            .ok_or_else(|| err("`x-faultline-images` must map image -> binary".into()))?;
        for (image, binary) in map {
            match (key_str(image), scalar(binary)) {
                (Some(i), Some(b)) => {
                    image_order.push(i.clone());
                    images.insert(i, b);
                }
                _ => return Err(err("`x-faultline-images` must map image -> binary".into())),
            }
        }
    }

    let pods = order(pods).map_err(err)?;
    let twin = match get(root, "x-faultline-twin") {
        None => None,
        Some(v) => Some(parse_twin(v, &pods).map_err(|m| err(format!("`x-faultline-twin`: {m}")))?),
    };
    let topology = Topology { pods, network, volumes, images, image_order, twin };
    check_links(&topology).map_err(err)?;
    Ok(topology)
}

/// `x-faultline-twin: {profile, engine, order_prefix}`: the engine must be a pod of the profile.
fn parse_twin(v: &Value, pods: &[PodSpec]) -> Result<TwinSpec, String> {
    let m = v.as_mapping().ok_or("must be a mapping with `profile`, `engine` and `order_prefix`")?;
    let field = |k: &str| get(m, k).and_then(scalar).filter(|s| !s.is_empty()).ok_or_else(|| format!("needs a non-empty `{k}`"));
    let twin = TwinSpec { profile: field("profile")?, engine: field("engine")?, order_prefix: field("order_prefix")? };
    let engine = pods.iter().find(|p| p.name == twin.engine).ok_or_else(|| format!("engine `{}` is not a service", twin.engine))?;
    if !engine.profiles.contains(&twin.profile) {
        return Err(format!("engine `{}` must be in the profile `{}` (add `profiles: [{}]`)", twin.engine, twin.profile, twin.profile));
    }
    Ok(twin)
}

/// The proxy pod's links must parse and join pods of the file.
fn check_links(t: &Topology) -> Result<(), String> {
    let Some(proxy) = t.proxy_pod() else { return Ok(()) };
    let Some(text) = proxy.environment.get(super::links::LINKS_VAR) else { return Ok(()) };
    let links = super::links::parse_links(text).map_err(|m| format!("service `{}`: {m}", proxy.name))?;
    for l in &links {
        for pod in [&l.from, &l.to] {
            if t.pod(pod).is_err() {
                return Err(format!("service `{}`: link `{}` names pod `{pod}`, which is not a service of this file", proxy.name, l.name));
            }
        }
    }
    Ok(())
}

fn parse_service(name: &str, svc: &Mapping, volumes: &[String]) -> Result<PodSpec, String> {
    let image = get(svc, "image")
        .and_then(scalar)
        .ok_or("no `image` (Faultline builds images itself and never uses `build:`)")?;
    let environment = match get(svc, "environment") {
        None => BTreeMap::new(),
        Some(Value::Mapping(m)) => m
            .iter()
            .map(|(k, v)| {
                let k = key_str(k).ok_or("environment keys must be strings")?;
                Ok((k, scalar(v).unwrap_or_default()))
            })
            .collect::<Result<_, String>>()?,
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|item| {
                let item = scalar(item).ok_or("environment entries must be `KEY=value`")?;
                let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
                Ok((k.to_string(), v.to_string()))
            })
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("`environment` must be a mapping or a list".into()),
    };
    let ports = strings(svc, "ports")?
        .iter()
        .map(|p| parse_port(p))
        .collect::<Result<Vec<_>, _>>()?;
    let volume_mounts = strings(svc, "volumes")?
        .iter()
        .map(|v| {
            let (vol, path) = v
                .split_once(':')
                .ok_or_else(|| format!("volume `{v}` must be `name:/path`"))?;
            let path = path.split(':').next().unwrap_or(path);
            if !volumes.iter().any(|known| known == vol) {
                return Err(format!(
                    "volume `{vol}` is not declared under the top-level `volumes` \
                     (only named volumes are supported, no bind mounts)"
                ));
            }
            Ok((vol.to_string(), path.to_string()))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let healthcheck = match get(svc, "healthcheck") {
        None => None,
        Some(h) => parse_healthcheck(h)?,
    };
    let depends_on = match get(svc, "depends_on") {
        None => Vec::new(),
        Some(Value::Sequence(_)) => strings(svc, "depends_on")?,
        Some(Value::Mapping(m)) => m.keys().filter_map(key_str).collect(),
        Some(_) => return Err("`depends_on` must be a list or a mapping".into()),
    };
    let user = get(svc, "user").and_then(scalar);
    let profiles = strings(svc, "profiles")?;
    let read_only = match get(svc, "read_only") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`read_only` must be true or false".into()),
    };
    Ok(PodSpec {
        name: name.to_string(),
        image,
        environment,
        ports,
        volumes: volume_mounts,
        healthcheck,
        depends_on,
        user,
        read_only,
        profiles,
    })
}

/// `[ip:]host:container[/tcp]`. A mapping without an IP is bound to 127.0.0.1, never to
/// every interface, because the demo services have no authentication.
fn parse_port(spec: &str) -> Result<PortMapping, String> {
    let bad = || format!("port `{spec}` must be `127.0.0.1:<host>:<container>`");
    let body = spec.strip_suffix("/tcp").unwrap_or(spec);
    let parts: Vec<&str> = body.rsplitn(3, ':').collect();
    let num = |s: &str| s.parse::<u16>().map_err(|_| bad());
    match parts.as_slice() {
        [container, host, ip] => Ok(PortMapping {
            host_ip: ip.to_string(),
            host_port: num(host)?,
            container_port: num(container)?,
        }),
        [container, host] => Ok(PortMapping {
            host_ip: "127.0.0.1".into(),
            host_port: num(host)?,
            container_port: num(container)?,
        }),
        _ => Err(bad()),
    }
}

fn parse_healthcheck(h: &Value) -> Result<Option<HealthCheck>, String> {
    let h = h.as_mapping().ok_or("`healthcheck` must be a mapping")?;
    if matches!(get(h, "disable"), Some(Value::Bool(true))) {
        return Ok(None);
    }
    let test = match get(h, "test") {
        Some(Value::Sequence(s)) => s.iter().filter_map(scalar).collect(),
        Some(v) => match scalar(v) {
            Some(s) => vec!["CMD-SHELL".to_string(), s],
            None => return Err("`healthcheck.test` must be a list or a string".into()),
        },
        None => return Err("`healthcheck` needs a `test`".into()),
    };
    let dur = |key: &str, default: u64| -> Result<u64, String> {
        match get(h, key).and_then(scalar) {
            None => Ok(default),
            Some(s) => parse_duration_ms(&s)
                .ok_or_else(|| format!("`healthcheck.{key}` `{s}` is not a duration like 2s")),
        }
    };
    let retries = match get(h, "retries") {
        None => 3,
        Some(v) => v
            .as_u64()
            .and_then(|r| u32::try_from(r).ok())
            .ok_or("`healthcheck.retries` must be a number")?,
    };
    Ok(Some(HealthCheck {
        test,
        interval_ms: dur("interval", 30_000)?,
        timeout_ms: dur("timeout", 30_000)?,
        retries,
    }))
}

/// Compose durations (`1m30s`, `2s`, `500ms`, `1h`), read by `humantime`.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let d = humantime::parse_duration(s.trim()).ok()?;
    u64::try_from(d.as_millis()).ok()
}

/// Dependencies first, file order otherwise; unknown dependencies and cycles are errors.
fn order(pods: Vec<PodSpec>) -> Result<Vec<PodSpec>, String> {
    let names: BTreeSet<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    for p in &pods {
        for d in &p.depends_on {
            if !names.contains(d.as_str()) {
                return Err(format!("service `{}` depends on unknown service `{d}`", p.name));
            }
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::with_capacity(pods.len());
    let mut left = pods;
    while !left.is_empty() {
        let before = left.len();
        let mut i = 0;
        while i < left.len() {
            if left[i].depends_on.iter().all(|d| done.contains(d)) {
                let p = left.remove(i);
                done.insert(p.name.clone());
                out.push(p);
            } else {
                i += 1;
            }
        }
        if left.len() == before {
            let names: Vec<&str> = left.iter().map(|p| p.name.as_str()).collect();
            return Err(format!("`depends_on` has a cycle among: {}", names.join(", ")));
        }
    }
    Ok(out)
}

fn get<'a>(m: &'a Mapping, key: &str) -> Option<&'a Value> {
    m.get(Value::String(key.to_string()))
}

fn key_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// A scalar as Compose reads it: numbers and booleans become their text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(m: &Mapping, key: &str) -> Result<Vec<String>, String> {
    match get(m, key) {
        None => Ok(Vec::new()),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|v| scalar(v).ok_or_else(|| format!("`{key}` entries must be strings")))
            .collect(),
        Some(_) => Err(format!("`{key}` must be a list")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real() -> Topology {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
        load(&path).expect("the real docker-compose.yml parses")
    }

    #[test]
    fn real_file_resolves_anchors_and_merge_keys() {
        let t = real();
        assert_eq!(t.network, "faultline");
        let payment = t.pods.iter().find(|p| p.name == "payment").expect("payment pod");
        assert_eq!(payment.image, "faultline/payment:v1-bugged");
        assert_eq!(payment.user.as_deref(), Some("10001:10001"));
        assert!(payment.read_only, "read_only comes from the <<: *pod merge");
        assert_eq!(payment.ports[0].host_ip, "127.0.0.1");
        assert_eq!(payment.ports[0].host_port, 8082);
        assert_eq!(payment.ports[0].container_port, 8080);
        assert_eq!(payment.volumes, vec![("payment-data".into(), "/data".into())]);
        let hc = payment.healthcheck.as_ref().expect("health check via *http-health alias");
        assert_eq!(hc.interval_ms, 2_000);
        assert_eq!(hc.retries, 15);
        assert_eq!(t.images.get("faultline/payment:v2-fixed").map(String::as_str), Some("payment-v2"));
        for p in &t.pods {
            assert!(t.images.contains_key(&p.image), "{} has a binary mapping", p.image);
            assert!(p.ports.iter().all(|m| m.host_ip == "127.0.0.1"));
        }
    }

    #[test]
    fn versions_come_in_file_order() {
        let t = parse(
            "services:\n  a: {image: \"x/a:zz\"}\nx-faultline-images:\n  x/a:zz: a2\n  x/a:aa: a1\n",
            "o.yml",
        )
        .unwrap();
        assert_eq!(t.versions_of("a"), vec!["zz".to_string(), "aa".to_string()]);
        assert_eq!(real().versions_of("payment"), vec!["v1-bugged".to_string(), "v2-fixed".to_string()]);
    }

    #[test]
    fn dependencies_come_first() {
        let t = real();
        let pos = |n: &str| t.pods.iter().position(|p| p.name == n).expect(n);
        assert!(pos("engine") < pos("worker"));
        assert!(pos("engine-dw") < pos("worker-dw"));
        assert!(pos("proxy") < pos("worker"));
        assert_eq!(t.pods.iter().filter(|p| p.profiles.is_empty()).count(), 7, "the normal demo has seven pods");
    }

    #[test]
    fn the_twin_is_a_profile_named_by_the_extension() {
        let t = real();
        let twin = t.twin.as_ref().expect("x-faultline-twin");
        assert_eq!((twin.profile.as_str(), twin.engine.as_str(), twin.order_prefix.as_str()), ("twin", "engine-dw", "dw-"));
        let dw = t.pod("engine-dw").unwrap();
        assert_eq!(dw.environment.get("FAULTLINE_MODE").map(String::as_str), Some("dual-write"));
        assert_eq!(t.twin_order().as_deref(), Some("after-commit"), "the order the twin starts with");
        assert_eq!(t.pod("worker-dw").unwrap().environment.get("FAULTLINE_ENGINE_URL").map(String::as_str), Some("http://engine-dw:7233"));
        assert_ne!(dw.volumes, t.pod("engine").unwrap().volumes, "each engine has its own database");

        let bad = "services:\n  a: {image: i}\nx-faultline-twin: {profile: twin, engine: a, order_prefix: dw-}\n";
        let e = parse(bad, "t.yml").unwrap_err().to_string();
        assert!(e.contains("x-faultline-twin") && e.contains("profiles: [twin]"), "{e}");
        let e = parse("services:\n  a: {image: i}\nx-faultline-twin: {profile: twin}\n", "t.yml").unwrap_err().to_string();
        assert!(e.contains("`engine`"), "{e}");
    }

    const BASE: &str = "services:\n  a:\n    image: x/a:1\n";

    #[test]
    fn errors_name_the_file_and_the_service() {
        let e = parse("services:\n  a:\n    environment: {}\n", "demo.yml").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("demo.yml") && msg.contains("`a`") && msg.contains("image"), "{msg}");

        let e = parse("services: [", "broken.yml").unwrap_err().to_string();
        assert!(e.contains("broken.yml") && e.contains("YAML"), "{e}");

        let e = parse(&format!("{BASE}    ports: [\"x:y\"]\n"), "p.yml").unwrap_err().to_string();
        assert!(e.contains("port `x:y`"), "{e}");

        let e = parse(&format!("{BASE}    volumes: [\"/host:/data\"]\n"), "v.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bind mounts"), "{e}");
    }

    #[test]
    fn cycles_and_unknown_dependencies_are_rejected() {
        let cyc = "services:\n  a: {image: i, depends_on: [b]}\n  b: {image: i, depends_on: [a]}\n";
        assert!(parse(cyc, "c.yml").unwrap_err().to_string().contains("cycle"));
        let unk = "services:\n  a: {image: i, depends_on: [zz]}\n";
        assert!(parse(unk, "u.yml").unwrap_err().to_string().contains("unknown service `zz`"));
    }

    #[test]
    fn list_environment_and_port_without_ip() {
        let t = parse(
            "services:\n  a:\n    image: i\n    environment: [\"A=1\", \"B=x=y\"]\n    ports: [\"9000:80\"]\n",
            "l.yml",
        )
        .unwrap();
        let a = &t.pods[0];
        assert_eq!(a.environment.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(a.ports[0].host_ip, "127.0.0.1");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("2s"), Some(2_000));
        assert_eq!(parse_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("soon"), None);
        assert_eq!(parse_duration_ms(""), None);
    }
}
