//! Popups: the help screen, the raw JSON of a history event, the last equivalent command
//! whole, and the quit question.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::dashboard::app::{App, Overlay};

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))]).flex(Flex::Center).areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))]).flex(Flex::Center).areas(v);
    r
}

const HELP: &[(&str, &str)] = &[
    ("Tab / Shift-Tab", "next / previous panel"),
    ("↑↓ j k PgUp PgDn", "move"),
    ("/", "filter the workflows (or the logs when focused)"),
    ("Enter", "history of the workflow · raw JSON of an event"),
    ("Esc", "back · clear filter · follow newest"),
    ("f", "workflows: cycle status filter"),
    ("v", "history: compact / full"),
    ("t", "timeline of the selected order and its children"),
    ("w", "race view: Transactional | Dual-write side by side"),
    ("r a c T", "workflow: retry now · approve · cancel · terminate"),
    ("K s p", "pod: kill · stop/start · pause/unpause"),
    ("b f R", "pod: deploy its 1st · 2nd version · rebuild & redeploy"),
    ("l x", "pod: 3 s latency · cut its link (again: lift)"),
    ("space", "next presenter step of the scenario"),
    ("$", "the last equivalent command, whole"),
    ("n", "start a new order"),
    ("?", "this help"),
    ("q / Ctrl-C", "quit"),
];

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let block = |title: &'static str| {
        Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Double)
            .border_style(t.fg(t.focus))
            .title(Span::styled(title, t.bold().fg(t.focus)))
            .style(t.base())
    };
    match app.overlay {
        Overlay::None => {}
        Overlay::Witness => super::race_witness::draw(f, app, area),
        Overlay::Help => {
            let r = centered(area, 74, HELP.len() as u16 + 4);
            let mut lines: Vec<Line> =
                HELP.iter().map(|(k, w)| Line::from(vec![Span::styled(format!("{k:>18}  "), t.bold().fg(t.focus)), Span::styled(*w, t.base())])).collect();
            lines.push(Line::default());
            lines.push(Line::from(Span::styled("Every action shows its equivalent command at the bottom.", t.dim())));
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(lines).block(block(" Keys (Esc closes) ")), r);
        }
        Overlay::Json => {
            let Some(run) = app.selected_run() else { return };
            let Some(row) = app.history_row(run) else { return };
            let Some(ei) = app.history_event_index(run, row) else { return };
            let json = serde_json::to_string_pretty(&run.events[ei]).unwrap_or_else(|e| format!("(cannot show this event: {e})"));
            let lines: Vec<Line> = json.lines().map(|l| Line::from(Span::styled(l.to_string(), t.base()))).collect();
            let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(4)).max(6);
            let r = centered(area, area.width.saturating_sub(8).max(20), h);
            f.render_widget(Clear, r);
            let title = if lines.len() as u16 + 2 > h { " Event JSON (↑↓ scroll · Esc closes) " } else { " Event JSON (Esc closes) " };
            let p = Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((app.json_scroll, 0)).block(block(title));
            f.render_widget(p, r);
        }
        Overlay::Command => {
            let Some(n) = app.notices.iter().rev().find(|n| !n.command.is_empty()) else { return };
            let w = area.width.saturating_sub(8).max(20);
            let rows = (n.command.chars().count() as u16 + 2).div_ceil(w.saturating_sub(2).max(1));
            let r = centered(area, w, rows + 4);
            let lines = vec![
                Line::from(Span::styled(n.text.clone(), t.bold())),
                Line::from(vec![Span::styled("$ ", t.dim()), Span::styled(n.command.clone(), t.bold().fg(t.info))]),
            ];
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(" Equivalent command (Esc closes) ")), r);
        }
        Overlay::Quit => {
            let r = centered(area, 56, 6);
            let lines = vec![
                Line::from(Span::styled("Leave the pods running?", t.bold())),
                Line::default(),
                Line::from(vec![
                    Span::styled("y", t.bold().fg(t.focus)),
                    Span::raw(" leave them running   "),
                    Span::styled("n", t.bold().fg(t.focus)),
                    Span::raw(" take them down   "),
                    Span::styled("Esc", t.bold().fg(t.focus)),
                    Span::raw(" stay"),
                ]),
            ];
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(lines).style(t.base()).block(block(" Quit ")), r);
        }
    }
}
