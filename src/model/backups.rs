//! What ktriage saved before changing something, kept for the restore actions (the journal's intent
//! lines hold the same YAML for after a restart).

use serde_json::Value;

use super::Model;
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
        _ => {}
    }
}
