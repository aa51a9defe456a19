//! [`Client::subscribe`]: the engine's live event stream (SSE on `GET /api/v1/events`),
//! resumed on its own after a disconnect or an engine restart.
//!
//! A background task owns the connection and feeds a channel. It remembers the last cursor it
//! delivered and reconnects with `?after=<cursor>` (and `Last-Event-ID`), with exponential
//! backoff. Cursors are global and gapless, so it drops duplicates (cursor <= last) and treats
//! a jump (cursor > last + 1) as a lost stretch: it reconnects once to fetch it.

use std::time::Duration;

use eventsource_stream::Eventsource;
use faultline_proto::{paths, StreamEvent};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::client::{error_chain, Client};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One item of [`Client::subscribe`].
// Nearly every item is an Event, so boxing it would cost an allocation each for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// Connected (again); events follow from cursor `after` (exclusive).
    Connected { after: Option<u64> },
    Event(StreamEvent),
    /// The connection failed or dropped; the stream reconnects after `retry_in`.
    /// A dashboard shows this as "engine unreachable, reconnecting…".
    Disconnected { error: String, retry_in: Duration },
}

impl Client {
    /// The live event stream from cursor `after` (exclusive; `None`: from the first event the
    /// engine recorded). Never ends by itself; drop it to stop. Must be called inside a tokio
    /// runtime.
    pub fn subscribe(&self, after: Option<u64>) -> impl Stream<Item = StreamItem> + Send + Unpin + 'static {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(run(self.clone(), after, tx));
        ReceiverStream::new(rx)
    }
}

/// Why one connection ended.
enum End {
    /// The receiver was dropped: stop for good.
    Closed,
    /// Reconnect, after a backoff if `error` is set.
    Reconnect { error: Option<String> },
}

async fn run(client: Client, mut last: Option<u64>, tx: mpsc::Sender<StreamItem>) {
    let mut backoff = MIN_BACKOFF;
    // The cursor right after a gap we already reconnected for once: accepted the second time.
    let mut gap_seen: Option<u64> = None;
    loop {
        match connect_once(&client, &mut last, &mut gap_seen, &tx, &mut backoff).await {
            End::Closed => return,
            End::Reconnect { error: None } => continue,
            End::Reconnect { error: Some(error) } => {
                let item = StreamItem::Disconnected { error, retry_in: backoff };
                if tx.send(item).await.is_err() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = tx.closed() => return,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn connect_once(
    client: &Client,
    last: &mut Option<u64>,
    gap_seen: &mut Option<u64>,
    tx: &mpsc::Sender<StreamItem>,
    backoff: &mut Duration,
) -> End {
    let mut url = format!("{}{}", client.base_url(), paths::EVENTS);
    let mut req = client.http().get(&url).header("Accept", "text/event-stream");
    if let Some(c) = *last {
        url.push_str(&format!("?after={c}"));
        req = client.http().get(&url).header("Accept", "text/event-stream").header("Last-Event-ID", c.to_string());
    }
    let resp = tokio::select! {
        r = req.send() => r,
        _ = tx.closed() => return End::Closed,
    };
    let resp = match resp {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return End::Reconnect { error: Some(format!("engine answered {} on {url}", r.status())) },
        Err(e) => return End::Reconnect { error: Some(format!("engine at {} unreachable: {}", client.base_url(), error_chain(&e))) },
    };
    if tx.send(StreamItem::Connected { after: *last }).await.is_err() {
        return End::Closed;
    }
    *backoff = MIN_BACKOFF;
    let mut events = resp.bytes_stream().eventsource();
    loop {
        let next = tokio::select! {
            n = events.next() => n,
            _ = tx.closed() => return End::Closed,
        };
        let ev = match next {
            None => return End::Reconnect { error: Some("engine closed the event stream".into()) },
            Some(Err(e)) => return End::Reconnect { error: Some(format!("event stream broke: {e}")) },
            Some(Ok(ev)) => ev,
        };
        let Ok(se) = serde_json::from_str::<StreamEvent>(&ev.data) else {
            tracing::debug!(event = %ev.event, "ignoring a non-event SSE message");
            continue;
        };
        if let Some(l) = *last {
            if se.cursor <= l {
                continue;
            }
            if se.cursor > l + 1 && *gap_seen != Some(se.cursor) {
                tracing::warn!(last = l, got = se.cursor, "gap in the event stream; reconnecting to fetch it");
                *gap_seen = Some(se.cursor);
                return End::Reconnect { error: None };
            }
        }
        *last = Some(se.cursor);
        if tx.send(StreamItem::Event(se)).await.is_err() {
            return End::Closed;
        }
    }
}
