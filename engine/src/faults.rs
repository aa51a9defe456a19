//! Named fault points at the commit boundaries, fired deterministically (issue 13).
//!
//! A fault is a point, an action, a match and a count ([`FaultSpec`]). The vocabulary follows
//! the tikv `fail` crate (return an error, sleep, pause, `N*action`), but a `hold` waits on a
//! [`tokio::sync::Notify`] instead of a condvar, so it never blocks a runtime thread; it ends
//! when the fault is released (`POST /api/v1/admin/faults/{id}/release`) or disarmed.
//! A `crash` is `std::process::abort()` right at the point: nothing is flushed, like SIGKILL.
//! Every firing is logged and kept ([`Faults::fired`]) for the dashboard's timeline.
//!
//! With nothing armed, [`Faults::hit`] is one relaxed atomic load: the transactional hot path
//! pays nothing for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_proto::EpochMillis;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::error::{EngineError, Result};

/// Where a fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPoint {
    /// Dual-write: the state transaction is written but not committed.
    BeforeStateCommit,
    /// Dual-write (after-commit order): the state committed, its tasks and timers not enqueued.
    AfterStateCommit,
    /// Dual-write (enqueue-first order): the tasks are in the queue, the state not committed.
    AfterEnqueueBeforeCommit,
    /// Dual-write, late ack: the completion committed, its queue message not acked.
    AfterCompleteBeforeAck,
    /// Dual-write, early ack: the message is acked on receipt, the task not yet handed out.
    AfterAckBeforeComplete,
    /// Transactional: before the request reaches the writer (nothing committed).
    BeforeCommit,
    /// Transactional: committed (and durable), not yet answered.
    AfterCommitBeforeReply,
}

impl FaultPoint {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultPoint::BeforeStateCommit => "before_state_commit",
            FaultPoint::AfterStateCommit => "after_state_commit",
            FaultPoint::AfterEnqueueBeforeCommit => "after_enqueue_before_commit",
            FaultPoint::AfterCompleteBeforeAck => "after_complete_before_ack",
            FaultPoint::AfterAckBeforeComplete => "after_ack_before_complete",
            FaultPoint::BeforeCommit => "before_commit",
            FaultPoint::AfterCommitBeforeReply => "after_commit_before_reply",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultAction {
    /// `abort()` on the spot: nothing flushed, nothing answered.
    Crash,
    /// The request fails with 500 `store_error` (what was committed before the point stays).
    Error,
    /// Sleeps `delay_ms`, then goes on.
    Delay,
    /// Waits until released through the admin API (or disarmed).
    Hold,
}

/// What a request's transition does, for a match finer than the activity type (a workflow
/// task's completion both schedules an activity and, later, the activity's own report names
/// the same type; timers have no type at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTransition {
    /// A workflow task's completion that schedules an activity.
    ScheduleActivity,
    /// A workflow task's completion that starts a durable (user) timer.
    StartTimer,
    /// A worker's report that completes an activity attempt.
    CompleteActivity,
}

impl FaultTransition {
    pub const ALL: [FaultTransition; 3] =
        [FaultTransition::ScheduleActivity, FaultTransition::StartTimer, FaultTransition::CompleteActivity];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultTransition::ScheduleActivity => "schedule_activity",
            FaultTransition::StartTimer => "start_timer",
            FaultTransition::CompleteActivity => "complete_activity",
        }
    }
}

/// What to arm. Match fields left out match anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub point: FaultPoint,
    pub action: FaultAction,
    /// For `delay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id_prefix: Option<String>,
    /// Matches a request that schedules, starts, completes or fails an activity of this type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<String>,
    /// Matches a request whose transition does this (see [`FaultTransition`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<FaultTransition>,
    /// Fire from the n-th matching hit on (1-based; default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// How many times it fires (default 1; 0 = every matching hit until disarmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// An armed fault as listed by `GET /api/v1/admin/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmedFault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub armed_at_ms: EpochMillis,
    /// Matching hits so far.
    pub hits: u64,
    pub fired: u64,
    /// Requests waiting in a `hold` of this fault right now.
    pub holding: u64,
}

/// One firing, as listed by `GET /api/v1/admin/faults/fired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FiredFault {
    pub fault_id: u64,
    pub point: FaultPoint,
    pub action: FaultAction,
    pub at_ms: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub activity_types: Vec<String>,
}

/// What a point knows about the request passing through it.
#[derive(Debug, Clone, Default)]
pub struct FaultCtx {
    pub workflow_id: Option<String>,
    pub workflow_type: Option<String>,
    pub activity_types: Vec<String>,
    /// What the request's transition does (from the request itself, on both modes).
    pub transitions: Vec<FaultTransition>,
}

impl FaultSpec {
    fn matches(&self, point: FaultPoint, ctx: &FaultCtx) -> bool {
        point == self.point
            && self.workflow_type.as_ref().is_none_or(|t| ctx.workflow_type.as_ref() == Some(t))
            && self.workflow_id_prefix.as_ref().is_none_or(|p| ctx.workflow_id.as_ref().is_some_and(|id| id.starts_with(p)))
            && self.activity_type.as_ref().is_none_or(|a| ctx.activity_types.contains(a))
            && self.transition.is_none_or(|t| ctx.transitions.contains(&t))
    }

    pub fn validate(&self) -> Result<()> {
        if self.action == FaultAction::Delay && self.delay_ms.is_none() {
            return Err(EngineError::BadRequest("a delay fault needs \"delay_ms\"".into()));
        }
        if self.delay_ms.is_some_and(|d| d > 600_000) {
            return Err(EngineError::BadRequest("delay_ms is at most 600000".into()));
        }
        Ok(())
    }
}

struct Entry {
    fault: ArmedFault,
    released: bool,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct State {
    armed: Vec<Entry>,
    fired: Vec<FiredFault>,
    next_id: u64,
}

/// The registry of armed faults (one per engine).
pub struct Faults {
    any: AtomicBool,
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
}

/// Most firings kept for `GET /api/v1/admin/faults/fired`.
const MAX_FIRED: usize = 10_000;

impl Faults {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { any: AtomicBool::new(false), state: Mutex::new(State::default()), clock }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn arm(&self, spec: FaultSpec) -> Result<ArmedFault> {
        spec.validate()?;
        let mut s = self.lock();
        s.next_id += 1;
        let fault =
            ArmedFault { id: s.next_id, spec, armed_at_ms: self.clock.now_ms(), hits: 0, fired: 0, holding: 0 };
        s.armed.push(Entry { fault: fault.clone(), released: false, notify: Arc::new(Notify::new()) });
        self.any.store(true, Ordering::SeqCst);
        tracing::info!(id = fault.id, point = fault.spec.point.as_str(), action = ?fault.spec.action, "fault armed");
        Ok(fault)
    }

    /// Parses a JSON array of [`FaultSpec`] (the `--faults` flag / `FAULTLINE_FAULTS`) and arms them.
    pub fn arm_json(&self, json: &str) -> Result<()> {
        let specs: Vec<FaultSpec> = serde_json::from_str(json)
            .map_err(|e| EngineError::Startup(format!("--faults is not a JSON array of faults: {e}; see engine/README.md")))?;
        for spec in specs {
            self.arm(spec).map_err(|e| EngineError::Startup(format!("--faults: {e}")))?;
        }
        Ok(())
    }

    /// Whether any fault is armed (one atomic load).
    pub fn any_armed(&self) -> bool {
        self.any.load(Ordering::Relaxed)
    }

    pub fn list(&self) -> Vec<ArmedFault> {
        self.lock().armed.iter().map(|e| e.fault.clone()).collect()
    }

    pub fn fired(&self) -> Vec<FiredFault> {
        self.lock().fired.clone()
    }

    /// Disarms a fault (its holds are released). False if unknown.
    pub fn disarm(&self, id: u64) -> bool {
        let mut s = self.lock();
        let Some(i) = s.armed.iter().position(|e| e.fault.id == id) else { return false };
        let e = s.armed.remove(i);
        e.notify.notify_waiters();
        self.any.store(!s.armed.is_empty(), Ordering::SeqCst);
        true
    }

    /// Releases the holds of a fault, current and later ones. The number released now, or
    /// `None` if the fault is unknown.
    pub fn release(&self, id: u64) -> Option<u64> {
        let mut s = self.lock();
        let e = s.armed.iter_mut().find(|e| e.fault.id == id)?;
        e.released = true;
        e.notify.notify_waiters();
        Some(e.fault.holding)
    }

    /// Passes a point: does what an armed, matching fault says (nothing when none is armed).
    pub async fn hit(&self, point: FaultPoint, ctx: &FaultCtx) -> Result<()> {
        if !self.any.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (id, spec, notify) = {
            let mut s = self.lock();
            let now = self.clock.now_ms();
            let Some(e) = s.armed.iter_mut().find(|e| {
                let f = &e.fault;
                f.spec.matches(point, ctx) && (f.spec.count == Some(0) || f.fired < f.spec.count.unwrap_or(1))
            }) else {
                return Ok(());
            };
            e.fault.hits += 1;
            if e.fault.hits < e.fault.spec.nth.unwrap_or(1) {
                return Ok(());
            }
            e.fault.fired += 1;
            let out = (e.fault.id, e.fault.spec.clone(), e.notify.clone());
            if s.fired.len() >= MAX_FIRED {
                s.fired.remove(0);
            }
            s.fired.push(FiredFault {
                fault_id: out.0,
                point,
                action: out.1.action,
                at_ms: now,
                workflow_id: ctx.workflow_id.clone(),
                workflow_type: ctx.workflow_type.clone(),
                activity_types: ctx.activity_types.clone(),
            });
            out
        };
        tracing::warn!(fault = id, point = point.as_str(), action = ?spec.action, workflow_id = ?ctx.workflow_id, "fault fired");
        match spec.action {
            FaultAction::Crash => {
                eprintln!("faultline-engine: fault {id} at {}: crash (abort)", point.as_str());
                std::process::abort();
            }
            FaultAction::Error => Err(EngineError::Store(format!(
                "fault {id} injected an error at {}; disarm it with DELETE /api/v1/admin/faults/{id}",
                point.as_str()
            ))),
            FaultAction::Delay => {
                tokio::time::sleep(Duration::from_millis(spec.delay_ms.unwrap_or(0))).await;
                Ok(())
            }
            FaultAction::Hold => {
                self.hold(id, notify).await;
                Ok(())
            }
        }
    }

    async fn hold(&self, id: u64, notify: Arc<Notify>) {
        self.set_holding(id, 1);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let go = {
                let s = self.lock();
                s.armed.iter().find(|e| e.fault.id == id).is_none_or(|e| e.released)
            };
            if go {
                break;
            }
            notified.await;
        }
        self.set_holding(id, -1);
    }

    fn set_holding(&self, id: u64, delta: i64) {
        let mut s = self.lock();
        if let Some(e) = s.armed.iter_mut().find(|e| e.fault.id == id) {
            e.fault.holding = (e.fault.holding as i64 + delta).max(0) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn spec(point: FaultPoint, action: FaultAction) -> FaultSpec {
        FaultSpec {
            point,
            action,
            delay_ms: None,
            workflow_type: None,
            workflow_id_prefix: None,
            activity_type: None,
            transition: None,
            nth: None,
            count: None,
        }
    }

    #[tokio::test]
    async fn match_nth_and_count() {
        let f = Faults::new(Arc::new(ManualClock::new(7)));
        let mut s = spec(FaultPoint::AfterStateCommit, FaultAction::Error);
        s.workflow_id_prefix = Some("order-".into());
        s.nth = Some(2);
        s.count = Some(2);
        let a = f.arm(s).unwrap();
        let order = FaultCtx { workflow_id: Some("order-1".into()), ..Default::default() };
        let other = FaultCtx { workflow_id: Some("x".into()), ..Default::default() };
        assert!(f.hit(FaultPoint::AfterStateCommit, &other).await.is_ok(), "no match");
        assert!(f.hit(FaultPoint::BeforeStateCommit, &order).await.is_ok(), "another point");
        assert!(f.hit(FaultPoint::AfterStateCommit, &order).await.is_ok(), "first hit: not yet");
        assert!(f.hit(FaultPoint::AfterStateCommit, &order).await.is_err(), "second hit fires");
        assert!(f.hit(FaultPoint::AfterStateCommit, &order).await.is_err(), "count 2");
        assert!(f.hit(FaultPoint::AfterStateCommit, &order).await.is_ok(), "spent");
        assert_eq!(f.fired().len(), 2);
        assert_eq!(f.fired()[0].at_ms, 7);
        assert!(f.disarm(a.id));
        assert!(!f.disarm(a.id));
    }

    #[tokio::test]
    async fn a_transition_narrows_the_match() {
        let f = Faults::new(Arc::new(ManualClock::new(0)));
        let mut s = spec(FaultPoint::AfterStateCommit, FaultAction::Error);
        s.transition = Some(FaultTransition::StartTimer);
        f.arm(s).unwrap();
        let schedules = FaultCtx { transitions: vec![FaultTransition::ScheduleActivity], ..Default::default() };
        let sleeps = FaultCtx { transitions: vec![FaultTransition::ScheduleActivity, FaultTransition::StartTimer], ..Default::default() };
        assert!(f.hit(FaultPoint::AfterStateCommit, &FaultCtx::default()).await.is_ok(), "a transition is required");
        assert!(f.hit(FaultPoint::AfterStateCommit, &schedules).await.is_ok(), "another transition");
        assert!(f.hit(FaultPoint::AfterStateCommit, &sleeps).await.is_err(), "one of its transitions starts a timer");
        let json: FaultSpec = serde_json::from_str(r#"{"point":"before_commit","action":"crash","transition":"complete_activity"}"#).unwrap();
        assert_eq!(json.transition, Some(FaultTransition::CompleteActivity));
        assert!(serde_json::from_str::<FaultSpec>(r#"{"point":"before_commit","action":"crash","transition":"fire"}"#).is_err());
    }

    #[tokio::test]
    async fn hold_waits_for_release_without_blocking_the_runtime() {
        let f = Arc::new(Faults::new(Arc::new(ManualClock::new(0))));
        let a = f.arm(spec(FaultPoint::BeforeCommit, FaultAction::Hold)).unwrap();
        let f2 = f.clone();
        let held = tokio::spawn(async move { f2.hit(FaultPoint::BeforeCommit, &FaultCtx::default()).await });
        while f.list()[0].holding == 0 {
            tokio::task::yield_now().await; // a current-thread runtime: the hold must yield
        }
        assert!(!held.is_finished());
        assert_eq!(f.release(a.id), Some(1));
        held.await.unwrap().unwrap();
        assert_eq!(f.list()[0].holding, 0);
    }
}
