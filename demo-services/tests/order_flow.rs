//! End to end: the real engine binary, the four services and the order worker as local
//! processes on 127.0.0.1, real SQLite everywhere. Runs orders through the whole flow (one
//! stuck on the payment v1 bug until payment-v2 is deployed over the same data directory, one
//! approved by signal, one whose approval times out, one canceled) and audits the ledgers:
//! every order charged exactly once, compensated ones refunded and released.
//!
//! Builds the binaries first with `cargo build --release -p faultline-engine -p faultline-demo -p faultline-payment
//! --bins` (cargo releases its lock before running tests).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use faultline_demo::api::OrderBalance;
use faultline_demo::client::ServiceClient;
use faultline_demo::ledger::Entry;
use faultline_demo::order::{self, OrderInput, OrderOutput, OrderTiming};
use faultline_sdk::proto::WorkflowStatus;
use faultline_sdk::{Client, ClientError};

const DEADLINE: Duration = Duration::from_secs(60);

/// Where the release binaries are, built first (once per test process).
fn bin_dir() -> PathBuf {
    faultline_testkit::bins::build_packages(&["faultline-engine", "faultline-demo", "faultline-payment"])
}

use faultline_testkit::net::free_port;

/// A child process, stopped with SIGTERM (then SIGKILL) when dropped.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(name: &str, binary: &str, env: &[(&str, String)], logs: &Path) -> Proc {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(bin_dir().join(binary));
        cmd.env_clear().env("RUST_LOG", "info").stdout(file.try_clone().expect("clone log")).stderr(file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {binary}: {e}"));
        Proc { name: name.into(), child, log }
    }

    /// SIGTERM and wait for a clean exit, as `docker stop` would.
    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "{} did not stop cleanly on SIGTERM: {status}\n{}", self.name, self.logs());
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{} ignored SIGTERM", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The test failed: show what each process said, the temp dir is about to go.
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(40).collect();
            eprintln!("--- last lines of {} ---\n{}", self.name, tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `<binary> healthcheck` as a container health check would.
fn healthcheck(binary: &str, port: u16) -> bool {
    Command::new(bin_dir().join(binary))
        .arg("healthcheck")
        .env_clear()
        .env("FAULTLINE_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

async fn wait_healthy(name: &str, port: u16) {
    let url = format!("http://127.0.0.1:{port}/healthz");
    let http = reqwest::Client::new();
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if let Ok(r) = http.get(&url).timeout(Duration::from_secs(1)).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} did not become healthy at {url}");
}

/// Waits until `check` yields a value, failing after the deadline with `what`.
async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    faultline_testkit::wait::eventually(what, DEADLINE, check).await
}

fn fast() -> OrderTiming {
    OrderTiming { retry_initial_ms: 100, retry_backoff: 2.0, retry_max_ms: 400, activity_timeout_ms: 5_000, pickup_delay_ms: 300, approval_timeout_ms: 60_000 }
}

fn order(id: &str, sku: &str, quantity: u32, amount: &str) -> OrderInput {
    OrderInput { timing: fast(), ..OrderInput::new(id, sku, quantity, amount) }
}

fn balance<'a>(balances: &'a [OrderBalance], order_id: &str) -> &'a OrderBalance {
    balances.iter().find(|b| b.order_id == order_id).unwrap_or_else(|| panic!("no payment entries for {order_id}: {balances:?}"))
}

fn count(entries: &[Entry], kind: &str, order_id: &str) -> usize {
    entries.iter().filter(|e| e.kind == kind && e.order_id == order_id).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_bug_and_fix_end_to_end_each_order_charged_exactly_once() {
    bin_dir();
    let t0 = Instant::now();
    let mark = |what: &str| eprintln!("[{:>6} ms] {what}", t0.elapsed().as_millis());
    let dir = tempfile::tempdir().expect("temp dir");
    let logs = dir.path();
    let data = |name: &str| dir.path().join(name).display().to_string();
    let [engine, inventory, payment, shipping, notification, worker] = [0; 6].map(|_| free_port());
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let listen = |port: u16| format!("127.0.0.1:{port}");

    let _inventory = Proc::start("inventory", "inventory", &[("FAULTLINE_LISTEN", listen(inventory)), ("FAULTLINE_DATA", data("inventory"))], logs);
    let payment_v1 = Proc::start("payment-v1", "payment", &[("FAULTLINE_LISTEN", listen(payment)), ("FAULTLINE_DATA", data("payment"))], logs);
    let _shipping = Proc::start("shipping", "shipping", &[("FAULTLINE_LISTEN", listen(shipping)), ("FAULTLINE_DATA", data("shipping"))], logs);
    let _notification = Proc::start("notification", "notification", &[("FAULTLINE_LISTEN", listen(notification)), ("FAULTLINE_DATA", data("notification"))], logs);
    let worker_proc = Proc::start(
        "worker",
        "order-worker",
        &[
            ("FAULTLINE_LISTEN", listen(worker)),
            ("FAULTLINE_ENGINE_URL", url(engine)),
            ("FAULTLINE_TASK_QUEUE", "orders-e2e".into()),
            ("INVENTORY_URL", url(inventory)),
            ("PAYMENT_URL", url(payment)),
            ("SHIPPING_URL", url(shipping)),
            ("NOTIFICATION_URL", url(notification)),
        ],
        logs,
    );
    // The worker comes up before the engine: healthy at once, waiting calmly for the engine.
    wait_healthy("worker", worker).await;
    eventually("the worker to report the engine down", || async { worker_proc.logs().contains("engine not reachable yet").then_some(()) }).await;
    let _engine = Proc::start("engine", "faultline-engine", &[("FAULTLINE_LISTEN", listen(engine)), ("FAULTLINE_DB", data("engine.db"))], logs);
    for (name, port) in [("engine", engine), ("inventory", inventory), ("payment", payment), ("shipping", shipping), ("notification", notification), ("worker", worker)] {
        wait_healthy(name, port).await;
    }

    mark("all pods healthy");
    let client = Client::new(url(engine)).expect("engine client");
    let queue = "orders-e2e";
    let plain = order("e2e-plain", "mug", 1, "12.99");
    let bugged = order("e2e-bugged", "t-shirt", 1, "19.99");
    let approved = order("e2e-approved", "headphones", 2, "298.00");
    let timed_out = OrderInput { timing: OrderTiming { approval_timeout_ms: 500, ..fast() }, ..order("e2e-timeout", "backpack", 3, "300.00") };
    let canceled = order("e2e-canceled", "cap", 12, "294.00");
    assert!(faultline_demo::order::catalog::hits_v1_bug(&bugged.amount) && !faultline_demo::order::catalog::hits_v1_bug(&canceled.amount));
    for input in [&plain, &bugged, &approved, &timed_out, &canceled] {
        order::start_order(&client, queue, input).await.expect("start order");
    }
    order::approve(&client, &approved.order_id, "e2e-test").await.expect("approve");

    let done = order::order_result(&client, &plain.order_id, DEADLINE).await.expect("plain order completes");
    assert_eq!((done.charged.as_str(), done.charged_minor, done.approved_by), ("12.99", 1299, None));
    let done: OrderOutput = order::order_result(&client, &approved.order_id, DEADLINE).await.expect("approved order completes");
    assert_eq!(done.approved_by.as_deref(), Some("e2e-test"));
    assert!(!done.shipment.tracking_number.is_empty() && !done.message_id.is_empty());

    mark("plain and approved orders completed");
    match order::order_result(&client, &timed_out.order_id, DEADLINE).await {
        Err(ClientError::WorkflowFailed { status: WorkflowStatus::Failed, failure: Some(f), .. }) => {
            assert_eq!(f.error_type.as_deref(), Some(order::error_types::APPROVAL_TIMED_OUT), "{f:?}");
            assert!(f.message.contains("refunded 300.00 EUR") && f.message.contains("released 3 x backpack"), "{}", f.message);
        }
        other => panic!("the order whose approval timed out must fail compensated, got {other:?}"),
    }

    mark("approval timed out and compensated");
    // The canceled order is waiting for approval (its charge went through): cancel it.
    let payment_client = ServiceClient::new("payment", url(payment), Duration::from_secs(5));
    eventually("the canceled order's charge", || async {
        payment_client.balances().await.ok().filter(|b| b.iter().any(|b| b.order_id == canceled.order_id)).map(|_| ())
    })
    .await;
    client.cancel(&canceled.workflow_id(), "customer changed their mind").await.expect("cancel");
    match order::order_result(&client, &canceled.order_id, DEADLINE).await {
        Err(ClientError::WorkflowFailed { status: WorkflowStatus::Canceled, .. }) => {}
        other => panic!("the canceled order must close as canceled, got {other:?}"),
    }

    mark("canceled order closed");
    // The bugged order keeps retrying on v1, with the service's message on screen.
    let failure = eventually("the bugged charge to retry", || async {
        let d = client.describe(&bugged.workflow_id()).await.ok()?;
        let charge = d.pending_activities.into_iter().find(|a| a.activity_type == order::activity_types::CHARGE_PAYMENT)?;
        (charge.attempt >= 3).then_some(charge.last_failure?)
    })
    .await;
    assert_eq!(failure.error_type.as_deref(), Some("AmountMismatch"));
    assert!(failure.message.contains("19.99 EUR") && failure.message.contains("1998"), "{}", failure.message);
    assert_eq!(client.describe(&bugged.workflow_id()).await.unwrap().summary.status, WorkflowStatus::Running);

    mark("bugged order seen retrying");
    // Deploy the fix over the same data directory: the stuck order completes, charged once.
    assert!(healthcheck("payment", payment), "`payment healthcheck` must pass while it runs");
    payment_v1.stop();
    assert!(!healthcheck("payment", payment), "`payment healthcheck` must fail once it stopped");
    let _payment_v2 = Proc::start("payment-v2", "payment-v2", &[("FAULTLINE_LISTEN", listen(payment)), ("FAULTLINE_DATA", data("payment"))], logs);
    wait_healthy("payment-v2", payment).await;
    let done = order::order_result(&client, &bugged.order_id, DEADLINE).await.expect("the bugged order completes after the fix");
    assert_eq!(done.charged_minor, 1999);

    mark("bugged order completed on payment-v2");
    // Audit the ledgers.
    let balances = payment_client.balances().await.expect("payment balances");
    for (o, minor) in [(&plain, 1299), (&bugged, 1999), (&approved, 29_800)] {
        let b = balance(&balances, &o.order_id);
        assert_eq!((b.charges, b.refunds, b.net_minor), (1, 0, minor), "{b:?}");
    }
    for (o, minor) in [(&timed_out, 30_000), (&canceled, 29_400)] {
        let b = balance(&balances, &o.order_id);
        assert_eq!((b.charges, b.charged_minor, b.refunded_minor, b.net_minor), (1, minor, minor, 0), "{b:?}");
    }
    let inv = ServiceClient::new("inventory", url(inventory), Duration::from_secs(5)).ledger().await.unwrap();
    let ship = ServiceClient::new("shipping", url(shipping), Duration::from_secs(5)).ledger().await.unwrap();
    let notes = ServiceClient::new("notification", url(notification), Duration::from_secs(5)).ledger().await.unwrap();
    for o in [&plain, &bugged, &approved] {
        let id = &o.order_id;
        assert_eq!((count(&inv, "reservation", id), count(&inv, "release", id)), (1, 0), "{id}");
        assert_eq!((count(&ship, "label", id), count(&ship, "dispatch", id), count(&notes, "message", id)), (1, 1, 1), "{id}");
    }
    for o in [&timed_out, &canceled] {
        let id = &o.order_id;
        assert_eq!((count(&inv, "reservation", id), count(&inv, "release", id), count(&ship, "label", id)), (1, 1, 0), "{id}");
    }
    assert!(worker_proc.logs().contains("engine reachable"), "worker log:\n{}", worker_proc.logs());
    worker_proc.stop();
}
