//! Drawing: [`draw`] renders the whole screen from an [`App`] (read-only), one file per panel.
//!
//! Layout:
//! - at about 100x30 (a projector): header with the counts, the backlog and "no worker
//!   polling"; the stage (the step list, the step's title in large type, the narration) with
//!   the live expectations beside it; two columns (pods, workflows | pending activities and
//!   timers, history, logs); footer;
//! - from 160x45 up: the stage over three columns (pods and workflows | pending and history |
//!   scenario steps, expectations and counts) with a wide log panel below.
//!
//! - `w` puts the race view (Transactional | Dual-write, `race*.rs`) in place of the panels,
//!   as `t` puts the timeline.
//!
//! Every panel draws only its visible rows, so the cost of a frame does not grow with the number
//! of events recorded.

mod counts;
mod history;
mod logs;
mod overlay;
mod pending;
mod pods;
mod race;
mod race_faults;
mod race_history;
mod race_witness;
mod rebuild;
mod scenario;
mod stage;
mod status;
mod timeline;
mod workflows;

#[cfg(test)]
pub(crate) use history::key_words as history_key_words;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};
use ratatui::Frame;

use super::app::{App, Panel};
use super::theme::Theme;

/// Draws one frame.
/// Below this the panels cannot show what a presenter needs; a notice says so instead.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, app, area);
        return;
    }
    // No full-screen background pass: every cell belongs to a panel that paints its own
    // background (the light-theme test checks that no cell is left unpainted).
    let big = area.width >= 160 && area.height >= 45;
    // On narrow screens the expectations sit beside the stage.
    let stage_w = if big { area.width } else { area.width.saturating_sub(EXPECTATIONS_W) };
    let stage_h = stage::height(app, big, stage_w);
    let logs_h = if big { (area.height / 4).max(8) } else { 0 };
    let [header, stage_a, body, logs_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(stage_h),
        Constraint::Min(8),
        Constraint::Length(logs_h),
        Constraint::Length(status::footer_height(app, area.width)),
    ])
    .areas(area);
    status::header(f, app, header, big);
    if big {
        if stage_h > 0 {
            stage::draw(f, app, stage_a, big);
        }
        let [left, mid, right] =
            Layout::horizontal([Constraint::Percentage(36), Constraint::Percentage(42), Constraint::Percentage(22)]).areas(body);
        if app.race.open {
            race::draw(f, app, left.union(mid), true);
        } else if app.timeline {
            timeline::draw(f, app, left.union(mid), true);
        } else {
            big_panels(f, app, left, mid);
        }
        let [steps_a, counts_a] = Layout::vertical([Constraint::Min(6), Constraint::Length(10)]).areas(right);
        scenario::steps(f, app, steps_a);
        counts::draw(f, app, counts_a, true);
        logs::draw(f, app, logs_area);
    } else if app.race.open {
        // The narration stays: a race scenario tells its story while the sides diverge.
        if stage_h > 0 {
            let [stage_l, exp_a] = Layout::horizontal([Constraint::Min(40), Constraint::Length(EXPECTATIONS_W)]).areas(stage_a);
            stage::draw(f, app, stage_l, big);
            scenario::expectations(f, app, exp_a);
        }
        race::draw(f, app, body, false);
    } else if app.timeline {
        timeline::draw(f, app, body, false);
    } else {
        // The projector's layout: the stage with the live expectations beside it, then pods
        // and workflows on the left, the selected order's pending work, history and logs on
        // the right (wide enough for an attempt and a failure's code).
        if stage_h > 0 {
            let [stage_l, exp_a] = Layout::horizontal([Constraint::Min(40), Constraint::Length(EXPECTATIONS_W)]).areas(stage_a);
            stage::draw(f, app, stage_l, big);
            scenario::expectations(f, app, exp_a);
        }
        let [left, right] = Layout::horizontal([Constraint::Percentage(43), Constraint::Percentage(57)]).areas(body);
        let pods_h = pods::height(app, false).min(9);
        let [pods_a, wf_a] = Layout::vertical([Constraint::Length(pods_h), Constraint::Min(5)]).areas(left);
        pods::draw(f, app, pods_a, false);
        workflows::draw(f, app, wf_a, false);
        // Counts live in the header on narrow screens; the logs grow when focused.
        let pend_h = pending::height(app, false, right.width.saturating_sub(2)).min(right.height / 3);
        let logs_h = if app.focus == Panel::Logs { right.height / 2 } else { 5 };
        let [pend_a, hist_a, logs_a] =
            Layout::vertical([Constraint::Length(pend_h), Constraint::Min(4), Constraint::Length(logs_h)]).areas(right);
        pending::draw(f, app, pend_a, false);
        history::draw(f, app, hist_a, false);
        logs::draw(f, app, logs_a);
    }
    status::footer(f, app, footer);
    overlay::draw(f, app, area);
}

/// Width of the expectations panel beside the stage on narrow screens.
const EXPECTATIONS_W: u16 = 38;
/// The pods, workflows, pending and history panels of the big layout (the timeline replaces
/// them when shown).
fn big_panels(f: &mut Frame, app: &App, left: Rect, mid: Rect) {
    let pods_h = pods::height(app, true).min(left.height / 3);
    let [pods_a, wf_a] = Layout::vertical([Constraint::Length(pods_h), Constraint::Min(4)]).areas(left);
    pods::draw(f, app, pods_a, true);
    workflows::draw(f, app, wf_a, true);
    let pend_h = pending::height(app, true, mid.width.saturating_sub(2)).min(mid.height / 2);
    let [pend_a, hist_a] = Layout::vertical([Constraint::Length(pend_h), Constraint::Min(4)]).areas(mid);
    pending::draw(f, app, pend_a, true);
    history::draw(f, app, hist_a, true);
}

/// "Terminal too small", with the size it has and the size it needs.
fn too_small(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let lines = vec![
        Line::from(Span::styled("Terminal too small", t.bold().fg(t.warn))),
        Line::from(Span::styled(format!("{}x{} here; Faultline needs {MIN_WIDTH}x{MIN_HEIGHT}", area.width, area.height), t.base())),
        Line::from(Span::styled("(100x30 or more for a projector)", t.dim())),
        Line::from(Span::styled("q quits", t.dim())),
    ];
    let top = area.height.saturating_sub(lines.len() as u16) / 2;
    let [_, middle] = Layout::vertical([Constraint::Length(top), Constraint::Min(0)]).areas(area);
    f.render_widget(ratatui::widgets::Paragraph::new(lines).alignment(ratatui::layout::Alignment::Center).style(t.base()).wrap(ratatui::widgets::Wrap { trim: true }), middle);
}

/// A bordered panel; the focused one gets a thick, coloured border.
pub(crate) fn panel<'a>(app: &App, title: impl Into<Line<'a>>, which: Option<Panel>) -> Block<'a> {
    let t = &app.theme;
    let focused = which.is_some_and(|p| p == app.focus);
    let (border, bt) = if focused { (t.fg(t.focus), BorderType::Thick) } else { (t.fg(t.border), BorderType::Rounded) };
    Block::default()
        .borders(Borders::ALL)
        .border_type(bt)
        .border_style(border)
        .title(title.into().style(if focused { t.bold().fg(t.focus) } else { t.bold().fg(t.title) }))
        .style(t.base())
}

/// `12s`, `3m04s`, `1h02m` (negative counts as zero).
pub fn fmt_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// A countdown with tenths under ten seconds: `3.2s`, `42s`, `2m10s`.
pub fn fmt_countdown(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 10_000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else {
        fmt_duration(ms + 999)
    }
}

/// Truncates to `max` columns with an ellipsis.
pub(crate) fn trunc(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Style of a workflow status word.
pub(crate) fn status_style(t: &Theme, label: &str) -> Style {
    match label {
        "running" => t.fg(t.info),
        "retrying" => t.fg(t.warn),
        "completed" => t.fg(t.ok),
        "failed" | "timed out" | "terminated" => t.fg(t.err),
        _ => t.dim(),
    }
}

/// Key hint: `key` in bold, then its meaning.
pub(crate) fn hint<'a>(t: &Theme, key: &'a str, what: &'a str) -> [Span<'a>; 2] {
    [Span::styled(key, t.bold().fg(t.focus)), Span::styled(format!(" {what}  "), t.base())]
}

pub(crate) fn area_inner(r: Rect) -> Rect {
    Rect { x: r.x + 1, y: r.y + 1, width: r.width.saturating_sub(2), height: r.height.saturating_sub(2) }
}
