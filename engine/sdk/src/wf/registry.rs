//! [`WorkflowRegistry`]: workflow types by name, type-erased to JSON in and out.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use faultline_proto::Payload;
use futures::future::{FutureExt, LocalBoxFuture};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::context::WfContext;
use crate::error::WorkflowError;

pub(crate) type WorkflowFuture = LocalBoxFuture<'static, Result<Payload, WorkflowError>>;
type WorkflowFn = Arc<dyn Fn(WfContext, Payload) -> WorkflowFuture + Send + Sync>;

/// Workflow functions by workflow type. A [`crate::Worker`] owns one; tests use one directly
/// with [`crate::replay`].
#[derive(Default, Clone)]
pub struct WorkflowRegistry {
    fns: HashMap<String, WorkflowFn>,
}

impl WorkflowRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f` (`async fn(WfContext, In) -> Result<Out, WorkflowError>`) under
    /// `workflow_type`. A start input that does not decode into `In` fails the workflow with
    /// error type `BadInput`.
    pub fn register<In, Out, F, Fut>(&mut self, workflow_type: &str, f: F)
    where
        In: DeserializeOwned + 'static,
        Out: Serialize + 'static,
        F: Fn(WfContext, In) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Out, WorkflowError>> + 'static,
    {
        let name = workflow_type.to_string();
        let erased = move |ctx: WfContext, input: Payload| -> WorkflowFuture {
            match serde_json::from_value::<In>(input) {
                Ok(input) => {
                    let fut = f(ctx, input);
                    async move {
                        let out = fut.await?;
                        serde_json::to_value(out).map_err(|e| {
                            WorkflowError::application("BadOutput", format!("workflow result did not serialize: {e}"))
                        })
                    }
                    .boxed_local()
                }
                Err(e) => {
                    let msg = format!("input of workflow '{name}' did not decode: {e}; start it with a matching input");
                    async move { Err(WorkflowError::application("BadInput", msg)) }.boxed_local()
                }
            }
        };
        self.fns.insert(workflow_type.to_string(), Arc::new(erased));
    }

    pub(crate) fn get(&self, workflow_type: &str) -> Option<WorkflowFn> {
        self.fns.get(workflow_type).cloned()
    }

    /// Registered workflow types, sorted.
    pub fn types(&self) -> Vec<String> {
        let mut v: Vec<String> = self.fns.keys().cloned().collect();
        v.sort();
        v
    }
}
