//! The messages in and out of the pure [`crate::dashboard::App`]: [`AppEvent`] (everything that
//! can change what is on screen) and [`ActionRequest`] (the I/O the app asks the run loop to do).

use crossterm::event::KeyEvent;
use faultline_proto::{DescribeWorkflowResponse, HistoryEvent, PollerInfo, StreamEvent, WorkflowSummary};

use super::link::ScenarioEvent;
use crate::runtime::{LinkFault, LinkStatus, LogLine, PodAction, PodStatus, RebuildStage};

/// Everything the app state reacts to. Nothing here performs I/O.
// Stream events dominate the traffic; boxing them would cost an allocation each.
// Serialized as a recording's records (`--record`, docs/recording-format.md).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum AppEvent {
    /// One committed event from the engine's live stream.
    Stream(StreamEvent),
    /// The event stream is connected (again).
    EngineConnected,
    /// The event stream dropped; it reconnects by itself after `retry_in_ms`.
    EngineUnreachable { error: String, retry_in_ms: u64 },
    /// Answer to a list: rows for workflows not seen on the stream yet.
    WorkflowList(Vec<WorkflowSummary>),
    /// Answer to a describe of the selected workflow.
    Described(Box<DescribeWorkflowResponse>),
    /// A full history fetched for one run (backfill for workflows not covered by the stream).
    History { workflow_id: String, run_id: String, workflow_type: String, events: Vec<HistoryEvent> },
    /// Pollers seen on the main task queue (empty: no worker is polling).
    Pollers { task_queue: String, pollers: Vec<PollerInfo> },
    /// Tasks of a queue waiting in the engine for a worker.
    Backlog { task_queue: String, workflow_tasks: u64, activity_tasks: u64 },
    /// A pod status snapshot.
    Pod(PodStatus),
    /// The pod runtime is not usable (e.g. Docker not running); the message says why.
    PodsUnavailable(String),
    /// One line of a pod's log.
    Log(LogLine),
    /// The fault proxy's links and their active faults.
    Links(Vec<LinkStatus>),
    /// The dual-write twin's feeds (its event stream and workflow list).
    Twin(FeedEvent),
    /// The faults an engine reports as fired so far (polled; repeats are ignored).
    FaultsFired { side: crate::checker::Side, fired: Vec<super::race::FiredFault> },
    /// A scenario runner reported something.
    Scenario(ScenarioEvent),
    /// An action requested earlier finished: `Ok(detail)` or `Err(message)`.
    ActionDone { id: u64, result: Result<String, String> },
    /// The rebuild requested as action `id` (`R`) began a stage.
    RebuildStage { id: u64, stage: RebuildStage },
    /// Time passed (from the injected clock).
    Tick { now_ms: i64 },
    /// A key was pressed.
    #[serde(with = "super::record::key_text")]
    Key(KeyEvent),
}

/// What an engine's feed task reports (its event stream and its workflow list): the main
/// engine's become [`AppEvent::Stream`] and its siblings, the dual-write twin's
/// [`AppEvent::Twin`]. One feed task serves both (`run::spawn_stream_feed`).
// Stream events dominate, as in `AppEvent`: boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum FeedEvent {
    Stream(StreamEvent),
    Connected,
    Unreachable { error: String, retry_in_ms: u64 },
    WorkflowList(Vec<WorkflowSummary>),
}

impl FeedEvent {
    /// The main engine's feed, as the app has always been told it.
    pub fn main(self) -> AppEvent {
        match self {
            FeedEvent::Stream(e) => AppEvent::Stream(e),
            FeedEvent::Connected => AppEvent::EngineConnected,
            FeedEvent::Unreachable { error, retry_in_ms } => AppEvent::EngineUnreachable { error, retry_in_ms },
            FeedEvent::WorkflowList(rows) => AppEvent::WorkflowList(rows),
        }
    }

    /// The dual-write twin's feed.
    pub fn twin(self) -> AppEvent {
        AppEvent::Twin(self)
    }
}

/// I/O the app asks for. The run loop executes it off the render path and answers with
/// [`AppEvent::ActionDone`] where an `id` is given.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionRequest {
    Pod { id: u64, pod: String, action: PodAction },
    /// Put `fault` on the proxy link `link`.
    LinkFault { id: u64, link: String, fault: LinkFault },
    /// Lift the faults of `kind` (`latency`, `partition`) from `link`.
    HealLink { id: u64, link: String, kind: &'static str },
    /// Rebuild the pod's binary and image from source, then redeploy it (the workshop loop).
    /// `version` is the tag to deploy again once rebuilt (the one running now).
    RebuildAndRedeploy { id: u64, pod: String, version: String },
    RetryNow { id: u64, workflow_id: String, seq: u64 },
    Signal { id: u64, workflow_id: String, name: String, payload: serde_json::Value },
    Cancel { id: u64, workflow_id: String },
    Terminate { id: u64, workflow_id: String },
    StartOrder { id: u64, workflow_id: String, workflow_type: String, task_queue: String, input: serde_json::Value },
    /// Next presenter step of the scenario.
    ScenarioAdvance,
    /// Fetch `describe` for the selected workflow (pollers, pending workflow task).
    Describe { workflow_id: String },
    /// Page back from the engine the history of a closed run the dashboard let go (its
    /// history budget).
    FetchHistory { workflow_id: String, run_id: String },
    /// Leave the dashboard; `leave_pods_running` decides whether the topology is taken down.
    Quit { leave_pods_running: bool },
}
