//! The measured figures and the report they make: percentiles (nearest rank), the JSON line
//! and the human summary. Pure: no I/O, no clock.
//!
//! The JSON keys `engine`, `workload`, `n`, `concurrency`, `wall_s`, `wf_per_s`, `p50_ms`,
//! `p99_ms`, `lost` and `duplicates` are compared with other engines' benchmarks and must keep
//! their names and meaning; everything after them is extra.

use serde::Serialize;

/// The `p`-th percentile (0 < p <= 100) of `sorted` by nearest rank; `None` when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Sorts `values` (NaN-free by construction: they are durations) and returns p50, p99, max.
pub fn summarize(values: &mut [f64]) -> Option<(f64, f64, f64)> {
    values.sort_by(|a, b| a.total_cmp(b));
    Some((percentile(values, 50.0)?, percentile(values, 99.0)?, *values.last()?))
}

/// One benchmark run's outcome. Field order is the JSON key order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Always "faultline" (other engines' runs say their own name).
    pub engine: &'static str,
    pub workload: String,
    pub n: u64,
    pub concurrency: u64,
    /// From the first start request to the last result received.
    pub wall_s: f64,
    /// Completed workflows per second of wall time (`n / wall_s`).
    pub wf_per_s: f64,
    /// Per-workflow latency, start request to result, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Workflows whose result never arrived before the deadline.
    pub lost: u64,
    /// Activity executions that began after their key's completion had been committed.
    pub duplicates: u64,
    /// Peak resident memory of the engine (VmHWM) while the workload ran, the largest over all
    /// its restarts (the verification's history reads afterwards are not included).
    pub engine_rss_mb: f64,
    pub max_ms: f64,
    /// Workflows that closed but not as expected (failed, or a wrong result).
    pub failed: u64,
    /// Engine kills actually performed (asked for with `--kill-engine`).
    pub kills: u64,
    /// Activity function invocations seen by the worker (retries and re-deliveries included).
    pub activity_executions: u64,
    /// `transactional` or `dual-write` (the twin).
    pub mode: &'static str,
    /// The race checker's counters over the finished run (`--mode dual-write`, both engines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomalies: Option<crate::checker::Counters>,
    /// Timer workload only: `timer_fired` time minus the scheduled `fire_at_ms`, from history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_lateness_p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_lateness_p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timer_lateness_max_ms: Option<f64>,
    /// What went wrong with failed/lost workflows (a few examples, for the summary).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl Report {
    /// The single JSON line printed by `--json`.
    pub fn json_line(&self) -> String {
        // Serializing a struct of plain numbers and strings cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The readable multi-line summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "faultline bench ({}): workload {} · {} workflows · concurrency {}\n\
             wall        {:.3} s\n\
             throughput  {:.1} workflows/s\n\
             latency     p50 {:.1} ms · p99 {:.1} ms · max {:.1} ms\n",
            self.mode, self.workload, self.n, self.concurrency, self.wall_s, self.wf_per_s, self.p50_ms, self.p99_ms, self.max_ms
        );
        if let (Some(p50), Some(p99), Some(max)) =
            (self.timer_lateness_p50_ms, self.timer_lateness_p99_ms, self.timer_lateness_max_ms)
        {
            s.push_str(&format!("timer late  p50 {p50:.1} ms · p99 {p99:.1} ms · max {max:.1} ms\n"));
        }
        s.push_str(&format!(
            "engine RSS  {:.1} MB peak\n\
             activities  {} executions\n\
             kills       {}\n\
             lost        {}\n\
             duplicates  {}\n\
             failed      {}\n",
            self.engine_rss_mb, self.activity_executions, self.kills, self.lost, self.duplicates, self.failed
        ));
        if let Some(a) = &self.anomalies {
            s.push_str(&format!(
                "race checker ({} engine-level):\n  \
                 lost tasks {} · ghost tasks {} · early tasks {} · lost timers {} · lost completions {} · double completions {}\n  \
                 duplicate executions {} ({} after completion) · stuck orders {} · recovered {}\n",
                a.engine_level(),
                a.lost_tasks,
                a.ghost_tasks,
                a.early_tasks,
                a.lost_timers,
                a.lost_completions,
                a.double_completions,
                a.duplicate_executions,
                a.duplicates_after_completion,
                a.stuck_orders,
                a.recovered
            ));
        }
        for p in &self.problems {
            s.push_str(&format!("  - {p}\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(|i| i as f64).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        let mut w = vec![3.0, 1.0, 2.0];
        assert_eq!(summarize(&mut w), Some((2.0, 3.0, 3.0)));
    }

    #[test]
    fn json_line_has_the_comparison_keys_in_order() {
        let r = Report {
            engine: "faultline",
            workload: "chain".into(),
            n: 10,
            concurrency: 2,
            wall_s: 1.5,
            wf_per_s: 6.7,
            p50_ms: 1.0,
            p99_ms: 2.0,
            lost: 0,
            duplicates: 0,
            engine_rss_mb: 12.5,
            max_ms: 3.0,
            failed: 0,
            kills: 0,
            activity_executions: 30,
            mode: "transactional",
            anomalies: None,
            timer_lateness_p50_ms: None,
            timer_lateness_p99_ms: None,
            timer_lateness_max_ms: None,
            problems: vec![],
        };
        let line = r.json_line();
        assert!(!line.contains('\n'));
        let keys = ["engine", "workload", "n", "concurrency", "wall_s", "wf_per_s", "p50_ms", "p99_ms", "lost", "duplicates"];
        let mut last = 0;
        for k in keys {
            let at = line.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("key {k} missing in {line}"));
            assert!(at >= last, "key {k} out of order in {line}");
            last = at;
        }
        assert!(line.contains("\"engine_rss_mb\":12.5"));
        assert!(!line.contains("timer_lateness"));
        assert!(r.summary().contains("duplicates  0"));
    }
}
