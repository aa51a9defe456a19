//! Tests of the pure app and of the drawing: a recorded event stream (tests/fixtures/orders.jsonl)
//! is fed into [`App`] with a controlled clock, then checked field by field and rendered on a
//! `TestBackend` for insta snapshots at 100x30 and 200x60.

use std::time::{Duration, UNIX_EPOCH};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faultline_proto::StreamEvent;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

use super::app::{App, AppOptions, EngineLink, NoticeState, Overlay, Panel};
use super::event::{ActionRequest, AppEvent};
use super::link::{ScenarioEvent, StepInfo};
use crate::projection::ActivityState;
use super::theme::ThemeName;
use crate::runtime::{Health, LogLine, PodState, PodStatus, RebuildStage};

const FIXTURE: &str = include_str!("../../tests/fixtures/orders.jsonl");
/// 2025-11-25T12:00:00Z, the start of the recording.
const T0: i64 = 1_764_072_000_000;
/// "Now" in the snapshots: 12.5 s into the recording.
const NOW: i64 = T0 + 12_500;

pub(crate) fn recorded_stream() -> Vec<StreamEvent> {
    FIXTURE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("fixture line {}: {e}", i + 1)))
        .collect()
}

fn key(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn pod(name: &str, version: &str, state: PodState, health: Health, restarts: u32, up_s: u64) -> PodStatus {
    PodStatus {
        name: name.into(),
        version: version.into(),
        state,
        health,
        restarts,
        started_at: Some(UNIX_EPOCH + Duration::from_millis((NOW as u64).saturating_sub(up_s * 1000))),
        exit_code: None,
        image_id: None,
    }
}

/// The app after the recorded stream, with pods, logs and a scenario, at `NOW`.
fn demo_app(theme: ThemeName) -> App {
    let opts = AppOptions { theme, runtime: crate::runtime::describe_offline(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml"), &crate::runtime::Project::default(), crate::runtime::RuntimeKind::Docker).ok(), ..AppOptions::default() };
    let mut app = App::new(opts, T0);
    for se in recorded_stream() {
        app.update(AppEvent::Stream(se));
    }
    for p in [
        pod("engine", "latest", PodState::Running, Health::Healthy, 0, 95),
        pod("inventory", "latest", PodState::Running, Health::Healthy, 0, 94),
        pod("payment", "v1-bugged", PodState::Running, Health::Healthy, 2, 31),
        pod("shipping", "latest", PodState::Running, Health::Healthy, 0, 94),
        pod("notification", "latest", PodState::Paused, Health::Unknown, 0, 94),
        pod("worker", "latest", PodState::Running, Health::Unknown, 0, 90),
    ] {
        app.update(AppEvent::Pod(p));
    }
    for (i, (p, l)) in [
        ("worker", "INFO order-1002 charge_payment attempt 3 failed: payment returned 500"),
        ("payment", "ERROR rounding error converting the amount to cents: 49.99 EUR"),
        ("inventory", "INFO reserved TV-1 x1 for order-1005 (key r-1005:1)"),
        ("shipping", "INFO label LBL-1005 created for order-1005"),
        ("worker", "INFO order-1005 waiting for signal 'approve'"),
    ]
    .into_iter()
    .enumerate()
    {
        app.update(AppEvent::Log(LogLine { pod: p.into(), at: UNIX_EPOCH + Duration::from_millis((T0 + i as i64 * 1000) as u64), line: l.into() }));
    }
    app.update(AppEvent::Scenario(ScenarioEvent::Loaded {
        title: "bugged-pod".into(),
        description: "Payment v1 has a rounding bug: orders pile up retrying, none is lost.".into(),
        steps: vec![
            StepInfo { title: "Start 20 orders".into(), trigger: "at 0s".into() },
            StepInfo { title: "Watch the retries".into(), trigger: "when 3 workflows are retrying".into() },
            StepInfo { title: "Deploy payment v2-fixed".into(), trigger: "manual (space)".into() },
            StepInfo { title: "Every order completes".into(), trigger: "when all completed".into() },
        ],
    }));
    app.update(AppEvent::Scenario(ScenarioEvent::StepStarted { index: 0, narration: "Twenty orders enter the system.".into() }));
    app.update(AppEvent::Scenario(ScenarioEvent::StepStarted {
        index: 1,
        narration: "Payment v1 fails some charges: the engine retries them with backoff, nothing is lost.".into(),
    }));
    app.update(AppEvent::Scenario(ScenarioEvent::Expectation { name: "none failed".into(), verdict: None, measured: "1 failed (card declined)".into() }));
    app.update(AppEvent::Pollers {
        task_queue: "orders".into(),
        pollers: vec![faultline_proto::PollerInfo { worker: "order-worker:7".into(), task_queue: "orders".into(), kind: "workflow".into(), last_poll_at_ms: NOW }],
    });
    app.update(AppEvent::Tick { now_ms: NOW });
    app
}

fn select(app: &mut App, workflow_id: &str) {
    app.selected_wf = Some(workflow_id.to_string());
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    term.draw(|f| super::ui::draw(f, app)).expect("draw");
    term
}

/// The screen `app` draws at `w`x`h`, as text (one line per row).
pub(super) fn screen(app: &App, w: u16, h: u16) -> String {
    screen_text(&render(app, w, h))
}

fn screen_text(term: &Terminal<TestBackend>) -> String {
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
fn recorded_stream_folds_into_counts_statuses_retries_and_timers() {
    let mut app = demo_app(ThemeName::Dark);
    let c = app.store.counts();
    assert_eq!(app.store.len(), 8, "5 orders and 3 shipments");
    // Counts are per order (a shipment counts for its order); retrying orders are running.
    assert_eq!((c.started, c.running, c.retrying, c.completed, c.failed, c.canceled), (5, 3, 1, 1, 1, 0));
    assert_eq!((c.on_timer, c.in_backoff, c.timers_pending), (2, 1, 2), "order-1004 waits on its shipment's timer");
    assert_eq!(app.store.total_events, 175);

    let stuck = app.store.get("order-1002").expect("order-1002");
    let charge = stuck.activities.get(&2).expect("charge_payment pending");
    assert_eq!((charge.state, charge.attempt, charge.max_attempts), (ActivityState::Backoff, 4, 10));
    assert_eq!(charge.next_retry_at_ms, Some(T0 + 15_185));
    assert!(charge.last_failure.as_deref().unwrap_or("").contains("rounding error"));
    assert_eq!(stuck.step, crate::projection::Step::Activity { activity_type: "charge_payment".into() });

    let failed = app.store.get("order-1003").expect("order-1003");
    assert_eq!(failed.status, faultline_proto::WorkflowStatus::Failed);
    assert!(failed.activities.is_empty(), "a final failure leaves nothing pending");

    let done = app.store.get("order-1001").expect("order-1001");
    assert_eq!(done.signals, vec!["approve".to_string()]);
    assert_eq!(done.children.len(), 1);
    assert_eq!(done.children[0].status, Some(faultline_proto::WorkflowStatus::Completed));
    assert!(done.timers.is_empty(), "the approval timeout was canceled by the signal");

    let shipment = app.store.get("order-1004/3").expect("order-1004/3");
    assert_eq!(shipment.parent.as_deref(), Some("order-1004"));
    let timer = shipment.timers.values().next().expect("courier pickup timer");
    assert_eq!(timer.fire_at_ms - timer.started_at_ms, 30_000);

    // What the screen shows for the stuck order: attempt 4/10, the failure, the countdown.
    select(&mut app, "order-1002");
    let text = screen_text(&render(&app, 100, 30));
    assert!(text.contains("attempt 4/10"), "{text}");
    assert!(text.contains("retry in 2.6s"), "{text}");
    assert!(text.contains("3 running"), "{text}");
    assert!(text.contains("1 retrying"), "{text}");
    // Two seconds later the countdown moved; past the retry time it says so.
    app.update(AppEvent::Tick { now_ms: NOW + 2_000 });
    assert!(screen_text(&render(&app, 100, 30)).contains("retry in 0.6s"));
    app.update(AppEvent::Tick { now_ms: NOW + 3_000 });
    assert!(screen_text(&render(&app, 100, 30)).contains("retry due"));

    // The shipment's courier timer: 30 s, started at +9.194 s.
    app.update(AppEvent::Tick { now_ms: NOW });
    select(&mut app, "order-1004/3");
    let text = screen_text(&render(&app, 100, 30));
    assert!(text.contains("fires in 27s"), "{text}");
    assert!(text.contains("order-1004 Order running"), "parent shown in the tree: {text}");
}

#[test]
fn replays_and_backfills_are_idempotent() {
    let mut app = demo_app(ThemeName::Dark);
    let before = (app.store.counts(), app.store.total_events);
    for se in recorded_stream() {
        app.update(AppEvent::Stream(se));
    }
    assert_eq!((app.store.counts(), app.store.total_events), before, "a replayed cursor is ignored");
    let events: Vec<_> = recorded_stream().into_iter().filter(|s| s.workflow_id == "order-1001").map(|s| s.event).collect();
    app.update(AppEvent::History { workflow_id: "order-1001".into(), run_id: "r-1001".into(), workflow_type: "Order".into(), events });
    assert_eq!((app.store.counts(), app.store.total_events), before, "a backfill of known events changes nothing");
}

#[test]
fn keys_produce_actions_with_their_equivalent_commands() {
    let mut app = demo_app(ThemeName::Dark);
    select(&mut app, "order-1002");
    let reqs = app.update(key('r'));
    assert!(matches!(&reqs[..], [ActionRequest::RetryNow { workflow_id, seq: 2, .. }] if workflow_id == "order-1002"), "{reqs:?}");
    let n = app.notices.back().expect("confirmation");
    assert_eq!(n.command, "curl -X POST http://127.0.0.1:7233/api/v1/workflows/order-1002/activities/2/retry-now");
    let id = n.id;
    app.update(AppEvent::ActionDone { id, result: Err("engine answered 404 (not_found)".into()) });
    assert!(screen_text(&render(&app, 100, 30)).contains("failed: engine answered 404"));

    assert!(matches!(&app.update(key('a'))[..], [ActionRequest::Signal { name, .. }] if name == "approve"));
    // Nothing to retry on a completed workflow: explained, no request.
    select(&mut app, "order-1001");
    assert!(app.update(key('r')).is_empty());

    // Pods: focus with Tab, move down to payment, deploy the fixed build.
    app.update(code(KeyCode::Tab));
    app.update(code(KeyCode::Tab));
    assert_eq!(app.focus, Panel::Pods);
    app.update(key('j'));
    app.update(key('j'));
    let reqs = app.update(key('f'));
    assert!(matches!(&reqs[..], [ActionRequest::Pod { pod, action: crate::runtime::PodAction::Deploy { version }, .. }] if pod == "payment" && version == "v2-fixed"), "{reqs:?}");
    // Paused notification pod: `p` unpauses.
    app.update(key('j'));
    app.update(key('j'));
    assert!(matches!(&app.update(key('p'))[..], [ActionRequest::Pod { action: crate::runtime::PodAction::Unpause, .. }]));

    // `n` starts a real demo order: the input decodes as the Order workflow's input.
    let reqs = app.update(key('n'));
    let [ActionRequest::StartOrder { workflow_id, workflow_type, input, .. }] = &reqs[..] else { panic!("{reqs:?}") };
    let order: faultline_demo::order::OrderInput = serde_json::from_value(input.clone()).expect("an OrderInput");
    assert_eq!((workflow_id.as_str(), workflow_type.as_str()), (order.workflow_id().as_str(), "Order"));
    assert!(app.notices.back().is_some_and(|n| n.command.starts_with("curl -X POST") && n.command.contains("/api/v1/workflows")));

    assert_eq!(app.update(key(' ')), vec![ActionRequest::ScenarioAdvance]);
    // Quit asks about the pods when a runtime is in use.
    assert!(app.update(key('q')).is_empty());
    assert_eq!(app.overlay, Overlay::Quit);
    assert_eq!(app.update(key('n')), vec![ActionRequest::Quit { leave_pods_running: false }]);
    assert!(app.quit);
}

#[test]
fn status_filter_and_text_filter_narrow_the_list() {
    let mut app = demo_app(ThemeName::Dark);
    app.update(key('f'));
    assert_eq!(app.visible_workflows().len(), 4, "running includes retrying");
    app.update(key('f'));
    assert_eq!(app.visible_workflows().len(), 1);
    app.update(key('f'));
    app.update(key('f'));
    let failed = app.visible_workflows();
    assert_eq!(app.store.runs()[failed[0]].workflow_id, "order-1003");
    app.update(key('f'));
    app.update(key('/'));
    for c in "ship".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    assert_eq!(app.visible_workflows().len(), 3, "the Shipment children");
}

#[test]
fn redraws_only_on_change_or_visible_countdown() {
    let mut app = demo_app(ThemeName::Dark);
    select(&mut app, "order-1003");
    app.take_dirty();
    assert!(!app.animating(), "a failed workflow has no countdown");
    app.update(AppEvent::Tick { now_ms: NOW + 100 });
    assert!(!app.take_dirty(), "same second, nothing moves");
    select(&mut app, "order-1002");
    assert!(app.animating());
    app.update(AppEvent::Tick { now_ms: NOW + 200 });
    assert!(app.take_dirty());
}

fn snap(name: &str, term: &Terminal<TestBackend>) {
    insta::with_settings!({ snapshot_path => "snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, screen_text(term));
    });
}

#[test]
fn snapshot_main_100x30() {
    let mut app = demo_app(ThemeName::Dark);
    select(&mut app, "order-1002");
    snap("main_100x30", &render(&app, 100, 30));
}

#[test]
fn snapshot_main_200x60() {
    let mut app = demo_app(ThemeName::Dark);
    select(&mut app, "order-1002");
    snap("main_200x60", &render(&app, 200, 60));
}

#[test]
fn snapshot_child_tree_full_history_200x60() {
    let mut app = demo_app(ThemeName::Dark);
    select(&mut app, "order-1001");
    app.update(code(KeyCode::Enter));
    app.update(key('v'));
    snap("history_full_200x60", &render(&app, 200, 60));
    app.update(key('k'));
    app.update(code(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::Json);
    snap("event_json_100x30", &render(&app, 100, 30));
}

#[test]
fn snapshot_help_100x30() {
    let mut app = demo_app(ThemeName::Dark);
    app.update(key('?'));
    snap("help_100x30", &render(&app, 100, 30));
}

#[test]
fn snapshot_unavailable_parts_100x30() {
    let opts = AppOptions { runtime: crate::runtime::describe_offline(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml"), &crate::runtime::Project::default(), crate::runtime::RuntimeKind::Docker).ok(), ..AppOptions::default() };
    let mut app = App::new(opts, NOW);
    for se in recorded_stream() {
        app.update(AppEvent::Stream(se));
    }
    app.update(AppEvent::Pollers { task_queue: "orders".into(), pollers: vec![] });
    app.update(AppEvent::PodsUnavailable("cannot connect to /var/run/docker.sock".into()));
    assert!(screen_text(&render(&app, 100, 30)).contains("no worker polling"));
    app.update(AppEvent::EngineUnreachable { error: "connection refused".into(), retry_in_ms: 2_000 });
    app.update(AppEvent::Tick { now_ms: NOW + 500 });
    assert_eq!(app.engine, EngineLink::Unreachable { error: "connection refused".into(), retry_at_ms: NOW + 2_000 });
    snap("unavailable_100x30", &render(&app, 100, 30));
}

#[test]
fn snapshot_light_theme_100x30_paints_every_cell() {
    let mut app = demo_app(ThemeName::Light);
    select(&mut app, "order-1004/3");
    let term = render(&app, 100, 30);
    snap("light_100x30", &term);
    let buf = term.backend().buffer();
    let dark_bg = buf.content.iter().filter(|c| c.bg == Color::Black || c.bg == Color::Reset).count();
    assert_eq!(dark_bg, 0, "the light theme paints its own background everywhere");
}

#[test]
fn snapshot_action_confirmed_with_command_100x30() {
    let mut app = demo_app(ThemeName::Dark);
    select(&mut app, "order-1002");
    app.update(key('r'));
    let id = app.notices.back().map(|n| n.id).unwrap_or(0);
    app.update(AppEvent::ActionDone { id, result: Ok(String::new()) });
    snap("action_confirmed_100x30", &render(&app, 100, 30));
    // Fifteen seconds later the command folds into one line again.
    app.update(AppEvent::Tick { now_ms: NOW + 15_000 });
    let text = screen_text(&render(&app, 100, 30));
    assert!(text.contains("✓ retry now order-1002 activity #2   $ curl -X POST"), "{text}");
}

#[test]
fn runner_events_map_to_the_scenario_panel() {
    use crate::scenario::runner::{RunEvent, StepInfo as RunnerStep};
    let plan = RunEvent::Plan {
        title: "fixed-pod".into(),
        description: "Deploy the fix while orders retry.".into(),
        steps: vec![RunnerStep { title: "Deploy v2".into(), narration: "Now the fix.".into(), gate: "presenter (space)".into(), manual: true, actions: vec![] }],
        orders: 5,
        speed: 1.0,
    };
    let mut app = App::new(AppOptions::default(), NOW);
    for e in [plan, RunEvent::Waiting { step: 0, text: "presenter (space)".into(), presenter: true }] {
        if let Some(se) = super::link::from_run_event(e) {
            app.update(AppEvent::Scenario(se));
        }
    }
    let sc = app.scenario.as_ref().expect("scenario shown");
    assert!(sc.waiting(), "a manual gate waits for the space bar");
    assert!(screen_text(&render(&app, 100, 30)).contains("space: next step"));
    let started = RunEvent::StepStarted { step: 0, at_ms: 10, title: "Deploy v2".into(), narration: "Now the fix.".into() };
    app.update(AppEvent::Scenario(super::link::from_run_event(started).expect("mapped")));
    assert!(screen_text(&render(&app, 100, 30)).contains("Now the fix."));
    let action = RunEvent::Action { step: 0, at_ms: 11, text: "deploy v2-fixed payment".into(), ok: true, detail: None };
    app.update(AppEvent::Scenario(super::link::from_run_event(action).expect("mapped")));
    assert!(app.notices.back().is_some_and(|n| n.text == "scenario: deploy v2-fixed payment" && n.state == NoticeState::Ok(String::new())));
}

#[test]
fn log_filter_is_case_insensitive_and_keeps_pod_colours() {
    let mut app = demo_app(ThemeName::Dark);
    app.focus = Panel::Logs;
    app.update(key('/'));
    for c in "ROUNDING".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    let shown = app.logs.tail(10);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].pod, "payment");
    assert_ne!(app.logs.color_of("payment"), app.logs.color_of("worker"), "one colour per pod");
    assert!(super::views::contains_ci("Order-1002", "order-10"));
    assert!(!super::views::contains_ci("order", "orders"));
}

#[test]
fn a_terminal_below_the_minimum_says_so() {
    let app = demo_app(ThemeName::Dark);
    let text = screen_text(&render(&app, 60, 20));
    assert!(text.contains("Terminal too small"), "{text}");
    assert!(text.contains("60x20 here; Faultline needs 80x24"), "{text}");
}

#[test]
fn rows_tell_orders_apart_and_children_follow_their_order() {
    let mut app = demo_app(ThemeName::Dark);
    select(&mut app, "order-1002");
    let text = screen_text(&render(&app, 100, 30));
    assert!(text.contains("Workflows 8 · order-…"), "the shared prefix is shown once: {text}");
    let rows: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix('┃')).map(|l| l.split_whitespace().next().unwrap_or("")).collect();
    let ids: Vec<&str> = rows.into_iter().filter(|r| r.starts_with("100") || r.starts_with("└100")).collect();
    assert_eq!(ids, ["1005", "└1005/3", "1004", "└1004/3", "1002", "1003", "1001", "└1001/3"]);
    assert!(text.contains("charge_payment #3: payment 500"), "history keeps the attempt and the failure: {text}");
}

#[test]
fn log_lines_lose_their_timestamps() {
    let mut app = demo_app(ThemeName::Dark);
    app.update(AppEvent::Log(crate::runtime::LogLine {
        pod: "engine".into(),
        at: std::time::SystemTime::UNIX_EPOCH,
        line: "2026-12-02T01:37:57.972411Z  WARN faultline_engine::api: no worker polling queue orders".into(),
    }));
    let text = screen_text(&render(&app, 100, 30));
    assert!(text.contains("engine    no worker polling queue orders"), "{text}");
    assert!(!text.contains("2026-12-02T01:37"), "{text}");
}

#[test]
fn a_setup_failure_shows_its_cause_in_the_narration_box_at_any_size() {
    let mut app = App::new(AppOptions::default(), NOW);
    app.update(AppEvent::Scenario(ScenarioEvent::Loaded { title: "bugged-pod".into(), description: "d".into(), steps: vec![] }));
    let cause = "127.0.0.1:7233 is already in use; stop it, or run beside it with --project NAME --port-offset N";
    app.update(AppEvent::Scenario(ScenarioEvent::SetupFailed { cause: cause.into() }));
    for (w, h) in [(100, 30), (200, 60)] {
        let text = screen_text(&render(&app, w, h));
        assert!(text.contains("127.0.0.1:7233 is already in use"), "{w}x{h}: {text}");
        assert!(text.contains("setup failed"), "{w}x{h}: {text}");
    }
}

#[test]
fn the_header_names_the_step_the_narration_belongs_to_and_failures_lead_with_their_code() {
    let mut app = App::new(AppOptions::default(), NOW);
    let steps = vec![StepInfo { title: "Orders arrive".into(), trigger: "presenter".into() }, StepInfo { title: "Retry now".into(), trigger: "presenter".into() }];
    app.update(AppEvent::Scenario(ScenarioEvent::Loaded { title: "bugged-pod".into(), description: "d".into(), steps }));
    app.update(AppEvent::Scenario(ScenarioEvent::StepStarted { index: 0, narration: "Six orders arrive.".into() }));
    app.update(AppEvent::Scenario(ScenarioEvent::Waiting { index: 1, text: "presenter (space)".into(), presenter: true }));
    let text = screen_text(&render(&app, 100, 30));
    assert!(text.contains("bugged-pod · step 1/2") && text.contains("▶ Orders arrive") && text.contains("Six orders arrive."), "{text}");
    assert_eq!(
        super::ui::history_key_words("payment failed (500 AmountMismatch): amount mismatch on order 6"),
        "500 AmountMismatch · amount mismatch on order 6"
    );
}

#[test]
fn link_faults_show_under_their_pod_and_l_x_toggle_them_with_their_curl() {
    use crate::runtime::{LinkFault, LinkStatus};
    let mut app = demo_app(ThemeName::Dark);
    app.update(code(KeyCode::Tab));
    app.update(code(KeyCode::Tab));
    assert_eq!(app.focus, Panel::Pods);
    app.update(key('j'));
    app.update(key('j'));
    // payment: `x` cuts the worker's link to it, echoed with the curl against the proxy.
    let reqs = app.update(key('x'));
    assert!(matches!(&reqs[..], [ActionRequest::LinkFault { link, fault: LinkFault::Partition, .. }] if link == "worker->payment"), "{reqs:?}");
    assert_eq!(app.notices.back().map(|n| n.command.as_str()), Some(r#"curl -sX POST http://127.0.0.1:8474/proxies/worker-%3Epayment -d '{"enabled":false}'"#));
    // The proxy reports the link cut and 3 s of latency: shown under payment; `x` and `l` lift them.
    let link = |name: &str, enabled: bool, toxics: &[&str]| LinkStatus { name: name.into(), enabled, toxics: toxics.iter().map(|t| t.to_string()).collect() };
    app.update(AppEvent::Links(vec![link("worker->engine", true, &[]), link("worker->payment", false, &["+3000ms"])]));
    // At 100x30 the fault takes the uptime cell (no pod is pushed out); at 200x60 it has a row.
    let text = screen_text(&render(&app, 100, 30));
    assert!(text.contains("payment      v1-bugged running ✓  cut…"), "{text}");
    assert!(!text.contains('↳'), "{text}");
    snap("link_faults_100x30", &render(&app, 100, 30));
    let text = screen_text(&render(&app, 200, 60));
    assert!(text.contains(" ↳ worker"), "{text}");
    assert!(text.contains("cut"), "{text}");
    assert!(text.contains("+3000ms"), "{text}");
    snap("link_faults_200x60", &render(&app, 200, 60));
    let reqs = app.update(key('x'));
    assert!(matches!(&reqs[..], [ActionRequest::HealLink { link, kind: "partition", .. }] if link == "worker->payment"), "{reqs:?}");
    assert_eq!(app.notices.back().map(|n| n.command.as_str()), Some(r#"curl -sX POST http://127.0.0.1:8474/proxies/worker-%3Epayment -d '{"enabled":true}'"#));
    let reqs = app.update(key('l'));
    assert!(matches!(&reqs[..], [ActionRequest::HealLink { kind: "latency", .. }]), "{reqs:?}");
    assert!(app.notices.back().is_some_and(|n| n.command.ends_with("/proxies/worker-%3Epayment/toxics/latency_downstream")));
    // The worker has no link into it: the key says which pods to select instead.
    app.update(key('j'));
    app.update(key('j'));
    app.update(key('j'));
    assert!(app.update(key('l')).is_empty());
    // No fault: the panel is as before.
    app.update(AppEvent::Links(vec![link("worker->payment", true, &[])]));
    assert!(!screen_text(&render(&app, 100, 30)).contains("cut"));
    assert!(!screen_text(&render(&app, 200, 60)).contains('↳'));
}

#[test]
fn a_rebuild_shows_its_stages_with_their_times_then_the_total() {
    let mut app = demo_app(ThemeName::Dark);
    for _ in 0..2 {
        app.update(code(KeyCode::Tab));
    }
    app.update(key('j'));
    app.update(key('j'));
    let reqs = app.update(key('R'));
    let [ActionRequest::RebuildAndRedeploy { id, pod, .. }] = &reqs[..] else { panic!("{reqs:?}") };
    let (id, pod) = (*id, pod.clone());
    assert_eq!(pod, "payment");
    let at = |app: &mut App, ms: i64| app.update(AppEvent::Tick { now_ms: NOW + ms });
    app.update(AppEvent::RebuildStage { id, stage: RebuildStage::Compile });
    at(&mut app, 10_400);
    app.update(AppEvent::RebuildStage { id, stage: RebuildStage::Image });
    at(&mut app, 10_900);
    let text = screen(&app, 100, 30);
    assert!(text.contains(" R payment ✓ compile 10.4s ▸ ● image 0.5s ▸ redeploy ▸ serving   10.9s"), "{text}");
    // A second R while it runs is refused, with the elapsed time; the stages stay in view
    // on the row below.
    assert!(app.update(key('R')).is_empty());
    let text = screen(&app, 100, 30);
    assert!(text.contains("a rebuild of payment is running (10s)"), "{text}");
    assert!(text.contains(" R payment ✓ compile 10.4s ▸ ● image 0.5s"), "{text}");
    app.update(AppEvent::RebuildStage { id, stage: RebuildStage::Redeploy });
    at(&mut app, 11_400);
    app.update(AppEvent::RebuildStage { id, stage: RebuildStage::Serving });
    at(&mut app, 13_500);
    // Its outcome is news again, whatever came after the key press.
    app.update(AppEvent::ActionDone { id, result: Ok("payment rebuilt and redeployed (v1-bugged)".into()) });
    let text = screen(&app, 100, 30);
    assert!(text.contains(" ✓ payment rebuilt and serving in 13.5s compile 10.4s · image 0.5s · redeploy 0.5s · serving 2.1s"), "{text}");
}

#[test]
fn a_failed_rebuild_names_the_stage_it_failed_at() {
    let mut app = demo_app(ThemeName::Dark);
    for _ in 0..2 {
        app.update(code(KeyCode::Tab));
    }
    let reqs = app.update(key('R'));
    let [ActionRequest::RebuildAndRedeploy { id, pod, .. }] = &reqs[..] else { panic!("{reqs:?}") };
    let (id, pod) = (*id, pod.clone());
    app.update(AppEvent::RebuildStage { id, stage: RebuildStage::Compile });
    app.update(AppEvent::Tick { now_ms: NOW + 4_000 });
    app.update(AppEvent::ActionDone { id, result: Err(format!("rebuild of {pod} failed: cargo build failed (exit status: 101)")) });
    let text = screen(&app, 100, 30);
    assert!(text.contains(&format!("✗ rebuild of {pod} failed: cargo build failed (exit status: 101) (4.0s at compile;")), "{text}");
}
