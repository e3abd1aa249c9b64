//! What ktriage saved before changing something, kept for the restore actions (the journal's intent
//! lines hold the same YAML for after a restart).

use serde_json::Value;

use super::{Delta, Model};
use crate::kube::executor::{Outcome, OutcomeResult};
use crate::mutation::Mutation;

/// Remember backups from a finished action.
pub fn record(model: &mut Model, out: &Outcome) {
    let Some(before) = out.before.clone().filter(|b| !b.is_null()) else {
        return;
    };
    let applied = matches!(
        out.result,
        OutcomeResult::Applied | OutcomeResult::Unverified
    );
    match &out.mutation {
        Mutation::Delete { target } if applied => {
            let key = format!("{}/{}", target.kind, target.name);
            if target.kind == "APIService" {
                model.namespaces.backups.insert(key, before);
            } else {
                model.webhooks.backups.insert(key, before);
            }
        }
        Mutation::Restore { target, .. } if applied => {
            let key = format!("{}/{}", target.kind, target.name);
            model.namespaces.backups.remove(&key);
            model.webhooks.backups.remove(&key);
        }
        Mutation::SetFailurePolicy {
            kind,
            configuration,
            webhook,
            index,
            policy,
            ..
        } if applied => {
            let key = format!("{}/{configuration}#{webhook}", kind.short());
            let was = before
                .pointer(&format!("/webhooks/{index}/failurePolicy"))
                .and_then(Value::as_str)
                .unwrap_or("Fail")
                .to_string();
            match model.webhooks.saved_policies.get(&key) {
                Some(saved) if saved == policy => {
                    model.webhooks.saved_policies.remove(&key);
                }
                Some(_) => {}
                None => {
                    model.webhooks.saved_policies.insert(key, was);
                }
            }
        }
        Mutation::RemoveFinalizer {
            target, finalizer, ..
        } if out.result == OutcomeResult::Applied => {
            // the re-read confirmed it: the content scan's copy is stale until its next pass
            let Some(ns) = &target.namespace else {
                return;
            };
            if let Some(mut c) = model.namespaces.content.get(ns).cloned() {
                for k in c.kinds.iter_mut().filter(|k| k.kind == target.kind) {
                    for h in k.held.iter_mut().filter(|h| h.name == target.name) {
                        h.finalizers.retain(|f| f != finalizer);
                        h.resource_version = out
                            .after
                            .as_ref()
                            .and_then(|a| a.pointer("/metadata/resourceVersion"))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                    }
                    k.held.retain(|h| !h.finalizers.is_empty());
                }
                model.namespaces.content.apply(Delta::Apply(c));
            }
        }
        _ => {}
    }
}
