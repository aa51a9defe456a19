//! Merged pod logs, one colour per pod, with a text filter (`/` while the panel is focused).
//!
//! Pods log in tracing's format (`2026-12-02T01:37:57.972411Z  INFO engine::api: started`):
//! on screen the timestamp and the target are dropped and the level becomes the colour of the
//! text, so a narrow panel shows what happened rather than when to the microsecond.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{area_inner, panel, trunc};
use crate::dashboard::app::{App, Panel};
use crate::dashboard::theme::Theme;

/// The level of a log line, when it names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

/// (level, message) of a raw log line: ANSI colours, a leading timestamp, the level and a
/// `module::path:` target are taken off; anything else is kept as it is.
pub(crate) fn parse(raw: &str) -> (Option<Level>, String) {
    let plain = strip_ansi(raw);
    let mut rest = plain.trim_start();
    if let Some((first, after)) = rest.split_once(char::is_whitespace) {
        if looks_like_timestamp(first) {
            rest = after.trim_start();
        }
    }
    let mut level = None;
    if let Some((first, after)) = rest.split_once(char::is_whitespace) {
        level = match first {
            "ERROR" => Some(Level::Error),
            "WARN" => Some(Level::Warn),
            "INFO" => Some(Level::Info),
            "DEBUG" | "TRACE" => Some(Level::Debug),
            _ => None,
        };
        if level.is_some() {
            rest = after.trim_start();
            // `faultline_engine::api: message` -> `message`
            if let Some((target, msg)) = rest.split_once(": ") {
                if !target.is_empty() && target.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                    rest = msg;
                }
            }
        }
    }
    (level, rest.to_string())
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 19 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T'
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn level_style(t: &Theme, level: Option<Level>, pod_color: ratatui::style::Color) -> Style {
    match level {
        Some(Level::Error) => t.bold().fg(t.err),
        Some(Level::Warn) => t.fg(t.warn),
        Some(Level::Debug) => t.dim(),
        Some(Level::Info) | None => t.fg(pod_color),
    }
}

pub fn draw(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut title = " Logs".to_string();
    if !app.logs.filter.is_empty() {
        title.push_str(&format!(" · /{}", app.logs.filter));
    }
    if app.logs.scroll > 0 {
        title.push_str(&format!(" · ↑{}", app.logs.scroll));
    }
    title.push(' ');
    f.render_widget(panel(app, title, Some(Panel::Logs)), area);
    let inner = area_inner(area);
    let tail = app.logs.tail(inner.height as usize);
    let width = inner.width as usize;
    let tag_w = if width >= 80 { 12 } else { 9 };
    let lines: Vec<Line> = if tail.is_empty() {
        let msg = if app.logs.lines.is_empty() { "no pod logs yet" } else { "no log line matches the filter" };
        vec![Line::from(Span::styled(msg, t.dim()))]
    } else {
        tail.into_iter()
            .map(|l| {
                let color = t.pods[app.logs.color_of(&l.pod) % t.pods.len()];
                let (level, msg) = parse(&l.line);
                let tag = format!("{:<tag_w$} ", trunc(&l.pod, tag_w));
                Line::from(vec![
                    Span::styled(tag, t.bold().fg(color)),
                    Span::styled(trunc(&msg, width.saturating_sub(tag_w + 1)), level_style(t, level, color)),
                ])
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines).style(t.base()), inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_levels_targets_and_colours_come_off() {
        let raw = "\u{1b}[2m2026-12-02T01:37:57.972411Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mfaultline_engine::api\u{1b}[0m\u{1b}[2m:\u{1b}[0m engine listening on 0.0.0.0:7233";
        assert_eq!(parse(raw), (Some(Level::Info), "engine listening on 0.0.0.0:7233".to_string()));
        assert_eq!(parse("2026-12-02T01:37:57Z  WARN payment: retry: 500"), (Some(Level::Warn), "retry: 500".to_string()));
        assert_eq!(parse("ERROR boom"), (Some(Level::Error), "boom".to_string()));
        assert_eq!(parse("cargo: Compiling payment v0.1.0"), (None, "cargo: Compiling payment v0.1.0".to_string()));
        assert_eq!(parse("INFO order-7: charged 19.99 EUR"), (Some(Level::Info), "order-7: charged 19.99 EUR".to_string()));
    }
}
