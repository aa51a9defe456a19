//! Replay of a long history built in code (2,000 activities, 12,003 events): correct new
//! command, and the time it takes is printed (the figure behind "no sticky cache needed").

use std::time::Instant;

use faultline_sdk::proto::{ActivityOptions, Command, EventKind, HistoryEvent, WorkflowTask};
use faultline_sdk::{replay, WfContext, WorkflowError, WorkflowRegistry};

const N: u64 = 2_000;

async fn many(ctx: WfContext, n: u64) -> Result<u64, WorkflowError> {
    let mut sum = 0;
    for i in 0..n {
        sum += ctx.activity::<u64, _>("inc", &i, ActivityOptions::default()).await?;
    }
    Ok(sum)
}

fn history(n: u64) -> Vec<HistoryEvent> {
    let mut kinds = vec![EventKind::WorkflowStarted {
        workflow_id: "long".into(),
        workflow_type: "Many".into(),
        task_queue: "q".into(),
        input: serde_json::json!(n + 1),
        options: Default::default(),
        parent: None,
        continued_from_run_id: None,
        random_seed: 1,
    }];
    let task = |k: &mut Vec<EventKind>| {
        k.push(EventKind::WorkflowTaskScheduled { task_queue: "q".into(), attempt: 1 });
        k.push(EventKind::WorkflowTaskStarted { worker: "w".into() });
    };
    for i in 0..n {
        task(&mut kinds);
        kinds.push(EventKind::WorkflowTaskCompleted { worker: "w".into() });
        let seq = i + 1;
        kinds.push(EventKind::ActivityScheduled {
            seq,
            activity_type: "inc".into(),
            input: serde_json::json!(i),
            task_queue: "q".into(),
            options: Default::default(),
        });
        kinds.push(EventKind::ActivityStarted { seq, attempt: 1, worker: "w".into() });
        kinds.push(EventKind::ActivityCompleted { seq, attempt: 1, result: serde_json::json!(1) });
    }
    task(&mut kinds);
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| HistoryEvent { event_id: i as u64 + 1, timestamp_ms: 1_000 + i as i64, kind })
        .collect()
}

#[test]
fn long_history_replays_quickly_enough_without_a_cache() {
    let mut r = WorkflowRegistry::new();
    r.register("Many", many);
    let task = WorkflowTask {
        task_token: "t".into(),
        workflow_id: "long".into(),
        run_id: "r".into(),
        workflow_type: "Many".into(),
        history: history(N),
        attempt: 1,
    };
    let started = Instant::now();
    let cmds = replay(&r, &task).unwrap();
    let elapsed = started.elapsed();
    assert!(matches!(&cmds[..], [Command::ScheduleActivity { seq, .. }] if *seq == N + 1), "{cmds:?}");
    println!("replayed {} events ({N} activities) in {elapsed:?}", task.history.len());
}
