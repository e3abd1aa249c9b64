//! The Leaders, Events and Top panes' part of `update`: their source messages, pane keys (sort, group,
//! warnings only, jump), the scale proposal, Undo and the dialog's replica and copy keys.

use chrono::{DateTime, Utc};

use super::{Effect, notice};
use crate::model::{Delta, LastAction, Model, NoticeLevel, PaneId};
use crate::msg::Msg;
use crate::mutation::Mutation;
use crate::mutation::{Outcome, OutcomeResult};
use crate::shared::action::Action;

/// Apply a source message of these panes; returns true when data changed.
pub fn on_source(model: &mut Model, msg: Msg, now: DateTime<Utc>) -> bool {
    match msg {
        Msg::Nodes(d) => model.nodes.apply(d, now),
        Msg::Leases(d) => model.leaders.apply(d, now),
        Msg::Events(d) => {
            let fresh = match &d {
                Delta::Apply(e) => crate::model::events::OtherAction::of(e),
                _ => None,
            };
            let changed = model.events.apply(d, now);
            if let Some(a) = fresh {
                another_console_acted(model, a, now);
            }
            changed
        }
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

/// How recent another console's action must be to be said in the status bar when it arrives.
const OTHERS_NOTICE_SECS: i64 = 10 * 60;

/// Another ktriage console (another user, or another terminal of the same one) acted: say so in
/// the status bar, once, as its `KtriageAction` Event arrives.
fn another_console_acted(
    model: &mut Model,
    a: crate::model::events::OtherAction,
    now: DateTime<Utc>,
) {
    let ours = model.own_actions.contains(&a.id) || model.acting.iter().any(|o| a.about(o));
    if !ours {
        model
            .timeline
            .other(&a.id, format!("{} {}", a.who, a.what), a.at.unwrap_or(now));
    }
    let recent =
        a.at.is_some_and(|t| (now - t).num_seconds() <= OTHERS_NOTICE_SECS);
    if ours || !recent {
        return;
    }
    let when = a.at.map(|t| crate::text::age(now, t)).unwrap_or_default();
    notice(
        model,
        &format!("another ktriage: {} {}, {when} ago", a.who, a.what),
        NoticeLevel::Warning,
        now,
    );
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

/// The mutation that reverts `last`, read from the journal's `before`; why not, when it cannot be
/// undone.
///
/// | action | undo |
/// |---|---|
/// | scale | scale back to the replicas before |
/// | webhook failurePolicy toggle | the webhook's failurePolicy before (by name at its index) |
/// | cordon / uncordon | the node's `spec.unschedulable` before |
/// | drain | uncordon, when the node was schedulable before (evicted pods stay where they went) |
/// | back up and delete (APIService, webhook configuration) | re-create it from the saved YAML |
/// | restore | delete it again (its YAML is saved first, as for every delete) |
/// | remove a finalizer, finalize, rollout restart, delete pods | none: not reversible |
pub fn undo_of(last: &LastAction) -> Result<Mutation, String> {
    let before = &last.before;
    let unusable = || format!("action {} has no usable `before`", last.id);
    match &last.mutation {
        Mutation::Scale {
            kind,
            namespace,
            name,
            ..
        } => {
            let replicas = before.get("replicas").and_then(|v| v.as_i64());
            Ok(Mutation::Scale {
                kind: kind.clone(),
                namespace: namespace.clone(),
                name: name.clone(),
                replicas: replicas
                    .and_then(|r| i32::try_from(r).ok())
                    .ok_or_else(unusable)?,
            })
        }
        Mutation::SetFailurePolicy {
            kind,
            configuration,
            webhook,
            index,
            ..
        } => {
            let hook = before
                .pointer(&format!("/webhooks/{index}"))
                .filter(|h| h.get("name").and_then(|n| n.as_str()) == Some(webhook.as_str()))
                .ok_or_else(unusable)?;
            // admissionregistration/v1 defaults an absent failurePolicy to Fail
            let policy = hook
                .get("failurePolicy")
                .and_then(|p| p.as_str())
                .unwrap_or("Fail");
            Ok(Mutation::SetFailurePolicy {
                kind: *kind,
                configuration: configuration.clone(),
                webhook: webhook.clone(),
                index: *index,
                policy: policy.to_string(),
                reason: format!("undo of action {}", last.id),
            })
        }
        Mutation::Cordon { node, .. } => Ok(Mutation::Cordon {
            node: node.clone(),
            unschedulable: unschedulable(before.get("spec")),
        }),
        Mutation::Drain { node } => {
            if unschedulable(before.pointer("/node/spec")) {
                Err(format!(
                    "node {node} was already cordoned before the drain; evicted pods are not put back"
                ))
            } else {
                Ok(Mutation::Cordon {
                    node: node.clone(),
                    unschedulable: false,
                })
            }
        }
        Mutation::Delete { target } if before.is_object() => Ok(Mutation::Restore {
            target: target.clone(),
            manifest: before.clone(),
        }),
        Mutation::Delete { .. } => Err(unusable()),
        Mutation::Restore { target, .. } => Ok(Mutation::Delete {
            target: target.clone(),
        }),
        Mutation::RemoveFinalizer { .. } => Err(
            "a removed finalizer cannot be put back: Kubernetes refuses new finalizers on an object being deleted"
                .into(),
        ),
        Mutation::Finalize { namespace } => {
            Err(format!("namespace {namespace} was finalized: it is gone"))
        }
        Mutation::RolloutRestart { .. } => {
            Err("a rollout restart cannot be undone: the pods were replaced".into())
        }
        Mutation::DeletePod { .. } | Mutation::DeletePods { .. } => {
            Err("deleted pods cannot be put back (a controller re-creates its own)".into())
        }
    }
}

/// `spec.unschedulable` of a node's spec (absent: schedulable).
fn unschedulable(spec: Option<&serde_json::Value>) -> bool {
    spec.and_then(|s| s.get("unschedulable"))
        .and_then(|u| u.as_bool())
        .unwrap_or(false)
}

/// Propose the write that reverts this session's last action ([`undo_of`]: from the journal's
/// `before`), or say why it cannot be undone.
pub fn undo(model: &mut Model, now: DateTime<Utc>) {
    let Some(last) = model.last_action.clone() else {
        return notice(
            model,
            "undo: no action of this session to revert",
            NoticeLevel::Info,
            now,
        );
    };
    let m = match undo_of(&last) {
        Ok(m) => m,
        Err(why) => {
            return notice(
                model,
                &format!("undo: `{}`: {why}", last.mutation.describe()),
                NoticeLevel::Warning,
                now,
            );
        }
    };
    let was = match &last.mutation {
        Mutation::Scale { replicas, .. } => format!("{replicas} replicas"),
        other => other.describe(),
    };
    super::propose(model, m, now);
    if let Some(d) = model.dialog.as_mut() {
        d.current = Some(format!(
            "{was} (action {}); undo puts back the journal's before",
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
