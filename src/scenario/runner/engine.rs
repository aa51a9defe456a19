//! What a run needs of the workflow engine, as one interface: start orders, signal, retry
//! now, cancel, terminate, read a run's status, the live event stream, and the race
//! harness's admin calls (arm a fault point, release its holds). The real implementation is
//! the SDK's HTTP [`Client`]; tests give the runner a fake engine, so gates, timeouts and
//! every action are tested without an engine or pods.

use std::time::Duration;

use faultline_demo::order::{Approval, OrderInput, ORDER_WORKFLOW, TASK_QUEUE};
use faultline_proto::WorkflowStatus;
use faultline_sdk::proto::IdConflictPolicy;
use faultline_sdk::{Client, ClientError, StartOptions, StreamItem};
use futures::stream::BoxStream;
use futures::StreamExt;

/// The engine, as the scenario runner drives it. Errors are the SDK's, so "unreachable" and
/// "5xx" mean the same whichever engine answers.
#[async_trait::async_trait]
pub trait EngineApi: Send + Sync + 'static {
    /// Starts an order workflow (an existing run of the id is kept: starts are safe to repeat).
    async fn start_order(&self, workflow_id: &str, input: &OrderInput, task_timeout: Duration) -> Result<(), ClientError>;
    async fn signal(&self, workflow_id: &str, name: &str, payload: &Approval) -> Result<(), ClientError>;
    async fn retry_now(&self, workflow_id: &str, seq: u64) -> Result<(), ClientError>;
    async fn cancel(&self, workflow_id: &str, reason: &str) -> Result<(), ClientError>;
    async fn terminate(&self, workflow_id: &str, reason: &str) -> Result<(), ClientError>;
    /// The status of the latest run of `workflow_id`.
    async fn status(&self, workflow_id: &str) -> Result<WorkflowStatus, ClientError>;
    /// The live event stream from the first event; reconnects on its own.
    fn subscribe(&self) -> BoxStream<'static, StreamItem>;
    /// Arms a fault (`POST /api/v1/admin/faults` with the engine's fault spec as JSON);
    /// returns its id. `Err` says why, in words.
    async fn arm_fault(&self, spec: &serde_json::Value) -> Result<u64, String>;
    /// Releases the holds of fault `id`, now and later.
    async fn release_fault(&self, id: u64) -> Result<(), String>;
    /// Disarms fault `id` (and releases its holds).
    async fn disarm_fault(&self, id: u64) -> Result<(), String>;
    /// Switches a dual-write engine's order (`POST /api/v1/admin/mode`): `after-commit` or
    /// `enqueue-first`, until it restarts.
    async fn set_dual_write_order(&self, order: &str) -> Result<(), String>;
    /// The HTTP client, for what reads the engine's histories after a run (the race
    /// checker); `None` for an engine that is not reached over HTTP.
    fn http_client(&self) -> Option<Client> {
        None
    }
}

/// The admin API of the race harness (engine/README.md, "Fault points").
const FAULTS_PATH: &str = "/api/v1/admin/faults";
/// The dual-write twin's commit mode and order.
const MODE_PATH: &str = "/api/v1/admin/mode";

/// POSTs to the engine's admin API; the answer's JSON on 2xx, the engine's message otherwise.
async fn admin_post(base: &str, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let url = format!("{base}{path}");
    let resp = http.post(&url).json(body).send().await.map_err(|e| format!("POST {url}: {e}; is the engine running?"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or(text);
        return Err(format!("POST {url}: HTTP {status}: {message}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("POST {url}: unexpected answer ({e}); is it a faultline-engine of this version?"))
}

#[async_trait::async_trait]
impl EngineApi for Client {
    async fn start_order(&self, workflow_id: &str, input: &OrderInput, task_timeout: Duration) -> Result<(), ClientError> {
        let mut opts = StartOptions::new(workflow_id, TASK_QUEUE);
        opts.id_conflict = IdConflictPolicy::UseExisting;
        opts.options.task_timeout_ms = Some(task_timeout.as_millis() as u64);
        self.start_workflow(opts, ORDER_WORKFLOW, input).await.map(|_| ())
    }

    async fn signal(&self, workflow_id: &str, name: &str, payload: &Approval) -> Result<(), ClientError> {
        Client::signal(self, workflow_id, name, payload).await
    }

    async fn retry_now(&self, workflow_id: &str, seq: u64) -> Result<(), ClientError> {
        Client::retry_now(self, workflow_id, seq).await
    }

    async fn cancel(&self, workflow_id: &str, reason: &str) -> Result<(), ClientError> {
        Client::cancel(self, workflow_id, reason).await
    }

    async fn terminate(&self, workflow_id: &str, reason: &str) -> Result<(), ClientError> {
        Client::terminate(self, workflow_id, reason).await
    }

    async fn status(&self, workflow_id: &str) -> Result<WorkflowStatus, ClientError> {
        Ok(self.describe(workflow_id).await?.summary.status)
    }

    fn subscribe(&self) -> BoxStream<'static, StreamItem> {
        Client::subscribe(self, None).boxed()
    }

    async fn arm_fault(&self, spec: &serde_json::Value) -> Result<u64, String> {
        let v = admin_post(self.base_url(), FAULTS_PATH, spec).await?;
        v.get("id").and_then(|id| id.as_u64()).ok_or_else(|| format!("the engine armed the fault but named no id: {v}"))
    }

    async fn release_fault(&self, id: u64) -> Result<(), String> {
        admin_post(self.base_url(), &format!("{FAULTS_PATH}/{id}/release"), &serde_json::json!({})).await.map(|_| ())
    }

    async fn disarm_fault(&self, id: u64) -> Result<(), String> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let url = format!("{}{FAULTS_PATH}/{id}", self.base_url());
        match http.delete(&url).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("DELETE {url}: HTTP {}", r.status())),
            Err(e) => Err(format!("DELETE {url}: {e}")),
        }
    }

    async fn set_dual_write_order(&self, order: &str) -> Result<(), String> {
        let v = admin_post(self.base_url(), MODE_PATH, &serde_json::json!({"dual_write_order": order})).await?;
        match v.get("dual_write_order").and_then(|o| o.as_str()) {
            Some(o) if o == order => Ok(()),
            _ => Err(format!("the engine did not switch to {order}: {v}")),
        }
    }

    fn http_client(&self) -> Option<Client> {
        Some(self.clone())
    }
}
