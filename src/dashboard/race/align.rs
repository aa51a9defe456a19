//! Aligning one order's history on both sides, step by step (pure).
//!
//! Each side's history is reduced to its steps: the events a reader follows (workflow-task
//! bookkeeping left out, as in the compact history), each keyed by what it is and not by when
//! or where it happened (`activity_started #3 attempt 1`, not its worker or timestamp). The
//! two key sequences are aligned by a longest common subsequence; between two matched steps,
//! what only one side did is paired row by row, so a step the twin never took shows next to
//! the one the engine took instead. The first row that is not the same step on both sides is
//! the **divergence**.
//!
//! Pairing orders: the twin's ids carry a prefix (`dw-`) at the start or after the first
//! dash (`order-dw-o-1` for `order-o-1`); [`pair_key`] takes it out, so both sides' ids of one
//! order have the same key.

use faultline_proto::{EventKind, HistoryEvent};

use crate::projection::is_bookkeeping;

/// The key both sides' ids of one order share: `id` without the twin's `prefix`, which is
/// either at the start (`dw-order-1`) or after a dash (`order-dw-1`).
pub fn pair_key(id: &str, prefix: &str) -> String {
    if prefix.is_empty() {
        return id.to_string();
    }
    if let Some(rest) = id.strip_prefix(prefix) {
        return rest.to_string();
    }
    match id.find(&format!("-{prefix}")) {
        Some(i) => format!("{}{}", &id[..=i], &id[i + 1 + prefix.len()..]),
        None => id.to_string(),
    }
}

/// What a step is, whatever side, time or worker: the event's name, its seq, its attempt,
/// and the signal's name.
pub fn step_key(kind: &EventKind) -> String {
    use EventKind::*;
    let name = kind.name();
    match (kind, kind.seq()) {
        (ActivityStarted { attempt, .. } | ActivityCompleted { attempt, .. } | ActivityFailed { attempt, .. } | ActivityTimedOut { attempt, .. }, Some(seq)) => {
            format!("{name} #{seq} attempt {attempt}")
        }
        (_, Some(seq)) => format!("{name} #{seq}"),
        (WorkflowSignaled { name: signal, .. }, None) => format!("{name} {signal}"),
        _ => name.to_string(),
    }
}

/// The steps of a history: (index into `events`, key), bookkeeping left out.
pub fn steps(events: &[HistoryEvent]) -> Vec<(usize, String)> {
    events.iter().enumerate().filter(|(_, e)| !is_bookkeeping(&e.kind)).map(|(i, e)| (i, step_key(&e.kind))).collect()
}

/// One row of the aligned view: an index into each side's step list, if that side has a step
/// on this row, and whether both sides took the same step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub left: Option<usize>,
    pub right: Option<usize>,
    pub same: bool,
}

/// Both sides aligned, and the first row where they part.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Alignment {
    pub rows: Vec<Row>,
    /// The first row that is not the same step on both sides; `None`: they agree.
    pub divergence: Option<usize>,
}

/// Most steps per side aligned by LCS (its table is n × m); any beyond are listed unmatched.
const MAX_STEPS: usize = 600;

/// Aligns two key sequences (see the module docs).
pub fn align<K: PartialEq>(left: &[K], right: &[K]) -> Alignment {
    let (n, m) = (left.len().min(MAX_STEPS), right.len().min(MAX_STEPS));
    // lcs[i][j]: the longest common subsequence of left[i..n] and right[j..m].
    let w = m + 1;
    let mut lcs = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * w + j] = if left[i] == right[j] { lcs[(i + 1) * w + j + 1] + 1 } else { lcs[(i + 1) * w + j].max(lcs[i * w + j + 1]) };
        }
    }
    let mut rows = Vec::new();
    let (mut lo, mut ro): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
    // What only one side did between two matches, paired row by row.
    let flush = |rows: &mut Vec<Row>, lo: &mut Vec<usize>, ro: &mut Vec<usize>| {
        for k in 0..lo.len().max(ro.len()) {
            rows.push(Row { left: lo.get(k).copied(), right: ro.get(k).copied(), same: false });
        }
        lo.clear();
        ro.clear();
    };
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if left[i] == right[j] {
            flush(&mut rows, &mut lo, &mut ro);
            rows.push(Row { left: Some(i), right: Some(j), same: true });
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * w + j] >= lcs[i * w + j + 1] {
            lo.push(i);
            i += 1;
        } else {
            ro.push(j);
            j += 1;
        }
    }
    lo.extend(i..left.len());
    ro.extend(j..right.len());
    flush(&mut rows, &mut lo, &mut ro);
    let divergence = rows.iter().position(|r| !r.same);
    Alignment { rows, divergence }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(l: Option<usize>, r: Option<usize>, same: bool) -> Row {
        Row { left: l, right: r, same }
    }

    #[test]
    fn the_same_steps_agree_everywhere() {
        let a = align(&["start", "sched 1", "done 1", "completed"], &["start", "sched 1", "done 1", "completed"]);
        assert_eq!(a.divergence, None);
        assert!(a.rows.iter().all(|r| r.same && r.left == r.right));
        assert_eq!(a.rows.len(), 4);
    }

    #[test]
    fn a_side_that_stops_diverges_at_its_first_missing_step() {
        // The twin committed "scheduled" and never ran it: stuck.
        let a = align(&["start", "sched 3", "started 3", "done 3", "completed"], &["start", "sched 3"]);
        assert_eq!(a.divergence, Some(2));
        assert_eq!(a.rows[2], row(Some(2), None, false));
        assert_eq!(a.rows.len(), 5);
        assert!(a.rows[3..].iter().all(|r| r.right.is_none()));
    }

    #[test]
    fn different_steps_in_the_same_place_share_a_row_and_realign_after() {
        let l = ["start", "sched 1", "started 1 a1", "done 1 a1", "completed"];
        let r = ["start", "sched 1", "started 1 a1", "timed out 1 a1", "started 1 a2", "done 1 a2", "completed"];
        let a = align(&l, &r);
        assert_eq!(a.divergence, Some(3));
        assert_eq!(a.rows[3], row(Some(3), Some(3), false), "the engine's completion beside the twin's timeout");
        assert_eq!(a.rows[4], row(None, Some(4), false));
        assert_eq!(a.rows[5], row(None, Some(5), false));
        assert_eq!(*a.rows.last().unwrap(), row(Some(4), Some(6), true), "both complete in the end");
    }

    #[test]
    fn an_extra_step_on_the_left_is_a_left_only_row() {
        let a = align(&["a", "x", "b"], &["a", "b"]);
        assert_eq!(a.rows, vec![row(Some(0), Some(0), true), row(Some(1), None, false), row(Some(2), Some(1), true)]);
        assert_eq!(a.divergence, Some(1));
    }

    #[test]
    fn empty_sides() {
        assert_eq!(align::<&str>(&[], &[]), Alignment::default());
        let a = align(&["a", "b"], &[]);
        assert_eq!((a.rows.len(), a.divergence), (2, Some(0)));
        let a = align(&[], &["a"]);
        assert_eq!(a.rows, vec![row(None, Some(0), false)]);
    }

    #[test]
    fn long_histories_beyond_the_table_are_listed_unmatched() {
        let l: Vec<u32> = (0..700).collect();
        let a = align(&l, &l);
        assert_eq!(a.rows.len(), 700);
        assert_eq!(a.divergence, Some(MAX_STEPS));
    }

    #[test]
    fn twin_ids_pair_with_the_engines() {
        assert_eq!(pair_key("order-dw-race-x-001", "dw-"), "order-race-x-001");
        assert_eq!(pair_key("dw-order-7", "dw-"), "order-7");
        assert_eq!(pair_key("order-race-x-001", "dw-"), "order-race-x-001");
        assert_eq!(pair_key("order-dw-x/3", "dw-"), "order-x/3", "a child pairs with its mirror");
        assert_eq!(pair_key("order-1", ""), "order-1");
    }

    #[test]
    fn step_keys_ignore_time_and_worker_but_keep_the_attempt() {
        use faultline_proto::EventKind::ActivityStarted;
        let a = ActivityStarted { seq: 3, attempt: 1, worker: "w1".into() };
        let b = ActivityStarted { seq: 3, attempt: 1, worker: "worker-dw".into() };
        let c = ActivityStarted { seq: 3, attempt: 2, worker: "w1".into() };
        assert_eq!(step_key(&a), step_key(&b));
        assert_ne!(step_key(&a), step_key(&c));
    }
}
