//! One controlling Faultline per project at a time.
//!
//! A dashboard, a scenario runner or `faultline down` that controls a project's pods holds
//! an exclusive `flock` on `<lock dir>/<project>.lock` for as long as it runs; the file
//! records who holds it (pid, command line, since when), so a second one refuses with a
//! message naming the holder instead of silently taking over its pods (restarting a worker
//! a scenario had killed, say). The kernel releases the lock when the holder exits, however
//! it exits, so a dead holder never blocks anyone: its stale record is taken over with a
//! notice. `faultline attach` on a held project watches read-only.
//!
//! The lock directory is `$FAULTLINE_LOCK_DIR`, else `$XDG_RUNTIME_DIR/faultline`, else
//! `<tmp>/faultline-<uid>`: per user and per machine, like the Docker socket it guards.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::RuntimeError;

/// Who holds (or last held) a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    /// The holder's command line, e.g. `faultline run scenarios/x.toml`.
    pub command: String,
    /// Unix seconds.
    pub since: u64,
}

impl Holder {
    /// This process.
    pub fn me() -> Holder {
        let mut args = std::env::args();
        let exe = args
            .next()
            .map(|a| std::path::Path::new(&a).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or(a))
            .unwrap_or_else(|| "faultline".into());
        let command = std::iter::once(exe).chain(args).collect::<Vec<_>>().join(" ");
        let since = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Holder { pid: std::process::id(), command, since }
    }

    /// `faultline pid 1234 (faultline run scenarios/x.toml) since 10:32`.
    pub fn describe(&self) -> String {
        let at = chrono::DateTime::<chrono::Local>::from(UNIX_EPOCH + Duration::from_secs(self.since));
        let name = self.command.split_whitespace().next().unwrap_or("faultline");
        format!("{name} pid {} ({}) since {}", self.pid, self.command, at.format("%H:%M"))
    }
}

/// The held lock of a project; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct ProjectLock {
    file: Flock<File>,
    path: PathBuf,
}

impl ProjectLock {
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for ProjectLock {
    fn drop(&mut self) {
        // Clear the record before the lock goes, so nobody reports a stale holder after a
        // clean exit.
        let _ = self.file.set_len(0);
    }
}

/// Where the lock files live.
pub fn lock_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FAULTLINE_LOCK_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        if std::path::Path::new(&d).is_dir() {
            return PathBuf::from(d).join("faultline");
        }
    }
    std::env::temp_dir().join(format!("faultline-{}", nix::unistd::Uid::current()))
}

fn lock_path(project: &str) -> PathBuf {
    lock_dir().join(format!("{project}.lock"))
}

fn open(project: &str) -> Result<(File, PathBuf), RuntimeError> {
    let path = lock_path(project);
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    let io = |what: &str, e: std::io::Error| {
        RuntimeError::Other(format!("cannot {what} {}: {e}; set FAULTLINE_LOCK_DIR to a writable directory", path.display()))
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("create the lock directory of", e))?;
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| io("open", e))?;
    Ok((file, path))
}

fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Takes the project for this process. `Ok((lock, notice))`: the notice tells of a stale
/// record taken over (its holder died without releasing). Fails with
/// [`RuntimeError::ProjectHeld`] naming the live holder.
pub fn acquire(project: &str) -> Result<(ProjectLock, Option<String>), RuntimeError> {
    let (file, path) = open(project)?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let holder = read_holder(&mut file)
                .map(|h| h.describe())
                .unwrap_or_else(|| format!("another faultline process (see {})", path.display()));
            return Err(RuntimeError::ProjectHeld { project: project.into(), holder });
        }
        Err((_, e)) => return Err(RuntimeError::Other(format!("cannot lock {}: {e}", path.display()))),
    };
    let notice = read_holder(&mut file).filter(|h| h.pid != std::process::id()).map(|h| {
        format!("project `{project}`: took over from {}, which exited without releasing it", h.describe())
    });
    let me = serde_json::to_string(&Holder::me()).unwrap_or_default();
    let write = |f: &mut File| -> std::io::Result<()> {
        f.set_len(0)?;
        f.rewind()?;
        f.write_all(me.as_bytes())?;
        f.sync_data()
    };
    write(&mut file).map_err(|e| RuntimeError::Other(format!("cannot write {}: {e}", path.display())))?;
    Ok((ProjectLock { file, path }, notice))
}

/// The live holder of `project`, if any (without taking it).
pub fn holder(project: &str) -> Option<Holder> {
    let (file, _) = open(project).ok()?;
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        // Nobody holds it exclusively: no live holder.
        Ok(_) => None,
        Err((mut file, _)) => read_holder(&mut file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(name: &str) -> String {
        format!("unit-{name}-{}", std::process::id())
    }

    #[test]
    fn a_second_holder_is_refused_with_the_holders_name_and_the_lock_is_released_on_drop() {
        let p = unique("second");
        let (lock, notice) = acquire(&p).expect("first");
        assert_eq!(notice, None);
        let e = acquire(&p).expect_err("second").to_string();
        let pid = std::process::id().to_string();
        assert!(e.contains(&format!("project `{p}` is held by")) && e.contains(&format!("pid {pid}")), "{e}");
        assert!(e.contains("--project NAME") && e.contains("faultline attach"), "{e}");
        assert_eq!(holder(&p).map(|h| h.pid), Some(std::process::id()));
        let path = lock.path().to_path_buf();
        drop(lock);
        assert_eq!(holder(&p), None);
        let (again, notice) = acquire(&p).expect("free again");
        assert_eq!(notice, None, "a clean release leaves no stale record");
        drop(again);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn a_dead_holders_record_is_taken_over_with_a_notice() {
        let p = unique("stale");
        let (file, path) = open(&p).unwrap();
        // What a holder killed with SIGKILL leaves behind: its record, no lock.
        let dead = Holder { pid: 999_999, command: "faultline run scenarios/x.toml".into(), since: 0 };
        std::fs::write(&path, serde_json::to_string(&dead).unwrap()).unwrap();
        drop(file);
        let (lock, notice) = acquire(&p).expect("a dead holder does not block");
        let notice = notice.expect("a notice");
        assert!(notice.contains("took over") && notice.contains("pid 999999"), "{notice}");
        drop(lock);
        let _ = std::fs::remove_file(path);
    }
}
