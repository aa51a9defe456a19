//! Pods panel: name, version, state, health, restarts, uptime; or why pods are unavailable.
//! Under a pod whose link (the worker's link to it through the fault proxy) has faults, a
//! row names the other end and the faults (`↳ worker  +3000ms`, `cut`); with no fault the
//! panel is as it always was. The narrow layout (100 columns) has no room for more rows, so
//! there the fault takes the pod's uptime cell instead (`cut…`, `+3000ms`, in the warning colour), and adding a
//! fault never pushes a pod out of the panel.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{fmt_duration, panel};
use crate::dashboard::app::{App, Panel};
use crate::dashboard::views::pod_state_label;
use crate::runtime::{Health, PodState};

/// Rows wanted: one per pod (and, on the big layout, per faulted link), plus the header and
/// the borders.
pub fn height(app: &App, big: bool) -> u16 {
    if app.pods.rows.is_empty() {
        4
    } else {
        let fault_rows = if big { faulted_links(app).len() } else { 0 };
        (app.pods.rows.len() + fault_rows) as u16 + 3
    }
}

/// The faults of every link into `pod`, folded into one short cell: a cut link says `cut`
/// (nothing else gets through it), otherwise the first fault, with `…` when there are more.
fn folded_faults(links: &[(String, String, Vec<String>)], pod: &str) -> Option<String> {
    let faults: Vec<&String> = links.iter().filter(|(to, _, _)| to == pod).flat_map(|(_, _, f)| f).collect();
    let first = faults.iter().find(|f| f.as_str() == "cut").or(faults.first())?;
    if faults.len() == 1 && first.chars().count() <= FAULT_CELL {
        return Some(first.to_string());
    }
    Some(format!("{}…", first.chars().take(FAULT_CELL - 1).collect::<String>()))
}

/// The width of the uptime cell, which a fault takes on the narrow layout.
const FAULT_CELL: usize = 7;

/// (pod the link reaches, the other end, its faults) for every link with a fault.
fn faulted_links(app: &App) -> Vec<(String, String, Vec<String>)> {
    app.pods
        .links
        .iter()
        .filter_map(|l| {
            let (from, to) = l.name.split_once("->")?;
            let faults = l.faults();
            (!faults.is_empty()).then(|| (to.to_string(), from.to_string(), faults))
        })
        .collect()
}

pub fn draw(f: &mut Frame, app: &App, area: Rect, big: bool) {
    let t = &app.theme;
    let title = match &app.opts.runtime {
        Some(rt) => format!(" Pods ({}) ", rt.kind()),
        None => " Pods ".to_string(),
    };
    let block = panel(app, title, Some(Panel::Pods));
    if let Some(why) = &app.pods.unavailable {
        let p = Paragraph::new(vec![Line::from(Span::styled(format!("Docker not running: {why}"), t.bold().fg(t.err)))])
            .wrap(Wrap { trim: true })
            .block(block);
        f.render_widget(p, area);
        return;
    }
    if app.pods.rows.is_empty() {
        let msg = if app.opts.runtime.is_some() { "waiting for pod status…" } else { "no pod runtime: attached to the engine only" };
        f.render_widget(Paragraph::new(Span::styled(msg, t.dim())).block(block), area);
        return;
    }
    let sel = app.pods.selected.min(app.pods.rows.len() - 1);
    let fit = area.height.saturating_sub(3) as usize;
    let links = faulted_links(app);
    let mut rows: Vec<Row> = Vec::new();
    let mut sel_row = 0;
    for (i, p) in app.pods.rows.iter().enumerate() {
        let state_style = match p.state {
            PodState::Running => t.fg(t.ok),
            PodState::Starting | PodState::Paused | PodState::Disconnected => t.fg(t.warn),
            _ => t.fg(t.err),
        };
        let (health, health_style) = match p.health {
            Health::Healthy => ("healthy", t.fg(t.ok)),
            Health::Unhealthy => ("unhealthy", t.fg(t.err)),
            Health::Starting => ("starting", t.fg(t.warn)),
            Health::Unknown => ("-", t.dim()),
        };
        // A pod with several versions (x-faultline-images): the first is the `b` build,
        // drawn as an error, the others as fixed.
        let versions = app.opts.runtime.as_ref().map(|rt| rt.topology().versions_of(&p.name)).unwrap_or_default();
        let version_style = match versions.iter().position(|v| *v == p.version) {
            Some(0) if versions.len() > 1 => t.fg(t.err),
            Some(_) if versions.len() > 1 => t.fg(t.ok),
            _ => t.base(),
        };
        let uptime = match (p.state, p.started_at) {
            (PodState::Running | PodState::Paused | PodState::Disconnected, Some(at)) => {
                let started = at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
                fmt_duration(app.now_ms - started)
            }
            _ => "-".into(),
        };
        let mut state = pod_state_label(p.state).to_string();
        if let (PodState::Exited, Some(code)) = (p.state, p.exit_code) {
            state = format!("exited({code})");
        }
        let mut cells = vec![Span::styled(p.name.clone(), t.bold()), Span::styled(p.version.clone(), version_style)];
        if big {
            cells.push(Span::styled(state, state_style));
            cells.push(Span::styled(health, health_style));
            cells.push(Span::styled(p.restarts.to_string(), if p.restarts > 0 { t.fg(t.warn) } else { t.base() }));
        } else {
            // Narrow screens fold health into the state: `running ✓`, `running ✗`.
            let mark = match p.health {
                Health::Healthy => " ✓",
                Health::Unhealthy => " ✗",
                Health::Starting => " …",
                Health::Unknown => "",
            };
            let style = if p.health == Health::Unhealthy { health_style } else { state_style };
            cells.push(Span::styled(format!("{state}{mark}"), style));
        }
        match folded_faults(&links, &p.name).filter(|_| !big) {
            Some(fault) => cells.push(Span::styled(fault, t.bold().fg(t.warn))),
            None => cells.push(Span::styled(uptime, t.base())),
        }
        let row = Row::new(cells);
        if i == sel {
            sel_row = rows.len();
        }
        rows.push(if i == sel && app.focus == Panel::Pods { row.style(t.selected()) } else { row });
        for (_, from, faults) in links.iter().filter(|(to, _, _)| big && *to == p.name) {
            let (first, rest) = faults.split_first().map(|(f, r)| (f.clone(), r.join(" "))).unwrap_or_default();
            rows.push(Row::new(vec![Span::styled(format!(" ↳ {from}"), t.dim()), Span::styled(first, t.bold().fg(t.warn)), Span::styled(rest, t.bold().fg(t.warn))]));
        }
    }
    let offset = (sel_row + 1).saturating_sub(fit);
    let rows = rows.into_iter().skip(offset).take(fit);
    let mut widths = vec![Constraint::Length(12), Constraint::Length(9)];
    let mut header = vec!["pod", "version"];
    if big {
        widths.extend([Constraint::Length(12), Constraint::Length(9), Constraint::Length(8)]);
        header.extend(["state", "health", "restarts"]);
    } else {
        widths.push(Constraint::Length(12));
        header.push("state");
    }
    widths.push(Constraint::Length(FAULT_CELL as u16));
    header.push("uptime");
    let table = Table::new(rows, widths).header(Row::new(header).style(t.dim())).block(block).column_spacing(1);
    f.render_widget(table, area);
}
