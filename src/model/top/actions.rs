//! The Top pane's actions as mutations for the confirm dialog (pure: the model, the rows as the
//! screen shows them and the selection in; a `Mutation` with what the object looks like now, or
//! the reason there is none, out): scale a Deployment, a rollout restart, a pod delete, a clean-up
//! of Evicted/Failed pods (namespace or cluster-wide, with the count and list in the dialog), a
//! cordon/uncordon or a drain of the selected pod's node.

use chrono::{DateTime, SecondsFormat, Utc};

use super::{PodRow, TopOrder, TopRow};
use crate::model::{Model, PaneId};
use crate::mutation::pods::workload_plural;
use crate::mutation::{Mutation, PodRef};
use crate::shared::action::Action;

/// How many pod names the clean-up dialog lists before `… and N more`.
const LIST_MAX: usize = 8;

/// The selected row, as the screen shows it.
pub fn selected_row(model: &Model, order: &TopOrder) -> Option<TopRow> {
    let sel = model.ui.selected[PaneId::Top.index()];
    model.top.row_in(order, sel)
}

/// The selected pod (none while the rows are grouped by owner).
pub fn selected_pod(model: &Model, order: &TopOrder) -> Option<PodRow> {
    let row = selected_row(model, order)?;
    model
        .top
        .pods
        .get(&format!("{}/{}", row.namespace, row.name))
        .cloned()
        .filter(|_| !model.top.grouped)
}

/// A Top key's mutation and what the dialog says about the object now, or why there is none;
/// `None` when the key is not one of the Top pane's actions.
pub fn proposal(
    model: &Model,
    order: &TopOrder,
    action: Action,
    now: DateTime<Utc>,
) -> Option<Result<(Mutation, Option<String>), String>> {
    match action {
        Action::Scale => Some(scale(model, order)),
        Action::RolloutRestart
        | Action::DeletePod
        | Action::CleanEvicted
        | Action::CleanEvictedAll
        | Action::Cordon
        | Action::Drain => Some(mutation_for(model, order, action, now).map(|m| {
            let current = current(model, &m);
            (m, current)
        })),
        _ => None,
    }
}

/// The workloads ktriage scales (through their `scale` subresource).
pub const SCALABLE: &[&str] = &["Deployment", "StatefulSet", "ReplicaSet"];

/// Scale the selected Deployment, StatefulSet or bare ReplicaSet to zero (the dialog's `+`/`-`
/// change the count).
fn scale(model: &Model, order: &TopOrder) -> Result<(Mutation, Option<String>), String> {
    let w = selected_row(model, order)
        .and_then(|r| r.workload)
        .ok_or("scale: no workload selected")?;
    if !SCALABLE.contains(&w.kind.as_str()) {
        return Err(format!(
            "scale: {} {}/{} has no replicas to scale; ktriage scales Deployments, StatefulSets and ReplicaSets",
            w.kind, w.namespace, w.name
        ));
    }
    let running = model
        .top
        .pods
        .iter()
        .filter(|p| p.running() && model.top.workload_ref(p) == w.as_ref())
        .count();
    let m = Mutation::Scale {
        kind: w.kind,
        namespace: w.namespace,
        name: w.name,
        replicas: 0,
    };
    Ok((m, Some(format!("{running} pod(s) running"))))
}

/// What the dialog says about the object now: the clean-up's count and list, the drain's pods.
pub fn current(model: &Model, m: &Mutation) -> Option<String> {
    match m {
        Mutation::DeletePods { pods, .. } => {
            let mut names: Vec<String> = pods
                .iter()
                .take(LIST_MAX)
                .map(|p| format!("{} ({})", p.path(), p.reason))
                .collect();
            if pods.len() > LIST_MAX {
                names.push(format!("… and {} more", pods.len() - LIST_MAX));
            }
            Some(format!("{} pod(s): {}", pods.len(), names.join(", ")))
        }
        Mutation::Drain { node } => {
            let on = model
                .top
                .pods
                .iter()
                .filter(|p| &p.node == node && p.phase != "Failed")
                .count();
            Some(format!(
                "{on} pod(s) on {node} now; DaemonSet, mirror and unmanaged pods stay"
            ))
        }
        _ => None,
    }
}

/// The mutation for a Top-pane action, or why there is none.
pub fn mutation_for(
    model: &Model,
    order: &TopOrder,
    action: Action,
    now: DateTime<Utc>,
) -> Result<Mutation, String> {
    match action {
        Action::RolloutRestart => {
            let w = selected_row(model, order)
                .and_then(|r| r.workload)
                .ok_or("rollout restart: nothing selected")?;
            if workload_plural(&w.kind).is_none() {
                return Err(format!(
                    "rollout restart: {} {}/{} is not a Deployment, DaemonSet or StatefulSet (delete the pod instead)",
                    w.kind, w.namespace, w.name
                ));
            }
            Ok(Mutation::RolloutRestart {
                kind: w.kind,
                namespace: w.namespace,
                name: w.name,
                at: now.to_rfc3339_opts(SecondsFormat::Secs, true),
            })
        }
        Action::DeletePod => {
            let p = selected_pod(model, order)
                .ok_or("delete pod: select one pod (ungroup the Top pane with g)")?;
            let w = model.top.workload(&p);
            Ok(Mutation::DeletePod {
                owner: (w.kind != "Pod").then(|| format!("{} {}", w.kind, w.name)),
                namespace: p.namespace,
                name: p.name,
                uid: (!p.uid.is_empty()).then_some(p.uid),
            })
        }
        Action::CleanEvicted | Action::CleanEvictedAll => {
            let ns = if action == Action::CleanEvicted {
                Some(
                    selected_row(model, order)
                        .map(|r| r.namespace)
                        .ok_or("clean evicted pods: select a row of the namespace to clean")?,
                )
            } else {
                None
            };
            let pods: Vec<PodRef> = model
                .top
                .pods
                .iter()
                .filter(|p| p.phase == "Failed")
                .filter(|p| ns.as_deref().is_none_or(|n| p.namespace == n))
                .map(|p| PodRef {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    uid: (!p.uid.is_empty()).then(|| p.uid.clone()),
                    reason: if p.reason.is_empty() {
                        "Failed".into()
                    } else {
                        p.reason.clone()
                    },
                })
                .collect();
            if pods.is_empty() {
                return Err(format!(
                    "no Evicted/Failed pods {}",
                    ns.map(|n| format!("in namespace {n}"))
                        .unwrap_or_else(|| "in the cluster".into())
                ));
            }
            Ok(Mutation::DeletePods {
                namespace: ns,
                pods,
            })
        }
        Action::Cordon | Action::Drain => {
            let p =
                selected_pod(model, order).ok_or("select a pod on the node (ungroup with g)")?;
            if p.node.is_empty() {
                return Err(format!("pod {}/{} is not on a node", p.namespace, p.name));
            }
            if action == Action::Drain {
                return Ok(Mutation::Drain { node: p.node });
            }
            let cordoned = model.nodes.get(&p.node).is_some_and(|n| n.unschedulable);
            Ok(Mutation::Cordon {
                node: p.node,
                unschedulable: !cordoned,
            })
        }
        other => Err(format!("{} is not a Top action", other.name())),
    }
}
