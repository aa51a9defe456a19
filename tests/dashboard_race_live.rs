//! The race view's feeds against two real engine processes, the transactional engine and its
//! dual-write twin (`--mode dual-write`): the twin's event stream fills the view's second
//! projection through the same feed as the main one, a fault armed on the twin and fired by a
//! start shows in the faults strip (polled from `GET /api/v1/admin/faults/fired`), and the
//! live check reads both sides. No terminal; waits are on conditions with a deadline.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faultline::bench::process::{locate_engine, EngineProcess};
use faultline::checker::Side;
use faultline::dashboard::race::MarkSide;
use faultline::dashboard::run::{spawn_engine_feeds, spawn_twin_feeds};
use faultline::dashboard::{App, AppEvent, AppOptions};
use faultline::scenario::runner::EngineApi;
use faultline_sdk::StartOptions;
use faultline_testkit::net::free_port;
use tokio::sync::mpsc;

async fn pump_until(app: &mut App, rx: &mut mpsc::Receiver<AppEvent>, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(app) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "timed out waiting for: {what}");
        if let Ok(Some(ev)) = tokio::time::timeout(left, rx.recv()).await {
            app.update(ev);
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_twin_feeds_fill_the_race_view_from_real_engines() {
    let ws = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = locate_engine(None, Some(&ws), true).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("tempdir");
    let start = |name: &str, args: Vec<String>| {
        let (db, log) = (dir.path().join(format!("{name}.db")), dir.path().join(format!("{name}.log")));
        let bin = bin.clone();
        async move { EngineProcess::start_with(&bin, &db, &log, free_port(), &args).await.unwrap_or_else(|e| panic!("{e}")) }
    };
    let mut main = start("engine", vec![]).await;
    let mut twin = start("engine-dw", vec!["--mode".into(), "dual-write".into()]).await;
    let (main_c, twin_c) = (faultline_sdk::Client::new(main.url()).unwrap(), faultline_sdk::Client::new(twin.url()).unwrap());
    let (tx, mut rx) = mpsc::channel(4096);
    let mut feeds = spawn_engine_feeds(&main_c, "orders", &tx);
    feeds.extend(spawn_twin_feeds(&main.url(), &twin.url(), &tx));
    let mut app = App::new(AppOptions { engine_url: main.url(), ..AppOptions::default() }, now());
    assert!(!app.race.available);

    pump_until(&mut app, &mut rx, "the twin answers", |a| a.race.available).await;
    app.update(AppEvent::Key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE)));
    assert!(app.race.open);

    // A delay at the twin's state commit, fired by the next start: the strip shows it.
    let spec = serde_json::json!({"point": "before_state_commit", "action": "delay", "delay_ms": 1, "count": 1});
    EngineApi::arm_fault(&twin_c, &spec).await.expect("arm on the twin");
    let input = serde_json::json!({});
    main_c.start_workflow(StartOptions::new("order-live-1", "orders"), "Order", &input).await.expect("start on the engine");
    twin_c.start_workflow(StartOptions::new("order-dw-live-1", "orders"), "Order", &input).await.expect("start on the twin");
    pump_until(&mut app, &mut rx, "both sides' orders", |a| a.store.get("order-live-1").is_some() && a.race.store.get("order-dw-live-1").is_some()).await;
    pump_until(&mut app, &mut rx, "the twin's firing in the strip", |a| {
        a.race.faults.iter().any(|m| m.side == MarkSide::One(Side::DualWrite) && m.fired && m.text.starts_with("before_state_commit delay"))
    })
    .await;
    let pairs = app.race.pairs(&app.store);
    assert_eq!(pairs.len(), 1, "the twin's order pairs with the engine's: {:?}", pairs.iter().map(|p| &p.0).collect::<Vec<_>>());
    assert_eq!((pairs[0].1, pairs[0].2), (Some("order-live-1"), Some("order-dw-live-1")));

    // The live check on the next tick reads both sides.
    app.update(AppEvent::Tick { now_ms: now() });
    let report = app.race.report().expect("a live check");
    assert_eq!(report.side(Side::Transactional).map(|s| s.orders), Some(1));
    assert_eq!(report.side(Side::DualWrite).map(|s| s.orders), Some(1));

    for f in feeds {
        f.abort();
    }
    main.kill().await;
    twin.kill().await;
}
