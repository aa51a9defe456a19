//! The timeline panel (`t`) on an order with retries, a timed-out attempt, a timer, a signal
//! and a child with a pending timer: insta snapshots at 100x30 and 200x60, and the key.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, AppOptions};
use super::event::AppEvent;
use crate::projection::timeline::fixture::{order_stream, CHILD, NOW, ORDER, T0};

fn key(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn app_with_order() -> App {
    let mut app = App::new(AppOptions::default(), T0);
    for se in order_stream() {
        app.update(AppEvent::Stream(se));
    }
    app.update(AppEvent::Tick { now_ms: NOW });
    app
}

use super::tests::screen;

#[test]
fn t_opens_and_closes_the_timeline_and_esc_closes_it() {
    let mut app = app_with_order();
    assert!(!app.timeline);
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Char('t')));
    assert!(app.timeline);
    assert_eq!(app.focus, super::app::Panel::Workflows, "↑↓ pick another order");
    assert!(screen(&app, 100, 30).contains("Timeline · order-2301"));
    app.update(key(KeyCode::Char('t')));
    assert!(!app.timeline);
    app.update(key(KeyCode::Char('t')));
    app.update(key(KeyCode::Esc));
    assert!(!app.timeline, "Esc closes the timeline before anything else");
}

#[test]
fn the_timeline_of_a_child_is_its_whole_order() {
    let mut app = app_with_order();
    app.selected_wf = Some(CHILD.into());
    app.timeline = true;
    let text = screen(&app, 100, 30);
    assert!(text.contains("Timeline · order-2301 ·"), "{text}");
    assert!(text.contains("    create_label"), "the child's lanes are nested: {text}");
}

#[test]
fn timeline_100x30() {
    let mut app = app_with_order();
    app.selected_wf = Some(ORDER.into());
    app.timeline = true;
    let text = screen(&app, 100, 30);
    // What a presenter points at must be on screen at projector size.
    for needle in ["charge_payment ×4", "▓✗", "▒", "timer 12s → +26.1s", "timer 2s fired +11.9s", "◆", "order-2301/5", "notify_customer", "#2 500 AmountMismatch"] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    insta::assert_snapshot!("timeline_100x30", text);
}

#[test]
fn timeline_200x60() {
    let mut app = app_with_order();
    app.selected_wf = Some(ORDER.into());
    app.timeline = true;
    let text = screen(&app, 200, 60);
    for needle in ["charge_payment ×4, 3 failed", "order-2301/5 Shipment", "signal 'approve' → order-2301", "#3 timed out (start_to_close)"] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
    insta::assert_snapshot!("timeline_200x60", text);
}
