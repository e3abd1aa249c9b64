//! The Leaders, Events and Top panes' part of `update`: their source messages, pane keys (sort, group,
//! warnings only, jump), the scale proposal, Undo and the dialog's replica and copy keys.

use chrono::{DateTime, Utc};

use super::{Effect, notice};
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

/// Propose the write that reverts this session's last action (a scale: back to the journal's
/// `before`).
pub fn undo(model: &mut Model, now: DateTime<Utc>) {
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
pub fn jump(model: &mut Model, now: DateTime<Utc>) {
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
