//! `update(&mut Model, Msg, now) -> Vec<Effect>`: synchronous, no IO. Every side effect is an `Effect`.

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};

pub mod contexts;
mod dialog;
pub mod exec_ask;
pub mod inspect;
pub mod panes;

use crate::derived::Derived;
use crate::diagnose;
use crate::model::{Model, Notice, NoticeLevel, PaneId, SourceState};
use crate::msg::Msg;
use crate::mutation::Mutation;
use crate::mutation::OutcomeResult;
use crate::shared::action::Action;
use crate::shared::keymap::Key;
use crate::ui::panes::pane;
use dialog::confirm;
pub use dialog::propose;

/// Side effects requested by `update`, executed by the app loop.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    /// Read the kubeconfig's contexts for the switcher (answered by `Msg::Contexts`).
    ListContexts,
    /// Switch to this context: a new gated client, new sources, a fresh model.
    SwitchContext(String),
    /// Write the incident snapshot of the model as it is now, asked at this time (the app loop reads
    /// its own model, adds the journal and writes the file; nothing is cloned).
    Snapshot(DateTime<Utc>),
    /// Run a confirmed mutation through the one executor.
    Execute(Mutation),
    /// Put text on the terminal's clipboard (OSC 52), written by the app loop.
    Copy(String),
    /// Start (or stop) the one view stream: pod logs or the pod object.
    View(crate::model::view::ViewRequest),
    /// Run etcdctl in the etcd pods for this context from now on (the operator said yes).
    EtcdExec,
    /// A replay's clock: pause, speed, seek (the loop owns the player; a live console says so).
    Replay(Action),
}

/// Apply one message and, if it changed data, re-evaluate the rules: `apply` then `settle`, with
/// everything derived afresh (the loop keeps its [`Derived`] and calls [`update_in`]).
pub fn update(model: &mut Model, msg: Msg, now: DateTime<Utc>) -> Vec<Effect> {
    let mut derived = fresh(model, &msg, now);
    update_in(model, &mut derived, msg, now)
}

/// What a message needs derived afresh: a key acts on the rows and runbook the screen shows.
fn fresh(model: &Model, msg: &Msg, now: DateTime<Utc>) -> Derived {
    match msg {
        Msg::Key(_) => Derived::of(model, now),
        _ => Derived::default(),
    }
}

/// [`update`] with the loop's derived data: the rules' memo, the Top order, the runbook.
pub fn update_in(
    model: &mut Model,
    derived: &mut Derived,
    msg: Msg,
    now: DateTime<Utc>,
) -> Vec<Effect> {
    let key = matches!(msg, Msg::Key(_));
    let effects = apply_in(model, derived, msg, now);
    settle_in(model, derived, now);
    if key {
        derived.after_key(model);
        clamp_selection(model, derived);
    }
    effects
}

/// Re-evaluate the rules if data changed since the last time, afresh (see [`settle_in`]).
pub fn settle(model: &mut Model, now: DateTime<Utc>) {
    settle_in(model, &mut Derived::default(), now);
}

/// Re-evaluate the rules if data changed since the last time, reusing `derived`'s memo; then the
/// runbook of the new findings. The app loop calls this once per drained batch of messages (not
/// per message: rules cost O(cluster) and a busy watch sends thousands of messages a second).
pub fn settle_in(model: &mut Model, derived: &mut Derived, now: DateTime<Utc>) {
    if model.findings_stale {
        let before = std::mem::take(&mut model.findings);
        model.findings = diagnose::evaluate_with(model, now, &mut derived.rules);
        model.timeline.findings(&before, &model.findings, now);
        model.timeline.sources(model.failing_sources(), now);
        model.findings_stale = false;
        model.evaluations += 1;
        derived.findings_changed(model, now);
        clamp_selection(model, derived);
    }
}

/// Apply one message without re-evaluating the rules (see [`settle`]), afresh.
pub fn apply(model: &mut Model, msg: Msg, now: DateTime<Utc>) -> Vec<Effect> {
    let mut derived = fresh(model, &msg, now);
    apply_in(model, &mut derived, msg, now)
}

/// Apply one message without re-evaluating the rules (see [`settle_in`]).
pub fn apply_in(
    model: &mut Model,
    derived: &mut Derived,
    msg: Msg,
    now: DateTime<Utc>,
) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut data_changed = false;
    match msg {
        Msg::Key(ev) => {
            if ev.kind == KeyEventKind::Release {
                return effects;
            }
            on_key(model, derived, ev, now, &mut effects);
        }
        Msg::Resize(w, h) => {
            model.ui.size = (w, h);
            model.ui.page = usize::from(h.saturating_sub(6)).max(1);
        }
        Msg::Tick => data_changed = true,
        Msg::ApiUp { version } => {
            // the heartbeat: the rules look again only when reachability or the version changed
            data_changed =
                !model.api.state.is_ok() || model.api.version.as_deref() != Some(version.as_str());
            model.api.state = SourceState::Ok { at: now };
            model.api.version = Some(version);
        }
        Msg::SourceAbsent(id, why) => {
            if let Some(state) = model.source_state_mut(id) {
                *state = SourceState::NotConfigured { why };
            }
            data_changed = true;
        }
        Msg::SourceFailed(id, failure) => {
            if let Some(state) = model.source_state_mut(id) {
                *state = state.fail(failure, now);
            }
            data_changed = true;
        }
        Msg::Namespaces(delta) => data_changed = model.namespaces.apply(delta, now),
        Msg::NsPane(m) => data_changed = model.namespaces.on_msg(m, now),
        Msg::Webhooks(m) => data_changed = model.webhooks.on_msg(m, now),
        Msg::Etcd(m) => data_changed = model.etcd.apply(*m, now),
        Msg::Nodes(_)
        | Msg::Leases(_)
        | Msg::Events(_)
        | Msg::EventsApi(_)
        | Msg::Pods(_)
        | Msg::ReplicaSets(_)
        | Msg::Metrics(_) => data_changed = panes::on_source(model, msg, now),
        Msg::Contexts(result) => match result {
            Ok(names) => contexts::opened(model, names),
            Err(e) => notice(model, &format!("contexts: {e}"), NoticeLevel::Error, now),
        },
        Msg::SnapshotWritten(result) => snapshot_written(model, result, now),
        Msg::Certs(c) => {
            model.certs_state = SourceState::Ok { at: now };
            model.root_ca.verify(c.served.as_ref(), now);
            model.certs = Some(c);
            data_changed = true;
        }
        Msg::RootCa(delta) => {
            let served = model.certs.as_ref().and_then(|c| c.served.as_ref());
            data_changed = model.root_ca.apply(delta, served, now);
        }
        Msg::CrashLogs(logs) => {
            data_changed = model.top.crash_logs != logs;
            model.top.crash_logs = logs;
        }
        Msg::ViewLines { .. } | Msg::ViewObject { .. } | Msg::ViewEnded { .. } => {
            inspect::on_view_msg(model, msg);
        }
        Msg::ActionDone(outcome) => action_done(model, &outcome, now),
    }
    if data_changed {
        model.findings_stale = true;
    }
    effects
}

fn snapshot_written(model: &mut Model, result: Result<String, String>, now: DateTime<Utc>) {
    match result {
        Ok(path) => notice(
            model,
            &format!("snapshot written: {path}"),
            NoticeLevel::Info,
            now,
        ),
        Err(e) => notice(
            model,
            &format!("snapshot not written: {e}"),
            NoticeLevel::Error,
            now,
        ),
    }
}

/// An action finished: kept for Undo and the pane's restore, said in the status bar (and in the
/// view that asked for it).
fn action_done(model: &mut Model, outcome: &crate::mutation::Outcome, now: DateTime<Utc>) {
    model.own_actions.insert(outcome.id.clone());
    let obj = outcome.mutation.object();
    if let Some(i) = model.acting.iter().position(|o| *o == obj) {
        model.acting.remove(i);
    }
    panes::remember_action(model, outcome);
    crate::model::backups::record(model, outcome);
    let level = match outcome.result {
        OutcomeResult::Applied => NoticeLevel::Info,
        OutcomeResult::Unverified => NoticeLevel::Warning,
        OutcomeResult::Rejected | OutcomeResult::Failed | OutcomeResult::Refused => {
            NoticeLevel::Error
        }
    };
    model.notice = Some(Notice {
        text: outcome.summary(),
        level,
        at: now,
    });
    model.timeline.action(
        crate::model::timeline::Kind::Outcome,
        outcome.summary(),
        now,
    );
    inspect::report_view(model, outcome);
}

fn on_key(
    model: &mut Model,
    derived: &Derived,
    ev: crossterm::event::KeyEvent,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) {
    let key = Key::from_event(&ev);
    // Ctrl-C always quits, whatever the keymap or an open dialog says.
    if ev.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        model.ui.quit = true;
        effects.push(Effect::Quit);
        return;
    }
    if model.etcd.exec_ask.is_some() {
        let action = model.keymap.lookup(key, model.ui.active, true);
        exec_ask::on_key(model, action, now, effects);
        return;
    }
    if let Some(dialog) = model.dialog.as_mut() {
        // Production contexts: the user types the object's name; a mutation that asks for a reason
        // takes typed text too. Only Enter/Esc act then.
        if model.cluster.production || dialog.mutation.wants_reason() {
            match ev.code {
                KeyCode::Char(c) if !key.ctrl && !key.alt => {
                    dialog.typed.push(c);
                    return;
                }
                KeyCode::Backspace => {
                    dialog.typed.pop();
                    return;
                }
                _ => {}
            }
        }
        match model.keymap.lookup(key, model.ui.active, true) {
            Some(Action::Confirm) => confirm(model, now, effects),
            Some(a @ (Action::Copy | Action::More | Action::Less)) => {
                panes::dialog_action(model, a, now, effects)
            }
            Some(Action::Cancel) => {
                model.dialog = None;
                notice(model, "cancelled: nothing was sent", NoticeLevel::Info, now);
            }
            _ => {}
        }
        return;
    }
    if contexts::on_key(model, &ev, effects)
        || inspect::view_edit_key(model, &ev)
        || edit_filter(model, &ev)
    {
        return;
    }
    let Some(action) = model.keymap.lookup(key, model.ui.active, false) else {
        return;
    };
    if model.ui.help {
        let page = model.ui.page.max(1);
        let scroll = &mut model.ui.help_scroll;
        match action {
            Action::Down => *scroll += 1,
            Action::Up => *scroll = scroll.saturating_sub(1),
            Action::PageDown => *scroll += page,
            Action::PageUp => *scroll = scroll.saturating_sub(page),
            Action::First => *scroll = 0,
            Action::Help | Action::Close | Action::Quit => {
                apply_action_in(model, derived, action, now, effects)
            }
            _ => {
                model.ui.help = false;
                apply_action_in(model, derived, action, now, effects);
            }
        }
        return;
    }
    if inspect::view_key(model, action, effects) {
        return;
    }
    apply_action_in(model, derived, action, now, effects);
}

/// Apply one user intent (also used by tests and, later, by mouse or command input), with
/// everything derived afresh.
pub fn apply_action(
    model: &mut Model,
    action: Action,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) {
    let derived = Derived::of(model, now);
    apply_action_in(model, &derived, action, now, effects);
}

/// Apply one user intent against the rows and runbook of `derived` (what the screen shows).
pub fn apply_action_in(
    model: &mut Model,
    derived: &Derived,
    action: Action,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) {
    if action.is_write() && model.cluster.read_only {
        notice(
            model,
            &format!("read-only mode: `{action}` is disabled; nothing was sent"),
            NoticeLevel::Warning,
            now,
        );
        return;
    }
    let active = model.ui.active;
    let rows = pane(active).row_count(model, derived);
    let sel = &mut model.ui.selected[active.index()];
    match action {
        Action::Quit => {
            model.ui.quit = true;
            effects.push(Effect::Quit);
        }
        Action::Help => {
            model.ui.help = !model.ui.help;
            model.ui.help_scroll = 0;
        }
        Action::Close => {
            model.ui.help = false;
            model.notice = None;
        }
        Action::NextPane => model.ui.active = active.next(),
        Action::PrevPane => model.ui.active = active.prev(),
        Action::Pane(p) => model.ui.active = p,
        Action::Down => *sel = (*sel + 1).min(rows.saturating_sub(1)),
        Action::Up => *sel = sel.saturating_sub(1),
        Action::PageDown => *sel = (*sel + model.ui.page.max(1)).min(rows.saturating_sub(1)),
        Action::PageUp => *sel = sel.saturating_sub(model.ui.page.max(1)),
        Action::First => *sel = 0,
        Action::Last => *sel = rows.saturating_sub(1),
        Action::Undo => panes::undo(model, now),
        Action::Jump => jump(model, now),
        Action::Filter => {
            pane(active).open_filter(model);
        }
        Action::ToggleWarnings | Action::Sort | Action::Group => {
            pane(active).view_action(model, action);
        }
        // outside a dialog: the etcd pane's runbook (the dialog handles its own copy)
        Action::Copy => copy_runbook(model, derived, now, effects),
        Action::Snapshot => effects.push(Effect::Snapshot(now)),
        Action::Contexts => effects.push(Effect::ListContexts),
        // every other write: the pane proposes it for its selected row
        a if a.is_mutating() => propose_for_row(model, derived, a, now),
        Action::Logs
        | Action::Yaml
        | Action::Describe
        | Action::Previous
        | Action::Container
        | Action::Follow => inspect::view_action(model, derived, action, now, effects),
        Action::EtcdExec => exec_ask::ask(model, now),
        Action::ReplayPause
        | Action::ReplaySlower
        | Action::ReplayFaster
        | Action::ReplayBack
        | Action::ReplayForward => effects.push(Effect::Replay(action)),
        // the dialog's keys (Confirm, Cancel, More, Less; handled with the dialog) and None
        _ => {}
    }
}

/// `t`: the active pane's own jump (Nodes: the node's pods in Top), else the eviction storm's
/// culprit in Top.
fn jump(model: &mut Model, now: DateTime<Utc>) {
    let before = model.notice.clone();
    if !pane(model.ui.active).view_action(model, Action::Jump) {
        panes::jump(model, now);
    } else if model.notice != before
        && let Some(n) = model.notice.as_mut()
    {
        // a pane reads no clock: the notice it left is stamped here
        n.at = now;
    }
}

/// A pane key that writes: the active pane proposes the mutation for its selected row (the confirm
/// dialog opens) or says why there is none.
fn propose_for_row(model: &mut Model, derived: &Derived, action: Action, now: DateTime<Utc>) {
    let active = model.ui.active;
    match pane(active).propose(model, derived, action, now) {
        Some(Ok(p)) => {
            propose(model, p.mutation, now);
            if let Some(d) = model.dialog.as_mut() {
                d.current = p.current;
            }
        }
        Some(Err(why)) => notice(model, &why, NoticeLevel::Info, now),
        None => notice(model, &not_here(action, active), NoticeLevel::Info, now),
    }
}

/// Why a writing key does nothing in this pane, and where it does something.
fn not_here(action: Action, pane: PaneId) -> String {
    match action {
        Action::Scale => {
            "scale: select a Deployment, StatefulSet or ReplicaSet in the Top pane (5), or jump there from an eviction storm (t)"
                .into()
        }
        Action::Fix
        | Action::Finalize
        | Action::ToggleFailurePolicy
        | Action::BackupDelete
        | Action::Restore => format!("`{action}` does nothing in the {pane} pane"),
        _ => format!(
            "{}: select a pod or workload in the Top pane (5)",
            action.name()
        ),
    }
}

/// A key while the active pane's filter is edited: typed into it (the selection goes back to the
/// first row).
fn edit_filter(model: &mut Model, ev: &crossterm::event::KeyEvent) -> bool {
    let active = model.ui.active;
    if !pane(active).edit_filter(model, ev) {
        return false;
    }
    model.ui.selected[active.index()] = 0;
    true
}

/// The etcd runbook's commands to the clipboard: shown and copied, never run.
fn copy_runbook(
    model: &mut Model,
    derived: &Derived,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) {
    match &derived.runbook {
        Some(rb) if !rb.commands().is_empty() => {
            let n = rb.commands().lines().count();
            effects.push(Effect::Copy(rb.commands()));
            notice(
                model,
                &format!(
                    "copied {n} command(s) of \"{}\" to the clipboard (OSC 52); ktriage runs nothing",
                    rb.title
                ),
                NoticeLevel::Info,
                now,
            );
        }
        _ => notice(
            model,
            "nothing to copy: no etcd recovery runbook applies now",
            NoticeLevel::Info,
            now,
        ),
    }
}

/// An informational notice (for the app loop, which owns the clock).
pub fn notice_info(model: &mut Model, text: &str, now: DateTime<Utc>) {
    notice(model, text, NoticeLevel::Info, now);
}

pub(crate) fn notice(model: &mut Model, text: &str, level: NoticeLevel, now: DateTime<Utc>) {
    model.notice = Some(Notice {
        text: text.to_string(),
        level,
        at: now,
    });
}

/// Keep the active pane's selection on a row. Only the active pane: counting another pane's rows
/// (10,000 Events grouped) on every batch is work nobody sees; a pane is clamped when it becomes
/// active, since switching is a key and `update` clamps after every key.
fn clamp_selection(model: &mut Model, derived: &Derived) {
    let p = model.ui.active;
    let rows = pane(p).row_count(model, derived);
    let sel = &mut model.ui.selected[p.index()];
    *sel = (*sel).min(rows.saturating_sub(1));
}
