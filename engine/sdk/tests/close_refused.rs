//! A completion that closes the run while a signal it has not seen is pending is refused by
//! the engine with 409 `close_refused` (issue 15, item 5). The worker takes that as what it
//! is: its task is over and a new one replays the signal. It does not warn that it "could not
//! report" the task, and the workflow still completes.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_sdk::{StartOptions, WfContext, Worker, WorkerOptions, WorkflowError};
use support::{wait_until, Engine};

const QUEUE: &str = "close-refused";
/// Set while the first run of the workflow code is held.
static ENTERED: AtomicBool = AtomicBool::new(false);
/// Opened by the test once the signal is in.
static GATE: AtomicBool = AtomicBool::new(false);
static FIRST: AtomicBool = AtomicBool::new(true);

/// Completes at once, except that its first execution waits (on the replay thread) until the
/// test has signalled the run: so the close is decided without seeing the signal.
async fn gated(_ctx: WfContext, _: ()) -> Result<u32, WorkflowError> {
    if FIRST.swap(false, Ordering::SeqCst) {
        ENTERED.store(true, Ordering::SeqCst);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !GATE.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    }
    Ok(1)
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
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

// One thread: the worker's reporting tasks run where the capturing subscriber is installed.
#[tokio::test(flavor = "current_thread")]
async fn a_refused_close_is_dropped_quietly_and_the_signal_replayed() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt().with_writer(logs.clone()).with_max_level(tracing::Level::INFO).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::start(support::free_port(), &tmp.path().join("engine.db")).await;
    let client = engine.client();
    let mut options = WorkerOptions::new(QUEUE);
    options.poll_timeout = Duration::from_secs(2);
    let mut worker = Worker::new(client.clone(), options);
    worker.register_workflow("Gated", gated);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(worker.run(async {
        let _ = stopped.await;
    }));

    client.start_workflow(StartOptions::new("gated", QUEUE), "Gated", &()).await.unwrap();
    wait_until("the workflow code runs", Duration::from_secs(20), || async { ENTERED.load(Ordering::SeqCst) }).await;
    client.signal("gated", "poke", &1).await.unwrap();
    GATE.store(true, Ordering::SeqCst);

    assert_eq!(client.result::<u32>("gated", Duration::from_secs(30)).await.unwrap(), 1);
    let history = client.history("gated").await.unwrap();
    let refused = history.events.iter().any(|e| matches!(&e.kind,
        faultline_sdk::proto::EventKind::WorkflowTaskFailed { message, .. } if message.contains("not applied")));
    assert!(refused, "the first close was refused");
    let text = logs.text();
    assert!(text.contains("refused this task's close"), "{text}");
    assert!(!text.contains("could not report the workflow task"), "{text}");
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), run).await.expect("the worker stops").unwrap().unwrap();
}
