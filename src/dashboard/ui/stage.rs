//! The stage: what an audience reads first. A bar with the scenario, the step number and what
//! the presenter can do next; the step list on one line; the narrated step's title in large
//! type ([`tui_big_text`], half-block pixels, when it fits the width; plain bold otherwise);
//! and the narration, which follows the state (see `ScenarioView::apply`).

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;
use tui_big_text::{BigText, PixelSize};

use super::trunc;
use crate::dashboard::app::App;
use crate::dashboard::views::{ScenarioView, StepStatus};
use crate::scenario::report::Verdict;

/// Rows of the large title (both pixel sizes used draw the 8x8 font in four rows).
const BIG_ROWS: u16 = 4;

/// Rows the stage takes in `width` columns: the bar, the step line, the title (four rows in
/// large type, one when it does not fit), the narration.
pub fn height(app: &App, big: bool, width: u16) -> u16 {
    let Some(sc) = &app.scenario else { return 0 };
    let title_rows = match pixel_size(&step_title(sc), width.saturating_sub(2), big) {
        Some(_) if sc.setup_failed.is_none() => BIG_ROWS,
        _ => 1,
    };
    2 + title_rows + if big { 4 } else { 3 }
}

/// The title of the step the narration belongs to (the scenario's title before the first).
fn step_title(sc: &ScenarioView) -> String {
    match sc.narrated.and_then(|i| sc.steps.get(i)) {
        Some(s) => s.0.title.clone(),
        None => sc.title.clone(),
    }
}

/// The largest pixel size in which `text` fits `width` columns, if any: 8 columns a letter
/// at half height, 4 with quadrants.
fn pixel_size(text: &str, width: u16, big: bool) -> Option<PixelSize> {
    let n = text.chars().count() as u16;
    if big && n * 8 <= width {
        Some(PixelSize::HalfHeight)
    } else if n * 4 <= width {
        Some(PixelSize::Quadrant)
    } else {
        None
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let Some(sc) = &app.scenario else { return };
    let style = Style::default().fg(t.narration_fg).bg(t.narration_bg);
    f.render_widget(Paragraph::new("").style(style), area);
    let title = step_title(sc);
    let size = pixel_size(&title, area.width.saturating_sub(2), big).filter(|_| sc.setup_failed.is_none());
    let title_rows = if size.is_some() { BIG_ROWS } else { 1 };
    let [bar, steps_a, title_a, narration_a] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Length(title_rows), Constraint::Min(1)]).areas(area);
    draw_bar(f, app, sc, bar, style);
    f.render_widget(Paragraph::new(step_line(app, sc, steps_a.width as usize, style)).style(style), steps_a);

    match size {
        Some(size) => {
            let text = BigText::builder()
                .pixel_size(size)
                .style(style.fg(t.focus).add_modifier(Modifier::BOLD))
                .lines(vec![Line::from(title)])
                .centered()
                .build();
            f.render_widget(text, title_a);
        }
        None => {
            // Too long for large type: the title in bold, underlined.
            let line = Line::from(Span::styled(trunc(&title, title_a.width as usize), style.fg(t.focus).add_modifier(Modifier::BOLD | Modifier::UNDERLINED)));
            f.render_widget(Paragraph::new(line).alignment(Alignment::Center).style(style), title_a);
        }
    }
    let mut lines = vec![Line::from(Span::styled(sc.narration.clone(), style.add_modifier(Modifier::BOLD)))];
    if let (None, Some(note)) = (sc.current, &sc.note) {
        lines.push(Line::from(Span::styled(note.clone(), style)));
    }
    f.render_widget(Paragraph::new(lines).alignment(Alignment::Center).wrap(Wrap { trim: true }).style(style), narration_a);
}

/// ` bugged-pod · step 2/4` on the left; on the right what the presenter can do, or the verdict.
fn draw_bar(f: &mut Frame, app: &App, sc: &ScenarioView, area: Rect, style: Style) {
    let t = &app.theme;
    let mut left = format!(" {}", sc.title);
    if let Some(i) = sc.narrated {
        left.push_str(&format!(" · step {}/{}", i + 1, sc.steps.len()));
    }
    let right = match (sc.finished, &sc.setup_failed) {
        (_, Some(_)) => Some((" ✗ setup failed ", t.err)),
        (Some(Verdict::Passed), _) => Some((" ✓ all expectations met ", t.ok)),
        (Some(Verdict::Failed), _) => Some((" ✗ an expectation failed ", t.err)),
        (Some(Verdict::NotEvaluated), _) => Some((" ⏸ not evaluated ", t.warn)),
        (None, _) if sc.waiting() => Some((" ␣ space: next step ", t.warn)),
        (None, _) => None,
    };
    let right_w = right.map(|(s, _)| s.chars().count()).unwrap_or(0);
    let left = trunc(&left, (area.width as usize).saturating_sub(right_w + 1));
    let pad = (area.width as usize).saturating_sub(left.chars().count() + right_w);
    let mut spans = vec![Span::styled(left, style.add_modifier(Modifier::BOLD)), Span::styled(" ".repeat(pad), style)];
    if let Some((txt, c)) = right {
        spans.push(Span::styled(txt, style.fg(c).add_modifier(Modifier::BOLD | Modifier::REVERSED)));
    }
    f.render_widget(Paragraph::new(Line::from(spans)).style(style), area);
}

/// The steps on one line, `✓ Orders arrive › ▶ They pile up retrying › · Retry now`, the
/// current one highlighted; when they do not fit, titles shrink from the far end of the story.
fn step_line<'a>(app: &App, sc: &ScenarioView, width: usize, style: Style) -> Line<'a> {
    let t = &app.theme;
    let n = sc.steps.len();
    if n == 0 {
        return Line::default();
    }
    let at = sc.current.unwrap_or(0);
    // Room per title: the current step gets its whole title when possible.
    let sep = 3;
    let marks = 2 * n + sep * (n - 1) + 1;
    let room = width.saturating_sub(marks);
    let current_len = sc.steps[at].0.title.chars().count();
    let others = n.saturating_sub(1).max(1);
    let other_room = room.saturating_sub(current_len.min(room)) / others;
    let mut spans = vec![Span::styled(" ", style)];
    for (i, (info, st)) in sc.steps.iter().enumerate() {
        let (mark, color) = match st {
            StepStatus::Pending => ("·", t.dim),
            StepStatus::Waiting => ("␣", t.warn),
            StepStatus::Running => ("▶", t.focus),
            StepStatus::Done => ("✓", t.ok),
            StepStatus::Failed(_) => ("✗", t.err),
        };
        let title = if i == at { trunc(&info.title, room) } else { trunc(&info.title, other_room) };
        let mut s = style.fg(color);
        if i == at {
            s = s.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
        }
        // With many steps the others keep only their marks.
        let text = if title.is_empty() || (i != at && other_room < 4) { mark.to_string() } else { format!("{mark} {title}") };
        spans.push(Span::styled(text, s));
        if i + 1 < n {
            spans.push(Span::styled(" › ", style.fg(t.dim)));
        }
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_type_only_when_the_title_fits() {
        assert_eq!(pixel_size("Retry now", 62, false), Some(PixelSize::Quadrant));
        assert_eq!(pixel_size("Still waiting, none failed", 62, false), None, "26 letters need 104 columns");
        assert_eq!(pixel_size("Retry now", 120, true), Some(PixelSize::HalfHeight));
        assert_eq!(pixel_size("They pile up retrying", 120, true), Some(PixelSize::Quadrant));
    }
}
