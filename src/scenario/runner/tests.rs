//! The runner on a fake runtime and a fake engine, on tokio's paused clock: gates, timeouts,
//! aborts and every action, in milliseconds of real time and without a pod or an engine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_demo::order::{Approval, OrderInput};
use faultline_proto::{EventKind, WorkflowStatus};
use faultline_sdk::{ClientError, StreamItem};
use faultline_testkit::history::{self, Stream};
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::*;
use crate::clock::TokioClock;
use crate::runtime::fake::FakeRuntime;
use crate::runtime::{Describe, PodAction};
use crate::scenario::report::Verdict;
use crate::scenario::Context;

const T0: i64 = 1_800_000_000_000;

/// An engine that records calls and whose stream the test writes.
struct FakeEngine {
    clock: TokioClock,
    tx: mpsc::UnboundedSender<StreamItem>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<StreamItem>>>,
    events: Mutex<Stream>,
    calls: Mutex<Vec<String>>,
    statuses: Mutex<HashMap<String, WorkflowStatus>>,
}

impl FakeEngine {
    fn new(clock: TokioClock) -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(FakeEngine { clock, tx, rx: Mutex::new(Some(rx)), events: Mutex::default(), calls: Mutex::default(), statuses: Mutex::default() })
    }

    /// The engine records `kind` for `workflow_id` now.
    fn push(&self, workflow_id: &str, kind: EventKind) {
        let mut s = self.events.lock().unwrap();
        s.now_ms = self.clock.now_ms();
        if let Some(status) = kind.closing_status() {
            self.statuses.lock().unwrap().insert(workflow_id.to_string(), status);
        }
        let _ = self.tx.send(StreamItem::Event(s.ev(workflow_id, kind)));
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

#[async_trait::async_trait]
impl EngineApi for FakeEngine {
    async fn start_order(&self, workflow_id: &str, _input: &OrderInput, _task_timeout: Duration) -> Result<(), ClientError> {
        self.record(format!("start {workflow_id}"));
        self.statuses.lock().unwrap().insert(workflow_id.to_string(), WorkflowStatus::Running);
        self.push(workflow_id, history::started(None));
        Ok(())
    }
    async fn signal(&self, workflow_id: &str, name: &str, _payload: &Approval) -> Result<(), ClientError> {
        self.record(format!("signal {name} {workflow_id}"));
        Ok(())
    }
    async fn retry_now(&self, workflow_id: &str, seq: u64) -> Result<(), ClientError> {
        self.record(format!("retry_now {workflow_id} {seq}"));
        Ok(())
    }
    async fn cancel(&self, workflow_id: &str, _reason: &str) -> Result<(), ClientError> {
        self.record(format!("cancel {workflow_id}"));
        Ok(())
    }
    async fn terminate(&self, workflow_id: &str, _reason: &str) -> Result<(), ClientError> {
        self.record(format!("terminate {workflow_id}"));
        Ok(())
    }
    async fn status(&self, workflow_id: &str) -> Result<WorkflowStatus, ClientError> {
        self.statuses.lock().unwrap().get(workflow_id).copied().ok_or(ClientError::Api { status: 404, code: "not_found".into(), message: "no such workflow".into() })
    }
    async fn arm_fault(&self, spec: &serde_json::Value) -> Result<u64, String> {
        let mut calls = self.calls.lock().unwrap();
        calls.push(format!("arm {} {}", spec["point"].as_str().unwrap_or_default(), spec["action"].as_str().unwrap_or_default()));
        Ok(calls.len() as u64)
    }
    async fn release_fault(&self, id: u64) -> Result<(), String> {
        self.record(format!("release {id}"));
        Ok(())
    }
    async fn disarm_fault(&self, id: u64) -> Result<(), String> {
        self.record(format!("disarm {id}"));
        Ok(())
    }
    async fn set_dual_write_order(&self, order: &str) -> Result<(), String> {
        self.record(format!("order {order}"));
        Ok(())
    }
    fn subscribe(&self) -> BoxStream<'static, StreamItem> {
        let rx = self.rx.lock().unwrap().take().expect("one subscription");
        futures::stream::once(async { StreamItem::Connected { after: None } }).chain(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)).boxed()
    }
}

struct Harness {
    rt: Arc<FakeRuntime>,
    engine: Arc<FakeEngine>,
    handle: RunHandle,
}

impl Harness {
    fn start(toml: &str) -> Harness {
        Self::start_on(FakeRuntime::demo(), toml)
    }

    fn start_on(rt: FakeRuntime, toml: &str) -> Harness {
        let rt = Arc::new(rt);
        let sc = crate::scenario::validate::validate_text(Path::new("test.toml"), toml, &Context::from_topology(rt.topology()))
            .unwrap_or_else(|d| panic!("{d:?}"));
        let clock = TokioClock::new(T0);
        let engine = FakeEngine::new(clock);
        let cfg = RunConfig { drain: Duration::ZERO, ..RunConfig::default() };
        let handle = spawn(rt.clone(), engine.clone(), sc, cfg, Arc::new(clock));
        Harness { rt, engine, handle }
    }

    /// The next event that `pred` accepts; the others are skipped.
    async fn until(&mut self, what: &str, pred: impl Fn(&RunEvent) -> bool) -> RunEvent {
        loop {
            match self.handle.events.recv().await {
                Some(e) if pred(&e) => return e,
                Some(_) => {}
                None => panic!("the run ended before {what}"),
            }
        }
    }

    async fn waiting(&mut self, step: usize) {
        self.until(&format!("step {step} waits"), |e| matches!(e, RunEvent::Waiting { step: s, .. } if *s == step)).await;
    }

    async fn started(&mut self, step: usize) {
        self.until(&format!("step {step} starts"), |e| matches!(e, RunEvent::StepStarted { step: s, .. } if *s == step)).await;
    }

    async fn report(self) -> Report {
        self.handle.task.await.expect("the run task")
    }

    fn advance(&self) {
        self.handle.commands.send(RunCommand::Advance).unwrap();
    }

    fn order(&self, i: usize) -> String {
        self.handle.orders[i].clone()
    }
}

const HEAD: &str = r#"
title = "t"
description = "d"
timeout = "10m"
[workload]
orders = 3
seed = 7
"#;

#[tokio::test(start_paused = true)]
async fn a_manual_step_waits_for_the_presenter_and_a_timed_step_for_its_time() {
    let mut h = Harness::start(&format!(
        r#"{HEAD}
[[step]]
title = "one"
narration = "n"
manual = true
actions = [{{ do = "start_orders" }}]
[[step]]
title = "two"
narration = "n"
at = "90s"
"#
    ));
    h.waiting(0).await;
    let before = h.engine.clock.now_ms();
    h.advance();
    h.started(0).await;
    h.started(1).await;
    assert!(h.engine.clock.now_ms() - before >= 90_000, "the `at` gate held the step until 90 s");
    let r = h.report().await;
    assert_eq!(r.aborted, None);
}

#[tokio::test(start_paused = true)]
async fn a_when_gate_reads_the_projection_and_actions_reach_the_runtime_and_engine() {
    let mut h = Harness::start(&format!(
        r#"{HEAD}
[[step]]
title = "start"
narration = "n"
actions = [{{ do = "start_orders", count = 2 }}]
[[step]]
title = "stuck"
narration = "n"
when = {{ retrying = 2 }}
actions = [{{ do = "retry_now", orders = "retrying" }}, {{ do = "kill", pod = "worker" }}, {{ do = "deploy", pod = "payment", version = "v2-fixed" }}]
[[step]]
title = "rest"
narration = "n"
actions = [{{ do = "start_orders" }}, {{ do = "signal", name = "approve", orders = [3] }}, {{ do = "cancel", orders = [1] }}, {{ do = "wait", for = "5s" }}]
[[step]]
title = "end"
narration = "n"
actions = [{{ do = "wait", until = {{ completed = 2 }}, timeout = "1m" }}]
[[expect]]
check = "none_lost"
"#
    ));
    h.started(1 - 1).await;
    h.until("two orders started", |e| matches!(e, RunEvent::Action { text, ok: true, .. } if text.contains("start"))).await;
    let (a, b) = (h.order(0), h.order(1));
    for id in [&a, &b] {
        h.engine.push(id, history::scheduled(2, "charge_payment"));
        h.engine.push(id, history::failed(2, 1, "HTTP 500", Some(T0 + 600_000)));
    }
    h.started(1).await;
    h.started(2).await;
    h.started(3).await;
    // Complete two orders; the last step waits on that count.
    for id in [&a, &b] {
        h.engine.push(id, history::completed());
    }
    let (c, engine, rt) = (h.order(2), h.engine.clone(), h.rt.clone());
    let r = h.report().await;
    let calls = engine.calls();
    assert_eq!(calls[..2], [format!("start {a}"), format!("start {b}")]);
    assert!(calls.contains(&format!("retry_now {a} 2")) && calls.contains(&format!("retry_now {b} 2")), "{calls:?}");
    assert!(calls.contains(&format!("start {c}")) && calls.contains(&format!("signal approve {c}")) && calls.contains(&format!("cancel {a}")), "{calls:?}");
    assert!(!calls.contains(&format!("terminate {c}")), "leftovers are kept unless asked");
    assert_eq!(rt.calls(), vec![("worker".to_string(), PodAction::Kill), ("payment".to_string(), PodAction::Deploy { version: "v2-fixed".into() })]);
    assert_eq!(r.aborted, None, "{:?}", r.timeline);
    assert_eq!(r.expectations[0].verdict, Verdict::Passed, "{}", r.expectations[0].measured);
    assert_eq!(r.expectations[0].measured, "0 of 3 lost");
    assert_eq!(r.verdict, Verdict::Passed);
    assert_eq!((r.counts.completed, r.counts.running, r.counts.retries_seen), (2, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_condition_that_never_holds_times_out_and_judges_nothing() {
    let mut h = Harness::start(&format!(
        r#"{HEAD}
[[step]]
title = "start"
narration = "n"
actions = [{{ do = "start_orders" }}]
[[step]]
title = "never"
narration = "n"
when = {{ completed = 3 }}
timeout = "40s"
[[expect]]
check = "none_failed"
"#
    ));
    h.started(0).await;
    let r = h.report().await;
    let why = r.aborted.clone().unwrap_or_default();
    assert!(why.contains("step 2 (never): timed out waiting for when completed >= 3"), "{why}");
    assert_eq!(r.verdict, Verdict::Failed);
    assert_eq!(r.expectations[0].verdict, Verdict::NotEvaluated, "{}", r.expectations[0].measured);
}

#[tokio::test(start_paused = true)]
async fn the_presenter_aborts_a_pod_action_in_flight() {
    let mut h = Harness::start(&format!(
        r#"{HEAD}
[[step]]
title = "kill"
narration = "n"
actions = [{{ do = "start_orders" }}, {{ do = "stop", pod = "worker" }}]
[[expect]]
check = "none_failed"
"#
    ));
    h.rt.hold("worker");
    h.started(0).await;
    h.handle.commands.send(RunCommand::Abort).unwrap();
    let r = h.report().await;
    assert_eq!(r.verdict, Verdict::NotEvaluated);
    assert!(r.aborted.as_deref().unwrap_or("").contains("aborted by the presenter"), "{:?}", r.aborted);
    assert!(r.expectations[0].measured.contains("aborted by the presenter after 0 of 1 steps"), "{}", r.expectations[0].measured);
}

#[tokio::test(start_paused = true)]
async fn quitting_before_the_first_step_is_not_a_failure() {
    let mut h = Harness::start(&format!(
        r#"{HEAD}
[[step]]
title = "go"
narration = "n"
manual = true
actions = [{{ do = "start_orders" }}]
[[expect]]
check = "all_completed"
"#
    ));
    h.waiting(0).await;
    h.handle.commands.send(RunCommand::Abort).unwrap();
    let r = h.report().await;
    assert_eq!(r.verdict, Verdict::NotEvaluated);
    assert_eq!(r.expectations[0].verdict, Verdict::NotEvaluated);
}

#[tokio::test(start_paused = true)]
async fn a_failed_setup_says_why() {
    let mut h = Harness::start(&format!(
        r#"{HEAD}
[setup]
versions = {{ payment = "v2-fixed" }}
[[step]]
title = "go"
narration = "n"
actions = [{{ do = "start_orders" }}]
"#
    ));
    h.rt.fail_next("payment", "127.0.0.1:8082 is already in use");
    let e = h.until("setup fails", |e| matches!(e, RunEvent::SetupFailed { .. })).await;
    let RunEvent::SetupFailed { cause, .. } = e else { unreachable!() };
    assert!(cause.contains("127.0.0.1:8082 is already in use"), "{cause}");
    let r = h.report().await;
    assert_eq!(r.verdict, Verdict::Failed);
}

#[tokio::test(start_paused = true)]
async fn the_runs_own_deadline_stops_a_story_that_overruns() {
    let mut h = Harness::start(
        r#"
title = "t"
description = "d"
timeout = "1m"
[workload]
orders = 1
seed = 7
[[step]]
title = "long"
narration = "n"
actions = [{ do = "start_orders" }, { do = "wait", for = "9m" }]
"#,
    );
    h.started(0).await;
    let r = h.report().await;
    let why = r.aborted.unwrap_or_default();
    assert!(why.contains("the run's timeout passed"), "{why}");
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_is_the_projection_the_dashboard_would_show() {
    let mut h = Harness::start(&format!(
        r#"{HEAD}
[[step]]
title = "start"
narration = "n"
actions = [{{ do = "start_orders", count = 1 }}]
[[step]]
title = "retry"
narration = "n"
when = {{ retrying = 1 }}
"#
    ));
    h.started(0).await;
    let a = h.order(0);
    h.engine.push(&a, history::scheduled(2, "charge_payment"));
    h.engine.push(&a, history::failed(2, 1, "HTTP 500", Some(T0 + 600_000)));
    h.started(1).await;
    let counts = h.handle.snapshot.borrow().projection.counts();
    assert_eq!((counts.running, counts.retrying, counts.in_backoff), (1, 1, 1));
    // The dashboard, given the run's orders, folds the same stream to the same counts.
    let mut app = crate::dashboard::App::new(crate::dashboard::AppOptions { orders: Some(h.handle.orders.clone()), ..Default::default() }, T0);
    let mut s = Stream::new(T0);
    app.store.apply_stream(s.ev("leftover-from-an-earlier-run", history::started(None)), T0);
    for kind in [history::started(None), history::scheduled(2, "charge_payment"), history::failed(2, 1, "HTTP 500", Some(T0 + 600_000))] {
        app.store.apply_stream(s.ev(&a, kind), T0);
    }
    assert_eq!(app.store.counts(), counts);
    let _ = h.report().await;
}

const EVERY_POD_ACTION: &str = r#"
[[step]]
title = "all"
narration = "n"
actions = [
  { do = "start_orders" },
  { do = "stop", pod = "worker" }, { do = "start", pod = "worker" },
  { do = "pause", pod = "payment" }, { do = "unpause", pod = "payment" },
  { do = "disconnect", pod = "worker" }, { do = "reconnect", pod = "worker" },
  { do = "restart", pod = "payment" }, { do = "kill", pod = "engine" }, { do = "start", pod = "engine" },
  { do = "deploy", pod = "payment", version = "v2-fixed" },
]
"#;

#[tokio::test(start_paused = true)]
async fn every_pod_action_reaches_the_runtime_in_order() {
    let h = Harness::start(&format!("{HEAD}{EVERY_POD_ACTION}"));
    let rt = h.rt.clone();
    let r = h.report().await;
    assert_eq!(r.aborted, None);
    let calls: Vec<String> = rt.calls().iter().map(|(p, a)| format!("{} {p}", a.describe())).collect();
    assert_eq!(
        calls,
        [
            "stop worker", "start worker", "pause payment", "unpause payment", "disconnect worker", "reconnect worker",
            "restart payment", "kill engine", "start engine", "deploy v2-fixed payment",
        ]
    );
    let texts: Vec<&str> = r.timeline.iter().map(|t| t.text.as_str()).filter(|t| t.starts_with("pod ") && t.ends_with("is back (3 orders open)")).collect();
    assert_eq!(texts.len(), 6, "start, unpause, reconnect, restart, start and deploy bring a pod back: {texts:?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_pod_action_stops_the_story_and_says_why() {
    let h = Harness::start(&format!("{HEAD}{EVERY_POD_ACTION}"));
    let rt = h.rt.clone();
    rt.fail_next("payment", "the container is gone");
    let r = h.report().await;
    let calls: Vec<String> = rt.calls().iter().map(|(p, a)| format!("{} {p}", a.describe())).collect();
    assert_eq!(calls, ["stop worker", "start worker", "pause payment"], "nothing runs after the failure");
    let why = r.aborted.unwrap_or_default();
    assert!(why.contains("pause payment failed") && why.contains("the container is gone"), "{why}");
    assert_eq!(r.verdict, Verdict::Failed);
}

// Link faults: healed by themselves after `for`, by `heal`, and always at the end of a run.

const LINKS_HEAD: &str = r#"
title = "t"
description = "d"
timeout = "10m"
[workload]
orders = 1
seed = 7
[[step]]
title = "faults"
narration = "n"
actions = [{ do = "start_orders" }, { do = "latency", link = "worker->payment", latency = "3s", for = "30s" }, { do = "partition", link = "worker->engine" }]
"#;

#[tokio::test(start_paused = true)]
async fn a_fault_heals_itself_after_its_for_and_the_rest_when_the_run_ends() {
    let mut h = Harness::start_on(
        FakeRuntime::with_proxy(),
        &format!("{LINKS_HEAD}[[step]]\ntitle = \"later\"\nnarration = \"n\"\nafter = \"60s\"\n"),
    );
    h.started(0).await;
    let t0 = h.engine.clock.now_ms();
    let fault = h.until("the fault", |e| matches!(e, RunEvent::Action { text, .. } if text == "latency 3s on worker->payment for 30s")).await;
    let RunEvent::Action { ok: true, detail: Some(detail), .. } = fault else { panic!("{fault:?}") };
    assert!(detail.contains("heals itself in 30s") && detail.contains("curl -sX POST http://127.0.0.1:8474/proxies/worker-%3Epayment/toxics"), "{detail}");
    h.until("the self-heal", |e| matches!(e, RunEvent::Action { text, .. } if text == "latency on worker->payment healed itself")).await;
    let healed_after = h.engine.clock.now_ms() - t0;
    assert!((30_000..31_000).contains(&healed_after), "healed after {healed_after} ms");
    assert_eq!(h.rt.faults().keys().collect::<Vec<_>>(), ["worker->engine"], "the partition has no `for`: still on");
    let rt = h.rt.clone();
    let r = h.report().await;
    assert_eq!(r.aborted, None);
    assert!(rt.faults().is_empty(), "the end of the run healed the partition: {:?}", rt.faults());
    assert_eq!(rt.link_calls(), ["latency 3s worker->payment", "partition worker->engine", "heal latency worker->payment", "heal worker->engine"]);
    assert!(r.timeline.iter().any(|t| t.text.contains("healing the links this run left faulted: worker->engine (partition)")), "{:?}", r.timeline);
}

const NETEM: &str = r#"
title = "t"
description = "d"
timeout = "10m"
[workload]
orders = 1
seed = 7
[[step]]
title = "netem"
narration = "n"
actions = [{ do = "start_orders" }, { do = "netem", link = "worker->payment", latency = "100ms", loss = "5%" }]
"#;

#[tokio::test(start_paused = true)]
async fn netem_goes_on_the_pod_and_comes_off_at_the_end_of_the_run() {
    let h = Harness::start_on(FakeRuntime::with_proxy(), NETEM);
    let rt = h.rt.clone();
    let r = h.report().await;
    assert_eq!(r.aborted, None);
    assert!(rt.faults().is_empty(), "{:?}", rt.faults());
    assert_eq!(rt.link_calls(), ["netem 100ms loss 5% worker->payment", "heal netem worker->payment", "heal worker->payment"]);
}

#[tokio::test(start_paused = true)]
async fn netem_on_a_kernel_without_it_is_skipped_with_the_reason_and_the_run_goes_on() {
    let mut h = Harness::start_on(FakeRuntime::with_proxy().without_netem("netem unavailable on this kernel"), NETEM);
    h.until("the probe's note", |e| matches!(e, RunEvent::Note { text, .. } if text.starts_with("netem: available"))).await;
    let step = h.until("the netem step", |e| matches!(e, RunEvent::Action { text, .. } if text.starts_with("netem 100ms"))).await;
    let RunEvent::Action { ok: true, detail: Some(detail), .. } = step else { panic!("{step:?}") };
    assert!(detail.starts_with("skipped: netem unavailable on this kernel"), "{detail}");
    let rt = h.rt.clone();
    let r = h.report().await;
    assert_eq!(r.aborted, None);
    assert_eq!(rt.link_calls(), Vec::<String>::new(), "nothing to heal: netem never went on");
}

#[tokio::test(start_paused = true)]
async fn an_aborted_run_heals_every_fault_it_made_and_cancels_pending_self_heals() {
    let mut h = Harness::start_on(FakeRuntime::with_proxy(), &format!("{LINKS_HEAD}[[step]]\ntitle = \"stop\"\nnarration = \"n\"\nmanual = true\n"));
    h.waiting(1).await;
    assert_eq!(h.rt.faults().len(), 2);
    h.handle.commands.send(RunCommand::Abort).unwrap();
    let rt = h.rt.clone();
    let r = h.report().await;
    assert!(r.aborted.is_some());
    assert!(rt.faults().is_empty(), "{:?}", rt.faults());
    assert_eq!(rt.link_calls(), ["latency 3s worker->payment", "partition worker->engine", "heal worker->engine", "heal worker->payment"]);
}

#[tokio::test(start_paused = true)]
async fn a_step_that_times_out_still_heals_and_heal_lifts_one_link() {
    let mut h = Harness::start_on(
        FakeRuntime::with_proxy(),
        &format!("{LINKS_HEAD}[[step]]\ntitle = \"heal\"\nnarration = \"n\"\nactions = [{{ do = \"heal\", link = \"worker->payment\" }}]\n[[step]]\ntitle = \"never\"\nnarration = \"n\"\nwhen = {{ completed = 1 }}\ntimeout = \"1m\"\n"),
    );
    h.started(1).await;
    let rt = h.rt.clone();
    let r = h.report().await;
    assert!(r.aborted.as_deref().unwrap_or("").contains("timed out"), "{:?}", r.aborted);
    assert!(rt.faults().is_empty());
    let calls = rt.link_calls();
    assert_eq!(calls[2], "heal worker->payment");
    assert_eq!(calls.last().map(String::as_str), Some("heal worker->engine"));
    assert_eq!(calls.len(), 4, "the healed link is not healed twice, the pending self-heal is cancelled: {calls:?}");
}
