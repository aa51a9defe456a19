//! The dashboard's I/O layer against the real `faultline-engine` process: the engine feeds
//! (event stream from cursor 0, pollers) fill the pure `App`, keys turn into actions that the
//! `Executor` runs against the engine, and an engine crash shows as "engine unreachable" until
//! the stream resumes without losing or duplicating an event. No terminal is involved; waits are
//! on conditions with a deadline, never sleeps.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faultline::bench::process::{locate_engine, EngineProcess};
use faultline::dashboard::app::{EngineLink, NoticeState};
use faultline::dashboard::run::{spawn_engine_feeds, Executor};
use faultline::dashboard::{ActionRequest, App, AppEvent, AppOptions};
use faultline_proto::WorkflowStatus;
use tokio::sync::mpsc;

use faultline_testkit::net::free_port;

fn key(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// Feeds events into the app (running the requested actions) until `done` holds.
async fn pump_until(
    app: &mut App,
    rx: &mut mpsc::Receiver<AppEvent>,
    exec: &Executor,
    what: &str,
    done: impl Fn(&App) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(app) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for: {what}");
        if let Ok(Some(ev)) = tokio::time::timeout(left, rx.recv()).await {
            for r in app.update(ev) {
                exec.run(r);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_feed_actions_and_reconnect_against_the_real_engine() {
    let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = locate_engine(None, Some(&ws), true).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut engine = EngineProcess::start(&bin, &dir.path().join("engine.db"), &dir.path().join("engine.log"), free_port())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = engine.url();
    let client = faultline_sdk::Client::new(url.clone()).expect("client");
    let (tx, mut rx) = mpsc::channel(4096);
    let feeds = spawn_engine_feeds(&client, "orders", &tx);
    let exec = Executor::new(client.clone(), None, tx.clone(), None);
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut app = App::new(AppOptions { engine_url: url.clone(), ..AppOptions::default() }, now());

    // Nobody polls `orders` in this test: the dashboard says so.
    pump_until(&mut app, &mut rx, &exec, "no worker polling", |a| a.no_worker_polling()).await;

    // `n` starts a real order; the stream brings its history back.
    let reqs = app.update(key('n'));
    let Some(ActionRequest::StartOrder { workflow_id, .. }) = reqs.first().cloned() else { panic!("{reqs:?}") };
    reqs.into_iter().for_each(|r| exec.run(r));
    let wf = workflow_id.clone();
    pump_until(&mut app, &mut rx, &exec, "the new order on screen", |a| a.store.get(&wf).is_some()).await;
    pump_until(&mut app, &mut rx, &exec, "the start confirmed", |a| {
        a.notices.back().is_some_and(|n| matches!(n.state, NoticeState::Ok(_)))
    })
    .await;
    assert_eq!(app.store.counts().running, 1);

    // `T` terminates it through the engine; the terminal event arrives on the stream.
    app.selected_wf = Some(workflow_id.clone());
    let reqs = app.update(key('T'));
    assert!(matches!(&reqs[..], [ActionRequest::Terminate { .. }]), "{reqs:?}");
    reqs.into_iter().for_each(|r| exec.run(r));
    pump_until(&mut app, &mut rx, &exec, "the order terminated", |a| {
        a.store.get(&wf).is_some_and(|r| r.status == WorkflowStatus::Terminated)
    })
    .await;
    let events_before = app.store.total_events;
    let history = client.history(&workflow_id).await.expect("history");
    assert_eq!(app.store.get(&wf).map(|r| r.events.len()), Some(history.events.len()), "every event, once");

    // Kill the engine: the header says it is unreachable; after the restart the stream resumes
    // from its cursor with nothing lost and nothing twice, and a new order shows up.
    engine.kill().await;
    pump_until(&mut app, &mut rx, &exec, "engine unreachable", |a| matches!(a.engine, EngineLink::Unreachable { .. })).await;
    engine = EngineProcess::start(&bin, &dir.path().join("engine.db"), &dir.path().join("engine.log"), engine.port)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    pump_until(&mut app, &mut rx, &exec, "engine connected again", |a| a.engine == EngineLink::Connected).await;
    let reqs = app.update(key('n'));
    reqs.into_iter().for_each(|r| exec.run(r));
    pump_until(&mut app, &mut rx, &exec, "a second order", |a| a.store.len() == 2).await;
    assert_eq!(app.store.get(&wf).map(|r| r.events.len()), Some(history.events.len()), "no duplicate after the reconnect");
    assert!(app.store.total_events > events_before);

    for f in feeds {
        f.abort();
    }
    engine.kill().await;
}
