//! [`Client`]: the engine's client-facing HTTP API, typed. Worker-side calls (polls, task
//! completions, heartbeats) live here too, crate-private, so that HTTP handling is in one place.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_proto::{
    paths, ActivityAttempt, ActivityTask,
    DescribeWorkflowResponse, ErrorBody, HeartbeatRequest,
    HeartbeatResponse, HistoryResponse, IdConflictPolicy, ListWorkflowsResponse, PollRequest, ReasonRequest,
    ReportBatchRequest, ReportBatchResponse,
    SignalRequest, SignalWithStartRequest, StartWorkflowRequest, StartWorkflowResponse, TaskQueueResponse,
    WorkflowOptions, WorkflowResultResponse, WorkflowStatus, WorkflowSummary, WorkflowTask,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ClientError;

/// Longest single `/result` long poll; longer waits loop.
const MAX_RESULT_WAIT: Duration = Duration::from_secs(30);
/// Slack added to the HTTP timeout of a long poll over the time the engine may hold it.
const LONG_POLL_SLACK: Duration = Duration::from_secs(10);
/// Timeout of ordinary (non-long-poll) calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how to start a workflow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartOptions {
    pub workflow_id: String,
    pub task_queue: String,
    /// Run and execution timeouts, workflow task timeout.
    pub options: WorkflowOptions,
    /// What to do if the id already has a running run.
    pub id_conflict: IdConflictPolicy,
}

impl StartOptions {
    pub fn new(workflow_id: impl Into<String>, task_queue: impl Into<String>) -> Self {
        Self { workflow_id: workflow_id.into(), task_queue: task_queue.into(), ..Self::default() }
    }
}

/// A typed client of one engine. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// The fixed endpoints, parsed once: parsing a URL per call was a visible share of a
    /// worker's CPU time under load.
    fixed: Arc<HashMap<&'static str, reqwest::Url>>,
}

/// Endpoints whose path never changes.
const FIXED_PATHS: [&str; 11] = [
    paths::HEALTH,
    paths::WORKFLOWS,
    paths::SIGNAL_WITH_START,
    paths::WORKFLOW_TASK_POLL,
    paths::WORKFLOW_TASK_COMPLETE,
    paths::WORKFLOW_TASK_FAIL,
    paths::ACTIVITY_TASK_POLL,
    paths::ACTIVITY_TASK_COMPLETE,
    paths::ACTIVITY_TASK_FAIL,
    paths::ACTIVITY_TASK_HEARTBEAT,
    paths::TASK_REPORTS,
];

impl Client {
    /// `base_url` like `http://127.0.0.1:7233`.
    pub fn new(base_url: impl Into<String>) -> Result<Client, ClientError> {
        let base = base_url.into().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::BadInput(format!(
                "engine URL '{base}' must start with http:// or https://, e.g. http://127.0.0.1:7233"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| ClientError::BadInput(format!("HTTP client could not be built: {e}")))?;
        let mut fixed = HashMap::new();
        for path in FIXED_PATHS {
            let url = reqwest::Url::parse(&format!("{base}{path}"))
                .map_err(|e| ClientError::BadInput(format!("engine URL '{base}' is not a valid URL: {e}")))?;
            fixed.insert(path, url);
        }
        Ok(Client { http, base, fixed: Arc::new(fixed) })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<(), ClientError> {
        let resp = self.send(Method::GET, paths::HEALTH, None::<&()>, CALL_TIMEOUT).await?;
        check(resp).await.map(|_| ())
    }

    pub async fn start_workflow<I: Serialize + ?Sized>(
        &self,
        opts: StartOptions,
        workflow_type: &str,
        input: &I,
    ) -> Result<StartWorkflowResponse, ClientError> {
        let req = start_request(opts, workflow_type, input)?;
        self.call(Method::POST, paths::WORKFLOWS, Some(&req)).await
    }

    /// Starts a workflow and waits up to `wait` for its result in the same request; the
    /// answer's `result` is set when it closed within the wait (see [`Client::execute_workflow`]).
    pub async fn execute_workflow_raw<I: Serialize + ?Sized>(
        &self,
        opts: StartOptions,
        workflow_type: &str,
        input: &I,
        wait: Duration,
    ) -> Result<StartWorkflowResponse, ClientError> {
        let req = start_request(opts, workflow_type, input)?;
        let wait = wait.min(MAX_RESULT_WAIT);
        let path = format!("{}?wait_ms={}", paths::WORKFLOWS, wait.as_millis());
        let resp = self.send(Method::POST, &path, Some(&req), wait + LONG_POLL_SLACK).await?;
        decode(check(resp).await?, &path)
    }

    /// Starts a workflow and waits up to `timeout` for its result, decoded as `T`: one round
    /// trip when it finishes within 30 s. Errors as [`Client::result`].
    pub async fn execute_workflow<I: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        opts: StartOptions,
        workflow_type: &str,
        input: &I,
        timeout: Duration,
    ) -> Result<T, ClientError> {
        let deadline = Instant::now() + timeout;
        let started = self.execute_workflow_raw(opts, workflow_type, input, timeout).await?;
        let r = match started.result {
            Some(r) => r,
            None => self.result_raw(&started.workflow_id, deadline.saturating_duration_since(Instant::now())).await?,
        };
        self.typed_result(r)
    }

    pub async fn signal<P: Serialize + ?Sized>(
        &self,
        workflow_id: &str,
        name: &str,
        payload: &P,
    ) -> Result<(), ClientError> {
        let req = SignalRequest { name: name.into(), payload: to_payload(payload)? };
        self.call_ack(Method::POST, &paths::signal(workflow_id), Some(&req)).await
    }

    /// Signals the running run of `opts.workflow_id`, or starts one and signals it, atomically.
    pub async fn signal_with_start<I: Serialize + ?Sized, P: Serialize + ?Sized>(
        &self,
        opts: StartOptions,
        workflow_type: &str,
        input: &I,
        signal_name: &str,
        payload: &P,
    ) -> Result<StartWorkflowResponse, ClientError> {
        let req = SignalWithStartRequest {
            start: start_request(opts, workflow_type, input)?,
            signal: SignalRequest { name: signal_name.into(), payload: to_payload(payload)? },
        };
        self.call(Method::POST, paths::SIGNAL_WITH_START, Some(&req)).await
    }

    pub async fn cancel(&self, workflow_id: &str, reason: &str) -> Result<(), ClientError> {
        let req = ReasonRequest { reason: reason.into() };
        self.call_ack(Method::POST, &paths::cancel(workflow_id), Some(&req)).await
    }

    pub async fn terminate(&self, workflow_id: &str, reason: &str) -> Result<(), ClientError> {
        let req = ReasonRequest { reason: reason.into() };
        self.call_ack(Method::POST, &paths::terminate(workflow_id), Some(&req)).await
    }

    pub async fn describe(&self, workflow_id: &str) -> Result<DescribeWorkflowResponse, ClientError> {
        self.call(Method::GET, &paths::workflow(workflow_id), None::<&()>).await
    }

    /// Runs (latest first as the engine orders them), optionally only those in `status`.
    pub async fn list(&self, status: Option<WorkflowStatus>) -> Result<Vec<WorkflowSummary>, ClientError> {
        let path = match status {
            Some(s) => format!("{}?status={}", paths::WORKFLOWS, s.as_str()),
            None => paths::WORKFLOWS.to_string(),
        };
        let r: ListWorkflowsResponse = self.call(Method::GET, &path, None::<&()>).await?;
        Ok(r.workflows)
    }

    /// History of the current (latest) run of `workflow_id`.
    pub async fn history(&self, workflow_id: &str) -> Result<HistoryResponse, ClientError> {
        self.call(Method::GET, &paths::history(workflow_id), None::<&()>).await
    }

    /// History of a given run of `workflow_id`.
    pub async fn history_of_run(&self, workflow_id: &str, run_id: &str) -> Result<HistoryResponse, ClientError> {
        let path = format!("{}?run_id={}", paths::history(workflow_id), paths::encode(run_id));
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// Waits up to `timeout` for the workflow (following continue-as-new) to close. Never an
    /// error for a workflow that failed: look at `status`.
    pub async fn result_raw(&self, workflow_id: &str, timeout: Duration) -> Result<WorkflowResultResponse, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now()).min(MAX_RESULT_WAIT);
            let path = format!("{}?wait_ms={}", paths::result(workflow_id), wait.as_millis());
            let resp = self.send(Method::GET, &path, None::<&()>, wait + LONG_POLL_SLACK).await?;
            let status = resp.status();
            let body: WorkflowResultResponse = decode(check(resp).await?, &path)?;
            if status != StatusCode::ACCEPTED && body.status.is_closed() {
                return Ok(body);
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout { workflow_id: workflow_id.into(), waited: timeout });
            }
        }
    }

    /// Waits up to `timeout` for the workflow's result, decoded as `T`. A workflow that closed
    /// without completing gives [`ClientError::WorkflowFailed`].
    pub async fn result<T: DeserializeOwned>(&self, workflow_id: &str, timeout: Duration) -> Result<T, ClientError> {
        let r = self.result_raw(workflow_id, timeout).await?;
        self.typed_result(r)
    }

    /// A closed workflow's result as `T`, or why there is none.
    fn typed_result<T: DeserializeOwned>(&self, r: WorkflowResultResponse) -> Result<T, ClientError> {
        if r.status != WorkflowStatus::Completed {
            return Err(ClientError::WorkflowFailed { workflow_id: r.workflow_id, status: r.status, failure: r.failure });
        }
        let v = r.result.unwrap_or(serde_json::Value::Null);
        serde_json::from_value(v).map_err(|e| ClientError::Decode {
            url: format!("{}{}", self.base, paths::result(&r.workflow_id)),
            message: format!("workflow result does not match the requested type: {e}"),
        })
    }

    /// Dispatches the next attempt of a backing-off activity now.
    pub async fn retry_now(&self, workflow_id: &str, seq: u64) -> Result<(), ClientError> {
        self.call_ack(Method::POST, &paths::retry_now(workflow_id, seq), None::<&()>).await
    }

    pub async fn attempts(&self, workflow_id: &str, seq: u64) -> Result<Vec<ActivityAttempt>, ClientError> {
        self.call(Method::GET, &paths::attempts(workflow_id, seq), None::<&()>).await
    }

    pub async fn task_queue(&self, name: &str) -> Result<TaskQueueResponse, ClientError> {
        self.call(Method::GET, &paths::task_queue(name), None::<&()>).await
    }

    // --- worker side ---

    pub(crate) async fn poll_workflow_task(&self, req: &PollRequest) -> Result<Option<WorkflowTask>, ClientError> {
        self.poll(paths::WORKFLOW_TASK_POLL, req).await
    }

    pub(crate) async fn poll_activity_task(&self, req: &PollRequest) -> Result<Option<ActivityTask>, ClientError> {
        self.poll(paths::ACTIVITY_TASK_POLL, req).await
    }

    pub(crate) async fn report_batch(&self, req: &ReportBatchRequest) -> Result<ReportBatchResponse, ClientError> {
        self.call(Method::POST, paths::TASK_REPORTS, Some(req)).await
    }

    pub(crate) async fn heartbeat(&self, req: &HeartbeatRequest) -> Result<HeartbeatResponse, ClientError> {
        self.call(Method::POST, paths::ACTIVITY_TASK_HEARTBEAT, Some(req)).await
    }

    async fn poll<T: DeserializeOwned>(&self, path: &str, req: &PollRequest) -> Result<Option<T>, ClientError> {
        let timeout = Duration::from_millis(req.timeout_ms) + LONG_POLL_SLACK;
        let resp = self.send(Method::POST, path, Some(req), timeout).await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        decode(check(resp).await?, path).map(Some)
    }

    async fn call<B: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ClientError> {
        let resp = self.send(method, path, body, CALL_TIMEOUT).await?;
        decode(check(resp).await?, path)
    }

    /// A call whose answer body does not matter (an `Ack` or empty).
    async fn call_ack<B: Serialize + ?Sized>(&self, method: Method, path: &str, body: Option<&B>) -> Result<(), ClientError> {
        let resp = self.send(method, path, body, CALL_TIMEOUT).await?;
        check(resp).await.map(|_| ())
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<reqwest::Response, ClientError> {
        let url = format!("{}{}", self.base, path);
        let mut req = match self.fixed.get(path) {
            Some(fixed) => self.http.request(method, fixed.clone()),
            None => self.http.request(method, &url),
        }
        .timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await.map_err(|e| ClientError::Unreachable { url, message: error_chain(&e) })
    }
}

/// Turns a non-2xx answer into [`ClientError::Api`]; returns the body of a 2xx one.
async fn check(resp: reqwest::Response) -> Result<OkBody, ClientError> {
    let status = resp.status();
    let url = resp.url().to_string();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| ClientError::Unreachable { url: url.clone(), message: error_chain(&e) })?;
    if status.is_success() {
        return Ok(OkBody { bytes: bytes.to_vec(), url });
    }
    let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(b) => (b.code, b.message),
        Err(_) => ("http_error".to_string(), String::from_utf8_lossy(&bytes).chars().take(500).collect()),
    };
    Err(ClientError::Api { status: status.as_u16(), code, message })
}

/// A successful answer's body and where it came from (for error messages).
struct OkBody {
    bytes: Vec<u8>,
    url: String,
}

fn decode<T: DeserializeOwned>(body: OkBody, _path: &str) -> Result<T, ClientError> {
    serde_json::from_slice(&body.bytes).map_err(|e| ClientError::Decode { url: body.url, message: e.to_string() })
}

fn to_payload<P: Serialize + ?Sized>(p: &P) -> Result<serde_json::Value, ClientError> {
    serde_json::to_value(p).map_err(|e| ClientError::BadInput(format!("payload did not serialize: {e}")))
}

fn start_request<I: Serialize + ?Sized>(
    opts: StartOptions,
    workflow_type: &str,
    input: &I,
) -> Result<StartWorkflowRequest, ClientError> {
    Ok(StartWorkflowRequest {
        workflow_id: opts.workflow_id,
        workflow_type: workflow_type.into(),
        task_queue: opts.task_queue,
        input: to_payload(input)?,
        options: opts.options,
        id_conflict: opts.id_conflict,
    })
}

/// The error and its sources, since reqwest's top-level message alone ("error sending
/// request") does not say what went wrong.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
