//! The local runtime's equivalent commands: signals to the real process id (the runtime
//! knows it; the binaries are `order-worker`, `payment-v2`, `faultline-engine`..., so a
//! `pgrep -x <pod>` would match nothing). What a shell cannot do to a child process of
//! Faultline (start it under supervision, cut it off the loopback interface) says so.

use crate::runtime::{EquivalentCommand, PodAction, RuntimeSetup};

/// The command that does `action` on `pod`, whose process id is `pid` (if running).
pub fn render(setup: &RuntimeSetup, pod: &str, action: &PodAction, pid: Option<i32>) -> EquivalentCommand {
    let not = |reason: String| EquivalentCommand::NotOneLine { reason };
    if setup.topology.pod(pod).is_err() {
        return not(format!("there is no pod `{pod}` in docker-compose.yml"));
    }
    let signal = match action {
        PodAction::Kill => "KILL",
        PodAction::Stop => "TERM",
        PodAction::Pause => "STOP",
        PodAction::Unpause => "CONT",
        PodAction::Start | PodAction::Restart | PodAction::Deploy { .. } => {
            return not(format!(
                "a local pod is a child process of this Faultline, which reads its output, checks its health and \
                 sees it exit; a `{pod}` started from a shell would be a stranger to it (use the dashboard, or \
                 `--runtime docker` for a `docker` line)"
            ))
        }
        PodAction::Disconnect | PodAction::Reconnect => {
            let enabled = *action == PodAction::Reconnect;
            let (Some(api), links) = (setup.topology.proxy_api_url(), setup.topology.links()) else {
                return not("local processes share the loopback interface; without a proxy pod nothing cuts one off".into());
            };
            let lines: Vec<String> = links
                .iter()
                .filter(|l| l.touches(pod))
                .map(|l| format!("curl -sX POST {api}/proxies/{} -d '{{\"enabled\":{enabled}}}'", crate::runtime::links::path_segment(&l.name)))
                .collect();
            if lines.is_empty() {
                return not(format!("local processes share the loopback interface and no proxy link touches `{pod}`"));
            }
            return EquivalentCommand::Line(lines.join(" && "));
        }
    };
    match pid {
        Some(pid) => EquivalentCommand::Line(format!("kill -{signal} {pid}")),
        None => not(format!("pod `{pod}` has no running process now, so there is no pid to signal")),
    }
}

/// `R` by hand: the build is one line, the restart of a supervised child is not.
pub fn rebuild(setup: &RuntimeSetup, pod: &str) -> EquivalentCommand {
    EquivalentCommand::NotOneLine {
        reason: format!(
            "`cd {} && cargo build --release --workspace --bins` rebuilds; restarting `{pod}` on the new build is \
             done by Faultline, whose child process it is",
            crate::runtime::shell::quote(&setup.workspace.display().to_string())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Project;

    #[test]
    fn signals_go_to_the_real_pid_and_the_rest_says_why_not() {
        let compose = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docker-compose.yml");
        let s = RuntimeSetup::load(&compose, &Project::default()).unwrap();
        assert_eq!(render(&s, "worker", &PodAction::Kill, Some(4242)).line(), Some("kill -KILL 4242"));
        assert_eq!(render(&s, "worker", &PodAction::Pause, Some(4242)).line(), Some("kill -STOP 4242"));
        assert_eq!(render(&s, "worker", &PodAction::Unpause, Some(4242)).line(), Some("kill -CONT 4242"));
        assert_eq!(render(&s, "worker", &PodAction::Stop, Some(4242)).line(), Some("kill -TERM 4242"));
        for (a, why) in [
            (PodAction::Kill, "no running process"),
            (PodAction::Deploy { version: "v2-fixed".into() }, "child process"),
        ] {
            let c = render(&s, "payment", &a, None);
            assert!(matches!(&c, EquivalentCommand::NotOneLine { reason } if reason.contains(why)), "{c}");
            assert!(!c.to_string().contains("pgrep"), "{c}");
        }
        assert!(rebuild(&s, "payment").to_string().contains("cargo build --release --workspace --bins"));
        // Cutting a local pod off takes its proxy links down.
        assert_eq!(
            render(&s, "payment", &PodAction::Disconnect, None).line(),
            Some(r#"curl -sX POST http://127.0.0.1:8474/proxies/worker-%3Epayment -d '{"enabled":false}'"#)
        );
        let engine = render(&s, "engine", &PodAction::Reconnect, None).to_string();
        assert!(engine.contains("worker-%3Eengine -d '{\"enabled\":true}'") && !engine.contains("payment"), "{engine}");
    }
}
