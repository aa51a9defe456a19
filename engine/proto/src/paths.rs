//! Endpoint paths, shared by the engine's router and every client.

pub const HEALTH: &str = "/healthz";
pub const WORKFLOWS: &str = "/api/v1/workflows";
pub const SIGNAL_WITH_START: &str = "/api/v1/signal-with-start";
pub const EVENTS: &str = "/api/v1/events";
pub const SCHEDULES: &str = "/api/v1/schedules";
pub const WORKFLOW_TASK_POLL: &str = "/api/v1/tasks/workflow/poll";
pub const WORKFLOW_TASK_COMPLETE: &str = "/api/v1/tasks/workflow/complete";
pub const WORKFLOW_TASK_FAIL: &str = "/api/v1/tasks/workflow/fail";
pub const ACTIVITY_TASK_POLL: &str = "/api/v1/tasks/activity/poll";
pub const ACTIVITY_TASK_COMPLETE: &str = "/api/v1/tasks/activity/complete";
pub const ACTIVITY_TASK_FAIL: &str = "/api/v1/tasks/activity/fail";
pub const ACTIVITY_TASK_HEARTBEAT: &str = "/api/v1/tasks/activity/heartbeat";
pub const TASK_REPORTS: &str = "/api/v1/tasks/reports";

/// Largest request body the engine accepts, in bytes. Larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// `/api/v1/workflows/{id}` (describe, GET).
pub fn workflow(id: &str) -> String {
    format!("{WORKFLOWS}/{}", encode(id))
}
/// `/api/v1/workflows/{id}/signal` (POST `SignalRequest`).
pub fn signal(id: &str) -> String {
    format!("{}/signal", workflow(id))
}
/// `/api/v1/workflows/{id}/cancel` (POST `ReasonRequest`).
pub fn cancel(id: &str) -> String {
    format!("{}/cancel", workflow(id))
}
/// `/api/v1/workflows/{id}/terminate` (POST `ReasonRequest`).
pub fn terminate(id: &str) -> String {
    format!("{}/terminate", workflow(id))
}
/// `/api/v1/workflows/{id}/history` (GET; `?run_id=` for an older run).
pub fn history(id: &str) -> String {
    format!("{}/history", workflow(id))
}
/// `/api/v1/workflows/{id}/result` (GET; `?wait_ms=`).
pub fn result(id: &str) -> String {
    format!("{}/result", workflow(id))
}
/// `/api/v1/workflows/{id}/activities/{seq}/retry-now` (POST).
pub fn retry_now(id: &str, seq: u64) -> String {
    format!("{}/activities/{seq}/retry-now", workflow(id))
}
/// `/api/v1/workflows/{id}/activities/{seq}/attempts` (GET).
pub fn attempts(id: &str, seq: u64) -> String {
    format!("{}/activities/{seq}/attempts", workflow(id))
}
/// `/api/v1/task-queues/{name}` (GET).
pub fn task_queue(name: &str) -> String {
    format!("/api/v1/task-queues/{}", encode(name))
}
/// `/api/v1/schedules/{id}` (GET, DELETE).
pub fn schedule(id: &str) -> String {
    format!("{SCHEDULES}/{}", encode(id))
}

/// Percent-encodes a path segment (ids may contain `/`, e.g. child ids `order-1/3`).
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
