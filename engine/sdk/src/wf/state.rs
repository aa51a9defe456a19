//! The per-run state shared by a [`crate::WfContext`] and the replayer.
//!
//! The replayer writes resolutions (from history) into it between activations; the workflow
//! code reads them through the context's futures and appends commands. Nothing here survives a
//! workflow task: every task rebuilds it from the history.

use std::collections::{HashMap, VecDeque};
use std::task::Waker;

use faultline_proto::{Command, Failure, Payload};
use rand_chacha::ChaCha8Rng;

/// How a command with a `seq` ended, as recorded in history.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Ok(Payload),
    Failed(Failure),
    Cancelled,
}

/// Identity of the run, from its `workflow_started` event.
#[derive(Debug, Clone)]
pub(crate) struct RunInfo {
    pub workflow_id: String,
    pub run_id: String,
    pub workflow_type: String,
    pub task_queue: String,
}

pub(crate) struct RunState {
    pub info: RunInfo,
    /// Timestamp of the current activation's `workflow_task_started`.
    pub now_ms: i64,
    pub rng: ChaCha8Rng,
    /// The last seq handed out; the next command gets `last_seq + 1`.
    pub last_seq: u64,
    /// Commands produced by the current activation, in order.
    pub commands: Vec<Command>,
    pub outcomes: HashMap<u64, Outcome>,
    pub signals: HashMap<String, VecDeque<Payload>>,
    pub cancel_requested: bool,
    /// Wakers of pending leaf futures; woken after every batch of resolutions.
    pub wakers: Vec<Waker>,
}

impl RunState {
    pub fn new(info: RunInfo, rng: ChaCha8Rng) -> Self {
        Self {
            info,
            now_ms: 0,
            rng,
            last_seq: 0,
            commands: Vec::new(),
            outcomes: HashMap::new(),
            signals: HashMap::new(),
            cancel_requested: false,
            wakers: Vec::new(),
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.last_seq += 1;
        self.last_seq
    }

    pub fn park(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    pub fn wake_all(&mut self) {
        for w in self.wakers.drain(..) {
            w.wake();
        }
    }
}
