//! One engine per database: an exclusive `flock` on `<db>.lock`, held for the writer's life.
//!
//! Two engines on one file each keep their own cache of run states, and their writes collide
//! (`UNIQUE constraint failed`) or, worse, overwrite each other. SQLite's own exclusive
//! locking mode would also lock out the engine's read connections, so the lock is a file of
//! its own. The holder writes its pid into it, so the refused engine can name it. `flock` is
//! released by the kernel when the process dies, so a `kill -9` leaves no stale lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::EngineError;

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct DbLock {
    _lock: Flock<File>,
    pub path: PathBuf,
}

/// The lock file of a database.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Takes the lock of `db`, or says which engine holds it.
pub fn acquire(db: &Path) -> Result<DbLock, EngineError> {
    let path = lock_path(db);
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(|e| {
        EngineError::Startup(format!(
            "cannot open the lock file {}: {e}; the directory of --db must be writable by this user",
            path.display()
        ))
    })?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, errno)) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            let holder = if pid.is_empty() { "unknown".to_string() } else { pid.to_string() };
            return Err(EngineError::Startup(format!(
                "another faultline-engine (pid {holder}) holds DB {} (lock {}: {errno}); stop that engine first, or give this one another --db",
                db.display(),
                path.display()
            )));
        }
    };
    // Best effort: the pid only helps the message of a refused engine.
    let _ = lock.set_len(0).and_then(|_| lock.rewind()).and_then(|_| writeln!(*lock, "{}", std::process::id()));
    Ok(DbLock { _lock: lock, path })
}
