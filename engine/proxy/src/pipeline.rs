//! The toxic chain of one direction of one connection, as a pure state machine.
//!
//! A link (see [`crate::link`]) reads chunks from its source and pushes them here with
//! the time they arrived; [`Pipeline::poll`] says what to do next at a given instant:
//! write bytes, propagate the end of stream, close the connection, or wait (until an
//! instant, or for input). Nothing here reads a clock or sleeps, so every toxic's timing
//! is tested with made-up instants.
//!
//! Chunks keep their order. Only the chunk at the head of the queue is inside the chain,
//! stage after stage; deadlines are absolute (a latency deadline is the chunk's arrival
//! plus the delay), so a stream of chunks is delayed in a pipeline, not one after another,
//! as Toxiproxy's chain of goroutines does. Each toxic's toxicity is rolled once per
//! link when the toxic starts on it, and again when the toxic is updated.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, RngExt};
use tokio::time::Instant;

use crate::model::{millis, Toxic, ToxicKind};

/// A toxic with the id of its revision: every create or update gets a new id, so a link
/// can tell an unchanged toxic (keeps its state) from an updated one (starts afresh).
#[derive(Debug, Clone, PartialEq)]
pub struct ToxicInstance {
    pub id: u64,
    pub toxic: Toxic,
}

/// The toxics of one direction, in chain order.
pub type Chain = Arc<[ToxicInstance]>;

/// How a connection is closed by a toxic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// Close both sockets (FIN).
    Fin,
    /// Close both sockets with SO_LINGER 0 (RST).
    Reset,
}

/// What the link should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the destination, then poll again.
    Write(Bytes),
    /// The source ended and the chain let the end through: shut down the destination's
    /// write side. This direction is done.
    Shutdown,
    /// Close the whole connection, both directions.
    Close(CloseKind),
    /// Nothing to do before this instant (or before input, a config change, if `None`).
    Wait(Option<Instant>),
}

#[derive(Debug)]
enum Item {
    Data(Bytes),
    /// The source ended.
    Eof,
    /// A toxic ended the stream: close the connection once this reaches the end.
    End(CloseKind),
}

#[derive(Debug)]
struct Chunk {
    item: Item,
    /// Arrival time; the latency toxic moves it to the instant the chunk leaves it.
    ts: Instant,
    /// Index of the stage the chunk is in.
    stage: usize,
    /// When the chunk may leave its stage, once the stage has decided.
    deadline: Option<Instant>,
}

#[derive(Debug)]
struct Stage {
    id: u64,
    name: String,
    kind: ToxicKind,
    /// The toxicity roll: an inactive stage passes everything.
    active: bool,
    /// When the toxic started on this link (timeout counts from here).
    started: Instant,
    /// bandwidth: the instant the virtual wire is free again.
    busy_until: Option<Instant>,
    /// reset_peer: when the first data arrived.
    triggered: Option<Instant>,
    /// limit_data: bytes let through so far.
    sent: u64,
}

impl Stage {
    fn new(t: &ToxicInstance, now: Instant, rng: &mut dyn Rng) -> Self {
        let roll: f32 = rng.random();
        Stage {
            id: t.id,
            name: t.toxic.name.clone(),
            kind: t.toxic.kind.clone(),
            active: roll < t.toxic.toxicity,
            started: now,
            busy_until: None,
            triggered: None,
            sent: 0,
        }
    }

    /// The instant this stage closes the connection by itself, if any.
    fn own_deadline(&self) -> Option<(Instant, CloseKind)> {
        if !self.active {
            return None;
        }
        match self.kind {
            ToxicKind::Timeout { timeout } if timeout > 0 => Some((self.started + millis(timeout), CloseKind::Fin)),
            ToxicKind::ResetPeer { timeout } => self.triggered.map(|t| (t + millis(timeout), CloseKind::Reset)),
            _ => None,
        }
    }
}

/// Most bytes queued before the link stops reading (back-pressure on the source).
pub const MAX_QUEUED_BYTES: usize = 4 << 20;
/// Most chunks queued (Toxiproxy buffers 1024 chunks in its latency toxic).
pub const MAX_QUEUED_CHUNKS: usize = 1024;

/// The toxic chain of one direction of one connection.
pub struct Pipeline {
    stages: Vec<Stage>,
    queue: VecDeque<Chunk>,
    queued_bytes: usize,
    /// No more input will be accepted (end of stream seen, or a toxic ended it).
    input_closed: bool,
    rng: Box<dyn Rng + Send>,
}

impl Pipeline {
    pub fn new(chain: &[ToxicInstance], now: Instant, mut rng: Box<dyn Rng + Send>) -> Self {
        let stages = chain.iter().map(|t| Stage::new(t, now, &mut *rng)).collect();
        Pipeline { stages, queue: VecDeque::new(), queued_bytes: 0, input_closed: false, rng }
    }

    /// Whether the link should read more from its source.
    pub fn wants_input(&self) -> bool {
        !self.input_closed && self.queued_bytes < MAX_QUEUED_BYTES && self.queue.len() < MAX_QUEUED_CHUNKS
    }

    /// Data read from the source at `now`.
    pub fn push(&mut self, data: Bytes, now: Instant) {
        if self.input_closed || data.is_empty() {
            return;
        }
        self.queued_bytes += data.len();
        self.queue.push_back(Chunk { item: Item::Data(data), ts: now, stage: 0, deadline: None });
    }

    /// The source ended (EOF or a read error) at `now`.
    pub fn push_eof(&mut self, now: Instant) {
        if !self.input_closed {
            self.input_closed = true;
            self.queue.push_back(Chunk { item: Item::Eof, ts: now, stage: 0, deadline: None });
        }
    }

    /// Switches to a new chain, as a toxic was added, updated or removed. Unchanged
    /// toxics keep their state; the chunk inside a removed or updated toxic is let go
    /// without the rest of its wait (Toxiproxy interrupts the toxic the same way).
    /// Returns a close when an active timeout toxic was removed: Toxiproxy closes those
    /// connections, as the data the toxic dropped is lost.
    pub fn reconfigure(&mut self, chain: &[ToxicInstance], now: Instant) -> Option<CloseKind> {
        let mut old: Vec<Option<Stage>> = std::mem::take(&mut self.stages).into_iter().map(Some).collect();
        let mut close = None;
        // Where each old stage went: Some((new index, unchanged)).
        let mut moved: Vec<Option<(usize, bool)>> = vec![None; old.len()];
        let mut stages = Vec::with_capacity(chain.len());
        for (j, inst) in chain.iter().enumerate() {
            let found = old.iter().position(|s| s.as_ref().is_some_and(|s| s.name == inst.toxic.name));
            let stage = match found {
                Some(i) => {
                    let Some(prev) = old[i].take() else { continue };
                    let unchanged = prev.id == inst.id;
                    moved[i] = Some((j, unchanged));
                    if unchanged {
                        prev
                    } else {
                        let mut fresh = Stage::new(inst, now, &mut *self.rng);
                        if std::mem::discriminant(&prev.kind) == std::mem::discriminant(&fresh.kind) {
                            fresh.sent = prev.sent;
                        }
                        fresh
                    }
                }
                None => Stage::new(inst, now, &mut *self.rng),
            };
            stages.push(stage);
        }
        for gone in old.into_iter().flatten() {
            if gone.active && matches!(gone.kind, ToxicKind::Timeout { .. }) {
                close = Some(CloseKind::Fin);
            }
        }
        // Queued chunks other than the head have not entered the chain yet (stage 0).
        if let Some(head) = self.queue.front_mut() {
            let i = head.stage;
            if i >= moved.len() {
                head.stage = stages.len();
            } else {
                match moved[i] {
                    Some((j, true)) => head.stage = j,
                    Some((j, false)) => {
                        head.stage = j + 1;
                        head.deadline = None;
                    }
                    None => {
                        head.stage = moved[..i].iter().filter(|m| m.is_some()).count();
                        head.deadline = None;
                    }
                }
            }
        }
        self.stages = stages;
        close
    }

    /// What to do at `now`.
    pub fn poll(&mut self, now: Instant) -> Action {
        // A stage's own timer (timeout, reset_peer) fires even without traffic.
        let mut wake: Option<Instant> = None;
        for stage in &self.stages {
            if let Some((at, kind)) = stage.own_deadline() {
                if at <= now {
                    return Action::Close(kind);
                }
                wake = earliest(wake, at);
            }
        }
        loop {
            let Some(head) = self.queue.front_mut() else {
                return Action::Wait(wake);
            };
            let Some(stage) = self.stages.get_mut(head.stage) else {
                let Some(chunk) = self.queue.pop_front() else { return Action::Wait(wake) };
                return match chunk.item {
                    Item::Data(data) => {
                        self.queued_bytes -= data.len();
                        Action::Write(data)
                    }
                    Item::Eof => Action::Shutdown,
                    Item::End(kind) => Action::Close(kind),
                };
            };
            if !stage.active {
                head.stage += 1;
                continue;
            }
            let is_data = matches!(head.item, Item::Data(_));
            match stage.kind {
                ToxicKind::Noop => {}
                ToxicKind::Latency { latency, jitter } => {
                    if is_data {
                        let deadline = match head.deadline {
                            Some(d) => d,
                            None => {
                                let d = head.ts + jittered(latency, jitter, &mut *self.rng);
                                head.deadline = Some(d);
                                d
                            }
                        };
                        if deadline > now {
                            return Action::Wait(earliest(wake, deadline));
                        }
                        head.ts = head.ts.max(deadline);
                    }
                }
                ToxicKind::Bandwidth { rate } => {
                    if let (Item::Data(data), true) = (&mut head.item, rate > 0) {
                        if head.deadline.is_none() {
                            // Above 100 ms worth of bytes, the chunk goes in 100 ms pieces.
                            let piece_max = (rate as u64).saturating_mul(100).max(1);
                            let rest = if data.len() as u64 > piece_max { Some(data.split_off(piece_max as usize)) } else { None };
                            let len = data.len() as u64;
                            let start = stage.busy_until.map_or(now, |b| b.max(now));
                            // len bytes at rate KB/s take len / rate ms.
                            let nanos = len.saturating_mul(1_000_000) / rate as u64;
                            let done = start + Duration::from_nanos(nanos);
                            stage.busy_until = Some(done);
                            head.deadline = Some(done);
                            if let Some(rest) = rest {
                                let chunk = Chunk { item: Item::Data(rest), ts: head.ts, stage: head.stage, deadline: None };
                                self.queue.insert(1, chunk);
                                continue;
                            }
                        }
                        if let Some(d) = head.deadline.filter(|d| *d > now) {
                            return Action::Wait(earliest(wake, d));
                        }
                    }
                }
                ToxicKind::SlowClose { delay } => {
                    if !is_data {
                        let deadline = *head.deadline.get_or_insert(now + millis(delay));
                        if deadline > now {
                            return Action::Wait(earliest(wake, deadline));
                        }
                    }
                }
                ToxicKind::Timeout { .. } => {
                    if is_data {
                        self.drop_head();
                        continue;
                    }
                }
                ToxicKind::ResetPeer { timeout } => {
                    // The first data (or end) starts the countdown; nothing passes.
                    if stage.triggered.is_none() {
                        stage.triggered = Some(now);
                        wake = earliest(wake, now + millis(timeout));
                        if timeout == 0 {
                            return Action::Close(CloseKind::Reset);
                        }
                    }
                    self.drop_head();
                    continue;
                }
                ToxicKind::LimitData { bytes } => {
                    if let Item::Data(data) = &mut head.item {
                        let remaining = (bytes as u64).saturating_sub(stage.sent);
                        if (data.len() as u64) > remaining {
                            let cut = data.len() - remaining as usize;
                            data.truncate(remaining as usize);
                            self.queued_bytes -= cut;
                        }
                        stage.sent += data.len() as u64;
                        if stage.sent >= bytes as u64 {
                            // Let this piece through, then close: drop everything behind it.
                            let next_stage = head.stage + 1;
                            let empty = data.is_empty();
                            let ts = head.ts;
                            self.input_closed = true;
                            while self.queue.len() > 1 {
                                if let Some(c) = self.queue.pop_back() {
                                    if let Item::Data(d) = c.item {
                                        self.queued_bytes -= d.len();
                                    }
                                }
                            }
                            let end = Chunk { item: Item::End(CloseKind::Fin), ts, stage: next_stage, deadline: None };
                            if empty {
                                self.queue.clear();
                            }
                            self.queue.push_back(end);
                            if !empty {
                                if let Some(h) = self.queue.front_mut() {
                                    h.stage = next_stage;
                                    h.deadline = None;
                                }
                            }
                            continue;
                        }
                    }
                }
            }
            if let Some(h) = self.queue.front_mut() {
                h.stage += 1;
                h.deadline = None;
            }
        }
    }

    fn drop_head(&mut self) {
        if let Some(chunk) = self.queue.pop_front() {
            if let Item::Data(d) = chunk.item {
                self.queued_bytes -= d.len();
            }
        }
    }
}

/// `latency` ± `jitter` ms: uniform in [latency - jitter, latency + jitter), at least 0.
fn jittered(latency: i64, jitter: i64, rng: &mut dyn Rng) -> Duration {
    let mut delay = latency;
    if jitter > 0 {
        delay = delay.saturating_add(rng.random_range(-jitter..jitter));
    }
    millis(delay)
}

fn earliest(a: Option<Instant>, b: Instant) -> Option<Instant> {
    Some(a.map_or(b, |a| a.min(b)))
}

#[cfg(test)]
#[path = "pipeline_tests.rs"]
mod tests;
