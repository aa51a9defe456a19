//! The selected order's history on both sides, aligned step by step (see
//! [`crate::dashboard::race::align`]): the engine's run on the left, the twin's on the right,
//! the same step on the same row. The first row where they part is marked `▶` and named in
//! the title; the rows after it are marked `≠` where they differ. The window starts just
//! before the divergence, so it is on screen whatever the history's length.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::history::{describe_for, short_name};
use super::{area_inner, fmt_countdown, panel, trunc};
use crate::dashboard::app::App;
use crate::dashboard::race::align::steps;
use crate::projection::RunView;

/// One side's cell: time since its run started, the event's short name, its details.
fn cell<'a>(app: &'a App, run: Option<&'a RunView>, steps: &[(usize, String)], index: Option<usize>, width: usize, big: bool) -> Vec<Span<'a>> {
    let t = &app.theme;
    let ev = run.zip(index.and_then(|i| steps.get(i))).map(|(r, s)| (r, &r.events[s.0]));
    let Some((run, ev)) = ev else {
        return vec![Span::styled(format!("{:<width$}", ""), t.base())];
    };
    let (detail, style) = describe_for(t, run, ev, !big);
    let at = format!("+{:<6}", fmt_countdown(ev.timestamp_ms - run.started_at_ms));
    let name = if big { ev.kind.name() } else { short_name(&ev.kind) };
    let name_w = if big { 20 } else { 7 };
    let head = format!("{at} {:<name_w$} ", trunc(name, name_w));
    let room = width.saturating_sub(head.chars().count());
    vec![Span::styled(head, t.dim()), Span::styled(format!("{:<room$}", trunc(&detail, room)), style)]
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let Some(pair) = app.race_pair() else {
        f.render_widget(Paragraph::new(Span::styled("no orders on either side yet", t.dim())).block(panel(app, " Aligned history ", None)), area);
        return;
    };
    let a = pair.alignment();
    let steps = |r: Option<&RunView>| r.map(|r| steps(&r.events)).unwrap_or_default();
    let (ls, rs) = (steps(pair.main), steps(pair.twin));
    let verdict = match (a.divergence, pair.main.is_some() && pair.twin.is_some()) {
        (_, false) => "on one side only".to_string(),
        (Some(d), _) => format!("diverges at step {}", d + 1),
        (None, _) => "the same steps on both sides".to_string(),
    };
    let title = Line::from(vec![
        Span::raw(format!(" {} · aligned by step · ", pair.key)),
        Span::styled(format!("{verdict} "), if a.divergence.is_some() { t.bold().fg(t.err) } else { t.bold().fg(t.ok) }),
    ]);
    f.render_widget(panel(app, title, None), area);
    let inner = area_inner(area);
    // Gutter (step number and mark) and the bar between the sides.
    let gutter = 5;
    let half = (inner.width as usize).saturating_sub(gutter + 3) / 2;
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{:<gutter$}", "step"), t.dim()),
        Span::styled(format!("{:<half$}", trunc(&format!("Transactional · {}", pair.main.map(|r| r.workflow_id.as_str()).unwrap_or("—")), half)), t.bold()),
        Span::styled(" │ ", t.dim()),
        Span::styled(trunc(&format!("Dual-write · {}", pair.twin.map(|r| r.workflow_id.as_str()).unwrap_or("—")), half), t.bold()),
    ])];
    let fit = (inner.height as usize).saturating_sub(1);
    let offset = match a.divergence {
        Some(d) if a.rows.len() > fit => d.saturating_sub(2).min(a.rows.len() - fit),
        _ => 0,
    };
    for (n, row) in a.rows.iter().enumerate().skip(offset).take(fit) {
        let first = a.divergence == Some(n);
        let (mark, mark_style) = match (row.same, first) {
            (_, true) => ("▶", t.bold().fg(t.err)),
            (false, _) => ("≠", t.fg(t.warn)),
            (true, _) => (" ", t.dim()),
        };
        let mut spans = vec![Span::styled(format!("{:>3}", n + 1), if first { t.bold().fg(t.err) } else { t.dim() }), Span::styled(format!("{mark} "), mark_style)];
        spans.extend(cell(app, pair.main, &ls, row.left, half, big));
        spans.push(Span::styled(" │ ", if row.same { t.dim() } else { t.fg(t.warn) }));
        spans.extend(cell(app, pair.twin, &rs, row.right, half, big));
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}
