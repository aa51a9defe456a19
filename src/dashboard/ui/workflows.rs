//! Workflows panel: id, type, status, current step, attempt, age; filtered by status and text.
//! Only the rows that fit are built, whatever the number of workflows.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Paragraph, Row, Table};
use ratatui::Frame;

use super::{fmt_duration, panel, status_style, trunc};
use crate::dashboard::app::{App, Panel, StatusFilter};
use crate::projection::{Category, RunView, Step};

/// The word shown for a run's status.
pub(crate) fn status_label(r: &RunView) -> &'static str {
    use faultline_proto::WorkflowStatus as S;
    match r.category() {
        Category::Running => "running",
        Category::Retrying => "retrying",
        Category::Completed => "completed",
        Category::Failed if r.status == S::TimedOut => "timed out",
        Category::Failed if r.status == S::Terminated => "terminated",
        Category::Failed => "failed",
        Category::Canceled => "canceled",
    }
}

/// What a run is doing, in words: its step, or `awaiting approve` when its pending timer is
/// the timeout of a signal it waits for.
pub(crate) fn run_step_text(r: &RunView) -> String {
    if let Step::Timer { duration_ms } = &r.step {
        let input = r.events.first().and_then(|e| match &e.kind {
            faultline_proto::EventKind::WorkflowStarted { input, .. } => Some(input),
            _ => None,
        });
        if let Some(signal) = input.and_then(|i| faultline_demo::order::awaited_signal(&r.workflow_type, i, *duration_ms)) {
            return format!("awaiting {signal}");
        }
    }
    step_text(&r.step)
}

/// A step (or what a history `seq` refers to) in words: `charge_payment`, `timer 30s`,
/// `child Shipment`.
pub(crate) fn step_text(step: &Step) -> String {
    match step {
        Step::Unknown => String::new(),
        Step::Started => "started".into(),
        Step::Activity { activity_type } => activity_type.clone(),
        Step::Timer { duration_ms } => format!("timer {}", fmt_duration(*duration_ms as i64)),
        Step::Child { workflow_type, .. } => format!("child {workflow_type}"),
        Step::Signaled { name } => format!("signal {name}"),
        Step::SignalSent { name, to } => format!("signal {name} → {to}"),
        Step::CancelRequested => "cancel requested".into(),
        Step::Closed(s) => s.as_str().replace('_', " "),
    }
}

/// The prefix every listed id shares, cut after a separator (`order-bugged-pod-k3x9-`), so
/// the rows can show only what tells them apart. Empty when it would not help.
pub(crate) fn shared_prefix<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut prefix: Option<&str> = None;
    let mut n = 0;
    for id in ids {
        n += 1;
        prefix = Some(match prefix {
            None => id,
            Some(p) => {
                let common = p.char_indices().zip(id.chars()).take_while(|((_, a), b)| a == b).last().map(|((i, c), _)| i + c.len_utf8()).unwrap_or(0);
                &p[..common]
            }
        });
    }
    let p = prefix.unwrap_or("");
    let cut = p.rfind(['-', '_', '.', '/']).map(|i| i + 1).unwrap_or(0);
    if n < 2 || cut < 6 {
        String::new()
    } else {
        p[..cut].to_string()
    }
}

/// How a row names its workflow: without the prefix the orders share; a child (whose id
/// starts with its own word) without the rest of that prefix, so under
/// `order-bugged-pod-k3x9-` the child `shipment-bugged-pod-k3x9-006` reads `shipment-006`.
pub(crate) fn short_id(id: &str, is_child: bool, prefix: &str) -> String {
    if let Some(rest) = id.strip_prefix(prefix).filter(|_| !prefix.is_empty()) {
        return rest.to_string();
    }
    let after_first_word = prefix.find(['-', '_', '.', '/']).map(|i| &prefix[i + 1..]).unwrap_or("");
    match id.find(after_first_word) {
        Some(at) if is_child && after_first_word.len() >= 4 => format!("{}{}", &id[..at], &id[at + after_first_word.len()..]),
        _ => id.to_string(),
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let vis = app.visible_workflows();
    let runs = app.store.runs();
    // The orders' shared prefix: children (`shipment-…`) would otherwise reduce it to nothing.
    let orders = vis.iter().filter(|i| runs[**i].parent.is_none()).count();
    let prefix = if orders >= 2 {
        shared_prefix(vis.iter().filter(|i| runs[**i].parent.is_none()).map(|i| runs[*i].workflow_id.as_str()))
    } else {
        shared_prefix(vis.iter().map(|i| runs[*i].workflow_id.as_str()))
    };
    let mut title = format!(" Workflows {}", vis.len());
    if !prefix.is_empty() {
        title.push_str(&format!(" · {prefix}…"));
    }
    if app.status_filter != StatusFilter::All {
        title.push_str(&format!(" · {}", app.status_filter.label()));
    }
    if !app.wf_filter.is_empty() {
        title.push_str(&format!(" · /{}", app.wf_filter));
    }
    title.push(' ');
    let block = panel(app, title, Some(Panel::Workflows));
    if vis.is_empty() {
        let msg = if app.store.is_empty() { "no workflows yet — press n to start an order" } else { "no workflow matches the filter (Esc clears it)" };
        f.render_widget(Paragraph::new(Span::styled(msg, t.dim())).block(block), area);
        return;
    }
    let selected = app.selected_run().map(|r| r.workflow_id.as_str());
    let sel_pos = selected.and_then(|id| vis.iter().position(|i| runs[*i].workflow_id == id)).unwrap_or(0);
    let rows_fit = area.height.saturating_sub(3) as usize;
    let offset = (sel_pos + 1).saturating_sub(rows_fit);
    // The id column is as wide as the longest short id shown (the shared prefix is in the
    // title); the step column takes the rest, so `ChargePayment ×5` survives at 100 columns.
    let short = |i: usize| short_id(&runs[i].workflow_id, runs[i].parent.is_some(), &prefix);
    let longest = vis.iter().map(|i| short(*i).chars().count() + 1).max().unwrap_or(4);
    let id_w = longest.clamp(4, if big { 24 } else { 16 }) as u16;
    let fixed = if big { 12 + 10 + 3 + 6 + 6 } else { 9 + 5 + 3 };
    let step_w: u16 = area.width.saturating_sub(2 + id_w + fixed).clamp(10, if big { 28 } else { 22 });
    let rows = vis.iter().skip(offset).take(rows_fit).map(|i| {
        let r = &runs[*i];
        let label = status_label(r);
        let age = fmt_duration(r.closed_at_ms.unwrap_or(app.now_ms) - r.started_at_ms);
        let retried = r.attempt > 1;
        let step_label = run_step_text(r);
        let indent = if r.parent.is_some() { "└" } else { "" };
        let mut cells = vec![Span::styled(trunc(&format!("{indent}{}", short(*i)), id_w as usize), t.base())];
        if big {
            cells.push(Span::styled(trunc(&r.workflow_type, 12), t.dim()));
        }
        cells.push(Span::styled(label, status_style(t, label)));
        if big {
            cells.push(Span::styled(trunc(&step_label, step_w as usize), t.base()));
            let attempt = if retried { r.attempt.to_string() } else { String::new() };
            cells.push(Span::styled(attempt, t.fg(t.warn)));
        } else {
            // Narrow screens fold the attempt into the step: `charge ×3`.
            let suffix = format!(" ×{}", r.attempt);
            let step = if retried { format!("{}{suffix}", trunc(&step_label, (step_w as usize).saturating_sub(suffix.chars().count()))) } else { trunc(&step_label, step_w as usize) };
            cells.push(Span::styled(step, if retried { t.fg(t.warn) } else { t.base() }));
        }
        cells.push(Span::styled(age, t.dim()));
        let row = Row::new(cells);
        if Some(r.workflow_id.as_str()) == selected {
            if app.focus == Panel::Workflows {
                row.style(t.selected())
            } else {
                row.style(t.bold().fg(t.focus))
            }
        } else {
            row
        }
    });
    let mut widths = vec![Constraint::Length(id_w)];
    let mut header = vec!["id"];
    if big {
        widths.push(Constraint::Length(12));
        header.push("type");
        widths.extend([Constraint::Length(10), Constraint::Length(step_w), Constraint::Length(3), Constraint::Length(6)]);
        header.extend(["status", "step", "att", "age"]);
    } else {
        widths.extend([Constraint::Length(9), Constraint::Length(step_w), Constraint::Length(5)]);
        header.extend(["status", "step", "age"]);
    }
    let table = Table::new(rows, widths).header(Row::new(header).style(t.dim())).block(block).column_spacing(1);
    f.render_widget(table, area);
}

#[cfg(test)]
mod tests {
    use super::{shared_prefix, short_id};

    #[test]
    fn children_keep_their_word_and_the_order_number() {
        let orders = ["order-bugged-pod-dc2084-006", "order-bugged-pod-dc2084-005"];
        let prefix = shared_prefix(orders.into_iter());
        assert_eq!(prefix, "order-bugged-pod-dc2084-");
        assert_eq!(short_id(orders[0], false, &prefix), "006");
        assert_eq!(short_id("shipment-bugged-pod-dc2084-006", true, &prefix), "shipment-006");
        assert_eq!(short_id("order-1005/3", true, "order-"), "1005/3");
        assert_eq!(short_id("elsewhere-1", true, &prefix), "elsewhere-1");
        assert_eq!(short_id("order-7", false, ""), "order-7");
    }
}
