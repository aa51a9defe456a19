//! Timing of every toxic, with made-up instants (no sleeping).

use super::*;
use crate::model::Stream;
use rand::SeedableRng;

fn rng() -> Box<dyn Rng + Send> {
    Box::new(rand::rngs::StdRng::seed_from_u64(7))
}

fn inst(id: u64, name: &str, kind: ToxicKind) -> ToxicInstance {
    ToxicInstance { id, toxic: Toxic::new(name, Stream::Downstream, kind) }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn data(n: usize) -> Bytes {
    Bytes::from(vec![b'x'; n])
}

fn write_len(a: Action) -> usize {
    match a {
        Action::Write(b) => b.len(),
        other => panic!("expected a write, got {other:?}"),
    }
}

#[test]
fn without_toxics_data_and_end_pass_at_once() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[], t0, rng());
    assert_eq!(p.poll(t0), Action::Wait(None));
    p.push(data(3), t0);
    assert_eq!(write_len(p.poll(t0)), 3);
    p.push_eof(t0);
    assert!(!p.wants_input());
    assert_eq!(p.poll(t0), Action::Shutdown);
}

#[test]
fn latency_delays_each_chunk_from_its_arrival() {
    let t0 = Instant::now();
    let chain = [inst(1, "l", ToxicKind::Latency { latency: 100, jitter: 0 })];
    let mut p = Pipeline::new(&chain, t0, rng());
    p.push(data(1), t0);
    p.push(data(2), t0 + ms(10));
    assert_eq!(p.poll(t0 + ms(10)), Action::Wait(Some(t0 + ms(100))));
    assert_eq!(write_len(p.poll(t0 + ms(100))), 1);
    // Pipelined: the second chunk is due 100 ms after it arrived, not after the first left.
    assert_eq!(p.poll(t0 + ms(100)), Action::Wait(Some(t0 + ms(110))));
    assert_eq!(write_len(p.poll(t0 + ms(110))), 2);
    // The end of stream is not delayed.
    p.push_eof(t0 + ms(120));
    assert_eq!(p.poll(t0 + ms(120)), Action::Shutdown);
}

#[test]
fn jitter_stays_within_its_bounds() {
    let t0 = Instant::now();
    let chain = [inst(1, "l", ToxicKind::Latency { latency: 100, jitter: 20 })];
    let mut p = Pipeline::new(&chain, t0, rng());
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        p.push(data(1), t0);
        let Action::Wait(Some(at)) = p.poll(t0) else { panic!("expected a wait") };
        let d = at - t0;
        assert!(d >= ms(80) && d < ms(120), "{d:?}");
        seen.insert(d.as_millis());
        assert_eq!(write_len(p.poll(at)), 1);
    }
    assert!(seen.len() > 10, "jitter should vary: {seen:?}");
}

#[test]
fn toxicity_zero_never_applies() {
    let t0 = Instant::now();
    let mut t = inst(1, "l", ToxicKind::Latency { latency: 100, jitter: 0 });
    t.toxic.toxicity = 0.0;
    let mut p = Pipeline::new(&[t], t0, rng());
    p.push(data(1), t0);
    assert_eq!(write_len(p.poll(t0)), 1);
}

#[test]
fn bandwidth_paces_and_splits_in_100ms_pieces() {
    let t0 = Instant::now();
    // 1 KB/s: 100 bytes per 100 ms.
    let chain = [inst(1, "b", ToxicKind::Bandwidth { rate: 1 })];
    let mut p = Pipeline::new(&chain, t0, rng());
    p.push(data(250), t0);
    assert_eq!(p.poll(t0), Action::Wait(Some(t0 + ms(100))));
    assert_eq!(write_len(p.poll(t0 + ms(100))), 100);
    assert_eq!(p.poll(t0 + ms(100)), Action::Wait(Some(t0 + ms(200))));
    assert_eq!(write_len(p.poll(t0 + ms(200))), 100);
    assert_eq!(p.poll(t0 + ms(200)), Action::Wait(Some(t0 + ms(250))));
    assert_eq!(write_len(p.poll(t0 + ms(250))), 50);
    // Rate 0 means no limit.
    let mut p = Pipeline::new(&[inst(1, "b", ToxicKind::Bandwidth { rate: 0 })], t0, rng());
    p.push(data(10_000), t0);
    assert_eq!(write_len(p.poll(t0)), 10_000);
}

#[test]
fn timeout_zero_drops_data_and_holds_forever() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[inst(1, "t", ToxicKind::Timeout { timeout: 0 })], t0, rng());
    p.push(data(5), t0);
    assert_eq!(p.poll(t0 + ms(10_000)), Action::Wait(None));
    p.push_eof(t0);
    assert_eq!(p.poll(t0), Action::Shutdown);
}

#[test]
fn timeout_closes_after_its_time_without_traffic() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[inst(1, "t", ToxicKind::Timeout { timeout: 50 })], t0, rng());
    assert_eq!(p.poll(t0), Action::Wait(Some(t0 + ms(50))));
    p.push(data(5), t0 + ms(1));
    assert_eq!(p.poll(t0 + ms(1)), Action::Wait(Some(t0 + ms(50))));
    assert_eq!(p.poll(t0 + ms(50)), Action::Close(CloseKind::Fin));
}

#[test]
fn slow_close_delays_only_the_end() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[inst(1, "s", ToxicKind::SlowClose { delay: 300 })], t0, rng());
    p.push(data(5), t0);
    assert_eq!(write_len(p.poll(t0)), 5);
    p.push_eof(t0 + ms(5));
    assert_eq!(p.poll(t0 + ms(5)), Action::Wait(Some(t0 + ms(305))));
    assert_eq!(p.poll(t0 + ms(305)), Action::Shutdown);
}

#[test]
fn reset_peer_resets_after_the_first_data() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[inst(1, "r", ToxicKind::ResetPeer { timeout: 0 })], t0, rng());
    assert_eq!(p.poll(t0), Action::Wait(None));
    p.push(data(5), t0 + ms(7));
    assert_eq!(p.poll(t0 + ms(7)), Action::Close(CloseKind::Reset));

    let mut p = Pipeline::new(&[inst(1, "r", ToxicKind::ResetPeer { timeout: 100 })], t0, rng());
    p.push(data(5), t0 + ms(7));
    assert_eq!(p.poll(t0 + ms(7)), Action::Wait(Some(t0 + ms(107))));
    p.push(data(5), t0 + ms(8));
    assert_eq!(p.poll(t0 + ms(8)), Action::Wait(Some(t0 + ms(107))), "data after the trigger is dropped");
    assert_eq!(p.poll(t0 + ms(107)), Action::Close(CloseKind::Reset));
}

#[test]
fn limit_data_lets_the_limit_through_then_closes() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[inst(1, "lim", ToxicKind::LimitData { bytes: 10 })], t0, rng());
    p.push(data(6), t0);
    assert_eq!(write_len(p.poll(t0)), 6);
    p.push(data(6), t0);
    p.push(data(6), t0);
    assert_eq!(write_len(p.poll(t0)), 4);
    assert!(!p.wants_input());
    assert_eq!(p.poll(t0), Action::Close(CloseKind::Fin));
    // A limit of 0 closes on the first data.
    let mut p = Pipeline::new(&[inst(1, "lim", ToxicKind::LimitData { bytes: 0 })], t0, rng());
    p.push(data(1), t0);
    assert_eq!(p.poll(t0), Action::Close(CloseKind::Fin));
}

#[test]
fn toxics_chain_in_order() {
    let t0 = Instant::now();
    let chain = [
        inst(1, "l", ToxicKind::Latency { latency: 100, jitter: 0 }),
        inst(2, "lim", ToxicKind::LimitData { bytes: 3 }),
    ];
    let mut p = Pipeline::new(&chain, t0, rng());
    p.push(data(5), t0);
    assert_eq!(p.poll(t0), Action::Wait(Some(t0 + ms(100))));
    assert_eq!(write_len(p.poll(t0 + ms(100))), 3);
    assert_eq!(p.poll(t0 + ms(100)), Action::Close(CloseKind::Fin));
}

#[test]
fn removing_latency_releases_the_waiting_chunk() {
    let t0 = Instant::now();
    let chain = [inst(1, "l", ToxicKind::Latency { latency: 1000, jitter: 0 })];
    let mut p = Pipeline::new(&chain, t0, rng());
    p.push(data(5), t0);
    assert_eq!(p.poll(t0), Action::Wait(Some(t0 + ms(1000))));
    assert_eq!(p.reconfigure(&[], t0 + ms(10)), None);
    assert_eq!(write_len(p.poll(t0 + ms(10))), 5);
}

#[test]
fn adding_latency_applies_to_later_chunks_of_a_live_link() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[], t0, rng());
    p.push(data(1), t0);
    assert_eq!(write_len(p.poll(t0)), 1);
    p.reconfigure(&[inst(5, "l", ToxicKind::Latency { latency: 100, jitter: 0 })], t0 + ms(1));
    p.push(data(1), t0 + ms(2));
    assert_eq!(p.poll(t0 + ms(2)), Action::Wait(Some(t0 + ms(102))));
}

#[test]
fn updating_a_toxic_restarts_it_and_keeps_limit_state() {
    let t0 = Instant::now();
    let chain = [
        inst(1, "lim", ToxicKind::LimitData { bytes: 100 }),
        inst(2, "l", ToxicKind::Latency { latency: 1000, jitter: 0 }),
    ];
    let mut p = Pipeline::new(&chain, t0, rng());
    p.push(data(40), t0);
    assert_eq!(p.poll(t0), Action::Wait(Some(t0 + ms(1000))));
    // Update the latency: the waiting chunk goes on; the limit keeps its count.
    let updated = [
        inst(1, "lim", ToxicKind::LimitData { bytes: 100 }),
        inst(3, "l", ToxicKind::Latency { latency: 10, jitter: 0 }),
    ];
    p.reconfigure(&updated, t0 + ms(5));
    assert_eq!(write_len(p.poll(t0 + ms(5))), 40);
    let lowered = [inst(4, "lim", ToxicKind::LimitData { bytes: 50 }), updated[1].clone()];
    p.reconfigure(&lowered, t0 + ms(6));
    p.push(data(40), t0 + ms(6));
    assert_eq!(p.poll(t0 + ms(6)), Action::Wait(Some(t0 + ms(16))));
    assert_eq!(write_len(p.poll(t0 + ms(16))), 10);
    assert_eq!(p.poll(t0 + ms(16)), Action::Close(CloseKind::Fin));
}

#[test]
fn removing_an_active_timeout_closes_the_connection() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[inst(1, "t", ToxicKind::Timeout { timeout: 0 })], t0, rng());
    assert_eq!(p.reconfigure(&[], t0 + ms(1)), Some(CloseKind::Fin));
}

#[test]
fn queue_is_bounded() {
    let t0 = Instant::now();
    let mut p = Pipeline::new(&[inst(1, "t", ToxicKind::Timeout { timeout: 0 })], t0, rng());
    let mut n = 0;
    while p.wants_input() {
        p.push(data(1), t0);
        n += 1;
    }
    assert_eq!(n, MAX_QUEUED_CHUNKS);
    // The timeout toxic drops them all, and input is wanted again.
    assert_eq!(p.poll(t0), Action::Wait(None));
    assert!(p.wants_input());
}
