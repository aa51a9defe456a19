//! The race checker's collection against real components: the `faultline-engine` binary
//! twice (transactional, and the dual-write twin), the real payment service and its ledger,
//! and an SDK worker in this process. A fault staged on the twin loses a task; a worker
//! that repeats a charge under the same key is absorbed by the ledger. The collector waits
//! for the run to quiesce, and the checker finds exactly that: the lost task (and its stuck
//! order) on the twin only, the absorbed duplicate on the transactional side, and no
//! engine-level anomaly there.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use faultline::bench::process::{free_port, EngineProcess};
use faultline::bench::EngineMode;
use faultline::checker::collect::{collect, LedgerSource, OrderRef, Quiesce};
use faultline::checker::{check, AnomalyKind, Side, Source};
use faultline::clock::SystemClock;
use faultline_demo::api::{paths, ChargeRequest};
use faultline_demo::client::ServiceClient;
use faultline_sdk::proto::ActivityOptions;
use faultline_sdk::{ActContext, ActivityError, Client, StartOptions, WfContext, Worker, WorkerOptions, WorkflowError};
use faultline_testkit::wait::wait_until;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const QUEUE: &str = "race";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    order_id: String,
    /// Charge twice under the same key, as a worker killed before its report would.
    repeat: bool,
}

/// The payment service binary on a free port with its ledger in `data`. Killed on drop.
struct Payment(Child, String);

impl Payment {
    fn start(data: &Path) -> Payment {
        let bin = faultline_testkit::bins::release_binary("faultline-payment", "payment", None);
        let port = free_port().unwrap();
        let child = Command::new(bin)
            .env("FAULTLINE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FAULTLINE_DATA", data)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the payment service");
        Payment(child, format!("http://127.0.0.1:{port}"))
    }
}

impl Drop for Payment {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn worker(client: Client, payment: String) -> Worker {
    let mut w = Worker::new(client, WorkerOptions::new(QUEUE));
    w.register_workflow("RaceOrder", |ctx: WfContext, o: Order| async move {
        let charged: String = ctx.activity("charge", &o, ActivityOptions::default()).await?;
        Ok::<_, WorkflowError>(charged)
    });
    w.register_activity("charge", move |ctx: ActContext, o: Order| {
        let payment = ServiceClient::new("payment", payment.clone(), Duration::from_secs(5));
        let key = ctx.idempotency_key().to_string();
        async move {
            let req = ChargeRequest { order_id: o.order_id.clone(), amount: "10.00".into(), currency: "EUR".into() };
            for _ in 0..if o.repeat { 2 } else { 1 } {
                payment.post::<_, Value>(paths::CHARGES, &key, &req).await.map_err(ActivityError::retryable)?;
            }
            Ok::<_, ActivityError>(o.order_id)
        }
    });
    w
}

async fn start(c: &Client, id: &str, repeat: bool) {
    let order = Order { order_id: id.into(), repeat };
    c.start_workflow(StartOptions::new(id, QUEUE), "RaceOrder", &order).await.expect("start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collects_both_sides_and_finds_the_staged_lost_task_on_the_twin_only() {
    let dir = tempfile::tempdir().unwrap();
    let bin = faultline_testkit::bins::engine_binary();
    let payment = Payment::start(&dir.path().join("payment"));
    let svc = ServiceClient::new("payment", payment.1.clone(), Duration::from_secs(2));
    wait_until("the payment service answers", Duration::from_secs(20), || async { svc.ledger().await.is_ok() }).await;

    let mut engines = Vec::new();
    for mode in [EngineMode::Transactional, EngineMode::DualWrite] {
        let db = dir.path().join(format!("{}.db", mode.name()));
        let log = dir.path().join(format!("{}.log", mode.name()));
        engines.push(EngineProcess::start_with(&bin, &db, &log, free_port().unwrap(), &mode.engine_args()).await.unwrap());
    }
    let tx = Client::new(engines[0].url()).unwrap();
    let dw = Client::new(engines[1].url()).unwrap();
    // Staged on the twin: the state commits "charge scheduled", then the enqueue fails.
    let armed = reqwest::Client::new()
        .post(format!("{}/api/v1/admin/faults", engines[1].url()))
        .json(&json!({"point": "after_state_commit", "action": "error", "activity_type": "charge", "workflow_id_prefix": "dw-lost"}))
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), 201);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for c in [&tx, &dw] {
        let mut s = stopped.clone();
        workers.push(tokio::spawn(worker(c.clone(), payment.1.clone()).run(async move {
            let _ = s.wait_for(|v| *v).await;
        })));
    }
    start(&tx, "tx-lost", false).await;
    start(&tx, "tx-repeat", true).await;
    start(&dw, "dw-lost", false).await;
    start(&dw, "dw-ok", false).await;

    let ledgers = [LedgerSource { service: "payment".into(), base_url: payment.1.clone() }];
    let quiesce = Quiesce { quiet_ms: 1_500, deadline_ms: 30_000, poll_ms: 100 };
    let orders = |ids: &[&str]| ids.iter().map(|i| OrderRef { workflow_id: i.to_string(), ledger_order_id: Some(i.to_string()) }).collect::<Vec<_>>();
    let t = collect(Side::Transactional, &tx, &ledgers, &orders(&["tx-lost", "tx-repeat"]), &SystemClock, quiesce).await.unwrap();
    let d = collect(Side::DualWrite, &dw, &ledgers, &orders(&["dw-lost", "dw-ok"]), &SystemClock, quiesce).await.unwrap();
    let _ = stop.send(true);
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
    }

    assert!(t.quiesced && d.quiesced);
    assert!(t.input.deliveries.is_empty(), "no queue on the transactional side");
    assert!(!d.input.deliveries.is_empty(), "the twin's delivery records were read");
    assert_eq!(t.input.executions.len(), 3, "tx-lost once, tx-repeat once plus a replay: {:?}", t.input.executions);
    assert!(t.input.executions.iter().all(|x| x.order.starts_with("tx-")), "each side sees its own orders' rows");

    let tr = check(&t.input, &t.params(500));
    assert_eq!(tr.counters.engine_level(), 0, "{:#?}", tr.anomalies);
    assert_eq!((tr.counters.stuck_orders, tr.counters.duplicate_executions, tr.counters.duplicates_absorbed), (0, 1, 1), "{:#?}", tr.anomalies);
    let dup = tr.of(AnomalyKind::DuplicateExecution).next().unwrap();
    assert!(dup.witness.iter().any(|w| matches!(&w.source, Source::Ledger { absorbed: true, .. })), "{dup:#?}");

    let dr = check(&d.input, &d.params(500));
    assert_eq!((dr.counters.lost_tasks, dr.counters.stuck_orders), (1, 1), "{:#?}", dr.anomalies);
    let lost = dr.of(AnomalyKind::LostTask).next().unwrap();
    assert_eq!(lost.order.as_deref(), Some("dw-lost"));
    assert!(lost.subject.contains("(charge)"), "{}", lost.subject);
    assert_eq!(dr.counters.engine_level(), 1, "{:#?}", dr.anomalies);
}
