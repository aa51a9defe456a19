//! The `code` of every error body (`ErrorBody`), with its HTTP status. Clients match on these,
//! never on messages.

/// 400: malformed JSON, a missing field, a bad query, a number or id out of its bounds
/// (see [`crate::limits`]; the message names the field and the limit).
pub const BAD_REQUEST: &str = "bad_request";
/// 400: a workflow task completion whose command list is inconsistent; the message names the
/// index of the command and why (a command after a closing one, an unknown seq, ...).
pub const MALFORMED_COMMANDS: &str = "malformed_commands";
/// 404
pub const NOT_FOUND: &str = "not_found";
/// 405: the path exists, the method does not.
pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
/// 409: id already running, run closed, not in backoff.
pub const CONFLICT: &str = "conflict";
/// 409: the task already completed, failed or timed out.
pub const STALE_TASK_TOKEN: &str = "stale_task_token";
/// 409: a completion tried to close the run while events it had not seen were pending (a
/// signal, say). Its commands were NOT applied; the task is over and a new workflow task
/// replays the new events. A worker drops the task, exactly as for a stale token.
pub const CLOSE_REFUSED: &str = "close_refused";
/// 413: a body over `paths::MAX_BODY_BYTES`.
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// 500: the store answered an error; the transition was not committed.
pub const STORE_ERROR: &str = "store_error";
/// 500 (503 on `/healthz`): the store reports corrupted pages; run `faultline-engine check`.
pub const STORE_CORRUPT: &str = "store_corrupt";
/// 503: an fsync of the WAL failed, so the engine stopped accepting writes; reads go on.
/// Restart the engine: it recovers from the WAL.
pub const STORE_FAILED: &str = "store_failed";
/// 503: the engine is shutting down.
pub const UNAVAILABLE: &str = "unavailable";
