//! Kernel netem in a pod's network namespace: the optional, Linux-and-root-only way to
//! delay and drop packets below the fault proxy (`nsenter --net=<sandbox key> tc qdisc
//! replace dev eth0 root netem ...`). It acts on every packet the pod sends, to any peer,
//! not on one link. The namespace is Docker's sandbox key, which exists only when the
//! daemon is on this host, and never the host's own. It needs the `sch_netem` module, which many kernels (this
//! project's CI among them) and Docker Desktop's VM lack, so it is probed once, in a
//! throw-away network namespace, and where it is missing every netem step says why and
//! does nothing: the fault proxy's toxics are the faults that work everywhere.
//!
//! The pure parts (the `tc` arguments, reading the probe's answer) are apart from the
//! commands that run them, so they are tested without root.

use std::time::Duration;

use tokio::process::Command;
use tokio::sync::OnceCell;

use super::RuntimeError;

/// The interface a container's network namespace reaches its network by.
pub const POD_INTERFACE: &str = "eth0";

/// A netem qdisc: every packet leaving the pod delayed by `delay` ± `jitter`, and
/// `loss_bp` in ten thousand of them dropped (basis points: 100 = 1 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetemSpec {
    pub delay: Duration,
    pub jitter: Duration,
    pub loss_bp: u32,
}

impl NetemSpec {
    /// `tc`'s arguments that put this qdisc on `dev` (replacing any there).
    pub fn tc_args(&self, dev: &str) -> Vec<String> {
        let mut args: Vec<String> = ["qdisc", "replace", "dev", dev, "root", "netem"].map(String::from).to_vec();
        if !self.delay.is_zero() || !self.jitter.is_zero() {
            args.extend(["delay".into(), format!("{}ms", self.delay.as_millis())]);
            if !self.jitter.is_zero() {
                args.push(format!("{}ms", self.jitter.as_millis()));
            }
        }
        if self.loss_bp > 0 {
            args.extend(["loss".into(), percent(self.loss_bp)]);
        }
        args
    }

    /// One line for the screen: `netem 100ms ±10ms loss 5%`.
    pub fn describe(&self) -> String {
        use crate::scenario::model::fmt_duration as d;
        let mut s = "netem".to_string();
        if !self.delay.is_zero() {
            s += &format!(" {}", d(self.delay));
        }
        if !self.jitter.is_zero() {
            s += &format!(" ±{}", d(self.jitter));
        }
        if self.loss_bp > 0 {
            s += &format!(" loss {}", percent(self.loss_bp));
        }
        s
    }
}

/// `tc`'s arguments that remove whatever qdisc `dev` has (back to the kernel's default).
pub fn clear_args(dev: &str) -> Vec<String> {
    ["qdisc", "del", "dev", dev, "root"].map(String::from).to_vec()
}

/// `550` basis points as `5.5%`.
fn percent(bp: u32) -> String {
    if bp.is_multiple_of(100) {
        format!("{}%", bp / 100)
    } else {
        format!("{}%", f64::from(bp) / 100.0)
    }
}

/// Parses a loss like `5%`, `0.5%` or `5` (percent) into basis points; the message says
/// what is wrong.
pub fn parse_loss(text: &str) -> Result<u32, String> {
    let n = text.trim().trim_end_matches('%').trim();
    let v: f64 = n.parse().map_err(|_| format!("`{text}` is not a loss: write a percentage such as \"5%\" or \"0.5%\""))?;
    if !(0.0..=100.0).contains(&v) || !v.is_finite() {
        return Err(format!("loss `{text}` must be between 0% and 100%"));
    }
    Ok((v * 100.0).round() as u32)
}

/// Whether netem can be used here, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetemSupport {
    Available,
    Unavailable(String),
}

/// Reads what `unshare -n tc qdisc add dev lo root netem ...` answered.
pub fn read_probe(success: bool, stderr: &str) -> NetemSupport {
    if success {
        return NetemSupport::Available;
    }
    let stderr = stderr.trim();
    if stderr.contains("qdisc kind is unknown") {
        NetemSupport::Unavailable("netem unavailable on this kernel (no sch_netem module: try `modprobe sch_netem`)".into())
    } else if stderr.contains("Operation not permitted") {
        NetemSupport::Unavailable("netem needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to enter and change a network namespace".into())
    } else {
        NetemSupport::Unavailable(format!("netem unavailable on this kernel: `tc` answered: {stderr}"))
    }
}

/// Whether netem works on this machine: probed once per process, in a fresh network
/// namespace that dies with the probe, so nothing on the host is touched.
pub async fn probe() -> &'static NetemSupport {
    static SUPPORT: OnceCell<NetemSupport> = OnceCell::const_new();
    SUPPORT.get_or_init(probe_now).await
}

async fn probe_now() -> NetemSupport {
    if !cfg!(target_os = "linux") {
        return NetemSupport::Unavailable("netem needs Linux (Docker Desktop runs containers in a VM)".into());
    }
    if !is_root() {
        return NetemSupport::Unavailable("netem needs root: run Faultline as root to use it".into());
    }
    for tool in ["tc", "nsenter", "unshare"] {
        if which(tool).is_none() {
            return NetemSupport::Unavailable(format!("netem needs `{tool}` (Debian: apt install iproute2 util-linux)"));
        }
    }
    let (Some(unshare), Some(tc)) = (which("unshare"), which("tc")) else {
        return NetemSupport::Unavailable("netem needs `unshare` and `tc` (Debian: apt install iproute2 util-linux)".into());
    };
    let out = Command::new(unshare).arg("-n").arg(tc).args(["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]).output().await;
    match out {
        Ok(o) => read_probe(o.status.success(), &String::from_utf8_lossy(&o.stderr)),
        Err(e) => NetemSupport::Unavailable(format!("netem probe could not run `unshare`: {e}")),
    }
}

/// The effective user is root (read from /proc, to need no libc binding).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)).map(|euid| euid == "0"))
        .unwrap_or(false)
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// Puts `spec` on (or with `None` lifts netem from) the network namespace at `netns` (a
/// container's sandbox key, `/var/run/docker/netns/...`).
pub async fn apply(netns: &str, spec: Option<&NetemSpec>) -> Result<(), RuntimeError> {
    if let NetemSupport::Unavailable(why) = probe().await {
        return Err(RuntimeError::NetemUnavailable(why.clone()));
    }
    check_not_ours(netns)?;
    let args = match spec {
        Some(s) => s.tc_args(POD_INTERFACE),
        None => clear_args(POD_INTERFACE),
    };
    let (Some(nsenter), Some(tc)) = (which("nsenter"), which("tc")) else {
        return Err(RuntimeError::NetemUnavailable("netem needs `nsenter` and `tc` (Debian: apt install iproute2 util-linux)".into()));
    };
    let out = Command::new(nsenter)
        .arg(format!("--net={netns}"))
        .arg(tc)
        .args(&args)
        .output()
        .await
        .map_err(|e| RuntimeError::NetemUnavailable(format!("could not run nsenter: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Lifting netem where none is set is already done.
    if out.status.success() || (spec.is_none() && (stderr.contains("handle of zero") || stderr.contains("No such file"))) {
        return Ok(());
    }
    Err(RuntimeError::Other(format!("tc {} failed: {}", args.join(" "), stderr.trim())))
}

/// Refuses a namespace that is not on this host (a remote daemon, Docker in a VM) or that is
/// this process's own: a qdisc there would slow the host's own interface.
fn check_not_ours(netns: &str) -> Result<(), RuntimeError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = std::fs::metadata(netns) else {
        return Err(RuntimeError::NetemUnavailable(format!(
            "the pod's network namespace ({netns}) is not on this host: the Docker daemon is remote or runs in a VM"
        )));
    };
    for own in ["/proc/self/ns/net", "/proc/1/ns/net"] {
        if let Ok(m) = std::fs::metadata(own) {
            if (m.dev(), m.ino()) == (target.dev(), target.ino()) {
                return Err(RuntimeError::NetemUnavailable(format!("{netns} is the host's own network namespace; netem is refused there")));
            }
        }
    }
    Ok(())
}

/// The command that does [`apply`] by hand on the container `container`.
pub fn command(container: &str, spec: Option<&NetemSpec>) -> String {
    let args = match spec {
        Some(s) => s.tc_args(POD_INTERFACE),
        None => clear_args(POD_INTERFACE),
    };
    format!("nsenter --net=$(docker inspect -f '{{{{.NetworkSettings.SandboxKey}}}}' {container}) tc {}", args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tc_arguments_for_delay_jitter_and_loss() {
        let s = NetemSpec { delay: Duration::from_millis(100), jitter: Duration::from_millis(10), loss_bp: 550 };
        assert_eq!(s.tc_args("eth0").join(" "), "qdisc replace dev eth0 root netem delay 100ms 10ms loss 5.5%");
        assert_eq!(s.describe(), "netem 100ms ±10ms loss 5.5%");
        let loss_only = NetemSpec { delay: Duration::ZERO, jitter: Duration::ZERO, loss_bp: 500 };
        assert_eq!(loss_only.tc_args("eth0").join(" "), "qdisc replace dev eth0 root netem loss 5%");
        assert_eq!(clear_args("eth0").join(" "), "qdisc del dev eth0 root");
        assert_eq!(
            command("faultline-payment", Some(&loss_only)),
            "nsenter --net=$(docker inspect -f '{{.NetworkSettings.SandboxKey}}' faultline-payment) tc qdisc replace dev eth0 root netem loss 5%"
        );
    }

    #[test]
    fn losses_parse_as_percentages_and_bad_ones_say_why() {
        assert_eq!(parse_loss("5%"), Ok(500));
        assert_eq!(parse_loss("0.5%"), Ok(50));
        assert_eq!(parse_loss("12"), Ok(1200));
        assert!(parse_loss("-1%").unwrap_err().contains("between 0% and 100%"));
        assert!(parse_loss("101%").unwrap_err().contains("between"));
        assert!(parse_loss("lots").unwrap_err().contains("percentage"));
        assert!(parse_loss("NaN").is_err());
    }

    #[test]
    fn the_probe_names_a_kernel_without_netem() {
        assert_eq!(read_probe(true, ""), NetemSupport::Available);
        let NetemSupport::Unavailable(why) = read_probe(false, "Error: Specified qdisc kind is unknown.\n") else { panic!() };
        assert!(why.starts_with("netem unavailable on this kernel"), "{why}");
        let NetemSupport::Unavailable(why) = read_probe(false, "RTNETLINK answers: Operation not permitted") else { panic!() };
        assert!(why.contains("root"), "{why}");
    }
}
