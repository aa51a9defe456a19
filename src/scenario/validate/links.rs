//! Validation of the link actions (`latency`, `bandwidth`, `timeout`, `reset`, `partition`,
//! `netem`, `heal`): the link must be one of the fault proxy's links in docker-compose.yml, each
//! action takes its own keys, and a `heal` must follow a fault on that link.

use std::ops::Range;
use std::time::Duration;

use super::Checker;
use crate::runtime::netem::NetemSpec;
use crate::runtime::{Direction, LinkFault};
use crate::scenario::format::RawAction;
use crate::scenario::model::Action;

/// The actions on links, in the order the docs list them.
pub(super) const LINK_ACTIONS: [&str; 7] = ["latency", "bandwidth", "timeout", "reset", "partition", "netem", "heal"];

impl Checker<'_> {
    pub(super) fn link_action(&mut self, a: &RawAction, span: Range<usize>) -> Option<Action> {
        let name = a.action.get_ref().as_str();
        let allowed: &[&str] = match name {
            "latency" => &["link", "latency", "jitter", "stream", "for"],
            "bandwidth" => &["link", "rate", "stream", "for"],
            "timeout" | "reset" => &["link", "timeout", "stream", "for"],
            "partition" => &["link", "for"],
            "netem" => &["link", "latency", "jitter", "loss", "for"],
            _ => &["link"],
        };
        for (key, sp) in a.keys_set() {
            if !allowed.contains(&key) {
                self.err(sp, format!("`{key}` does not apply to `{name}`; it takes: {}", allowed.join(", ")));
            }
        }
        let link = match &a.link {
            Some(l) if self.ctx.links().iter().any(|k| k == l.get_ref()) => Some(l.get_ref().clone()),
            Some(l) => {
                let known = self.ctx.links();
                let msg = if known.is_empty() {
                    format!("unknown link `{}`: docker-compose.yml has no fault proxy, so it has no links", l.get_ref())
                } else {
                    format!("unknown link `{}`; the links of docker-compose.yml (the proxy's FAULTLINE_PROXIES) are: {}", l.get_ref(), known.join(", "))
                };
                self.err(l.span(), msg);
                return None;
            }
            None if name == "heal" => None,
            None => {
                self.err(span, format!("`{name}` needs a link: {{ do = \"{name}\", link = \"{}\" }}", self.ctx.links().first().map(String::as_str).unwrap_or("worker->payment")));
                return None;
            }
        };
        if name == "heal" {
            match &link {
                Some(l) if !self.faulted_links.contains(l) => self.err(a.action.span(), format!("cannot heal link `{l}`: no earlier action puts a fault on it")),
                None if self.faulted_links.is_empty() => self.err(a.action.span(), "cannot heal: no earlier action puts a fault on a link"),
                _ => {}
            }
            return Some(Action::Heal { link });
        }
        let link = link?;
        let direction = match a.stream.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("downstream") => Direction::Downstream,
            Some("upstream") => Direction::Upstream,
            Some(other) => {
                let sp = a.stream.as_ref().map(|s| s.span()).unwrap_or(span.clone());
                self.err(sp, format!("unknown stream `{other}`; write \"downstream\" (the answers, the default) or \"upstream\" (the requests)"));
                Direction::Downstream
            }
        };
        let fault = match name {
            "latency" => {
                let Some(l) = &a.latency else {
                    self.err(span, "`latency` needs a delay: { do = \"latency\", link = \"worker->payment\", latency = \"3s\" }");
                    return None;
                };
                LinkFault::Latency { latency: self.duration(l), jitter: self.opt_duration(&a.jitter, Duration::ZERO), direction }
            }
            "bandwidth" => {
                let Some(r) = &a.rate else {
                    self.err(span, "`bandwidth` needs a rate in KB/s: { do = \"bandwidth\", link = \"worker->payment\", rate = 10 }");
                    return None;
                };
                LinkFault::Bandwidth { rate_kbps: self.count(r, "rate (KB/s)", 1), direction }
            }
            "timeout" => LinkFault::Timeout { after: self.opt_duration(&a.timeout, Duration::ZERO), direction },
            "reset" => LinkFault::Reset { after: self.opt_duration(&a.timeout, Duration::ZERO), direction },
            "netem" => {
                let loss = a.loss.as_ref().map(|l| (crate::runtime::netem::parse_loss(l.get_ref()), l.span()));
                if let Some((Err(msg), sp)) = &loss {
                    self.err(sp.clone(), msg.clone());
                }
                let loss_bp = loss.as_ref().and_then(|(r, _)| r.as_ref().ok().copied()).unwrap_or(0);
                let spec = NetemSpec { delay: self.opt_duration(&a.latency, Duration::ZERO), jitter: self.opt_duration(&a.jitter, Duration::ZERO), loss_bp };
                let bad_loss = loss.as_ref().is_some_and(|(r, _)| r.is_err());
                if !bad_loss && spec.delay.is_zero() && spec.jitter.is_zero() && spec.loss_bp == 0 {
                    self.err(span, "`netem` needs a latency or a loss: { do = \"netem\", link = \"worker->payment\", latency = \"100ms\", loss = \"5%\" }");
                }
                LinkFault::Netem(spec)
            }
            _ => LinkFault::Partition,
        };
        let heal_after = a.duration.as_ref().map(|d| self.duration(d));
        if heal_after.is_some_and(|d| d.is_zero()) {
            if let Some(d) = &a.duration {
                self.err(d.span(), format!("`for` must be longer than 0s; leave it out to keep the {name} until a `heal`"));
            }
        }
        self.faulted_links.insert(link.clone());
        Some(Action::LinkFault { link, fault, heal_after })
    }
}
