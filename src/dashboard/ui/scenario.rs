//! The scenario's side panels: the list of steps with the current one highlighted and the
//! expectations below (large screens), or the expectations alone beside the stage (100x30,
//! where the stage lists the steps). Expectations show their live measured values.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::{area_inner, panel, trunc};
use crate::dashboard::app::App;
use crate::dashboard::views::{ScenarioView, StepStatus};
use crate::scenario::report::Verdict;

pub fn steps(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(sc) = &app.scenario else {
        let block = panel(app, " Scenario ", None);
        let p = Paragraph::new(vec![
            Line::from(Span::styled("no scenario: watching only", t.dim())),
            Line::from(Span::styled("faultline run scenarios/NAME.toml", t.dim())),
        ])
        .wrap(Wrap { trim: true })
        .block(block);
        f.render_widget(p, area);
        return;
    };
    f.render_widget(panel(app, " Scenario ", None), area);
    let inner = area_inner(area);
    let w = inner.width as usize;
    let mut lines = Vec::new();
    for (i, (info, st)) in sc.steps.iter().enumerate() {
        let (mark, style) = match st {
            StepStatus::Pending => ("·", t.dim()),
            StepStatus::Waiting => ("␣", t.bold().fg(t.warn)),
            StepStatus::Running => ("▶", t.bold().fg(t.focus)),
            StepStatus::Done => ("✓", t.fg(t.ok)),
            StepStatus::Failed(_) => ("✗", t.fg(t.err)),
        };
        let text = trunc(&format!("{mark} {}. {}", i + 1, info.title), w);
        let style = if sc.current == Some(i) { t.selected() } else { style };
        lines.push(Line::from(Span::styled(text, style)));
        if sc.current == Some(i) {
            lines.push(Line::from(Span::styled(trunc(&format!("    {}", info.trigger), w), t.dim())));
        }
        if let StepStatus::Failed(msg) = st {
            lines.push(Line::from(Span::styled(trunc(&format!("    {msg}"), w), t.fg(t.err))));
        }
    }
    if !sc.expectations.is_empty() || !sc.checks.is_empty() {
        lines.push(Line::from(Span::styled("Expectations", t.bold().fg(t.title))));
        lines.extend(expectation_lines(app, sc, w));
    }
    if let Some(note) = &sc.note {
        lines.push(Line::from(Span::styled(trunc(note, w), t.dim())));
    }
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}

/// One line per expectation: its mark, its name and the value measured so far.
fn expectation_lines(app: &App, sc: &ScenarioView, w: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    // Until the run reports its verdicts, each check's value is measured from the screen's
    // own projection: the same numbers the panels show.
    let live: Vec<(String, Option<Verdict>, String)> = if sc.expectations.is_empty() {
        sc.checks.iter().map(|c| (c.describe(), None, crate::scenario::expect::measure_live(c, &app.store))).collect()
    } else {
        sc.expectations.clone()
    };
    live.iter()
        .map(|(name, passed, measured)| {
            let (mark, style) = match passed {
                Some(Verdict::Passed) => ("✓", t.fg(t.ok)),
                Some(Verdict::Failed) => ("✗", t.fg(t.err)),
                Some(Verdict::NotEvaluated) => ("–", t.dim()),
                None => ("…", t.base()),
            };
            // The value first gets its room (it is what moves), the name the rest.
            let value_w = measured.chars().count().min(w / 2);
            let name_w = w.saturating_sub(value_w + 4);
            Line::from(vec![
                Span::styled(format!("{mark} {}: ", trunc(name, name_w)), style),
                Span::styled(trunc(measured, w.saturating_sub(name.chars().count().min(name_w) + 4)), t.bold().fg(t.info)),
            ])
        })
        .collect()
}

/// The expectations with their live values, beside the stage on a 100x30 screen.
pub fn expectations(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(sc) = &app.scenario else { return };
    let (done, total) = (sc.expectations.iter().filter(|e| e.1 == Some(Verdict::Passed)).count(), sc.expectations.len());
    let title = if sc.finished.is_some() { format!(" Expectations {done}/{total} met ") } else { " Expectations (live) ".to_string() };
    f.render_widget(panel(app, title, None), area);
    let inner = area_inner(area);
    let w = inner.width as usize;
    let mut lines = if sc.expectations.is_empty() && sc.checks.is_empty() {
        vec![Line::from(Span::styled("none: this scenario only shows", t.dim()))]
    } else {
        expectation_lines(app, sc, w)
    };
    let rows = inner.height as usize;
    if lines.len() > rows && rows > 0 {
        let more = lines.len() - (rows - 1);
        lines.truncate(rows - 1);
        lines.push(Line::from(Span::styled(format!("+{more} more (wider screen: all)"), t.dim())));
    }
    if let Some(StepStatus::Failed(msg)) = sc.current.and_then(|i| sc.steps.get(i)).map(|s| &s.1) {
        if lines.len() < rows {
            lines.push(Line::from(Span::styled(trunc(msg, w), t.fg(t.err))));
        }
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).style(t.base()), inner);
}
