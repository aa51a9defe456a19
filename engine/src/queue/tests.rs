use super::*;
use crate::clock::{Clock, ManualClock};

fn open() -> (tempfile::TempDir, Queue, ManualClock) {
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::open(&queue_path(&dir.path().join("e.db"))).unwrap();
    (dir, q, ManualClock::new(1_000))
}

#[test]
fn enqueue_reserve_ack() {
    let (_d, q, clock) = open();
    let now = clock.now_ms();
    let id = q.enqueue("activity:q", "{\"a\":1}", now, now).unwrap();
    assert_eq!(q.reserve("activity:other", now, 100).unwrap(), None, "topics are separate");
    let m = q.reserve("activity:q", now, 100).unwrap().expect("deliverable");
    assert_eq!((m.id, m.deliveries, m.body.as_str()), (id, 1, "{\"a\":1}"));
    assert_eq!(q.reserve("activity:q", now, 100).unwrap(), None, "leased: invisible");
    assert_eq!(q.depth(now).unwrap(), Depth { pending: 1, leased: 1, acked: 0 });
    assert!(q.ack(id, now).unwrap());
    assert!(!q.ack(id, now).unwrap(), "a second ack finds nothing");
    clock.advance(1_000);
    assert_eq!(q.reserve("activity:q", clock.now_ms(), 100).unwrap(), None, "acked: gone for good");
    assert_eq!(q.depth(clock.now_ms()).unwrap(), Depth { pending: 0, leased: 0, acked: 1 });
}

#[test]
fn an_expired_lease_redelivers_and_the_token_acks() {
    let (_d, q, clock) = open();
    let now = clock.now_ms();
    let id = q.enqueue("workflow:q", "{}", now, now).unwrap();
    let first = q.reserve("workflow:q", now, 500).unwrap().unwrap();
    q.handed_out(first.id, "tok-1", "{\"task\":1}").unwrap();
    clock.advance(499);
    assert_eq!(q.reserve("workflow:q", clock.now_ms(), 500).unwrap(), None, "lease still held");
    clock.advance(1);
    let again = q.reserve("workflow:q", clock.now_ms(), 500).unwrap().expect("redelivered once the lease expired");
    assert_eq!((again.id, again.deliveries, again.handed_out.as_deref()), (id, 2, Some("{\"task\":1}")));
    assert!(q.ack_token("tok-1", clock.now_ms()).unwrap(), "late ack by the handed-out token");
    clock.advance(10_000);
    assert_eq!(q.reserve("workflow:q", clock.now_ms(), 500).unwrap(), None);
}

#[test]
fn delayed_messages_wait_for_their_time() {
    let (_d, q, clock) = open();
    let now = clock.now_ms();
    q.enqueue("timer", "late", now + 2_000, now).unwrap();
    q.enqueue("timer", "soon", now + 1_000, now).unwrap();
    assert_eq!(q.reserve("timer", now, 100).unwrap(), None);
    assert_eq!(q.next_at("timer").unwrap(), Some(now + 1_000));
    clock.advance(1_000);
    let soon = q.reserve("timer", clock.now_ms(), 100).unwrap().unwrap();
    assert_eq!(soon.body, "soon");
    assert_eq!(q.reserve("timer", clock.now_ms(), 100).unwrap(), None);
    q.ack(soon.id, clock.now_ms()).unwrap();
    clock.advance(1_000);
    assert_eq!(q.reserve("timer", clock.now_ms(), 100).unwrap().unwrap().body, "late");
}

#[test]
fn deliveries_are_recorded_and_read_offline() {
    let (dir, q, _clock) = open();
    let d = Delivery {
        message_id: 1,
        topic: "workflow:q".into(),
        run_id: "r".into(),
        kind: "workflow".into(),
        seq: 0,
        created_event_id: 2,
        committed_event_id: 0,
        delivery: 1,
        at_ms: 5,
        early: true,
    };
    q.record_delivery(&d).unwrap();
    q.record_delivery(&Delivery { committed_event_id: 2, early: false, ..d.clone() }).unwrap();
    let read = read_deliveries(&queue_path(&dir.path().join("e.db"))).unwrap();
    assert_eq!(read.iter().map(|d| d.early).collect::<Vec<_>>(), [true, false]);
    assert_eq!(read[0], d);
}
