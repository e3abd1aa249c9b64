//! The Namespaces and Webhooks panes' actions as mutations for the confirm dialog (pure: the model
//! and the selection in, a `Mutation` or the reason there is none out).

use serde_json::Value;

use super::namespaces::blockers::blockers;
use super::{Model, PaneId};
use crate::mutation::{Mutation, Target};
use crate::shared::action::Action;

/// The mutation a pane action proposes for the current selection.
pub fn mutation_for(model: &Model, action: Action) -> Result<Mutation, String> {
    match model.ui.active {
        PaneId::Namespaces => namespaces(model, action),
        PaneId::Webhooks => webhooks(model, action),
        other => Err(format!("`{action}` does nothing in the {other} pane")),
    }
}

fn restore_from(manifest: &Value) -> Option<Mutation> {
    let s = |p: &str| {
        manifest
            .pointer(p)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let api_version = s("/apiVersion")?;
    let kind = s("/kind")?;
    let plural = match kind.as_str() {
        "APIService" => "apiservices",
        "ValidatingWebhookConfiguration" => "validatingwebhookconfigurations",
        "MutatingWebhookConfiguration" => "mutatingwebhookconfigurations",
        _ => return None,
    };
    Some(Mutation::Restore {
        target: Target::cluster(&api_version, &kind, plural, &s("/metadata/name")?),
        manifest: manifest.clone(),
    })
}

fn namespaces(model: &Model, action: Action) -> Result<Mutation, String> {
    let nsm = &model.namespaces;
    if action == Action::Restore {
        return nsm
            .backups
            .values()
            .find_map(restore_from)
            .ok_or_else(|| "nothing to restore: ktriage deleted no APIService in this session (the journal holds earlier backups)".into());
    }
    let sel = model.ui.selected[PaneId::Namespaces.index()];
    let ns = nsm.at(sel).ok_or("no namespace selected")?;
    if !ns.terminating() {
        return Err(format!(
            "namespace {} is not Terminating: nothing to fix",
            ns.name
        ));
    }
    if action == Action::Finalize {
        return Ok(Mutation::Finalize {
            namespace: ns.name.clone(),
        });
    }
    let bl = blockers(model, ns);
    let first = bl
        .first()
        .ok_or_else(|| format!("no blocker known for {} yet", ns.name))?;
    match first.id.split_once(':') {
        Some(("apiservice", name)) => Ok(Mutation::Delete {
            target: Target::cluster(
                "apiregistration.k8s.io/v1",
                "APIService",
                "apiservices",
                name,
            ),
        }),
        Some(("content", kind)) => {
            let c = nsm
                .content
                .get(&ns.name)
                .ok_or("the namespace's content has not been scanned yet")?;
            let k = c
                .kinds
                .iter()
                .find(|k| k.kind == kind && !k.held.is_empty())
                .ok_or_else(|| format!("no {kind} object with finalizers in the last scan"))?;
            let h = &k.held[0];
            let fin = h.finalizers.first().cloned().unwrap_or_default();
            Ok(Mutation::RemoveFinalizer {
                target: Target {
                    api_version: k.api_version.clone(),
                    kind: k.kind.clone(),
                    plural: k.plural.clone(),
                    namespace: Some(ns.name.clone()),
                    name: h.name.clone(),
                },
                finalizer: fin,
                index: 0,
                resource_version: h.resource_version.clone(),
            })
        }
        Some(("finalizer", "kubernetes")) => Ok(Mutation::Finalize {
            namespace: ns.name.clone(),
        }),
        Some(("finalizer", fin)) => {
            let index = ns
                .meta_finalizers
                .iter()
                .position(|f| f == fin)
                .ok_or("the finalizer is gone already")?;
            Ok(Mutation::RemoveFinalizer {
                target: Target::cluster("v1", "Namespace", "namespaces", &ns.name),
                finalizer: fin.to_string(),
                index,
                resource_version: ns.resource_version.clone(),
            })
        }
        _ => Err(format!("no action for blocker {}", first.id)),
    }
}

fn webhooks(model: &Model, action: Action) -> Result<Mutation, String> {
    let wm = &model.webhooks;
    let sel = model.ui.selected[PaneId::Webhooks.index()];
    let row = wm.shown().into_iter().nth(sel);
    match (action, row) {
        (Action::ToggleFailurePolicy, Some((c, index, w))) => Ok(Mutation::SetFailurePolicy {
            kind: c.kind,
            configuration: c.name.clone(),
            webhook: w.name.clone(),
            index,
            policy: if w.failure_policy == "Ignore" {
                "Fail"
            } else {
                "Ignore"
            }
            .into(),
            reason: String::new(),
        }),
        (Action::BackupDelete, Some((c, _, _))) => Ok(Mutation::Delete {
            target: Target::cluster(
                "admissionregistration.k8s.io/v1",
                c.kind.config_kind(),
                c.kind.plural(),
                &c.name,
            ),
        }),
        (Action::Restore, row) => {
            if let Some((c, index, w)) = row
                && let Some(saved) =
                    wm.saved_policies
                        .get(&format!("{}/{}#{}", c.kind.short(), c.name, w.name))
            {
                return Ok(Mutation::SetFailurePolicy {
                    kind: c.kind,
                    configuration: c.name.clone(),
                    webhook: w.name.clone(),
                    index,
                    policy: saved.clone(),
                    reason: "restore the failurePolicy saved before ktriage changed it".into(),
                });
            }
            wm.backups
                .values()
                .find_map(restore_from)
                .ok_or_else(|| "nothing to restore: no saved policy for this webhook and no deleted configuration".into())
        }
        _ => Err("no webhook selected".into()),
    }
}
