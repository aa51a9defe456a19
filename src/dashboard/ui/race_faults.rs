//! The race view's strip of faults: what fired on either side (and what the runner armed and
//! released, and the engine pods that went down), one strip in time order, so the audience
//! sees that both engines got the same fault at the same moment. A projector gets one line
//! with the newest marks that fit; a wide screen a bordered panel of a few lines.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{area_inner, fmt_countdown, panel};
use crate::checker::Side;
use crate::dashboard::app::App;
use crate::dashboard::race::{FaultMark, MarkSide};

/// Lines of marks on a wide screen (in a panel) and on a projector (bare).
const BIG_LINES: u16 = 4;
const NARROW_LINES: u16 = 2;

/// Rows the strip takes.
pub fn height(_app: &App, big: bool) -> u16 {
    if big {
        BIG_LINES + 2
    } else {
        NARROW_LINES
    }
}

/// The moment marks count from: the first order started on either side, else the first mark.
fn t0(app: &App) -> Option<i64> {
    let first = |p: &crate::projection::Projection| p.runs().iter().map(|r| r.started_at_ms).min();
    [first(&app.store), first(&app.race.store), app.race.faults.first().map(|m| m.at_ms)].into_iter().flatten().min()
}

fn mark_spans<'a>(app: &'a App, m: &'a FaultMark, t0: i64) -> Vec<Span<'a>> {
    let t = &app.theme;
    let (tag, color) = match m.side {
        MarkSide::One(Side::Transactional) => ("TX", t.info),
        MarkSide::One(Side::DualWrite) => ("DW", t.warn),
        MarkSide::Both => ("both", t.dim),
    };
    let text_style = if m.fired { t.bold().fg(t.err) } else { t.base() };
    vec![
        Span::styled(format!("+{} ", fmt_countdown(m.at_ms - t0)), t.dim()),
        Span::styled(format!("{tag} "), t.bold().fg(color)),
        Span::styled(m.text.clone(), text_style),
    ]
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let marks = &app.race.faults;
    let t0 = t0(app).unwrap_or(app.now_ms);
    if !big {
        // Two lines: the label, then the newest marks that fit, oldest of them first.
        let mut spans = vec![Span::styled(" Faults ▸ ", t.bold().fg(t.title))];
        let room = (area.width as usize * NARROW_LINES as usize).saturating_sub(14);
        let mut shown: Vec<Vec<Span>> = Vec::new();
        let mut used = 0;
        for m in marks.iter().rev() {
            let s = mark_spans(app, m, t0);
            let w: usize = s.iter().map(|s| s.content.chars().count()).sum::<usize>() + 3;
            if used + w > room && !shown.is_empty() {
                break;
            }
            used += w;
            shown.push(s);
        }
        if shown.is_empty() {
            spans.push(Span::styled("none fired yet", t.dim()));
        }
        for (i, s) in shown.into_iter().rev().enumerate() {
            if i > 0 {
                spans.push(Span::styled(" · ", t.dim()));
            }
            spans.extend(s);
        }
        f.render_widget(Paragraph::new(Line::from(spans)).wrap(Wrap { trim: false }).style(t.base()), area);
        return;
    }
    let title = format!(" Faults · both sides in time order · {} ", marks.len());
    f.render_widget(panel(app, title, None), area);
    let inner = area_inner(area);
    // The newest that fit, a line each.
    let lines: Vec<Line> = if marks.is_empty() {
        vec![Line::from(Span::styled("none fired yet: the faults a scenario arms show here when they fire, on both sides", t.dim()))]
    } else {
        let skip = marks.len().saturating_sub(inner.height as usize);
        marks.iter().skip(skip).map(|m| Line::from(mark_spans(app, m, t0))).collect()
    };
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}
