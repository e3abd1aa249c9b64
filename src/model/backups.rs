//! What ktriage saved before changing something, kept for the restore actions (the journal's intent
//! lines hold the same YAML for after a restart).

use serde_json::Value;

use super::{Delta, Model};
use crate::mutation::Mutation;
use crate::mutation::{Outcome, OutcomeResult};

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

/// Backups from an earlier run's journal (deleted objects whose YAML the intent line saved, and not
/// restored since), so `restore` still works after a restart.
pub fn from_journal(model: &mut Model, entries: &[Value]) {
    let applied: std::collections::HashSet<&str> = entries
        .iter()
        .filter(|e| e["phase"] == "outcome")
        .filter(|e| e["result"] == "applied" || e["result"] == "unverified")
        .filter_map(|e| e["id"].as_str())
        .collect();
    for e in entries.iter().filter(|e| e["phase"] == "intent") {
        if !e["id"].as_str().is_some_and(|id| applied.contains(id)) {
            continue;
        }
        let kind = e["object"]["kind"].as_str().unwrap_or_default();
        let key = format!(
            "{kind}/{}",
            e["object"]["name"].as_str().unwrap_or_default()
        );
        let map = if kind == "APIService" {
            &mut model.namespaces.backups
        } else if kind.ends_with("WebhookConfiguration") {
            &mut model.webhooks.backups
        } else {
            continue;
        };
        match e["mutation"]["type"].as_str() {
            Some("delete") if e["before"].is_object() => {
                map.insert(key, e["before"].clone());
            }
            Some("restore") => {
                map.remove(&key);
            }
            _ => {}
        }
    }
}
