//! Gathers the worker's task reports into batches (`POST /api/v1/tasks/reports`).
//!
//! Reports that become ready while earlier batches are on the wire go out together in the next
//! one, so a busy worker pays one round trip for many reports, and an idle one still sends
//! each report at once. Nothing waits on a timer. Each report keeps its own answer (and its
//! own error), exactly what its single endpoint would have said.

use faultline_proto::{
    CompleteActivityTaskRequest, CompleteActivityTaskResponse, CompleteWorkflowTaskRequest,
    CompleteWorkflowTaskResponse, FailActivityTaskRequest, FailWorkflowTaskRequest, ReportBatchRequest,
    ReportResult, TaskReport, MAX_REPORTS_PER_BATCH,
};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::client::Client;
use crate::error::ClientError;

/// Batches on the wire at once: while they are, new reports queue up for the next batch.
/// With one, the worker and the engine took turns (each idle while the other worked on the
/// batch) and a busy worker sent a batch per round trip; two keep both busy. Three gained
/// nothing more in `faultline bench`.
const BATCHES_IN_FLIGHT: usize = 2;

type Reply = oneshot::Sender<Result<ReportResult, ClientError>>;

/// Cheap to share; the batching task ends when the last handle is dropped.
pub(super) struct Reporter {
    tx: mpsc::UnboundedSender<(TaskReport, Reply)>,
    engine: String,
}

impl Reporter {
    pub(super) fn spawn(client: Client) -> Reporter {
        let (tx, rx) = mpsc::unbounded_channel();
        let engine = client.base_url().to_string();
        tokio::spawn(run(client, rx));
        Reporter { tx, engine }
    }

    async fn report(&self, report: TaskReport) -> Result<ReportResult, ClientError> {
        let (reply, answer) = oneshot::channel();
        let gone = || ClientError::Unreachable {
            url: self.engine.clone(),
            message: "the worker's report batching stopped".into(),
        };
        self.tx.send((report, reply)).map_err(|_| gone())?;
        let result = answer.await.map_err(|_| gone())??;
        match result.error {
            Some(e) => Err(ClientError::Api { status: e.status, code: e.code, message: e.message }),
            None => Ok(result),
        }
    }

    pub(super) async fn complete_workflow_task(
        &self,
        req: CompleteWorkflowTaskRequest,
    ) -> Result<CompleteWorkflowTaskResponse, ClientError> {
        let r = self.report(TaskReport::CompleteWorkflowTask(req)).await?;
        Ok(CompleteWorkflowTaskResponse { ok: true, activity_tasks: r.activity_tasks })
    }

    pub(super) async fn fail_workflow_task(&self, req: FailWorkflowTaskRequest) -> Result<(), ClientError> {
        self.report(TaskReport::FailWorkflowTask(req)).await.map(|_| ())
    }

    pub(super) async fn complete_activity_task(
        &self,
        req: CompleteActivityTaskRequest,
    ) -> Result<CompleteActivityTaskResponse, ClientError> {
        let r = self.report(TaskReport::CompleteActivityTask(req)).await?;
        Ok(CompleteActivityTaskResponse { ok: true, workflow_task: r.workflow_task })
    }

    pub(super) async fn fail_activity_task(&self, req: FailActivityTaskRequest) -> Result<(), ClientError> {
        self.report(TaskReport::FailActivityTask(req)).await.map(|_| ())
    }
}

async fn run(client: Client, mut rx: mpsc::UnboundedReceiver<(TaskReport, Reply)>) {
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    loop {
        // Take a wire slot first: while none is free, reports accumulate in the channel.
        let Ok(slot) = in_flight.clone().acquire_owned().await else { return };
        let Some(first) = rx.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < MAX_REPORTS_PER_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let client = client.clone();
        tokio::spawn(async move {
            send(&client, batch).await;
            drop(slot);
        });
    }
}

async fn send(client: &Client, batch: Vec<(TaskReport, Reply)>) {
    let (reports, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let n = reports.len();
    match client.report_batch(&ReportBatchRequest { reports }).await {
        Ok(resp) if resp.results.len() == n => {
            for (reply, result) in replies.into_iter().zip(resp.results) {
                let _ = reply.send(Ok(result));
            }
        }
        Ok(resp) => {
            let e = ClientError::Decode {
                url: client.base_url().to_string(),
                message: format!("{} results for {n} reports; is the engine the same version as this SDK?", resp.results.len()),
            };
            replies.into_iter().for_each(|r| drop(r.send(Err(e.clone()))));
        }
        Err(e) => replies.into_iter().for_each(|r| drop(r.send(Err(e.clone())))),
    }
}
