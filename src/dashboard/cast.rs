//! `faultline replay FILE --to-cast OUT.cast`: a recording rendered to asciinema's asciicast
//! v2 (a JSON header line, then `[seconds, "o", "<terminal output>"]` lines), so a run can be
//! posted and played with `asciinema play` or the web player.
//!
//! The [`Player`] feeds the recording to the app; each time the screen changes, ratatui's
//! crossterm backend draws the frame into memory, and the ANSI bytes it would have sent to a
//! terminal (only the cells that changed) become one output event at the recorded time
//! divided by the speed. Events recorded within one frame interval are drawn together.

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde::Serialize;

use super::record::RecordError;
use super::replay::{check_speed, Player, ReplayError};
use super::theme::ThemeName;

/// A frame at most every this many recorded milliseconds (10 per second, the dashboard's own
/// fastest tick).
const FRAME_MS: i64 = 100;

const HIDE_CURSOR: &str = "\u{1b}[?25l";

/// How to export.
#[derive(Debug, Clone)]
pub struct CastOptions {
    pub out: PathBuf,
    pub width: u16,
    pub height: u16,
    pub speed: f64,
    pub theme: Option<ThemeName>,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct CastSummary {
    pub frames: usize,
    /// Length of the cast, in seconds.
    pub duration_s: f64,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum CastError {
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("cannot write {path}: {source}; choose a writable path for --to-cast")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("--size must be WIDTHxHEIGHT, at least 20x5 and at most 1000x500 (got `{0}`), e.g. 100x30")]
    Size(String),
}

impl From<RecordError> for CastError {
    fn from(e: RecordError) -> Self {
        CastError::Replay(ReplayError::Record(e))
    }
}

/// `100x30` -> (100, 30).
pub fn parse_size(s: &str) -> Result<(u16, u16), CastError> {
    let bad = || CastError::Size(s.to_string());
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u16, u16) = (w.trim().parse().map_err(|_| bad())?, h.trim().parse().map_err(|_| bad())?);
    if !(20..=1000).contains(&w) || !(5..=500).contains(&h) {
        return Err(bad());
    }
    Ok((w, h))
}

/// The asciicast v2 header line.
#[derive(Serialize)]
struct CastHeader<'a> {
    version: u32,
    width: u16,
    height: u16,
    timestamp: i64,
    title: String,
    env: CastEnv<'a>,
}

#[derive(Serialize)]
struct CastEnv<'a> {
    #[serde(rename = "TERM")]
    term: &'a str,
}

/// The bytes the crossterm backend writes, collected in memory between frames.
#[derive(Clone, Default)]
struct Captured(Rc<RefCell<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.borrow_mut())).into_owned()
    }
}

/// Renders the recording at `recording` into an asciicast file.
pub fn export(recording: &Path, o: &CastOptions) -> Result<CastSummary, CastError> {
    let speed = check_speed(o.speed)?;
    let mut player = Player::open(recording, o.theme)?;
    let write_err = |source: std::io::Error| CastError::Write { path: o.out.clone(), source };
    let file = std::fs::File::create(&o.out).map_err(write_err)?;
    let mut out = std::io::BufWriter::new(file);
    let header = CastHeader {
        version: 2,
        width: o.width,
        height: o.height,
        timestamp: player.header().started_at_ms / 1000,
        title: format!("Faultline: {}", player.header().title),
        env: CastEnv { term: "xterm-256color" },
    };
    writeln!(out, "{}", serde_json::to_string(&header).map_err(|e| write_err(e.into()))?).map_err(write_err)?;

    let captured = Captured::default();
    let viewport = Viewport::Fixed(Rect::new(0, 0, o.width, o.height));
    let mut terminal =
        Terminal::with_options(CrosstermBackend::new(captured.clone()), TerminalOptions { viewport }).map_err(write_err)?;
    // `Terminal::clear` asks the terminal where its cursor is, and there is no terminal here:
    // clear the whole screen through the backend, which only writes the escape sequence.
    ratatui::backend::Backend::clear(terminal.backend_mut()).map_err(write_err)?;
    let mut frames = 0;
    let mut last_s = 0.0;
    loop {
        terminal.draw(|f| super::ui::draw(f, &player.app)).map_err(write_err)?;
        let at_s = player.position_ms as f64 / 1000.0 / speed;
        let bytes = captured.take();
        // Every draw hides the cursor again; a frame with nothing else changed nothing.
        if !bytes.is_empty() && bytes != HIDE_CURSOR {
            let event = serde_json::to_string(&(round_ms(at_s), "o", bytes)).map_err(|e| write_err(e.into()))?;
            writeln!(out, "{event}").map_err(write_err)?;
            frames += 1;
            last_s = at_s;
        }
        // The next frame: everything recorded within one frame interval of the next entry.
        let Some(next) = player.next_at() else { break };
        player.advance_to(next - next.rem_euclid(FRAME_MS) + FRAME_MS - 1)?;
        while !player.app.take_dirty() {
            let Some(next) = player.next_at() else { break };
            player.advance_to(next - next.rem_euclid(FRAME_MS) + FRAME_MS - 1)?;
        }
    }
    out.flush().map_err(write_err)?;
    Ok(CastSummary { frames, duration_s: last_s })
}

/// Seconds with millisecond precision (asciicast times are floats).
fn round_ms(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}
