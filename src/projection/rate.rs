//! Per-second event rates over a sliding window (throughput sparklines), kept incrementally.

use std::collections::VecDeque;

/// Per-second buckets of a counter over the last [`Rate::WINDOW_S`] seconds.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    /// (second since epoch, count), oldest first.
    buckets: VecDeque<(i64, u64)>,
}

impl Rate {
    pub const WINDOW_S: i64 = 120;

    pub fn record(&mut self, at_ms: i64, now_ms: i64) {
        let sec = at_ms.div_euclid(1000);
        if sec < now_ms.div_euclid(1000) - Self::WINDOW_S {
            return;
        }
        match self.buckets.iter().rposition(|(s, _)| *s <= sec) {
            Some(i) if self.buckets[i].0 == sec => self.buckets[i].1 += 1,
            Some(i) => self.buckets.insert(i + 1, (sec, 1)),
            None => self.buckets.push_front((sec, 1)),
        }
    }

    /// Drops buckets that left the window.
    pub fn prune(&mut self, now_ms: i64) {
        let oldest = now_ms.div_euclid(1000) - Self::WINDOW_S;
        while self.buckets.front().is_some_and(|(s, _)| *s < oldest) {
            self.buckets.pop_front();
        }
    }

    /// The last `n` whole seconds before `now_ms`, oldest first (the current, partial second
    /// is left out so the last bar does not jump).
    pub fn series(&self, now_ms: i64, n: usize) -> Vec<u64> {
        let now_s = now_ms.div_euclid(1000);
        let first = now_s - n as i64;
        let mut out = vec![0; n];
        for (s, c) in self.buckets.iter().rev() {
            if *s < first {
                break;
            }
            if *s < now_s {
                out[(*s - first) as usize] = *c;
            }
        }
        out
    }

    /// Mean per second over the last `n` whole seconds.
    pub fn per_second(&self, now_ms: i64, n: usize) -> f64 {
        let s = self.series(now_ms, n);
        s.iter().sum::<u64>() as f64 / n.max(1) as f64
    }
}
