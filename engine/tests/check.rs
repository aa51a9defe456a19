//! `faultline_engine::check::check_db` and `/healthz` on damaged databases (issue 15, item 9
//! and "health that tells the truth"): a database corrupted by hand, once in its pages and
//! once in the engine's invariants, is reported; a healthy one is not.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use common::*;
use faultline_engine::check::check_db;
use faultline_proto::*;
use reqwest::StatusCode;
use rusqlite::Connection;
use serde_json::json;

/// A database with a bit of everything: scheduled and started workflow tasks, a user timer,
/// a started activity, a schedule, a completed run.
async fn populated(db: &Path) {
    let server = faultline_engine::Server::start(db, "127.0.0.1:0", Arc::new(faultline_engine::clock::SystemClock))
        .await
        .unwrap();
    let c = Client::new(format!("http://{}", server.addr));
    c.start("waiting", "T", "idle-q", json!(null)).await;
    c.start("timer", "T", "q", json!(null)).await;
    let t = c.next_wft("q").await;
    c.complete_wft(&t.task_token, vec![Command::StartTimer { seq: 1, duration_ms: 3_600_000 }]).await;
    c.start("act", "T", "q", json!(null)).await;
    let t = c.next_wft("q").await;
    c.complete_wft(&t.task_token, vec![activity(1, "a", ActivityOptions::default())]).await;
    c.next_activity("q").await;
    c.start("done", "T", "q", json!(null)).await;
    let t = c.next_wft("q").await;
    c.complete_wft(&t.task_token, vec![Command::CompleteWorkflow { result: json!(1) }]).await;
    c.start("held", "T", "q", json!(null)).await;
    c.next_wft("q").await;
    let spec = json!({"schedule_id": "nightly", "cron": "0 0 2 * * *", "start": {"workflow_id": "n", "workflow_type": "T", "task_queue": "q"}});
    assert_eq!(c.post(paths::SCHEDULES, &spec).await.0, StatusCode::OK);
    // A second schedule keeps its own timer (they once shared one key, and replaced each other's).
    let spec = json!({"schedule_id": "hourly", "cron": "0 0 * * * *", "start": {"workflow_id": "h", "workflow_type": "T", "task_queue": "q"}});
    assert_eq!(c.post(paths::SCHEDULES, &spec).await.0, StatusCode::OK);
    server.shutdown().await;
}

fn run_id(conn: &Connection, workflow_id: &str) -> String {
    conn.query_row("SELECT run_id FROM workflow_ids WHERE workflow_id = ?1", [workflow_id], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_finds_nothing_wrong_with_a_healthy_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("healthy.db");
    populated(&db).await;
    let report = check_db(&db).unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.runs, report.running), (5, 4), "{report}");
    // And the binary's subcommand agrees, with exit status 0.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline-engine")).arg("--db").arg(&db).arg("check").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no violation found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_broken_invariant_of_a_hand_corrupted_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("broken.db");
    populated(&db).await;
    {
        let conn = Connection::open(&db).unwrap();
        // A gap in a history.
        let timer = run_id(&conn, "timer");
        conn.execute("DELETE FROM events WHERE run_id = ?1 AND event_id = 2", [&timer]).unwrap();
        // A scheduled workflow task without its task row.
        let waiting = run_id(&conn, "waiting");
        conn.execute("DELETE FROM tasks WHERE run_id = ?1", [&waiting]).unwrap();
        // A started activity without its timeout timer.
        let act = run_id(&conn, "act");
        conn.execute("DELETE FROM timers WHERE owner = ?1 AND key LIKE 'ac%'", [&act]).unwrap();
        // Orphans: a task and a timer of runs that do not exist, a timer of a closed run.
        conn.execute("INSERT INTO tasks(kind, task_queue, run_id, seq) VALUES (0, 'q', 'ghost', 0)", []).unwrap();
        conn.execute("INSERT INTO timers(owner, key, fire_at_ms, kind) VALUES ('ghost', 'u1', 1, '{\"t\":\"user\",\"seq\":1}')", []).unwrap();
        let done = run_id(&conn, "done");
        conn.execute("INSERT INTO timers(owner, key, fire_at_ms, kind) VALUES (?1, 'rt', 1, '{\"t\":\"run_timeout\"}')", [&done]).unwrap();
    }
    let report = check_db(&db).unwrap();
    let found = |invariant: &str, needle: &str| {
        report.violations.iter().any(|v| v.invariant == invariant && (v.subject.contains(needle) || v.detail.contains(needle)))
    };
    assert!(found("gapless_history", "without a gap"), "{report}");
    assert!(found("pending_work", "task row of scheduled workflow task"), "{report}");
    assert!(found("pending_work", "timeout timer of started activity 1"), "{report}");
    assert!(found("orphan_task", "ghost"), "{report}");
    assert!(found("orphan_timer", "does not exist"), "{report}");
    assert!(found("orphan_timer", "closed run"), "{report}");
    assert_eq!(report.violations.len(), 7, "nothing else is reported: {report}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline-engine")).arg("--db").arg(&db).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Overwrites the root page of `table` with garbage (after moving everything out of the WAL).
fn corrupt_root_page(db: &Path, table: &str) {
    let (root, page_size): (i64, i64) = {
        let conn = Connection::open(db).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let root = conn.query_row("SELECT rootpage FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0)).unwrap();
        (root, conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap())
    };
    let mut f = std::fs::OpenOptions::new().write(true).open(db).unwrap();
    f.seek(SeekFrom::Start(((root - 1) * page_size) as u64)).unwrap();
    f.write_all(&vec![0xA5; page_size as usize]).unwrap();
    f.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_check_report_corrupted_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pages.db");
    populated(&db).await;
    corrupt_root_page(&db, "runs");
    let report = check_db(&db).unwrap();
    assert!(report.violations.iter().any(|v| v.invariant == "integrity"), "{report}");

    let server = faultline_engine::Server::start(&db, "127.0.0.1:0", Arc::new(faultline_engine::clock::SystemClock))
        .await
        .expect("the engine starts: the damage is in pages startup does not read");
    let c = Client::new(format!("http://{}", server.addr));
    // Was: 200 "ok" while list, history and start answered 500.
    let (s, v) = c.get(paths::HEALTH).await;
    assert_eq!((s, v["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some(codes::STORE_CORRUPT)), "{v}");
    assert!(v["message"].as_str().unwrap().contains("check"), "{v}");
    let (s, _) = c.get("/api/v1/workflows").await;
    assert!(s.is_server_error());
    server.shutdown().await;
}
