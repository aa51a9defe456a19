//! The timeline of one order: its workflow and every descendant, each with its activity
//! attempts, timers and signals placed on one time axis (Temporal's most requested view,
//! temporalio/ui#654).
//!
//! This is the pure half: [`timeline`] turns the projection's runs (their kept histories) into
//! [`Lane`]s of [`Bar`]s and [`Mark`]s in engine time, and [`Axis`] maps that time onto
//! columns. Drawing (glyphs, colours, labels) belongs to the dashboard's timeline panel.
//!
//! What a lane shows:
//! - a workflow: one bar from its start to its close (or to now), signals as marks on it;
//! - an activity: one bar per attempt, from its start to its outcome; the backoff between a
//!   failed attempt and the next one is left empty (a retry gap), and time spent waiting in
//!   the task queue for a worker is a [`Outcome::Queued`] bar;
//! - a timer: one bar from its start to its fire time (planned while pending);
//! - a child: its own lanes, nested one level deeper, where the parent started it.

use faultline_proto::{EventKind, WorkflowStatus};

use super::run::RunView;
use super::Projection;

/// How a bar ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    TimedOut,
    /// Still going at `now`.
    Running,
    Canceled,
    /// Scheduled and waiting in the task queue for a worker to take it.
    Queued,
}

/// One span of time on a lane: an attempt, a timer, a workflow's life.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub start_ms: i64,
    pub end_ms: i64,
    pub outcome: Outcome,
    /// The activity attempt (1-based); 0 for timers, workflows and queue waits.
    pub attempt: u32,
    /// Why an attempt failed or timed out.
    pub failure: Option<String>,
}

/// A point in time on a lane (a signal received).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub at_ms: i64,
    pub name: String,
}

/// What a lane is about.
#[derive(Debug, Clone, PartialEq)]
pub enum LaneKind {
    Workflow { workflow_type: String, status: WorkflowStatus },
    Activity { seq: u64, activity_type: String },
    Timer { seq: u64, duration_ms: u64, fire_at_ms: i64, fired: bool },
}

/// One row of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// 0 for the order, 1 for its children, ...
    pub depth: usize,
    pub workflow_id: String,
    pub kind: LaneKind,
    pub bars: Vec<Bar>,
    pub marks: Vec<Mark>,
}

impl Lane {
    /// Attempts made (activity lanes).
    pub fn attempts(&self) -> usize {
        self.bars.iter().filter(|b| b.attempt > 0).count()
    }

    /// Attempts that failed or timed out.
    pub fn failures(&self) -> usize {
        self.bars.iter().filter(|b| b.attempt > 0 && matches!(b.outcome, Outcome::Failed | Outcome::TimedOut)).count()
    }
}

/// The lanes of one order and the time they span.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub root: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// When it was built: a pending timer's bar reaches past it, to its fire time.
    pub now_ms: i64,
    pub lanes: Vec<Lane>,
}

/// Deepest nesting followed: a runaway chain of children must not recurse without bound.
const MAX_DEPTH: usize = 8;

/// The timeline of the order `root` (a top-level workflow id) and its descendants at `now_ms`.
/// `None` when the projection does not know `root`.
pub fn timeline(p: &Projection, root: &str, now_ms: i64) -> Option<Timeline> {
    let run = p.get(root)?;
    let mut lanes = Vec::new();
    lanes_of(p, run, 0, now_ms, &mut lanes);
    let start_ms = lanes.iter().flat_map(|l| l.bars.iter().map(|b| b.start_ms)).min().unwrap_or(run.started_at_ms).min(run.started_at_ms);
    let end_ms = lanes
        .iter()
        .flat_map(|l| l.bars.iter().map(|b| b.end_ms).chain(l.marks.iter().map(|m| m.at_ms)))
        .max()
        .unwrap_or(start_ms);
    // A second at least, so a fresh order does not divide by zero.
    Some(Timeline { root: root.to_string(), start_ms, end_ms: end_ms.max(start_ms + 1000), now_ms, lanes })
}

/// An activity lane being built: the open attempt and when its task entered the queue.
struct Building {
    lane: Lane,
    open: Option<Bar>,
    queued_since: Option<i64>,
}

impl Building {
    fn lane_seq(&self) -> Option<u64> {
        match self.lane.kind {
            LaneKind::Activity { seq, .. } | LaneKind::Timer { seq, .. } => Some(seq),
            LaneKind::Workflow { .. } => None,
        }
    }

    fn close(&mut self, at: i64, outcome: Outcome, failure: Option<String>) {
        if let Some(mut b) = self.open.take() {
            b.end_ms = at;
            b.outcome = outcome;
            b.failure = failure;
            self.lane.bars.push(b);
        }
    }

    fn end_queue(&mut self, at: i64) {
        if let Some(since) = self.queued_since.take() {
            if at > since {
                self.lane.bars.push(Bar { start_ms: since, end_ms: at, outcome: Outcome::Queued, attempt: 0, failure: None });
            }
        }
    }
}

/// Appends the lanes of `run` (and, recursively, of its children) to `out`.
fn lanes_of(p: &Projection, run: &RunView, depth: usize, now_ms: i64, out: &mut Vec<Lane>) {
    let end_of_run = run.closed_at_ms.unwrap_or(now_ms.max(run.started_at_ms));
    let workflow_outcome = match run.status {
        _ if run.is_open() => Outcome::Running,
        WorkflowStatus::Completed | WorkflowStatus::ContinuedAsNew => Outcome::Ok,
        WorkflowStatus::TimedOut => Outcome::TimedOut,
        WorkflowStatus::Canceled => Outcome::Canceled,
        _ => Outcome::Failed,
    };
    out.push(Lane {
        depth,
        workflow_id: run.workflow_id.clone(),
        kind: LaneKind::Workflow { workflow_type: run.workflow_type.clone(), status: run.status },
        bars: vec![Bar { start_ms: run.started_at_ms, end_ms: end_of_run, outcome: workflow_outcome, attempt: 0, failure: run.failure.clone() }],
        marks: Vec::new(),
    });
    let me = out.len() - 1;
    // Lanes in the order their seq first appears; children are expanded in place.
    let mut building: Vec<Building> = Vec::new();
    let mut children: Vec<(usize, String)> = Vec::new();
    let find = |b: &[Building], seq: u64| b.iter().position(|x| x.lane_seq() == Some(seq));
    for ev in &run.events {
        let at = ev.timestamp_ms;
        use EventKind::*;
        match &ev.kind {
            WorkflowSignaled { name, .. } => out[me].marks.push(Mark { at_ms: at, name: name.clone() }),
            ActivityScheduled { seq, activity_type, .. } => building.push(Building {
                lane: Lane {
                    depth: depth + 1,
                    workflow_id: run.workflow_id.clone(),
                    kind: LaneKind::Activity { seq: *seq, activity_type: activity_type.clone() },
                    bars: Vec::new(),
                    marks: Vec::new(),
                },
                open: None,
                queued_since: Some(at),
            }),
            ActivityStarted { seq, attempt, .. } => {
                if let Some(i) = find(&building, *seq) {
                    let b = &mut building[i];
                    b.end_queue(at);
                    b.close(at, Outcome::Canceled, None);
                    b.open = Some(Bar { start_ms: at, end_ms: at, outcome: Outcome::Running, attempt: *attempt, failure: None });
                }
            }
            ActivityCompleted { seq, .. } => {
                if let Some(i) = find(&building, *seq) {
                    building[i].close(at, Outcome::Ok, None);
                }
            }
            ActivityFailed { seq, attempt, failure, next_retry_at_ms } => {
                if let Some(i) = find(&building, *seq) {
                    fail(&mut building[i], at, *attempt, Outcome::Failed, failure.message.clone(), *next_retry_at_ms);
                }
            }
            ActivityTimedOut { seq, attempt, timeout, next_retry_at_ms } => {
                if let Some(i) = find(&building, *seq) {
                    let why = super::run::timeout_text(*timeout);
                    fail(&mut building[i], at, *attempt, Outcome::TimedOut, why, *next_retry_at_ms);
                }
            }
            ActivityCanceled { seq } => {
                if let Some(i) = find(&building, *seq) {
                    building[i].queued_since = None;
                    building[i].close(at, Outcome::Canceled, None);
                }
            }
            TimerStarted { seq, duration_ms, fire_at_ms } => building.push(Building {
                lane: Lane {
                    depth: depth + 1,
                    workflow_id: run.workflow_id.clone(),
                    kind: LaneKind::Timer { seq: *seq, duration_ms: *duration_ms, fire_at_ms: *fire_at_ms, fired: false },
                    bars: Vec::new(),
                    marks: Vec::new(),
                },
                open: Some(Bar { start_ms: at, end_ms: *fire_at_ms, outcome: Outcome::Running, attempt: 0, failure: None }),
                queued_since: None,
            }),
            TimerFired { seq } => {
                if let Some(i) = find(&building, *seq) {
                    if let LaneKind::Timer { fired, .. } = &mut building[i].lane.kind {
                        *fired = true;
                    }
                    building[i].close(at, Outcome::Ok, None);
                }
            }
            TimerCanceled { seq } => {
                if let Some(i) = find(&building, *seq) {
                    building[i].close(at, Outcome::Canceled, None);
                }
            }
            ChildWorkflowInitiated { workflow_id, .. } => children.push((building.len(), workflow_id.clone())),
            _ => {}
        }
    }
    // Whatever is still open runs until now, or was cut short by the run's close.
    let mut children = children.into_iter().peekable();
    for (i, mut b) in building.into_iter().enumerate() {
        while let Some((_, id)) = children.next_if(|(at, _)| *at <= i) {
            child_lanes(p, run, &id, depth, now_ms, out);
        }
        if run.is_open() {
            b.end_queue(now_ms);
            if let Some(bar) = &mut b.open {
                // A pending timer keeps its planned fire time: the axis reaches it.
                if !matches!(b.lane.kind, LaneKind::Timer { .. }) {
                    bar.end_ms = now_ms.max(bar.start_ms);
                }
            }
            if let Some(bar) = b.open.take() {
                b.lane.bars.push(bar);
            }
        } else {
            b.end_queue(end_of_run);
            b.close(end_of_run, Outcome::Canceled, None);
        }
        out.push(b.lane);
    }
    for (_, id) in children {
        child_lanes(p, run, &id, depth, now_ms, out);
    }
}

fn fail(b: &mut Building, at: i64, attempt: u32, outcome: Outcome, why: String, next_retry_at_ms: Option<i64>) {
    if b.open.is_none() {
        // A timeout before any worker took the task (schedule-to-start): the wait was the
        // attempt.
        let since = b.queued_since.take().unwrap_or(at);
        b.open = Some(Bar { start_ms: since, end_ms: at, outcome: Outcome::Running, attempt, failure: None });
    }
    b.close(at, outcome, Some(why));
    // The retry's task enters the queue when the backoff ends; until then, a gap.
    b.queued_since = next_retry_at_ms;
}

/// The lanes of child `id` of `parent`, or a lane from the parent's own record of it when
/// the child's events were never seen.
fn child_lanes(p: &Projection, parent: &RunView, id: &str, depth: usize, now_ms: i64, out: &mut Vec<Lane>) {
    if depth + 1 >= MAX_DEPTH {
        return;
    }
    if let Some(child) = p.get(id) {
        lanes_of(p, child, depth + 1, now_ms, out);
        return;
    }
    let Some(row) = parent.children.iter().find(|c| c.workflow_id == id) else { return };
    let started = parent
        .events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ChildWorkflowInitiated { workflow_id, .. } if workflow_id == id))
        .map(|e| e.timestamp_ms)
        .unwrap_or(parent.started_at_ms);
    let (outcome, end) = match row.status {
        None => (Outcome::Running, now_ms.max(started)),
        Some(WorkflowStatus::Completed) => (Outcome::Ok, started),
        Some(WorkflowStatus::Canceled) => (Outcome::Canceled, started),
        Some(WorkflowStatus::TimedOut) => (Outcome::TimedOut, started),
        Some(_) => (Outcome::Failed, started),
    };
    out.push(Lane {
        depth: depth + 1,
        workflow_id: id.to_string(),
        kind: LaneKind::Workflow { workflow_type: row.workflow_type.clone(), status: row.status.unwrap_or(WorkflowStatus::Running) },
        bars: vec![Bar { start_ms: started, end_ms: end, outcome, attempt: 0, failure: None }],
        marks: Vec::new(),
    });
}

/// Engine time mapped onto `width` columns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Axis {
    pub start_ms: i64,
    pub end_ms: i64,
    pub width: u16,
}

impl Axis {
    pub fn new(start_ms: i64, end_ms: i64, width: u16) -> Axis {
        Axis { start_ms, end_ms: end_ms.max(start_ms + 1), width: width.max(1) }
    }

    /// The column of an instant (clamped to the axis).
    pub fn column(&self, at_ms: i64) -> u16 {
        let span = (self.end_ms - self.start_ms) as i128;
        let off = (at_ms.clamp(self.start_ms, self.end_ms) - self.start_ms) as i128;
        ((off * (self.width as i128 - 1) + span / 2) / span) as u16
    }

    /// The columns a bar covers, at least one, so a short attempt stays visible.
    pub fn columns(&self, start_ms: i64, end_ms: i64) -> std::ops::RangeInclusive<u16> {
        let (a, b) = (self.column(start_ms), self.column(end_ms.max(start_ms)));
        a..=b.max(a)
    }

    /// Tick marks at a round step (1s, 2s, 5s, 10s, ..., 1h) that leaves at least
    /// `min_gap` columns between labels: (column, milliseconds since the start).
    pub fn ticks(&self, min_gap: u16) -> Vec<(u16, i64)> {
        const STEPS: [i64; 16] =
            [100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000];
        let span = self.end_ms - self.start_ms;
        let cols = self.width.max(1) as i64;
        let step = STEPS.iter().copied().find(|s| s * cols >= span * min_gap as i64).unwrap_or(3_600_000 * ((span / 3_600_000).max(1)));
        (0..).map(|k| k * step).take_while(|off| *off <= span).map(|off| (self.column(self.start_ms + off), off)).collect()
    }
}

/// An order with a retried activity, a timed-out attempt, a signal, a timer and a child with
/// a pending timer, as the engine would stream it (built with the test kit).
#[cfg(test)]
pub(crate) mod fixture {
    use faultline_proto::{EventKind, StreamEvent, TimeoutKind};
    use faultline_testkit::history::*;

    pub const T0: i64 = 1_764_072_000_000;
    pub const ORDER: &str = "order-2301";
    pub const CHILD: &str = "order-2301/5";
    /// "Now": 20 s in; the child's timer fires at +26 s.
    pub const NOW: i64 = T0 + 20_000;

    pub fn order_stream() -> Vec<StreamEvent> {
        let mut s = Stream::new(T0);
        let mut out = Vec::new();
        let mut at = |s: &mut Stream, ms: i64, wf: &str, kind: EventKind| {
            s.now_ms = T0 + ms;
            out.push(s.ev(wf, kind));
        };
        at(&mut s, 0, ORDER, started(None));
        at(&mut s, 100, ORDER, scheduled(1, "reserve_inventory"));
        at(&mut s, 200, ORDER, attempt_started(1, 1));
        at(&mut s, 900, ORDER, activity_completed(1, 1));
        at(&mut s, 1_000, ORDER, scheduled(2, "charge_payment"));
        at(&mut s, 1_100, ORDER, attempt_started(2, 1));
        at(&mut s, 1_600, ORDER, failed(2, 1, "payment failed (500 AmountMismatch): the order says 27.45 EUR, charged 27.44", Some(T0 + 3_600)));
        at(&mut s, 3_700, ORDER, attempt_started(2, 2));
        at(&mut s, 4_200, ORDER, failed(2, 2, "payment failed (500 AmountMismatch): the order says 27.45 EUR, charged 27.44", Some(T0 + 6_200)));
        at(&mut s, 6_300, ORDER, attempt_started(2, 3));
        at(
            &mut s,
            8_300,
            ORDER,
            EventKind::ActivityTimedOut { seq: 2, attempt: 3, timeout: TimeoutKind::StartToClose, next_retry_at_ms: Some(T0 + 9_300) },
        );
        at(&mut s, 9_400, ORDER, attempt_started(2, 4));
        at(&mut s, 9_800, ORDER, activity_completed(2, 4));
        at(&mut s, 9_900, ORDER, timer_started(3, 2_000, T0 + 11_900));
        at(&mut s, 11_900, ORDER, EventKind::TimerFired { seq: 3 });
        at(&mut s, 12_500, ORDER, signaled("approve"));
        at(&mut s, 12_600, ORDER, scheduled(4, "ship"));
        at(&mut s, 12_700, ORDER, attempt_started(4, 1));
        at(&mut s, 13_000, ORDER, activity_completed(4, 1));
        at(&mut s, 13_100, ORDER, child_initiated(5, CHILD));
        let mut child_start = started(Some(ORDER));
        if let EventKind::WorkflowStarted { workflow_type, .. } = &mut child_start {
            *workflow_type = "Shipment".into();
        }
        at(&mut s, 13_200, CHILD, child_start);
        at(&mut s, 13_300, CHILD, scheduled(1, "create_label"));
        at(&mut s, 13_400, CHILD, attempt_started(1, 1));
        at(&mut s, 14_000, CHILD, activity_completed(1, 1));
        at(&mut s, 14_100, CHILD, timer_started(2, 12_000, T0 + 26_100));
        // The worker stopped: the notification waits in the queue.
        at(&mut s, 14_200, CHILD, scheduled(3, "notify_customer"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use super::*;
    use crate::projection::Options;

    fn projection() -> Projection {
        let mut p = Projection::new(Options { keep_history: true, ..Options::default() });
        for se in order_stream() {
            p.apply_stream(se, NOW);
        }
        p
    }

    fn lane<'a>(tl: &'a Timeline, wf: &str, seq: u64) -> &'a Lane {
        tl.lanes
            .iter()
            .find(|l| {
                l.workflow_id == wf && matches!(l.kind, LaneKind::Activity { seq: s, .. } | LaneKind::Timer { seq: s, .. } if s == seq)
            })
            .unwrap_or_else(|| panic!("lane {wf} #{seq} in {tl:#?}"))
    }

    #[test]
    fn lanes_follow_the_history_with_the_child_nested_where_it_started() {
        let tl = timeline(&projection(), ORDER, NOW).expect("timeline");
        let rows: Vec<(usize, String)> = tl
            .lanes
            .iter()
            .map(|l| {
                let what = match &l.kind {
                    LaneKind::Workflow { workflow_type, .. } => format!("{} {workflow_type}", l.workflow_id),
                    LaneKind::Activity { activity_type, .. } => activity_type.clone(),
                    LaneKind::Timer { seq, .. } => format!("timer #{seq}"),
                };
                (l.depth, what)
            })
            .collect();
        let expected = [
            (0, "order-2301 Order"),
            (1, "reserve_inventory"),
            (1, "charge_payment"),
            (1, "timer #3"),
            (1, "ship"),
            (1, "order-2301/5 Shipment"),
            (2, "create_label"),
            (2, "timer #2"),
            (2, "notify_customer"),
        ];
        assert_eq!(rows, expected.map(|(d, s)| (d, s.to_string())));
        assert_eq!(tl.start_ms, T0);
        assert_eq!(tl.end_ms, T0 + 26_100, "the axis reaches the pending timer's fire time");
    }

    #[test]
    fn every_attempt_is_a_bar_and_a_backoff_is_a_gap() {
        let tl = timeline(&projection(), ORDER, NOW).expect("timeline");
        let charge = lane(&tl, ORDER, 2);
        let attempts: Vec<(u32, Outcome, i64, i64)> =
            charge.bars.iter().filter(|b| b.attempt > 0).map(|b| (b.attempt, b.outcome, b.start_ms - T0, b.end_ms - T0)).collect();
        assert_eq!(
            attempts,
            vec![
                (1, Outcome::Failed, 1_100, 1_600),
                (2, Outcome::Failed, 3_700, 4_200),
                (3, Outcome::TimedOut, 6_300, 8_300),
                (4, Outcome::Ok, 9_400, 9_800)
            ]
        );
        assert_eq!((charge.attempts(), charge.failures()), (4, 3));
        // Between a failure and the next start: the backoff (nothing), then the queue wait.
        let queued: Vec<(i64, i64)> =
            charge.bars.iter().filter(|b| b.outcome == Outcome::Queued).map(|b| (b.start_ms - T0, b.end_ms - T0)).collect();
        assert_eq!(queued, vec![(1_000, 1_100), (3_600, 3_700), (6_200, 6_300), (9_300, 9_400)]);
        assert!(charge.bars[1].failure.as_deref().is_some_and(|f| f.contains("AmountMismatch")));
        assert_eq!(tl.lanes[0].marks, vec![Mark { at_ms: T0 + 12_500, name: "approve".into() }]);
    }

    #[test]
    fn timers_run_to_their_fire_time_and_open_work_to_now() {
        let tl = timeline(&projection(), ORDER, NOW).expect("timeline");
        let fired = lane(&tl, ORDER, 3);
        assert!(matches!(fired.kind, LaneKind::Timer { fired: true, duration_ms: 2_000, .. }));
        assert_eq!((fired.bars[0].end_ms - T0, fired.bars[0].outcome), (11_900, Outcome::Ok));
        let pending = lane(&tl, CHILD, 2);
        assert_eq!((pending.bars[0].end_ms - T0, pending.bars[0].outcome), (26_100, Outcome::Running));
        let waiting = lane(&tl, CHILD, 3);
        assert_eq!(waiting.bars, vec![Bar { start_ms: T0 + 14_200, end_ms: NOW, outcome: Outcome::Queued, attempt: 0, failure: None }]);
        assert_eq!((tl.lanes[0].bars[0].end_ms, tl.lanes[0].bars[0].outcome), (NOW, Outcome::Running));
    }

    #[test]
    fn a_child_selected_shows_its_whole_order_and_unknown_roots_none() {
        let p = projection();
        assert_eq!(p.root_of(CHILD), Some(ORDER));
        assert!(timeline(&p, "nope", NOW).is_none());
    }

    #[test]
    fn the_axis_maps_time_to_columns_and_picks_round_ticks() {
        let axis = Axis::new(0, 60_000, 61);
        assert_eq!((axis.column(0), axis.column(30_000), axis.column(60_000), axis.column(99_000)), (0, 30, 60, 60));
        assert_eq!(axis.columns(10_000, 10_200), 10..=10, "a short bar keeps one column");
        let ticks = axis.ticks(9);
        assert_eq!(ticks.first(), Some(&(0, 0)));
        assert_eq!(ticks[1], (10, 10_000), "10 s apart: the first round step with 9 columns between labels");
        // An hour on 100 columns: ticks every 10 minutes.
        assert_eq!(Axis::new(0, 3_600_000, 100).ticks(9)[1].1, 600_000);
    }
}
