//! Link faults of a run: put on through the runtime (the fault proxy, or kernel netem on the
//! pod a link reaches where the kernel has it: elsewhere a netem step is skipped, saying
//! why), healed by a `heal`
//! action, by themselves after their `for`, and always at the end of the run, whether it
//! passed, failed, was aborted or got Ctrl-C: the rollback that always runs.
//!
//! A fault's own attributes (a latency, a timeout) are physical and never scaled: 3 s of
//! latency must still outlast a 1 s activity timeout at `--speed 10`. Its `for` is a
//! scenario duration and is scaled like every other.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Run, RunEvent};
use crate::runtime::{LinkFault, PodRuntime, RuntimeError};
use crate::scenario::model::fmt_duration;

/// The faults a run has put on links and not healed yet: link -> fault kinds.
pub(super) type Faulted = Arc<Mutex<BTreeMap<String, BTreeSet<&'static str>>>>;

fn lock(f: &Faulted) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeSet<&'static str>>> {
    f.lock().unwrap_or_else(|e| e.into_inner())
}

impl Run {
    /// `fault` on `link`; with `heal_after`, a task heals it that much later (scaled).
    pub(super) async fn put_link_fault(&mut self, step: usize, text: String, link: &str, fault: &LinkFault, heal_after: Option<Duration>) -> Result<(), super::control::Abort> {
        let cmd = self.rt.link_command(link, fault);
        let applied = self.ctl.call(self.rt.link_fault(link, fault.clone())).await?;
        if let Err(e @ RuntimeError::NetemUnavailable(_)) = &applied {
            // Optional by design: where the kernel has no netem, the step goes on without it.
            self.action_done(step, text, true, Some(format!("skipped: {e}")));
            return Ok(());
        }
        if let Err(e) = applied {
            self.action_done(step, text, false, Some(e.to_string()));
            return Err(super::control::Abort::Failed(format!("{} failed: {e}", fault.describe())));
        }
        lock(&self.faulted).entry(link.to_string()).or_default().insert(fault.kind());
        let mut detail = format!("by hand: {cmd}");
        if let Some(d) = heal_after {
            let d = self.scaled(d);
            detail = format!("heals itself in {}; {detail}", fmt_duration(d));
            let (rt, out, faulted, clock) = (self.rt.clone(), self.out.clone(), self.faulted.clone(), self.ctl.clock.clone());
            let (link, kind) = (link.to_string(), fault.kind());
            let at = Self::after(clock.now_ms(), d);
            let task_link = link.clone();
            self.heal_tasks.push((task_link, tokio::spawn(async move {
                clock.sleep_until(at).await;
                let r = rt.heal_link(&link, Some(kind)).await;
                // A heal that failed stays for the end of the run to try again.
                if let (Ok(()), Some(kinds)) = (&r, lock(&faulted).get_mut(&link)) {
                    kinds.remove(kind);
                }
                let (ok, detail) = match r {
                    Ok(()) => (true, None),
                    Err(e) => (false, Some(e.to_string())),
                };
                out.emit(RunEvent::Action { step, at_ms: out.now_rel(), text: format!("{kind} on {link} healed itself"), ok, detail });
            })));
        }
        self.action_done(step, text, true, Some(detail));
        Ok(())
    }

    /// Lifts every fault from `link`, or from every link this run faulted.
    pub(super) async fn heal_links(&mut self, step: usize, text: String, link: Option<&str>) -> Result<(), super::control::Abort> {
        let links: Vec<String> = match link {
            Some(l) => vec![l.to_string()],
            None => lock(&self.faulted).keys().cloned().collect(),
        };
        // A heal by hand supersedes the pending self-heals of those links.
        self.heal_tasks.retain(|(l, t)| {
            let cancel = links.contains(l);
            if cancel {
                t.abort();
            }
            !cancel
        });
        let mut errors = Vec::new();
        for l in &links {
            match self.ctl.call(heal_link_fully(self.rt.clone(), self.faulted.clone(), l)).await? {
                Ok(()) => {
                    lock(&self.faulted).remove(l);
                }
                Err(e) => errors.push(format!("{l}: {e}")),
            }
        }
        let ok = errors.is_empty();
        self.action_done(step, text, ok, (!ok).then(|| errors.join("; ")));
        Ok(())
    }

    /// The end of every run: stop the pending self-heals and heal what is still faulted.
    /// Never aborted by the presenter: a fault left behind would outlive the run.
    pub(super) async fn heal_all_links(&mut self) {
        for (_, t) in self.heal_tasks.drain(..) {
            t.abort();
        }
        let left: Vec<(String, BTreeSet<&'static str>)> = lock(&self.faulted).iter().filter(|(_, k)| !k.is_empty()).map(|(l, k)| (l.clone(), k.clone())).collect();
        if left.is_empty() {
            return;
        }
        let names: Vec<String> = left.iter().map(|(l, k)| format!("{l} ({})", k.iter().copied().collect::<Vec<_>>().join(", "))).collect();
        self.note(format!("healing the links this run left faulted: {}", names.join(", ")));
        for (l, _) in left {
            match heal_link_fully(self.rt.clone(), self.faulted.clone(), &l).await {
                Ok(()) => {
                    lock(&self.faulted).remove(&l);
                }
                Err(e) => self.note(format!("could not heal {l}: {e}; heal it by hand: curl -sX POST {}/reset", self.rt.topology().proxy_api_url().unwrap_or_default())),
            }
        }
    }
}

/// Lifts every fault of `link`: the proxy's, and the kernel netem this run put on the pod
/// it reaches, which the proxy knows nothing of.
async fn heal_link_fully(rt: Arc<dyn PodRuntime>, faulted: Faulted, link: &str) -> Result<(), RuntimeError> {
    let netem = lock(&faulted).get(link).is_some_and(|k| k.contains("netem"));
    let netem_healed = if netem { rt.heal_link(link, Some("netem")).await } else { Ok(()) };
    if let (Ok(()), Some(kinds)) = (&netem_healed, lock(&faulted).get_mut(link)) {
        kinds.remove("netem");
    }
    // The proxy's faults are lifted whether or not the netem heal worked.
    let proxy_healed = rt.heal_link(link, None).await;
    match (netem_healed, proxy_healed) {
        (Ok(()), r) => r,
        (Err(e), Ok(())) => Err(e),
        (Err(n), Err(p)) => Err(RuntimeError::Other(format!("{n}; and {p}"))),
    }
}
