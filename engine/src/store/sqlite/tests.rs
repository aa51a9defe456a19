//! Store tests on a real SQLite file: atomic commits, visibility only after commit, isolation of
//! a failing request inside a group commit (savepoints, and the savepoint-free fast path with
//! its re-run), migrations, and reopening.

use faultline_proto::{IdConflictPolicy, StartWorkflowRequest, WorkflowOptions};
use rusqlite::Connection;
use serde_json::json;

use super::run_cache::RunCache;
use super::tx::SqliteTx;
use super::writer::{run_batch, run_one};
use super::*;
use crate::processor::{Notes, Processor, Request, Response};
use crate::state::TaskKind;
use crate::store::StoreTx;

mod migrations;

fn start_req(id: &str) -> Request {
    Request::Start(StartWorkflowRequest {
        workflow_id: id.into(),
        workflow_type: "T".into(),
        task_queue: "q".into(),
        input: json!(null),
        options: WorkflowOptions { run_timeout_ms: Some(60_000), ..Default::default() },
        id_conflict: IdConflictPolicy::Fail,
    })
}

fn count(c: &Connection, table: &str) -> i64 {
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

#[test]
fn a_transition_is_invisible_until_commit_then_complete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let w = open_writer(&path).unwrap();
    let mut cache = RunCache::default();
    let reader = Reader::new(&path);
    w.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut notes = Notes::default();
    run_one(&w, &mut cache, start_req("a"), 1_000, &mut notes).unwrap();
    // Written but not committed: a reader sees no event, no task, no timer.
    reader
        .with(|c| {
            assert_eq!((count(c, "events"), count(c, "tasks"), count(c, "timers"), count(c, "runs")), (0, 0, 0, 0));
            Ok(())
        })
        .unwrap();
    w.execute_batch("COMMIT").unwrap();
    reader
        .with(|c| {
            // Started + task scheduled, the run row, its task row and its run-timeout timer: together.
            assert_eq!((count(c, "events"), count(c, "tasks"), count(c, "timers"), count(c, "runs")), (2, 1, 1, 1));
            Ok(())
        })
        .unwrap();
    assert_eq!(notes.last_cursor, Some(2));
    assert_eq!(notes.queues.get(&(TaskKind::Workflow, "q".to_string())), Some(&1));
}

#[test]
fn a_failing_request_rolls_back_alone_in_a_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let w = open_writer(&path).unwrap();
    let mut cache = RunCache::default();
    w.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut notes = Notes::default();
    assert!(run_one(&w, &mut cache, start_req("a"), 1, &mut notes).is_ok());
    assert!(run_one(&w, &mut cache, start_req("a"), 2, &mut notes).is_err(), "second run of a running id");
    let bad = Request::ToWorkflow { workflow_id: "a".into(), input: crate::state::Input::RetryNow { seq: 7 } };
    assert!(run_one(&w, &mut cache, bad, 3, &mut notes).is_err());
    assert!(run_one(&w, &mut cache, start_req("b"), 4, &mut notes).is_ok());
    w.execute_batch("COMMIT").unwrap();
    assert_eq!(count(&w, "runs"), 2);
    assert_eq!(count(&w, "events"), 4);
}

#[test]
fn claims_take_each_task_once_and_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    {
        let w = open_writer(&path).unwrap();
        let mut cache = RunCache::default();
        w.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut notes = Notes::default();
        run_one(&w, &mut cache, start_req("a"), 1, &mut notes).unwrap();
        let poll = Request::Poll { kind: TaskKind::Workflow, queue: "q".into(), worker: "w".into() };
        assert!(matches!(run_one(&w, &mut cache, poll.clone(), 2, &mut notes).unwrap(), Response::Polled(Some(_))));
        assert!(matches!(run_one(&w, &mut cache, poll, 3, &mut notes).unwrap(), Response::Polled(None)));
        w.execute_batch("COMMIT").unwrap();
    }
    // Reopen: migrations are not re-applied, the run and its started task are there.
    let w = open_writer(&path).unwrap();
    let mut cache = RunCache::default();
    let versions: i64 = w.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0)).unwrap();
    assert_eq!(versions, schema_version());
    let mut tx = SqliteTx { conn: &w, cache: &mut cache };
    let run_id = tx.current_run_id("a").unwrap().unwrap();
    let state = tx.load_run(&run_id).unwrap().unwrap();
    assert_eq!(state.next_event_id, 4);
    assert!(state.wft.as_ref().unwrap().started_at_ms.is_some());
    // The started task's timeout timer is durable: it fires after a restart.
    let due = tx.due_timers(i64::MAX, 10).unwrap();
    assert!(due.iter().any(|t| matches!(t.kind, crate::state::TimerKind::WorkflowTaskTimeout { .. })));
    let mut p = Processor::new(&mut tx, 1_000_000);
    assert!(matches!(p.execute(Request::FireTimers { limit: 10 }).unwrap(), Response::Fired { fired: 2, .. }));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    drop(open_writer(&path).unwrap());
    let c = Connection::open(&path).unwrap();
    c.execute("INSERT INTO schema_migrations(version, applied_at_ms) VALUES (999, 0)", []).unwrap();
    drop(c);
    let err = match open_writer(&path) {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("newer than this engine"), "{err}");
}

#[test]
fn the_fast_path_keeps_rejections_that_wrote_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = open_writer(&dir.path().join("s.db")).unwrap();
    let mut cache = RunCache::default();
    let bad = Request::ToWorkflow { workflow_id: "a".into(), input: crate::state::Input::RetryNow { seq: 7 } };
    let work = vec![(start_req("a"), 1), (start_req("a"), 2), (bad, 3), (start_req("b"), 4)];
    let (results, notes) = run_batch(&w, &mut cache, &work, false).unwrap().expect("no request wrote and then failed");
    let ok: Vec<bool> = results.iter().map(|r| r.is_ok()).collect();
    assert_eq!(ok, [true, false, false, true]);
    w.execute_batch("COMMIT").unwrap();
    assert_eq!((count(&w, "runs"), count(&w, "events")), (2, 4));
    assert_eq!(notes.queues.get(&(TaskKind::Workflow, "q".to_string())), Some(&2));
}

#[test]
fn a_request_failing_after_writes_makes_the_batch_rerun_with_savepoints() {
    let dir = tempfile::tempdir().unwrap();
    let w = open_writer(&dir.path().join("s.db")).unwrap();
    let mut cache = RunCache::default();
    // The run row is written after the events: this start fails with its events already in.
    w.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON runs WHEN NEW.workflow_id = 'boom'
         BEGIN SELECT RAISE(ABORT, 'boom'); END;",
    )
    .unwrap();
    let work = vec![(start_req("a"), 1), (start_req("boom"), 2), (start_req("b"), 3)];
    assert!(run_batch(&w, &mut cache, &work, false).unwrap().is_none(), "the fast path must give up");
    assert!(w.is_autocommit(), "and roll its transaction back");
    assert_eq!(count(&w, "events"), 0);
    let (results, notes) = run_batch(&w, &mut cache, &work, true).unwrap().expect("savepoints isolate the failure");
    let ok: Vec<bool> = results.iter().map(|r| r.is_ok()).collect();
    assert_eq!(ok, [true, false, true]);
    w.execute_batch("COMMIT").unwrap();
    // Nothing of the failed start survives, the others are complete.
    assert_eq!((count(&w, "runs"), count(&w, "events"), count(&w, "workflow_ids")), (2, 4, 2));
    assert_eq!(notes.queues.get(&(TaskKind::Workflow, "q".to_string())), Some(&2));
}

#[test]
fn a_rolled_back_batch_leaves_no_state_in_the_run_cache() {
    let dir = tempfile::tempdir().unwrap();
    let w = open_writer(&dir.path().join("s.db")).unwrap();
    let mut cache = RunCache::default();
    let (results, _) = run_batch(&w, &mut cache, &[(start_req("a"), 1)], false).unwrap().unwrap();
    assert!(results[0].is_ok());
    w.execute_batch("COMMIT").unwrap();
    assert_eq!(cache.len(), 1, "the new run is cached");
    w.execute_batch(
        "CREATE TRIGGER boom BEFORE INSERT ON runs WHEN NEW.workflow_id = 'boom'
         BEGIN SELECT RAISE(ABORT, 'boom'); END;",
    )
    .unwrap();
    // The signal is applied (and cached) first; the failing start then rolls the batch back.
    let signal = Request::ToWorkflow {
        workflow_id: "a".into(),
        input: crate::state::Input::Signal { name: "s".into(), payload: json!(1) },
    };
    let work = vec![(signal, 2), (start_req("boom"), 3)];
    assert!(run_batch(&w, &mut cache, &work, false).unwrap().is_none());
    let mut tx = SqliteTx { conn: &w, cache: &mut cache };
    let run_id = tx.current_run_id("a").unwrap().unwrap();
    let seen = tx.load_run(&run_id).unwrap().unwrap();
    let mut fresh = RunCache::default();
    let stored = SqliteTx { conn: &w, cache: &mut fresh }.load_run(&run_id).unwrap().unwrap();
    assert_eq!(seen, stored, "the cache must not keep the rolled-back signal");
    assert_eq!(stored.next_event_id, 3, "started and task scheduled only");
}
