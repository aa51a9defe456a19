//! Builds the workspace binaries and packs each into a `FROM scratch` image.
//!
//! Layout:
//! - [`locate_binaries`]: runs `cargo build --release --workspace --bin <name>...` for the
//!   binaries asked for when cargo and the workspace are at hand (cargo's JSON messages give
//!   the exact executable paths), otherwise looks next to the running `faultline` executable
//!   (an installed release). Always `--workspace`, whatever the subset: cargo then resolves
//!   the same features for every build, so building one pod's binaries never recompiles a
//!   dependency with other features (which would cost minutes and evict nothing useful).
//! - [`build_images`]: one image per `x-faultline-images` entry asked for, the equivalent of
//!   [`DOCKERFILE`] made in one step: the daemon imports an in-memory root filesystem (the
//!   binary at `/app`, an empty `/data` owned by the pod's user) with the user, entrypoint and
//!   labels as changes (`docker import --change`). No registry is ever contacted and no
//!   build container runs: about 0.1 s an image where the classic builder took 3 to 6 (a
//!   container and a commit per Dockerfile step). Each image carries a content-hash label
//!   (recipe + binary) so an up-to-date image is skipped in milliseconds. The binary's DWARF
//!   sections are dropped on the way in (the host keeps them for debugging): the release
//!   profile's line tables would otherwise make each image about 45 MB instead of 8.
//! - [`ensure_images`]: the two together, printing progress to stderr (CLI and tests).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::{compose, RuntimeError, MANAGED_LABEL};

/// Set to `1` (or `true`, `yes`, `on`) to use the images as they are, with no cargo build at
/// start (`--no-build`, e.g. after `faultline images --load`).
pub const NO_BUILD_ENV: &str = "FAULTLINE_NO_BUILD";

/// Whether [`NO_BUILD_ENV`] asks to use the images (and binaries) as they are: `1`, `true`,
/// `yes` or `on`, as the command line's `--no-build` reads it.
pub fn no_build() -> bool {
    std::env::var(NO_BUILD_ENV).is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on" | "y" | "t"))
}

/// Label holding the sha256 of the Dockerfile and the binary an image was built from.
pub const HASH_LABEL: &str = "dev.faultline.content-hash";
/// Label naming the workspace binary inside an image.
pub const BINARY_LABEL: &str = "dev.faultline.binary";
/// Largest image Faultline accepts: a presenter's laptop and a projector demo, not a registry.
pub const MAX_IMAGE_BYTES: i64 = 30 * 1024 * 1024;

/// What every image is, as a Dockerfile (the images are made by [`build_one`] in one import,
/// to the same result). `/data` is created owned by 10001 so that a fresh named volume
/// mounted there inherits that owner and the non-root process can write to it.
pub const DOCKERFILE: &str = "FROM scratch\n\
COPY app /app\n\
COPY --chown=10001:10001 data /data\n\
USER 10001:10001\n\
ENTRYPOINT [\"/app\"]\n";

/// Receives one human-readable progress line at a time.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOutcome {
    Built,
    UpToDate,
}

#[derive(Debug, Clone)]
pub struct ImageReport {
    pub image: String,
    pub binary: String,
    /// The executable the image was (or would be) built from.
    pub binary_path: PathBuf,
    pub size_bytes: i64,
    pub outcome: ImageOutcome,
}

/// Builds (if needed) the binaries and the images of the compose file at `compose_path`,
/// printing progress to stderr. This is what `faultline images` and the tests call.
pub async fn ensure_images(compose_path: &Path, force: bool) -> Result<Vec<ImageReport>, RuntimeError> {
    let topology = compose::load(compose_path)?;
    let workspace = workspace_dir(compose_path);
    let print = |line: &str| eprintln!("{line}");
    let binaries = locate_binaries_async(workspace, topology.binaries(), true, &print).await?;
    let docker = super::docker::connect_daemon().await?;
    build_images(&docker, &topology.images, &binaries, force, &print).await
}

/// A table of the images for the terminal: name, size, built or up to date.
pub fn summary(reports: &[ImageReport]) -> String {
    let width = reports.iter().map(|r| r.image.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in reports {
        let what = match r.outcome {
            ImageOutcome::Built => "built",
            ImageOutcome::UpToDate => "up to date",
        };
        out.push_str(&format!("{:<width$}  {:>6} MB  {what}\n", r.image, mb(r.size_bytes)));
    }
    out.push_str(&format!(
        "{} images ready. Run the dashboard with `faultline`, or the bare topology with \
         `docker compose -p faultline up -d`.",
        reports.len()
    ));
    out
}

/// The directory holding the compose file (the workspace root in a checkout).
pub fn workspace_dir(compose_path: &Path) -> PathBuf {
    // A symlinked compose file belongs to the checkout it points into.
    let resolved = std::fs::canonicalize(compose_path).unwrap_or_else(|_| compose_path.to_path_buf());
    match resolved.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// [`locate_binaries`] off the async threads.
pub async fn locate_binaries_async(
    workspace: PathBuf,
    names: BTreeSet<String>,
    build: bool,
    progress: Progress<'_>,
) -> Result<BTreeMap<String, PathBuf>, RuntimeError> {
    // cargo's output is forwarded through a channel so `progress` need not be 'static.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let job = tokio::task::spawn_blocking(move || {
        locate_binaries(&workspace, &names, build, &|l: &str| {
            let _ = tx.send(l.to_string());
        })
    });
    while let Some(line) = rx.recv().await {
        progress(&line);
    }
    job.await.map_err(|e| RuntimeError::Other(format!("the build task failed: {e}")))?
}

/// Returns binary name -> executable path for each of `names`; without `build` (`--no-build`)
/// cargo is not run and the binaries are taken as they are, where a release keeps them.
pub fn locate_binaries(
    workspace: &Path,
    names: &BTreeSet<String>,
    build: bool,
    progress: Progress<'_>,
) -> Result<BTreeMap<String, PathBuf>, RuntimeError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_cargo = Command::new(&cargo)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if build && has_cargo && workspace.join("Cargo.toml").is_file() {
        let built = cargo_build(&cargo, workspace, names, progress)?;
        return names
            .iter()
            .map(|n| match built.get(n) {
                Some(p) => Ok((n.clone(), p.clone())),
                None => Err(RuntimeError::Other(format!(
                    "cargo built no binary named `{n}` (named in x-faultline-images); \
                     check the [[bin]] names of the workspace crates"
                ))),
            })
            .collect();
    }
    // An installed release: the service binaries ship next to `faultline`.
    let exe = std::env::current_exe()
        .map_err(|e| RuntimeError::Other(format!("cannot find the faultline executable: {e}")))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    // Test executables live in `<profile>/deps/`, the binaries one level up.
    let dirs = [dir.to_path_buf(), dir.parent().unwrap_or(dir).to_path_buf()];
    names
        .iter()
        .map(|n| {
            let found = dirs.iter().map(|d| d.join(n)).find(|p| p.is_file());
            if let Some(p) = found {
                Ok((n.clone(), p))
            } else {
                Err(RuntimeError::Other(format!(
                    "binary `{n}` is not next to {} and cargo is not available to build it; \
                     run from the Faultline checkout with cargo installed",
                    exe.display()
                )))
            }
        })
        .collect()
}

/// `cargo build --release --workspace --bin <name>...`, streaming cargo's progress lines and
/// reading the executable paths from its JSON messages.
fn cargo_build(
    cargo: &str,
    workspace: &Path,
    names: &BTreeSet<String>,
    progress: Progress<'_>,
) -> Result<BTreeMap<String, PathBuf>, RuntimeError> {
    let args = cargo_args(names);
    progress(&format!("building {}: cargo {}", names.iter().cloned().collect::<Vec<_>>().join(", "), args.join(" ")));
    let mut child = Command::new(cargo)
        .args(&args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| RuntimeError::Other(format!("cannot run cargo: {e}")))?;
    let stderr = child.stderr.take();
    // stderr (human progress and diagnostics) is drained on its own thread so neither pipe
    // can fill up and block cargo.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let drain = std::thread::spawn(move || {
        if let Some(err) = stderr {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        }
    });
    let mut built = BTreeMap::new();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            while let Ok(l) = rx.try_recv() {
                progress(&format!("  {}", l.trim_end()));
            }
            if let Some((name, path)) = executable_of(&line) {
                built.insert(name, path);
            }
        }
    }
    let _ = drain.join();
    let mut tail = Vec::new();
    for l in rx.try_iter() {
        progress(&format!("  {}", l.trim_end()));
        tail.push(l);
    }
    let status = child
        .wait()
        .map_err(|e| RuntimeError::Other(format!("cargo did not finish: {e}")))?;
    if !status.success() {
        return Err(RuntimeError::Other(format!(
            "cargo build failed ({status}); fix the build errors above and run again{}",
            tail.last().map(|l| format!(" (last line: {l})")).unwrap_or_default()
        )));
    }
    Ok(built)
}

/// The arguments of the cargo build of `names`: `--workspace` so that every subset resolves
/// the workspace's one feature set (see the module docs).
pub fn cargo_args(names: &BTreeSet<String>) -> Vec<String> {
    let mut args: Vec<String> = ["build", "--release", "--workspace"].map(String::from).into();
    for n in names {
        args.push("--bin".into());
        args.push(n.clone());
    }
    args
}

/// (binary name, executable path) from one cargo JSON message, for binary targets.
fn executable_of(line: &str) -> Option<(String, PathBuf)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v.get("reason")?.as_str()? != "compiler-artifact" {
        return None;
    }
    let target = v.get("target")?;
    let is_bin = target.get("kind")?.as_array()?.iter().any(|k| k.as_str() == Some("bin"));
    let exe = v.get("executable")?.as_str()?;
    if !is_bin {
        return None;
    }
    Some((target.get("name")?.as_str()?.to_string(), PathBuf::from(exe)))
}

/// Which of `images` the daemon does not have, in order.
pub async fn missing_images<'a>(docker: &bollard::Docker, images: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    let mut missing = Vec::new();
    for image in images {
        if docker.inspect_image(image).await.is_err() {
            missing.push(image.as_str());
        }
    }
    missing
}

/// Builds each of `images` (image -> binary, entries of `x-faultline-images`) that is
/// missing or out of date.
pub async fn build_images(
    docker: &bollard::Docker,
    images: &BTreeMap<String, String>,
    binaries: &BTreeMap<String, PathBuf>,
    force: bool,
    progress: Progress<'_>,
) -> Result<Vec<ImageReport>, RuntimeError> {
    let mut reports = Vec::new();
    for (image, binary) in images {
        let path = binaries.get(binary).ok_or_else(|| {
            RuntimeError::Other(format!("no executable for binary `{binary}` of image {image}"))
        })?;
        let bin = tokio::fs::read(path).await.map_err(|e| {
            RuntimeError::Other(format!("cannot read {}: {e}; rebuild with cargo", path.display()))
        })?;
        let hash = content_hash(&bin);
        let existing = docker.inspect_image(image).await.ok();
        let current = existing
            .as_ref()
            .and_then(|i| i.config.as_ref())
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(HASH_LABEL))
            .cloned();
        let outcome = if !force && current.as_deref() == Some(hash.as_str()) {
            progress(&format!("{image}: up to date"));
            ImageOutcome::UpToDate
        } else {
            progress(&format!("{image}: building from {} ({} MB)", path.display(), mb(bin.len() as i64)));
            build_one(docker, image, binary, &hash, bin, progress).await?;
            ImageOutcome::Built
        };
        let size = docker
            .inspect_image(image)
            .await
            .map_err(|e| RuntimeError::Other(format!("image {image} vanished after its build: {e}")))?
            .size
            .unwrap_or(0);
        if size > MAX_IMAGE_BYTES {
            return Err(RuntimeError::Other(format!(
                "image {image} is {} MB, over the {} MB limit; strip the binary `{binary}` \
                 or trim its dependencies",
                mb(size),
                mb(MAX_IMAGE_BYTES)
            )));
        }
        progress(&format!("{image}: {} MB", mb(size)));
        reports.push(ImageReport {
            image: image.clone(),
            binary: binary.clone(),
            binary_path: path.clone(),
            size_bytes: size,
            outcome,
        });
    }
    Ok(reports)
}

fn mb(bytes: i64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// sha256 of the Dockerfile and the binary, as hex.
pub fn content_hash(binary: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(DOCKERFILE.as_bytes());
    // The packing recipe: bump when what goes into the image changes.
    h.update(b"strip-debug-v1 import-v2");
    h.update(binary);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The binary without its `.debug_*` sections (symbols stay, so panics still name
/// functions). A file that is not ELF is returned as is.
pub fn strip_debug(binary: &[u8]) -> Result<Vec<u8>, String> {
    let mut elf = match object::build::elf::Builder::read(binary) {
        Ok(b) => b,
        Err(_) => return Ok(binary.to_vec()),
    };
    for section in elf.sections.iter_mut() {
        if section.name.as_slice().starts_with(b".debug_") {
            section.delete = true;
        }
    }
    let mut out = Vec::with_capacity(binary.len() / 4);
    elf.write(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The user every image runs as (and owner of `/data`).
const IMAGE_UID: u64 = 10001;

/// The image's root filesystem: the binary as `/app` (root-owned, 0755) and an empty
/// `/data/` owned by [`IMAGE_UID`], as a tar.
pub fn root_filesystem(binary: &[u8]) -> Result<Vec<u8>, std::io::Error> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut app = tar::Header::new_gnu();
    app.set_size(binary.len() as u64);
    app.set_mode(0o755);
    app.set_uid(0);
    app.set_gid(0);
    app.set_mtime(0);
    app.set_cksum();
    tar.append_data(&mut app, "app", binary)?;
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o755);
    dir.set_uid(IMAGE_UID);
    dir.set_gid(IMAGE_UID);
    dir.set_mtime(0);
    dir.set_cksum();
    tar.append_data(&mut dir, "data/", std::io::empty())?;
    tar.into_inner()
}

/// The `docker import --change` lines that give the root filesystem [`DOCKERFILE`]'s user
/// and entrypoint, and the labels.
fn import_changes(labels: &[(&str, &str)]) -> Vec<String> {
    let mut changes = vec![format!("USER {IMAGE_UID}:{IMAGE_UID}"), r#"ENTRYPOINT ["/app"]"#.to_string()];
    changes.extend(labels.iter().map(|(k, v)| format!("LABEL {k}={v}")));
    changes
}

/// Makes one `FROM scratch` image `image` (a `repo:tag`) from the executable bytes `bin`,
/// labelled with `hash` (see [`content_hash`]) and the binary's name. `build_images` calls
/// this for each out-of-date image; tests use it to make an image of their own.
pub async fn build_one(
    docker: &bollard::Docker,
    image: &str,
    binary: &str,
    hash: &str,
    bin: Vec<u8>,
    progress: Progress<'_>,
) -> Result<(), RuntimeError> {
    let stripped = strip_debug(&bin)
        .map_err(|e| RuntimeError::Other(format!("cannot strip the binary `{binary}`: {e}")))?;
    let rootfs = root_filesystem(&stripped)
        .map_err(|e| RuntimeError::Other(format!("cannot pack the root filesystem of {image}: {e}")))?;
    let (repo, tag) = super::split_image(image);
    let changes = import_changes(&[(MANAGED_LABEL, "true"), (HASH_LABEL, hash), (BINARY_LABEL, binary)]);
    let options = bollard::query_parameters::CreateImageOptionsBuilder::new()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(changes)
        .build();
    let mut stream = docker.create_image(Some(options), Some(bollard::body_full(rootfs.into())), None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| RuntimeError::Other(format!("making {image} failed: {e}")))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(RuntimeError::Other(format!("making {image} failed: {err}")));
        }
    }
    progress(&format!("  {image}: imported"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_filesystem_is_the_app_and_a_data_dir_the_pod_user_owns() {
        let ctx = root_filesystem(b"\x7fELF fake").unwrap();
        let mut archive = tar::Archive::new(ctx.as_slice());
        let mut entries = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            entries.push((e.path().unwrap().display().to_string(), h.mode().unwrap(), h.uid().unwrap()));
        }
        assert_eq!(entries, vec![("app".into(), 0o755, 0), ("data/".into(), 0o755, IMAGE_UID)]);
    }

    #[test]
    fn the_import_gives_the_dockerfiles_user_and_entrypoint_and_the_labels() {
        let changes = import_changes(&[("dev.faultline.binary", "payment")]);
        assert_eq!(changes, ["USER 10001:10001", r#"ENTRYPOINT ["/app"]"#, "LABEL dev.faultline.binary=payment"]);
        assert!(DOCKERFILE.contains("USER 10001:10001") && DOCKERFILE.contains(r#"ENTRYPOINT ["/app"]"#));
    }

    #[test]
    fn strip_keeps_non_elf_and_shrinks_elf() {
        assert_eq!(strip_debug(b"not elf").unwrap(), b"not elf".to_vec());
        // This very test binary is ELF, built with line tables.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let stripped = strip_debug(&me).unwrap();
        assert!(stripped.len() < me.len(), "{} -> {}", me.len(), stripped.len());
        assert_eq!(&stripped[..4], b"\x7fELF");
    }

    #[test]
    fn hash_changes_with_the_binary() {
        assert_eq!(content_hash(b"a"), content_hash(b"a"));
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
        assert_eq!(content_hash(b"a").len(), 64);
    }

    #[test]
    fn executables_come_from_bin_artifacts_only() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"payment"},"executable":"/t/payment"}"#;
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"x"},"executable":null}"#;
        assert_eq!(executable_of(bin), Some(("payment".into(), PathBuf::from("/t/payment"))));
        assert_eq!(executable_of(lib), None);
        assert_eq!(executable_of("not json"), None);
    }
}
