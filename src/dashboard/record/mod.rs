//! Recording a dashboard session (`--record FILE`) and reading it back (`faultline replay`).
//!
//! Everything the dashboard shows comes from [`AppEvent`]s folded by the pure [`App::update`]:
//! engine events, pod states, logs, scenario progress and narration, action results, ticks of
//! the clock and the keys pressed. A recording is that sequence, so a replay feeds the same
//! events to the same `App` and draws the same screens, with no engine and no Docker.
//!
//! The file is JSON lines (docs/recording-format.md): a [`Header`] line
//! (`{"format":"faultline-recording","version":1,...}`), then one line per event,
//! `{"t":<ms since the start>,"type":"<event>","data":...}`. It is written as the session
//! goes and flushed after every burst of events, so a crash loses at most the last burst, and
//! a line cut short by the crash is skipped when reading.
//!
//! Layout:
//! - this file: the format ([`Header`], [`Entry`]), [`Recorder`] and [`Tap`], the one door
//!   through which the live dashboard feeds its app (and records what goes in);
//! - `reader`: [`Recording`], reading a file back with errors that say what to do;
//! - `key_text`: keys as short text (`q`, `space`, `ctrl+c`).

pub mod key_text;
mod reader;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use reader::Recording;

use super::app::{App, AppOptions, NewOrder};
use super::event::{ActionRequest, AppEvent};
use super::theme::ThemeName;
use crate::runtime::{self, Describe, Project, RuntimeKind};

/// The first line's `format`.
pub const FORMAT: &str = "faultline-recording";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;

/// The first line of a recording: what the session was and how its app was set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] of the writer; a reader refuses a newer one.
    pub version: u32,
    /// The Faultline version that wrote it.
    pub faultline: String,
    /// Wall-clock time of the start, in ms since the Unix epoch; every `t` counts from here.
    pub started_at_ms: i64,
    /// What was run: the scenario file, or `attach`.
    pub title: String,
    /// `dark` or `light`.
    pub theme: String,
    pub engine_url: String,
    pub task_queue: String,
    /// The workflow ids the scenario run owned (the screen showed only those); `null` when
    /// every workflow of the engine was shown.
    pub orders: Option<Vec<String>>,
    /// The twin's order ids when the scenario ran the dual-write twin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twin_orders: Option<Vec<String>>,
    /// What `n` started.
    pub new_order: NewOrderRecord,
    pub leave_pods_running: Option<bool>,
    /// The notice shown at the start (e.g. "running pods as local processes").
    pub notice: Option<String>,
    /// The pod runtime, when there was one: enough to name pods and show their equivalent
    /// commands again.
    pub runtime: Option<RuntimeRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewOrderRecord {
    pub workflow_type: String,
    pub task_queue: String,
}

/// The runtime of the recorded session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeRecord {
    /// `docker` or `local`.
    pub kind: String,
    pub project: String,
    pub port_offset: u16,
    /// Where the compose file was (named in equivalent commands).
    pub compose_path: String,
    /// The compose file's text: the topology, without needing the file.
    pub compose: String,
}

/// One event line: when (ms since the start) and the event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub t: i64,
    #[serde(flatten)]
    pub event: AppEvent,
}

/// Why a recording could not be written or read; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot write the recording {path}: {source}; choose a writable path for --record")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("writing the recording {path} failed: {source}; what was written before is kept (check the disk space)")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {path}: {source}; give the path of a file written with --record")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{path} is empty: the recording was never started; record again with `faultline run SCENARIO --record FILE`")]
    Empty { path: PathBuf },
    #[error("{path} is not a Faultline recording ({why}); give a file written with --record")]
    NotARecording { path: PathBuf, why: String },
    #[error(
        "{path} was written by a newer Faultline (recording format version {found}; this one reads up to {VERSION}); \
         replay it with Faultline {faultline} or newer"
    )]
    Newer { path: PathBuf, found: u32, faultline: String },
    #[error(
        "{path} is damaged at line {line}: {why}; replay what comes before with \
         `head -n {keep} {path} > fixed.flrec && faultline replay fixed.flrec`",
        keep = line - 1
    )]
    Corrupt { path: PathBuf, line: usize, why: String },
    #[error("the topology recorded from {1} cannot be read: {0}; record the session again with this Faultline")]
    Runtime(runtime::RuntimeError, String),
}

/// What a session records besides its events: where to, and the compose file it ran.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    pub path: PathBuf,
    /// The compose file of the session, kept in the header (for the pods' commands).
    pub compose: Option<PathBuf>,
    /// What was run, e.g. the scenario file.
    pub title: String,
}

/// Writes a recording as the session goes.
pub struct Recorder {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    started_at_ms: i64,
    /// The first write error; recording stops there (the talk goes on).
    failed: Option<std::io::Error>,
    reported: bool,
    pending: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recorder({})", self.path.display())
    }
}

impl Recorder {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path, header: &Header) -> Result<Recorder, RecordError> {
        let file = File::create(path).map_err(|source| RecordError::Create { path: path.to_path_buf(), source })?;
        let mut r = Recorder {
            path: path.to_path_buf(),
            out: Some(BufWriter::new(file)),
            started_at_ms: header.started_at_ms,
            failed: None,
            reported: false,
            pending: false,
        };
        r.write_line(&serde_json::to_string(header).map_err(|e| RecordError::Create { path: path.to_path_buf(), source: e.into() })?);
        r.flush();
        match r.failed.take() {
            Some(source) => Err(RecordError::Create { path: path.to_path_buf(), source }),
            None => Ok(r),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event seen at `now_ms`.
    pub fn record(&mut self, now_ms: i64, event: &AppEvent) {
        if self.out.is_none() {
            return;
        }
        let entry = EntryRef { t: now_ms - self.started_at_ms, event };
        match serde_json::to_string(&entry) {
            Ok(line) => self.write_line(&line),
            Err(e) => self.fail(e.into()),
        }
    }

    fn write_line(&mut self, line: &str) {
        let Some(out) = &mut self.out else { return };
        let res = out.write_all(line.as_bytes()).and_then(|_| out.write_all(b"\n"));
        match res {
            Ok(()) => self.pending = true,
            Err(e) => self.fail(e),
        }
    }

    /// Pushes what was recorded to the file (after each burst of events).
    pub fn flush(&mut self) {
        if !std::mem::take(&mut self.pending) {
            return;
        }
        if let Some(out) = &mut self.out {
            if let Err(e) = out.flush() {
                self.fail(e);
            }
        }
    }

    fn fail(&mut self, e: std::io::Error) {
        self.out = None;
        self.failed.get_or_insert(e);
    }

    /// The write error, once: to be shown where the user sees it.
    pub fn take_failure(&mut self) -> Option<RecordError> {
        if self.reported {
            return None;
        }
        let source = self.failed.as_ref()?;
        self.reported = true;
        Some(RecordError::Write { path: self.path.clone(), source: std::io::Error::new(source.kind(), source.to_string()) })
    }

    /// Flushes and closes the file; the first write error, if any.
    pub fn finish(mut self) -> Result<(), RecordError> {
        self.pending = true;
        self.flush();
        self.out = None;
        match self.failed.take() {
            Some(source) => Err(RecordError::Write { path: self.path, source }),
            None => Ok(()),
        }
    }
}

/// [`Entry`] borrowing its event, for writing without a clone.
#[derive(Serialize)]
struct EntryRef<'a> {
    t: i64,
    #[serde(flatten)]
    event: &'a AppEvent,
}

/// The one door into the live app: each event is recorded (when recording) and then folded.
#[derive(Debug, Default)]
pub struct Tap {
    recorder: Option<Recorder>,
}

impl Tap {
    pub fn new(recorder: Option<Recorder>) -> Tap {
        Tap { recorder }
    }

    /// Records `ev` at `now_ms`, then lets the app fold it.
    pub fn apply(&mut self, app: &mut App, now_ms: i64, ev: AppEvent) -> Vec<ActionRequest> {
        if let Some(r) = &mut self.recorder {
            // A released key changes nothing (the app ignores it): not worth a line.
            let released = matches!(&ev, AppEvent::Key(k) if k.kind == crossterm::event::KeyEventKind::Release);
            if !released {
                r.record(now_ms, &ev);
            }
        }
        app.update(ev)
    }

    /// After a burst: flushes, and tells the user once if recording stopped.
    pub fn flush(&mut self, app: &mut App) {
        if let Some(r) = &mut self.recorder {
            r.flush();
            if let Some(e) = r.take_failure() {
                app.inform(e.to_string());
            }
        }
    }

    /// Closes the recording; where it is, or why it is incomplete.
    pub fn finish(self) -> Option<Result<PathBuf, RecordError>> {
        let r = self.recorder?;
        let path = r.path().to_path_buf();
        Some(r.finish().map(|_| path))
    }
}

impl Header {
    /// The header of a session about to start with `opts`.
    pub fn new(rec: &RecordOptions, opts: &AppOptions, started_at_ms: i64, notice: Option<String>) -> Header {
        let runtime = opts.runtime.as_ref().and_then(|rt| {
            let path = rec.compose.as_ref()?;
            let compose = std::fs::read_to_string(path).ok()?;
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            Some(RuntimeRecord {
                kind: rt.kind().to_string(),
                project: rt.project().name().to_string(),
                port_offset: rt.project().port_offset(),
                compose_path: path.display().to_string(),
                compose,
            })
        });
        Header {
            format: FORMAT.into(),
            version: VERSION,
            faultline: env!("CARGO_PKG_VERSION").into(),
            started_at_ms,
            title: rec.title.clone(),
            theme: match opts.theme {
                ThemeName::Dark => "dark".into(),
                ThemeName::Light => "light".into(),
            },
            engine_url: opts.engine_url.clone(),
            task_queue: opts.task_queue.clone(),
            orders: opts.orders.clone(),
            twin_orders: opts.twin_orders.clone(),
            new_order: NewOrderRecord { workflow_type: opts.new_order.workflow_type.clone(), task_queue: opts.new_order.task_queue.clone() },
            leave_pods_running: opts.leave_pods_running,
            notice,
            runtime,
        }
    }

    /// The app's settings as they were recorded (`theme` overrides the recorded one). The
    /// runtime is described from the recorded compose text, connected to nothing.
    pub fn app_options(&self, theme: Option<ThemeName>) -> Result<AppOptions, RecordError> {
        let runtime = match &self.runtime {
            None => None,
            Some(r) => Some(describe(r).map_err(|e| RecordError::Runtime(e, r.compose_path.clone()))?),
        };
        Ok(AppOptions {
            theme: theme.unwrap_or(if self.theme == "light" { ThemeName::Light } else { ThemeName::Dark }),
            engine_url: self.engine_url.clone(),
            task_queue: self.task_queue.clone(),
            runtime,
            leave_pods_running: self.leave_pods_running,
            new_order: NewOrder { workflow_type: self.new_order.workflow_type.clone(), task_queue: self.new_order.task_queue.clone() },
            orders: self.orders.clone(),
            twin_orders: self.twin_orders.clone(),
        })
    }

    /// A fresh app as the recorded session started it.
    pub fn new_app(&self, theme: Option<ThemeName>) -> Result<App, RecordError> {
        Ok(start_app(self.app_options(theme)?, self.started_at_ms, self.notice.clone()))
    }
}

/// The app as a session starts it, live or replayed: its settings, the time, and the notice
/// shown first (the one thing that is not an event).
pub fn start_app(opts: AppOptions, now_ms: i64, notice: Option<String>) -> App {
    let mut app = App::new(opts, now_ms);
    if let Some(n) = notice {
        app.inform(n);
    }
    app
}

fn describe(r: &RuntimeRecord) -> Result<Arc<dyn Describe>, runtime::RuntimeError> {
    let kind = if r.kind == "local" { RuntimeKind::Local } else { RuntimeKind::Docker };
    let project = Project::new(&r.project, r.port_offset)?;
    runtime::describe_recorded(&r.compose, Path::new(&r.compose_path), &project, kind)
}
