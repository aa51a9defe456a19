//! The report of a run: the timeline of steps and events, and each expectation with pass or
//! fail and the measured value. Written as JSON (for machines) or Markdown (to share after a
//! talk).

use std::path::Path;

use serde::Serialize;

use super::error::ScenarioError;
use super::model::fmt_duration;
use crate::checker::{render, CheckReport};
use crate::projection::Counts;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub title: String,
    pub description: String,
    pub file: String,
    /// `docker` or `local`.
    pub runtime: String,
    pub speed: f64,
    /// Wall-clock start, RFC 3339.
    pub started_at: String,
    pub duration_ms: u64,
    /// Why the run stopped early (a step's condition timed out, a pod action failed...).
    pub aborted: Option<String>,
    pub verdict: Verdict,
    /// `verdict == Passed`.
    pub passed: bool,
    pub counts: Counts,
    pub orders: Vec<OrderLine>,
    pub expectations: Vec<ExpectationResult>,
    pub timeline: Vec<TimelineEntry>,
    /// The race checker's counters and witnesses per side (a run with the dual-write twin,
    /// or with a check on a side).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race: Option<CheckReport>,
    /// Why the race checker could not run, when it was needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race_error: Option<String>,
}

/// The final state of one order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderLine {
    pub number: u32,
    pub workflow_id: String,
    pub amount: String,
    pub status: String,
    pub retries: u64,
    pub last_failure: Option<String>,
    /// The failure seen most often, with how often: the bug, rather than the last blip.
    pub most_frequent_failure: Option<(String, u32)>,
}

/// The outcome of a run, or of one expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
    /// The run stopped before it could be judged (aborted by the presenter, or before the
    /// steps it depends on ran).
    NotEvaluated,
}

impl Verdict {
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::NotEvaluated => "NOT EVALUATED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectationResult {
    /// What was expected, in words.
    pub expectation: String,
    pub verdict: Verdict,
    /// What was measured, e.g. "8/8 completed" or "4.2s".
    pub measured: String,
    /// Line of the `[[expect]]` in the scenario file.
    pub line: usize,
}

impl ExpectationResult {
    pub fn passed(&self) -> bool {
        self.verdict == Verdict::Passed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Step,
    Action,
    Event,
    Counts,
    Note,
    /// The pods' versions and states as a step starts.
    Pods,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Milliseconds since the run started.
    pub at_ms: u64,
    pub kind: EntryKind,
    pub text: String,
}

impl Report {
    /// Writes the report; the extension (`.json` or `.md`) picks the form.
    pub fn write(&self, path: &Path) -> Result<(), ScenarioError> {
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
            Some("md") | Some("markdown") => self.to_markdown(),
            _ => return Err(ScenarioError::ReportFormat(path.to_path_buf())),
        };
        std::fs::write(path, text).map_err(|e| ScenarioError::Report { path: path.to_path_buf(), message: e.to_string() })
    }

    /// A page a presenter can share: verdict, expectations, orders, timeline.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let verdict = self.verdict.word();
        s.push_str(&format!("# {} — {verdict}\n\n", self.title));
        s.push_str(&format!("{}\n\n", self.description));
        s.push_str(&format!(
            "- scenario: `{}` ({})\n- runtime: {}, speed ×{}\n- started: {}, took {}\n",
            self.scenario,
            self.file,
            self.runtime,
            self.speed,
            self.started_at,
            fmt_duration(std::time::Duration::from_millis(self.duration_ms))
        ));
        if let Some(why) = &self.aborted {
            s.push_str(&format!("- **aborted:** {}\n", md_escape(why)));
        }
        s.push_str("\n## Expectations\n\n| | expectation | measured |\n|---|---|---|\n");
        for e in &self.expectations {
            let mark = match e.verdict {
                Verdict::Passed => "✅ pass",
                Verdict::Failed => "❌ fail",
                Verdict::NotEvaluated => "⏸ not evaluated",
            };
            s.push_str(&format!("| {mark} | {} | {} |\n", md_escape(&e.expectation), md_escape(&e.measured)));
        }
        let c = &self.counts;
        s.push_str(&format!(
            "\n## Counts\n\nstarted {} · completed {} · failed {} · canceled {} · still running {} · retries seen {} · timers fired {}\n",
            c.started, c.completed, c.failed, c.canceled, c.running, c.retries_seen, c.timers_fired
        ));
        if let Some(race) = &self.race {
            s.push('\n');
            s.push_str(&render::markdown(race));
        }
        if let Some(e) = &self.race_error {
            s.push_str(&format!("\n## Race checker\n\nThe race checker could not run: {}\n", md_escape(e)));
        }
        if !self.orders.is_empty() {
            s.push_str("\n## Orders\n\n| # | workflow | amount | status | retries | most frequent failure | last failure |\n|---|---|---|---|---|---|---|\n");
            for o in &self.orders {
                let frequent = o.most_frequent_failure.as_ref().map(|(m, n)| format!("{n}× {m}")).unwrap_or_default();
                s.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} | {} | {} |\n",
                    o.number,
                    o.workflow_id,
                    o.amount,
                    o.status,
                    o.retries,
                    md_escape(&frequent),
                    md_escape(o.last_failure.as_deref().unwrap_or(""))
                ));
            }
        }
        s.push_str("\n## Timeline\n\n| time | | what |\n|---|---|---|\n");
        for t in &self.timeline {
            let kind = match t.kind {
                EntryKind::Step => "**step**",
                EntryKind::Action => "action",
                EntryKind::Event => "event",
                EntryKind::Counts => "counts",
                EntryKind::Note => "note",
                EntryKind::Pods => "pods",
            };
            s.push_str(&format!("| {} | {kind} | {} |\n", clock(t.at_ms), md_escape(&t.text)));
        }
        s
    }
}

/// `m:ss.s` since the run started.
pub fn clock(ms: u64) -> String {
    format!("{}:{:04.1}", ms / 60_000, (ms % 60_000) as f64 / 1000.0)
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}
