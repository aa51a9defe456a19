//! The witness of a race counter (Enter on it in the race view): for each anomaly of that
//! kind on that side, what it is about, why the rows prove it, and the rows themselves in
//! time order (history events, queue deliveries, ledger rows), as the checker kept them.

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{fmt_countdown, trunc};
use crate::checker::Source;
use crate::dashboard::app::App;
use crate::dashboard::race::KINDS;

/// Wall-clock time of day with milliseconds, UTC: the witness rows' own clock.
fn clock(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|d| d.format("%H:%M:%S%.3f").to_string()).unwrap_or_else(|| ms.to_string())
}

/// The popup's lines (the overlay frames and scrolls them).
pub fn lines(app: &App, width: usize) -> (String, Vec<Line<'_>>) {
    let t = &app.theme;
    let side = app.race_counter_side();
    let kind = KINDS[app.race.counter.1.min(KINDS.len() - 1)];
    let report = app.race.report().and_then(|r| r.side(side));
    let found: Vec<_> = report.map(|r| r.of(kind).collect()).unwrap_or_default();
    let source = if app.race.final_report.is_some() { "final check" } else { "live check" };
    let title = format!(" Witness · {} · {} · {} · {source} (↑↓ scroll · Esc closes) ", side.title(), kind.title(), found.len());
    let mut out = Vec::new();
    for (i, a) in found.iter().enumerate() {
        if i > 0 {
            out.push(Line::default());
        }
        out.push(Line::from(Span::styled(format!("{}. {}", i + 1, a.subject), t.bold().fg(t.focus))));
        out.push(Line::from(Span::styled(a.explanation.clone(), t.base())));
        let t0 = a.witness.first().map(|w| w.at_ms).unwrap_or(0);
        if let Some(first) = a.witness.first() {
            out.push(Line::from(Span::styled(format!("rows in time order, from {} UTC:", clock(first.at_ms)), t.dim())));
        }
        let src_w = 28;
        for w in &a.witness {
            let color = match w.source {
                Source::History { .. } => t.info,
                Source::Queue { .. } => t.warn,
                Source::Ledger { .. } => t.ok,
            };
            let room = width.saturating_sub(10 + src_w + 1);
            out.push(Line::from(vec![
                Span::styled(format!("  +{:<7}", fmt_countdown(w.at_ms - t0)), t.dim()),
                Span::styled(format!("{:<src_w$} ", trunc(&w.source.label(), src_w)), t.fg(color)),
                Span::styled(trunc(&w.text, room), t.base()),
            ]));
        }
    }
    (title, out)
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let w = area.width.saturating_sub(6).max(20);
    let (title, lines) = lines(app, w.saturating_sub(2) as usize);
    // As high as its wrapped lines, within the screen.
    let inner_w = w.saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().div_ceil(inner_w).max(1)).sum();
    let r = super::overlay::centered(area, w, (rows as u16 + 2).clamp(6, area.height.saturating_sub(4).max(6)));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(t.fg(t.focus))
        .title(Span::styled(title, t.bold().fg(t.focus)))
        .style(t.base());
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).scroll((app.json_scroll, 0)).block(block), r);
}
