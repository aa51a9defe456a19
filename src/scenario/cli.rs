//! The glue of `faultline validate` and `faultline run --headless`, so the binary's `main`
//! stays a dispatcher: it parses flags and calls these.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::ScenarioError;
use super::headless::{self, HeadlessOptions};
use super::report::Verdict;
use super::Context;
use crate::runtime::{self, Access, Project, RuntimeChoice};

/// The directory `faultline validate` reads when given no paths: `scenarios/` beside the
/// compose file.
pub fn default_dir(compose: &Path) -> PathBuf {
    runtime::images::workspace_dir(compose).join("scenarios")
}

/// `faultline validate [PATH...]`: checks the files (a directory means its `*.toml`) and
/// returns one line per valid file; every problem of every file is in the error.
pub fn validate(paths: &[PathBuf], compose: &Path) -> Result<String, ScenarioError> {
    let ctx = Context::from_compose(compose)?;
    let mut files = Vec::new();
    let given = if paths.is_empty() { vec![default_dir(compose)] } else { paths.to_vec() };
    for p in given {
        if p.is_dir() {
            files.extend(super::files_in(&p)?);
        } else {
            files.push(p);
        }
    }
    if files.is_empty() {
        return Err(ScenarioError::Directory { path: default_dir(compose), message: "no *.toml scenario files found".into() });
    }
    let ok = super::validate_files(&files, &ctx)?;
    let mut out = String::new();
    for s in &ok {
        out.push_str(&format!(
            "ok  {}: {} ({} steps, {} orders, {} expectations)\n",
            s.path.display(),
            s.title,
            s.steps.len(),
            s.workload.orders,
            s.expectations.len()
        ));
    }
    Ok(out)
}

/// `faultline run PATH --headless`: connects the runtime (refusing, with the holder's name,
/// when another Faultline controls `project`), prepares it (builds what is out of date),
/// runs, writes the report, and returns its verdict.
pub async fn run_headless(
    path: &Path,
    compose: &Path,
    choice: RuntimeChoice,
    project: &Project,
    speed: f64,
    report: Option<PathBuf>,
    bring_up: bool,
    keep_history: bool,
) -> Result<Verdict, ScenarioError> {
    let speed = headless::check_speed(speed).map_err(ScenarioError::Usage)?;
    // Validate before touching any pod: a typo must not cost a topology start.
    let ctx = Context::from_compose(compose)?;
    let scenario = super::load(path, &ctx)?;
    let project = project_for(project, &scenario, &ctx);
    let connected =
        runtime::connect(choice, compose, &project, Access::Control).await.map_err(|e| ScenarioError::Runtime(e.to_string()))?;
    if let Some(n) = &connected.notice {
        eprintln!("{n}");
    }
    let rt: Arc<dyn runtime::PodRuntime> = Arc::from(connected.runtime);
    if bring_up {
        rt.prepare(&|line: &str| eprintln!("{line}")).await.map_err(|e| ScenarioError::Runtime(e.to_string()))?;
        if !keep_history {
            super::clean_slate(&*rt, &|line: &str| eprintln!("{line}")).await?;
        }
    }
    // Pods that are children of this process are taken down at the end: leave none behind.
    // Containers stay up so the next run starts in seconds (`faultline down` removes them).
    let down_after = !rt.pods_outlive_faultline();
    let report = headless::run(rt, scenario, HeadlessOptions { speed, report, bring_up, down_after }).await?;
    Ok(report.verdict)
}

/// The project a scenario runs on: with the twin's compose profile active when it sets
/// `[setup] twin = true` (the normal demo never starts the twin's pods).
pub fn project_for(project: &Project, scenario: &super::Scenario, ctx: &Context) -> Project {
    match (scenario.twin, ctx.twin()) {
        (true, Some(t)) => project.clone().with_profiles([t.profile.clone()]),
        _ => project.clone(),
    }
}
