//! Against the real engine: `Client::subscribe` reports the disconnect when the engine dies,
//! reconnects on its own once it is back (same port, same database) and resumes from its last
//! cursor: the cursors it yields are consecutive, without gap or duplicate, across the restart.

mod support;

use std::time::Duration;

use faultline_sdk::{StartOptions, StreamItem};
use futures::StreamExt;
use support::Engine;

/// Next item within `deadline`, or a panic naming what was awaited.
async fn next_item(s: &mut (impl futures::Stream<Item = StreamItem> + Unpin), what: &str) -> StreamItem {
    tokio::time::timeout(Duration::from_secs(30), s.next())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("the stream never ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_survives_an_engine_restart_without_gap_or_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("engine.db");
    let port = support::free_port();
    let mut engine = Engine::start(port, &db).await;
    let client = engine.client();
    let mut stream = client.subscribe(Some(0));
    let mut cursors = Vec::new();

    client.start_workflow(StartOptions::new("s-1", "nobody-polls"), "X", &()).await.unwrap();
    // Until s-1's workflow task is scheduled.
    loop {
        match next_item(&mut stream, "events of s-1").await {
            StreamItem::Event(e) => {
                cursors.push(e.cursor);
                if e.workflow_id == "s-1" && e.event.kind.name() == "workflow_task_scheduled" {
                    break;
                }
            }
            StreamItem::Connected { .. } => {}
            StreamItem::Disconnected { error, .. } => panic!("disconnected early: {error}"),
        }
    }

    engine.kill();
    loop {
        match next_item(&mut stream, "the disconnect").await {
            StreamItem::Disconnected { .. } => break,
            StreamItem::Event(e) => cursors.push(e.cursor),
            StreamItem::Connected { .. } => {}
        }
    }

    let engine = Engine::start(port, &db).await;
    // Written while the subscriber may still be backing off: it must fetch them on resume.
    engine.client().start_workflow(StartOptions::new("s-2", "nobody-polls"), "X", &()).await.unwrap();
    let mut reconnected = false;
    loop {
        match next_item(&mut stream, "events of s-2 after the restart").await {
            StreamItem::Event(e) => {
                cursors.push(e.cursor);
                if e.workflow_id == "s-2" && e.event.kind.name() == "workflow_task_scheduled" {
                    break;
                }
            }
            StreamItem::Connected { after } => {
                reconnected = true;
                assert_eq!(after, cursors.last().copied(), "resumed from the wrong cursor");
            }
            StreamItem::Disconnected { .. } => {}
        }
    }
    assert!(reconnected);
    assert!(cursors.len() >= 4, "{cursors:?}");
    for w in cursors.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap or duplicate in {cursors:?}");
    }
}
