//! Activity side of the SDK: [`ActContext`] (what activity code can see and do) and the
//! registry of activity functions, erased to JSON in and out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use faultline_proto::{ActivityTask, HeartbeatRequest, Payload};
use futures::future::{BoxFuture, FutureExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::client::Client;
use crate::error::{ActivityError, ClientError};

/// What activity code sees of its task. Cheap to clone; `Send`.
#[derive(Clone)]
pub struct ActContext {
    task: Arc<ActivityTask>,
    client: Client,
    cancelled: Arc<AtomicBool>,
}

impl ActContext {
    pub(crate) fn new(task: ActivityTask, client: Client) -> Self {
        Self { task: Arc::new(task), client, cancelled: Arc::new(AtomicBool::new(false)) }
    }

    /// The attempt number, from 1.
    pub fn attempt(&self) -> u32 {
        self.task.attempt
    }

    /// `<run_id>:<seq>`: the same for every attempt of this activity. Pass it to the services
    /// the activity calls so that a retried call has its effect once.
    pub fn idempotency_key(&self) -> &str {
        &self.task.idempotency_key
    }

    pub fn workflow_id(&self) -> &str {
        &self.task.workflow_id
    }

    pub fn run_id(&self) -> &str {
        &self.task.run_id
    }

    pub fn activity_type(&self) -> &str {
        &self.task.activity_type
    }

    /// The `seq` of the command that scheduled this activity.
    pub fn seq(&self) -> u64 {
        self.task.seq
    }

    /// The instant (ms since the epoch) by which this attempt must report, if limited.
    pub fn deadline_ms(&self) -> Option<i64> {
        self.task.deadline_ms
    }

    /// Records progress (`details` are handed to the next attempt if this one fails). Returns
    /// true when the activity should stop: cancellation was requested, or the engine no longer
    /// accepts this attempt (it timed out). A network error is logged and returns false.
    pub async fn heartbeat<D: Serialize + ?Sized>(&self, details: &D) -> bool {
        let req = HeartbeatRequest {
            task_token: self.task.task_token.clone(),
            details: serde_json::to_value(details).ok(),
        };
        match self.client.heartbeat(&req).await {
            Ok(r) => {
                if r.cancel_requested {
                    self.cancelled.store(true, Ordering::SeqCst);
                }
                r.cancel_requested
            }
            Err(ClientError::Api { status, code, message }) if status == 404 || status == 409 || status == 410 => {
                tracing::info!(%code, %message, "heartbeat rejected: this attempt is no longer current");
                self.cancelled.store(true, Ordering::SeqCst);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "heartbeat failed");
                false
            }
        }
    }

    /// True once a heartbeat reported that the activity should stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Details of the last heartbeat of a previous attempt (to resume from), if any and if
    /// they decode as `D`.
    pub fn heartbeat_details<D: DeserializeOwned>(&self) -> Option<D> {
        self.task.heartbeat_details.clone().and_then(|d| serde_json::from_value(d).ok())
    }
}

pub(crate) type ActivityFn = Arc<dyn Fn(ActContext, Payload) -> BoxFuture<'static, Result<Payload, ActivityError>> + Send + Sync>;

/// Activity functions by activity type.
#[derive(Default, Clone)]
pub(crate) struct ActivityRegistry {
    fns: HashMap<String, ActivityFn>,
}

impl ActivityRegistry {
    pub fn register<In, Out, F, Fut>(&mut self, activity_type: &str, f: F)
    where
        In: DeserializeOwned + Send + 'static,
        Out: Serialize + 'static,
        F: Fn(ActContext, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, ActivityError>> + Send + 'static,
    {
        let name = activity_type.to_string();
        let erased = move |ctx: ActContext, input: Payload| -> BoxFuture<'static, Result<Payload, ActivityError>> {
            match serde_json::from_value::<In>(input) {
                Ok(input) => {
                    let fut = f(ctx, input);
                    async move {
                        let out = fut.await?;
                        serde_json::to_value(out).map_err(|e| {
                            ActivityError::non_retryable("BadOutput", format!("activity result did not serialize: {e}"))
                        })
                    }
                    .boxed()
                }
                Err(e) => {
                    let msg = format!("input of activity '{name}' did not decode: {e}");
                    async move { Err(ActivityError::non_retryable("BadInput", msg)) }.boxed()
                }
            }
        };
        self.fns.insert(activity_type.to_string(), Arc::new(erased));
    }

    pub fn get(&self, activity_type: &str) -> Option<ActivityFn> {
        self.fns.get(activity_type).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.fns.is_empty()
    }
}
