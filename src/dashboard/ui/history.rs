//! History panel of the selected workflow: the parent/child tree, then the events (compact view
//! without workflow-task bookkeeping, or full), with every activity attempt and its failure.
//! Enter on a row opens its raw JSON (see `overlay`). Only the visible window is formatted.

use faultline_proto::{EventKind, HistoryEvent};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::workflows::{status_label, step_text};
use super::{area_inner, fmt_countdown, fmt_duration, panel, status_style, trunc};
use crate::dashboard::app::{App, Panel};
use crate::projection::{RunView, Step};
use crate::dashboard::theme::Theme;

fn label(run: &RunView, seq: u64) -> String {
    match run.labels.get(&seq) {
        // History rows name a child by its id, which tells siblings apart.
        Some(Step::Child { workflow_id, .. }) => format!("child {workflow_id}"),
        Some(step) => step_text(step),
        None => format!("#{seq}"),
    }
}

/// A short name for the event column of narrow screens, so the details keep their room.
pub(crate) fn short_name(kind: &EventKind) -> &'static str {
    use EventKind::*;
    match kind {
        WorkflowStarted { .. } => "started",
        WorkflowCompleted { .. } => "done ✓",
        WorkflowFailed { .. } => "FAILED",
        WorkflowCanceled { .. } => "cancel",
        WorkflowTerminated { .. } => "killed",
        WorkflowTimedOut => "timeout",
        WorkflowContinuedAsNew { .. } => "new run",
        WorkflowCancelRequested { .. } => "cancel?",
        WorkflowSignaled { .. } => "signal",
        WorkflowTaskScheduled { .. } | WorkflowTaskStarted { .. } | WorkflowTaskCompleted { .. } => "wf task",
        WorkflowTaskFailed { .. } | WorkflowTaskTimedOut => "task ✗",
        ActivityScheduled { .. } => "queued",
        ActivityStarted { .. } => "running",
        ActivityCompleted { .. } => "done",
        ActivityFailed { .. } => "failed",
        ActivityTimedOut { .. } => "timeout",
        ActivityCancelRequested { .. } | ActivityCanceled { .. } => "cancel",
        TimerStarted { .. } => "timer",
        TimerFired { .. } => "fired",
        TimerCanceled { .. } => "timer ✗",
        ChildWorkflowInitiated { .. } | ChildWorkflowStarted { .. } => "child",
        ChildWorkflowStartFailed { .. } | ChildWorkflowFailed { .. } => "child ✗",
        ChildWorkflowCompleted { .. } => "child ✓",
        ChildWorkflowCanceled { .. } | ChildWorkflowTerminated { .. } | ChildWorkflowTimedOut { .. } => "child ■",
        ExternalSignalSent { .. } | ExternalSignalFailed { .. } => "signal →",
        MarkerRecorded { .. } => "marker",
    }
}

/// A failure message with the words that say nothing taken out (`returned`, the HTTP reason
/// phrase), so a narrow line reaches the words that matter. A code in parentheses
/// (`payment failed (500 AmountMismatch): …`) comes first: it is what tells failures apart.
pub(crate) fn key_words(message: &str) -> String {
    if let (Some(open), Some(close)) = (message.find('('), message.find(')')) {
        if open < close && open < 40 {
            let rest = message[close + 1..].trim_start_matches([':', ' ']);
            return format!("{} · {rest}", &message[open + 1..close]);
        }
    }
    let mut m = message.to_string();
    for noise in [" Internal Server Error", " Service Unavailable", " Bad Gateway", "returned ", "HTTP "] {
        m = m.replace(noise, "");
    }
    m
}

/// One-line description of an event and the colour that fits it; `narrow` puts the attempt
/// and the failure's key words first.
pub(crate) fn describe_for(t: &Theme, run: &RunView, ev: &HistoryEvent, narrow: bool) -> (String, Style) {
    use EventKind::*;
    if narrow {
        match &ev.kind {
            ActivityStarted { seq, attempt, .. } => return (format!("{} #{attempt}", label(run, *seq)), t.base()),
            ActivityCompleted { seq, attempt, .. } => return (format!("{} #{attempt} ok", label(run, *seq)), t.fg(t.ok)),
            ActivityFailed { seq, attempt, failure, .. } => {
                return (format!("{} #{attempt}: {}", label(run, *seq), key_words(&failure.message)), t.fg(t.err))
            }
            ActivityTimedOut { seq, attempt, timeout, .. } => return (format!("{} #{attempt}: {timeout:?} timeout", label(run, *seq)), t.fg(t.err)),
            _ => {}
        }
    }
    describe(t, run, ev)
}

/// One-line description of an event and the colour that fits it.
pub(crate) fn describe(t: &Theme, run: &RunView, ev: &HistoryEvent) -> (String, Style) {
    use EventKind::*;
    let rel = |at: i64| format!("+{}", fmt_countdown(at - run.started_at_ms));
    match &ev.kind {
        WorkflowStarted { workflow_type, task_queue, parent, .. } => {
            let p = parent.as_ref().map(|p| format!(", child of {}", p.workflow_id)).unwrap_or_default();
            (format!("{workflow_type} on '{task_queue}'{p}"), t.fg(t.info))
        }
        WorkflowCompleted { .. } => ("completed".into(), t.bold().fg(t.ok)),
        WorkflowFailed { failure } => (format!("failed: {}", failure.message), t.bold().fg(t.err)),
        WorkflowCanceled { .. } => ("canceled".into(), t.fg(t.warn)),
        WorkflowTerminated { reason } => (format!("terminated: {reason}"), t.fg(t.err)),
        WorkflowTimedOut => ("run timed out".into(), t.fg(t.err)),
        WorkflowContinuedAsNew { new_run_id, .. } => (format!("continued as new run {new_run_id}"), t.dim()),
        WorkflowCancelRequested { reason } => (format!("cancel requested: {reason}"), t.fg(t.warn)),
        WorkflowSignaled { name, payload } => (format!("signal '{name}' {}", trunc(&payload.to_string(), 40)), t.bold().fg(t.info)),
        WorkflowTaskScheduled { attempt, .. } => (if *attempt > 1 { format!("attempt {attempt}") } else { String::new() }, t.dim()),
        WorkflowTaskStarted { worker } | WorkflowTaskCompleted { worker } => (format!("by {worker}"), t.dim()),
        WorkflowTaskFailed { message, nondeterminism, .. } => {
            let kind = if *nondeterminism { "nondeterminism: " } else { "" };
            (format!("{kind}{message}"), t.fg(t.err))
        }
        WorkflowTaskTimedOut => ("workflow task timed out".into(), t.fg(t.warn)),
        ActivityScheduled { seq, options, .. } => {
            let max = options.retry_policy.maximum_attempts;
            let max = if max == 0 { "unlimited attempts".to_string() } else { format!("max {max} attempts") };
            (format!("{} ({max})", label(run, *seq)), t.base())
        }
        ActivityStarted { seq, attempt, worker } => (format!("{} attempt {attempt} on {worker}", label(run, *seq)), t.base()),
        ActivityCompleted { seq, attempt, .. } => (format!("{} attempt {attempt} ok", label(run, *seq)), t.fg(t.ok)),
        ActivityFailed { seq, attempt, failure, next_retry_at_ms } => {
            let next = match next_retry_at_ms {
                Some(at) => format!(" · retry at {}", rel(*at)),
                None => " · final".into(),
            };
            (format!("{} attempt {attempt} failed: {}{next}", label(run, *seq), failure.message), t.fg(t.err))
        }
        ActivityTimedOut { seq, attempt, timeout, next_retry_at_ms } => {
            let next = match next_retry_at_ms {
                Some(at) => format!(" · retry at {}", rel(*at)),
                None => " · final".into(),
            };
            (format!("{} attempt {attempt} timed out ({timeout:?}){next}", label(run, *seq)), t.fg(t.err))
        }
        ActivityCancelRequested { seq } | ActivityCanceled { seq } => (label(run, *seq), t.fg(t.warn)),
        TimerStarted { seq, duration_ms, fire_at_ms } => {
            (format!("#{seq} {} · fires at {}", fmt_duration(*duration_ms as i64), rel(*fire_at_ms)), t.fg(t.info))
        }
        TimerFired { seq } => (label(run, *seq), t.fg(t.info)),
        TimerCanceled { seq } => (label(run, *seq), t.dim()),
        ChildWorkflowInitiated { seq, workflow_id, workflow_type, .. } => (format!("#{seq} {workflow_type} {workflow_id}"), t.fg(t.info)),
        ChildWorkflowStarted { seq, .. } => (label(run, *seq), t.base()),
        ChildWorkflowStartFailed { seq, reason } => (format!("{}: {reason}", label(run, *seq)), t.fg(t.err)),
        ChildWorkflowCompleted { seq, .. } => (label(run, *seq), t.fg(t.ok)),
        ChildWorkflowFailed { seq, failure } => (format!("{}: {}", label(run, *seq), failure.message), t.fg(t.err)),
        ChildWorkflowCanceled { seq } | ChildWorkflowTerminated { seq } | ChildWorkflowTimedOut { seq } => {
            (label(run, *seq), t.fg(t.warn))
        }
        ExternalSignalSent { workflow_id, name, .. } => (format!("'{name}' → {workflow_id}"), t.base()),
        ExternalSignalFailed { workflow_id, reason, .. } => (format!("→ {workflow_id}: {reason}"), t.fg(t.err)),
        MarkerRecorded { name, .. } => (name.clone(), t.dim()),
    }
}

/// The parent/child tree around the run (empty when it has neither).
fn tree<'a>(app: &'a App, run: &'a RunView, max: usize) -> Vec<Line<'a>> {
    let t = &app.theme;
    if run.parent.is_none() && run.children.is_empty() {
        return Vec::new();
    }
    let node = |id: &str, ty: &str, status: &'static str, prefix: &'static str, me: bool| {
        Line::from(vec![
            Span::styled(prefix, t.dim()),
            Span::styled(id.to_string(), if me { t.bold().fg(t.focus) } else { t.base() }),
            Span::styled(format!(" {ty} "), t.dim()),
            Span::styled(status, status_style(t, status)),
        ])
    };
    let mut out = Vec::new();
    let mut prefix = "● ";
    if let Some(p) = &run.parent {
        let (ty, st) = app.store.get(p).map(|r| (r.workflow_type.as_str(), status_label(r))).unwrap_or(("", "unknown"));
        out.push(node(p, ty, st, "● ", false));
        prefix = "└─ ";
    }
    out.push(node(&run.workflow_id, &run.workflow_type, status_label(run), prefix, true));
    let child_prefix = if run.parent.is_some() { "   └─ " } else { "└─ " };
    for c in &run.children {
        if out.len() + 1 >= max && run.children.len() > 1 {
            out.push(Line::from(Span::styled(format!("{child_prefix}… {} children", run.children.len()), t.dim())));
            break;
        }
        let st = match (app.store.get(&c.workflow_id), c.status) {
            (Some(r), _) => status_label(r),
            (None, Some(s)) => s.as_str(),
            (None, None) => "starting",
        };
        out.push(node(&c.workflow_id, &c.workflow_type, st, child_prefix, false));
    }
    out
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let Some(run) = app.selected_run() else {
        let block = panel(app, " History ", Some(Panel::History));
        f.render_widget(Paragraph::new(Span::styled("select a workflow to see its history", t.dim())).block(block), area);
        return;
    };
    let view = if app.history_full { "full" } else { "compact" };
    let len = app.history_len(run);
    let title = format!(" History · {} · {view} · {len} events ", run.workflow_id);
    f.render_widget(panel(app, title, Some(Panel::History)), area);
    let inner = area_inner(area);
    let mut lines = tree(app, run, if big { 6 } else { 3 });
    if !lines.is_empty() {
        lines.push(Line::from(Span::styled("─".repeat(inner.width as usize), t.dim())));
    }
    if run.events.is_empty() && run.events_let_go > 0 {
        let url = app.opts.engine_url.trim_end_matches('/');
        lines.push(Line::from(Span::styled(
            format!("the {} events of this closed workflow were let go (the dashboard keeps the last {} events of closed workflows); selecting it pages them back from the engine. By hand:", run.events_let_go, crate::dashboard::app::HISTORY_BUDGET),
            t.dim(),
        )));
        lines.push(Line::from(Span::styled(format!("curl -s {url}/api/v1/workflows/{}/history", run.workflow_id), t.base())));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        return;
    }
    let rows_fit = (inner.height as usize).saturating_sub(lines.len());
    let sel = app.history_row(run);
    let offset = sel.map(|s| (s + 1).saturating_sub(rows_fit)).unwrap_or(0);
    let name_w = if big { 25 } else { 7 };
    for row in offset..(offset + rows_fit).min(len) {
        let Some(ei) = app.history_event_index(run, row) else { break };
        let ev = &run.events[ei];
        let (detail, style) = describe_for(t, run, ev, !big);
        let name = if big { trunc(ev.kind.name(), name_w) } else { trunc(short_name(&ev.kind), name_w) };
        // Narrow screens keep the id and time columns tight: the room goes to the attempt
        // and the failure's code.
        let (id_w, at_w) = if big { (4, 7) } else { (3, 6) };
        let mut line = Line::from(vec![
            Span::styled(format!("{:>id_w$} ", ev.event_id), t.dim()),
            Span::styled(format!("{:>at_w$} ", format!("+{}", fmt_countdown(ev.timestamp_ms - run.started_at_ms))), t.dim()),
            Span::styled(format!("{name:<name_w$} "), style),
            Span::styled(detail, style),
        ]);
        if Some(row) == sel && app.focus == Panel::History {
            line = line.style(t.selected());
            for s in line.spans.iter_mut() {
                s.style = t.selected();
            }
        }
        lines.push(line);
    }
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}
