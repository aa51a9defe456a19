//! The dual-write twin's consumers: long polls reserve task messages from the queue, and a
//! timer loop reserves due timer messages. Each delivery is recorded ([`Delivery`]) with the
//! run's committed last event id as a consumer would read it at that moment, so a checker can
//! count tasks delivered before the state that created them.

use std::sync::Arc;
use std::time::Duration;

use faultline_proto::{ActivityTask, PollRequest};
use rusqlite::OptionalExtension;

use super::{task_topic, AckMode, Dual, Work, TIMER_TOPIC};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::faults::{FaultCtx, FaultPoint};
use crate::processor::{Polled, Request, Response};
use crate::queue::{Delivery, Message};
use crate::state::{Output, RunState, TaskKind};

/// How often consumers look at the queue when nothing woke them (new messages after an
/// enqueue-first publish, expired leases, due timers).
const TICK_MS: u64 = 20;

/// The run as a consumer reads it now: the last committed state.
async fn committed_run(engine: &Engine, run_id: &str) -> Result<Option<RunState>> {
    let run_id = run_id.to_string();
    engine
        .read(move |c| {
            let body: Option<String> =
                c.query_row("SELECT state FROM runs WHERE run_id = ?1", [&run_id], |r| r.get(0)).optional()?;
            Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
        })
        .await
}

/// Reads the run, records the delivery, returns the fault context.
async fn record(engine: &Engine, dual: &Dual, msg: &Message, run_id: &str, kind: &str, seq: u64, created: u64) -> Result<FaultCtx> {
    let run = committed_run(engine, run_id).await?;
    let committed = run.as_ref().map_or(0, |r| r.next_event_id.saturating_sub(1));
    dual.queue.record_delivery(&Delivery {
        message_id: msg.id,
        topic: msg.topic.clone(),
        run_id: run_id.to_string(),
        kind: kind.to_string(),
        seq,
        created_event_id: created,
        committed_event_id: committed,
        delivery: msg.deliveries,
        at_ms: engine.now(),
        early: committed < created,
    })?;
    Ok(FaultCtx {
        workflow_id: run.as_ref().map(|r| r.workflow_id.clone()),
        workflow_type: run.as_ref().map(|r| r.workflow_type.clone()),
        activity_types: run.and_then(|r| r.activities.get(&seq).map(|a| a.activity_type.clone())).into_iter().collect(),
        transitions: Vec::new(),
    })
}

pub async fn poll(engine: &Engine, dual: &Dual, kind: TaskKind, req: &PollRequest, deadline: tokio::time::Instant) -> Result<Option<Polled>> {
    let topic = task_topic(kind, &req.task_queue);
    let notify = engine.notifier().queue(kind, &req.task_queue);
    let mut shutdown = engine.shutdown_signal();
    // Listed as a poller while this poll is open; a client that goes away drops the future
    // and with it the guard.
    let _present = engine.poller_present(&req.task_queue, kind.as_str(), &req.worker);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        while let Some(msg) = dual.queue.reserve(&topic, engine.now(), dual.options.lease_ms)? {
            if let Some(p) = deliver(engine, dual, msg, &req.worker).await? {
                return Ok(Some(p));
            }
        }
        let tick = tokio::time::Instant::now() + Duration::from_millis(TICK_MS);
        if tick >= deadline {
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                _ = shutdown.changed() => return Ok(None),
            }
        } else {
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(tick) => {}
                _ = shutdown.changed() => return Ok(None),
            }
        }
    }
}

/// One delivered task message: start the task in the state and hand it out, or drop it.
async fn deliver(engine: &Engine, dual: &Dual, msg: Message, worker: &str) -> Result<Option<Polled>> {
    let Ok(Work::Task { run_id, kind, seq, created_event_id, .. }) = serde_json::from_str::<Work>(&msg.body) else {
        tracing::warn!(message = msg.id, "dropped a queue message that is not a task");
        dual.queue.ack(msg.id, engine.now())?;
        return Ok(None);
    };
    let ctx = record(engine, dual, &msg, &run_id, kind.as_str(), seq, created_event_id).await?;
    if dual.options.ack == AckMode::Early {
        dual.queue.ack(msg.id, engine.now())?;
        engine.faults().hit(FaultPoint::AfterAckBeforeComplete, &ctx).await?;
    }
    let start = Request::StartTask { run_id: run_id.clone(), kind, seq, worker: worker.to_string() };
    match dual.exec(engine, start).await? {
        Response::Polled(Some(p)) => {
            let (token, body) = match &p.output {
                Output::ActivityTask(t) => (t.task_token.clone(), serde_json::to_string(t)?),
                Output::WorkflowTask { token, .. } => (token.clone(), String::new()),
                _ => return Ok(Some(p)),
            };
            dual.queue.handed_out(msg.id, &token, &body)?;
            Ok(Some(p))
        }
        _ => {
            // The state did not start it: the run moved on, or it was started already and this
            // is a redelivery. The honest default hands an activity out again, as it was.
            if let (TaskKind::Activity, Some(body)) = (kind, msg.handed_out.as_deref().filter(|b| !b.is_empty())) {
                let task: ActivityTask = serde_json::from_str(body)?;
                tracing::info!(message = msg.id, delivery = msg.deliveries, %run_id, seq, "redelivered an activity task");
                return Ok(Some(Polled {
                    run_id,
                    workflow_id: task.workflow_id.clone(),
                    workflow_type: ctx.workflow_type.unwrap_or_default(),
                    output: Output::ActivityTask(Box::new(task)),
                    history_json: None,
                }));
            }
            dual.queue.ack(msg.id, engine.now())?;
            Ok(None)
        }
    }
}

/// The twin's timer service: fires due timer messages, then acks them (late) or on receipt.
pub fn spawn_timers(engine: Engine, dual: Arc<Dual>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut shutdown = engine.shutdown_signal();
        loop {
            if *shutdown.borrow() {
                return;
            }
            loop {
                match dual.queue.reserve(TIMER_TOPIC, engine.now(), dual.options.lease_ms) {
                    Ok(Some(msg)) => {
                        if let Err(e) = fire(&engine, &dual, msg).await {
                            tracing::warn!(error = %e, "firing a queued timer failed; it comes back after its lease");
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the timer queue failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(TICK_MS)) => {}
                _ = shutdown.changed() => return,
            }
        }
    })
}

async fn fire(engine: &Engine, dual: &Dual, msg: Message) -> Result<()> {
    let Ok(Work::Timer { owner, kind, created_event_id, .. }) = serde_json::from_str::<Work>(&msg.body) else {
        dual.queue.ack(msg.id, engine.now())?;
        return Err(EngineError::Store(format!("queue message {} is not a timer; dropped", msg.id)));
    };
    let ctx = record(engine, dual, &msg, &owner, "timer", 0, created_event_id).await?;
    if dual.options.ack == AckMode::Early {
        dual.queue.ack(msg.id, engine.now())?;
        engine.faults().hit(FaultPoint::AfterAckBeforeComplete, &ctx).await?;
    }
    dual.exec(engine, Request::FireTimer { owner, kind }).await?;
    if dual.options.ack == AckMode::Late {
        engine.faults().hit(FaultPoint::AfterCompleteBeforeAck, &ctx).await?;
        dual.queue.ack(msg.id, engine.now())?;
    }
    Ok(())
}
