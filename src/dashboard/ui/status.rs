//! The header (engine link, pods, unavailable parts) and the footer (the last action with its
//! equivalent command, then the keys of the focused panel or the filter being typed).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{fmt_countdown, hint, trunc};
use crate::dashboard::app::{App, EngineLink, InputTarget, NoticeState, Panel};

pub fn header(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" FAULTLINE ", t.selected()), Span::raw(" ")];
    match &app.engine {
        EngineLink::Connected => spans.push(Span::styled("● engine connected", t.fg(t.ok))),
        EngineLink::Connecting => spans.push(Span::styled("○ connecting to the engine…", t.fg(t.warn))),
        EngineLink::Unreachable { retry_at_ms, .. } => {
            let left = retry_at_ms - app.now_ms;
            let when = if left > 0 { format!(" ({})", fmt_countdown(left)) } else { String::new() };
            spans.push(Span::styled(format!("✗ engine unreachable, reconnecting…{when}"), t.bold().fg(t.err)))
        }
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

/// How long a confirmation shows its whole command before folding to one line.
const EXPANDED_MS: i64 = 15_000;

/// Rows of the command of the latest confirmation while it is shown in full.
fn command_rows(app: &App, width: u16) -> u16 {
    match app.notices.back() {
        Some(n) if !n.command.is_empty() && app.now_ms - n.at_ms < EXPANDED_MS => {
            ((n.command.chars().count() + 4) as u16).div_ceil(width.max(1)).min(4)
        }
        _ => 0,
    }
}

/// Rows the footer needs: the confirmation, its command while recent, the keys.
pub fn footer_height(app: &App, width: u16) -> u16 {
    2 + command_rows(app, width)
}

pub fn footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let w = area.width as usize;
    let cmd_rows = command_rows(app, area.width);
    let notice = match app.notices.back() {
        Some(n) => {
            let (mark, style) = match &n.state {
                NoticeState::Pending => ("… ".to_string(), t.bold().fg(t.warn)),
                NoticeState::Ok(_) => ("✓ ".to_string(), t.bold().fg(t.ok)),
                NoticeState::Err(e) => (format!("✗ failed: {e} · "), t.bold().fg(t.err)),
            };
            let mut spans = vec![Span::styled(format!(" {mark}{}", n.text), style)];
            if !n.command.is_empty() {
                if cmd_rows > 0 {
                    spans.push(Span::styled("   (equivalent command below)", t.dim()));
                } else {
                    let used = spans[0].content.chars().count() + 5;
                    spans.push(Span::styled("   $ ", t.dim()));
                    spans.push(Span::styled(trunc(&n.command, w.saturating_sub(used)), t.fg(t.info)));
                }
            }
            Line::from(spans)
        }
        None => Line::from(Span::styled(" press ? for help", t.dim())),
    };
    let [notice_a, cmd_a, keys_a] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(cmd_rows), Constraint::Length(1)]).areas(area);
    f.render_widget(Paragraph::new(notice).style(t.base()), notice_a);
    if let (true, Some(n)) = (cmd_rows > 0, app.notices.back()) {
        let cmd = Line::from(vec![Span::styled(" $ ", t.dim()), Span::styled(n.command.clone(), t.bold().fg(t.info))]);
        f.render_widget(Paragraph::new(cmd).wrap(Wrap { trim: false }).style(t.base()), cmd_a);
    }
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
    f.render_widget(Paragraph::new(keys).style(t.base()), keys_a);
}
