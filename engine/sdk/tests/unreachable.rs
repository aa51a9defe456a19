//! Without an engine: calls fail with an error that says what to do, a subscription keeps
//! reporting "disconnected, retrying in ..." with a growing backoff instead of ending, and a
//! worker says once that it cannot poll, not once per poller and retry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline_sdk::{ActContext, ActivityError, Client, ClientError, StreamItem, Worker, WorkerOptions};
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

/// Log output, shared with the subscriber that writes it.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

async fn noop(_ctx: ActContext, _input: ()) -> Result<(), ActivityError> {
    Ok(())
}

// One thread: the worker's pollers run where the capturing subscriber is installed.
#[tokio::test(flavor = "current_thread")]
async fn a_worker_warns_once_about_a_missing_engine_not_on_every_poll() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let client = Client::new(format!("http://127.0.0.1:{}", closed_port())).unwrap();
    let mut worker = Worker::new(client, WorkerOptions::new("nowhere"));
    worker.register_activity("noop", noop);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));
    // Four activity pollers, each failing at least three times (backoffs of 200 and 400 ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    while logs.count("poll failed again") < 8 {
        assert!(Instant::now() < deadline, "the pollers did not retry:\n{}", logs.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(logs.count("cannot poll the engine"), 1, "{}", logs.text());
    assert_eq!(logs.count(" WARN "), 1, "nothing else is a warning:\n{}", logs.text());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run).await.expect("the worker stops").unwrap().unwrap();
}
