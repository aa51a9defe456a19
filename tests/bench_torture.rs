//! Crash torture through the real binaries: `faultline bench` logic in-process (worker +
//! client) against the real `faultline-engine` process, SIGKILLed 3 times at random moments
//! during 200 chain workflows and restarted on the same database. Nothing may be lost and no
//! activity may run again after its completion was acknowledged. The same torture of the
//! dual-write twin ends by its deadline and reports its anomalies. No timing assertions.

use std::path::PathBuf;
use std::time::Duration;

use faultline::bench::{run, run_side_by_side, BenchConfig, EngineMode, Workload};
use indicatif::ProgressBar;

/// Builds (or finds) the engine once per test process, not once per run.
fn engine_bin() -> PathBuf {
    faultline_testkit::bins::engine_binary()
}

fn config(workload: Workload, n: u64, c: u64, kills: u32) -> BenchConfig {
    let mut cfg = BenchConfig::new(workload, n, c);
    cfg.kill_engine = kills;
    cfg.engine_bin = Some(engine_bin());
    // After a kill, activities whose completion report was lost come back after their 10 s
    // start-to-close timeout; several kills may stack such waits.
    cfg.deadline = Duration::from_secs(180);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_torture_loses_nothing_and_runs_nothing_twice() {
    let seed = std::env::var("BENCH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let mut cfg = config(Workload::Chain, 200, 20, 3);
    cfg.seed = Some(seed);
    let report = run(&cfg, &ProgressBar::hidden()).await.expect("the bench could not run");
    eprintln!("seed {seed}: {}", report.json_line());
    assert_eq!(report.kills, 3, "the engine was not killed 3 times: {report:?}");
    assert_eq!(report.lost, 0, "workflows lost (seed {seed}): {:?}", report.problems);
    assert_eq!(report.failed, 0, "workflows failed (seed {seed}): {:?}", report.problems);
    assert_eq!(report.duplicates, 0, "activities ran after their completion was acknowledged (seed {seed})");
    assert!(report.activity_executions >= 600, "each chain runs 3 activities: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_and_timer_workloads_complete_with_their_defined_shape() {
    let retry = run(&config(Workload::Retry, 20, 10, 0), &ProgressBar::hidden()).await.expect("retry bench");
    eprintln!("{}", retry.json_line());
    assert_eq!((retry.lost, retry.failed, retry.duplicates), (0, 0, 0), "{:?}", retry.problems);
    // Attempts 1 and 2 fail, 3 succeeds: exactly three executions per workflow.
    assert_eq!(retry.activity_executions, 60);
    // Backoffs of 100 ms then 200 ms come before the third attempt.
    assert!(retry.p50_ms >= 300.0, "{retry:?}");

    let timer = run(&config(Workload::Timer, 20, 20, 0), &ProgressBar::hidden()).await.expect("timer bench");
    eprintln!("{}", timer.json_line());
    assert_eq!((timer.lost, timer.failed), (0, 0), "{:?}", timer.problems);
    assert!(timer.p50_ms >= 1000.0, "a 1 s durable timer completed early: {timer:?}");
    let late = timer.timer_lateness_p99_ms.expect("timer lateness is reported for the timer workload");
    assert!(late >= 0.0, "a timer fired before its time: {timer:?}");
}

/// `faultline bench --mode dual-write --kill-engine 2`: the twin under the same torture ends
/// by its deadline and accounts for what it lost with the race checker; the transactional
/// engine, same settings and kill seed, loses nothing and has no engine-level anomaly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_write_torture_reports_its_anomalies_next_to_the_engines_zero() {
    let seed = std::env::var("BENCH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let mut cfg = config(Workload::Chain, 60, 10, 2);
    cfg.mode = EngineMode::DualWrite;
    cfg.seed = Some(seed);
    // Lost work on the twin waits out this deadline; the engine's recovery takes at most one
    // start-to-close timeout (10 s) per kill.
    cfg.deadline = Duration::from_secs(60);
    let reports = run_side_by_side(&cfg, &ProgressBar::hidden()).await.expect("the bench could not run");
    for r in &reports {
        eprintln!("seed {seed}: {}", r.json_line());
    }
    let [twin, tx] = &reports[..] else { panic!("two reports, twin first: {reports:?}") };
    assert_eq!((twin.mode, tx.mode), ("dual-write", "transactional"));
    assert_eq!((twin.kills, tx.kills), (2, 2), "{reports:?}");
    let a = twin.anomalies.expect("the twin's run was checked");
    assert_eq!(twin.n, 60);
    if twin.lost > 0 {
        assert!(a.stuck_orders > 0, "the checker accounts for the twin's lost workflows: {a:?}");
    }
    assert!(twin.activity_executions > 0);
    let t = tx.anomalies.expect("the transactional run was checked");
    assert_eq!((tx.lost, tx.failed, tx.duplicates), (0, 0, 0), "seed {seed}: {:?}", tx.problems);
    assert_eq!(t.engine_level(), 0, "seed {seed}: {t:?}");
    assert_eq!(t.stuck_orders, 0, "seed {seed}: {t:?}");
    assert!(!faultline::bench::failed(tx) && !faultline::bench::failed(twin));
}
