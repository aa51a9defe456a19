//! The live terminal dashboard (ratatui + crossterm).
//!
//! The state is pure: [`App::update`] folds an [`AppEvent`] (a stream event, a pod status, a log
//! line, a key, a tick of the injected clock, ...) into the state and returns
//! [`ActionRequest`]s; it never does I/O. [`ui::draw`] renders the state, one file per panel.
//! The `run` module owns the terminal and the event loop, runs every engine and Docker call in
//! tokio tasks, and feeds their results back as events.
//!
//! Layout:
//! - `app`, `keys`: the state and the key bindings.
//! - the workflows come from [`crate::projection`], the one fold of the event stream.
//! - `views`: pods, logs and scenario panel state.
//! - `event`: [`AppEvent`] and [`ActionRequest`].
//! - `race`: the race view (`w`): the dual-write twin's side, the faults, the checker.
//! - `link`: what the scenario panel needs of a run ([`ScenarioEvent`]), from the runner's events.
//! - `commands`: the equivalent CLI / curl command of every action.
//! - `theme`, `ui`: colours and drawing (time is injected through [`crate::clock`]).
//! - `run`: terminal, event loop, I/O tasks; [`run_dashboard`]. `rebuild`: the workshop loop.
//! - `launch`: what the CLI calls: validate, choose the runtime, build images, then run.
//! - `record`: `--record FILE` (every event the app folds, with its time); `replay`: playing
//!   a recording in the same dashboard; `cast`: exporting one to asciicast v2.

pub mod app;
pub mod cast;
pub mod commands;
pub mod event;
mod keys;
pub mod launch;
pub mod link;
pub mod race;
mod rebuild;
pub mod record;
pub mod replay;
pub mod run;
pub mod theme;
pub mod ui;
pub mod views;

pub use app::{App, AppOptions, NewOrder, Panel, StatusFilter};
pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use event::{ActionRequest, AppEvent};
pub use link::{from_run_event, ScenarioEvent, StepInfo};
pub use run::{run_dashboard, DashboardError, DashboardExit, DashboardOptions};
pub use theme::{Theme, ThemeName};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod scenario_screens;
#[cfg(test)]
mod replay_tests;
#[cfg(test)]
mod timeline_tests;
#[cfg(test)]
mod race_tests;
