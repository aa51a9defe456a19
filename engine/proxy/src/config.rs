//! Configuration of the `faultline-proxy` binary: the proxies to create at start, from a
//! file (`--config FILE`, like Toxiproxy's `-config`) and/or the `FAULTLINE_PROXIES`
//! variable, each a JSON list `[{"name", "listen", "upstream", "enabled"}]`.

use std::path::{Path, PathBuf};

use crate::error::ApiError;
use crate::model::ProxySpec;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the proxies file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{origin} is not a usable list of proxies: {source}")]
    Invalid { origin: String, source: ApiError },
    #[error("{origin} names the proxy {name:?} twice")]
    Duplicate { origin: String, name: String },
}

/// The proxies to create at start: the file's, then the variable's.
pub fn initial_proxies(file: Option<&Path>, inline: Option<&str>) -> Result<Vec<ProxySpec>, ConfigError> {
    let mut all = Vec::new();
    if let Some(path) = file {
        let text = std::fs::read(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        all.extend(parse(&text, &format!("the proxies file {}", path.display()))?);
    }
    if let Some(text) = inline.filter(|t| !t.trim().is_empty()) {
        all.extend(parse(text.as_bytes(), "FAULTLINE_PROXIES")?);
    }
    let mut seen = std::collections::HashSet::new();
    for p in &all {
        if !seen.insert(p.name.clone()) {
            return Err(ConfigError::Duplicate { origin: "the proxy configuration".into(), name: p.name.clone() });
        }
    }
    Ok(all)
}

fn parse(text: &[u8], origin: &str) -> Result<Vec<ProxySpec>, ConfigError> {
    ProxySpec::list_from_json(text).map_err(|source| ConfigError::Invalid { origin: origin.to_string(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_file_and_variable() {
        let dir = std::env::temp_dir().join(format!("faultline-proxy-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("proxies.json");
        std::fs::write(&file, r#"[{"name":"a","listen":"127.0.0.1:0","upstream":"payment:8080"}]"#).unwrap();
        let all = initial_proxies(Some(&file), Some(r#"[{"name":"b","upstream":"x:1","enabled":false}]"#)).unwrap();
        assert_eq!(all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        let e = initial_proxies(Some(&file), Some(r#"[{"name":"a","upstream":"x:1"}]"#)).unwrap_err();
        assert!(e.to_string().contains("\"a\" twice"), "{e}");
        let e = initial_proxies(None, Some("{oops")).unwrap_err();
        assert!(e.to_string().starts_with("FAULTLINE_PROXIES is not a usable list of proxies: bad request body: malformed JSON"), "{e}");
        assert!(initial_proxies(Some(&dir.join("missing.json")), None).is_err());
        assert!(initial_proxies(None, Some("  ")).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
