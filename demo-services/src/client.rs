//! A small typed HTTP client for the demo services, used by the order activities, by tests
//! and by anyone auditing ledgers (scenarios, benchmarks).
//!
//! Failures keep the service's own error code and message, and say which kind they are:
//! unreachable or 5xx (worth retrying) versus 4xx (the request itself is refused).

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{self, OrderBalance, IDEMPOTENCY_KEY, REPLAYED};
use crate::error::ErrorBody;
use crate::ledger::Entry;

/// A failed call to a service.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallFailure {
    /// No answer: the service is down, paused, partitioned or too slow.
    #[error("{service} is not reachable at {url}: {message}")]
    Unreachable { service: String, url: String, message: String },
    /// The service refused the request (4xx): retrying the same request will not help.
    #[error("{service} refused the request ({status} {code}): {message}")]
    Rejected { service: String, status: u16, code: String, message: String },
    /// The service failed (5xx): a retry may succeed.
    #[error("{service} failed ({status} {code}): {message}")]
    Failed { service: String, status: u16, code: String, message: String },
    /// The answer was not the expected JSON.
    #[error("{service} answered {url} with unexpected JSON: {message}")]
    Decode { service: String, url: String, message: String },
}

impl CallFailure {
    /// The service's error code, when it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Rejected { code, .. } | Self::Failed { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// An answer to a POST, and whether the service replayed it from its ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted<T> {
    pub value: T,
    pub replayed: bool,
}

/// Client of one service at one base URL.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    http: reqwest::Client,
    base: String,
    service: String,
}

impl ServiceClient {
    /// `base` like `http://127.0.0.1:8082`; each request times out after `timeout`.
    pub fn new(service: impl Into<String>, base: impl Into<String>, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        Self { http, base: base.into().trim_end_matches('/').to_string(), service: service.into() }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// POSTs `body` under `idempotency_key`.
    pub async fn post<Req: Serialize, Resp: DeserializeOwned>(&self, path: &str, idempotency_key: &str, body: &Req) -> Result<Posted<Resp>, CallFailure> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .post(&url)
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .json(body)
            .send()
            .await
            .map_err(|e| self.unreachable(&url, e))?;
        let replayed = resp.headers().get(REPLAYED).is_some_and(|v| v == "true");
        let value = self.decode(&url, resp).await?;
        Ok(Posted { value, replayed })
    }

    /// GETs `path`.
    pub async fn get<Resp: DeserializeOwned>(&self, path: &str) -> Result<Resp, CallFailure> {
        let url = format!("{}{path}", self.base);
        let resp = self.http.get(&url).send().await.map_err(|e| self.unreachable(&url, e))?;
        self.decode(&url, resp).await
    }

    /// Every ledger entry of the service.
    pub async fn ledger(&self) -> Result<Vec<Entry>, CallFailure> {
        self.get(api::paths::LEDGER).await
    }

    /// The ledger entries of one order.
    pub async fn ledger_of(&self, order_id: &str) -> Result<Vec<Entry>, CallFailure> {
        let url = format!("{}{}", self.base, api::paths::LEDGER);
        let resp = self.http.get(&url).query(&[("order_id", order_id)]).send().await.map_err(|e| self.unreachable(&url, e))?;
        self.decode(&url, resp).await
    }

    /// Payment only: per-order charged, refunded and net amounts.
    pub async fn balances(&self) -> Result<Vec<OrderBalance>, CallFailure> {
        self.get(api::paths::BALANCES).await
    }

    fn unreachable(&self, url: &str, e: reqwest::Error) -> CallFailure {
        // reqwest's Display hides the cause ("error sending request"); the chain names it.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        CallFailure::Unreachable { service: self.service.clone(), url: url.to_string(), message }
    }

    async fn decode<T: DeserializeOwned>(&self, url: &str, resp: reqwest::Response) -> Result<T, CallFailure> {
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(url, e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| CallFailure::Decode { service: self.service.clone(), url: url.to_string(), message: e.to_string() });
        }
        let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorBody {
            error: format!("Http{}", status.as_u16()),
            message: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
        });
        let (service, status, code, message) = (self.service.clone(), status.as_u16(), body.error, body.message);
        if (400..500).contains(&status) && status != 408 && status != 429 {
            Err(CallFailure::Rejected { service, status, code, message })
        } else {
            Err(CallFailure::Failed { service, status, code, message })
        }
    }
}
