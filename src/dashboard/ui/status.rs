//! The header (engine link, pods, unavailable parts) and the footer (the last action with its
//! equivalent command, then the keys of the focused panel or the filter being typed).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{fmt_countdown, hint, trunc};
use crate::dashboard::app::{App, EngineLink, InputTarget, NoticeState, Panel};

pub fn header(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" FAULTLINE ", t.selected()), Span::raw(" ")];
    match &app.engine {
        EngineLink::Connected => spans.push(Span::styled("● engine connected", t.fg(t.ok))),
        EngineLink::Connecting => spans.push(Span::styled("○ connecting to the engine…", t.fg(t.warn))),
        EngineLink::Unreachable { retry_at_ms, .. } => spans.push(Span::styled(
            format!("✗ engine unreachable, reconnecting… ({})", fmt_countdown(retry_at_ms - app.now_ms)),
            t.bold().fg(t.err),
        )),
    }
    if app.no_worker_polling() {
        spans.push(Span::styled("  ✗ no worker polling", t.bold().fg(t.err)));
    }
    if app.pods.unavailable.is_some() {
        spans.push(Span::styled("  ✗ Docker not running", t.bold().fg(t.err)));
    }
    spans.push(Span::raw("   "));
    if big {
        spans.push(Span::styled(format!("{} workflows · {} events", app.store.len(), app.store.total_events), t.dim()));
    } else {
        spans.extend(super::counts::inline(app));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(t.base()), area);
}

pub fn footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let w = area.width as usize;
    let notice = match app.notices.back() {
        Some(n) => {
            let (mark, style) = match &n.state {
                NoticeState::Pending => ("… ".to_string(), t.bold().fg(t.warn)),
                NoticeState::Ok(_) => ("✓ ".to_string(), t.bold().fg(t.ok)),
                NoticeState::Err(e) => (format!("✗ failed: {e} · "), t.bold().fg(t.err)),
            };
            let mut spans = vec![Span::styled(format!(" {mark}{}", n.text), style)];
            if !n.command.is_empty() {
                let used = spans[0].content.chars().count() + 5;
                spans.push(Span::styled("   $ ", t.dim()));
                spans.push(Span::styled(trunc(&n.command, w.saturating_sub(used)), t.fg(t.info)));
            }
            Line::from(spans)
        }
        None => Line::from(Span::styled(" press ? for help", t.dim())),
    };
    let keys = match app.input {
        Some(target) => {
            let (what, buf) = match target {
                InputTarget::Workflows => ("filter workflows", &app.wf_filter),
                InputTarget::Logs => ("filter logs", &app.logs.filter),
            };
            Line::from(vec![
                Span::styled(format!(" {what}: /"), t.bold().fg(t.focus)),
                Span::styled(format!("{buf}▏"), t.bold()),
                Span::styled("   Enter apply · Esc clear", t.dim()),
            ])
        }
        None => {
            let mut s = vec![Span::raw(" ")];
            let keys: &[(&str, &str)] = match app.focus {
                Panel::Pods => &[("K", "kill"), ("s", "stop/start"), ("p", "pause"), ("b", "bugged"), ("f", "fixed"), ("R", "rebuild")],
                Panel::Workflows => &[("f", "status"), ("/", "filter"), ("⏎", "history"), ("r", "retry"), ("a", "approve"), ("c", "cancel"), ("T", "terminate")],
                Panel::History => &[("v", "compact/full"), ("⏎", "JSON"), ("r", "retry"), ("a", "approve"), ("Esc", "back")],
                Panel::Logs => &[("/", "filter"), ("↑↓", "scroll"), ("Esc", "follow")],
            };
            for (k, what) in keys {
                s.extend(hint(t, k, what));
            }
            for (k, what) in [("␣", "step"), ("n", "order"), ("?", "help"), ("q", "quit")] {
                s.extend(hint(t, k, what));
            }
            Line::from(s)
        }
    };
    f.render_widget(Paragraph::new(vec![notice, keys]).style(t.base()), area);
}
