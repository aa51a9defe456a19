//! Schema upgrades keep the data (issue 12), and a schedule stored out of bounds by an older
//! engine is removed instead of fired in a loop (issue 15, item 1).

use faultline_proto::{IdConflictPolicy, ScheduleInfo, ScheduleSpec, StartWorkflowRequest, WorkflowOptions};
use rusqlite::Connection;
use serde_json::json;

use super::super::run_cache::RunCache;
use super::super::writer::run_one;
use super::super::*;
use super::count;
use crate::processor::{Notes, Request, Response};
use crate::store::SCHEDULE_OWNER;

fn table_sql(c: &Connection, name: &str) -> String {
    c.query_row("SELECT sql FROM sqlite_master WHERE name = ?1", [name], |r| r.get(0)).unwrap()
}

#[test]
fn a_version_1_database_is_upgraded_to_version_2_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    {
        // A database as the first release left it.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 0);",
        )
        .unwrap();
        c.execute_batch(V1).unwrap();
        assert!(!table_sql(&c, "timers").contains("WITHOUT ROWID"));
        c.execute_batch(
            r#"INSERT INTO timers VALUES ('run-1', 'u1', 5000, '{"t":"user","seq":1}');
               INSERT INTO timers VALUES ('~schedules', 's', 7000, '{"t":"schedule","schedule_id":"nightly"}');
               INSERT INTO attempts VALUES ('run-1', 1, 1, '{"attempt":1}'), ('run-1', 1, 2, '{"attempt":2}');
               INSERT INTO events(run_id, event_id, workflow_id, workflow_type, body) VALUES ('run-1', 1, 'w', 'T', '{}');"#,
        )
        .unwrap();
    }
    let c = open_writer(&path).unwrap();
    let version: i64 = c.query_row("SELECT MAX(version) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 2);
    assert!(table_sql(&c, "timers").contains("WITHOUT ROWID"));
    assert!(table_sql(&c, "attempts").contains("WITHOUT ROWID"));
    assert!(table_sql(&c, "timers_due").contains("fire_at_ms"), "the due index is back");
    assert_eq!((count(&c, "timers"), count(&c, "attempts"), count(&c, "events")), (2, 2, 1));
    let user: (i64, String) =
        c.query_row("SELECT fire_at_ms, kind FROM timers WHERE owner = 'run-1' AND key = 'u1'", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(user, (5000, r#"{"t":"user","seq":1}"#.to_string()));
    let key: String = c.query_row("SELECT key FROM timers WHERE owner = ?1", [SCHEDULE_OWNER], |r| r.get(0)).unwrap();
    assert_eq!(key, "s:nightly", "each schedule's timer has a key of its own");
    drop(c);
    // Opening again applies nothing more.
    let c = open_writer(&path).unwrap();
    assert_eq!(count(&c, "schema_migrations"), 2);
}

#[test]
fn a_stored_schedule_out_of_bounds_is_removed_not_spun_on() {
    let dir = tempfile::tempdir().unwrap();
    let w = open_writer(&dir.path().join("s.db")).unwrap();
    // What an engine without bounds accepted and stored: fired, it rearmed in the past.
    let info = ScheduleInfo {
        spec: ScheduleSpec {
            schedule_id: "tick".into(),
            start: StartWorkflowRequest {
                workflow_id: "tick".into(),
                workflow_type: "T".into(),
                task_queue: "q".into(),
                input: json!(null),
                options: WorkflowOptions::default(),
                id_conflict: IdConflictPolicy::Fail,
            },
            interval_ms: Some(u64::MAX),
            cron: None,
        },
        next_fire_at_ms: 1_000,
        last_started_run_id: None,
        skipped: 0,
    };
    w.execute("INSERT INTO schedules VALUES ('tick', ?1)", [serde_json::to_string(&info).unwrap()]).unwrap();
    w.execute(
        r#"INSERT INTO timers VALUES (?1, 's:tick', 1000, '{"t":"schedule","schedule_id":"tick"}')"#,
        [SCHEDULE_OWNER],
    )
    .unwrap();
    let mut cache = RunCache::default();
    let mut notes = Notes::default();
    w.execute_batch("BEGIN IMMEDIATE").unwrap();
    let fired = run_one(&w, &mut cache, Request::FireTimers { limit: 10 }, 2_000, &mut notes).unwrap();
    w.execute_batch("COMMIT").unwrap();
    assert!(matches!(fired, Response::Fired { fired: 1, next_at: None }), "{fired:?}");
    assert_eq!((count(&w, "schedules"), count(&w, "timers"), count(&w, "runs")), (0, 0, 0));
}
