//! The checker's report as Markdown (one column per side, then each side's witnesses) and
//! as JSON. Pure: the scenario report and the bench call these.

use std::fmt::Write;

use super::result::{AnomalyKind, CheckReport, SideReport};

/// How many anomalies of one kind a side lists with their witness; the rest are counted.
pub const WITNESSES_PER_KIND: usize = 3;

/// The report as pretty JSON.
pub fn json(report: &CheckReport) -> String {
    // A tree of strings and numbers always serializes.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// The counter of one row for a side: `3`, or `3 (2 absorbed, 1 after completion)` for
/// duplicates.
pub fn cell(side: &SideReport, kind: AnomalyKind) -> String {
    let c = &side.counters;
    let n = c.get(kind);
    if kind == AnomalyKind::DuplicateExecution && n > 0 {
        let mut s = format!("{n} ({} absorbed", c.duplicates_absorbed);
        if c.duplicates_after_completion > 0 {
            let _ = write!(s, ", {} after completion", c.duplicates_after_completion);
        }
        s.push(')');
        return s;
    }
    n.to_string()
}

/// The Markdown section: a table of the counters with one column per side, a line on what
/// one transaction removes, then the witnesses of each side.
pub fn markdown(report: &CheckReport) -> String {
    let mut out = String::from("## Race checker\n\n");
    let _ = writeln!(out, "Checked at {} ms with a grace of {} ms.\n", report.now_ms, report.grace_ms);
    let _ = write!(out, "| anomaly |");
    for s in &report.sides {
        let _ = write!(out, " {} |", s.side.title());
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(report.sides.len()));
    out.push('\n');
    let _ = write!(out, "| orders |");
    for s in &report.sides {
        let _ = write!(out, " {} |", s.orders);
    }
    out.push('\n');
    for kind in AnomalyKind::ALL {
        let mark = if kind.engine_level() { " ¹" } else { "" };
        let _ = write!(out, "| {}{mark} |", kind.title());
        for s in &report.sides {
            let _ = write!(out, " {} |", cell(s, kind));
        }
        out.push('\n');
    }
    out.push_str(
        "\n¹ What one transaction removes: 0 on a transactional engine. Duplicate executions are not \
         among them: activities are at least once on every durable engine, and the idempotency keys \
         absorb the repeats (those after a committed completion are, and count in the engine-level total).\n",
    );
    let _ = write!(out, "\nEngine-level anomalies:");
    for s in &report.sides {
        let _ = write!(out, " {} {};", s.side.title(), s.counters.engine_level());
    }
    out.pop();
    out.push_str(".\n");
    for s in &report.sides {
        if s.anomalies.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n### Witnesses: {}\n", s.side.title());
        for kind in AnomalyKind::ALL {
            let all: Vec<_> = s.of(kind).collect();
            for a in all.iter().take(WITNESSES_PER_KIND) {
                let _ = writeln!(out, "- **{}**: {} — {}", kind.title(), a.subject, a.explanation);
                for w in &a.witness {
                    let _ = writeln!(out, "  - `{}` {}: {}", w.at_ms, w.source.label(), w.text);
                }
            }
            if all.len() > WITNESSES_PER_KIND {
                let _ = writeln!(out, "- … and {} more {} (all in the JSON report)", all.len() - WITNESSES_PER_KIND, kind.title());
            }
        }
    }
    out
}
