//! What a run needs of the workflow engine, as one interface: start orders, signal, retry
//! now, cancel, terminate, read a run's status, and the live event stream. The real
//! implementation is the SDK's HTTP [`Client`]; tests give the runner a fake engine, so gates,
//! timeouts and every action are tested without an engine or pods.

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
}
