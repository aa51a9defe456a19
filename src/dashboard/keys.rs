//! Keyboard handling (k9s / lazydocker conventions): navigation, filters, overlays, and the
//! actions on the selected pod or workflow, each confirmed with its equivalent command.
//!
//! `b` and `f` deploy the first and the second version `x-faultline-images` lists for the
//! selected pod (for payment: `v1-bugged`, `v2-fixed`); the pod's equivalent commands come
//! from the runtime, the engine's (`curl`) from [`commands`].

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{App, InputTarget, Overlay, Panel};
use super::commands;
use super::event::ActionRequest;
use crate::projection::ActivityState;
use crate::runtime::{Direction, LinkFault, PodAction, PodState};

impl App {
    pub(super) fn on_key(&mut self, k: KeyEvent) -> Vec<ActionRequest> {
        if k.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.mark();
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            // Ctrl-C never asks: it leaves the pods as the flag says, running by default.
            self.quit = true;
            return vec![ActionRequest::Quit { leave_pods_running: self.opts.leave_pods_running.unwrap_or(true) }];
        }
        if let Some(target) = self.input {
            self.on_input(target, k);
            return Vec::new();
        }
        match self.overlay {
            Overlay::Quit => return self.on_quit_prompt(k),
            Overlay::Help | Overlay::Json | Overlay::Command | Overlay::Witness => {
                match k.code {
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Char('$') => self.overlay = Overlay::None,
                    KeyCode::Down | KeyCode::Char('j') => self.json_scroll = self.json_scroll.saturating_add(1),
                    KeyCode::Up | KeyCode::Char('k') => self.json_scroll = self.json_scroll.saturating_sub(1),
                    KeyCode::PageDown => self.json_scroll = self.json_scroll.saturating_add(10),
                    KeyCode::PageUp => self.json_scroll = self.json_scroll.saturating_sub(10),
                    _ => {}
                }
                return Vec::new();
            }
            Overlay::None => {}
        }
        if self.race.open {
            if let Some(requests) = self.race_key(k) {
                return requests;
            }
        }
        match k.code {
            KeyCode::Char('q') => return self.request_quit(),
            KeyCode::Char('?') => self.overlay = Overlay::Help,
            KeyCode::Char('$') => {
                if self.notices.iter().any(|n| !n.command.is_empty()) {
                    self.overlay = Overlay::Command;
                } else {
                    self.inform("no command yet: every action shows its equivalent command here".into());
                }
            }
            KeyCode::Tab => self.cycle_focus(1),
            KeyCode::BackTab => self.cycle_focus(Panel::ORDER.len() - 1),
            KeyCode::Char(' ') => return self.advance_scenario(),
            KeyCode::Char('n') => return self.start_order(),
            KeyCode::Char('w') => self.toggle_race(),
            KeyCode::Char('t') => {
                self.timeline = !self.timeline;
                // ↑↓ then pick another order while the timeline covers the list.
                if self.timeline {
                    self.focus = Panel::Workflows;
                }
            }
            KeyCode::Esc if self.timeline => self.timeline = false,
            KeyCode::Esc => self.back(),
            KeyCode::Char('/') => match self.focus {
                Panel::Logs => self.input = Some(InputTarget::Logs),
                _ => {
                    self.focus = Panel::Workflows;
                    self.input = Some(InputTarget::Workflows);
                }
            },
            KeyCode::Down | KeyCode::Char('j') => return self.move_sel(1),
            KeyCode::Up | KeyCode::Char('k') => return self.move_sel(-1),
            KeyCode::PageDown => return self.move_sel(10),
            KeyCode::PageUp => return self.move_sel(-10),
            _ => {
                return match self.focus {
                    Panel::Pods => self.pod_key(k),
                    Panel::Workflows | Panel::History => self.workflow_key(k),
                    Panel::Logs => Vec::new(),
                }
            }
        }
        Vec::new()
    }

    fn on_input(&mut self, target: InputTarget, k: KeyEvent) {
        let buf = match target {
            InputTarget::Workflows => &mut self.wf_filter,
            InputTarget::Logs => &mut self.logs.filter,
        };
        match k.code {
            KeyCode::Enter => self.input = None,
            KeyCode::Esc => {
                buf.clear();
                self.input = None;
            }
            KeyCode::Backspace => {
                buf.pop();
            }
            KeyCode::Char(c) if buf.len() < 64 => buf.push(c),
            _ => {}
        }
        if target == InputTarget::Logs {
            self.logs.scroll = 0;
        }
    }

    fn request_quit(&mut self) -> Vec<ActionRequest> {
        match (self.opts.runtime.is_some(), self.opts.leave_pods_running) {
            (true, None) => {
                self.overlay = Overlay::Quit;
                Vec::new()
            }
            (_, leave) => {
                self.quit = true;
                vec![ActionRequest::Quit { leave_pods_running: leave.unwrap_or(true) }]
            }
        }
    }

    fn on_quit_prompt(&mut self, k: KeyEvent) -> Vec<ActionRequest> {
        let leave = match k.code {
            KeyCode::Char('y') | KeyCode::Char('l') | KeyCode::Char('q') => true,
            KeyCode::Char('n') | KeyCode::Char('d') => false,
            KeyCode::Esc => {
                self.overlay = Overlay::None;
                return Vec::new();
            }
            _ => return Vec::new(),
        };
        self.overlay = Overlay::None;
        self.quit = true;
        vec![ActionRequest::Quit { leave_pods_running: leave }]
    }

    fn cycle_focus(&mut self, by: usize) {
        let i = Panel::ORDER.iter().position(|p| *p == self.focus).unwrap_or(0);
        self.focus = Panel::ORDER[(i + by) % Panel::ORDER.len()];
    }

    fn back(&mut self) {
        match self.focus {
            Panel::History if self.history_sel.is_some() => self.history_sel = None,
            Panel::History => self.focus = Panel::Workflows,
            Panel::Workflows if !self.wf_filter.is_empty() => self.wf_filter.clear(),
            Panel::Workflows => self.selected_wf = None,
            Panel::Logs if self.logs.scroll > 0 => self.logs.scroll = 0,
            Panel::Logs if !self.logs.filter.is_empty() => self.logs.filter.clear(),
            _ => self.focus = Panel::Workflows,
        }
    }

    fn move_sel(&mut self, by: i64) -> Vec<ActionRequest> {
        let step = |cur: usize, len: usize| -> usize {
            (cur as i64 + by).clamp(0, len.saturating_sub(1) as i64) as usize
        };
        match self.focus {
            Panel::Pods => self.pods.selected = step(self.pods.selected, self.pods.rows.len()),
            Panel::Logs => {
                // Up scrolls back in time.
                let max = self.logs.lines.len().saturating_sub(1);
                self.logs.scroll = (self.logs.scroll as i64 - by).clamp(0, max as i64) as usize;
            }
            Panel::History => {
                if let Some(run) = self.selected_run() {
                    let len = self.history_len(run);
                    let cur = self.history_row(run).unwrap_or(0);
                    let next = step(cur, len);
                    self.history_sel = if len > 0 && next == len - 1 && by > 0 { None } else { Some(next) };
                }
            }
            Panel::Workflows => {
                let vis = self.visible_workflows();
                if vis.is_empty() {
                    return Vec::new();
                }
                let runs = self.store.runs();
                let cur = self
                    .selected_wf
                    .as_ref()
                    .and_then(|id| vis.iter().position(|i| &runs[*i].workflow_id == id))
                    .unwrap_or(0);
                let id = runs[vis[step(cur, vis.len())]].workflow_id.clone();
                if self.selected_wf.as_ref() != Some(&id) {
                    self.selected_wf = Some(id.clone());
                    self.history_sel = None;
                    self.described = None;
                    let mut reqs = vec![ActionRequest::Describe { workflow_id: id.clone() }];
                    if let Some(run) = self.store.get(&id).filter(|r| r.events.is_empty() && r.events_let_go > 0) {
                        reqs.push(ActionRequest::FetchHistory { workflow_id: id, run_id: run.run_id.clone() });
                    }
                    return reqs;
                }
            }
        }
        Vec::new()
    }

    fn advance_scenario(&mut self) -> Vec<ActionRequest> {
        if self.scenario.is_none() {
            self.inform("no scenario is running: start one with `faultline run scenarios/NAME.toml`".into());
            return Vec::new();
        }
        self.inform("next presenter step".into());
        vec![ActionRequest::ScenarioAdvance]
    }

    fn start_order(&mut self) -> Vec<ActionRequest> {
        let n = self.next_id();
        let o = self.opts.new_order.clone();
        let (workflow_id, input) = o.order(self.now_ms, n);
        // An order started here belongs to what the screen shows, scenario or not.
        self.store.register(&workflow_id);
        let cmd = commands::start_command(&self.opts.engine_url, &workflow_id, &o.workflow_type, &o.task_queue, &input);
        let id = self.notify(format!("start {} {workflow_id}", o.workflow_type), cmd);
        vec![ActionRequest::StartOrder { id, workflow_id, workflow_type: o.workflow_type, task_queue: o.task_queue, input }]
    }

    fn pod_key(&mut self, k: KeyEvent) -> Vec<ActionRequest> {
        if let Some(why) = self.pods.unavailable.clone() {
            self.inform(format!("pods cannot be controlled: {why}"));
            return Vec::new();
        }
        let Some(rt) = self.opts.runtime.clone() else {
            self.inform("attached without a pod runtime: pods are read-only here".into());
            return Vec::new();
        };
        let Some(pod) = self.pods.selected().cloned() else { return Vec::new() };
        let action = match k.code {
            KeyCode::Char('K') => PodAction::Kill,
            KeyCode::Char('s') => match pod.state {
                PodState::Running | PodState::Paused | PodState::Starting | PodState::Disconnected => PodAction::Stop,
                _ => PodAction::Start,
            },
            KeyCode::Char('p') => match pod.state {
                PodState::Paused => PodAction::Unpause,
                _ => PodAction::Pause,
            },
            KeyCode::Char(c @ ('b' | 'f')) => {
                let nth = usize::from(c == 'f');
                match rt.topology().versions_of(&pod.name).into_iter().nth(nth) {
                    Some(version) => PodAction::Deploy { version },
                    None => {
                        let which = if nth == 0 { "first" } else { "second" };
                        self.inform(format!("`{c}` deploys the {which} version x-faultline-images lists for {}; it has none", pod.name));
                        return Vec::new();
                    }
                }
            }
            KeyCode::Char(c @ ('l' | 'x')) => return self.link_key(&*rt, &pod.name, c),
            KeyCode::Char('R') => {
                if let Some(r) = self.rebuild.as_ref().filter(|r| r.finished.is_none()) {
                    let secs = r.elapsed_ms(self.now_ms) / 1000;
                    self.inform(format!("a rebuild of {} is running ({secs}s); press R again once it is done", r.pod));
                    return Vec::new();
                }
                let cmd = rt.rebuild_command(&pod.name).to_string();
                let id = self.notify(format!("rebuild {} from source and redeploy", pod.name), cmd);
                self.rebuild = Some(super::rebuild::RebuildView::new(id, pod.name.clone(), self.now_ms));
                return vec![ActionRequest::RebuildAndRedeploy { id, pod: pod.name, version: pod.version }];
            }
            _ => return Vec::new(),
        };
        let cmd = rt.equivalent_command(&pod.name, &action).to_string();
        let id = self.notify(format!("{} {}", action.describe(), pod.name), cmd);
        vec![ActionRequest::Pod { id, pod: pod.name, action }]
    }

    /// `l` / `x` on a pod: 3 s of latency / a partition on the worker's link to it, or lifted
    /// when it is already on; echoed with the `curl` against the proxy's API.
    fn link_key(&mut self, rt: &dyn crate::runtime::Describe, pod: &str, key: char) -> Vec<ActionRequest> {
        let links = rt.topology().links();
        let Some(link) = links.iter().find(|l| l.to == pod).map(|l| l.name.clone()) else {
            let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
            self.inform(if names.is_empty() {
                "no fault proxy in docker-compose.yml: there are no links to fault".into()
            } else {
                format!("no link reaches {pod}; select the pod at the other end of one of: {}", names.join(", "))
            });
            return Vec::new();
        };
        let fault = match key {
            'l' => LinkFault::Latency { latency: std::time::Duration::from_secs(3), jitter: std::time::Duration::ZERO, direction: Direction::Downstream },
            _ => LinkFault::Partition,
        };
        let on = self.pods.link_into(pod).is_some_and(|s| if key == 'x' { !s.enabled } else { s.toxics.iter().any(|t| t.starts_with('+')) });
        if on {
            let cmd = rt.heal_command(&link, &fault).to_string();
            let id = self.notify(format!("lift {} from {link}", fault.kind()), cmd);
            vec![ActionRequest::HealLink { id, link, kind: fault.kind() }]
        } else {
            let cmd = rt.link_command(&link, &fault).to_string();
            let id = self.notify(format!("{} on {link}", fault.describe()), cmd);
            vec![ActionRequest::LinkFault { id, link, fault }]
        }
    }

    fn workflow_key(&mut self, k: KeyEvent) -> Vec<ActionRequest> {
        if k.code == KeyCode::Char('f') && self.focus == Panel::Workflows {
            self.status_filter = self.status_filter.next();
            self.selected_wf = None;
            return Vec::new();
        }
        if k.code == KeyCode::Char('v') {
            self.history_full = !self.history_full;
            self.history_sel = None;
            return Vec::new();
        }
        if k.code == KeyCode::Enter {
            match self.focus {
                Panel::Workflows => self.focus = Panel::History,
                _ => {
                    if self.selected_run().is_some_and(|r| !r.events.is_empty()) {
                        self.overlay = Overlay::Json;
                        self.json_scroll = 0;
                    }
                }
            }
            return Vec::new();
        }
        let Some(run) = self.selected_run() else { return Vec::new() };
        let wf = run.workflow_id.clone();
        let engine = self.opts.engine_url.clone();
        match k.code {
            KeyCode::Char('r') => {
                let seqs: Vec<u64> =
                    run.activities.values().filter(|a| a.state == ActivityState::Backoff).map(|a| a.seq).collect();
                if seqs.is_empty() {
                    self.inform(format!("nothing to retry: no activity of {wf} is waiting for a retry"));
                    return Vec::new();
                }
                seqs.into_iter()
                    .map(|seq| {
                        let id = self.notify(format!("retry now {wf} activity #{seq}"), commands::retry_now_command(&engine, &wf, seq));
                        ActionRequest::RetryNow { id, workflow_id: wf.clone(), seq }
                    })
                    .collect()
            }
            KeyCode::Char('a') => {
                let payload = serde_json::json!({ "approved": true, "by": "dashboard" });
                let id = self.notify(format!("signal approve {wf}"), commands::signal_command(&engine, &wf, "approve", &payload));
                vec![ActionRequest::Signal { id, workflow_id: wf, name: "approve".into(), payload }]
            }
            KeyCode::Char('c') => {
                let id = self.notify(format!("cancel {wf}"), commands::cancel_command(&engine, &wf, "canceled from the dashboard"));
                vec![ActionRequest::Cancel { id, workflow_id: wf }]
            }
            KeyCode::Char('T') => {
                let id = self.notify(format!("terminate {wf}"), commands::terminate_command(&engine, &wf, "terminated from the dashboard"));
                vec![ActionRequest::Terminate { id, workflow_id: wf }]
            }
            _ => Vec::new(),
        }
    }
}
