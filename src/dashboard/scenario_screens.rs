//! Snapshots of every shipped scenario at its key moments, at 100x30 (a projector) and
//! 200x60. Each screen is built from the real scenario file (its steps, narrations and
//! checks, through the runner's plan events) and from engine events shaped like the demo's
//! (`Order` with `ChargePayment` retries, the `Shipment` child and its courier timer, the
//! approval timer), with the ids the runner gives (`order-<scenario>-<tag>-<nnn>`).
//!
//! Each screen is also checked for what the issue asks of it: the orders tell apart, the
//! attempt numbers show, and the narration on screen is the narrated step's own.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use faultline_proto::{EventKind, Failure, PollerInfo};
use faultline_testkit::history::{self as h, Stream};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use serde_json::json;

use super::app::{App, AppOptions, EngineLink};
use super::event::AppEvent;
use super::link::from_run_event;
use crate::runtime::{Health, LogLine, PodState, PodStatus};
use crate::scenario::report::{ExpectationResult, Verdict};
use crate::scenario::runner::{step_infos, RunEvent};
use crate::scenario::{Context, Scenario};

const T0: i64 = 1_764_072_000_000;
const TAG: &str = "k3x9";
/// The approval timeout of the orders' input: what tells the approval timer apart.
const APPROVAL_MS: u64 = 120_000;
const BUG: &str = "payment failed (500 AmountMismatch): the order says 19.99 EUR, the charge would be 1998 cents";

fn load(name: &str) -> Scenario {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ctx = Context::from_compose(&root.join("docker-compose.yml")).expect("compose");
    crate::scenario::load(&root.join("scenarios").join(format!("{name}.toml")), &ctx).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A screen in the making: the app, the scenario, and the event stream of its orders.
struct Story {
    sc: Scenario,
    app: App,
    s: Stream,
    ids: Vec<String>,
}

impl Story {
    fn new(name: &str) -> Story {
        let sc = load(name);
        let ids: Vec<String> = (1..=sc.workload.orders).map(|n| format!("order-{name}-{TAG}-{n:03}")).collect();
        let opts = AppOptions { orders: Some(ids.clone()), ..AppOptions::default() };
        let mut app = App::new(opts, T0);
        let plan = RunEvent::Plan {
            title: sc.title.clone(),
            description: sc.description.clone(),
            steps: step_infos(&sc),
            orders: sc.workload.orders,
            speed: 1.0,
        };
        let expecting = RunEvent::Expecting { checks: sc.expectations.iter().map(|e| e.check.clone()).collect() };
        for e in [plan, expecting] {
            app.update(AppEvent::Scenario(from_run_event(e).expect("shown")));
        }
        let mut story = Story { sc, app, s: Stream::new(T0), ids };
        story.pods(&[]);
        story.app.update(AppEvent::EngineConnected);
        story.polling(true, 0);
        story
    }

    /// Every pod running (healthy), with the setup's versions and `changes` over them.
    fn pods(&mut self, changes: &[(&str, &str, PodState)]) {
        for name in ["engine", "inventory", "payment", "shipping", "notification", "worker"] {
            let mut version = self.sc.versions.get(name).cloned().unwrap_or_else(|| "latest".into());
            let mut state = PodState::Running;
            if let Some((_, v, s)) = changes.iter().find(|c| c.0 == name) {
                version = v.to_string();
                state = *s;
            }
            let health = if state == PodState::Running { Health::Healthy } else { Health::Unknown };
            let started_at = Some(UNIX_EPOCH + Duration::from_millis((T0 - 60_000) as u64));
            self.app.update(AppEvent::Pod(PodStatus { name: name.into(), version, state, health, restarts: 0, started_at, exit_code: None, image_id: None }));
        }
    }

    fn polling(&mut self, worker: bool, backlog: u64) {
        let pollers = if worker {
            vec![PollerInfo { worker: "order-worker:1".into(), task_queue: "orders".into(), kind: "activity".into(), last_poll_at_ms: T0 }]
        } else {
            Vec::new()
        };
        self.app.update(AppEvent::Pollers { task_queue: "orders".into(), pollers });
        self.app.update(AppEvent::Backlog { task_queue: "orders".into(), workflow_tasks: 0, activity_tasks: backlog });
    }

    fn at(&mut self, ms: i64) -> &mut Self {
        self.s.now_ms = T0 + ms;
        self
    }

    fn ev(&mut self, wf: &str, kind: EventKind) {
        let mut e = self.s.ev(wf, kind);
        if wf.contains('/') {
            e.workflow_type = "Shipment".into();
        }
        let now = self.s.now_ms;
        self.app.update(AppEvent::Tick { now_ms: now });
        self.app.update(AppEvent::Stream(e));
    }

    fn id(&self, n: usize) -> String {
        self.ids[n - 1].clone()
    }

    /// Order `n` starts and reserves its stock.
    fn start(&mut self, n: usize) {
        let id = self.id(n);
        let input = json!({ "order_id": format!("{TAG}-{n:03}"), "amount": "19.99", "timing": { "approval_timeout_ms": APPROVAL_MS } });
        let started = EventKind::WorkflowStarted {
            workflow_id: id.clone(),
            workflow_type: "Order".into(),
            task_queue: "orders".into(),
            input,
            options: Default::default(),
            parent: None,
            continued_from_run_id: None,
            random_seed: 1,
        };
        self.ev(&id, started);
        self.ev(&id, h::scheduled(1, "ReserveInventory"));
        self.ev(&id, h::attempt_started(1, 1));
        self.ev(&id, h::activity_completed(1, 1));
        self.ev(&id, h::scheduled(2, "ChargePayment"));
    }

    /// `attempts` charges of order `n` fail on the bug; the next waits for its backoff.
    fn charge_fails(&mut self, n: usize, from: u32, attempts: u32) {
        let id = self.id(n);
        for a in from..from + attempts {
            self.ev(&id, h::attempt_started(2, a));
            let retry_at = self.s.now_ms + 1000 * (1 << (a - 1).min(3));
            self.ev(&id, EventKind::ActivityFailed { seq: 2, attempt: a, failure: Failure::new(BUG), next_retry_at_ms: Some(retry_at) });
        }
    }

    /// The charge of order `n` goes through at `attempt`; the Shipment child starts.
    fn charged(&mut self, n: usize, attempt: u32) {
        let id = self.id(n);
        self.ev(&id, h::attempt_started(2, attempt));
        self.ev(&id, h::activity_completed(2, attempt));
        self.ev(&id, h::child_initiated(4, &format!("{id}/4")));
        let child = format!("{id}/4");
        self.ev(&child, h::started(Some(&id)));
        self.ev(&child, h::scheduled(1, "CreateShippingLabel"));
    }

    /// The approval wait of order `n` (over the threshold): its timer is the timeout.
    fn awaiting_approval(&mut self, n: usize) {
        let id = self.id(n);
        self.ev(&id, h::attempt_started(2, 1));
        self.ev(&id, h::activity_completed(2, 1));
        let fire = self.s.now_ms + APPROVAL_MS as i64;
        self.ev(&id, h::timer_started(3, APPROVAL_MS, fire));
    }

    /// The label of order `n`'s shipment fails `attempts` times (shipping is down).
    fn label_fails(&mut self, n: usize, attempts: u32) {
        let child = format!("{}/4", self.id(n));
        for a in 1..=attempts {
            self.ev(&child, h::attempt_started(1, a));
            let retry_at = self.s.now_ms + 2000;
            let failure = Failure::new("shipping unreachable: connection refused (shipping:8080)");
            self.ev(&child, EventKind::ActivityFailed { seq: 1, attempt: a, failure, next_retry_at_ms: Some(retry_at) });
        }
    }

    /// The shipment of order `n` gets its label and waits for the courier (a durable timer).
    fn courier_timer(&mut self, n: usize, label_attempt: u32) {
        let child = format!("{}/4", self.id(n));
        self.ev(&child, h::attempt_started(1, label_attempt));
        self.ev(&child, h::activity_completed(1, label_attempt));
        let fire = self.s.now_ms + 30_000;
        self.ev(&child, h::timer_started(2, 30_000, fire));
    }

    /// The shipment and order `n` complete.
    fn complete(&mut self, n: usize) {
        let id = self.id(n);
        let child = format!("{id}/4");
        self.ev(&child, EventKind::TimerFired { seq: 2 });
        self.ev(&child, h::completed());
        self.ev(&id, EventKind::ChildWorkflowCompleted { seq: 4, result: json!({}) });
        self.ev(&id, h::completed());
    }

    /// Steps before `step` ran; `step` started (its narration shows).
    fn step_started(&mut self, step: usize) {
        for i in 0..=step {
            let st = &self.sc.steps[i];
            let e = RunEvent::StepStarted { step: i, at_ms: i as u64 * 5000, title: st.title.clone(), narration: st.narration.clone() };
            self.app.update(AppEvent::Scenario(from_run_event(e).expect("shown")));
        }
    }

    /// Steps before `step` ran, and `step` waits for its condition with its waiting narration.
    fn step_waiting(&mut self, step: usize) {
        self.step_started(step - 1);
        let st = &self.sc.steps[step];
        let text = st.narration_waiting.clone().expect("a step with narration_waiting");
        let presenter = st.manual;
        for e in [RunEvent::Waiting { step, text: "when …".into(), presenter }, RunEvent::Narration { step, at_ms: 0, text }] {
            self.app.update(AppEvent::Scenario(from_run_event(e).expect("shown")));
        }
    }

    /// The run ended with every expectation met.
    fn finished(&mut self) {
        for e in &self.sc.expectations {
            let r = ExpectationResult { expectation: e.check.describe(), verdict: Verdict::Passed, measured: "as expected".into(), line: e.line };
            self.app.update(AppEvent::Scenario(from_run_event(RunEvent::Expectation(r)).expect("shown")));
        }
        let sc = super::link::ScenarioEvent::Finished { verdict: Verdict::Passed, race: None };
        self.app.update(AppEvent::Scenario(sc));
    }

    fn log(&mut self, pod: &str, line: &str) {
        self.app.update(AppEvent::Log(LogLine { pod: pod.into(), at: UNIX_EPOCH, line: line.into() }));
    }

    fn select(&mut self, n: usize) {
        self.app.selected_wf = Some(self.id(n));
    }

    /// Snapshots the screen at both sizes and checks it against the narrated step.
    fn shoot(&mut self, moment: &str, narration: &str, must_show: &[&str]) {
        self.app.update(AppEvent::Tick { now_ms: self.s.now_ms + 500 });
        for (w, hgt) in [(100, 30), (200, 60)] {
            let text = screen(&self.app, w, hgt);
            let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let words: Vec<&str> = narration.split_whitespace().collect();
            let head = words[..words.len().min(6)].join(" ");
            assert!(flat.contains(&head), "{moment} {w}x{hgt}: the narration of the step is on screen ({head}):\n{text}");
            // The projector's size must show every key fact; the large one has a column per
            // fact (`att`) and the long history lines (`attempt 3`).
            let facts: &[&str] = if w == 100 { must_show } else { &["attempt"] };
            for s in facts {
                assert!(text.contains(s), "{moment} {w}x{hgt}: `{s}` is on screen:\n{text}");
            }
            insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
                insta::assert_snapshot!(format!("{}_{moment}_{w}x{hgt}", self.sc.name), text);
            });
        }
    }
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| super::ui::draw(f, app)).expect("draw");
    let buf = term.backend().buffer();
    let mut s = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            s.push_str(buf[(x, y)].symbol());
        }
        s.push('\n');
    }
    s
}

#[test]
fn bugged_pod_key_moments() {
    let mut st = Story::new("bugged-pod");
    for n in 1..=6 {
        st.at(n as i64 * 500).start(n);
    }
    for n in 1..=6 {
        st.at(4_000 + n as i64 * 100).charge_fails(n, 1, 2 + (n as u32 % 2));
    }
    st.log("payment", "2026-12-02T01:37:57.972411Z ERROR payment: AmountMismatch: 19.99 EUR came to 1998 cents");
    st.step_started(1);
    st.select(3);
    let narration = st.sc.steps[1].narration.clone();
    st.shoot("piling_up", &narration, &["001", "002", "006", "ChargePayment ×3", "#3: 500 AmountMismatch", "15/24"]);

    for n in 1..=6 {
        st.at(20_000 + n as i64 * 100).charge_fails(n, 3 + (n as u32 % 2), 2);
    }
    st.step_waiting(3);
    let narration = st.sc.steps[3].narration_waiting.clone().unwrap_or_default();
    st.shoot("still_waiting", &narration, &["ChargePayment ×5", "#5: 500 AmountMismatch", "step 4/4"]);
}

#[test]
fn fixed_pod_key_moments() {
    let mut st = Story::new("fixed-pod");
    for n in 1..=6 {
        st.at(n as i64 * 500).start(n);
        st.charge_fails(n, 1, 3);
    }
    st.step_started(1);
    st.select(2);
    let narration = st.sc.steps[1].narration.clone();
    st.shoot("stuck", &narration, &["001", "006", "ChargePayment ×3", "v1-bugged"]);

    st.pods(&[("payment", "v2-fixed", PodState::Running)]);
    for n in 1..=3 {
        st.at(30_000 + n as i64 * 400).charged(n, 4);
        st.courier_timer(n, 1);
        st.complete(n);
    }
    st.step_waiting(3);
    st.select(4);
    let narration = st.sc.steps[3].narration_waiting.clone().unwrap_or_default();
    st.shoot("fix_live", &narration, &["v2-fixed", "3/6", "completed"]);

    for n in 4..=6 {
        st.at(40_000 + n as i64 * 400).charged(n, 4);
        st.courier_timer(n, 1);
        st.complete(n);
    }
    st.step_started(3);
    st.finished();
    let narration = st.sc.steps[3].narration.clone();
    st.shoot("all_completed", &narration, &["all expectations met", "6 completed"]);
}

#[test]
fn all_up_key_moments() {
    let mut st = Story::new("all-up");
    for n in 1..=st.ids.len() {
        st.at(n as i64 * 1000).start(n);
    }
    for n in 1..=st.ids.len() {
        if n % 3 == 0 {
            st.awaiting_approval(n);
        } else {
            st.charged(n, 1);
            st.courier_timer(n, 1);
        }
    }
    st.step_started(1);
    st.select(3);
    let narration = st.sc.steps[1].narration.clone();
    st.shoot("timers", &narration, &["awaiting approve", "timer 30s"]);
}

#[test]
fn pod_down_key_moments() {
    let mut st = Story::new("pod-down");
    st.pods(&[("shipping", "latest", PodState::Stopped)]);
    for n in 1..=4 {
        st.at(n as i64 * 500).start(n);
        st.charged(n, 1);
        st.label_fails(n, 2 + n as u32 % 2);
    }
    st.step_started(2);
    st.select(2);
    let narration = st.sc.steps[2].narration.clone();
    st.shoot("shipping_down", &narration, &["stopped", "×3", "└003/4"]);

    st.pods(&[("worker", "latest", PodState::Stopped)]);
    for n in 1..=4 {
        st.at(30_000 + n as i64 * 300).courier_timer(n, 4);
        st.complete(n);
    }
    for n in 5..=8 {
        st.at(40_000 + n as i64 * 500).start(n);
    }
    st.polling(false, 4);
    st.step_started(6);
    st.select(7);
    let narration = st.sc.steps[6].narration.clone();
    st.shoot("worker_down", &narration, &["no worker polling", "queue orders: 4 tasks", "4/8"]);
}

#[test]
fn engine_down_key_moments() {
    let mut st = Story::new("engine-down");
    for n in 1..=st.ids.len() {
        st.at(n as i64 * 500).start(n);
        st.charged(n, 1);
        st.courier_timer(n, 1);
    }
    st.step_started(2);
    st.pods(&[("engine", "latest", PodState::Exited)]);
    st.app.update(AppEvent::EngineUnreachable { error: "connection refused".into(), retry_in_ms: 1_500 });
    assert!(matches!(st.app.engine, EngineLink::Unreachable { .. }));
    st.select(1);
    let narration = st.sc.steps[2].narration.clone();
    st.shoot("engine_down", &narration, &["engine unreachable", "exited", "timer 30s"]);

    st.pods(&[]);
    st.app.update(AppEvent::EngineConnected);
    for n in 1..=st.ids.len() {
        st.at(60_000 + n as i64 * 200).complete(n);
    }
    st.step_started(4);
    st.finished();
    let narration = st.sc.steps[4].narration.clone();
    st.shoot("all_completed", &narration, &["all expectations met"]);
}
