//! The timeline panel (`t`): the selected order and its children on one time axis, from
//! [`crate::projection::timeline`]. Each lane is a row: a label, then its bars drawn in cells.
//!
//! Glyphs tell outcomes apart without colour (a projector washes colours out, and the snapshot
//! tests read text): `█` an attempt that succeeded, `▓…✗` one that failed, `▒…✗` one that
//! timed out, `█…▶` one still running, `·` waiting in the task queue, an empty stretch a retry
//! backoff; `═…◇` a timer up to its fire time (`┄` the part still to come); `━` a workflow's
//! life, `◆` a signal. Below the lanes, as room allows: a legend, then the failures and
//! signals with their times.

use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::history::key_words;
use super::{area_inner, fmt_duration, panel, trunc};
use crate::dashboard::app::App;
use crate::dashboard::theme::Theme;
use crate::projection::timeline::{timeline, Axis, Bar, Lane, LaneKind, Outcome, Timeline};

/// Columns between tick labels on the axis.
const TICK_GAP: u16 = 9;

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let tl = app.selected_run().and_then(|run| {
        let root = app.store.root_of(&run.workflow_id).unwrap_or(&run.workflow_id).to_string();
        timeline(&app.store, &root, app.now_ms)
    });
    let Some(tl) = tl else {
        let block = panel(app, " Timeline (t closes) ", None);
        f.render_widget(Paragraph::new(Span::styled("select an order to see its timeline", t.dim())).block(block), area);
        return;
    };
    let workflows = tl.lanes.iter().filter(|l| matches!(l.kind, LaneKind::Workflow { .. })).count();
    let title = format!(
        " Timeline · {} · {workflows} workflow{} · {} · t closes ",
        tl.root,
        if workflows == 1 { "" } else { "s" },
        fmt_duration(tl.end_ms - tl.start_ms)
    );
    f.render_widget(panel(app, title, None), area);
    let inner = area_inner(area);
    f.render_widget(Paragraph::new(lines(t, &tl, inner, big)).style(t.base()), inner);
}

/// Every row of the panel's inside, `area` wide and at most `area.height` high.
fn lines<'a>(t: &Theme, tl: &Timeline, area: Rect, big: bool) -> Vec<Line<'a>> {
    let label_w: u16 = if big { 38 } else { 24 }.min(area.width / 3);
    let axis = Axis::new(tl.start_ms, tl.end_ms, area.width.saturating_sub(label_w + 1).max(1));
    let height = area.height as usize;
    let mut out = vec![axis_row(t, &axis, label_w)];
    // Lanes first; a legend and the details only in the rows left over.
    let lane_rows = height.saturating_sub(1);
    let shown = if tl.lanes.len() > lane_rows { lane_rows.saturating_sub(1) } else { tl.lanes.len() };
    for lane in &tl.lanes[..shown] {
        out.push(lane_row(t, tl, lane, &axis, label_w, big));
    }
    if shown < tl.lanes.len() {
        out.push(Line::from(Span::styled(format!("… {} more lanes", tl.lanes.len() - shown), t.dim())));
    }
    if out.len() < height {
        out.push(legend(t));
    }
    let room = height.saturating_sub(out.len());
    if room >= 2 {
        let details = details(t, tl, area.width as usize);
        if !details.is_empty() {
            out.push(Line::from(Span::styled("─".repeat(area.width as usize), t.dim())));
            let take = room - 1;
            out.extend(details.into_iter().rev().take(take).rev());
        }
    }
    out
}

/// `+0s     +10s    +20s` over the axis, the label column blank.
fn axis_row<'a>(t: &Theme, axis: &Axis, label_w: u16) -> Line<'a> {
    let mut row = vec![' '; axis.width as usize];
    let mut free_from = 0usize;
    for (col, off) in axis.ticks(TICK_GAP) {
        let label = format!("+{}", fmt_offset(off));
        let col = col as usize;
        if col < free_from || col + label.chars().count() > row.len() {
            continue;
        }
        for (i, c) in label.chars().enumerate() {
            row[col + i] = c;
        }
        free_from = col + label.chars().count() + 1;
    }
    Line::from(vec![
        Span::styled(format!("{:<w$} ", "", w = label_w as usize), t.dim()),
        Span::styled(row.into_iter().collect::<String>(), t.dim()),
    ])
}

/// `0.5s`, `12s`, `26.1s`, `1m30s`: tenths under a minute when the time is not whole.
fn fmt_offset(ms: i64) -> String {
    if ms > 0 && ms % 1000 >= 100 && ms < 60_000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else {
        fmt_duration(ms)
    }
}

/// One cell of a lane: a glyph and its style.
type Cell = (char, Style);

fn lane_row<'a>(t: &Theme, tl: &Timeline, lane: &Lane, axis: &Axis, label_w: u16, big: bool) -> Line<'a> {
    let mut cells: Vec<Cell> = vec![(' ', t.base()); axis.width as usize];
    // A faint grid at the ticks, so times can be read off any lane.
    for (col, _) in axis.ticks(TICK_GAP) {
        if let Some(c) = cells.get_mut(col as usize) {
            *c = ('┊', t.dim());
        }
    }
    // Queue waits first: an attempt drawn later wins a shared cell.
    let (waits, rest): (Vec<&Bar>, Vec<&Bar>) = lane.bars.iter().partition(|b| b.outcome == Outcome::Queued);
    for b in waits.into_iter().chain(rest) {
        paint(t, &mut cells, axis, &lane.kind, b, tl.now_ms);
    }
    for m in &lane.marks {
        if let Some(c) = cells.get_mut(axis.column(m.at_ms) as usize) {
            *c = ('◆', t.bold().fg(t.info));
        }
    }
    let mut spans = vec![Span::styled(format!("{:<w$} ", label(lane, tl, label_w as usize, big), w = label_w as usize), label_style(t, lane))];
    // Runs of one style become one span.
    let mut run = String::new();
    let mut style = cells.first().map(|c| c.1).unwrap_or_default();
    for (ch, st) in cells {
        if st != style && !run.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut run), style));
        }
        style = st;
        run.push(ch);
    }
    if !run.is_empty() {
        spans.push(Span::styled(run, style));
    }
    Line::from(spans)
}

fn outcome_style(t: &Theme, o: Outcome) -> Style {
    match o {
        Outcome::Ok => t.fg(t.ok),
        Outcome::Failed => t.fg(t.err),
        Outcome::TimedOut => t.fg(t.warn),
        Outcome::Running => t.fg(t.info),
        Outcome::Canceled | Outcome::Queued => t.dim(),
    }
}

/// Draws one bar into the lane's cells.
fn paint(t: &Theme, cells: &mut [Cell], axis: &Axis, kind: &LaneKind, b: &Bar, now_ms: i64) {
    let cols = axis.columns(b.start_ms, b.end_ms);
    let (first, last) = (*cols.start() as usize, *cols.end() as usize);
    let style = outcome_style(t, b.outcome);
    for i in first..=last.min(cells.len().saturating_sub(1)) {
        let end = i == last;
        let ch = match (kind, b.outcome) {
            (_, Outcome::Queued) => '·',
            (LaneKind::Workflow { .. }, o) => match (end, o) {
                (true, Outcome::Ok) => '✓',
                (true, Outcome::Failed | Outcome::TimedOut) => '✗',
                (true, Outcome::Running) => '▶',
                _ => '━',
            },
            (LaneKind::Timer { .. }, o) => match (end, o) {
                (true, Outcome::Canceled) => '×',
                (true, _) => '◇',
                // The part of a pending timer still to come.
                (false, Outcome::Running) if i > axis.column(now_ms) as usize => '┄',
                _ => '═',
            },
            (LaneKind::Activity { .. }, o) => match (end, o) {
                (true, Outcome::Failed | Outcome::TimedOut) => '✗',
                (true, Outcome::Running) => '▶',
                (_, Outcome::Failed) => '▓',
                (_, Outcome::TimedOut) => '▒',
                (_, Outcome::Canceled) => '─',
                _ => '█',
            },
        };
        cells[i] = (ch, style);
    }
}

fn label_style(t: &Theme, lane: &Lane) -> Style {
    match lane.kind {
        LaneKind::Workflow { .. } if lane.depth == 0 => t.bold().fg(t.focus),
        LaneKind::Workflow { .. } => t.bold(),
        _ => t.base(),
    }
}

/// The text of a lane's label: indented by depth, the distinguishing end of an id kept.
fn label(lane: &Lane, tl: &Timeline, width: usize, big: bool) -> String {
    let indent = "  ".repeat(lane.depth);
    let room = width.saturating_sub(indent.chars().count());
    let text = match &lane.kind {
        LaneKind::Workflow { workflow_type, .. } => {
            let id = if big { format!("{} {workflow_type}", lane.workflow_id) } else { lane.workflow_id.clone() };
            return format!("{indent}{}", tail(&id, room));
        }
        LaneKind::Activity { activity_type, .. } => {
            let (n, failed) = (lane.attempts(), lane.failures());
            match (big, n) {
                (_, 0 | 1) => activity_type.clone(),
                (true, _) => format!("{activity_type} ×{n}, {failed} failed"),
                (false, _) => format!("{activity_type} ×{n}"),
            }
        }
        LaneKind::Timer { duration_ms, fire_at_ms, fired, .. } => {
            let when = format!("+{}", fmt_offset(fire_at_ms - tl.start_ms));
            let verb = if *fired { "fired" } else { "fires" };
            let long = format!("timer {} {verb} {when}", fmt_duration(*duration_ms as i64));
            // The fire time matters more than the verb.
            if long.chars().count() <= room {
                long
            } else {
                format!("timer {} {} {when}", fmt_duration(*duration_ms as i64), if *fired { "✓" } else { "→" })
            }
        }
    };
    format!("{indent}{}", trunc(&text, room))
}

/// Keeps the end of `s` (what tells ids apart), with a leading ellipsis when cut.
fn tail(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::from("…");
    out.extend(s.chars().skip(n - (max - 1)));
    out
}

fn legend<'a>(t: &Theme) -> Line<'a> {
    let item = |glyph: &'static str, style: Style, what: &'static str| [Span::styled(glyph, style), Span::styled(format!(" {what}  "), t.dim())];
    let mut spans = Vec::new();
    spans.extend(item("█", t.fg(t.ok), "ok"));
    spans.extend(item("▓✗", t.fg(t.err), "failed"));
    spans.extend(item("▒✗", t.fg(t.warn), "timed out"));
    spans.extend(item("█▶", t.fg(t.info), "running"));
    spans.extend(item("·", t.dim(), "queued"));
    spans.extend(item("gap", t.dim(), "retry backoff"));
    spans.extend(item("═◇", t.fg(t.info), "timer"));
    spans.extend(item("◆", t.bold().fg(t.info), "signal"));
    Line::from(spans)
}

/// Failed attempts and signals, oldest first: `+3.2s charge_payment #2 ✗ 500 AmountMismatch`.
fn details<'a>(t: &Theme, tl: &Timeline, width: usize) -> Vec<Line<'a>> {
    let mut rows: Vec<(i64, Line<'a>)> = Vec::new();
    for lane in &tl.lanes {
        for m in &lane.marks {
            let text = format!("signal '{}' → {}", m.name, lane.workflow_id);
            rows.push((m.at_ms, detail_line(t, tl, m.at_ms, "◆", t.bold().fg(t.info), text, width)));
        }
        let LaneKind::Activity { activity_type, .. } = &lane.kind else { continue };
        for b in lane.bars.iter().filter(|b| b.attempt > 0) {
            let Some(why) = &b.failure else { continue };
            // A timeout's text is already short; a failure's key words come first.
            let why = if b.outcome == Outcome::TimedOut { why.clone() } else { key_words(why) };
            let text = format!("{activity_type} #{} {why}", b.attempt);
            rows.push((b.end_ms, detail_line(t, tl, b.end_ms, "✗", outcome_style(t, b.outcome), text, width)));
        }
    }
    rows.sort_by_key(|(at, _)| *at);
    rows.into_iter().map(|(_, l)| l).collect()
}

fn detail_line<'a>(t: &Theme, tl: &Timeline, at: i64, glyph: &'static str, style: Style, text: String, width: usize) -> Line<'a> {
    let when = format!("{:>7} ", format!("+{}", fmt_offset(at - tl.start_ms)));
    let room = width.saturating_sub(when.chars().count() + 2);
    Line::from(vec![
        Span::styled(when, t.dim()),
        Span::styled(format!("{glyph} "), style.add_modifier(Modifier::BOLD)),
        Span::styled(trunc(&text, room), style),
    ])
}
