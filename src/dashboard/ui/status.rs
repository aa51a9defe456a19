//! The header (engine link, pods, unavailable parts) and the footer (the last action with its
//! equivalent command, shortened to one line (`$` shows it whole), then the keys of the
//! focused panel or the filter being typed).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{fmt_countdown, hint, trunc};
use crate::dashboard::app::{App, EngineLink, InputTarget, NoticeState, Panel};
use crate::dashboard::race::RaceFocus;

pub fn header(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" FAULTLINE ", t.selected()), Span::raw(" ")];
    match &app.engine {
        EngineLink::Connected if big => spans.push(Span::styled("● engine connected", t.fg(t.ok))),
        EngineLink::Connected => spans.push(Span::styled("● engine", t.fg(t.ok))),
        EngineLink::Connecting => spans.push(Span::styled("○ connecting to the engine…", t.fg(t.warn))),
        EngineLink::Unreachable { retry_at_ms, .. } => {
            let left = retry_at_ms - app.now_ms;
            let when = if left > 0 { format!(" ({})", fmt_countdown(left)) } else { String::new() };
            spans.push(Span::styled(format!("✗ engine unreachable, reconnecting…{when}"), t.bold().fg(t.err)))
        }
    }
    if app.race.available {
        spans.push(match &app.race.link {
            EngineLink::Connected => Span::styled("  ● twin", t.fg(t.ok)),
            EngineLink::Connecting => Span::styled("  ○ twin", t.fg(t.warn)),
            EngineLink::Unreachable { .. } => Span::styled("  ✗ twin unreachable", t.bold().fg(t.err)),
        });
    }
    if app.no_worker_polling() {
        spans.push(Span::styled("  ✗ no worker polling", t.bold().fg(t.err)));
    }
    if app.pods.unavailable.is_some() {
        spans.push(Span::styled("  ✗ Docker not running", t.bold().fg(t.err)));
    }
    spans.push(Span::raw("   "));
    // With no worker, the waiting tasks are the news: they come before the counts.
    let backlog_first = app.no_worker_polling();
    if backlog_first {
        spans.extend(backlog(app));
    }
    if big {
        spans.push(Span::styled(format!("{} workflows · {} events   ", app.store.len(), app.store.total_events), t.dim()));
    } else {
        spans.extend(super::counts::inline(app));
    }
    if !backlog_first {
        spans.extend(backlog(app));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let spark = super::counts::inline_sparkline(app);
    if !big && used + spark.iter().map(|s| s.content.chars().count()).sum::<usize>() <= area.width as usize {
        spans.extend(spark);
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(t.base()), area);
}

/// `queue orders: 6 tasks` per known task queue: the work waiting in the engine for a worker.
fn backlog(app: &App) -> Vec<Span<'static>> {
    let t = &app.theme;
    let mut spans = Vec::new();
    for (queue, b) in &app.backlog {
        let n = b.workflow_tasks + b.activity_tasks;
        let color = if n > 0 && app.no_worker_polling() { t.err } else if n > 0 { t.warn } else { t.dim };
        spans.push(Span::styled(format!("queue {queue}: "), t.base()));
        spans.push(Span::styled(format!("{n} task{}", if n == 1 { "" } else { "s" }), t.bold().fg(color)));
        spans.push(Span::raw("  "));
    }
    spans
}

/// Rows the footer needs: the confirmation with its command, the keys.
pub fn footer_height(_app: &App, _width: u16) -> u16 {
    2
}

/// A command cut to `max` columns keeping what identifies it: the program and its first
/// words, then the end (a URL's end names the workflow and the action). `$` shows it whole.
pub(crate) fn shorten_command(cmd: &str, max: usize) -> String {
    let n = cmd.chars().count();
    if n <= max {
        return cmd.to_string();
    }
    let mut head_end = 0;
    for (i, word) in cmd.split(' ').enumerate() {
        let end = head_end + word.len() + usize::from(i > 0);
        if i >= 3 || word.contains("://") || end > max / 3 {
            break;
        }
        head_end = end;
    }
    let head = &cmd[..head_end];
    let room = max.saturating_sub(head.chars().count() + if head.is_empty() { 1 } else { 2 });
    if room < 8 {
        return trunc(cmd, max);
    }
    // The tail without the scheme and host of a URL, which every command repeats.
    let rest = &cmd[head_end..];
    let rest = match rest.find("://").and_then(|i| rest[i + 3..].find('/').map(|j| i + 3 + j)) {
        Some(path) => &rest[path..],
        None => rest,
    };
    let rest_n = rest.chars().count();
    let tail: String = rest.chars().skip(rest_n.saturating_sub(room)).collect();
    if head.is_empty() {
        format!("…{tail}")
    } else {
        format!("{head} …{tail}")
    }
}

pub fn footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let w = area.width as usize;
    let notice = match (app.notices.back(), app.rebuild.as_ref()) {
        (Some(n), Some(r)) if n.id == r.id => super::rebuild::line(app, r, n, w),
        (Some(n), _) => {
            let (mark, style) = match &n.state {
                NoticeState::Pending => ("… ".to_string(), t.bold().fg(t.warn)),
                NoticeState::Ok(_) => ("✓ ".to_string(), t.bold().fg(t.ok)),
                NoticeState::Err(e) => (format!("✗ failed: {e} · "), t.bold().fg(t.err)),
            };
            let mut spans = vec![Span::styled(format!(" {mark}{}", n.text), style)];
            if !n.command.is_empty() {
                let used = spans[0].content.chars().count() + 5;
                let room = w.saturating_sub(used);
                let short = shorten_command(&n.command, room);
                let cut = short != n.command;
                spans.push(Span::styled("   $ ", t.dim()));
                if cut {
                    // Room for the key that shows the whole command.
                    let short = shorten_command(&n.command, room.saturating_sub(9));
                    spans.push(Span::styled(short, t.fg(t.info)));
                    spans.push(Span::raw(" "));
                    spans.extend(hint(t, "$", "full"));
                } else {
                    spans.push(Span::styled(short, t.fg(t.info)));
                }
            }
            Line::from(spans)
        }
        (None, _) => Line::from(Span::styled(" press ? for help", t.dim())),
    };
    let [notice_a, keys_a] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    f.render_widget(Paragraph::new(notice).style(t.base()), notice_a);
    // A rebuild still running while another notice came after it keeps its stages in view
    // in place of the keys.
    let running = app.rebuild.as_ref().filter(|r| r.finished.is_none() && app.notices.back().is_some_and(|n| n.id != r.id));
    let keys = match (app.input, running.and_then(|r| app.notices.iter().find(|n| n.id == r.id).map(|n| (r, n)))) {
        (None, Some((r, n))) => super::rebuild::line(app, r, n, w),
        (Some(target), _) => {
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
        (None, None) => {
            let mut s = vec![Span::raw(" ")];
            let race: &[(&str, &str)] = match app.race.focus {
                RaceFocus::Orders => &[("↑↓", "order"), ("Tab", "counters"), ("w", "close")],
                RaceFocus::Counters => &[("↑↓←→", "counter"), ("⏎", "witness"), ("Tab", "orders"), ("w", "close")],
            };
            let keys: &[(&str, &str)] = match app.focus {
                _ if app.race.open => race,
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

#[cfg(test)]
mod tests {
    use super::shorten_command;

    #[test]
    fn a_long_command_keeps_its_program_and_its_end() {
        let cmd = "curl -X POST http://127.0.0.1:7233/api/v1/workflows/order-bugged-pod-k3x9-003/activities/2/retry-now";
        assert_eq!(shorten_command(cmd, 200), cmd);
        let short = shorten_command(cmd, 60);
        assert!(short.chars().count() <= 60, "{short}");
        assert!(short.starts_with("curl -X POST …"), "{short}");
        assert!(short.ends_with("k3x9-003/activities/2/retry-now"), "{short}");
        let short = shorten_command("docker stop faultline-payment-1", 12);
        assert!(short.chars().count() <= 12 && short.ends_with("payment-1"), "{short}");
    }
}
