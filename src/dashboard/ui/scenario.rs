//! The scenario: the narration line in large, clear text, and the list of steps with the
//! current one highlighted and the expectations below.

use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, BorderType, Paragraph, Wrap};
use ratatui::Frame;

use super::{area_inner, panel, trunc};
use crate::dashboard::app::App;
use crate::dashboard::views::StepStatus;
use crate::scenario::report::Verdict;

pub fn narration(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let Some(sc) = &app.scenario else { return };
    let step = match sc.narrated {
        Some(i) => format!(" {} · step {}/{}: {} ", sc.title, i + 1, sc.steps.len(), sc.steps.get(i).map(|s| s.0.title.as_str()).unwrap_or("")),
        None => format!(" {} ", sc.title),
    };
    let style = Style::default().fg(t.narration_fg).bg(t.narration_bg);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(style.fg(t.focus))
        .title(Span::styled(step, style.add_modifier(Modifier::BOLD)))
        .style(style);
    if sc.waiting() {
        block = block.title(Line::from(Span::styled(" ␣ space: next step ", style.fg(t.warn).add_modifier(Modifier::BOLD))).right_aligned());
    }
    let badge = match (sc.finished, &sc.setup_failed) {
        (_, Some(_)) => Some((" ✗ setup failed ", t.err)),
        (Some(Verdict::Passed), _) => Some((" ✓ all expectations met ", t.ok)),
        (Some(Verdict::Failed), _) => Some((" ✗ an expectation failed ", t.err)),
        (Some(Verdict::NotEvaluated), _) => Some((" ⏸ not evaluated ", t.warn)),
        (None, _) => None,
    };
    if let Some((txt, c)) = badge {
        block = block.title(Line::from(Span::styled(txt, style.fg(c).add_modifier(Modifier::BOLD))).right_aligned());
    }
    let mut lines = Vec::new();
    if big {
        lines.push(Line::default());
    }
    lines.push(Line::from(Span::styled(sc.narration.clone(), style.add_modifier(Modifier::BOLD))));
    if let (None, Some(note)) = (sc.current, &sc.note) {
        lines.push(Line::from(Span::styled(note.clone(), style)));
    }
    let p = Paragraph::new(lines).alignment(Alignment::Center).wrap(Wrap { trim: true }).block(block);
    f.render_widget(p, area);
}

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
    if !sc.expectations.is_empty() {
        lines.push(Line::from(Span::styled("Expectations", t.bold().fg(t.title))));
        for (name, passed, measured) in &sc.expectations {
            let (mark, style) = match passed {
                Some(Verdict::Passed) => ("✓", t.fg(t.ok)),
                Some(Verdict::Failed) => ("✗", t.fg(t.err)),
                Some(Verdict::NotEvaluated) => ("–", t.dim()),
                None => ("…", t.dim()),
            };
            lines.push(Line::from(Span::styled(trunc(&format!("{mark} {name}: {measured}"), w), style)));
        }
    }
    if let Some(note) = &sc.note {
        lines.push(Line::from(Span::styled(trunc(note, w), t.dim())));
    }
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}
