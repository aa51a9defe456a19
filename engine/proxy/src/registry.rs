//! The collection of proxies: create, update, delete, populate, reset, and their toxics.
//!
//! This is the whole behaviour of Toxiproxy's API without HTTP, for in-process use (the
//! local runtime) and for [`crate::api`], which only parses bodies and maps results.
//! One async lock serialises changes, as Toxiproxy's collection lock does; traffic never
//! takes it (links see toxic changes through a `watch` channel).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::ApiError;
use crate::model::{ProxySpec, Stream, Toxic, ToxicJson};
use crate::pipeline::ToxicInstance;
use crate::proxy::Proxy;

/// A proxy as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyInfo {
    pub name: String,
    /// The address it listens on (the real port once started).
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    /// Upstream toxics first, then downstream, each in the order they were added.
    pub toxics: Vec<Toxic>,
}

/// The JSON shape of a proxy with its toxics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyJson {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<ToxicJson>,
}

impl ProxyInfo {
    pub fn to_json(&self) -> ProxyJson {
        ProxyJson {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.enabled,
            toxics: self.toxics.iter().map(Toxic::to_json).collect(),
        }
    }
}

/// A change to a proxy; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyUpdate {
    pub listen: Option<String>,
    pub upstream: Option<String>,
    pub enabled: Option<bool>,
}

/// All proxies of one server.
#[derive(Default)]
pub struct Registry {
    proxies: Mutex<BTreeMap<String, Proxy>>,
    next_id: AtomicU64,
}

fn info(p: &Proxy) -> ProxyInfo {
    let mut toxics: Vec<Toxic> = p.toxics().filter(|t| t.stream == Stream::Upstream).cloned().collect();
    toxics.extend(p.toxics().filter(|t| t.stream == Stream::Downstream).cloned());
    ProxyInfo {
        name: p.spec.name.clone(),
        listen: p.spec.listen.clone(),
        upstream: p.spec.upstream.clone(),
        enabled: p.spec.enabled,
        toxics,
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::ProxyNotFound(name.to_string())
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    fn instance(&self, toxic: Toxic) -> ToxicInstance {
        ToxicInstance { id: self.next_id.fetch_add(1, Ordering::Relaxed), toxic }
    }

    /// Every proxy, by name.
    pub async fn list(&self) -> Vec<ProxyInfo> {
        self.proxies.lock().await.values().map(info).collect()
    }

    pub async fn get(&self, name: &str) -> Result<ProxyInfo, ApiError> {
        self.proxies.lock().await.get(name).map(info).ok_or_else(|| not_found(name))
    }

    /// Creates a proxy, listening at once if `spec.enabled`. 409 if the name is taken.
    pub async fn create(&self, spec: ProxySpec) -> Result<ProxyInfo, ApiError> {
        spec.validate()?;
        let mut proxies = self.proxies.lock().await;
        if proxies.contains_key(&spec.name) {
            return Err(ApiError::ProxyAlreadyExists(spec.name));
        }
        let enabled = spec.enabled;
        let mut proxy = Proxy::new(spec);
        if enabled {
            proxy.start().await?;
        }
        let out = info(&proxy);
        proxies.insert(out.name.clone(), proxy);
        Ok(out)
    }

    /// Changes a proxy's addresses or state; `enabled: false` takes it down.
    pub async fn update(&self, name: &str, update: ProxyUpdate) -> Result<ProxyInfo, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let proxy = proxies.get_mut(name).ok_or_else(|| not_found(name))?;
        let listen = update.listen.unwrap_or_else(|| proxy.spec.listen.clone());
        let upstream = update.upstream.unwrap_or_else(|| proxy.spec.upstream.clone());
        let enabled = update.enabled.unwrap_or(proxy.spec.enabled);
        ProxySpec { name: name.to_string(), listen: listen.clone(), upstream: upstream.clone(), enabled }.validate()?;
        proxy.update(listen, upstream, enabled).await?;
        Ok(info(proxy))
    }

    /// Takes a proxy down (`false`: listener and connections closed) or up again.
    pub async fn set_enabled(&self, name: &str, enabled: bool) -> Result<ProxyInfo, ApiError> {
        self.update(name, ProxyUpdate { enabled: Some(enabled), ..Default::default() }).await
    }

    /// Stops and removes a proxy.
    pub async fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let mut proxy = proxies.remove(name).ok_or_else(|| not_found(name))?;
        proxy.stop().await;
        Ok(())
    }

    /// Creates each proxy, or replaces an existing one of that name whose addresses
    /// differ (an identical one is kept, with its toxics). Stops at the first error and
    /// returns the proxies done so far with it, as Toxiproxy's `/populate`.
    pub async fn populate(&self, specs: Vec<ProxySpec>) -> (Vec<ProxyInfo>, Option<ApiError>) {
        let mut done = Vec::new();
        for spec in specs {
            if let Err(e) = spec.validate() {
                return (done, Some(e));
            }
            let mut proxies = self.proxies.lock().await;
            if let Some(existing) = proxies.get_mut(&spec.name) {
                if !existing.differs(&spec.listen, &spec.upstream).await {
                    done.push(info(existing));
                    continue;
                }
                existing.stop().await;
                proxies.remove(&spec.name);
            }
            let enabled = spec.enabled;
            let mut proxy = Proxy::new(spec);
            if enabled {
                if let Err(e) = proxy.start().await {
                    return (done, Some(e));
                }
            }
            done.push(info(&proxy));
            proxies.insert(proxy.spec.name.clone(), proxy);
        }
        (done, None)
    }

    /// Enables every proxy and removes every toxic.
    pub async fn reset(&self) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        for proxy in proxies.values_mut() {
            proxy.start().await?;
            proxy.clear_toxics();
        }
        Ok(())
    }

    /// Stops and removes every proxy (server shutdown).
    pub async fn clear(&self) {
        let mut proxies = self.proxies.lock().await;
        for (_, mut proxy) in std::mem::take(&mut *proxies) {
            proxy.stop().await;
        }
    }

    pub async fn toxics(&self, proxy: &str) -> Result<Vec<Toxic>, ApiError> {
        self.get(proxy).await.map(|p| p.toxics)
    }

    pub async fn toxic(&self, proxy: &str, toxic: &str) -> Result<Toxic, ApiError> {
        let proxies = self.proxies.lock().await;
        let p = proxies.get(proxy).ok_or_else(|| not_found(proxy))?;
        p.toxic(toxic).cloned().ok_or_else(|| ApiError::ToxicNotFound { proxy: proxy.into(), toxic: toxic.into() })
    }

    /// Adds a toxic at the end of its direction's chain; live connections get it too.
    pub async fn add_toxic(&self, proxy: &str, toxic: Toxic) -> Result<Toxic, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let p = proxies.get_mut(proxy).ok_or_else(|| not_found(proxy))?;
        if p.toxic(&toxic.name).is_some() {
            return Err(ApiError::ToxicAlreadyExists { proxy: proxy.into(), toxic: toxic.name });
        }
        p.add_toxic(self.instance(toxic.clone()));
        Ok(toxic)
    }

    /// Replaces a toxic by `change(current)` (attributes and toxicity; its name, type
    /// and stream stay).
    pub async fn update_toxic(
        &self,
        proxy: &str,
        toxic: &str,
        change: impl FnOnce(&Toxic) -> Result<Toxic, ApiError>,
    ) -> Result<Toxic, ApiError> {
        let mut proxies = self.proxies.lock().await;
        let p = proxies.get_mut(proxy).ok_or_else(|| not_found(proxy))?;
        let current = p.toxic(toxic).ok_or_else(|| ApiError::ToxicNotFound { proxy: proxy.into(), toxic: toxic.into() })?;
        let mut new = change(current)?;
        new.name = current.name.clone();
        new.stream = current.stream;
        if new.kind.type_name() != current.kind.type_name() {
            return Err(ApiError::InvalidValue(format!("toxic {toxic:?} is a {} toxic; its type cannot change", current.kind.type_name())));
        }
        p.replace_toxic(self.instance(new.clone()));
        Ok(new)
    }

    pub async fn remove_toxic(&self, proxy: &str, toxic: &str) -> Result<(), ApiError> {
        let mut proxies = self.proxies.lock().await;
        let p = proxies.get_mut(proxy).ok_or_else(|| not_found(proxy))?;
        if p.remove_toxic(toxic) {
            Ok(())
        } else {
            Err(ApiError::ToxicNotFound { proxy: proxy.into(), toxic: toxic.into() })
        }
    }
}
