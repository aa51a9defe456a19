//! Pending activities (attempt out of maximum, last failure, a countdown gauge to the next retry)
//! and durable timers (progress towards the fire time) of the selected workflow.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::symbols;
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};
use ratatui::Frame;

use super::{area_inner, fmt_countdown, panel, trunc};
use crate::dashboard::app::App;
use crate::projection::{ActivityState, RunView};

/// One line of the panel.
enum Item<'a> {
    Text(Line<'a>),
    /// A gauge: label on the left, ratio, gauge label.
    Gauge { left: Line<'a>, ratio: f64, label: String, warn: bool },
}

fn items<'a>(app: &'a App, run: Option<&'a RunView>, width: usize) -> Vec<Item<'a>> {
    let t = &app.theme;
    let mut out = Vec::new();
    if app.no_worker_polling() {
        out.push(Item::Text(Line::from(Span::styled(
            format!("no worker polling on '{}': start the worker pod", app.opts.task_queue),
            t.bold().fg(t.err),
        ))));
    }
    let Some(run) = run else {
        out.push(Item::Text(Line::from(Span::styled("no workflow selected", t.dim()))));
        return out;
    };
    if let Some(msg) = &run.task_failure {
        out.push(Item::Text(Line::from(vec![
            Span::styled("workflow task failing: ", t.bold().fg(t.err)),
            Span::styled(msg.as_str(), t.fg(t.err)),
        ])));
    }
    for a in run.activities.values() {
        let max = if a.max_attempts == 0 { "∞".to_string() } else { a.max_attempts.to_string() };
        let left = Line::from(vec![
            Span::styled(format!("{} #{}", a.activity_type, a.seq), t.bold()),
            Span::styled(format!("  attempt {}/{}", a.attempt, max), if a.attempt > 1 { t.fg(t.warn) } else { t.base() }),
        ]);
        match (a.state, a.next_retry_at_ms, a.failed_at_ms) {
            (ActivityState::Backoff, Some(next), Some(failed)) => {
                let total = (next - failed).max(1) as f64;
                let ratio = ((app.now_ms - failed) as f64 / total).clamp(0.0, 1.0);
                let left_ms = next - app.now_ms;
                let label = if left_ms > 0 { format!("retry in {}", fmt_countdown(left_ms)) } else { "retry due".to_string() };
                out.push(Item::Gauge { left, ratio, label, warn: true });
                if let Some(f) = &a.last_failure {
                    // The failure is the lesson: give it up to two rows, broken between words.
                    for (i, text) in failure_rows(f, width.saturating_sub(4).max(10)).into_iter().enumerate() {
                        let lead = if i == 0 { "  └ " } else { "    " };
                        out.push(Item::Text(Line::from(vec![Span::styled(lead, t.dim()), Span::styled(text, t.fg(t.err))])));
                    }
                }
            }
            (state, _, _) => {
                let what = match state {
                    ActivityState::Scheduled => "waiting for a worker",
                    ActivityState::Started => "running",
                    ActivityState::Backoff => "retrying",
                };
                let mut spans = left.spans;
                spans.push(Span::styled(format!("  {what}"), t.fg(t.info)));
                out.push(Item::Text(Line::from(spans)));
            }
        }
    }
    for tm in run.timers.values() {
        let total = (tm.fire_at_ms - tm.started_at_ms).max(1) as f64;
        let ratio = ((app.now_ms - tm.started_at_ms) as f64 / total).clamp(0.0, 1.0);
        let left_ms = tm.fire_at_ms - app.now_ms;
        let name = run.labels.get(&tm.seq).map(super::workflows::step_text).unwrap_or_else(|| "timer".into());
        let label = if left_ms > 0 { format!("fires in {}", fmt_countdown(left_ms)) } else { "firing".into() };
        out.push(Item::Gauge { left: Line::from(Span::styled(format!("⏲ {name} #{}", tm.seq), t.bold().fg(t.info))), ratio, label, warn: false });
    }
    if run.activities.is_empty() && run.timers.is_empty() && run.task_failure.is_none() {
        let msg = if run.status.is_closed() { "closed: nothing pending" } else { "nothing pending" };
        out.push(Item::Text(Line::from(Span::styled(msg, t.dim()))));
    }
    out
}

/// `failure` in at most two rows of `room` columns, broken between words; the second ends
/// with `…` when the rest does not fit.
fn failure_rows(failure: &str, room: usize) -> Vec<String> {
    let failure = failure.trim();
    let rows = textwrap::wrap(failure, room);
    if rows.len() <= 2 {
        return rows.iter().map(|r| r.to_string()).collect();
    }
    // The first row is a prefix of the message; the second is rewrapped with room for " …".
    let first = rows[0].to_string();
    let rest = failure.get(first.len()..).unwrap_or("").trim_start();
    let second = textwrap::wrap(rest, room.saturating_sub(2).max(1)).first().map(|r| r.to_string()).unwrap_or_default();
    vec![first, format!("{second} …")]
}

/// Rows wanted (capped by the caller).
pub fn height(app: &App, big: bool, width: u16) -> u16 {
    let rows: u16 = items(app, app.selected_run(), width as usize)
        .iter()
        .map(|i| match i {
            Item::Gauge { .. } if !big => 2,
            _ => 1,
        })
        .sum();
    rows + 2
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let run = app.selected_run();
    let title = match run {
        Some(r) => {
            // The describe answer (fetched when the selection changes) adds who polls the queue.
            let pollers = app
                .described
                .as_ref()
                .filter(|d| d.summary.workflow_id == r.workflow_id)
                .map(|d| format!(" · {} poller(s) on '{}'", d.pollers.len(), d.summary.task_queue))
                .unwrap_or_default();
            format!(" Pending · {}{pollers} ", r.workflow_id)
        }
        None => " Pending ".into(),
    };
    f.render_widget(panel(app, title, None), area);
    let inner = area_inner(area);
    let gauge_w = if big { 34.min(inner.width / 2) } else { inner.width.saturating_sub(2) };
    let mut y = inner.y;
    let bottom = inner.y + inner.height;
    for item in items(app, run, inner.width as usize) {
        if y >= bottom {
            break;
        }
        let row = Rect { y, height: 1, ..inner };
        y += 1;
        match item {
            Item::Text(line) => f.render_widget(Paragraph::new(line).style(t.base()), row),
            Item::Gauge { left, ratio, label, warn } => {
                // Wide: text and gauge on one row. Narrow: the gauge gets its own row below.
                let (l, g) = if big {
                    let [l, g] = Layout::horizontal([Constraint::Min(10), Constraint::Length(gauge_w)]).areas(row);
                    (l, Some(g))
                } else if y < bottom {
                    let g = Rect { x: row.x + 2, y, width: gauge_w, height: 1 };
                    y += 1;
                    (row, Some(g))
                } else {
                    (row, None)
                };
                let width = l.width as usize;
                let text: String = left.spans.iter().map(|s| s.content.as_ref()).collect();
                let left = if text.chars().count() > width { Line::from(Span::styled(trunc(&text, width), t.bold())) } else { left };
                f.render_widget(Paragraph::new(left).style(t.base()), l);
                let Some(g) = g else { continue };
                let color = if warn { t.warn } else { t.info };
                let gauge = LineGauge::default()
                    .ratio(ratio)
                    .label(Span::styled(format!("{label:<14}"), t.bold().fg(color)))
                    .filled_symbol(symbols::line::THICK_HORIZONTAL)
                    .unfilled_symbol(symbols::line::THICK_HORIZONTAL)
                    .filled_style(t.fg(color).add_modifier(Modifier::BOLD))
                    .unfilled_style(t.dim())
                    .style(t.base());
                f.render_widget(gauge, g);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::failure_rows;

    #[test]
    fn a_failure_breaks_between_words_and_says_when_it_is_cut() {
        let f = "payment failed (500 AmountMismatch): amount mismatch on order bugged-pod-10aba2-003: the order says 27.45 EUR";
        let rows = failure_rows(f, 40);
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.chars().count() <= 40), "{rows:?}");
        assert_eq!(rows[0], "payment failed (500 AmountMismatch):");
        assert!(rows[1].starts_with("amount mismatch on order") && rows[1].ends_with('…'), "{rows:?}");
        assert_eq!(failure_rows("dns error", 40), ["dns error"]);
        let indented = failure_rows("   leading spaces then a message long enough for two rows of text", 20);
        assert_eq!(indented, ["leading spaces then", "a message long …"]);
    }
}
