//! The live stream: every committed event as a `StreamEvent`, as server-sent events with
//! `id` = cursor. Resumable with `?after=CURSOR` or `Last-Event-ID`, with no gap and no
//! duplicate, across engine restarts too: the stream reads committed rows after its cursor
//! (cursors are committed in order by the single writer), then waits for the next commit.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::stream::{self, Stream};
use faultline_proto::StreamEvent;
use tokio::sync::watch;

use super::workflows::query;
use super::{ApiError, ApiResult};
use crate::engine::Engine;
use crate::store::sqlite::read;

/// Rows read per query.
const PAGE: usize = 500;

struct Cursor {
    engine: Engine,
    after: u64,
    buffer: VecDeque<StreamEvent>,
    commits: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
}

pub async fn stream(
    State(engine): State<Engine>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let q = query(q)?;
    // A browser's EventSource reconnects to the same URL (with its original `?after=`) and
    // adds `Last-Event-ID`; the later of the two is where the client really is.
    let parse = |a: &str| {
        let cursor = a.trim().parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("cursor {a:?} is not a number; pass the id of the last event you received"))
        })?;
        // Bounded like every number on the wire (a cursor past 2^63 would wrap in SQL).
        faultline_proto::limits::seq(faultline_proto::limits::At::Root.field("after"), cursor)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok::<u64, ApiError>(cursor)
    };
    let mut after = 0;
    if let Some(a) = q.get("after").filter(|a| !a.is_empty()) {
        after = parse(a)?;
    }
    if let Some(h) = headers.get("last-event-id") {
        let h = h.to_str().map_err(|_| ApiError::bad_request("Last-Event-ID is not text"))?;
        if !h.is_empty() {
            after = after.max(parse(h)?);
        }
    }
    let state = Cursor {
        commits: engine.notifier().cursor(),
        shutdown: engine.shutdown_signal(),
        engine,
        after,
        buffer: VecDeque::new(),
    };
    let s = stream::unfold(state, |mut st| async move {
        loop {
            if let Some(ev) = st.buffer.pop_front() {
                st.after = ev.cursor;
                let event = Event::default().id(ev.cursor.to_string()).json_data(&ev).unwrap_or_default();
                return Some((Ok(event), st));
            }
            if *st.shutdown.borrow() {
                return None;
            }
            st.commits.borrow_and_update(); // seen: a commit from here on wakes `changed()`
            let after = st.after;
            match st.engine.read(move |c| read::events_after(c, after, PAGE)).await {
                Ok(rows) if !rows.is_empty() => {
                    st.buffer.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "event stream read failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            tokio::select! {
                r = st.commits.changed() => if r.is_err() { return None },
                _ = st.shutdown.changed() => return None,
            }
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)).text("keep-alive")))
}
