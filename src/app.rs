//! The TUI: the one event loop. It owns the `Model` and, beside it, the data derived from it
//! ([`Derived`]); it drains messages, calls `update`, executes the returned effects and draws at
//! most every 33 ms, and only when something changed.

mod clipboard;
mod frames;
mod pace;
mod player;
mod recording;

use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::derived::Derived;
use crate::kube::sources::view::ViewTask;
use crate::model::Model;
use crate::msg::Msg;
use crate::session::Session;
use crate::ui::{self, Theme};
use crate::update::{Effect, apply_in, update_in};
use clipboard::copy;
pub use clipboard::osc52;
pub use frames::FRAME;
use frames::{Frames, Milestones};
use pace::Pace;
use recording::Recording;

/// The clock re-evaluates the time-based rules (stale leases, storm windows, certificate expiry)
/// every this many one-second ticks; the ages on screen are redrawn every tick.
const RULES_CLOCK_TICKS: u64 = 5;

/// At most this many queued messages are applied before the rules run and a frame is drawn.
const DRAIN_MAX: usize = 4096;

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    Signal(&'static str),
    TerminalGone,
}

/// The signals that end the console.
struct Signals {
    hup: Signal,
    term: Signal,
    int: Signal,
    quit: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            quit: signal(SignalKind::quit())?,
        })
    }
}

/// Everything the loop owns.
struct Console {
    session: Session,
    model: Model,
    derived: Derived,
    theme: Theme,
    tx: mpsc::Sender<Msg>,
    rx: mpsc::Receiver<Msg>,
    sources: Vec<JoinHandle<()>>,
    view_task: ViewTask,
    terminal: crate::term::Term,
    frames: Frames,
    pace: Pace,
    ticks: u64,
    /// The start-up milestones the log records.
    milestones: Milestones,
    recording: Recording,
    /// `ktriage replay`: the recording that feeds the console instead of sources.
    player: Option<player::Player>,
}

/// Run the console until the user quits, a signal arrives or the terminal goes away.
pub async fn run(session: Session) -> std::io::Result<Exit> {
    // A closed or redirected stdin means nobody can type: do not take over a terminal at all.
    if !stdin_is_terminal() {
        return Err(std::io::Error::other(
            "standard input is closed or not a terminal; the console needs one (`ktriage report` runs without)",
        ));
    }
    let mut signals = Signals::new()?;
    let mut console = Console::start(session, None)?;
    console.start_recording();
    let exit = console.run(&mut signals).await;
    console.stop();
    tracing::info!(?exit, "ktriage stopped");
    Ok(exit)
}

/// `ktriage replay FILE`: the console on a recording. No source starts and no cluster client
/// exists: the session is offline and the model is read-only.
pub async fn replay(
    session: Session,
    rec: crate::record::Recording,
    speed: f64,
) -> std::io::Result<Exit> {
    if !stdin_is_terminal() {
        return Err(std::io::Error::other(
            "standard input is closed or not a terminal; `ktriage timeline FILE` prints a recording without one",
        ));
    }
    let mut signals = Signals::new()?;
    let mut console = Console::start(session, Some(player::Player::new(rec, speed)))?;
    let exit = console.run(&mut signals).await;
    console.stop();
    tracing::info!(?exit, "replay stopped");
    Ok(exit)
}

impl Console {
    /// The first model (config warnings, unfinished actions, backups from the journal), the
    /// sources, and the terminal.
    fn start(session: Session, player: Option<player::Player>) -> std::io::Result<Console> {
        let now = Utc::now();
        let mut model = match &player {
            Some(p) => p.start_model(session.config.keymap.clone()),
            None => Model::new(session.cluster.clone(), session.config.keymap.clone(), now)
                .with_tuning(session.config.tuning),
        };
        model.warnings = session.config.warnings.clone();
        if let Some(w) = unfinished_warning(&session.journal) {
            model.warnings.push(w);
        }
        if let Ok((entries, _)) = session.journal.read() {
            crate::model::backups::from_journal(&mut model, &entries);
        }
        if let Some(why) = &session.not_configured {
            tracing::info!(%why, "no Kubernetes source");
        }
        let theme = Theme::from_env(session.config.theme);
        let (tx, rx) = mpsc::channel::<Msg>(1024);
        let sources = match &player {
            Some(p) => {
                model.ui.replay = Some(p.label());
                Vec::new()
            }
            None => {
                session.configure_model(&mut model, now);
                session.start_sources(&tx)
            }
        };
        let terminal = crate::term::enter()?;
        let mut console = Console {
            session,
            model,
            derived: Derived::default(),
            theme,
            tx,
            rx,
            sources,
            view_task: ViewTask::default(),
            terminal,
            frames: Frames::new(),
            pace: Pace {
                next: Instant::now(),
                pending: false,
            },
            ticks: 0,
            milestones: Milestones::default(),
            recording: Recording::default(),
            player,
        };
        let size = console.terminal.size()?;
        console.update(Msg::Resize(size.width, size.height));
        Ok(console)
    }

    /// `--record FILE`: the recorder, with what the player needs to start as this console did.
    fn start_recording(&mut self) {
        if let Some(g) = &self.session.global {
            self.recording = Recording::start(g, &mut self.model);
        }
    }

    /// The console's clock: the wall clock, or a replay's.
    fn now(&self) -> DateTime<Utc> {
        self.player
            .as_ref()
            .map_or_else(Utc::now, player::Player::now)
    }

    /// The loop: draw when a frame is owed, wait for the next input, apply it, run its effects.
    async fn run(&mut self, signals: &mut Signals) -> Exit {
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.frames.due()
                && let Err(exit) = self.draw()
            {
                return exit;
            }
            let mut effects = Vec::new();
            let replay_due = self.player.as_ref().and_then(player::Player::next_due);
            tokio::select! {
                biased;
                _ = signals.hup.recv() => return Exit::Signal("SIGHUP"),
                _ = signals.term.recv() => return Exit::Signal("SIGTERM"),
                _ = signals.int.recv() => return Exit::Signal("SIGINT"),
                _ = signals.quit.recv() => return Exit::Signal("SIGQUIT"),
                ev = events.next() => match self.on_terminal(ev) {
                    Ok(Some(e)) => effects = e,
                    Ok(None) => continue,
                    Err(exit) => return exit,
                },
                Some(msg) = self.rx.recv() => effects = self.on_messages(msg),
                _ = tick.tick() => match self.on_tick() {
                    Ok(e) => effects = e,
                    Err(exit) => return exit,
                },
                _ = sleep_until(self.frames.last + FRAME), if self.frames.dirty => {}
                _ = sleep_until(self.pace.next), if self.pace.pending => {
                    self.pace.settle(&mut self.model, &mut self.derived, &mut self.recording);
                }
                _ = sleep_until(replay_due.unwrap_or_else(Instant::now)), if replay_due.is_some() => {
                    self.replay_step();
                }
            }
            self.frames.dirty = true;
            if let Some(ctx) = take_switch(&mut effects) {
                self.switch_context(&ctx).await;
            }
            if take_exec(&mut effects) {
                self.start_exec();
            }
            if self.run_effects(effects) {
                return Exit::Quit;
            }
        }
    }

    fn update(&mut self, msg: Msg) -> Vec<Effect> {
        let now = self.now();
        let effects = update_in(&mut self.model, &mut self.derived, msg, now);
        self.recording.settled(&mut self.model, now);
        effects
    }

    /// A replay: apply what is due, and the status bar's position.
    fn replay_step(&mut self) {
        if let Some(p) = self.player.as_mut() {
            p.step(&mut self.model, &mut self.derived);
            self.model.ui.replay = Some(p.label());
        }
    }

    /// Draw one frame from the model and its derived data (the Top order brought up to date
    /// first, with the loop's clock).
    fn draw(&mut self) -> Result<(), Exit> {
        let now = self.now();
        self.derived
            .before_frame(&self.model, std::time::Instant::now);
        let (model, derived, theme) = (&self.model, &self.derived, &self.theme);
        if let Err(e) = self
            .terminal
            .draw(|f| ui::render(f, model, derived, theme, now))
        {
            tracing::warn!(error = %e, "draw failed: terminal gone");
            return Err(Exit::TerminalGone);
        }
        self.frames.dirty = false;
        self.milestones
            .drawn(self.model.findings_stale, self.model.findings.len());
        self.frames.last = Instant::now();
        if self.session.debug_panic {
            // A deliberate crash so tests can check the panic hook restores the terminal.
            #[allow(clippy::panic)]
            {
                panic!("deliberate panic after the first frame (--debug-panic)");
            }
        }
        Ok(())
    }

    /// A key or a resize: its effects. `Ok(None)`: nothing to do; `Err`: the terminal is gone.
    fn on_terminal(
        &mut self,
        ev: Option<std::io::Result<Event>>,
    ) -> Result<Option<Vec<Effect>>, Exit> {
        match ev {
            Some(Ok(Event::Key(k))) => Ok(Some(self.update(Msg::Key(k)))),
            Some(Ok(Event::Resize(w, h))) => {
                let effects = self.update(Msg::Resize(w, h));
                // a resize must repaint everything at once
                let _ = self.terminal.autoresize();
                Ok(Some(effects))
            }
            Some(Ok(_)) => Ok(None),
            Some(Err(e)) => {
                tracing::info!(error = %e, "terminal input failed");
                Err(Exit::TerminalGone)
            }
            None => Err(Exit::TerminalGone),
        }
    }

    /// A message, and what else is queued: applied, then the rules once (paced), then one frame.
    fn on_messages(&mut self, first: Msg) -> Vec<Effect> {
        let now = self.now();
        let mut effects = self.apply_recorded(first, now);
        let mut drained = 0;
        while drained < DRAIN_MAX {
            match self.rx.try_recv() {
                Ok(m) => effects.extend(self.apply_recorded(m, now)),
                Err(_) => break,
            }
            drained += 1;
        }
        self.pace
            .settle_or_defer(&mut self.model, &mut self.derived, &mut self.recording);
        let model = &self.model;
        if self
            .milestones
            .synced(|| model.sources().iter().any(|(_, s)| s.is_loading()))
        {
            // the lists' answers are decoded and dropped: their pages go back
            crate::memory::release_freed();
        }
        effects
    }

    /// Apply a message, recorded first when the console records.
    fn apply_recorded(&mut self, msg: Msg, now: DateTime<Utc>) -> Vec<Effect> {
        if let Msg::ActionDone(o) = &msg {
            let kind = crate::model::timeline::Kind::Outcome;
            self.recording
                .own(&mut self.model, kind, o.summary(), Some(o.id.clone()));
        } else {
            self.recording
                .write(&mut self.model, |r, _| r.msg(now, &msg));
        }
        let poll = matches!(msg, Msg::Metrics(_));
        let effects = apply_in(&mut self.model, &mut self.derived, msg, now);
        if poll {
            // the poll's answer (17 MB at 50,000 pods) and the snapshot it replaced are gone
            crate::memory::release_freed();
        }
        effects
    }

    /// The one-second tick: the terminal still there, the time-based rules every few ticks, the
    /// task count for the soak script every minute.
    fn on_tick(&mut self) -> Result<Vec<Effect>, Exit> {
        if !stdin_is_terminal() {
            tracing::info!("standard input is no longer a terminal");
            return Err(Exit::TerminalGone);
        }
        self.ticks += 1;
        if self.player.is_some() {
            // a replay's ticks are the recording's
            self.replay_step();
            return Ok(Vec::new());
        }
        // the crash-looping containers whose previous logs the crash-log source reads: once a
        // second at most, and computed only when the pods changed
        self.session.crashing.offer(&self.model);
        let mut effects = Vec::new();
        if self.ticks.is_multiple_of(RULES_CLOCK_TICKS) {
            effects = self.apply_recorded(Msg::Tick, Utc::now());
            self.pace
                .settle_or_defer(&mut self.model, &mut self.derived, &mut self.recording);
        }
        if self.ticks.is_multiple_of(60) {
            // for the soak script: a task leak shows here
            let tasks = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            tracing::info!(tasks, "alive tasks");
        }
        Ok(effects)
    }

    /// Switch to another context: new sources on a new channel (nothing the old cluster's sources
    /// still send reaches the new model), a fresh model and derived data.
    async fn switch_context(&mut self, ctx: &str) {
        match self.session.switch_to(ctx).await {
            Ok(next) => {
                for s in self.sources.drain(..) {
                    s.abort();
                }
                (self.tx, self.rx) = mpsc::channel::<Msg>(1024);
                self.session = next;
                let (size, keymap) = (self.model.ui.size, self.model.keymap.clone());
                self.model = Model::new(self.session.cluster.clone(), keymap, Utc::now())
                    .with_tuning(self.session.config.tuning);
                self.derived = Derived::default();
                self.model.ui.size = size;
                self.update(Msg::Resize(size.0, size.1));
                self.session.configure_model(&mut self.model, Utc::now());
                self.sources = self.session.start_sources(&self.tx);
                tracing::info!(context = %ctx, read_only = self.session.cluster.read_only, "switched context");
                crate::update::notice_info(
                    &mut self.model,
                    &format!("switched to context {ctx}"),
                    Utc::now(),
                );
            }
            Err(e) => crate::update::notice_info(
                &mut self.model,
                &format!("context {ctx}: {e}"),
                Utc::now(),
            ),
        }
    }

    /// The operator said yes to the etcd pane's exec question: exec on for this context, its source
    /// started (or why not, in the status bar).
    fn start_exec(&mut self) {
        match self.session.allow_exec() {
            Ok(()) => self.sources.extend(self.session.start_exec(&self.tx)),
            Err(e) => crate::update::notice_info(&mut self.model, &e, Utc::now()),
        }
    }

    /// Execute effects; returns true when the app should stop.
    fn run_effects(&mut self, effects: Vec<Effect>) -> bool {
        let mut quit = false;
        for e in effects {
            match e {
                Effect::Quit => quit = true,
                Effect::SwitchContext(_) | Effect::EtcdExec => {} // taken by the loop before
                Effect::Replay(a) => match self.player.as_mut() {
                    Some(p) => p.control(a, &mut self.model, &mut self.derived),
                    None => crate::update::notice_info(
                        &mut self.model,
                        "replay keys work in a replay: `ktriage replay FILE` of a --record FILE",
                        Utc::now(),
                    ),
                },
                Effect::ListContexts => self.list_contexts(),
                Effect::Snapshot(at) => self.write_snapshot(at),
                Effect::Copy(text) => copy(&text),
                Effect::View(req) => {
                    self.view_task
                        .start(req, self.session.client.clone(), self.tx.clone())
                }
                Effect::Execute(m) => {
                    let Some(executor) = self.session.executor.clone() else {
                        continue;
                    };
                    let kind = crate::model::timeline::Kind::Action;
                    self.recording
                        .own(&mut self.model, kind, m.describe(), None);
                    let tx = self.tx.clone();
                    let acted = self.session.acted.clone();
                    tokio::spawn(async move {
                        let outcome = executor.execute(&m).await;
                        acted.bump();
                        tracing::info!(id = %outcome.id, result = ?outcome.result, "action finished");
                        let _ = tx.send(Msg::ActionDone(Box::new(outcome))).await;
                    });
                }
            }
        }
        quit
    }

    /// The kubeconfig's contexts for the switcher, read off the loop.
    fn list_contexts(&self) {
        let tx = self.tx.clone();
        let global = self.session.global.clone();
        let demo = self.session.demo.is_some();
        tokio::task::spawn_blocking(move || {
            let result = match global {
                _ if demo => Err("the demo cluster has one context".to_string()),
                Some(g) => crate::fleet::contexts(&g),
                None => Err("no kubeconfig".to_string()),
            };
            let _ = tx.blocking_send(Msg::Contexts(result));
        });
    }

    /// The incident snapshot: its model part is written now, from the loop's own model (nothing is
    /// cloned); the journal is read and the file written off the loop.
    fn write_snapshot(&self, at: DateTime<Utc>) {
        let body = crate::snapshot::body(&self.model, at);
        let started_at = self.model.started_at;
        let context = self.model.cluster.context.clone();
        let journal = self.session.journal.clone();
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let entries = journal.read().map(|(e, _)| e).unwrap_or_default();
            let entries = crate::snapshot::run_entries(&entries, started_at);
            let doc = crate::snapshot::with_journal(body, &entries);
            let dir = journal
                .path()
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default();
            let path = crate::snapshot::path_for(&dir, context.as_deref(), at);
            let result = crate::snapshot::write_private(&path, &doc)
                .map(|()| path.display().to_string())
                .map_err(|e| format!("{}: {e}", path.display()));
            let _ = tx.blocking_send(Msg::SnapshotWritten(result));
        });
    }

    /// Stop the sources and the view task and give the terminal back.
    fn stop(mut self) {
        for s in self.sources.drain(..) {
            s.abort();
        }
        if let Some(r) = self.recording.0.take()
            && let Err(e) = r.finish()
        {
            tracing::warn!(error = %e, "recording not finished");
        }
        self.view_task.stop();
        crate::term::restore();
        // The terminal is restored above. ratatui's Drop would show the cursor again and print to
        // standard error when that fails, which panics when the terminal is gone (an SSH hang-up).
        std::mem::forget(self.terminal);
    }
}

fn stdin_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

/// Take the context switch out of the effects (the loop itself performs it: it owns the session).
fn take_switch(effects: &mut Vec<Effect>) -> Option<String> {
    let i = effects
        .iter()
        .position(|e| matches!(e, Effect::SwitchContext(_)))?;
    match effects.remove(i) {
        Effect::SwitchContext(c) => Some(c),
        _ => None,
    }
}

/// Take the etcd exec yes out of the effects (the loop starts the source: it owns the session).
fn take_exec(effects: &mut Vec<Effect>) -> bool {
    let before = effects.len();
    effects.retain(|e| *e != Effect::EtcdExec);
    effects.len() != before
}

/// The start-up warning about actions an earlier run journaled an intent for but never finished
/// (a crash between the intent line and the outcome line).
pub fn unfinished_warning(journal: &crate::journal::Journal) -> Option<String> {
    let unfinished = journal.unfinished().ok()?;
    if unfinished.is_empty() {
        return None;
    }
    let what: Vec<String> = unfinished
        .iter()
        .filter_map(|e| e["mutation"]["describe"].as_str().map(str::to_string))
        .collect();
    Some(format!(
        "journal {}: {} action(s) started in an earlier run have no outcome line (interrupted): {}; check them",
        journal.path().display(),
        unfinished.len(),
        what.join("; ")
    ))
}
