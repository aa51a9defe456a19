//! Without an engine: calls fail with an error that says what to do, and a subscription keeps
//! reporting "disconnected, retrying in ..." with a growing backoff instead of ending.

use std::time::Duration;

use faultline_sdk::{Client, ClientError, StreamItem};
use futures::StreamExt;

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn calls_to_a_missing_engine_say_what_to_do() {
    let client = Client::new(format!("http://127.0.0.1:{}", closed_port())).unwrap();
    let err = client.describe("x").await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("check that it is running"), "{err}");
    let bad = Client::new("127.0.0.1:7233").unwrap_err();
    assert!(bad.to_string().contains("must start with http://"), "{bad}");
}

#[tokio::test]
async fn subscription_reports_disconnects_with_growing_backoff() {
    let client = Client::new(format!("http://127.0.0.1:{}", closed_port())).unwrap();
    let mut stream = client.subscribe(None);
    let mut waits = Vec::new();
    while waits.len() < 3 {
        let item = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("no item within 10 s")
            .expect("the stream never ends");
        match item {
            StreamItem::Disconnected { error, retry_in } => {
                assert!(error.contains("unreachable"), "{error}");
                waits.push(retry_in);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(waits[0] < waits[1] && waits[1] < waits[2], "{waits:?}");
}
