//! The etcd pane's exec key: ask once whether to run `etcdctl` in the etcd pods through pods/exec
//! for this context. The question says what would run, in which pods, how often, and that exec is
//! a write for the read-only gate (the key is hidden and refused in read-only mode before this
//! runs). A yes is held for the context for the rest of the session (the app loop keeps it across
//! context switches); the pane then says that exec is in use.

use chrono::{DateTime, Utc};

use super::{Effect, notice};
use crate::etcd::access::ASKED_IN_PANE;
use crate::model::etcd::ExecAsk;
use crate::model::etcd::exec::{COMMANDS, EVERY, targets};
use crate::model::{Model, NoticeLevel, SourceState};
use crate::shared::action::Action;

/// The exec key: open the question, or say why there is nothing to ask.
pub fn ask(model: &mut Model, now: DateTime<Utc>) {
    let Some(context) = model.cluster.context.clone() else {
        notice(
            model,
            "no Kubernetes context: etcdctl in the etcd pods runs through the API",
            NoticeLevel::Info,
            now,
        );
        return;
    };
    if !matches!(model.etcd.exec_state, SourceState::NotConfigured { .. }) {
        let why = model.etcd.exec_note.clone().unwrap_or_default();
        notice(
            model,
            &format!(
                "etcdctl in the etcd pods is already on for context {context} ({}): {why}",
                model.etcd.exec_state.label(now)
            ),
            NoticeLevel::Info,
            now,
        );
        return;
    }
    let t = targets(model.etcd.pods.iter());
    let Some((first, _, ctl)) = t.pods.first() else {
        let why = if t.skipped.is_empty() {
            "no running etcd pod seen through the API (k3s runs etcd inside the k3s process and RKE1 in a Docker container: no pod to exec into)".to_string()
        } else {
            format!(
                "no running etcd pod names its certificates on its command line ({})",
                t.skipped.join(", ")
            )
        };
        notice(
            model,
            &format!("nothing to ask: {why}"),
            NoticeLevel::Info,
            now,
        );
        return;
    };
    let commands: Vec<String> = COMMANDS.iter().map(|c| ctl.argv(c).join(" ")).collect();
    let kubectl = format!(
        "kubectl --context {context} -n kube-system exec {first} -c etcd -- {}",
        commands[0]
    );
    model.etcd.exec_ask = Some(ExecAsk {
        context,
        pods: t
            .pods
            .iter()
            .map(|(p, n, _)| (p.clone(), n.clone()))
            .collect(),
        skipped: t.skipped,
        runs: COMMANDS.iter().map(|c| c.join(" ")).collect(),
        commands,
        cert: ctl.cert.clone(),
        kubectl,
        every_secs: EVERY.as_secs(),
    });
}

/// A key while the question is open: yes turns exec on (the app loop starts it), no closes it,
/// copy puts the `kubectl exec` equivalent on the clipboard. Everything else is ignored.
pub fn on_key(
    model: &mut Model,
    action: Option<Action>,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) {
    let Some(ask) = model.etcd.exec_ask.clone() else {
        return;
    };
    match action {
        Some(Action::Confirm) if model.cluster.read_only => {
            model.etcd.exec_ask = None;
            notice(
                model,
                "read-only mode: pods/exec is a write; nothing was run",
                NoticeLevel::Warning,
                now,
            );
        }
        Some(Action::Confirm) => {
            model.etcd.exec_ask = None;
            model.etcd.exec_state = SourceState::Loading { since: now };
            model.etcd.exec_note = Some(format!("etcdctl in the etcd pods ({ASKED_IN_PANE})"));
            effects.push(Effect::EtcdExec);
            notice(
                model,
                &format!(
                    "exec on for context {}: an access review first, then etcdctl in {} pod(s) every {} s",
                    ask.context,
                    ask.pods.len(),
                    ask.every_secs
                ),
                NoticeLevel::Info,
                now,
            );
        }
        Some(Action::Cancel) => {
            model.etcd.exec_ask = None;
            notice(
                model,
                "cancelled: nothing was run; the etcd pods' logs still feed the rules",
                NoticeLevel::Info,
                now,
            );
        }
        Some(Action::Copy) => {
            effects.push(Effect::Copy(ask.kubectl.clone()));
            notice(
                model,
                "copied the kubectl exec command (OSC 52)",
                NoticeLevel::Info,
                now,
            );
        }
        _ => {}
    }
}
