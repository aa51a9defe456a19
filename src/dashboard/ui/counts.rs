//! Counts (running, retrying, completed, failed) and a throughput sparkline of completions per
//! second. The counts are the projection's ([`crate::projection::Counts`]): the same numbers a
//! scenario's `when` conditions wait on. "Retrying" orders are among the running ones.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::{area_inner, panel};
use crate::dashboard::app::App;

/// The counts as one line of spans: the header of narrow screens.
pub fn inline(app: &App) -> Vec<Span<'static>> {
    let t = &app.theme;
    let c = app.store.counts();
    let mut spans = Vec::new();
    for (n, what, color) in [
        (c.running, "running", t.info),
        (c.retrying, "retrying", t.warn),
        (c.completed, "completed", t.ok),
        (c.failed, "failed", if c.failed > 0 { t.err } else { t.dim }),
    ] {
        spans.push(Span::styled(n.to_string(), t.bold().fg(color)));
        spans.push(Span::styled(format!(" {what}  "), t.base()));
    }
    spans
}

/// A small text sparkline of completions per second, and the rate: shown when there is room.
pub fn inline_sparkline(app: &App) -> Vec<Span<'static>> {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let t = &app.theme;
    let data = app.store.completions.series(app.now_ms, 12);
    let max = data.iter().copied().max().unwrap_or(0).max(1);
    let bars: String = data.iter().map(|v| if *v == 0 { ' ' } else { BARS[((*v * 7) / max) as usize] }).collect();
    vec![Span::styled(bars, t.fg(t.ok)), Span::styled(format!(" {:.1}/s", app.store.completions.per_second(app.now_ms, 10)), t.dim())]
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let c = app.store.counts();
    let rate = app.store.completions.per_second(app.now_ms, 10);
    let ev_rate = app.store.events_rate.per_second(app.now_ms, 10);
    let title = format!(" Counts · {:.1} completed/s ", rate);
    f.render_widget(panel(app, title, None), area);
    let inner = area_inner(area);
    let item = |n: u64, what: &'static str, color| -> Vec<Span<'static>> {
        vec![Span::styled(n.to_string(), t.bold().fg(color)), Span::styled(format!(" {what}  "), t.base())]
    };
    let mut lines: Vec<Line> = Vec::new();
    let groups = [
        item(c.running, "running", t.info),
        item(c.retrying, "retrying", t.warn),
        item(c.completed, "completed", t.ok),
        item(c.failed, "failed", if c.failed > 0 { t.err } else { t.dim }),
    ];
    if big {
        for g in groups {
            lines.push(Line::from(g));
        }
        if c.canceled > 0 {
            lines.push(Line::from(item(c.canceled, "canceled", t.dim)));
        }
        lines.push(Line::from(Span::styled(format!("{} events · {:.0} events/s", app.store.total_events, ev_rate), t.dim())));
    } else {
        lines.push(Line::from(groups.into_iter().flatten().collect::<Vec<_>>()));
    }
    let text_h = (lines.len() as u16).min(inner.height);
    let [text_a, spark_a] = Layout::vertical([Constraint::Length(text_h), Constraint::Min(0)]).areas(inner);
    f.render_widget(Paragraph::new(lines).style(t.base()), text_a);
    if spark_a.height > 0 && spark_a.width > 0 {
        let data = app.store.completions.series(app.now_ms, spark_a.width as usize);
        let spark = Sparkline::default().data(&data).style(t.fg(t.ok));
        f.render_widget(spark, spark_a);
    }
}
