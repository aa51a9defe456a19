//! The workshop loop timed: [`timed_rebuild`] runs [`PodRuntime::rebuild`] exactly as the
//! dashboard's `R` does and reports when each stage began and how long it took. It backs
//! `faultline rebuild POD` and `scripts/workshop-loop.sh`, which measures the loop end to end
//! after a one-line fix to payment.

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::{PodRuntime, Progress, RebuildStage, RuntimeError};

/// How long one rebuild took, stage by stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebuildTimings {
    pub pod: String,
    /// From the call (the key press) to the new pod serving.
    pub total_ms: u64,
    /// Each stage the runtime went through, with its duration.
    pub stages: Vec<StageTiming>,
    /// The runtime's one-line summary.
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageTiming {
    pub stage: RebuildStage,
    pub ms: u64,
}

impl RebuildTimings {
    /// `payment: 23.4s (compile 12.1s · image 6.0s · redeploy 2.9s · serving 2.4s)`.
    pub fn line(&self) -> String {
        let parts: Vec<String> = self.stages.iter().map(|s| format!("{} {:.1}s", s.stage.word(), s.ms as f64 / 1000.0)).collect();
        format!("{}: {:.1}s ({})", self.pod, self.total_ms as f64 / 1000.0, parts.join(" · "))
    }
}

/// Rebuilds and redeploys `pod`, timing each stage; `on_stage` hears each as it begins.
pub async fn timed_rebuild(
    rt: &dyn PodRuntime,
    pod: &str,
    progress: Progress<'_>,
    on_stage: &(dyn Fn(RebuildStage) + Send + Sync),
) -> Result<RebuildTimings, RuntimeError> {
    let start = Instant::now();
    let begun: Mutex<Vec<(RebuildStage, Instant)>> = Mutex::new(Vec::new());
    let stage = |s: RebuildStage| {
        begun.lock().unwrap_or_else(|p| p.into_inner()).push((s, Instant::now()));
        on_stage(s);
    };
    let summary = rt.rebuild(pod, progress, &stage).await?;
    let end = Instant::now();
    let begun = begun.into_inner().unwrap_or_else(|p| p.into_inner());
    let stages = begun
        .iter()
        .enumerate()
        .map(|(i, (s, at))| {
            let until = begun.get(i + 1).map(|(_, t)| *t).unwrap_or(end);
            StageTiming { stage: *s, ms: until.duration_since(*at).as_millis() as u64 }
        })
        .collect();
    Ok(RebuildTimings { pod: pod.to_string(), total_ms: end.duration_since(start).as_millis() as u64, stages, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::fake::FakeRuntime;
    use crate::runtime::Describe;

    #[tokio::test]
    async fn every_stage_is_timed_in_order_and_the_stages_add_up_to_the_total() {
        let rt = FakeRuntime::demo();
        rt.up().await.unwrap();
        let heard = Mutex::new(Vec::new());
        let t = timed_rebuild(&rt, "payment", &|_| {}, &|s| heard.lock().unwrap().push(s)).await.unwrap();
        let stages: Vec<RebuildStage> = t.stages.iter().map(|s| s.stage).collect();
        assert_eq!(stages, [RebuildStage::Compile, RebuildStage::Redeploy, RebuildStage::Serving]);
        assert_eq!(*heard.lock().unwrap(), stages);
        assert!(t.stages.iter().map(|s| s.ms).sum::<u64>() <= t.total_ms);
        assert!(t.line().starts_with("payment: ") && t.line().contains("compile "), "{}", t.line());
        assert!(t.summary.contains("payment"), "{}", t.summary);
    }

    #[test]
    fn a_pod_rebuilds_the_images_of_its_repository_only() {
        let rt = FakeRuntime::demo();
        let images = rt.topology().images_of("payment");
        let names: Vec<(&str, &str)> = images.iter().map(|(i, b)| (i.as_str(), b.as_str())).collect();
        assert_eq!(names, [("faultline/payment:v1-bugged", "payment"), ("faultline/payment:v2-fixed", "payment-v2")]);
        assert!(rt.topology().images_of("nope").is_empty());
        assert!(rt.topology().binaries().contains("faultline-engine"));
    }

    #[tokio::test]
    async fn an_unknown_pod_is_an_error_naming_it() {
        let rt = FakeRuntime::demo();
        let err = timed_rebuild(&rt, "nope", &|_| {}, &|_| {}).await.unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
