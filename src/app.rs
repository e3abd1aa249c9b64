//! The TUI: the one event loop. It owns the `Model`, drains messages, calls `update`, executes the
//! returned effects and draws at most every 33 ms, and only when something changed.

use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use crate::model::Model;
use crate::msg::Msg;
use crate::session::Session;
use crate::ui::{self, Theme};
use crate::update::{Effect, apply, settle, update};

/// Frames are coalesced to at most one per this interval.
pub const FRAME: Duration = Duration::from_millis(33);

/// After an evaluation of the rules that cost `c`, the next waits `c × RULES_PACE` (at most
/// [`RULES_MAX_GAP`]): the rules then take at most 1/RULES_PACE of a core however large the cluster
/// and however fast it changes (at 50,000 pods changing 100 times a second: one ~28 ms evaluation a
/// second, ~3 % of a core). Tables are not paced: a change is drawn in the next frame; only the
/// findings follow later (≤ 1 s at 50,000 pods; at once on a small cluster, where `c` < 1 ms).
const RULES_PACE: u32 = 40;
const RULES_MAX_GAP: Duration = Duration::from_secs(1);

/// The clock re-evaluates the time-based rules (stale leases, storm windows, certificate expiry)
/// every this many one-second ticks; the ages on screen are redrawn every tick.
const RULES_CLOCK_TICKS: u64 = 5;

/// When the rules may run again (see [`RULES_PACE`]).
struct Pace {
    next: Instant,
    pending: bool,
}

impl Pace {
    /// Settle now if the pace allows, else remember to.
    fn settle_or_defer(&mut self, model: &mut Model) {
        if Instant::now() >= self.next {
            self.settle(model);
        } else {
            self.pending = true;
        }
    }

    fn settle(&mut self, model: &mut Model) {
        let t = Instant::now();
        settle(model, Utc::now());
        let cost = t.elapsed();
        self.next = Instant::now() + (cost * RULES_PACE).min(RULES_MAX_GAP);
        self.pending = false;
    }
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    Signal(&'static str),
    TerminalGone,
}

/// Run the console until the user quits, a signal arrives or the terminal goes away.
pub async fn run(mut session: Session) -> std::io::Result<Exit> {
    // A closed or redirected stdin means nobody can type: do not take over a terminal at all.
    if !stdin_is_terminal() {
        return Err(std::io::Error::other(
            "standard input is closed or not a terminal; the console needs one (`ktriage report` runs without)",
        ));
    }
    let now = Utc::now();
    let mut model = Model::new(session.cluster.clone(), session.config.keymap.clone(), now)
        .with_tuning(session.config.tuning);
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
    session.configure_model(&mut model, now);
    let (mut tx, mut rx) = mpsc::channel::<Msg>(1024);
    let mut sources = session.start_sources(&tx);
    let mut view_task = crate::kube::sources::view::ViewTask::default();

    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigquit = signal(SignalKind::quit())?;

    let mut terminal = crate::term::enter()?;
    let size = terminal.size()?;
    update(&mut model, Msg::Resize(size.width, size.height), Utc::now());
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut first_frame = true;
    let mut all_synced = false;
    let mut ticks: u64 = 0;
    let mut last_draw = Instant::now() - FRAME;
    let mut pace = Pace {
        next: Instant::now(),
        pending: false,
    };

    let exit = loop {
        if dirty && Instant::now() >= last_draw + FRAME {
            let now = Utc::now();
            if let Err(e) = terminal.draw(|f| ui::draw(f, &model, &theme, now)) {
                tracing::warn!(error = %e, "draw failed: terminal gone");
                break Exit::TerminalGone;
            }
            dirty = false;
            if first_frame {
                first_frame = false;
                if let Some(t0) = crate::PROCESS_START.get() {
                    tracing::info!(
                        ms = t0.elapsed().as_secs_f64() * 1000.0,
                        "first frame drawn"
                    );
                }
            }
            last_draw = Instant::now();
            if session.debug_panic {
                // A deliberate crash so tests can check the panic hook restores the terminal.
                #[allow(clippy::panic)]
                {
                    panic!("deliberate panic after the first frame (--debug-panic)");
                }
            }
        }
        let mut effects = Vec::new();
        tokio::select! {
            biased;
            _ = sighup.recv() => break Exit::Signal("SIGHUP"),
            _ = sigterm.recv() => break Exit::Signal("SIGTERM"),
            _ = sigint.recv() => break Exit::Signal("SIGINT"),
            _ = sigquit.recv() => break Exit::Signal("SIGQUIT"),
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => effects = update(&mut model, Msg::Key(k), Utc::now()),
                Some(Ok(Event::Resize(w, h))) => {
                    effects = update(&mut model, Msg::Resize(w, h), Utc::now());
                    // a resize must repaint everything at once
                    let _ = terminal.autoresize();
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    tracing::info!(error = %e, "terminal input failed");
                    break Exit::TerminalGone;
                }
                None => break Exit::TerminalGone,
            },
            Some(msg) = rx.recv() => {
                let now = Utc::now();
                effects = apply(&mut model, msg, now);
                // drain what else is queued, evaluate the rules once, then draw once
                let mut drained = 0;
                while drained < 4096 {
                    match rx.try_recv() {
                        Ok(m) => effects.extend(apply(&mut model, m, now)),
                        Err(_) => break,
                    }
                    drained += 1;
                }
                pace.settle_or_defer(&mut model);
                if !all_synced && !model.sources().iter().any(|(_, s)| s.is_loading()) {
                    all_synced = true;
                    if let Some(t0) = crate::PROCESS_START.get() {
                        // for the end-to-end bench: time to sync every pane
                        tracing::info!(ms = t0.elapsed().as_secs_f64() * 1000.0, "all sources synced");
                    }
                }
            }
            _ = tick.tick() => {
                if !stdin_is_terminal() {
                    tracing::info!("standard input is no longer a terminal");
                    break Exit::TerminalGone;
                }
                ticks += 1;
                if ticks.is_multiple_of(RULES_CLOCK_TICKS) {
                    effects = apply(&mut model, Msg::Tick, Utc::now());
                    pace.settle_or_defer(&mut model);
                }
                if ticks.is_multiple_of(60) {
                    // for the soak script: a task leak shows here
                    let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
                    tracing::info!(tasks, "alive tasks");
                }
            }
            _ = sleep_until(last_draw + FRAME), if dirty => {}
            _ = sleep_until(pace.next), if pace.pending => pace.settle(&mut model),
        }
        dirty = true;
        if let Some(ctx) = take_switch(&mut effects) {
            match session.switch_to(&ctx).await {
                Ok(next) => {
                    for s in sources.drain(..) {
                        s.abort();
                    }
                    // a new channel: nothing the old cluster's sources still send reaches the new model
                    (tx, rx) = mpsc::channel::<Msg>(1024);
                    session = next;
                    let (size, keymap) = (model.ui.size, model.keymap.clone());
                    model = Model::new(session.cluster.clone(), keymap, Utc::now())
                        .with_tuning(session.config.tuning);
                    model.ui.size = size;
                    update(&mut model, Msg::Resize(size.0, size.1), Utc::now());
                    session.configure_model(&mut model, Utc::now());
                    sources = session.start_sources(&tx);
                    tracing::info!(context = %ctx, read_only = session.cluster.read_only, "switched context");
                    crate::update::notice_info(
                        &mut model,
                        &format!("switched to context {ctx}"),
                        Utc::now(),
                    );
                }
                Err(e) => crate::update::notice_info(
                    &mut model,
                    &format!("context {ctx}: {e}"),
                    Utc::now(),
                ),
            }
        }
        if take_exec(&mut effects) {
            match session.allow_exec() {
                Ok(()) => sources.extend(session.start_exec(&tx)),
                Err(e) => crate::update::notice_info(&mut model, &e, Utc::now()),
            }
        }
        if run_effects(effects, &session, &tx, &mut view_task) {
            break Exit::Quit;
        }
    };
    for s in sources {
        s.abort();
    }
    view_task.stop();
    crate::term::restore();
    // The terminal is restored above. ratatui's Drop would show the cursor again and print to
    // standard error when that fails, which panics when the terminal is gone (an SSH hang-up).
    std::mem::forget(terminal);
    tracing::info!(?exit, "ktriage stopped");
    Ok(exit)
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

/// Execute effects; returns true when the app should stop.
fn run_effects(
    effects: Vec<Effect>,
    session: &Session,
    tx: &mpsc::Sender<Msg>,
    view_task: &mut crate::kube::sources::view::ViewTask,
) -> bool {
    let mut quit = false;
    for e in effects {
        match e {
            Effect::Quit => quit = true,
            Effect::SwitchContext(_) | Effect::EtcdExec => {} // taken by the loop before
            Effect::ListContexts => {
                let tx = tx.clone();
                let global = session.global.clone();
                let demo = session.demo.is_some();
                tokio::task::spawn_blocking(move || {
                    let result = match global {
                        _ if demo => Err("the demo cluster has one context".to_string()),
                        Some(g) => crate::fleet::contexts(&g),
                        None => Err("no kubeconfig".to_string()),
                    };
                    let _ = tx.blocking_send(Msg::Contexts(result));
                });
            }
            Effect::Snapshot(model) => {
                let journal = session.journal.clone();
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    let now = Utc::now();
                    let entries = journal.read().map(|(e, _)| e).unwrap_or_default();
                    let entries = crate::snapshot::run_entries(&entries, model.started_at);
                    let doc = crate::snapshot::document(&model, now, &entries, false);
                    let dir = journal
                        .path()
                        .parent()
                        .map(std::path::Path::to_path_buf)
                        .unwrap_or_default();
                    let path =
                        crate::snapshot::path_for(&dir, model.cluster.context.as_deref(), now);
                    let result = crate::snapshot::write_private(&path, &doc)
                        .map(|()| path.display().to_string())
                        .map_err(|e| format!("{}: {e}", path.display()));
                    let _ = tx.blocking_send(Msg::SnapshotWritten(result));
                });
            }
            Effect::Copy(text) => {
                use std::io::Write;
                let seq = osc52(&text);
                let mut out = std::io::stdout().lock();
                if let Err(e) = out.write_all(seq.as_bytes()).and_then(|_| out.flush()) {
                    tracing::warn!(error = %e, "clipboard escape not written");
                }
            }
            Effect::View(req) => view_task.start(req, session.client.clone(), tx.clone()),
            Effect::Execute(m) => {
                let Some(executor) = session.executor.clone() else {
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let outcome = executor.execute(&m).await;
                    tracing::info!(id = %outcome.id, result = ?outcome.result, "action finished");
                    let _ = tx.send(Msg::ActionDone(Box::new(outcome))).await;
                });
            }
        }
    }
    quit
}

/// The OSC 52 escape that asks the terminal to put `text` on the clipboard.
pub fn osc52(text: &str) -> String {
    use base64::Engine;
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
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
