//! Render benchmark: the time to draw one 200x60 frame of the dashboard with 1,000 workflows
//! and 100,000 history events loaded (target: p99 <= 2 ms), plus the time to fold the events in.
//!
//! Run with `cargo bench -p faultline --bench render`. Besides criterion's statistics it prints
//! p50/p99/max over 5,000 individually timed frames, since criterion reports means.

use std::time::{Duration, Instant};

use criterion::{black_box, Criterion};
use faultline::dashboard::{ui, App, AppEvent, AppOptions};
use faultline_proto::{ActivityOptions, EventKind, Failure, HistoryEvent, RetryPolicy, StreamEvent};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const T0: i64 = 1_764_072_000_000;
const WORKFLOWS: usize = 1_000;
const EVENTS: usize = 100_000;

/// Appends events of one workflow with consecutive ids and global cursors.
struct Gen {
    out: Vec<StreamEvent>,
    cursor: u64,
    eid: u64,
    wid: String,
    run: String,
}

impl Gen {
    fn push(&mut self, kind: EventKind, t: i64) {
        self.eid += 1;
        self.cursor += 1;
        self.out.push(StreamEvent {
            cursor: self.cursor,
            workflow_id: self.wid.clone(),
            run_id: self.run.clone(),
            workflow_type: "Order".into(),
            event: HistoryEvent { event_id: self.eid, timestamp_ms: t, kind },
        });
    }
}

/// 100 events per workflow: a start, then activities that fail and retry, timers; each ends
/// with a retry in backoff and a running timer, so countdowns are on screen.
fn workload() -> Vec<StreamEvent> {
    let per = (EVENTS / WORKFLOWS) as u64;
    let mut g = Gen { out: Vec::with_capacity(EVENTS), cursor: 0, eid: 0, wid: String::new(), run: String::new() };
    for w in 0..WORKFLOWS {
        g.wid = format!("order-{w:05}");
        g.run = format!("r-{w}");
        g.eid = 0;
        let mut t = T0 + w as i64 * 50;
        g.push(
            EventKind::WorkflowStarted {
                workflow_id: g.wid.clone(),
                workflow_type: "Order".into(),
                task_queue: "orders".into(),
                input: serde_json::json!({ "amount_cents": 4200 + w }),
                options: Default::default(),
                parent: None,
                continued_from_run_id: None,
                random_seed: w as u64,
            },
            t,
        );
        let mut seq = 0;
        while g.eid + 11 <= per - 4 {
            seq += 1;
            t += 10;
            g.push(EventKind::WorkflowTaskScheduled { task_queue: "orders".into(), attempt: 1 }, t);
            g.push(EventKind::WorkflowTaskStarted { worker: "w1".into() }, t);
            g.push(EventKind::WorkflowTaskCompleted { worker: "w1".into() }, t);
            if seq % 3 == 0 {
                g.push(EventKind::TimerStarted { seq, duration_ms: 30_000, fire_at_ms: t + 30_000 }, t);
                g.push(EventKind::TimerFired { seq }, t + 30_000);
                continue;
            }
            let options = ActivityOptions { retry_policy: RetryPolicy { maximum_attempts: 10, ..Default::default() }, ..Default::default() };
            g.push(EventKind::ActivityScheduled { seq, activity_type: "charge_payment".into(), input: serde_json::json!({}), task_queue: "orders".into(), options }, t);
            for attempt in 1..=2 {
                g.push(EventKind::ActivityStarted { seq, attempt, worker: "w1".into() }, t);
                g.push(EventKind::ActivityFailed { seq, attempt, failure: Failure::new("payment returned 500"), next_retry_at_ms: Some(t + 1000) }, t + 5);
            }
            g.push(EventKind::ActivityStarted { seq, attempt: 3, worker: "w1".into() }, t);
            g.push(EventKind::ActivityCompleted { seq, attempt: 3, result: serde_json::json!({}) }, t);
        }
        while g.eid < per - 4 {
            g.push(EventKind::MarkerRecorded { seq: 10_000 + g.eid, name: "progress".into(), details: serde_json::json!({}) }, t);
        }
        seq += 1;
        g.push(EventKind::ActivityScheduled { seq, activity_type: "ship".into(), input: serde_json::json!({}), task_queue: "orders".into(), options: ActivityOptions::default() }, t);
        g.push(EventKind::ActivityStarted { seq, attempt: 1, worker: "w1".into() }, t);
        g.push(EventKind::ActivityFailed { seq, attempt: 1, failure: Failure::new("shipping down"), next_retry_at_ms: Some(t + 60_000) }, t);
        g.push(EventKind::TimerStarted { seq: seq + 1, duration_ms: 120_000, fire_at_ms: t + 120_000 }, t);
    }
    g.out
}

fn loaded_app(events: &[StreamEvent]) -> App {
    let mut app = App::new(AppOptions { runtime: faultline::runtime::describe_offline(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml"), &faultline::runtime::Project::default(), faultline::runtime::RuntimeKind::Docker).ok(), ..AppOptions::default() }, T0);
    for e in events {
        app.update(AppEvent::Stream(e.clone()));
    }
    // Full history view of the selected (newest) workflow: the heaviest panel.
    app.history_full = true;
    app.update(AppEvent::Tick { now_ms: T0 + 60_000 });
    app
}

/// CPU time of this thread: unlike wall time, it does not count the time other processes of
/// a shared machine held the core.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!("  {what:<10} p50 {:>10.3?}  p99 {:>10.3?}  max {:>10.3?}  (n={})", p(0.50), p(0.99), samples.last().copied().unwrap_or(Duration::ZERO), samples.len());
}

fn percentiles(app: &mut App, w: u16, h: u16) {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("backend");
    let (mut wall, mut cpu) = (Vec::with_capacity(5_000), Vec::with_capacity(5_000));
    for i in 0..5_500 {
        // Time moves so countdowns change and every frame really redraws cells.
        app.update(AppEvent::Tick { now_ms: T0 + 60_000 + i * 100 });
        let (start, start_cpu) = (Instant::now(), thread_cpu());
        term.draw(|f| ui::draw(f, app)).expect("draw");
        if i >= 500 {
            wall.push(start.elapsed());
            cpu.push(thread_cpu().saturating_sub(start_cpu));
        }
    }
    println!("draw {w}x{h}, {WORKFLOWS} workflows, {} events:", app.store.total_events);
    report("wall time", wall);
    report("CPU time", cpu);
}

fn main() {
    let events = workload();
    let start = Instant::now();
    let mut app = loaded_app(&events);
    println!("fold {} events into the app: {:?}", events.len(), start.elapsed());
    assert_eq!(app.store.len(), WORKFLOWS);
    assert_eq!(app.store.total_events as usize, events.len());
    percentiles(&mut app, 200, 60);
    percentiles(&mut app, 100, 30);

    let mut c = Criterion::default().configure_from_args();
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("backend");
    let mut now = T0 + 60_000;
    c.bench_function("draw_200x60_1000wf_100k_events", |b| {
        b.iter(|| {
            now += 100;
            app.update(AppEvent::Tick { now_ms: now });
            term.draw(|f| ui::draw(f, black_box(&app))).expect("draw");
        })
    });
    let mut small = Terminal::new(TestBackend::new(100, 30)).expect("backend");
    c.bench_function("draw_100x30_1000wf_100k_events", |b| {
        b.iter(|| {
            small.draw(|f| ui::draw(f, black_box(&app))).expect("draw");
        })
    });
    c.bench_function("fold_1000_events", |b| {
        b.iter_batched(
            || (App::new(AppOptions::default(), T0), events[..1000].to_vec()),
            |(mut a, evs)| {
                for e in evs {
                    a.update(AppEvent::Stream(e));
                }
                a
            },
            criterion::BatchSize::SmallInput,
        )
    });
    c.final_summary();
}
