//! The race view (`w`) on hand-made state: three orders on both sides, the twin's second one
//! stuck after the crash that lost its DispatchParcel task, the faults that fired on both
//! sides. Insta snapshots at 100x30 and 200x60 (the view, the witness of the lost task), and
//! the keys and the live check.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use faultline_proto::{EventKind, StreamEvent};
use faultline_testkit::history::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::{App, AppOptions, Overlay};
use super::event::{AppEvent, FeedEvent};
use super::link::ScenarioEvent;
use super::race::{FiredFault, RaceFocus};
use crate::checker::{AnomalyKind, Side};
use crate::runtime::{Health, PodState, PodStatus};

const T0: i64 = 1_764_072_000_000;
/// 30 s in: the twin's task, scheduled at +7.1 s, is past the checker's 8 s grace.
const NOW: i64 = T0 + 30_000;
const MAIN: [&str; 3] = ["order-race-k3x9-001", "order-race-k3x9-002", "order-race-k3x9-003"];
const TWIN: [&str; 3] = ["order-dw-race-k3x9-001", "order-dw-race-k3x9-002", "order-dw-race-k3x9-003"];

fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// One order's events from `start` ms on: reserve, the pickup timer, DispatchParcel, done.
/// `lost`: the run stops after scheduling DispatchParcel (its task never enqueued).
fn order(s: &mut Stream, id: &str, start: i64, lost: bool) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    let mut at = |s: &mut Stream, ms: i64, kind: EventKind| {
        s.now_ms = T0 + start + ms;
        out.push(s.ev(id, kind));
    };
    at(s, 0, started(None));
    at(s, 100, scheduled(1, "ReserveInventory"));
    at(s, 200, attempt_started(1, 1));
    at(s, 400, activity_completed(1, 1));
    at(s, 500, timer_started(2, 6_000, T0 + start + 6_500));
    at(s, 6_500, EventKind::TimerFired { seq: 2 });
    at(s, 6_600, scheduled(3, "DispatchParcel"));
    if lost {
        return out;
    }
    // The engine crashed after this commit too, and found the task in its database again.
    at(s, 9_800, attempt_started(3, 1));
    at(s, 10_100, activity_completed(3, 1));
    at(s, 10_200, completed());
    out
}

fn pod(name: &str, state: PodState, exit_code: Option<i64>) -> PodStatus {
    PodStatus { name: name.into(), version: "latest".into(), state, health: Health::Unknown, restarts: 0, started_at: None, exit_code, image_id: None }
}

/// Both sides of the run at `NOW`, with the faults and the live check.
fn race_app() -> App {
    race_app_in(super::theme::ThemeName::Dark)
}

fn race_app_in(theme: super::theme::ThemeName) -> App {
    let opts = AppOptions {
        theme,
        orders: Some(MAIN.iter().map(|s| s.to_string()).collect()),
        twin_orders: Some(TWIN.iter().map(|s| s.to_string()).collect()),
        ..AppOptions::default()
    };
    let mut app = App::new(opts, T0);
    let step = |title: &str, trigger: &str| super::link::StepInfo { title: title.into(), trigger: trigger.into() };
    app.update(AppEvent::Scenario(ScenarioEvent::Loaded {
        title: "Race: the lost task".into(),
        description: "The same three orders run on two engines at once.".into(),
        steps: vec![
            step("The same orders, on both engines", "presenter (space)"),
            step("Arm the crash on both engines", "when timers_pending >= 3"),
            step("One side completes, the other is stuck", "when all completed"),
        ],
    }));
    app.update(AppEvent::Scenario(ScenarioEvent::StepStarted {
        index: 2,
        narration: "The transactional engine finds the task in its database and every order completes. The twin's queue has no such task: that order waits forever.".into(),
    }));
    app.update(AppEvent::Scenario(ScenarioEvent::Expectation { name: "no anomalies (transactional)".into(), verdict: None, measured: "0".into() }));
    let (mut m, mut d) = (Stream::new(T0), Stream::new(T0));
    for (i, (main, twin)) in MAIN.iter().zip(TWIN).enumerate() {
        let start = i as i64 * 250;
        for se in order(&mut m, main, start, false) {
            app.update(AppEvent::Stream(se));
        }
        for se in order(&mut d, twin, start, i == 1) {
            app.update(AppEvent::Twin(FeedEvent::Stream(se)));
        }
    }
    app.update(AppEvent::Pod(pod("engine", PodState::Running, None)));
    app.update(AppEvent::Pod(pod("engine-dw", PodState::Running, None)));
    app.now_ms = T0 + 3_000;
    app.update(AppEvent::Scenario(ScenarioEvent::Action {
        text: "fault: crash at after_state_commit (activity DispatchParcel) on both engines".into(),
        ok: true,
        detail: Some("transactional: after_commit_before_reply (fault 1); dual-write: after_state_commit (fault 1)".into()),
    }));
    app.now_ms = T0 + 7_200;
    app.update(AppEvent::Pod(pod("engine", PodState::Exited, Some(134))));
    app.update(AppEvent::Pod(pod("engine-dw", PodState::Exited, Some(134))));
    let fired = FiredFault { fault_id: 1, point: "after_state_commit".into(), action: "crash".into(), at_ms: T0 + 7_100, workflow_id: Some(TWIN[1].into()) };
    app.update(AppEvent::FaultsFired { side: Side::DualWrite, fired: vec![fired.clone()] });
    // A poll repeats the list: nothing new.
    app.update(AppEvent::FaultsFired { side: Side::DualWrite, fired: vec![fired] });
    app.update(AppEvent::Tick { now_ms: NOW });
    app
}

use super::tests::screen;

#[test]
fn a_twin_scenario_opens_the_view_and_the_live_check_finds_the_lost_task() {
    let app = race_app();
    assert!(app.race.open && app.race.available, "a twin scenario opens the race view by itself");
    let r = app.race.report().expect("the live check ran on the tick");
    let tx = r.side(Side::Transactional).unwrap();
    let dw = r.side(Side::DualWrite).unwrap();
    assert_eq!(tx.counters.engine_level(), 0, "{tx:?}");
    assert_eq!((dw.counters.lost_tasks, dw.counters.stuck_orders), (1, 1), "{dw:?}");
    assert_eq!(dw.of(AnomalyKind::LostTask).next().and_then(|a| a.order.as_deref()), Some(TWIN[1]));
    // The faults strip: the arming, both engines down, the twin's firing, in time order.
    let texts: Vec<&str> = app.race.faults.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert_eq!(texts[0], "armed crash at after_state_commit (activity DispatchParcel)", "{texts:?}");
    assert!(texts[1].starts_with("after_state_commit crash order-dw"), "the firing at +7.1 s comes before the pods at +7.2 s: {texts:?}");
    assert_eq!(&texts[2..], ["engine down (exit 134)", "engine-dw down (exit 134)"]);
    // The order with the anomaly is the one shown, aligned.
    assert_eq!(app.race_selected_key().as_deref(), Some(MAIN[1]));
    let a = app.race_pair().unwrap().alignment();
    assert_eq!(a.divergence, Some(7), "started, reserve ×3, timer ×2, DispatchParcel scheduled; then only the engine runs it");
}

#[test]
fn the_final_check_replaces_the_live_one() {
    let mut app = race_app();
    let mut report = app.race.live.clone().unwrap();
    report.sides[0].counters.duplicate_executions = 1;
    report.sides[0].counters.duplicates_absorbed = 1;
    app.update(AppEvent::Scenario(ScenarioEvent::Finished { verdict: crate::scenario::report::Verdict::Passed, race: Some(Box::new(report.clone())) }));
    assert_eq!(app.race.report(), Some(&report));
    app.update(AppEvent::Tick { now_ms: NOW + 10_000 });
    assert_eq!(app.race.report(), Some(&report), "no live check after the final one");
}

#[test]
fn w_toggles_the_view_and_enter_on_a_counter_opens_its_witness() {
    let mut app = race_app();
    app.update(key(KeyCode::Char('w')));
    assert!(!app.race.open);
    app.update(key(KeyCode::Char('w')));
    assert!(app.race.open);
    // ↓ picks the next order; Tab goes to the counters.
    app.update(key(KeyCode::Down));
    assert_eq!(app.race_selected_key().as_deref(), Some(MAIN[2]));
    app.update(key(KeyCode::Tab));
    assert_eq!(app.race.focus, RaceFocus::Counters);
    // The transactional side's lost tasks: nothing to witness.
    app.update(key(KeyCode::Left));
    app.update(key(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.notices.back().unwrap().text.contains("no lost tasks on the Transactional side"));
    app.update(key(KeyCode::Right));
    app.update(key(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::Witness);
    assert!(screen(&app, 100, 30).contains("Witness · Dual-write · lost tasks · 1"));
    app.update(key(KeyCode::Esc));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.race.open, "Esc closes the witness first");
    // Workflow actions wait: `c` would cancel an order that is not on screen.
    assert!(app.update(key(KeyCode::Char('c'))).is_empty());
    app.update(key(KeyCode::Esc));
    assert!(!app.race.open);
}

#[test]
fn without_a_twin_w_says_why_and_a_reachable_twin_makes_it_available() {
    let mut app = App::new(AppOptions::default(), T0);
    assert!(!app.race.available && !app.race.open);
    app.update(key(KeyCode::Char('w')));
    assert!(!app.race.open);
    assert!(app.notices.back().unwrap().text.contains("no dual-write twin"));
    app.update(AppEvent::Twin(FeedEvent::Connected));
    assert!(app.race.available && !app.race.open, "attached: the view waits for `w`");
    app.update(key(KeyCode::Char('w')));
    assert!(app.race.open);
}

#[test]
fn race_100x30() {
    let app = race_app();
    let text = screen(&app, 100, 30);
    for needle in ["Transactional · 3 orders", "Dual-write · 3 orders · 0.0/s · live check", "lost tasks", "stuck", "diverges at step 8", "▶", "Faults ▸", "engine-dw down (exit 134)"] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    insta::assert_snapshot!("race_100x30", text);
}

#[test]
fn race_200x60() {
    let app = race_app();
    let text = screen(&app, 200, 60);
    for needle in ["Dual-write (dw-) · 3 orders", "Faults · both sides in time order · 4", "both armed crash at after_state_commit", "after_state_commit crash order-dw-race-k3x9-002", "stuck orders", "activity_started", "diverges at step 8"] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    insta::assert_snapshot!("race_200x60", text);
}

#[test]
fn witness_100x30_and_200x60() {
    let mut app = race_app();
    app.race.focus = RaceFocus::Counters;
    app.race.counter = (1, 0);
    app.update(key(KeyCode::Enter));
    assert_eq!(app.overlay, Overlay::Witness);
    let small = screen(&app, 100, 30);
    assert!(small.contains("activity_scheduled"), "{small}");
    insta::assert_snapshot!("race_witness_100x30", small);
    insta::assert_snapshot!("race_witness_200x60", screen(&app, 200, 60));
}

#[test]
fn the_twin_events_round_trip_through_a_recording_and_old_finishes_still_read() {
    let fired = FiredFault { fault_id: 2, point: "before_state_commit".into(), action: "hold".into(), at_ms: T0, workflow_id: None };
    for ev in [
        AppEvent::Twin(FeedEvent::Connected),
        AppEvent::Twin(FeedEvent::Unreachable { error: "refused".into(), retry_in_ms: 500 }),
        AppEvent::FaultsFired { side: Side::DualWrite, fired: vec![fired] },
    ] {
        let json = serde_json::to_string(&ev).unwrap();
        let back: AppEvent = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
    // The engine's own answer parses (unknown fields such as `activity_types` are ignored).
    let engine = r#"{"fault_id":1,"point":"after_state_commit","action":"crash","at_ms":5,"workflow_type":"Order","activity_types":["DispatchParcel"]}"#;
    assert_eq!(serde_json::from_str::<FiredFault>(engine).unwrap().point, "after_state_commit");
    // A recording made before the race view: `finished` without `race`.
    let old: ScenarioEvent = serde_json::from_str(r#"{"finished":{"verdict":"passed"}}"#).unwrap();
    assert!(matches!(old, ScenarioEvent::Finished { race: None, .. }));
}

#[test]
fn the_light_theme_paints_every_cell_of_the_race_view() {
    let app = race_app_in(super::theme::ThemeName::Light);
    for (w, h) in [(100, 30), (200, 60)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
        term.draw(|f| super::ui::draw(f, &app)).expect("draw");
        let unpainted = term.backend().buffer().content.iter().filter(|c| c.bg == ratatui::style::Color::Black || c.bg == ratatui::style::Color::Reset).count();
        assert_eq!(unpainted, 0, "{w}x{h}: the light theme paints its own background everywhere");
    }
}

#[test]
fn live_an_order_not_started_yet_is_not_judged_stuck() {
    use crate::projection::{Options, Projection, Scope};
    let mut p = Projection::new(Options { scope: Scope::Registered, keep_history: true, notable: false, history_budget: None });
    p.register("order-1");
    assert!(super::race::side_input(Side::Transactional, &p).orders.is_empty());
    let mut s = Stream::new(1_000);
    p.apply_stream(s.ev("order-1", started(None)), 1_000);
    assert_eq!(super::race::side_input(Side::Transactional, &p).orders, vec!["order-1".to_string()]);
}
