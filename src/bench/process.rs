//! The engine under test as a separate process: finding (or building) the real
//! `faultline-engine` binary, starting it on a database, SIGKILLing and restarting it on the
//! same database, and tracking its peak resident memory (`VmHWM`) across restarts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use faultline_sdk::Client;
use tokio::process::{Child, Command};

use super::BenchError;

pub const ENGINE_BIN: &str = "faultline-engine";

/// Where the engine binary comes from, in order: `explicit` (flag or `FAULTLINE_ENGINE_BIN`);
/// `cargo build --release -p faultline-engine` when cargo and the workspace (`workspace`, or
/// the current directory or one of its parents) are at hand and `build` is set; the directory
/// of the running executable (or its parent, for test executables in `deps/`).
pub fn locate_engine(explicit: Option<&Path>, workspace: Option<&Path>, build: bool) -> Result<PathBuf, BenchError> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(BenchError::EngineBinary(format!("{} does not exist; pass the path of a built faultline-engine", p.display())))
        };
    }
    let root = workspace.map(Path::to_path_buf).or_else(find_workspace);
    if build {
        if let Some(root) = root.filter(|r| r.join("engine/Cargo.toml").is_file()) {
            if let Some(bin) = cargo_build(&root)? {
                return Ok(bin);
            }
        }
    }
    let exe = std::env::current_exe().map_err(|e| BenchError::EngineBinary(format!("cannot find the running executable: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    for cand in [dir.join(ENGINE_BIN), dir.join("..").join(ENGINE_BIN)] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(BenchError::EngineBinary(format!(
        "{ENGINE_BIN} is not next to {} and could not be built; run `cargo build --release -p faultline-engine` \
         in the Faultline checkout or pass --engine-bin",
        exe.display()
    )))
}

fn find_workspace() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if dir.join("Cargo.toml").is_file() && dir.join("engine/Cargo.toml").is_file() {
            return Some(dir);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Builds the engine; `Ok(None)` when cargo is not installed. cargo's JSON messages name the
/// exact executable, whatever the target directory and target triple.
fn cargo_build(root: &Path) -> Result<Option<PathBuf>, BenchError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = match std::process::Command::new(&cargo)
        .args(["build", "--release", "-p", "faultline-engine", "--bin", ENGINE_BIN, "--message-format=json-render-diagnostics"])
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BenchError::EngineBinary(format!("could not run {cargo}: {e}"))),
    };
    if !out.status.success() {
        return Err(BenchError::EngineBinary(format!(
            "`cargo build --release -p faultline-engine` failed in {} (see the messages above); fix the build and rerun",
            root.display()
        )));
    }
    Ok(executable_from_cargo_messages(&String::from_utf8_lossy(&out.stdout)))
}

/// The engine's executable path from cargo's `--message-format=json` output.
pub fn executable_from_cargo_messages(stdout: &str) -> Option<PathBuf> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == ENGINE_BIN)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

/// Peak resident set (`VmHWM`) in kB from the text of `/proc/<pid>/status`.
pub fn parse_vm_hwm_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A running engine. Killed on drop.
pub struct EngineProcess {
    bin: PathBuf,
    db: PathBuf,
    log: PathBuf,
    pub port: u16,
    /// Extra command-line arguments (the twin's `--mode dual-write ...`), kept for restarts.
    args: Vec<String>,
    child: Child,
    /// Largest VmHWM seen over every incarnation, in kB.
    peak_kb: u64,
    pub kills: u64,
}

impl EngineProcess {
    /// Starts the engine and waits until `/healthz` answers.
    pub async fn start(bin: &Path, db: &Path, log: &Path, port: u16) -> Result<Self, BenchError> {
        Self::start_with(bin, db, log, port, &[]).await
    }

    /// Starts the engine with extra arguments (kept for every restart).
    pub async fn start_with(bin: &Path, db: &Path, log: &Path, port: u16, args: &[String]) -> Result<Self, BenchError> {
        let child = spawn(bin, db, log, port, args)?;
        let args = args.to_vec();
        let mut p = EngineProcess { bin: bin.into(), db: db.into(), log: log.into(), port, args, child, peak_kb: 0, kills: 0 };
        p.wait_healthy().await?;
        Ok(p)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Reads the current incarnation's VmHWM and keeps the maximum.
    pub fn sample_rss(&mut self) {
        let Some(pid) = self.child.id() else { return };
        if let Some(kb) = std::fs::read_to_string(format!("/proc/{pid}/status")).ok().as_deref().and_then(parse_vm_hwm_kb) {
            self.peak_kb = self.peak_kb.max(kb);
        }
    }

    pub fn peak_rss_mb(&self) -> f64 {
        self.peak_kb as f64 / 1024.0
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, then a fresh process on the same database and port.
    pub async fn kill_and_restart(&mut self) -> Result<(), BenchError> {
        self.sample_rss();
        self.kill().await;
        self.kills += 1;
        self.child = spawn(&self.bin, &self.db, &self.log, self.port, &self.args)?;
        self.wait_healthy().await
    }

    /// SIGKILL and reap.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    async fn wait_healthy(&mut self) -> Result<(), BenchError> {
        let client = Client::new(self.url()).map_err(|e| BenchError::EngineStart(e.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BenchError::EngineStart(format!(
                    "{} exited with {status} right after starting; see its log {}",
                    self.bin.display(),
                    self.log.display()
                )));
            }
            if client.health().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BenchError::EngineStart(format!(
                    "the engine on port {} did not answer /healthz within 30 s; see its log {}",
                    self.port,
                    self.log.display()
                )));
            }
            // Polling a condition with a deadline (the process gives no readiness signal).
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn spawn(bin: &Path, db: &Path, log: &Path, port: u16, args: &[String]) -> Result<Child, BenchError> {
    let open_log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| BenchError::EngineStart(format!("cannot open the engine log {}: {e}", log.display())))
    };
    Command::new(bin)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::null())
        .stdout(open_log()?)
        .stderr(open_log()?)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| BenchError::EngineStart(format!("cannot start {}: {e}", bin.display())))
}

/// A free port on 127.0.0.1 (bound, then released for the engine to bind).
pub fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| BenchError::EngineStart(format!("no free port on 127.0.0.1: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_parsed_in_kb() {
        let s = "Name:\tfaultline-engine\nVmPeak:\t  100 kB\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(parse_vm_hwm_kb(s), Some(23456));
        assert_eq!(parse_vm_hwm_kb("Name: x\n"), None);
    }

    #[test]
    fn executable_is_taken_from_cargo_messages() {
        let out = r#"{"reason":"compiler-artifact","target":{"name":"faultline-proto"},"executable":null}
{"reason":"compiler-artifact","target":{"name":"faultline-engine"},"executable":"/t/release/faultline-engine"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executable_from_cargo_messages(out), Some(PathBuf::from("/t/release/faultline-engine")));
        assert_eq!(executable_from_cargo_messages("garbage"), None);
    }
}
