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
    for expected in ["all-up", "bugged-pod", "engine-down", "fixed-pod", "pod-down"] {
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
