//! The equivalent command of every dashboard action (a `docker compose` line or a `curl`), shown
//! next to the confirmation so the audience learns what the button does.

use faultline_proto::paths;

use crate::runtime::PodAction;

/// The compose project name Faultline uses (see docker-compose.yml).
pub const COMPOSE_PROJECT: &str = "faultline";

/// A shell-quoted single-quoted string.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command that does `action` on `pod` by hand, for the given runtime kind.
pub fn pod_command(runtime_kind: Option<&str>, pod: &str, action: &PodAction) -> String {
    let dc = format!("docker compose -p {COMPOSE_PROJECT}");
    if runtime_kind == Some("local") {
        let sig = match action {
            PodAction::Kill => "KILL",
            PodAction::Stop => "TERM",
            PodAction::Pause => "STOP",
            PodAction::Unpause => "CONT",
            _ => "",
        };
        if !sig.is_empty() {
            return format!("kill -{sig} $(pgrep -x {pod})");
        }
    }
    match action {
        PodAction::Start => format!("{dc} start {pod}"),
        PodAction::Stop => format!("{dc} stop {pod}"),
        PodAction::Kill => format!("{dc} kill {pod}"),
        PodAction::Pause => format!("{dc} pause {pod}"),
        PodAction::Unpause => format!("{dc} unpause {pod}"),
        PodAction::Restart => format!("{dc} restart {pod}"),
        PodAction::Deploy { version } => {
            format!("docker rm -f {COMPOSE_PROJECT}-{pod}-1 && docker run -d --name {COMPOSE_PROJECT}-{pod}-1 --network {COMPOSE_PROJECT}_faultline faultline/{pod}:{version}")
        }
        PodAction::Disconnect => format!("docker network disconnect {COMPOSE_PROJECT}_faultline {COMPOSE_PROJECT}-{pod}-1"),
        PodAction::Reconnect => format!("docker network connect {COMPOSE_PROJECT}_faultline {COMPOSE_PROJECT}-{pod}-1"),
    }
}

/// The workshop loop by hand: rebuild from source, rebuild the images, redeploy.
pub fn rebuild_command(pod: &str) -> String {
    format!("cargo build --release --workspace --bins && faultline images && {}", pod_command(Some("docker"), pod, &PodAction::Restart))
}

fn curl_post(engine: &str, path: &str, body: Option<&str>) -> String {
    let base = engine.trim_end_matches('/');
    match body {
        Some(b) => format!("curl -X POST -H 'content-type: application/json' -d {} {base}{path}", sq(b)),
        None => format!("curl -X POST {base}{path}"),
    }
}

pub fn retry_now_command(engine: &str, workflow_id: &str, seq: u64) -> String {
    curl_post(engine, &paths::retry_now(workflow_id, seq), None)
}

pub fn signal_command(engine: &str, workflow_id: &str, name: &str, payload: &serde_json::Value) -> String {
    let body = serde_json::json!({ "name": name, "payload": payload }).to_string();
    curl_post(engine, &paths::signal(workflow_id), Some(&body))
}

pub fn cancel_command(engine: &str, workflow_id: &str, reason: &str) -> String {
    let body = serde_json::json!({ "reason": reason }).to_string();
    curl_post(engine, &paths::cancel(workflow_id), Some(&body))
}

pub fn terminate_command(engine: &str, workflow_id: &str, reason: &str) -> String {
    let body = serde_json::json!({ "reason": reason }).to_string();
    curl_post(engine, &paths::terminate(workflow_id), Some(&body))
}

pub fn start_command(engine: &str, workflow_id: &str, workflow_type: &str, task_queue: &str, input: &serde_json::Value) -> String {
    let body = serde_json::json!({
        "workflow_id": workflow_id, "workflow_type": workflow_type, "task_queue": task_queue, "input": input
    })
    .to_string();
    curl_post(engine, paths::WORKFLOWS, Some(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_commands_quote_and_encode() {
        let c = cancel_command("http://127.0.0.1:7233/", "order-1/3", "it's late");
        assert_eq!(
            c,
            r#"curl -X POST -H 'content-type: application/json' -d '{"reason":"it'\''s late"}' http://127.0.0.1:7233/api/v1/workflows/order-1%2F3/cancel"#
        );
        assert_eq!(pod_command(Some("local"), "payment", &PodAction::Kill), "kill -KILL $(pgrep -x payment)");
        assert_eq!(pod_command(Some("docker"), "payment", &PodAction::Pause), "docker compose -p faultline pause payment");
    }
}
