//! `ktriage replay`: the console's clock and input come from a recording. Items are applied with
//! their recorded times through the same `update`, so every pane and rule works as it did live;
//! space pauses, `[`/`]` halve and double the speed, `{`/`}` seek a minute (back: the model is
//! rebuilt from the start of the recording up to there, as fast as it goes).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::derived::Derived;
use crate::model::Model;
use crate::record::{Recording, apply, start_model};
use crate::shared::action::Action;

const SEEK: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
const SPEEDS: (f64, f64) = (0.125, 64.0);

pub struct Player {
    rec: Recording,
    /// The next item to apply.
    next: usize,
    /// The recording's time at `wall`.
    at: DateTime<Utc>,
    wall: Instant,
    pub speed: f64,
    pub paused: bool,
}

impl Player {
    pub fn new(rec: Recording, speed: f64) -> Player {
        let at = rec.header.started_at;
        Player {
            rec,
            next: 0,
            at,
            wall: Instant::now(),
            speed: speed.clamp(SPEEDS.0, SPEEDS.1),
            paused: false,
        }
    }

    /// The model the recording starts from, with this console's keymap.
    pub fn start_model(&self, keymap: crate::shared::keymap::Keymap) -> Model {
        start_model(&self.rec.header, keymap)
    }

    /// The replay's clock: the recording's time now.
    pub fn now(&self) -> DateTime<Utc> {
        if self.paused {
            return self.at;
        }
        let gone = self.wall.elapsed().mul_f64(self.speed);
        let t = self.at + chrono::TimeDelta::from_std(gone).unwrap_or_default();
        t.min(self.rec.end())
    }

    fn rebase(&mut self) {
        self.at = self.now();
        self.wall = Instant::now();
    }

    /// When the next item is due on the wall clock (`None`: paused or at the end).
    pub fn next_due(&self) -> Option<tokio::time::Instant> {
        if self.paused {
            return None;
        }
        let t = self.rec.items.get(self.next)?.at()?;
        let ahead = (t - self.now()).to_std().unwrap_or(Duration::ZERO);
        Some(tokio::time::Instant::now() + ahead.div_f64(self.speed))
    }

    /// Apply every item due by the replay's clock; true when any was.
    pub fn step(&mut self, model: &mut Model, derived: &mut Derived) -> bool {
        let now = self.now();
        let start = self.next;
        while let Some(item) = self.rec.items.get(self.next) {
            if item.at().is_some_and(|t| t > now) {
                break;
            }
            apply(model, derived, item);
            self.next += 1;
        }
        self.next != start
    }

    /// A replay key: pause, speed, seek.
    pub fn control(&mut self, action: Action, model: &mut Model, derived: &mut Derived) {
        self.rebase();
        match action {
            Action::ReplayPause => self.paused = !self.paused,
            Action::ReplaySlower => self.speed = (self.speed / 2.0).max(SPEEDS.0),
            Action::ReplayFaster => self.speed = (self.speed * 2.0).min(SPEEDS.1),
            Action::ReplayForward => {
                self.at = (self.at + SEEK).min(self.rec.end());
                self.step(model, derived);
            }
            Action::ReplayBack => {
                let target = (self.at - SEEK).max(self.rec.header.started_at);
                let mut fresh = self.start_model(model.keymap.clone());
                fresh.ui = model.ui.clone();
                *model = fresh;
                *derived = Derived::default();
                self.next = 0;
                self.at = target;
                self.step(model, derived);
            }
            _ => {}
        }
        model.ui.replay = Some(self.label());
    }

    /// The status bar's `replay 01:02:10 of 01:15:00 ×4 · paused`.
    pub fn label(&self) -> String {
        let now = self.now();
        let end = self.rec.end();
        let mut s = format!(
            "replay {} of {} ×{}",
            now.format("%H:%M:%S"),
            end.format("%H:%M:%S"),
            self.speed
        );
        if self.paused {
            s.push_str(" · paused");
        } else if self.next >= self.rec.items.len() {
            s.push_str(" · ended");
        }
        s
    }
}
