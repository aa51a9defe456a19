//! The workshop loop's progress in the footer (`R`): each stage with its time, the one
//! running with a live clock, the total from the key press. Attendees watch this while cargo
//! works instead of a status line and build output scrolling away.

use ratatui::text::{Line, Span};

use super::trunc;
use crate::dashboard::app::{App, Notice, NoticeState};
use crate::dashboard::rebuild::RebuildView;
use crate::runtime::RebuildStage;

fn secs(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The footer line of rebuild `r`, whose notice is `notice`, in `width` columns.
pub fn line(app: &App, r: &RebuildView, notice: &Notice, width: usize) -> Line<'static> {
    let t = &app.theme;
    let now = app.now_ms;
    let done = r.durations(now);
    let total = secs(r.elapsed_ms(now));
    let mut spans = Vec::new();
    match &notice.state {
        NoticeState::Pending => {
            spans.push(Span::styled(format!(" R {} ", r.pod), t.bold().fg(t.warn)));
            let last_begun = done.last().map(|(s, _)| *s);
            for stage in RebuildStage::ALL {
                let begun = done.iter().find(|(s, _)| *s == stage);
                // A stage the runtime skipped (local processes have no image) is left out.
                if begun.is_none() && last_begun.is_some_and(|l| l > stage) {
                    continue;
                }
                if spans.len() > 1 {
                    spans.push(Span::styled(" ▸ ", t.dim()));
                }
                match begun {
                    Some((s, ms)) if Some(*s) == last_begun => {
                        spans.push(Span::styled(format!("● {} {}", s.word(), secs(*ms)), t.bold().fg(t.info)))
                    }
                    Some((s, ms)) => spans.push(Span::styled(format!("✓ {} {}", s.word(), secs(*ms)), t.fg(t.ok))),
                    None => spans.push(Span::styled(stage.word().to_string(), t.dim())),
                }
            }
            spans.push(Span::styled(format!("   {total}"), t.bold()));
        }
        NoticeState::Ok(_) => {
            spans.push(Span::styled(format!(" ✓ {} rebuilt and serving in {total} ", r.pod), t.bold().fg(t.ok)));
            let parts: Vec<String> = done.iter().map(|(s, ms)| format!("{} {}", s.word(), secs(*ms))).collect();
            spans.push(Span::styled(parts.join(" · "), t.dim()));
        }
        NoticeState::Err(e) => {
            let at = done.last().map(|(s, _)| format!(" at {}", s.word())).unwrap_or_default();
            spans.push(Span::styled(format!(" ✗ {e} ({total}{at}; the build output is in the logs as `build`)"), t.bold().fg(t.err)));
        }
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    if used <= width {
        return Line::from(spans);
    }
    let text: String = spans.iter().map(|s| s.content.as_ref()).collect();
    let style = spans.first().map(|s| s.style).unwrap_or_default();
    Line::from(Span::styled(trunc(&text, width), style))
}
