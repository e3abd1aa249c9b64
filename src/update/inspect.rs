//! The Top pane's pod, workload and node actions: propose a rollout restart, a pod delete, a clean-up
//! of Evicted/Failed pods (namespace or cluster-wide, with the count and list in the dialog), a
//! cordon/uncordon or a drain of the selected pod's node. Every one goes through the confirm dialog
//! and the one executor.

use chrono::{DateTime, Utc};

use super::{Effect, notice};
use crate::derived::Derived;
use crate::model::top::actions::selected_pod;
use crate::model::view::ViewRequest;
use crate::model::view::{PodView, ViewKind};
use crate::model::{Model, NoticeLevel};
use crate::msg::Msg;
use crate::mutation::Mutation;
use crate::shared::action::Action;

/// How many lines the logs view asks for (`--tail`).
const TAIL: i64 = 500;

fn logs_request(v: &crate::model::view::PodView) -> Effect {
    Effect::View(ViewRequest::Logs {
        id: v.id,
        namespace: v.namespace.clone(),
        pod: v.pod.clone(),
        container: v.container_name().map(str::to_string),
        previous: v.previous,
        follow: v.follow,
        tail: TAIL,
    })
}

/// Open a view on the selected pod, or change the open one (previous, container, follow).
pub fn view_action(
    model: &mut Model,
    derived: &Derived,
    action: Action,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) {
    let kind = match action {
        Action::Logs => Some(ViewKind::Logs),
        Action::Yaml => Some(ViewKind::Yaml),
        Action::Describe => Some(ViewKind::Describe),
        _ => None,
    };
    if let Some(kind) = kind {
        let Some(p) = selected_pod(model, &derived.top) else {
            return notice(
                model,
                "select one pod in the Top pane (ungroup with g) to view its logs, YAML or description",
                NoticeLevel::Info,
                now,
            );
        };
        model.view_seq += 1;
        let containers = p.containers.iter().map(|c| c.name.clone()).collect();
        let mut v = PodView::new(kind, model.view_seq, &p.namespace, &p.name, containers);
        // a crash-looping container: start on it, and on its previous run's logs
        if let Some(i) = p
            .containers
            .iter()
            .position(|c| c.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
        {
            v.container = i;
        }
        effects.push(match kind {
            ViewKind::Logs => logs_request(&v),
            ViewKind::Yaml | ViewKind::Describe | ViewKind::Report => {
                Effect::View(ViewRequest::Object {
                    id: v.id,
                    namespace: v.namespace.clone(),
                    pod: v.pod.clone(),
                })
            }
        });
        model.view = Some(v);
        return;
    }
    let Some(v) = model.view.as_mut() else {
        return;
    };
    match (action, v.kind) {
        (Action::Previous, ViewKind::Yaml) => v.show_managed_fields = !v.show_managed_fields,
        (Action::Previous | Action::Container | Action::Follow, ViewKind::Logs) => {
            match action {
                Action::Previous => v.previous = !v.previous,
                Action::Container => v.container = (v.container + 1) % v.containers.len().max(1),
                _ => v.follow = !v.follow,
            }
            model.view_seq += 1;
            v.id = model.view_seq;
            v.lines.clear();
            v.scroll = 0;
            v.ended = false;
            v.error = None;
            effects.push(logs_request(v));
        }
        _ => {}
    }
}

/// A message of the view stream; lines of an older stream are ignored.
pub fn on_view_msg(model: &mut Model, msg: Msg) {
    let Some(v) = model.view.as_mut() else {
        return;
    };
    match msg {
        Msg::ViewLines { id, lines } if id == v.id => {
            for l in lines {
                v.lines.push(l);
            }
        }
        Msg::ViewObject { id, object } if id == v.id => v.object = Some(object),
        Msg::ViewEnded { id, error } if id == v.id => {
            v.ended = true;
            v.error = error;
        }
        _ => {}
    }
}

/// Keys while a view is open: scroll, search (`/`), copy the kubectl command, close. Returns true
/// when the key was the view's.
pub fn view_key(model: &mut Model, action: Action, effects: &mut Vec<Effect>) -> bool {
    let Some(v) = model.view.as_mut() else {
        return false;
    };
    let page = model.ui.page.max(1);
    match action {
        Action::Close => {
            model.view = None;
            effects.push(Effect::View(ViewRequest::Stop));
        }
        // leaving the pane closes its view (and stops the stream); the switch itself goes on
        Action::Pane(_) | Action::NextPane | Action::PrevPane => {
            model.view = None;
            effects.push(Effect::View(ViewRequest::Stop));
            return false;
        }
        Action::Copy => {
            let cmd = v.kubectl(model.cluster.context.as_deref());
            effects.push(Effect::Copy(cmd));
        }
        Action::Filter => v.search.editing = true,
        Action::Down => v.scroll += 1,
        Action::Up => {
            v.follow = false;
            v.scroll = v.scroll.saturating_sub(1);
        }
        Action::PageDown => v.scroll += page,
        Action::PageUp => v.scroll = v.scroll.saturating_sub(page),
        Action::First => v.scroll = 0,
        Action::Last => v.scroll = usize::MAX / 2,
        _ => return false,
    }
    true
}

/// Typing into the view's search line.
pub fn view_edit_key(model: &mut Model, ev: &crossterm::event::KeyEvent) -> bool {
    model.view.as_mut().is_some_and(|v| v.search.edit(ev))
}

/// After a drain or bulk delete that reached the server: a view listing exactly what moved, what a
/// PodDisruptionBudget held and what was skipped or deleted (the same lines as the journal's
/// `side_effects`).
pub fn report_view(model: &mut Model, outcome: &crate::mutation::Outcome) {
    use crate::mutation::OutcomeResult;
    if !matches!(
        outcome.mutation,
        Mutation::Drain { .. } | Mutation::DeletePods { .. }
    ) || !matches!(
        outcome.result,
        OutcomeResult::Applied | OutcomeResult::Unverified
    ) {
        return;
    }
    let mut lines = vec![outcome.summary(), String::new()];
    lines.extend(outcome.side_effects.iter().cloned());
    model.view_seq += 1;
    model.view = Some(PodView::report(
        model.view_seq,
        &outcome.mutation.describe(),
        &lines,
        outcome.mutation.kubectl(model.cluster.context.as_deref()),
    ));
}
