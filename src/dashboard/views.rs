//! State of the pod, log and scenario panels, updated by events (no I/O).

use crate::scenario::report::Verdict;
use std::collections::{HashMap, VecDeque};

use crate::runtime::{LogLine, PodState, PodStatus};

use super::link::{ScenarioEvent, StepInfo};

/// Pods in the order first reported (the runtime reports them in topology order).
#[derive(Debug, Default)]
pub struct PodsView {
    pub rows: Vec<PodStatus>,
    /// Why pods cannot be shown or controlled (e.g. Docker not running).
    pub unavailable: Option<String>,
    pub selected: usize,
    /// The fault proxy's links and their faults, as last read from it.
    pub links: Vec<crate::runtime::LinkStatus>,
}

impl PodsView {
    /// The active faults of the link into `pod` (`worker->pod`), if any link reaches it.
    pub fn link_into(&self, pod: &str) -> Option<&crate::runtime::LinkStatus> {
        self.links.iter().find(|l| l.name.split_once("->").is_some_and(|(_, to)| to == pod))
    }

    pub fn upsert(&mut self, p: PodStatus) {
        self.unavailable = None;
        match self.rows.iter_mut().find(|r| r.name == p.name) {
            Some(r) => *r = p,
            None => self.rows.push(p),
        }
    }

    pub fn selected(&self) -> Option<&PodStatus> {
        self.rows.get(self.selected.min(self.rows.len().saturating_sub(1)))
    }
}

/// The short name of a pod state, as shown.
pub fn pod_state_label(s: PodState) -> &'static str {
    match s {
        PodState::Missing => "missing",
        PodState::Starting => "starting",
        PodState::Running => "running",
        PodState::Paused => "paused",
        PodState::Disconnected => "disconnected",
        PodState::Stopped => "stopped",
        PodState::Exited => "exited",
    }
}

/// The merged logs of all pods, newest last, with a colour index per pod.
#[derive(Debug, Default)]
pub struct LogsView {
    pub lines: VecDeque<LogLine>,
    colors: HashMap<String, usize>,
    pub filter: String,
    /// Lines scrolled up from the tail (0 = follow).
    pub scroll: usize,
}

impl LogsView {
    /// Lines kept; older ones are dropped so memory and draw time stay bounded.
    pub const CAPACITY: usize = 5_000;

    pub fn push(&mut self, l: LogLine) {
        let n = self.colors.len();
        self.colors.entry(l.pod.clone()).or_insert(n);
        self.lines.push_back(l);
        if self.lines.len() > Self::CAPACITY {
            self.lines.pop_front();
        }
        if self.scroll > 0 {
            // Keep the same lines on screen while the user reads.
            self.scroll += 1;
        }
    }

    /// Colour slot of a pod (stable for the session).
    pub fn color_of(&self, pod: &str) -> usize {
        self.colors.get(pod).copied().unwrap_or(0)
    }

    /// The last `n` lines matching the filter, skipping `scroll` matches from the tail,
    /// oldest first. Walks back only as far as it needs to.
    pub fn tail(&self, n: usize) -> Vec<&LogLine> {
        let f = self.filter.to_ascii_lowercase();
        let mut out: Vec<&LogLine> = self
            .lines
            .iter()
            .rev()
            .filter(|l| f.is_empty() || contains_ci(&l.pod, &f) || contains_ci(&l.line, &f))
            .skip(self.scroll)
            .take(n)
            .collect();
        out.reverse();
        out
    }
}

/// How far a step got.
#[derive(Debug, Clone, PartialEq)]
pub enum StepStatus {
    Pending,
    /// Waiting for the presenter's space bar.
    Waiting,
    Running,
    Done,
    Failed(String),
}

/// The scenario panel: steps, the current step, the narration and the expectations.
#[derive(Debug, Default)]
pub struct ScenarioView {
    pub title: String,
    pub description: String,
    pub steps: Vec<(StepInfo, StepStatus)>,
    pub current: Option<usize>,
    /// The last step that started: the one the narration belongs to, so the header names it
    /// (and not the step that waits next).
    pub narrated: Option<usize>,
    pub narration: String,
    /// The checks of the run: until the verdicts arrive, their values are measured live from
    /// the dashboard's projection.
    pub checks: Vec<crate::scenario::Check>,
    /// (name, verdict: None while watched, measured value)
    pub expectations: Vec<(String, Option<Verdict>, String)>,
    pub finished: Option<Verdict>,
    /// Why setup failed, shown in the narration box whatever the screen size.
    pub setup_failed: Option<String>,
    /// The latest remark of the runner (setup progress, ...).
    pub note: Option<String>,
}

/// Scenario files wrap long text over several lines; on screen it reflows to the panel's width,
/// so line breaks become plain spaces (joining them bare would glue words together).
fn one_paragraph(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl ScenarioView {
    pub fn apply(&mut self, e: ScenarioEvent) {
        match e {
            ScenarioEvent::Loaded { title, description, steps } => {
                self.title = title;
                self.narration = one_paragraph(&description);
                self.description = description;
                self.steps = steps.into_iter().map(|s| (s, StepStatus::Pending)).collect();
                self.current = None;
                self.narrated = None;
                self.expectations.clear();
                self.finished = None;
            }
            ScenarioEvent::Waiting { index, text, presenter } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.1 = if presenter { StepStatus::Waiting } else { StepStatus::Pending };
                    s.0.trigger = text;
                }
                self.current = Some(index);
            }
            ScenarioEvent::StepStarted { index, narration } => {
                // The runner runs steps in order: earlier running steps are done.
                for s in self.steps.iter_mut().take(index) {
                    if matches!(s.1, StepStatus::Running | StepStatus::Waiting) {
                        s.1 = StepStatus::Done;
                    }
                }
                if let Some(s) = self.steps.get_mut(index) {
                    s.1 = StepStatus::Running;
                }
                self.current = Some(index);
                self.narrated = Some(index);
                if !narration.is_empty() {
                    self.narration = one_paragraph(&narration);
                }
            }
            ScenarioEvent::Expecting { checks } => self.checks = checks,
            ScenarioEvent::Narration { index, text } => {
                // The waiting step now speaks: the header and the title name it.
                self.narrated = Some(index);
                self.narration = one_paragraph(&text);
            }
            ScenarioEvent::StepFinished { index, ok, message } => {
                if let Some(s) = self.steps.get_mut(index) {
                    s.1 = if ok { StepStatus::Done } else { StepStatus::Failed(message.unwrap_or_default()) };
                }
            }
            ScenarioEvent::Expectation { name, verdict, measured } => {
                match self.expectations.iter_mut().find(|x| x.0 == name) {
                    Some(x) => {
                        x.1 = verdict;
                        x.2 = measured;
                    }
                    None => self.expectations.push((name, verdict, measured)),
                }
            }
            ScenarioEvent::SetupFailed { cause } => {
                self.narration = format!("Setup failed: {cause}");
                self.setup_failed = Some(cause);
            }
            ScenarioEvent::Finished { verdict, .. } => {
                self.finished = Some(verdict);
                for s in self.steps.iter_mut() {
                    if s.1 == StepStatus::Running {
                        s.1 = StepStatus::Done;
                    }
                }
            }
            ScenarioEvent::Note(text) => self.note = Some(text),
            // Shown as a confirmation by the app.
            ScenarioEvent::Action { .. } => {}
        }
    }

    /// Is any step waiting for the presenter?
    pub fn waiting(&self) -> bool {
        self.steps.iter().any(|s| s.1 == StepStatus::Waiting)
    }
}

/// ASCII case-insensitive `hay.contains(needle_lower)` without allocating (it runs per line
/// per frame while a filter is set). `needle_lower` must already be lowercase.
pub fn contains_ci(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}
