//! Faultline SDK: a typed client of the engine and a worker that runs workflows written as
//! plain async Rust, with deterministic replay.
//!
//! Layout:
//! - [`client`]: [`Client`], the engine's HTTP API (start, signal, cancel, describe, result...).
//! - [`stream`]: [`Client::subscribe`], the live event stream that resumes on its own.
//! - [`worker`]: [`Worker`], polls tasks and runs them.
//! - [`wf`]: workflow side: [`WfContext`], the registry and the replayer.
//! - [`activity`]: activity side: [`ActContext`].
//! - [`error`]: all error types.
//!
//! Workflow code must be deterministic: it talks to the world only through its context
//! (activities, timers, children, signals, `now`, `random`). On every workflow task the worker
//! reruns it from the start against the run's history, so a worker can be killed at any time.
//! Code that no longer matches a history fails the workflow task with a nondeterminism error
//! naming the event and the command; the workflow itself keeps running until fixed code replays
//! it. Races (`ctx.select2`, `futures::select_biased!`) are deterministic because resolutions
//! are applied in the batches the history recorded. Activities and timers return handles that
//! can be cancelled.
//!
//! A complete small workflow with an activity, a durable timer and a signal:
//!
//! ```no_run
//! use std::time::Duration;
//! use faultline_sdk::{
//!     proto::ActivityOptions, ActContext, ActivityError, Client, Either, StartOptions, WfContext,
//!     Worker, WorkerOptions, WorkflowError,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Order { id: String, amount_cents: u64 }
//!
//! async fn charge(ctx: ActContext, order: Order) -> Result<String, ActivityError> {
//!     // Pass ctx.idempotency_key() to the payment service so a retry charges once.
//!     Ok(format!("charged {} for {} ({})", order.amount_cents, order.id, ctx.idempotency_key()))
//! }
//!
//! async fn order_workflow(ctx: WfContext, order: Order) -> Result<String, WorkflowError> {
//!     // Wait for approval for at most one hour (a durable timer).
//!     let approval = ctx.signal("approve").recv::<bool>();
//!     let timeout = ctx.sleep(Duration::from_secs(3600));
//!     let approved = match ctx.select2(approval, timeout).await {
//!         Either::Left(approved) => approved?,
//!         Either::Right(_timer_fired) => false,
//!     };
//!     if !approved {
//!         return Err(WorkflowError::application("NotApproved", "order was not approved in time"));
//!     }
//!     let receipt: String = ctx.activity("charge", &order, ActivityOptions::default()).await?;
//!     Ok(receipt)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = Client::new("http://127.0.0.1:7233")?;
//!     let mut worker = Worker::new(client.clone(), WorkerOptions::new("orders"));
//!     worker.register_workflow("Order", order_workflow).register_activity("charge", charge);
//!     let running = tokio::spawn(worker.run(async { let _ = tokio::signal::ctrl_c().await; }));
//!
//!     let order = Order { id: "o-1".into(), amount_cents: 4200 };
//!     client.start_workflow(StartOptions::new("order-o-1", "orders"), "Order", &order).await?;
//!     client.signal("order-o-1", "approve", &true).await?;
//!     let receipt: String = client.result("order-o-1", Duration::from_secs(60)).await?;
//!     println!("{receipt}");
//!     running.await??;
//!     Ok(())
//! }
//! ```

pub mod activity;
pub mod client;
pub mod error;
pub mod pod;
pub mod stream;
pub mod wf;
pub mod worker;

pub use faultline_proto as proto;
pub use futures::future::Either;

pub use activity::ActContext;
pub use client::{Client, StartOptions};
pub use error::{ActivityError, CallError, ClientError, WorkerError, WorkflowError};
pub use stream::StreamItem;
pub use wf::{replay, ActivityHandle, ChildOptions, TimerHandle, ReplayError, SignalChannel, WfContext, WorkflowRegistry};
pub use worker::{Worker, WorkerOptions};
