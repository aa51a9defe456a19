//! The workspace's release binaries, for tests that run the real programs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The workspace root (this crate lives at `engine/testkit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Where cargo puts release binaries for this workspace's build target.
pub fn release_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace_root().join("target"));
    let cross = target.join("x86_64-unknown-linux-gnu/release");
    if cross.exists() {
        cross
    } else {
        target.join("release")
    }
}

/// The release binary `name` of package `package`, built once per test process (cargo
/// releases its lock before running tests), unless the environment variable `env_override`
/// names a binary to use as is (e.g. `FAULTLINE_ENGINE_BIN`).
pub fn release_binary(package: &str, name: &str, env_override: Option<&str>) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    if let Some(bin) = env_override.and_then(|v| std::env::var(v).ok()) {
        return PathBuf::from(bin);
    }
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", package, "--bin", name])
        .current_dir(workspace_root())
        .status()
        .unwrap_or_else(|e| panic!("cargo could not be run to build {name}: {e}"));
    assert!(status.success(), "building {name} failed");
    let bin = release_dir().join(name);
    assert!(bin.exists(), "{name} not found at {}", bin.display());
    built.push((name.to_string(), bin.clone()));
    bin
}

/// Builds every binary of `packages` (once per test process and package set) and returns the
/// directory they are in.
pub fn build_packages(packages: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    let key = packages.join(",");
    let built = BUILT.get_or_init(Mutex::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if !built.contains(&key) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--release", "--bins"]).current_dir(workspace_root());
        for p in packages {
            cmd.args(["-p", p]);
        }
        let status = cmd.status().unwrap_or_else(|e| panic!("cargo could not be run to build {key}: {e}"));
        assert!(status.success(), "building {key} failed");
        built.push(key);
    }
    release_dir()
}

/// The engine binary (`FAULTLINE_ENGINE_BIN` overrides).
pub fn engine_binary() -> PathBuf {
    release_binary("faultline-engine", "faultline-engine", Some("FAULTLINE_ENGINE_BIN"))
}
