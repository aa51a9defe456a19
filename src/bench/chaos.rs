//! When to SIGKILL the engine during a torture run.
//!
//! The run's length is unknown in advance, so kills are placed on its progress rather than on
//! the clock: progress counts acknowledged starts plus received results (`2 n` in all), and
//! each kill happens once progress reaches a random point between 5 % and 90 % of that, after
//! a further random delay of up to [`MAX_JITTER_MS`]. So every kill lands while work is in
//! flight (the engine is never killed before the first start or after the last result), at
//! a moment the bench does not choose. The next point is only watched for once the engine is
//! back up, so a kill never hits an engine that is still recovering.

use rand::RngExt;

/// Largest extra random delay between reaching a progress point and the kill.
pub const MAX_JITTER_MS: u64 = 50;

/// One planned kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    /// Progress (acknowledged starts + results) that triggers it.
    pub at_progress: u64,
    pub jitter_ms: u64,
}

/// `k` kills for a run of `n` workflows, in progress order, at distinct points.
pub fn plan(n: u64, k: u32, rng: &mut impl RngExt) -> Vec<Kill> {
    let total = 2 * n;
    let lo = (total / 20).max(1);
    let hi = (total * 9 / 10).max(lo);
    let mut points: Vec<u64> = Vec::with_capacity(k as usize);
    // Distinct points when the range allows it; a tiny run may repeat one.
    let distinct = (hi - lo + 1) >= u64::from(k);
    while points.len() < k as usize {
        let p = rng.random_range(lo..=hi);
        if !distinct || !points.contains(&p) {
            points.push(p);
        }
    }
    points.sort_unstable();
    points.into_iter().map(|at_progress| Kill { at_progress, jitter_ms: rng.random_range(0..=MAX_JITTER_MS) }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn kills_are_inside_the_run_sorted_and_distinct() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let p = plan(200, 3, &mut rng);
        assert_eq!(p.len(), 3);
        for w in p.windows(2) {
            assert!(w[0].at_progress < w[1].at_progress);
        }
        for k in &p {
            assert!((20..=360).contains(&k.at_progress), "{k:?}");
            assert!(k.jitter_ms <= MAX_JITTER_MS);
        }
    }

    #[test]
    fn same_seed_same_plan_and_tiny_runs_work() {
        let a = plan(1000, 5, &mut ChaCha8Rng::seed_from_u64(1));
        let b = plan(1000, 5, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(a, b);
        assert_eq!(plan(1, 4, &mut ChaCha8Rng::seed_from_u64(1)).len(), 4);
        assert!(plan(10, 0, &mut ChaCha8Rng::seed_from_u64(1)).is_empty());
    }
}
