//! Merged pod logs, one colour per pod, with a text filter (`/` while the panel is focused).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{area_inner, panel, trunc};
use crate::dashboard::app::{App, Panel};

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut title = " Logs".to_string();
    if !app.logs.filter.is_empty() {
        title.push_str(&format!(" · /{}", app.logs.filter));
    }
    if app.logs.scroll > 0 {
        title.push_str(&format!(" · ↑{}", app.logs.scroll));
    }
    title.push(' ');
    f.render_widget(panel(app, title, Some(Panel::Logs)), area);
    let inner = area_inner(area);
    let tail = app.logs.tail(inner.height as usize);
    let width = inner.width as usize;
    let lines: Vec<Line> = if tail.is_empty() {
        let msg = if app.logs.lines.is_empty() { "no pod logs yet" } else { "no log line matches the filter" };
        vec![Line::from(Span::styled(msg, t.dim()))]
    } else {
        tail.into_iter()
            .map(|l| {
                let color = t.pods[app.logs.color_of(&l.pod) % t.pods.len()];
                let tag = format!("{:<12} ", trunc(&l.pod, 12));
                Line::from(vec![
                    Span::styled(tag, t.bold().fg(color)),
                    Span::styled(trunc(&l.line, width.saturating_sub(13)), t.fg(color)),
                ])
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}
