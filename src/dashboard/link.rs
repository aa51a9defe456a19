//! The dashboard's side of the scenario runner (src/scenario/runner): [`ScenarioEvent`] is what
//! the screen needs of a run, and [`from_run_event`] translates the runner's events into it.
//!
//! Keeping the app's own small enum (instead of the runner's types) lets tests feed a scenario
//! to the pure [`crate::dashboard::App`] without a runner, and keeps the panel independent of
//! the runner's bookkeeping (counts, reports).

use crate::scenario::report::Verdict;
use crate::scenario::runner::RunEvent;

/// One step of a scenario as listed on screen.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepInfo {
    /// Short title, e.g. "Deploy the fixed payment pod".
    pub title: String,
    /// What starts it, as text: "presenter (space)", "at 10s", "when retrying >= 5".
    pub trigger: String,
}

/// What the scenario panel is told (and what a recording keeps of it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioEvent {
    /// The scenario was loaded: its title, description and steps.
    Loaded { title: String, description: String, steps: Vec<StepInfo> },
    /// Step `index` (0-based) waits for its trigger; `presenter` when that is the space bar.
    Waiting { index: usize, text: String, presenter: bool },
    /// Step `index` started; its narration line is shown in large text.
    StepStarted { index: usize, narration: String },
    /// The checks the run will judge (their values are shown live until the verdicts come).
    Expecting { checks: Vec<crate::scenario::Check> },
    /// Step `index` waits for its condition, which does not hold yet: this narration replaces
    /// the previous step's until it does.
    Narration { index: usize, text: String },
    /// Step `index` finished (ok, or failed with a message).
    StepFinished { index: usize, ok: bool, message: Option<String> },
    /// The runner did something (a pod action, starting orders): confirmed on screen.
    Action { text: String, ok: bool, detail: Option<String> },
    /// A remark (setup progress, ...).
    Note(String),
    /// Setup failed: the cause, for the narration box (e.g. "127.0.0.1:7233 is already in use").
    SetupFailed { cause: String },
    /// An expectation was checked: `verdict` is `None` while it is still being watched.
    Expectation { name: String, verdict: Option<Verdict>, measured: String },
    /// The scenario ended; `race`: the race checker's report, when the run had one.
    Finished {
        verdict: Verdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        race: Option<Box<crate::checker::CheckReport>>,
    },
}

/// The runner's event as the dashboard shows it (`None` for what the dashboard gets elsewhere:
/// counts and the engine link come from its own event stream).
pub fn from_run_event(e: RunEvent) -> Option<ScenarioEvent> {
    Some(match e {
        RunEvent::Plan { title, description, steps, .. } => ScenarioEvent::Loaded {
            title,
            description,
            steps: steps.into_iter().map(|s| StepInfo { title: s.title, trigger: s.gate }).collect(),
        },
        RunEvent::Note { text, .. } => ScenarioEvent::Note(text),
        RunEvent::Waiting { step, text, presenter } => ScenarioEvent::Waiting { index: step, text, presenter },
        RunEvent::SetupFailed { cause, .. } => ScenarioEvent::SetupFailed { cause },
        RunEvent::StepStarted { step, narration, .. } => ScenarioEvent::StepStarted { index: step, narration },
        RunEvent::Narration { step, text, .. } => ScenarioEvent::Narration { index: step, text },
        RunEvent::Expecting { checks } => ScenarioEvent::Expecting { checks },
        RunEvent::Action { text, ok, detail, .. } => ScenarioEvent::Action { text, ok, detail },
        RunEvent::Expectation(r) => ScenarioEvent::Expectation { name: r.expectation, verdict: Some(r.verdict), measured: r.measured },
        RunEvent::Finished(report) => ScenarioEvent::Finished { verdict: report.verdict, race: report.race.map(Box::new) },
        RunEvent::Counts { .. } | RunEvent::Engine { .. } => return None,
    })
}
