//! Images on a USB stick: `faultline images --save F.tar` writes every image of
//! `x-faultline-images` to one `docker save` archive, and `--load F.tar` loads it on another
//! machine, where `--no-build` then starts on those images without building anything.
//! Both go through the daemon's image archive API (bollard), not the `docker` CLI.

use std::path::Path;

use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::images::missing_images;
use super::{compose, docker::connect_daemon, RuntimeError};

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// Writes every image of the compose file's `x-faultline-images` to `file`. The archive is
/// written beside it first and renamed at the end, so a failed save never leaves a torn file.
pub async fn save_images(compose_path: &Path, file: &Path) -> Result<String, RuntimeError> {
    let topology = compose::load(compose_path)?;
    let docker = connect_daemon().await?;
    let names: Vec<&str> = topology.images.keys().map(String::as_str).collect();
    let missing = missing_images(&docker, topology.images.keys()).await;
    if !missing.is_empty() {
        return Err(RuntimeError::Other(format!("images missing: {}; build them first with `faultline images`", missing.join(", "))));
    }
    let partial = file.with_extension("partial");
    let io = |e: std::io::Error| {
        // Nothing half-written stays behind.
        let _ = std::fs::remove_file(&partial);
        RuntimeError::Other(format!("cannot write {}: {e}; check the directory exists and has room", file.display()))
    };
    let mut out = tokio::fs::File::create(&partial).await.map_err(io)?;
    let mut stream = docker.export_images(&names);
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&partial).await;
                return Err(RuntimeError::Other(format!("the daemon stopped sending the images: {e}")));
            }
        };
        bytes += chunk.len() as u64;
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.sync_all().await.map_err(io)?;
    drop(out);
    tokio::fs::rename(&partial, file).await.map_err(io)?;
    Ok(format!(
        "saved {} images ({}) to {}. On another machine, in a Faultline checkout: \
         `faultline images --load {}`, then `cargo run --release -- --no-build`.",
        names.len(),
        mb(bytes),
        file.display(),
        file.display()
    ))
}

/// Loads the archive `file` (written by [`save_images`]) into the local daemon, then checks
/// that every image of the compose file is there.
pub async fn load_images(compose_path: &Path, file: &Path) -> Result<String, RuntimeError> {
    let topology = compose::load(compose_path)?;
    let archive = tokio::fs::read(file).await.map_err(|e| {
        RuntimeError::Other(format!("cannot read {}: {e}; write one with `faultline images --save {}`", file.display(), file.display()))
    })?;
    let size = archive.len() as u64;
    let docker = connect_daemon().await?;
    let options = bollard::query_parameters::ImportImageOptionsBuilder::new().quiet(true).build();
    let mut stream = docker.import_image(options, bollard::body_full(archive.into()), None);
    let mut loaded = Vec::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| RuntimeError::Other(format!("loading {} failed: {e}; is it an archive written by `faultline images --save`?", file.display())))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(RuntimeError::Other(format!(
                "loading {} failed: {err}; is it an archive written by `faultline images --save`?",
                file.display()
            )));
        }
        if let Some(s) = info.stream {
            let s = s.trim();
            if let Some(name) = s.strip_prefix("Loaded image: ") {
                loaded.push(name.to_string());
            }
        }
    }
    let missing = missing_images(&docker, topology.images.keys()).await;
    if !missing.is_empty() {
        return Err(RuntimeError::Other(format!(
            "images missing after the load: {} (not in {}, which was saved from another topology); build them with `faultline images`",
            missing.join(", "),
            file.display()
        )));
    }
    Ok(format!(
        "loaded {} images ({}) from {}: {}.\nStart on them without building: `cargo run --release -- --no-build` \
         (or FAULTLINE_NO_BUILD=1).",
        loaded.len(),
        mb(size),
        file.display(),
        loaded.join(", ")
    ))
}
