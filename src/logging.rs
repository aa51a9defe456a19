//! Where this process's own logs go: the SDK's warnings (an engine that went away, a stream
//! that reconnects) and Faultline's. The CLI commands write them to stderr; the dashboard owns
//! the terminal, so it writes them to a file and names the file when it exits.
//!
//! `RUST_LOG` picks the levels as usual (default: warnings, and Faultline's own notes).

use std::path::PathBuf;

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "warn,faultline=info";

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
}

/// Logs to stderr (every command but the dashboard).
pub fn to_stderr() {
    let _ = tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).with_target(false).try_init();
}

/// The dashboard's log file: `$FAULTLINE_LOG`, else `$XDG_STATE_HOME/faultline/dashboard.log`,
/// else `~/.local/state/faultline/dashboard.log`, else one in the temp directory.
pub fn dashboard_log_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FAULTLINE_LOG") {
        return PathBuf::from(p);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state.join("faultline").join("dashboard.log")
}

/// Logs to `path` (appending), for the dashboard. Falls back to no logging, with the reason,
/// when the file cannot be opened: the dashboard must open regardless.
pub fn to_file(path: &std::path::Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init()
        .map_err(|e| e.to_string())
}
