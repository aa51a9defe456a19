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
/// runs, writes the report, and returns its verdict. With `repeat` > 1 it runs that many
/// times in a row (each on a clean slate unless `keep_history`), stops at the first run that
/// does not pass, prints a tally, and returns the last verdict; the reports are numbered
/// (`r.md` -> `r-1.md`, `r-2.md` ...).
#[allow(clippy::too_many_arguments)]
pub async fn run_headless(
    path: &Path,
    compose: &Path,
    choice: RuntimeChoice,
    project: &Project,
    speed: f64,
    report: Option<PathBuf>,
    bring_up: bool,
    keep_history: bool,
    repeat: u32,
) -> Result<Verdict, ScenarioError> {
    if repeat == 0 {
        return Err(ScenarioError::Usage("--repeat must be at least 1".into()));
    }
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
    }
    let mut tally = Tally::default();
    for i in 1..=repeat {
        if repeat > 1 {
            println!("=== {} run {i}/{repeat} ===", scenario.name);
        }
        if bring_up && !keep_history {
            super::clean_slate(&*rt, &|line: &str| eprintln!("{line}")).await?;
        }
        // Pods that are children of this process are taken down at the end of each run
        // (the next one brings them up): leave none behind. Containers stay up so the next
        // run starts in seconds (`faultline down` removes them).
        let down_after = !rt.pods_outlive_faultline();
        let report = report.as_deref().map(|r| numbered_report(r, i, repeat));
        let opts = HeadlessOptions { speed, report, bring_up, down_after };
        let out = headless::run(rt.clone(), scenario.clone(), opts).await?;
        tally.push(out.verdict, out.duration_ms);
        if repeat > 1 {
            println!("{}", tally.line(&scenario.name, repeat));
        }
        if out.verdict != Verdict::Passed {
            break;
        }
    }
    Ok(tally.last.unwrap_or(Verdict::NotEvaluated))
}

/// The report file of run `i` of `n`: `r.md` itself for one run, `r-3.md` for the third.
pub fn numbered_report(path: &Path, i: u32, n: u32) -> PathBuf {
    if n <= 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{i}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{i}"),
    };
    path.with_file_name(name)
}

/// The verdicts of repeated runs, so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    pub passed: u32,
    pub runs: u32,
    pub last: Option<Verdict>,
    pub durations_ms: Vec<u64>,
}

impl Tally {
    pub fn push(&mut self, v: Verdict, duration_ms: u64) {
        self.runs += 1;
        if v == Verdict::Passed {
            self.passed += 1;
        }
        self.last = Some(v);
        self.durations_ms.push(duration_ms);
    }

    /// `race-lost-task: 3/10 runs, 3 passed (longest 41.2s)`, or `... stopped: run 4 FAILED`.
    pub fn line(&self, name: &str, of: u32) -> String {
        let longest = self.durations_ms.iter().max().map(|ms| format!(" (longest {:.1}s)", *ms as f64 / 1000.0)).unwrap_or_default();
        let mut line = format!("tally {name}: {}/{of} runs, {} passed{longest}", self.runs, self.passed);
        if let Some(v) = self.last.filter(|v| *v != Verdict::Passed) {
            line.push_str(&format!("; stopped: run {} {}", self.runs, v.word()));
        }
        line
    }
}

/// The project a scenario runs on: with the twin's compose profile active when it sets
/// `[setup] twin = true` (the normal demo never starts the twin's pods).
pub fn project_for(project: &Project, scenario: &super::Scenario, ctx: &Context) -> Project {
    match (scenario.twin, ctx.twin()) {
        (true, Some(t)) => project.clone().with_profiles([t.profile.clone()]),
        _ => project.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_runs_number_their_reports_and_tally_until_the_first_failure() {
        assert_eq!(numbered_report(Path::new("out/r.md"), 1, 1), PathBuf::from("out/r.md"));
        assert_eq!(numbered_report(Path::new("out/r.md"), 3, 10), PathBuf::from("out/r-3.md"));
        assert_eq!(numbered_report(Path::new("r"), 2, 2), PathBuf::from("r-2"));
        let mut t = Tally::default();
        t.push(Verdict::Passed, 30_000);
        t.push(Verdict::Passed, 41_200);
        assert_eq!(t.line("race-x", 10), "tally race-x: 2/10 runs, 2 passed (longest 41.2s)");
        t.push(Verdict::Failed, 10_000);
        assert_eq!(t.line("race-x", 10), "tally race-x: 3/10 runs, 2 passed (longest 41.2s); stopped: run 3 FAILED");
        assert_eq!(t.last, Some(Verdict::Failed));
    }
}
