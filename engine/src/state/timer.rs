//! Durable timer kinds. Every delayed thing is a timer row: user timers, activity retry
//! backoff, activity and workflow-task timeouts, run/execution timeouts and schedules. A timer
//! carries what it was armed for (attempt, task id), so a stale one fires as a no-op.

use faultline_proto::{EventKind, PendingActivityState, TimeoutKind};
use serde::{Deserialize, Serialize};

use super::{activity, wft, workflow, Builder, Transition};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum TimerKind {
    User { seq: u64 },
    ActivityRetry { seq: u64 },
    ActivityScheduleToStart { seq: u64, attempt: u32 },
    ActivityStartToClose { seq: u64, attempt: u32 },
    ActivityScheduleToClose { seq: u64 },
    ActivityHeartbeat { seq: u64, attempt: u32 },
    WorkflowTaskTimeout { id: u64 },
    WorkflowTaskRetry { id: u64 },
    RunTimeout,
    ExecutionTimeout,
    Schedule { schedule_id: String },
}

impl TimerKind {
    /// Unique per owner; re-arming a timer with the same key replaces it.
    pub fn key(&self) -> String {
        match self {
            TimerKind::User { seq } => format!("u{seq}"),
            TimerKind::ActivityRetry { seq } => format!("ar{seq}"),
            TimerKind::ActivityScheduleToStart { seq, .. } => format!("as{seq}"),
            TimerKind::ActivityStartToClose { seq, .. } => format!("ac{seq}"),
            TimerKind::ActivityScheduleToClose { seq } => format!("ax{seq}"),
            TimerKind::ActivityHeartbeat { seq, .. } => format!("ah{seq}"),
            TimerKind::WorkflowTaskTimeout { .. } => "wt".into(),
            TimerKind::WorkflowTaskRetry { .. } => "wr".into(),
            TimerKind::RunTimeout => "rt".into(),
            TimerKind::ExecutionTimeout => "et".into(),
            // Per schedule: with one key for all (as before schema version 2), a second
            // schedule's timer replaced the first's.
            TimerKind::Schedule { schedule_id } => format!("s:{schedule_id}"),
        }
    }
}

/// Fires a timer of a running run.
pub fn fire(mut b: Builder, kind: TimerKind) -> Transition {
    let now = b.now;
    let fired = match kind {
        TimerKind::User { seq } => {
            if b.state().timers.remove(&seq).is_some() {
                b.event(EventKind::TimerFired { seq });
                b.want_wft();
                true
            } else {
                false
            }
        }
        TimerKind::ActivityRetry { seq } => {
            let ok = matches!(b.state().activities.get(&seq), Some(a) if a.status == PendingActivityState::Backoff);
            if ok {
                activity::dispatch_attempt(&mut b, seq);
            }
            ok
        }
        TimerKind::ActivityScheduleToStart { seq, attempt } => {
            let ok = matches!(b.state().activities.get(&seq),
                Some(a) if a.status == PendingActivityState::Scheduled && a.attempt == attempt);
            if ok {
                activity::timed_out(&mut b, seq, TimeoutKind::ScheduleToStart);
            }
            ok
        }
        TimerKind::ActivityStartToClose { seq, attempt } | TimerKind::ActivityHeartbeat { seq, attempt } => {
            let ok = matches!(b.state().activities.get(&seq),
                Some(a) if a.status == PendingActivityState::Started && a.attempt == attempt);
            if ok {
                let why = if matches!(kind, TimerKind::ActivityHeartbeat { .. }) {
                    TimeoutKind::Heartbeat
                } else {
                    TimeoutKind::StartToClose
                };
                activity::timed_out(&mut b, seq, why);
            }
            ok
        }
        TimerKind::ActivityScheduleToClose { seq } => {
            let ok = b.state().activities.contains_key(&seq);
            if ok {
                activity::timed_out(&mut b, seq, TimeoutKind::ScheduleToClose);
            }
            ok
        }
        TimerKind::WorkflowTaskTimeout { id } => {
            let ok = matches!(&b.state().wft, Some(w) if w.id == id && w.started_at_ms.is_some());
            if ok {
                wft::timed_out(&mut b);
            }
            ok
        }
        TimerKind::WorkflowTaskRetry { id } => {
            let ok = matches!(&b.state().wft, Some(w) if w.id == id && w.backoff_until_ms.is_some());
            if ok {
                wft::schedule_now(&mut b);
            }
            ok
        }
        TimerKind::RunTimeout | TimerKind::ExecutionTimeout => {
            workflow::close(&mut b, EventKind::WorkflowTimedOut);
            true
        }
        TimerKind::Schedule { .. } => false,
    };
    if fired {
        b.finish()
    } else {
        Builder::noop(&b.t.state, now)
    }
}
