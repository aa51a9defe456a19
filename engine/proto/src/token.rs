//! Task tokens: which run, and which workflow task or activity attempt, a worker's report is
//! about. On the wire a token is an opaque string (`<run>~w~<task id>` or
//! `<run>~a~<seq>~<attempt>`); [`TaskToken`] is the one place that writes and reads it.

use std::fmt;
use std::str::FromStr;

/// A parsed task token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskToken {
    /// A workflow task of a run; `task_id` counts the run's workflow tasks.
    Workflow { run_id: String, task_id: u64 },
    /// One attempt of an activity of a run.
    Activity { run_id: String, seq: u64, attempt: u32 },
}

/// A string that is not a task token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task token {token:?} is malformed ({reason}); pass the task_token exactly as the poll returned it")]
pub struct TaskTokenError {
    pub token: String,
    pub reason: &'static str,
}

impl TaskToken {
    /// The run the token names.
    pub fn run_id(&self) -> &str {
        match self {
            TaskToken::Workflow { run_id, .. } | TaskToken::Activity { run_id, .. } => run_id,
        }
    }
}

impl fmt::Display for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskToken::Workflow { run_id, task_id } => write!(f, "{run_id}~w~{task_id}"),
            TaskToken::Activity { run_id, seq, attempt } => write!(f, "{run_id}~a~{seq}~{attempt}"),
        }
    }
}

impl FromStr for TaskToken {
    type Err = TaskTokenError;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        let bad = |reason| TaskTokenError { token: token.to_string(), reason };
        let mut parts = token.split('~');
        let run_id = parts.next().filter(|r| !r.is_empty()).ok_or_else(|| bad("no run id"))?;
        let parsed = match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("w"), Some(id), None, None) => {
                TaskToken::Workflow { run_id: run_id.to_string(), task_id: id.parse().map_err(|_| bad("bad task id"))? }
            }
            (Some("a"), Some(seq), Some(attempt), None) => TaskToken::Activity {
                run_id: run_id.to_string(),
                seq: seq.parse().map_err(|_| bad("bad activity seq"))?,
                attempt: attempt.parse().map_err(|_| bad("bad attempt"))?,
            },
            _ => return Err(bad("expected <run>~w~<id> or <run>~a~<seq>~<attempt>")),
        };
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        for t in [
            TaskToken::Workflow { run_id: "r-1".into(), task_id: 3 },
            TaskToken::Activity { run_id: "r-1".into(), seq: 7, attempt: 2 },
        ] {
            assert_eq!(t.to_string().parse::<TaskToken>().unwrap(), t);
        }
        assert_eq!("r~w~1".parse::<TaskToken>().unwrap().run_id(), "r");
        for bad in ["", "garbage", "~w~1", "r~w~x", "r~a~1", "r~a~1~2~3", "r~x~1", "r~w~1~2"] {
            let e = bad.parse::<TaskToken>().unwrap_err();
            assert!(e.to_string().contains("malformed"), "{bad}: {e}");
        }
    }
}
