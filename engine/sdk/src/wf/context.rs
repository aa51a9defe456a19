//! [`WfContext`]: what workflow code may do. Every method is deterministic: it either reads the
//! run state rebuilt from history, or appends a command with the next `seq`.
//!
//! Commands are issued when a method is *called*, not when its future is first polled, so the
//! `seq` order is the call order and does not depend on how combinators poll.

use std::cell::RefCell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use faultline_proto::{ActivityOptions, Command, Failure, ParentClosePolicy, Payload, WorkflowOptions};
use futures::future::{Either, FutureExt};
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::state::{Outcome, RunState};
use crate::error::{CallError, WorkflowError};

/// Options of a child workflow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildOptions {
    /// `None`: the engine derives `<parent id>/<seq>`.
    pub workflow_id: Option<String>,
    /// `None`: the parent's task queue.
    pub task_queue: Option<String>,
    pub options: WorkflowOptions,
    pub parent_close_policy: ParentClosePolicy,
}

/// The handle workflow code uses to talk to the engine. Cheap to clone; not `Send` (workflow
/// code runs on the SDK's single-threaded replay executor, never on tokio).
#[derive(Clone)]
pub struct WfContext {
    pub(crate) state: Rc<RefCell<RunState>>,
}

impl WfContext {
    pub fn workflow_id(&self) -> String {
        self.state.borrow().info.workflow_id.clone()
    }
    pub fn run_id(&self) -> String {
        self.state.borrow().info.run_id.clone()
    }
    pub fn workflow_type(&self) -> String {
        self.state.borrow().info.workflow_type.clone()
    }
    pub fn task_queue(&self) -> String {
        self.state.borrow().info.task_queue.clone()
    }

    /// The time of the current workflow task (its `workflow_task_started` event): the same on
    /// every replay.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms().max(0) as u64)
    }

    /// [`Self::now`] in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.state.borrow().now_ms
    }

    /// A random number, seeded from the run's `random_seed`: the same sequence on every replay.
    pub fn random(&self) -> u64 {
        self.state.borrow_mut().rng.next_u64()
    }

    /// Schedules an activity and resolves with its result once it completed, or with
    /// [`CallError::Activity`] once it failed for good (retries are the engine's business).
    /// The returned handle can also [`ActivityHandle::cancel`] the activity.
    pub fn activity<T: DeserializeOwned, I: Serialize + ?Sized>(
        &self,
        activity_type: &str,
        input: &I,
        options: ActivityOptions,
    ) -> ActivityHandle<T> {
        let issued = encode(input).map(|input| {
            self.issue(|seq| Command::ScheduleActivity {
                seq,
                activity_type: activity_type.to_string(),
                input,
                options,
            })
        });
        ActivityHandle {
            issued: issued.map(|seq| self.wait(seq)),
            activity_type: activity_type.to_string(),
            _out: PhantomData,
        }
    }

    /// A durable timer: survives worker and engine restarts.
    pub fn sleep(&self, duration: Duration) -> TimerHandle {
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let seq = self.issue(|seq| Command::StartTimer { seq, duration_ms });
        TimerHandle { wait: self.wait(seq) }
    }

    /// Starts a child workflow and resolves with its result once it completed.
    pub fn child_workflow<T: DeserializeOwned, I: Serialize + ?Sized>(
        &self,
        workflow_type: &str,
        input: &I,
        options: ChildOptions,
    ) -> impl Future<Output = Result<T, CallError>> + 'static {
        let workflow_type = workflow_type.to_string();
        let issued = encode(input).map(|input| {
            self.issue(|seq| Command::StartChildWorkflow {
                seq,
                workflow_type: workflow_type.clone(),
                workflow_id: options.workflow_id,
                task_queue: options.task_queue,
                input,
                options: options.options,
                parent_close_policy: options.parent_close_policy,
            })
        });
        let wait = issued.map(|seq| (seq, self.wait(seq)));
        async move {
            let (seq, wait) = wait?;
            match wait.await {
                Outcome::Ok(v) => decode(v),
                Outcome::Failed(failure) => Err(CallError::Child { seq, workflow_type, failure }),
                Outcome::Cancelled => Err(CallError::Cancelled { seq }),
            }
        }
    }

    /// Sends a signal to another workflow.
    pub fn signal_external<P: Serialize + ?Sized>(
        &self,
        workflow_id: &str,
        name: &str,
        payload: &P,
    ) -> impl Future<Output = Result<(), CallError>> + 'static {
        let workflow_id = workflow_id.to_string();
        let issued = encode(payload).map(|payload| {
            self.issue(|seq| Command::SignalExternalWorkflow {
                seq,
                workflow_id: workflow_id.clone(),
                name: name.to_string(),
                payload,
            })
        });
        let wait = issued.map(|seq| (seq, self.wait(seq)));
        async move {
            let (seq, wait) = wait?;
            match wait.await {
                Outcome::Ok(_) => Ok(()),
                Outcome::Failed(f) => Err(CallError::ExternalSignal { seq, workflow_id, reason: f.message }),
                Outcome::Cancelled => Err(CallError::Cancelled { seq }),
            }
        }
    }

    /// The channel of signals named `name`. Signals are buffered in arrival order from the
    /// start of the run, so none is lost even if it arrives before the workflow listens.
    pub fn signal(&self, name: &str) -> SignalChannel {
        SignalChannel { state: self.state.clone(), name: name.to_string() }
    }

    /// True once cancellation of this run was requested.
    pub fn is_cancel_requested(&self) -> bool {
        self.state.borrow().cancel_requested
    }

    /// Resolves once cancellation of this run was requested. To accept it, return
    /// `Err(WorkflowError::Cancelled)` (after any clean-up).
    pub fn cancelled(&self) -> impl Future<Output = ()> + 'static {
        let state = self.state.clone();
        futures::future::poll_fn(move |cx| {
            let mut s = state.borrow_mut();
            if s.cancel_requested {
                Poll::Ready(())
            } else {
                s.park(cx.waker());
                Poll::Pending
            }
        })
    }

    /// Builds the error that closes this run and starts a new one with `input`:
    /// `return Err(ctx.continue_as_new(&next))`.
    pub fn continue_as_new<I: Serialize + ?Sized>(&self, input: &I) -> WorkflowError {
        match serde_json::to_value(input) {
            Ok(input) => WorkflowError::ContinueAsNew { input, workflow_type: None },
            Err(e) => WorkflowError::failed(format!("continue-as-new input did not serialize: {e}")),
        }
    }

    /// Races two futures deterministically: `a` is polled first, then `b`. Resolutions are
    /// applied from history in the same batches (one per workflow task) on every replay, so the
    /// winner is always the same. The loser is dropped (a timer keeps running in the engine and
    /// its firing is ignored). `futures::select_biased!` is deterministic for the same reason.
    pub async fn select2<A, B>(&self, a: A, b: B) -> Either<A::Output, B::Output>
    where
        A: Future,
        B: Future,
    {
        match futures::future::select(Box::pin(a), Box::pin(b)).await {
            Either::Left((x, _)) => Either::Left(x),
            Either::Right((y, _)) => Either::Right(y),
        }
    }

    fn issue(&self, make: impl FnOnce(u64) -> Command) -> u64 {
        let mut s = self.state.borrow_mut();
        let seq = s.next_seq();
        let command = make(seq);
        s.commands.push(command);
        seq
    }

    fn wait(&self, seq: u64) -> WaitOutcome {
        WaitOutcome { state: self.state.clone(), seq }
    }
}

/// A scheduled activity: a future of its result, and a way to cancel it.
pub struct ActivityHandle<T> {
    issued: Result<WaitOutcome, CallError>,
    activity_type: String,
    _out: PhantomData<fn() -> T>,
}

impl<T> ActivityHandle<T> {
    /// The activity's `seq` (None if its input did not serialize and nothing was scheduled).
    pub fn seq(&self) -> Option<u64> {
        self.issued.as_ref().ok().map(|w| w.seq)
    }

    /// Asks the engine to cancel the activity. Not started yet: it is canceled at once. Running:
    /// the activity learns it from its next heartbeat. The handle then resolves with
    /// [`CallError::Cancelled`] (or with the result, if the activity finished first).
    pub fn cancel(&self) {
        if let Ok(w) = &self.issued {
            let mut s = w.state.borrow_mut();
            if !s.outcomes.contains_key(&w.seq) {
                s.commands.push(Command::RequestCancelActivity { seq: w.seq });
            }
        }
    }
}

impl<T: DeserializeOwned> Future for ActivityHandle<T> {
    type Output = Result<T, CallError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let w = match &mut this.issued {
            Ok(w) => w,
            Err(e) => return Poll::Ready(Err(e.clone())),
        };
        let seq = w.seq;
        Pin::new(w).poll(cx).map(|o| match o {
            Outcome::Ok(v) => decode(v),
            Outcome::Failed(failure) => {
                Err(CallError::Activity { seq, activity_type: this.activity_type.clone(), failure })
            }
            Outcome::Cancelled => Err(CallError::Cancelled { seq }),
        })
    }
}

/// A durable timer: a future that resolves when it fires, and a way to cancel it.
pub struct TimerHandle {
    wait: WaitOutcome,
}

impl TimerHandle {
    pub fn seq(&self) -> u64 {
        self.wait.seq
    }

    /// Cancels the timer: the handle resolves with [`CallError::Cancelled`] at once (unless it
    /// already fired).
    pub fn cancel(&self) {
        let mut s = self.wait.state.borrow_mut();
        let seq = self.wait.seq;
        if !s.outcomes.contains_key(&seq) {
            s.commands.push(Command::CancelTimer { seq });
            s.outcomes.insert(seq, Outcome::Cancelled);
            s.wake_all();
        }
    }
}

impl Future for TimerHandle {
    type Output = Result<(), CallError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let seq = self.wait.seq;
        Pin::new(&mut self.wait).poll(cx).map(|o| match o {
            Outcome::Ok(_) => Ok(()),
            Outcome::Failed(_) | Outcome::Cancelled => Err(CallError::Cancelled { seq }),
        })
    }
}

/// Resolves with the recorded outcome of command `seq`.
struct WaitOutcome {
    state: Rc<RefCell<RunState>>,
    seq: u64,
}

impl Future for WaitOutcome {
    type Output = Outcome;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut s = self.state.borrow_mut();
        match s.outcomes.remove(&self.seq) {
            Some(o) => Poll::Ready(o),
            None => {
                s.park(cx.waker());
                Poll::Pending
            }
        }
    }
}

/// Signals of one name, in arrival order.
pub struct SignalChannel {
    state: Rc<RefCell<RunState>>,
    name: String,
}

impl SignalChannel {
    /// Waits for the next signal of this name.
    pub fn recv<T: DeserializeOwned>(&self) -> impl Future<Output = Result<T, CallError>> + 'static {
        let state = self.state.clone();
        let name = self.name.clone();
        futures::future::poll_fn(move |cx| {
            let mut s = state.borrow_mut();
            match s.signals.get_mut(&name).and_then(|q| q.pop_front()) {
                Some(p) => Poll::Ready(decode(p)),
                None => {
                    s.park(cx.waker());
                    Poll::Pending
                }
            }
        })
        .fuse()
    }

    /// The next buffered signal of this name, if one arrived.
    pub fn try_recv<T: DeserializeOwned>(&self) -> Option<Result<T, CallError>> {
        let mut s = self.state.borrow_mut();
        s.signals.get_mut(&self.name).and_then(|q| q.pop_front()).map(decode)
    }
}

fn encode<I: Serialize + ?Sized>(input: &I) -> Result<Payload, CallError> {
    serde_json::to_value(input).map_err(|e| CallError::Decode(format!("input did not serialize: {e}")))
}

fn decode<T: DeserializeOwned>(v: Payload) -> Result<T, CallError> {
    serde_json::from_value(v).map_err(|e| CallError::Decode(e.to_string()))
}

/// Failure recorded when a timeout ends an activity or child.
pub(crate) fn timeout_failure(what: &str) -> Failure {
    Failure {
        message: format!("{what} timed out"),
        error_type: Some(crate::error::TIMEOUT_ERROR_TYPE.into()),
        ..Failure::default()
    }
}
