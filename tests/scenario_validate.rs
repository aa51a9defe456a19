//! The scenario format: the shipped files validate against docker-compose.yml, and bad files
//! are rejected with the right message at the right line and column.

use std::path::{Path, PathBuf};

use faultline::runtime::PodAction;
use faultline::scenario::validate::validate_text;
use faultline::scenario::{validate_files, Action, Check, Condition, Context, Counter, Diagnostic};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn ctx() -> Context {
    Context::from_compose(&root().join("docker-compose.yml")).expect("docker-compose.yml")
}

/// A valid scenario with `steps` and `expects` spliced in (so a test file is mostly defaults).
fn doc(steps: &str, expects: &str) -> String {
    format!(
        r#"title = "t"
description = "d"

[workload]
orders = 4
seed = 1

[[step]]
title = "start"
narration = "orders arrive"
actions = [{{ do = "start_orders" }}]
{steps}
{expects}"#
    )
}

fn errors(text: &str) -> Vec<Diagnostic> {
    validate_text(Path::new("bad.toml"), text, &ctx()).expect_err("the file must be rejected")
}

/// The one error of `text`: its (line, column) and message.
fn one_error(text: &str) -> (usize, usize, String) {
    let e = errors(text);
    assert_eq!(e.len(), 1, "expected exactly one error, got: {e:#?}");
    (e[0].line, e[0].column, e[0].message.clone())
}

/// (line, column) of the first occurrence of `needle` in `text`, 1-based.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    let off = text.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the text"));
    faultline::scenario::error::line_col(text, off)
}

#[test]
fn shipped_scenarios_validate() {
    let files = faultline::scenario::files_in(&root().join("scenarios")).expect("scenarios dir");
    let names: Vec<String> = files.iter().map(|p| p.file_stem().unwrap().to_string_lossy().into_owned()).collect();
    for expected in [
        "all-up",
        "bugged-pod",
        "engine-down",
        "fixed-pod",
        "pod-down",
        "slow-network",
        "race-lost-task",
        "race-redelivery",
        "race-lost-timer",
        "race-early-task",
    ] {
        assert!(names.iter().any(|n| n == expected), "scenarios/{expected}.toml is missing");
    }
    let all = validate_files(&files, &ctx()).unwrap_or_else(|e| panic!("{e}"));
    for s in &all {
        assert!(!s.steps.is_empty() && !s.expectations.is_empty(), "{}", s.name);
        assert!(s.steps.iter().all(|st| !st.narration.is_empty()), "{}: every step narrates", s.name);
    }
    let fixed = all.iter().find(|s| s.name == "fixed-pod").unwrap();
    assert!(fixed.steps.iter().flat_map(|s| &s.actions).any(|a| matches!(a,
        Action::Pod { pod, action: PodAction::Deploy { version } } if pod == "payment" && version == "v2-fixed")));
    assert_eq!(fixed.versions.get("payment").map(String::as_str), Some("v1-bugged"));
    let engine = all.iter().find(|s| s.name == "engine-down").unwrap();
    assert!(engine.expectations.iter().any(|e| matches!(e.check, Check::TimersFiredAtLeast(_))));
}

#[test]
fn a_valid_document_parses_into_the_model() {
    let text = doc(
        r#"
[[step]]
title = "wait"
narration = "watch"
manual = true
when = { retrying = 2 }
timeout = "30s"
actions = [
  { do = "kill", pod = "engine" },
  { do = "start", pod = "engine" },
  { do = "signal", name = "approve", orders = [1, 2] },
  { do = "wait", until = { pod_healthy = "engine" }, timeout = "20s" },
]
"#,
        "[[expect]]\ncheck = \"recovery\"\npod = \"engine\"\nat_most = \"45s\"\n",
    );
    let s = validate_text(Path::new("ok.toml"), &text, &ctx()).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(s.steps.len(), 2);
    let st = &s.steps[1];
    assert!(st.manual);
    assert_eq!(st.when, Some(Condition::AtLeast(Counter::Retrying, 2)));
    assert_eq!(st.timeout.as_secs(), 30);
    assert_eq!(st.actions[0], Action::Pod { pod: "engine".into(), action: PodAction::Kill });
    assert!(matches!(&st.actions[3], Action::WaitUntil { condition: Condition::PodHealthy(p), .. } if p == "engine"));
    assert_eq!(st.line, pos(&text, "[[step]]\ntitle = \"wait\"").0);
    assert!(matches!(&s.expectations[0].check, Check::RecoveryAtMost { pod, max } if pod == "engine" && max.as_secs() == 45));
}

#[test]
fn unknown_pod_is_rejected_at_its_value() {
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"kill\", pod = \"paymnt\" }]\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"paymnt\""));
    assert!(msg.contains("unknown pod `paymnt`") && msg.contains("payment"), "{msg}");
}

#[test]
fn unknown_action_is_rejected() {
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"explode\", pod = \"payment\" }]\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"explode\""));
    assert!(msg.contains("unknown action `explode`") && msg.contains("deploy"), "{msg}");
}

#[test]
fn unpausing_a_pod_never_paused_is_impossible() {
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"unpause\", pod = \"worker\" }]\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"unpause\""));
    assert!(msg.contains("no earlier action pauses it"), "{msg}");
    // Paused first, it is fine.
    let ok = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"pause\", pod = \"worker\" }, { do = \"unpause\", pod = \"worker\" }]\n", "");
    validate_text(Path::new("ok.toml"), &ok, &ctx()).unwrap_or_else(|e| panic!("{e:#?}"));
}

#[test]
fn deploying_an_unknown_version_is_rejected() {
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"deploy\", pod = \"payment\", version = \"v3\" }]\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"v3\""));
    assert!(msg.contains("v1-bugged") && msg.contains("v2-fixed"), "{msg}");
}

#[test]
fn conditions_on_unknown_or_stopped_pods_are_rejected() {
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nwhen = { pod_healthy = \"databse\" }\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"databse\""));
    assert!(msg.contains("unknown pod"), "{msg}");

    let text = doc(
        "[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"stop\", pod = \"shipping\" }]\n\n[[step]]\ntitle = \"y\"\nnarration = \"n\"\nwhen = { pod_healthy = \"shipping\" }\n",
        "",
    );
    let (line, _, msg) = one_error(&text);
    assert_eq!(line, pos(&text, "when = { pod_healthy").0);
    assert!(msg.contains("stopped"), "{msg}");
}

#[test]
fn impossible_counts_and_order_numbers_are_rejected() {
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nwhen = { completed = 9 }\n", "");
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("the workload has 4 orders"), "{msg}");

    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"start_orders\", count = 1 }]\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "1 }]\n"));
    assert!(msg.contains("cannot start 1 more orders"), "{msg}");

    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"cancel\", orders = [7] }]\n", "");
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("order numbers run from 1 to the 4"), "{msg}");
}

#[test]
fn expectations_that_cannot_hold_are_rejected() {
    let text = doc(
        "[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"cancel\", orders = \"all\" }]\n",
        "[[expect]]\ncheck = \"all_completed\"\n\n[[expect]]\ncheck = \"recovery\"\npod = \"engine\"\nat_most = \"10s\"\n",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].message.contains("a step cancels orders"), "{}", e[0].message);
    assert!(e[1].message.contains("no step starts, restarts"), "{}", e[1].message);
    assert_eq!(e[1].line, pos(&text, "pod = \"engine\"").0);
}

#[test]
fn typos_and_syntax_errors_have_positions() {
    // A misspelt key: toml/serde reports it with its span.
    let text = doc("[[step]]\ntitle = \"x\"\nnarraton = \"n\"\n", "");
    let e = errors(&text);
    assert!(e[0].message.contains("narraton"), "{}", e[0].message);
    assert_eq!(e[0].line, pos(&text, "narraton").0);

    let text = "title = \"t\"\ndescription = \"d\"\n[workload\norders = 1\n";
    let e = errors(text);
    assert_eq!(e[0].line, 3, "{e:#?}");

    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nafter = \"5 parsecs\"\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"5 parsecs\""));
    assert!(msg.contains("not a duration"), "{msg}");
}

#[test]
fn unknown_products_and_impossible_bug_filters_are_rejected() {
    let text = "title = \"t\"\ndescription = \"d\"\n[workload]\norders = 2\nseed = 1\nproducts = [\"mug\", \"unicorn\"]\n\n[[step]]\ntitle = \"s\"\nnarration = \"n\"\nactions = [{ do = \"start_orders\" }]\n";
    let (line, col, msg) = one_error(text);
    assert_eq!((line, col), pos(text, "\"unicorn\""));
    assert!(msg.contains("unknown product"), "{msg}");

    // 100.00 converts exactly on v1, so no order of this workload can hit the bug.
    let text = "title = \"t\"\ndescription = \"d\"\n[workload]\norders = 2\nseed = 1\nproducts = [\"backpack\"]\npayment_bug = \"all\"\n\n[[step]]\ntitle = \"s\"\nnarration = \"n\"\nactions = [{ do = \"start_orders\" }]\n";
    let (_, _, msg) = one_error(text);
    assert!(msg.contains("payment_bug filter"), "{msg}");
}

#[test]
fn all_problems_of_all_files_are_reported_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{ do = \"kill\", pod = \"nope\" }, { do = \"pause\", pod = \"nope2\" }]\n", "")).unwrap();
    std::fs::write(&b, "title = 3\n").unwrap();
    let err = validate_files(&[a.clone(), b.clone()], &ctx()).expect_err("both are bad");
    assert_eq!(err.diagnostics.len(), 3, "{err}");
    let text = err.to_string();
    assert!(text.contains(&format!("{}:15:33:", a.display())), "{text}");
    assert!(text.contains(&format!("{}:1:", b.display())), "{text}");
    assert!(text.contains("3 problems found"), "{text}");
    // The caret line points under the column.
    let d = &err.diagnostics[0];
    let rendered = d.to_string();
    let caret_line = rendered.lines().last().unwrap();
    assert_eq!(caret_line.find('^').unwrap() - caret_line.find('|').unwrap() - 2, d.column - 1, "{rendered}");
}

#[test]
fn zero_orders_is_one_clear_error_and_counts_read_in_good_english() {
    let text = doc("", "").replace("orders = 4", "orders = 0");
    let e = errors(&text);
    assert!(e.iter().any(|d| d.message == "workload.orders must be at least 1 (got 0)"), "{e:#?}");
    assert!(e.iter().all(|d| !d.message.contains("1 orders")), "{e:#?}");
    let text = doc("[[step]]\ntitle = \"w\"\nnarration = \"n\"\nwhen = { completed = 9 }\n", "").replace("orders = 4", "orders = 1");
    let (_, _, msg) = one_error(&text);
    assert_eq!(msg, "completed = 9 can never hold: the workload has 1 order");
}

/// `doc` with the twin on.
fn twin_doc(steps: &str, expects: &str) -> String {
    doc(steps, expects).replacen("[workload]", "[setup]\ntwin = true\n\n[workload]", 1)
}

#[test]
fn fault_plans_and_side_checks_parse_into_the_model() {
    let steps = r#"
[[step]]
title = "arm"
narration = "the crash"
actions = [{ do = "fault", point = "after_state_commit", action = "crash", match = { activity_type = "ChargePayment", order = 2, nth = 1 }, count = 1 }]

[[step]]
title = "down"
narration = "the twin died"
when = { pod_stopped = "engine-dw" }
actions = [{ do = "start", pod = "engine-dw" }, { do = "release_faults" }]
"#;
    let expects = "[[expect]]\ncheck = \"no_anomalies\"\nside = \"transactional\"\n\n[[expect]]\ncheck = \"anomalies\"\nkind = \"lost_task\"\nside = \"dual-write\"\n";
    let sc = validate_text(Path::new("t.toml"), &twin_doc(steps, expects), &ctx()).unwrap_or_else(|d| panic!("{d:#?}"));
    assert!(sc.twin);
    let Action::Fault(plan) = &sc.steps[1].actions[0] else { panic!("{:?}", sc.steps[1].actions) };
    assert_eq!((plan.point.as_str(), plan.order, plan.count), ("after_state_commit", Some(2), 1));
    assert_eq!(plan.point_for(false), Some("after_commit_before_reply"), "the transactional mirror");
    assert_eq!(plan.side, faultline::scenario::FaultSide::Both, "both sides by default with the twin");
    assert!(matches!(sc.expectations[0].check, Check::NoAnomalies { side: faultline::checker::Side::Transactional }));
    assert!(matches!(
        sc.expectations[1].check,
        Check::Anomalies { side: faultline::checker::Side::DualWrite, kind: faultline::checker::AnomalyKind::LostTask, at_least: 1 }
    ));
}

#[test]
fn race_mistakes_are_rejected_where_they_are_written() {
    let step = |action: &str| format!("[[step]]\ntitle = \"x\"\nnarration = \"y\"\nactions = [{action}]\n");
    // An unknown point, listing the real ones.
    let text = twin_doc(&step(r#"{ do = "fault", point = "after_commit", action = "crash" }"#), "");
    let (l, c, m) = one_error(&text);
    assert_eq!((l, c), pos(&text, "\"after_commit\""));
    assert!(m.contains("unknown fault point `after_commit`") && m.contains("after_state_commit") && m.contains("before_commit"), "{m}");
    // An unknown action.
    let text = twin_doc(&step(r#"{ do = "fault", point = "before_state_commit", action = "explode" }"#), "");
    let (_, _, m) = one_error(&text);
    assert!(m.contains("unknown fault action `explode`") && m.contains("crash, error, delay, hold"), "{m}");
    // A delay without its duration.
    let (_, _, m) = one_error(&twin_doc(&step(r#"{ do = "fault", point = "before_state_commit", action = "delay" }"#), ""));
    assert!(m.contains("delay = \"2s\""), "{m}");
    // The dual-write side without the twin.
    let text = doc(&step(r#"{ do = "fault", point = "after_state_commit", action = "error", side = "dual-write" }"#), "");
    let (l, c, m) = one_error(&text);
    assert_eq!((l, c), pos(&text, "\"dual-write\""));
    assert!(m.contains("twin = true"), "{m}");
    // A twin pod without the twin.
    let text = doc(&step(r#"{ do = "kill", pod = "worker-dw" }"#), "");
    let (_, _, m) = one_error(&text);
    assert!(m.contains("belongs to the dual-write twin") && m.contains("twin = true"), "{m}");
    // A check without a side, and an unknown kind.
    let (_, _, m) = one_error(&twin_doc("", "[[expect]]\ncheck = \"no_anomalies\"\n"));
    assert!(m.contains("needs a side"), "{m}");
    let text = twin_doc("", "[[expect]]\ncheck = \"anomalies\"\nkind = \"lost_tasks\"\nside = \"dual-write\"\n");
    let (_, _, m) = one_error(&text);
    assert!(m.contains("unknown anomaly kind `lost_tasks`") && m.contains("lost_task,"), "{m}");
    // Keys that do not belong to an action.
    let (_, _, m) = one_error(&twin_doc(&step(r#"{ do = "kill", pod = "engine", point = "before_commit" }"#), ""));
    assert!(m.contains("`point` does not apply to `kill`"), "{m}");
}

#[test]
fn transitions_and_the_twin_order_parse_and_their_mistakes_are_rejected() {
    let step = |action: &str| format!("[[step]]\ntitle = \"x\"\nnarration = \"y\"\nactions = [{action}]\n");
    let ordered = |order: &str, action: &str| twin_doc(&step(action), "").replacen("twin = true", &format!("twin = true\ntwin_order = \"{order}\""), 1);
    // A transition narrows the plan, and travels to the engine's spec.
    let text = ordered("enqueue-first", r#"{ do = "fault", point = "after_enqueue_before_commit", action = "crash", match = { workflow_type = "Order", transition = "start_timer" } }"#);
    let sc = validate_text(Path::new("t.toml"), &text, &ctx()).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(sc.twin_order, Some(faultline::scenario::model::TwinOrder::EnqueueFirst));
    let Action::Fault(plan) = &sc.steps[1].actions[0] else { panic!("{:?}", sc.steps[1].actions) };
    assert_eq!(plan.transition.as_deref(), Some("start_timer"));
    assert!(plan.describe().contains("start timer"), "{}", plan.describe());
    // An unknown transition, listing the real ones.
    let text = twin_doc(&step(r#"{ do = "fault", point = "before_state_commit", action = "crash", match = { transition = "fire" } }"#), "");
    let (l, c, m) = one_error(&text);
    assert_eq!((l, c), pos(&text, "\"fire\""));
    assert!(m.contains("unknown transition `fire`") && m.contains("schedule_activity, start_timer, complete_activity"), "{m}");
    // A point of the other order never fires on the twin.
    let text = twin_doc(&step(r#"{ do = "fault", point = "after_enqueue_before_commit", action = "crash" }"#), "");
    let (_, _, m) = one_error(&text);
    assert!(m.contains("never fires on a twin that runs after-commit") && m.contains("twin_order = \"enqueue-first\""), "{m}");
    let (_, _, m) = one_error(&ordered("enqueue-first", r#"{ do = "fault", point = "after_state_commit", action = "crash" }"#));
    assert!(m.contains("never fires on a twin that runs enqueue-first"), "{m}");
    // The order needs the twin, and is one of two.
    let (_, _, m) = one_error(&ordered("sideways", r#"{ do = "fault", point = "before_state_commit", action = "crash" }"#));
    assert!(m.contains("unknown twin_order `sideways`") && m.contains("enqueue-first"), "{m}");
    let text = doc(&step(r#"{ do = "kill", pod = "payment" }"#), "").replacen("[workload]", "[setup]\ntwin_order = \"enqueue-first\"\n\n[workload]", 1);
    let (_, _, m) = one_error(&text);
    assert!(m.contains("`twin_order` applies to the dual-write twin") && m.contains("twin = true"), "{m}");
}

#[test]
fn a_crash_takes_the_engines_down_for_the_steps_after_it() {
    // Waiting for a crashed engine to stop, then starting it, is accepted; starting it without
    // a crash before is not (it runs).
    let steps = r#"
[[step]]
title = "arm"
narration = "crash both"
actions = [{ do = "fault", point = "after_state_commit", action = "crash" }]

[[step]]
title = "restart"
narration = "both back"
when = { pod_stopped = "engine" }
actions = [{ do = "start", pod = "engine" }, { do = "start", pod = "engine-dw" }]
"#;
    validate_text(Path::new("t.toml"), &twin_doc(steps, ""), &ctx()).unwrap_or_else(|d| panic!("{d:#?}"));
    let text = twin_doc("[[step]]\ntitle = \"x\"\nnarration = \"y\"\nactions = [{ do = \"start\", pod = \"engine-dw\" }]\n", "");
    let (_, _, m) = one_error(&text);
    assert!(m.contains("already running"), "{m}");
}

fn step(actions: &str) -> String {
    doc(&format!("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nactions = [{actions}]\n"), "")
}

#[test]
fn link_actions_parse_into_faults_on_the_compose_file_links() {
    use faultline::runtime::{Direction, LinkFault};
    let text = step(
        r#"{ do = "latency", link = "worker->payment", latency = "3s", jitter = "100ms", for = "20s" }, { do = "bandwidth", link = "worker->shipping", rate = 5, stream = "upstream" }, { do = "timeout", link = "worker->inventory" }, { do = "reset", link = "worker->notification", timeout = "1s" }, { do = "partition", link = "worker->engine" }, { do = "heal", link = "worker->engine" }, { do = "heal" }"#,
    );
    let s = validate_text(Path::new("ok.toml"), &text, &ctx()).unwrap_or_else(|d| panic!("{d:#?}"));
    let a = &s.steps[1].actions;
    let ms = std::time::Duration::from_millis;
    assert_eq!(
        a[0],
        Action::LinkFault {
            link: "worker->payment".into(),
            fault: LinkFault::Latency { latency: ms(3000), jitter: ms(100), direction: Direction::Downstream },
            heal_after: Some(ms(20_000))
        }
    );
    assert!(matches!(&a[1], Action::LinkFault { fault: LinkFault::Bandwidth { rate_kbps: 5, direction: Direction::Upstream }, heal_after: None, .. }));
    assert!(matches!(&a[2], Action::LinkFault { fault: LinkFault::Timeout { after, .. }, .. } if after.is_zero()));
    assert!(matches!(&a[3], Action::LinkFault { fault: LinkFault::Reset { after, .. }, .. } if *after == ms(1000)));
    assert!(matches!(&a[4], Action::LinkFault { link, fault: LinkFault::Partition, .. } if link == "worker->engine"));
    assert_eq!(a[5], Action::Heal { link: Some("worker->engine".into()) });
    assert_eq!(a[6], Action::Heal { link: None });
    assert_eq!(a[0].describe(), "latency 3s ±100ms on worker->payment for 20s");
}

#[test]
fn link_actions_with_unknown_links_or_wrong_keys_are_rejected() {
    let text = step(r#"{ do = "latency", link = "worker->paymnt", latency = "3s" }"#);
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"worker->paymnt\""));
    assert!(msg.contains("unknown link `worker->paymnt`") && msg.contains("worker->payment") && msg.contains("FAULTLINE_PROXIES"), "{msg}");

    let text = step(r#"{ do = "partition", link = "worker->engine", latency = "3s" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`latency` does not apply to `partition`"), "{msg}");

    let text = step(r#"{ do = "latency", link = "worker->engine" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`latency` needs a delay"), "{msg}");

    let text = step(r#"{ do = "partition" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`partition` needs a link"), "{msg}");

    let text = step(r#"{ do = "latency", link = "worker->engine", latency = "soon" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`soon` is not a duration"), "{msg}");

    let text = step(r#"{ do = "bandwidth", link = "worker->engine", rate = 5, stream = "sideways" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("unknown stream `sideways`"), "{msg}");

    let text = step(r#"{ do = "heal", link = "worker->payment" }"#);
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"heal\""));
    assert!(msg.contains("cannot heal link `worker->payment`: no earlier action puts a fault on it"), "{msg}");

    let text = step(r#"{ do = "kill", pod = "worker", link = "worker->engine" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`link` does not apply to `kill`"), "{msg}");
}

#[test]
fn netem_takes_a_latency_or_a_loss_and_says_what_is_wrong() {
    use faultline::runtime::netem::NetemSpec;
    use faultline::runtime::LinkFault;
    let ms = std::time::Duration::from_millis;
    let text = step(r#"{ do = "netem", link = "worker->payment", latency = "100ms", jitter = "10ms", loss = "0.5%", for = "30s" }"#);
    let s = validate_text(Path::new("ok.toml"), &text, &ctx()).unwrap_or_else(|d| panic!("{d:#?}"));
    let a = &s.steps[1].actions;
    let spec = NetemSpec { delay: ms(100), jitter: ms(10), loss_bp: 50 };
    assert_eq!(a[0], Action::LinkFault { link: "worker->payment".into(), fault: LinkFault::Netem(spec), heal_after: Some(ms(30_000)) });
    assert_eq!(a[0].describe(), "netem 100ms ±10ms loss 0.5% on worker->payment for 30s");

    let text = step(r#"{ do = "netem", link = "worker->payment", loss = "150%" }"#);
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"150%\""));
    assert!(msg.contains("between 0% and 100%"), "{msg}");

    let text = step(r#"{ do = "netem", link = "worker->payment" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`netem` needs a latency or a loss"), "{msg}");

    let text = step(r#"{ do = "netem", link = "worker->payment", loss = "5%", stream = "upstream" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`stream` does not apply to `netem`"), "{msg}");

    let text = step(r#"{ do = "latency", link = "worker->payment", latency = "1s", loss = "5%" }"#);
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("`loss` does not apply to `latency`"), "{msg}");
}

#[test]
fn narration_waiting_needs_a_when_condition_and_some_words() {
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nnarration_waiting = \"soon\"\nmanual = true\n", "");
    let (line, col, msg) = one_error(&text);
    assert_eq!((line, col), pos(&text, "\"soon\""));
    assert!(msg.contains("narration_waiting") && msg.contains("add `when`"), "{msg}");
    let text = doc("[[step]]\ntitle = \"x\"\nnarration = \"n\"\nnarration_waiting = \" \"\nwhen = { completed = 4 }\n", "");
    let (_, _, msg) = one_error(&text);
    assert!(msg.contains("empty narration_waiting"), "{msg}");
    let ok = doc("[[step]]\ntitle = \"x\"\nnarration = \"done\"\nnarration_waiting = \"on the way\"\nwhen = { completed = 4 }\n", "");
    let sc = validate_text(Path::new("ok.toml"), &ok, &ctx()).expect("valid");
    assert_eq!(sc.steps[1].narration_waiting.as_deref(), Some("on the way"));
}
