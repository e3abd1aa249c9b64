//! The Leaders, Events and Top panes' part of `update`: their source messages, pane keys (sort, group,
//! warnings only, jump), the scale proposal, Undo and the dialog's replica and copy keys.

use chrono::{DateTime, Utc};

use super::{Effect, notice};
use crate::derived::Derived;
use crate::model::{LastAction, Model, NoticeLevel, PaneId};
use crate::msg::Msg;
use crate::mutation::Mutation;
use crate::mutation::{Outcome, OutcomeResult};
use crate::shared::action::Action;

/// Apply a source message of these panes; returns true when data changed.
pub fn on_source(model: &mut Model, msg: Msg, now: DateTime<Utc>) -> bool {
    match msg {
        Msg::Nodes(d) => model.nodes.apply(d, now),
        Msg::Leases(d) => model.leaders.apply(d, now),
        Msg::Events(d) => model.events.apply(d, now),
        Msg::EventsApi(api) => {
            model.events.api = Some(api);
            false
        }
        Msg::Pods(d) => model.top.apply_pods(d, now),
        Msg::ReplicaSets(d) => model.top.apply_replicasets(d),
        Msg::Metrics(snap) => {
            model.top.set_metrics(snap, now);
            true
        }
        _ => false,
    }
}

/// Keep what Undo needs: an action that reached the server, with the object's `before`.
pub fn remember_action(model: &mut Model, outcome: &Outcome) {
    if matches!(
        outcome.result,
        OutcomeResult::Applied | OutcomeResult::Unverified
    ) && let Some(before) = &outcome.before
    {
        model.last_action = Some(LastAction {
            id: outcome.id.clone(),
            mutation: outcome.mutation.clone(),
            before: before.clone(),
        });
    }
}

/// The mutation that reverts `last`: scale back to the previous replicas. The other actions are
/// reverted through their pane's restore (`r`), which reads the saved YAML or policy.
pub fn undo_of(last: &LastAction) -> Option<Mutation> {
    match &last.mutation {
        Mutation::Scale {
            namespace, name, ..
        } => {
            let replicas = last.before.get("replicas")?.as_i64()?;
            Some(Mutation::Scale {
                namespace: namespace.clone(),
                name: name.clone(),
                replicas: i32::try_from(replicas).ok()?,
            })
        }
        _ => None,
    }
}

pub fn pane_action(model: &mut Model, derived: &Derived, action: Action, now: DateTime<Utc>) {
    let sel = model.ui.selected[model.ui.active.index()];
    match (action, model.ui.active) {
        (Action::ToggleWarnings, PaneId::Events) => {
            model.events.warnings_only = !model.events.warnings_only;
        }
        (Action::Sort, PaneId::Events) => model.events.sort = model.events.sort.next(),
        (Action::Filter, PaneId::Events) => model.events.editing = true,
        (Action::Filter, PaneId::Overview) => model.overview_filter.editing = true,
        (Action::Filter, PaneId::Etcd) => model.etcd.filter.editing = true,
        (Action::Filter, PaneId::Top) => model.top.filter.editing = true,
        (Action::Filter, PaneId::Leaders) => model.leaders.filter.editing = true,
        (Action::Filter, PaneId::Namespaces) => model.namespaces.filter.editing = true,
        (Action::Filter, PaneId::Webhooks) => model.webhooks.filter.editing = true,
        (Action::Sort, PaneId::Top) => model.top.sort = model.top.sort.next(),
        (Action::Group, PaneId::Top) => {
            model.top.grouped = !model.top.grouped;
            model.ui.selected[PaneId::Top.index()] = 0;
        }
        (Action::Jump, _) => jump(model, now),
        (Action::Scale, PaneId::Top) => scale_selected(model, derived, sel, now),
        (Action::Scale, _) => notice(
            model,
            "scale: select a workload in the Top pane (5), or jump there from an eviction storm (t)",
            NoticeLevel::Info,
            now,
        ),
        (Action::Undo, _) => undo(model, now),
        _ => {}
    }
}

fn scale_selected(model: &mut Model, derived: &Derived, sel: usize, now: DateTime<Utc>) {
    let Some(row) = model.top.row_in(&derived.top, sel) else {
        return notice(model, "scale: no workload selected", NoticeLevel::Info, now);
    };
    let Some(w) = row.workload.clone() else {
        return;
    };
    if w.kind != "Deployment" {
        return notice(
            model,
            &format!(
                "scale: {} {}/{} is not a Deployment; ktriage scales Deployments",
                w.kind, w.namespace, w.name
            ),
            NoticeLevel::Info,
            now,
        );
    }
    let running = model
        .top
        .pods
        .iter()
        .filter(|p| p.running() && model.top.workload_ref(p) == w.as_ref())
        .count();
    let m = Mutation::Scale {
        namespace: w.namespace,
        name: w.name,
        replicas: 0,
    };
    super::propose(model, m, now);
    if let Some(d) = model.dialog.as_mut() {
        d.current = Some(format!("{running} pod(s) running"));
    }
}

fn undo(model: &mut Model, now: DateTime<Utc>) {
    let Some(last) = model.last_action.clone() else {
        return notice(
            model,
            "undo: no action of this session to revert",
            NoticeLevel::Info,
            now,
        );
    };
    let Mutation::Scale {
        replicas: after, ..
    } = last.mutation
    else {
        return notice(
            model,
            &format!(
                "undo: `{}` is reverted with restore (r) in its pane, from the saved copy",
                last.mutation.describe()
            ),
            NoticeLevel::Info,
            now,
        );
    };
    let Some(m) = undo_of(&last) else {
        return notice(
            model,
            &format!("undo: action {} has no usable `before`", last.id),
            NoticeLevel::Warning,
            now,
        );
    };
    super::propose(model, m, now);
    if let Some(d) = model.dialog.as_mut() {
        d.current = Some(format!(
            "{after} replicas (set by action {}); undo restores the journal's before",
            last.id
        ));
    }
}

/// From an eviction storm (the selected finding in Overview, or the first storm from Events) to its
/// workload in Top, grouped by owner with that workload selected.
fn jump(model: &mut Model, now: DateTime<Utc>) {
    let pick = match model.ui.active {
        PaneId::Overview => model
            .overview_rows()
            .get(model.ui.selected[PaneId::Overview.index()])
            .and_then(|(i, _)| model.findings.get(*i))
            .filter(|f| {
                f.subject.as_ref().is_some_and(|s| {
                    matches!(
                        s.kind.as_str(),
                        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Pod"
                    )
                })
            })
            .cloned(),
        _ => None,
    }
    .or_else(|| {
        model
            .findings
            .iter()
            .find(|f| f.id == "eviction-storm" && f.subject.is_some())
            .cloned()
    });
    let Some(subject) = pick.and_then(|f| f.subject) else {
        return notice(
            model,
            "jump: no eviction storm with a culprit workload",
            NoticeLevel::Info,
            now,
        );
    };
    model.top.grouped = true;
    model.ui.active = PaneId::Top;
    let rows = model.top.rows();
    let idx = rows.iter().position(|r| {
        r.workload.as_ref().is_some_and(|w| {
            w.kind == subject.kind
                && Some(&w.namespace) == subject.namespace.as_ref()
                && w.name == subject.name
        })
    });
    match idx {
        Some(i) => model.ui.selected[PaneId::Top.index()] = i,
        None => notice(
            model,
            &format!("jump: {} {} has no pods in Top", subject.kind, subject.name),
            NoticeLevel::Info,
            now,
        ),
    }
}

pub fn dialog_action(
    model: &mut Model,
    action: Action,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) {
    let ctx = model.cluster.context.clone();
    let Some(d) = model.dialog.as_mut() else {
        return;
    };
    match action {
        Action::Copy => {
            let cmd = d.mutation.kubectl(ctx.as_deref());
            effects.push(Effect::Copy(cmd));
            notice(
                model,
                "kubectl command copied to the clipboard (OSC 52)",
                NoticeLevel::Info,
                now,
            );
        }
        Action::More | Action::Less => {
            // only a scale has a number to edit
            if let Mutation::Scale { replicas, .. } = &mut d.mutation {
                *replicas = if action == Action::More {
                    replicas.saturating_add(1)
                } else {
                    (*replicas - 1).max(0)
                };
            }
        }
        _ => {}
    }
}

/// While the Events filter line is being edited, keys type into it: Enter keeps it, Esc clears it.
pub fn on_edit_key(model: &mut Model, ev: &crossterm::event::KeyEvent) -> bool {
    use crossterm::event::{KeyCode, KeyModifiers};
    if !model.events.editing || model.ui.active != PaneId::Events {
        return false;
    }
    match ev.code {
        KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => {
            model.events.filter.push(c)
        }
        KeyCode::Backspace => {
            model.events.filter.pop();
        }
        KeyCode::Enter => model.events.editing = false,
        KeyCode::Esc => {
            model.events.filter.clear();
            model.events.editing = false;
        }
        _ => return false,
    }
    model.ui.selected[PaneId::Events.index()] = 0;
    true
}
