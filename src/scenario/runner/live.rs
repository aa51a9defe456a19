//! The live side of a run: a task that reads the engine's event stream and the pods' status
//! stream, folds them into a [`Snapshot`] (the projection, the pods, the engine link) and
//! publishes it through a `watch`. Steps never poll: they wait for the snapshot to change
//! (see `control`). The same task emits the count changes and notable events of the run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use faultline_sdk::StreamItem;
use futures::stream::BoxStream;
use futures::StreamExt;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};

use super::RunEvent;
use crate::clock::Clock;
use crate::projection::{Counts, Options, Projection, Scope};
use crate::runtime::{Health, PodState, PodStatus};
use crate::scenario::report::{EntryKind, TimelineEntry};

/// Everything a step waits on, as of the last stream item.
#[derive(Debug)]
pub struct Snapshot {
    /// The run's orders and their children, and nothing else.
    pub projection: Projection,
    pub pods: BTreeMap<String, PodStatus>,
    pub engine_connected: bool,
}

impl Snapshot {
    pub fn new() -> Self {
        Snapshot {
            projection: Projection::new(Options { scope: Scope::Registered, keep_history: false, notable: true, history_budget: None }),
            pods: BTreeMap::new(),
            engine_connected: false,
        }
    }

    /// Healthy by its health check, or running when it has none.
    pub fn pod_healthy(&self, pod: &str) -> bool {
        self.pods.get(pod).is_some_and(|s| s.health == Health::Healthy || (s.state == PodState::Running && s.health == Health::Unknown))
    }

    pub fn pod_stopped(&self, pod: &str) -> bool {
        self.pods.get(pod).is_some_and(|s| matches!(s.state, PodState::Stopped | PodState::Exited | PodState::Missing))
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Self::new()
    }
}

/// Sends the run's events and keeps its timeline (for the report). Cheap to clone: the
/// live task and the steps share one.
#[derive(Clone)]
pub(crate) struct Emitter {
    tx: mpsc::UnboundedSender<RunEvent>,
    timeline: Arc<Mutex<Vec<TimelineEntry>>>,
    clock: Arc<dyn Clock>,
    /// When the story started (the first step), in the clock's ms; `None` during setup.
    t0: Arc<Mutex<Option<i64>>>,
}

impl Emitter {
    pub fn new(tx: mpsc::UnboundedSender<RunEvent>, clock: Arc<dyn Clock>) -> Self {
        Emitter { tx, timeline: Arc::default(), clock, t0: Arc::default() }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Starts the story's clock: times read 0 until then.
    pub fn start_story(&self) -> i64 {
        let now = self.clock.now_ms();
        *self.t0.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        now
    }

    pub fn t0(&self) -> Option<i64> {
        *self.t0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Milliseconds since the story started (0 during setup) of the clock time `at`.
    pub fn rel(&self, at: i64) -> u64 {
        self.t0().map_or(0, |t0| at.saturating_sub(t0).max(0) as u64)
    }

    pub fn now_rel(&self) -> u64 {
        self.rel(self.clock.now_ms())
    }

    pub fn push_timeline(&self, entry: TimelineEntry) {
        self.timeline.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }

    pub fn take_timeline(&self) -> Vec<TimelineEntry> {
        std::mem::take(&mut *self.timeline.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn emit(&self, ev: RunEvent) {
        if let Some((at_ms, kind, text)) = timeline_entry(&ev) {
            self.push_timeline(TimelineEntry { at_ms, kind, text });
        }
        // The receiver may be gone (a dashboard closed); the run still finishes and reports.
        let _ = self.tx.send(ev);
    }
}

/// What of an event goes into the report's timeline.
fn timeline_entry(ev: &RunEvent) -> Option<(u64, EntryKind, String)> {
    Some(match ev {
        RunEvent::Note { at_ms, text } => (*at_ms, EntryKind::Note, text.clone()),
        RunEvent::StepStarted { step, at_ms, title, narration } => (*at_ms, EntryKind::Step, format!("{}. {title} — {narration}", step + 1)),
        RunEvent::Narration { step, at_ms, text } => (*at_ms, EntryKind::Step, format!("{}. (waiting) {text}", step + 1)),
        RunEvent::Action { at_ms, text, ok, detail, .. } => {
            let d = detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default();
            (*at_ms, EntryKind::Action, format!("{}{text}{d}", if *ok { "" } else { "FAILED: " }))
        }
        RunEvent::Counts { at_ms, counts } => (*at_ms, EntryKind::Counts, counts.line()),
        RunEvent::Engine { at_ms, connected, detail } => (
            *at_ms,
            EntryKind::Event,
            if *connected { "engine event stream connected".to_string() } else { format!("engine unreachable: {detail}") },
        ),
        _ => return None,
    })
}

/// What the steps tell the live task.
pub(crate) enum Feed {
    /// Start reading the engine's event stream (once the engine is up).
    Engine(BoxStream<'static, StreamItem>),
    /// Fold every item the streams already hold, then answer.
    Flush(oneshot::Sender<()>),
}

/// Runs until the run drops its feed sender: reads both streams, updates the snapshot.
pub(crate) async fn run(
    snapshot: Arc<watch::Sender<Snapshot>>,
    mut pods: BoxStream<'static, PodStatus>,
    mut feed: mpsc::UnboundedReceiver<Feed>,
    emitter: Emitter,
) {
    let mut engine: Option<BoxStream<'static, StreamItem>> = None;
    let mut pods_open = true;
    let mut last_counts = Counts::default();
    let mut notable_seen = 0;
    loop {
        let next_engine = async {
            match engine.as_mut() {
                Some(s) => s.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            f = feed.recv() => match f {
                Some(Feed::Engine(s)) => engine = Some(s),
                Some(Feed::Flush(done)) => {
                    while pods_open {
                        match pods.next().now_or_never() {
                            Some(Some(st)) => snapshot.send_modify(|s| { s.pods.insert(st.name.clone(), st); }),
                            Some(None) => pods_open = false,
                            None => break,
                        }
                    }
                    while let Some(Some(item)) = engine.as_mut().and_then(|s| s.next().now_or_never()) {
                        on_engine(&snapshot, &emitter, item);
                    }
                    publish(&snapshot, &emitter, &mut last_counts, &mut notable_seen);
                    let _ = done.send(());
                }
                None => return,
            },
            st = pods.next(), if pods_open => match st {
                Some(st) => snapshot.send_modify(|s| { s.pods.insert(st.name.clone(), st); }),
                None => pods_open = false,
            },
            item = next_engine => match item {
                Some(item) => on_engine(&snapshot, &emitter, item),
                None => engine = None,
            },
        }
        publish(&snapshot, &emitter, &mut last_counts, &mut notable_seen);
    }
}

fn on_engine(snapshot: &watch::Sender<Snapshot>, emitter: &Emitter, item: StreamItem) {
    let now = emitter.clock().now_ms();
    let at_ms = emitter.rel(now);
    match item {
        StreamItem::Event(ev) => {
            // Only the run's own orders change the snapshot; anything else wakes nobody.
            snapshot.send_if_modified(|s| s.projection.apply_stream(ev, now));
        }
        StreamItem::Connected { .. } => {
            if snapshot.send_if_modified(|s| !std::mem::replace(&mut s.engine_connected, true)) {
                emitter.emit(RunEvent::Engine { at_ms, connected: true, detail: String::new() });
            }
        }
        StreamItem::Disconnected { error, .. } => {
            if snapshot.send_if_modified(|s| std::mem::replace(&mut s.engine_connected, false)) {
                emitter.emit(RunEvent::Engine { at_ms, connected: false, detail: error });
            }
        }
    }
}

/// Emits the counts when they changed, and the new notable events into the timeline.
fn publish(snapshot: &watch::Sender<Snapshot>, emitter: &Emitter, last: &mut Counts, seen: &mut usize) {
    let s = snapshot.borrow();
    let notable = s.projection.notable();
    for n in &notable[(*seen).min(notable.len())..] {
        emitter.push_timeline(TimelineEntry { at_ms: emitter.rel(n.at_ms), kind: EntryKind::Event, text: format!("{}: {}", n.workflow_id, n.kind) });
    }
    *seen = notable.len();
    let c = s.projection.counts();
    drop(s);
    if c != *last {
        *last = c;
        emitter.emit(RunEvent::Counts { at_ms: emitter.now_rel(), counts: c });
    }
}
