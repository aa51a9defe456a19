//! A tiny hand-written client of the engine's HTTP API, used to drive workflow and activity
//! tasks in tests (the real SDK lives in engine/sdk and is tested on its own).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use faultline_proto::*;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

/// Starts the real engine binary on a free port with database `db` (plus `args` and `env`)
/// and waits for its "listening" line; the child and the address it listens on.
pub fn spawn_engine(db: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline-engine"))
        .args(["--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn faultline-engine");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(i) = line.find("addr=") {
                let addr: String = line[i + 5..].split_whitespace().next().unwrap_or("").to_string();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr);
                }
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(20)).expect("engine printed its address");
    (child, addr)
}

/// An in-process engine on a real SQLite file in a temporary directory, served on 127.0.0.1:0.
pub struct TestEngine {
    _dir: tempfile::TempDir,
    pub server: Option<faultline_engine::Server>,
    pub c: Client,
}

pub async fn engine() -> TestEngine {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(faultline_engine::clock::SystemClock);
    let server = faultline_engine::Server::start(&dir.path().join("engine.db"), "127.0.0.1:0", clock).await.unwrap();
    let c = Client::new(format!("http://{}", server.addr));
    TestEngine { _dir: dir, server: Some(server), c }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        if let Some(s) = &self.server {
            s.engine.shutdown();
        }
    }
}

#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base: impl Into<String>) -> Self {
        Self { base: base.into(), http: reqwest::Client::new() }
    }

    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn post<B: Serialize>(&self, path: &str, body: &B) -> (StatusCode, Value) {
        self.post_raw(path, serde_json::to_vec(body).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(format!("{}{}", self.base, path)).send().await.expect("request");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn get_as<T: DeserializeOwned>(&self, path: &str) -> T {
        let (s, v) = self.get(path).await;
        assert!(s.is_success(), "GET {path}: {s} {v}");
        serde_json::from_value(v).expect("decode")
    }

    pub async fn start(&self, id: &str, wf_type: &str, queue: &str, input: Value) -> StartWorkflowResponse {
        self.start_with(id, wf_type, queue, input, WorkflowOptions::default()).await
    }

    pub async fn start_with(&self, id: &str, wf_type: &str, queue: &str, input: Value, options: WorkflowOptions) -> StartWorkflowResponse {
        let req = StartWorkflowRequest {
            workflow_id: id.into(),
            workflow_type: wf_type.into(),
            task_queue: queue.into(),
            input,
            options,
            id_conflict: IdConflictPolicy::Fail,
        };
        let (s, v) = self.post(paths::WORKFLOWS, &req).await;
        assert_eq!(s, StatusCode::OK, "start {id}: {v}");
        serde_json::from_value(v).unwrap()
    }

    pub async fn poll_wft(&self, queue: &str, timeout_ms: u64) -> Option<WorkflowTask> {
        let body = PollRequest { task_queue: queue.into(), worker: "test-worker".into(), timeout_ms };
        let (s, v) = self.post(paths::WORKFLOW_TASK_POLL, &body).await;
        match s {
            StatusCode::OK => Some(serde_json::from_value(v).unwrap()),
            StatusCode::NO_CONTENT => None,
            other => panic!("poll: {other} {v}"),
        }
    }

    /// Polls until a workflow task arrives (panics after 10 s).
    pub async fn next_wft(&self, queue: &str) -> WorkflowTask {
        self.poll_wft(queue, 10_000).await.expect("a workflow task within 10 s")
    }

    pub async fn complete_wft(&self, token: &str, commands: Vec<Command>) -> (StatusCode, Value) {
        self.post(paths::WORKFLOW_TASK_COMPLETE, &CompleteWorkflowTaskRequest { task_token: token.into(), commands, eager: None }).await
    }

    pub async fn poll_activity(&self, queue: &str, timeout_ms: u64) -> Option<ActivityTask> {
        let body = PollRequest { task_queue: queue.into(), worker: "test-activity-worker".into(), timeout_ms };
        let (s, v) = self.post(paths::ACTIVITY_TASK_POLL, &body).await;
        match s {
            StatusCode::OK => Some(serde_json::from_value(v).unwrap()),
            StatusCode::NO_CONTENT => None,
            other => panic!("activity poll: {other} {v}"),
        }
    }

    pub async fn next_activity(&self, queue: &str) -> ActivityTask {
        self.poll_activity(queue, 10_000).await.expect("an activity task within 10 s")
    }

    pub async fn complete_activity(&self, token: &str, result: Value) -> (StatusCode, Value) {
        self.post(paths::ACTIVITY_TASK_COMPLETE, &CompleteActivityTaskRequest { task_token: token.into(), result, eager: None }).await
    }

    /// Completes a workflow task asking for eager dispatch; expects 200 and the typed answer.
    pub async fn complete_wft_eager(&self, token: &str, commands: Vec<Command>, eager: Option<EagerRequest>) -> CompleteWorkflowTaskResponse {
        let req = CompleteWorkflowTaskRequest { task_token: token.into(), commands, eager };
        let (s, v) = self.post(paths::WORKFLOW_TASK_COMPLETE, &req).await;
        assert_eq!(s, StatusCode::OK, "complete workflow task: {v}");
        serde_json::from_value(v).expect("decode CompleteWorkflowTaskResponse")
    }

    /// Completes an activity task asking for eager dispatch; expects 200 and the typed answer.
    pub async fn complete_activity_eager(&self, token: &str, result: Value, eager: Option<EagerRequest>) -> CompleteActivityTaskResponse {
        let req = CompleteActivityTaskRequest { task_token: token.into(), result, eager };
        let (s, v) = self.post(paths::ACTIVITY_TASK_COMPLETE, &req).await;
        assert_eq!(s, StatusCode::OK, "complete activity task: {v}");
        serde_json::from_value(v).expect("decode CompleteActivityTaskResponse")
    }

    pub async fn fail_activity(&self, token: &str, message: &str) -> (StatusCode, Value) {
        self.post(paths::ACTIVITY_TASK_FAIL, &FailActivityTaskRequest { task_token: token.into(), failure: Failure::new(message) }).await
    }

    pub async fn describe(&self, id: &str) -> DescribeWorkflowResponse {
        self.get_as(&paths::workflow(id)).await
    }

    pub async fn history(&self, id: &str) -> Vec<HistoryEvent> {
        self.get_as::<HistoryResponse>(&paths::history(id)).await.events
    }

    pub async fn result(&self, id: &str, wait_ms: u64) -> (StatusCode, WorkflowResultResponse) {
        let (s, v) = self.get(&format!("{}?wait_ms={wait_ms}", paths::result(id))).await;
        assert!(s == StatusCode::OK || s == StatusCode::ACCEPTED, "result: {s} {v}");
        (s, serde_json::from_value(v).unwrap())
    }

    pub async fn signal(&self, id: &str, name: &str, payload: Value) -> (StatusCode, Value) {
        self.post(&paths::signal(id), &json!({ "name": name, "payload": payload })).await
    }

    /// Reads SSE events from the stream until `n` were received or `timeout` passed.
    pub async fn stream(&self, after: Option<u64>, last_event_id: Option<u64>, n: usize, timeout: Duration) -> Vec<StreamEvent> {
        let mut url = format!("{}{}", self.base, paths::EVENTS);
        if let Some(a) = after {
            url.push_str(&format!("?after={a}"));
        }
        let mut req = self.http.get(url);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let mut resp = req.send().await.expect("stream");
        assert_eq!(resp.status(), StatusCode::OK);
        let deadline = Instant::now() + timeout;
        let mut buf = String::new();
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, resp.chunk()).await {
                Ok(Ok(Some(chunk))) => buf.push_str(&String::from_utf8_lossy(&chunk)),
                _ => break,
            }
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse::<u64>().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data = Some(v.trim().to_string());
                    }
                }
                if let Some(d) = data {
                    let ev: StreamEvent = serde_json::from_str(&d).unwrap_or_else(|e| panic!("bad frame {d}: {e}"));
                    assert_eq!(id, Some(ev.cursor), "SSE id is the cursor");
                    out.push(ev);
                }
            }
        }
        out
    }
}

/// Waits for a condition with a deadline (tests never sleep to synchronise).
#[allow(unused_imports)]
pub use faultline_testkit::wait::wait_until as eventually;

pub fn kinds(events: &[HistoryEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.name()).collect()
}

pub fn assert_gapless(events: &[HistoryEvent]) {
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.event_id, i as u64 + 1, "history ids must be gapless from 1: {:?}", kinds(events));
    }
}

pub fn activity(seq: u64, activity_type: &str, options: ActivityOptions) -> Command {
    Command::ScheduleActivity { seq, activity_type: activity_type.into(), input: json!({"seq": seq}), options }
}
