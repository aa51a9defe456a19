//! Keys of the race view: `w` toggles it; Tab moves between the orders and the counters;
//! ↑↓ pick an order (its histories are aligned below) or a counter, ←→ a side's counter;
//! Enter on a counter opens its witness. The global keys (`q`, `?`, `$`, space, `n`) keep
//! working; the workflow and pod actions wait until the view is closed, since their target
//! is not on screen.

use crossterm::event::{KeyCode, KeyEvent};

use super::{RaceFocus, KINDS};
use crate::checker::Side;
use crate::dashboard::app::{App, Overlay};
use crate::dashboard::event::ActionRequest;

impl App {
    /// `w`: opens or closes the race view, or says why there is none.
    pub(in crate::dashboard) fn toggle_race(&mut self) {
        if self.race.open {
            self.race.open = false;
        } else if self.race.available {
            self.race.open = true;
            self.timeline = false;
        } else {
            self.inform(
                "no dual-write twin in this run: `w` compares both engines in a race scenario (`faultline run scenarios/race-lost-task.toml`)"
                    .into(),
            );
        }
    }

    /// A key while the race view is open: `Some` when handled here, `None` for the global
    /// handling.
    pub(in crate::dashboard) fn race_key(&mut self, k: KeyEvent) -> Option<Vec<ActionRequest>> {
        match k.code {
            KeyCode::Char('w') | KeyCode::Esc => self.race.open = false,
            KeyCode::Tab | KeyCode::BackTab => {
                self.race.focus = match self.race.focus {
                    RaceFocus::Orders => RaceFocus::Counters,
                    RaceFocus::Counters => RaceFocus::Orders,
                }
            }
            KeyCode::Down | KeyCode::Char('j') => self.race_move(1),
            KeyCode::Up | KeyCode::Char('k') => self.race_move(-1),
            KeyCode::PageDown => self.race_move(10),
            KeyCode::PageUp => self.race_move(-10),
            KeyCode::Left | KeyCode::Char('h') => self.race.counter.0 = 0,
            KeyCode::Right | KeyCode::Char('l') => self.race.counter.0 = 1,
            KeyCode::Enter => match self.race.focus {
                RaceFocus::Orders => self.race.focus = RaceFocus::Counters,
                RaceFocus::Counters => self.open_witness(),
            },
            KeyCode::Char('q' | '?' | '$' | ' ' | 'n') => return None,
            _ => {}
        }
        Some(Vec::new())
    }

    fn race_move(&mut self, by: i64) {
        let step = |cur: usize, len: usize| (cur as i64 + by).clamp(0, len.saturating_sub(1) as i64) as usize;
        match self.race.focus {
            RaceFocus::Counters => self.race.counter.1 = step(self.race.counter.1, KINDS.len()),
            RaceFocus::Orders => {
                let keys: Vec<String> = self.race.pairs(&self.store).into_iter().map(|p| p.0).collect();
                if keys.is_empty() {
                    return;
                }
                let cur = self.race_selected_key().and_then(|k| keys.iter().position(|x| *x == k)).unwrap_or(0);
                self.race.order = Some(keys[step(cur, keys.len())].clone());
            }
        }
    }

    /// The selected counter's side.
    pub fn race_counter_side(&self) -> Side {
        if self.race.counter.0 == 0 {
            Side::Transactional
        } else {
            Side::DualWrite
        }
    }

    fn open_witness(&mut self) {
        let side = self.race_counter_side();
        let kind = KINDS[self.race.counter.1.min(KINDS.len() - 1)];
        let n = self.race.report().and_then(|r| r.side(side)).map(|s| s.of(kind).count()).unwrap_or(0);
        if n == 0 {
            self.inform(format!("no {} on the {} side: nothing to witness", kind.title(), side.title()));
            return;
        }
        self.overlay = Overlay::Witness;
        self.json_scroll = 0;
    }
}
