//! `faultline replay FILE`: a recorded session played back in the same dashboard, with no
//! engine and no Docker (for when the conference laptop fails, and for sharing a talk).
//!
//! [`Player`] feeds a recording's events to a fresh [`App`] in order, exactly as the live
//! session's [`super::record::Tap`] fed them, so every screen is the one the audience saw; the
//! app's requests for I/O are dropped (their recorded results arrive as events). The
//! interactive loop ([`replay`]) paces the events by their recorded times divided by the speed;
//! the viewer's keys steer the playback only: space pauses, `.` or → steps to the next change
//! while paused, `+` and `-` double and halve the speed, `q` quits. The asciicast export
//! (`cast`) drives the same player without a terminal.

use std::path::Path;
use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::App;
use super::record::{Entry, Header, RecordError, Recording};
use super::theme::ThemeName;

/// A recording being fed to an app.
#[derive(Debug)]
pub struct Player {
    pub app: App,
    recording: Recording,
    next: Option<Entry>,
    /// Recorded time (ms since the start) of the last entry applied.
    pub position_ms: i64,
}

impl Player {
    /// Opens a recording; `theme` overrides the recorded one.
    pub fn open(path: &Path, theme: Option<ThemeName>) -> Result<Player, RecordError> {
        let mut recording = Recording::open(path)?;
        let app = recording.header.new_app(theme)?;
        let next = recording.next_entry().transpose()?;
        Ok(Player { app, recording, next, position_ms: 0 })
    }

    pub fn header(&self) -> &Header {
        &self.recording.header
    }

    /// Recorded time of the next entry; `None` at the end.
    pub fn next_at(&self) -> Option<i64> {
        self.next.as_ref().map(|e| e.t)
    }

    pub fn finished(&self) -> bool {
        self.next.is_none()
    }

    /// The line a damaged last line was skipped at (a crash while recording), once at the end.
    pub fn cut_short_at(&self) -> Option<usize> {
        self.recording.cut_short_at()
    }

    /// Applies the next entry.
    pub fn step(&mut self) -> Result<bool, RecordError> {
        let Some(entry) = self.next.take() else { return Ok(false) };
        self.position_ms = self.position_ms.max(entry.t);
        // What the live app asked to do happened then; its outcome is in the recording.
        let _requests = self.app.update(entry.event);
        self.next = self.recording.next_entry().transpose()?;
        Ok(true)
    }

    /// Applies every entry recorded up to `t_ms`; how many.
    pub fn advance_to(&mut self, t_ms: i64) -> Result<usize, RecordError> {
        let mut n = 0;
        while self.next_at().is_some_and(|at| at <= t_ms) {
            self.step()?;
            n += 1;
        }
        self.position_ms = self.position_ms.max(t_ms.min(self.next_at().unwrap_or(t_ms)));
        Ok(n)
    }

    /// Applies entries until the screen would change (paused stepping); false at the end.
    pub fn step_to_change(&mut self) -> Result<bool, RecordError> {
        let mut changed = false;
        while self.step()? {
            changed |= self.app.take_dirty();
            // Entries recorded at the same instant belong to one frame.
            if changed && self.next_at() != Some(self.position_ms) {
                break;
            }
        }
        if changed {
            self.app.mark();
        }
        Ok(changed)
    }
}

/// Why a replay ended badly.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("the terminal could not be used ({0}); replay in an interactive terminal, or export with --to-cast")]
    Terminal(#[from] std::io::Error),
    #[error("--speed must be above 0 and at most 1000 (got {0}); 1 plays at the recorded pace, 4 four times faster")]
    Speed(f64),
}

/// Checks a replay speed.
pub fn check_speed(speed: f64) -> Result<f64, ReplayError> {
    if speed.is_finite() && speed > 0.0 && speed <= 1000.0 {
        Ok(speed)
    } else {
        Err(ReplayError::Speed(speed))
    }
}

/// Plays the recording in the terminal until its end and the viewer quits.
pub async fn replay(path: &Path, speed: f64, theme: Option<ThemeName>) -> Result<(), ReplayError> {
    let speed = check_speed(speed)?;
    let mut player = Player::open(path, theme)?;
    let mut terminal = ratatui::try_init()?;
    let result = play(&mut terminal, &mut player, speed).await;
    let restored = ratatui::try_restore();
    result?;
    restored?;
    if let Some(line) = player.cut_short_at() {
        eprintln!("The recording's last line ({line}) was cut short (the recording session ended abruptly); everything before it was played.");
    }
    Ok(())
}

/// Playback state the viewer steers.
struct Controls {
    speed: f64,
    paused: bool,
    /// Recorded time at `since`, and the wall-clock instant it was.
    anchor_ms: i64,
    since: tokio::time::Instant,
}

impl Controls {
    /// Recorded time now.
    fn position(&self) -> i64 {
        if self.paused {
            self.anchor_ms
        } else {
            self.anchor_ms + (self.since.elapsed().as_secs_f64() * 1000.0 * self.speed) as i64
        }
    }

    fn re_anchor(&mut self, at_ms: i64) {
        self.anchor_ms = at_ms;
        self.since = tokio::time::Instant::now();
    }
}

async fn play(terminal: &mut ratatui::DefaultTerminal, player: &mut Player, speed: f64) -> Result<(), ReplayError> {
    let mut keys = EventStream::new();
    let mut c = Controls { speed, paused: false, anchor_ms: 0, since: tokio::time::Instant::now() };
    let mut force = true;
    loop {
        if !c.paused {
            player.advance_to(c.position())?;
        }
        if player.app.take_dirty() || force {
            let badge = badge_text(&c, player);
            terminal.draw(|f| {
                super::ui::draw(f, &player.app);
                draw_badge(f, &player.app, &badge);
            })?;
            force = false;
        }
        let wait = match (c.paused, player.next_at()) {
            (false, Some(at)) => Duration::from_millis((((at - c.position()).max(0) as f64) / c.speed) as u64),
            _ => Duration::from_secs(3600),
        };
        tokio::select! {
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    force = true;
                    match k.code {
                        KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
                        KeyCode::Char(' ') => {
                            let at = c.position();
                            c.paused = !c.paused;
                            c.re_anchor(at);
                        }
                        KeyCode::Char('.') | KeyCode::Right if c.paused => {
                            player.step_to_change()?;
                            c.re_anchor(player.position_ms);
                        }
                        KeyCode::Char('+') | KeyCode::Char('=') => {
                            let at = c.position();
                            c.speed = (c.speed * 2.0).min(1000.0);
                            c.re_anchor(at);
                        }
                        KeyCode::Char('-') => {
                            let at = c.position();
                            c.speed = (c.speed / 2.0).max(0.125);
                            c.re_anchor(at);
                        }
                        _ => {}
                    }
                }
                Some(Ok(Event::Resize(..))) => force = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(ReplayError::Terminal(e)),
                None => return Ok(()),
            },
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// ` ▶ REPLAY 2x 01:23 ` and what the keys do.
fn badge_text(c: &Controls, player: &Player) -> String {
    let at = player.position_ms / 1000;
    let clock = format!("{:02}:{:02}", at / 60, at % 60);
    let speed = if c.speed.fract() == 0.0 { format!("{}x", c.speed) } else { format!("{:.2}x", c.speed) };
    if player.finished() {
        format!(" ■ END OF RECORDING {clock} · q quits ")
    } else if c.paused {
        format!(" ⏸ PAUSED {clock} · space plays · . steps ")
    } else {
        format!(" ▶ REPLAY {speed} {clock} · space pauses · +/- speed ")
    }
}

/// The replay badge over the right end of the header row.
fn draw_badge(f: &mut Frame, app: &App, text: &str) {
    let area = f.area();
    let w = (text.chars().count() as u16).min(area.width);
    let r = Rect { x: area.x + area.width - w, y: area.y, width: w, height: 1.min(area.height) };
    f.render_widget(Paragraph::new(Span::styled(text.to_string(), app.theme.selected())), r);
}
