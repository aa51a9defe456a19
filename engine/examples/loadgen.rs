//! A quick load generator for the engine's HTTP API: starts N one-activity workflows and
//! runs them with P workflow pollers and P activity pollers, then prints workflows per second.
//!
//! `cargo run -p faultline-engine --release --example loadgen -- http://127.0.0.1:7233 2000 16`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use faultline_proto::*;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:7233".into());
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let pollers: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let http = reqwest::Client::new();
    let queue = format!("load-{}", std::process::id());
    let done = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..pollers {
        let (h, b, qu, d) = (http.clone(), base.clone(), queue.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let (http, base, queue, done) = (h, b, qu, d);
            let poll = PollRequest { task_queue: queue.clone(), worker: format!("wf-{p}"), timeout_ms: 1000 };
            while done.load(Ordering::Relaxed) < n {
                let r = http.post(format!("{base}{}", paths::WORKFLOW_TASK_POLL)).json(&poll).send().await?;
                if r.status() != 200 {
                    continue;
                }
                let t: WorkflowTask = r.json().await?;
                let finished = t.history.iter().any(|e| e.kind.name() == "activity_completed");
                let commands = if finished {
                    vec![Command::CompleteWorkflow { result: json!("ok") }]
                } else {
                    vec![Command::ScheduleActivity { seq: 1, activity_type: "a".into(), input: json!(null), options: Default::default() }]
                };
                let body = CompleteWorkflowTaskRequest { task_token: t.task_token, commands, eager: None };
                http.post(format!("{base}{}", paths::WORKFLOW_TASK_COMPLETE)).json(&body).send().await?;
                if finished {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        }));
        let (h, b, qu, d) = (http.clone(), base.clone(), queue.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let (http, base, queue, done) = (h, b, qu, d);
            let poll = PollRequest { task_queue: queue.clone(), worker: format!("act-{p}"), timeout_ms: 1000 };
            while done.load(Ordering::Relaxed) < n {
                let r = http.post(format!("{base}{}", paths::ACTIVITY_TASK_POLL)).json(&poll).send().await?;
                if r.status() != 200 {
                    continue;
                }
                let t: ActivityTask = r.json().await?;
                let body = CompleteActivityTaskRequest { task_token: t.task_token, result: json!(1), eager: None };
                http.post(format!("{base}{}", paths::ACTIVITY_TASK_COMPLETE)).json(&body).send().await?;
            }
            anyhow::Ok(())
        }));
    }
    let starters: Vec<_> = (0..8)
        .map(|s| {
            let (http, base, queue) = (http.clone(), base.clone(), queue.clone());
            tokio::spawn(async move {
                for i in (s..n).step_by(8) {
                    let req = json!({"workflow_id": format!("{queue}-{i}"), "workflow_type": "Load", "task_queue": queue});
                    http.post(format!("{base}{}", paths::WORKFLOWS)).json(&req).send().await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for s in starters {
        s.await??;
    }
    for t in tasks {
        t.await??;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{n} workflows in {secs:.2} s: {:.0} workflows/s", n as f64 / secs);
    Ok(())
}
