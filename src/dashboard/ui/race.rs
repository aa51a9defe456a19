//! The race view (`w`): Transactional | Dual-write in two columns, in place of the panels.
//!
//! From the top: the faults that fired on either side, in time order (`race_faults`); one
//! panel per side with its counts and throughput, the race checker's counters (Enter on one
//! opens its witness, `race_witness`) and the orders, paired row by row so an order reads
//! across; then the selected order's histories aligned step by step with the first divergence
//! marked (`race_history`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::workflows::{run_step_text, shared_prefix, status_label};
use super::{area_inner, race_faults, race_history, status_style, trunc};
use crate::checker::{AnomalyKind, Side, SideReport};
use crate::dashboard::app::App;
use crate::dashboard::race::{RaceFocus, KINDS};
use crate::dashboard::theme::Theme;
use crate::projection::Projection;

/// Counters per row of the grid (three, so the nine take three rows).
fn grid_cols(_big: bool) -> usize {
    3
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let pairs = app.race.pairs(&app.store);
    let counter_rows = KINDS.len().div_ceil(grid_cols(big)) as u16;
    let strip_h = race_faults::height(app, big);
    // The sides get what their orders need, up to a share that leaves the aligned history
    // at least as many rows.
    let max_orders = ((area.height.saturating_sub(strip_h) / 2).saturating_sub(counter_rows + 3)).max(2);
    let order_rows = (pairs.len() as u16).clamp(1, max_orders);
    // Borders, counts, counters, the checker's note (in the title on a projector), orders.
    let sides_h = 2 + 1 + counter_rows + u16::from(big) + order_rows;
    let [strip_a, sides_a, hist_a] =
        Layout::vertical([Constraint::Length(strip_h), Constraint::Length(sides_h), Constraint::Min(4)]).areas(area);
    race_faults::draw(f, app, strip_a, big);
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(sides_a);
    side(f, app, left, Side::Transactional, big, order_rows as usize);
    side(f, app, right, Side::DualWrite, big, order_rows as usize);
    race_history::draw(f, app, hist_a, big);
}

/// The checker's report of one side, if any ran yet.
fn side_report(app: &App, side: Side) -> Option<&SideReport> {
    app.race.report().and_then(|r| r.side(side))
}

/// One side: title with counts and throughput, the counters, the orders.
fn side(f: &mut Frame, app: &App, area: Rect, side: Side, big: bool, order_rows: usize) {
    let t = &app.theme;
    let col = usize::from(side == Side::DualWrite);
    let p: &Projection = if col == 0 { &app.store } else { &app.race.store };
    let c = p.counts();
    let rate = p.completions.per_second(app.now_ms, 10);
    let name = match side {
        Side::Transactional => "Transactional".to_string(),
        // The twin's id prefix where there is room for it.
        Side::DualWrite if big => format!("Dual-write ({})", app.race.prefix),
        Side::DualWrite => "Dual-write".to_string(),
    };
    let mut title = format!(" {name} · {} orders · {rate:.1}/s ", c.started);
    if !big {
        title.push_str(&format!("· {} ", checker_note(app, false)));
    }
    f.render_widget(super::panel(app, title, None), area);
    let inner = area_inner(area);
    let mut lines: Vec<Line> = Vec::new();
    let mut counts = Vec::new();
    for (n, what, color) in [
        (c.running, "running", t.info),
        (c.retrying, "retrying", t.warn),
        (c.completed, "completed", t.ok),
        (c.failed, "failed", if c.failed > 0 { t.err } else { t.dim }),
    ] {
        counts.push(Span::styled(n.to_string(), t.bold().fg(color)));
        counts.push(Span::styled(format!(" {what}  "), t.base()));
    }
    if big {
        counts.push(Span::styled(format!("{} events · {:.0}/s", p.total_events, p.events_rate.per_second(app.now_ms, 10)), t.dim()));
    }
    lines.push(Line::from(counts));
    lines.extend(counter_grid(app, side, col, inner.width as usize, big));
    if big {
        lines.push(Line::from(Span::styled(checker_note(app, big), t.dim())));
    }
    lines.extend(orders(app, side, inner.width as usize, big, order_rows));
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}

/// Where the counters come from, in one line.
fn checker_note(app: &App, big: bool) -> String {
    match (&app.race.final_report, &app.race.live, big) {
        (Some(_), _, true) => "checker: final (histories, queue deliveries, ledgers)".into(),
        (Some(_), _, false) => "final check".into(),
        (None, Some(_), true) => "checker: live, from the histories (queue and ledgers at the end)".into(),
        (None, Some(_), false) => "live check".into(),
        (None, None, true) => "checker: not run yet".into(),
        (None, None, false) => "no check yet".into(),
    }
}

/// A counter's short name on a projector.
fn short(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::LostTask => "lost tasks",
        AnomalyKind::GhostTask => "ghost tasks",
        AnomalyKind::EarlyTask => "early tasks",
        AnomalyKind::DuplicateExecution => "dup raw/ab",
        AnomalyKind::LostTimer => "lost timers",
        AnomalyKind::DoubleCompletion => "double compl.",
        AnomalyKind::LostCompletion => "lost compl.",
        AnomalyKind::StuckOrder => "stuck orders",
        AnomalyKind::Recovered => "recovered",
    }
}

/// The colour of a counter's value: engine-level anomalies are errors, stuck orders and
/// duplicates warnings, recoveries good news; zero is dim.
fn value_style(t: &Theme, kind: AnomalyKind, n: u64) -> Style {
    if n == 0 {
        return t.dim();
    }
    match kind {
        AnomalyKind::Recovered => t.bold().fg(t.ok),
        AnomalyKind::DuplicateExecution | AnomalyKind::StuckOrder => t.bold().fg(t.warn),
        _ => t.bold().fg(t.err),
    }
}

/// The nine counters in a grid, the selected one highlighted when the counters have focus.
fn counter_grid<'a>(app: &'a App, side: Side, col: usize, width: usize, big: bool) -> Vec<Line<'a>> {
    let t = &app.theme;
    let cols = grid_cols(big);
    let cell_w = width / cols;
    let report = side_report(app, side);
    let (sel_side, sel_kind) = app.race.counter;
    let focused = app.race.focus == RaceFocus::Counters;
    KINDS
        .chunks(cols)
        .enumerate()
        .map(|(row, kinds)| {
            let mut spans = Vec::new();
            for (i, kind) in kinds.iter().enumerate() {
                let c = report.map(|r| r.counters).unwrap_or_default();
                let (value, n) = match kind {
                    AnomalyKind::DuplicateExecution => (format!("{}/{}", c.duplicate_executions, c.duplicates_absorbed), c.duplicate_executions),
                    k => (c.get(*k).to_string(), c.get(*k)),
                };
                let value = if report.is_none() { "–".to_string() } else { value };
                let label_w = cell_w.saturating_sub(value.chars().count() + 2);
                let label = format!("{:<label_w$}", trunc(if big { kind.title() } else { short(*kind) }, label_w));
                let selected = focused && sel_side == col && sel_kind == row * cols + i;
                let (ls, vs) = if selected { (t.selected(), t.selected()) } else { (t.base(), value_style(t, *kind, n)) };
                spans.push(Span::styled(label, ls));
                spans.push(Span::styled(format!(" {value}"), vs));
                spans.push(Span::raw(" "));
            }
            Line::from(spans)
        })
        .collect()
}

/// The orders, paired across both sides: the same row is the same order on the other side.
fn orders<'a>(app: &'a App, side: Side, width: usize, big: bool, rows: usize) -> Vec<Line<'a>> {
    let t = &app.theme;
    let pairs = app.race.pairs(&app.store);
    if pairs.is_empty() {
        return vec![Line::from(Span::styled("no orders yet", t.dim()))];
    }
    let dual = side == Side::DualWrite;
    let id_of = |p: &(String, Option<&'a str>, Option<&'a str>)| if dual { p.2 } else { p.1 };
    let prefix = shared_prefix(pairs.iter().filter_map(id_of));
    let store = if dual { &app.race.store } else { &app.store };
    let stuck: Vec<&str> = side_report(app, side)
        .map(|r| r.of(AnomalyKind::StuckOrder).filter_map(|a| a.order.as_deref()).collect())
        .unwrap_or_default();
    let selected = app.race_selected_key();
    let sel_pos = selected.as_ref().and_then(|k| pairs.iter().position(|p| &p.0 == k)).unwrap_or(0);
    let offset = (sel_pos + 1).saturating_sub(rows);
    let id_w = if big { 18 } else { 10 };
    pairs
        .iter()
        .skip(offset)
        .take(rows)
        .map(|p| {
            let is_sel = selected.as_ref() == Some(&p.0);
            let mut spans = vec![Span::styled(if is_sel { "▸" } else { " " }, t.bold().fg(t.focus))];
            match id_of(p) {
                None => spans.push(Span::styled(trunc("(not started on this side)", width.saturating_sub(1)), t.dim())),
                Some(id) => {
                    let short_id = id.strip_prefix(prefix.as_str()).unwrap_or(id);
                    spans.push(Span::styled(format!("{:<id_w$} ", trunc(short_id, id_w)), if is_sel { t.bold() } else { t.base() }));
                    match store.get(id) {
                        None => spans.push(Span::styled("not seen", t.dim())),
                        Some(r) => {
                            let (label, style) = if stuck.contains(&id) { ("stuck", t.bold().fg(t.err)) } else { (status_label(r), status_style(t, status_label(r))) };
                            spans.push(Span::styled(format!("{label:<10}"), style));
                            // A closed run's step is its status again.
                            if r.is_open() {
                                let room = width.saturating_sub(id_w + 12);
                                spans.push(Span::styled(trunc(&run_step_text(r), room), t.dim()));
                            }
                        }
                    }
                }
            }
            if is_sel && app.race.focus == RaceFocus::Orders {
                for s in spans.iter_mut() {
                    s.style = t.selected();
                }
                Line::from(spans).style(t.selected())
            } else {
                Line::from(spans)
            }
        })
        .collect()
}
