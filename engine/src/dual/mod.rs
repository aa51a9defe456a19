//! The dual-write twin (issue 13): the same state machine and processor as the transactional
//! engine, with the commit path people really ship. A request's run state and history commit in
//! ONE transaction of the state database; the tasks and timers it creates go to a separate
//! durable queue ([`crate::queue`], the file `<db>.queue`) in a second step, either after the
//! state commit ([`DualOrder::AfterCommit`], Rails' `enqueue_after_transaction_commit`,
//! Django's `transaction.on_commit`, Celery's `delay_on_commit`) or before it
//! ([`DualOrder::EnqueueFirst`]). Pollers reserve messages with a lease (the visibility
//! timeout); a task's queue message is acked when its completion has committed, in another
//! step ([`AckMode::Late`], Celery's `acks_late=True`), or on receipt ([`AckMode::Early`],
//! Celery's default). Nothing checks that a redelivered task still matches its attempt.
//!
//! Both stores are durable: every anomaly comes from the gap between them. [`poll`] holds the
//! dispatch and timer side; the fault points of [`crate::faults`] sit at each boundary.
//! The transactional engine does not go through this module at all.

pub mod poll;
mod tx;

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use faultline_proto::{Command, EpochMillis, TaskToken};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::faults::{FaultCtx, FaultPoint, FaultTransition};
use crate::processor::{Processor, Request, Response};
use crate::queue::{queue_path, Queue};
use crate::state::{Input, TaskKind, TimerKind};
use crate::store::sqlite::{self, run_cache::RunCache, tx::SqliteTx};

/// How the engine commits (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Everything of a transition in one transaction (the engine proper).
    #[default]
    Transactional,
    /// State in one store, tasks and timers in a separate queue.
    DualWrite,
}

/// When the dual-write twin publishes a transition's tasks (`--dual-write-order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DualOrder {
    #[default]
    AfterCommit,
    EnqueueFirst,
}

/// When the dual-write twin acks a task's message (`--ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckMode {
    #[default]
    Late,
    Early,
}

macro_rules! parse_kebab {
    ($t:ty, $what:literal) => {
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                serde_json::from_value(serde_json::Value::String(s.to_string()))
                    .map_err(|_| format!("unknown {} {s:?}", $what))
            }
        }
        impl $t {
            pub fn as_str(self) -> String {
                serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
            }
        }
    };
}
parse_kebab!(Mode, "mode (transactional | dual-write)");
parse_kebab!(DualOrder, "order (after-commit | enqueue-first)");
parse_kebab!(AckMode, "ack mode (late | early)");

/// Options of the dual-write twin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DualOptions {
    pub order: DualOrder,
    pub ack: AckMode,
    /// Visibility timeout of a reserved message.
    pub lease_ms: i64,
}

impl Default for DualOptions {
    fn default() -> Self {
        Self { order: DualOrder::AfterCommit, ack: AckMode::Late, lease_ms: 30_000 }
    }
}

/// A queue message's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Work {
    Task { run_id: String, kind: TaskKind, task_queue: String, seq: u64, created_event_id: u64 },
    Timer { owner: String, kind: TimerKind, fire_at_ms: EpochMillis, created_event_id: u64 },
}

pub const TIMER_TOPIC: &str = "~timers";

pub fn task_topic(kind: TaskKind, queue: &str) -> String {
    format!("{}:{queue}", kind.as_str())
}

/// A message to publish once the transition is decided.
pub(crate) struct Outgoing {
    pub topic: String,
    pub work: Work,
    pub deliver_at: EpochMillis,
}

pub struct Dual {
    /// The state database's write connection; one request at a time, like a row lock held for
    /// the whole transaction (a `hold` before the commit holds it).
    conn: tokio::sync::Mutex<Connection>,
    pub queue: Arc<Queue>,
    /// The options the engine started with (the order may change since: [`Dual::order`]).
    pub options: DualOptions,
    /// The current order: `--dual-write-order` at start, switched by `POST /api/v1/admin/mode`
    /// (a scenario's `[setup] twin_order`). Read once per request, so a switch never splits one.
    enqueue_first: AtomicBool,
}

impl Dual {
    pub fn open(db: &Path, options: DualOptions) -> Result<Dual> {
        let conn = sqlite::open_writer(db)?;
        // This path has no separate fsync thread: each commit is durable when it returns.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let queue = Arc::new(Queue::open(&queue_path(db))?);
        let enqueue_first = AtomicBool::new(options.order == DualOrder::EnqueueFirst);
        Ok(Dual { conn: tokio::sync::Mutex::new(conn), queue, options, enqueue_first })
    }

    /// When this twin publishes a transition's tasks, now.
    pub fn order(&self) -> DualOrder {
        if self.enqueue_first.load(Ordering::SeqCst) {
            DualOrder::EnqueueFirst
        } else {
            DualOrder::AfterCommit
        }
    }

    /// Switches the order for the requests that start from now on (until the engine restarts:
    /// it then starts with `--dual-write-order` again).
    pub fn set_order(&self, order: DualOrder) {
        self.enqueue_first.store(order == DualOrder::EnqueueFirst, Ordering::SeqCst);
        tracing::info!(order = %order.as_str(), "dual-write order switched");
    }

    fn enqueue(&self, out: &[Outgoing], now: EpochMillis) -> Result<()> {
        for o in out {
            self.queue.enqueue(&o.topic, &serde_json::to_string(&o.work)?, o.deliver_at, now)?;
        }
        Ok(())
    }

    /// Executes a write request the dual-write way (see the module doc).
    pub async fn exec(&self, engine: &Engine, mut req: Request) -> Result<Response> {
        // No eager dispatch here: the queue is the only way a task reaches a worker.
        if let Request::ToTaskRun { eager, .. } = &mut req {
            *eager = None;
        }
        let ack_token = match &req {
            Request::ToTaskRun { token, input, .. } if ends_task(input) => Some(token.clone()),
            _ => None,
        };
        let mut ctx = request_ctx(&req);
        // A report names its activity by token only: its type is read in the transaction.
        let reported_activity = match &req {
            Request::ToTaskRun { token, .. } => match token.parse::<TaskToken>() {
                Ok(TaskToken::Activity { run_id, seq, .. }) => Some((run_id, seq)),
                _ => None,
            },
            _ => None,
        };
        let faults = engine.faults();
        let order = self.order();
        let conn = self.conn.lock().await;
        let now = engine.now();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let ran = {
            let mut cache = RunCache::default();
            let mut dtx = tx::DualTx::new(SqliteTx { conn: &conn, cache: &mut cache });
            let noted = match &reported_activity {
                Some((run_id, seq)) => dtx.note_activity(run_id, *seq),
                None => Ok(()),
            };
            noted.and_then(|()| {
                let mut p = Processor::new(&mut dtx, now);
                let out = p.execute(req);
                let notes = std::mem::take(&mut p.notes);
                out.map(|resp| (resp, notes))
            })
            .map(|(resp, notes)| (resp, notes, dtx.out, dtx.ctx))
        };
        let (resp, notes, out, tctx) = match ran {
            Ok(r) => r,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                if matches!(e, EngineError::StaleToken(_)) {
                    // The state refused a report (a redelivered copy's): its message is done.
                    if let Some(token) = &ack_token {
                        let _ = self.queue.ack_token(token, now);
                    }
                }
                return Err(e);
            }
        };
        ctx.workflow_id = ctx.workflow_id.or(tctx.workflow_id);
        ctx.workflow_type = ctx.workflow_type.or(tctx.workflow_type);
        ctx.activity_types.extend(tctx.activity_types);
        if order == DualOrder::EnqueueFirst {
            let published = match self.enqueue(&out, now) {
                Ok(()) => faults.hit(FaultPoint::AfterEnqueueBeforeCommit, &ctx).await,
                Err(e) => Err(e),
            };
            if let Err(e) = published {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        if let Err(e) = faults.hit(FaultPoint::BeforeStateCommit, &ctx).await {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.into());
        }
        drop(conn);
        if order == DualOrder::AfterCommit {
            faults.hit(FaultPoint::AfterStateCommit, &ctx).await?;
            self.enqueue(&out, engine.now())?;
        }
        engine.notifier().publish(notes);
        if let (Some(token), AckMode::Late) = (ack_token, self.options.ack) {
            faults.hit(FaultPoint::AfterCompleteBeforeAck, &ctx).await?;
            self.queue.ack_token(&token, engine.now())?;
        }
        Ok(resp)
    }
}

/// A report that ends a task (its message can be acked); a heartbeat does not.
fn ends_task(input: &Input) -> bool {
    matches!(
        input,
        Input::WorkflowTaskComplete { .. }
            | Input::WorkflowTaskFail { .. }
            | Input::ActivityComplete { .. }
            | Input::ActivityFail { .. }
    )
}

/// What a fault point can match on, from the request alone (both modes).
pub fn request_ctx(req: &Request) -> FaultCtx {
    match req {
        Request::Start(r) => FaultCtx {
            workflow_id: Some(r.workflow_id.clone()),
            workflow_type: Some(r.workflow_type.clone()),
            ..Default::default()
        },
        Request::SignalWithStart(r) => FaultCtx {
            workflow_id: Some(r.start.workflow_id.clone()),
            workflow_type: Some(r.start.workflow_type.clone()),
            ..Default::default()
        },
        Request::ToWorkflow { workflow_id, .. } => FaultCtx { workflow_id: Some(workflow_id.clone()), ..Default::default() },
        Request::ToTaskRun { input: Input::WorkflowTaskComplete { commands, .. }, .. } => {
            let activity_types: Vec<String> = commands
                .iter()
                .filter_map(|c| match c {
                    Command::ScheduleActivity { activity_type, .. } => Some(activity_type.clone()),
                    _ => None,
                })
                .collect();
            let mut transitions = Vec::new();
            if !activity_types.is_empty() {
                transitions.push(FaultTransition::ScheduleActivity);
            }
            if commands.iter().any(|c| matches!(c, Command::StartTimer { .. })) {
                transitions.push(FaultTransition::StartTimer);
            }
            FaultCtx { activity_types, transitions, ..Default::default() }
        }
        Request::ToTaskRun { input: Input::ActivityComplete { .. }, .. } => {
            FaultCtx { transitions: vec![FaultTransition::CompleteActivity], ..Default::default() }
        }
        _ => FaultCtx::default(),
    }
}
