//! The equivalent `curl` command of every engine action of the dashboard, shown next to the
//! confirmation so the audience learns what the key does. Pod actions render their own
//! commands: see [`Describe::equivalent_command`](crate::runtime::Describe::equivalent_command).

use faultline_proto::paths;

/// A shell-quoted single-quoted string.
fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
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
    }
}
