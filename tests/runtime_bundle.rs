//! `faultline images --save` and `--load` against the real daemon: the images of a compose
//! file go into one archive and come back from it with the same ids and labels. The test
//! makes images of its own (`fltest-bundle/*`, from a compose file of its own), so the demo's
//! images are never touched; `.ci/run` removes any `fltest-*` image a crash left behind.

mod runtime_support;

use bollard::query_parameters::RemoveImageOptionsBuilder;
use faultline::runtime::bundle::{load_images, save_images};
use faultline::runtime::docker::connect_daemon;
use faultline::runtime::images::{build_one, HASH_LABEL};
use runtime_support::*;

const COMPOSE: &str = r#"
services:
  app:
    image: fltest-bundle/app:v1
networks:
  default: {}
x-faultline-images:
  fltest-bundle/app:v1: app
  fltest-bundle/app:v2: app
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_images_load_back_with_their_ids_and_labels() {
    let docker = match connect_daemon().await {
        Ok(d) => d,
        Err(e) if skip_without_docker(&e, "saved_images_load_back_with_their_ids_and_labels") => return,
        Err(e) => panic!("cannot connect to Docker: {e}"),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let compose = dir.path().join("docker-compose.yml");
    std::fs::write(&compose, COMPOSE).expect("write the compose file");
    let archive = dir.path().join("images.tar");
    let print = |l: &str| eprintln!("{l}");
    let images = ["fltest-bundle/app:v1", "fltest-bundle/app:v2"];
    let remove = || async {
        for image in images {
            let _ = docker.remove_image(image, Some(RemoveImageOptionsBuilder::new().force(true).build()), None).await;
        }
    };
    remove().await;

    // Saving needs every image: a missing one is named, and nothing is written.
    let err = save_images(&compose, &archive).await.expect_err("nothing to save yet");
    assert!(err.to_string().contains("fltest-bundle/app:v1") && err.to_string().contains("faultline images"), "{err}");
    assert!(!archive.exists());

    for (i, image) in images.iter().enumerate() {
        let content = format!("not a real binary, generation {i}").into_bytes();
        build_one(&docker, image, "app", &format!("hash-{i}"), content, &print).await.expect("make the image");
    }
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for image in images {
            ids.push(docker.inspect_image(image).await.expect("made").id.expect("an id"));
        }
        ids
    };
    let said = save_images(&compose, &archive).await.expect("save");
    assert!(said.contains("saved 2 images") && said.contains("--load"), "{said}");
    assert!(std::fs::metadata(&archive).expect("the archive").len() > 0);

    // On "another machine": the images are gone, the archive brings them back as they were.
    remove().await;
    let said = load_images(&compose, &archive).await.expect("load");
    assert!(said.contains("fltest-bundle/app:v1") && said.contains("--no-build"), "{said}");
    for (i, image) in images.iter().enumerate() {
        let back = docker.inspect_image(image).await.expect("loaded");
        assert_eq!(back.id.as_deref(), Some(ids[i].as_str()), "{image} keeps its id");
        let labels = back.config.and_then(|c| c.labels).unwrap_or_default();
        assert_eq!(labels.get(HASH_LABEL).map(String::as_str), Some(format!("hash-{i}").as_str()), "{image} keeps its labels");
    }

    // A file that is not an image archive is refused with what to do.
    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar").expect("write");
    let err = load_images(&compose, &junk).await.expect_err("junk is refused");
    assert!(err.to_string().contains("junk.tar") && err.to_string().contains("faultline images --save"), "{err}");
    remove().await;
}
