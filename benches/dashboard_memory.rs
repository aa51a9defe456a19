//! The dashboard's memory attached to a busy engine: feeds 1,000,000 history events (50,000
//! order-shaped workflows of 20 events, as the stream delivers them) into the dashboard's
//! projection and prints the process's resident memory, with the dashboard's history budget
//! and with every history kept. `cargo bench --bench dashboard_memory` (`-- --events N`).

use faultline::dashboard::app::HISTORY_BUDGET;
use faultline::projection::{Options, Projection, Scope};
use faultline_testkit::history::*;

/// Resident set size of this process, in MiB (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// One order: started, three activities scheduled/started/completed with a failed and
/// retried payment, a timer, completed: 20 events.
fn feed(p: &mut Projection, events: usize) {
    let mut s = Stream::new(1_700_000_000_000);
    let mut n = 0;
    let mut wf = 0;
    while n < events {
        let id = format!("order-{wf:07}");
        let mut kinds = vec![started(None)];
        for (seq, ty) in [(1, "ReserveInventory"), (2, "ChargePayment"), (3, "DispatchParcel")] {
            kinds.push(scheduled(seq, ty));
            kinds.push(attempt_started(seq, 1));
            if ty == "ChargePayment" {
                kinds.push(failed(seq, 1, "payment failed (500 AmountMismatch)", Some(s.now_ms + 1_000)));
                kinds.push(attempt_started(seq, 2));
                kinds.push(activity_completed(seq, 2));
            } else {
                kinds.push(activity_completed(seq, 1));
            }
        }
        while kinds.len() < 19 {
            kinds.push(scheduled(10 + kinds.len() as u64, "Notify"));
        }
        kinds.push(completed());
        for k in kinds {
            let ev = s.ev(&id, k);
            let now = s.now_ms;
            p.apply_stream(ev, now);
            n += 1;
        }
        s.now_ms += 5;
        wf += 1;
    }
}

fn main() {
    let events: usize = std::env::args().skip_while(|a| a != "--events").nth(1).and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let base = rss_mib();
    for (label, budget) in [("dashboard (history budget)", Some(HISTORY_BUDGET)), ("every history kept", None)] {
        let before = rss_mib();
        let mut p = Projection::new(Options { scope: Scope::All, keep_history: true, notable: false, history_budget: budget });
        let t = std::time::Instant::now();
        feed(&mut p, events);
        let after = rss_mib();
        println!(
            "{label:<28} {events} events, {} workflows: RSS {after:.0} MiB (+{:.0} MiB over {base:.0} MiB at start), closed events kept {}, fold {:.2} s",
            p.len(),
            after - before,
            p.closed_events_kept(),
            t.elapsed().as_secs_f64()
        );
        drop(p);
    }
}
