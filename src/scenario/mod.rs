//! Scenarios: scripted chaos runs with expectations, run headless or from the dashboard.
//!
//! The file format (TOML) is documented in `scenarios/README.md`.
//!
//! Layout:
//! - `format`: the file as written (serde structs that keep spans).
//! - `validate`: raw file -> [`Scenario`], or diagnostics with file:line:col; simulates pod
//!   states through the steps to reject impossible ones.
//! - `context`: the pods and versions of the topology the validator checks against.
//! - `model`: the validated scenario (steps, actions, conditions, expectations).
//! - `workload`: deterministic orders from the seed.
//! - `runner`: the one runner the headless CLI and the dashboard share (events out, commands in);
//!   it reads the engine's stream through [`crate::projection`], like the dashboard.
//! - `ledger`: the "charged exactly once" audit over the services' ledgers.
//! - `report`: the report of a run, as JSON or Markdown.
//! - `headless`: `faultline run --headless`, progress lines and the report file.
//! - `cli`: the glue `main` calls for `validate` and `run --headless`.
//! - `expect`: evaluating expectations (live while settling, and final).

pub mod cli;
pub mod context;
pub mod error;
pub mod expect;
pub mod format;
pub mod headless;
pub mod ledger;
pub mod model;
pub mod report;
pub mod runner;
pub mod validate;
pub mod workload;

use std::path::{Path, PathBuf};

pub use context::Context;
pub use error::{Diagnostic, Invalid, ScenarioError};
pub use model::*;

/// Reads and validates one scenario file.
/// A clean slate for a run: takes the project's pods down with their volumes (the engine's
/// database, the services' ledgers, or the local runtime's data directories), so the run
/// starts on a fresh engine and shows only its own workflows. `--keep-history` skips it.
/// The runner's setup then brings the topology up again.
pub async fn clean_slate(rt: &dyn crate::runtime::PodRuntime, say: &dyn Fn(&str)) -> Result<(), ScenarioError> {
    say("Starting on a fresh engine database (--keep-history keeps the earlier runs)…");
    rt.down(true).await.map_err(|e| ScenarioError::Runtime(format!("cannot clear the earlier runs for a clean slate: {e}; try `faultline down --volumes`, or run with --keep-history")))
}

pub fn load(path: &Path, ctx: &Context) -> Result<Scenario, Invalid> {
    let text = std::fs::read_to_string(path).map_err(|e| Invalid {
        diagnostics: vec![Diagnostic::file(path, format!("cannot read the scenario file: {e}"))],
    })?;
    validate::validate_text(path, &text, ctx).map_err(|diagnostics| Invalid { diagnostics })
}

/// Validates every file; on failure returns the diagnostics of all of them.
/// This is `faultline validate [PATH...]`.
pub fn validate_files(paths: &[PathBuf], ctx: &Context) -> Result<Vec<Scenario>, Invalid> {
    let mut ok = Vec::new();
    let mut diagnostics = Vec::new();
    for p in paths {
        match load(p, ctx) {
            Ok(s) => ok.push(s),
            Err(e) => diagnostics.extend(e.diagnostics),
        }
    }
    if diagnostics.is_empty() {
        Ok(ok)
    } else {
        Err(Invalid { diagnostics })
    }
}

/// The `*.toml` files of a directory, sorted (the default of `faultline validate`).
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let err = |e: std::io::Error| ScenarioError::Directory { path: dir.to_path_buf(), message: e.to_string() };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let p = entry.map_err(err)?.path();
        if p.extension().is_some_and(|e| e == "toml") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}
