//! PodDisruptionBudgets as a real cluster keeps them: the disruption controller (part of
//! kube-controller-manager) writes each budget's status (`currentHealthy`, `desiredHealthy`,
//! `expectedPods`, `disruptionsAllowed`, `observedGeneration`, the `DisruptionAllowed` condition),
//! and the eviction subresource judges by that status, not by the pods: a budget not yet processed,
//! or with `disruptionsAllowed` 0, refuses with the real server's 429, message and `DisruptionBudget`
//! cause; an allowed eviction takes one disruption off the status and records the pod in
//! `disruptedPods` until the controller sees it gone.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::api::{ApiError, now_rfc3339};
use super::selectors::LabelSelector;
use super::server::State;
use super::store::meta_str;

const PDBS: &str = "policy/poddisruptionbudgets";
const PODS: &str = "/pods";

fn labels(o: &Value) -> BTreeMap<String, String> {
    o.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Ready (the `Ready` condition, or Running where a scenario pod has no conditions) and not being
/// deleted: what the disruption controller counts as healthy.
fn healthy(p: &Value) -> bool {
    if p.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return false;
    }
    match p
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
    {
        Some(c) => c["status"] == "True",
        None => p.pointer("/status/phase").and_then(Value::as_str) == Some("Running"),
    }
}

/// An int or a percentage of `total`, rounded up (as `GetScaledValueFromIntOrPercent`).
fn amount(v: &Value, total: usize) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<usize>().ok())
            .map(|p| (total * p).div_ceil(100)),
        _ => None,
    }
}

fn covered<'a>(st: &'a State, ns: &'a str, pdb: &Value) -> Vec<&'a Value> {
    let Some(sel) = pdb
        .pointer("/spec/selector")
        .and_then(LabelSelector::from_object)
    else {
        return Vec::new();
    };
    if sel.is_empty() {
        return Vec::new();
    }
    st.store
        .list(PODS, Some(ns))
        .map(|p| p.as_ref())
        .filter(|p| sel.matches(&labels(p)))
        .collect()
}

/// The pods' controllers' scale: a ReplicaSet's Deployment (or the ReplicaSet) replicas, summed.
fn controllers_scale(st: &State, ns: &str, pods: &[&Value]) -> Option<usize> {
    let mut owners = BTreeSet::new();
    for p in pods {
        let o = p
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)?
            .iter()
            .find(|o| o["controller"] == true)?;
        owners.insert((
            o["kind"].as_str()?.to_string(),
            o["name"].as_str()?.to_string(),
        ));
    }
    let mut total = 0;
    for (kind, name) in owners {
        let res = match kind.as_str() {
            "ReplicaSet" => "apps/replicasets",
            "StatefulSet" => "apps/statefulsets",
            _ => return None,
        };
        let o = st.store.get(res, ns, &name)?;
        let scale_of = |o: &Value| o.pointer("/spec/replicas").and_then(Value::as_u64);
        let deploy = o
            .pointer("/metadata/ownerReferences/0/name")
            .and_then(Value::as_str)
            .and_then(|d| st.store.get("apps/deployments", ns, d));
        total += match deploy {
            Some(d) => scale_of(d),
            None => scale_of(o),
        }? as usize;
    }
    Some(total)
}

/// `(expectedPods, desiredHealthy)` of a budget over its pods.
fn wanted(st: &State, ns: &str, pdb: &Value, pods: &[&Value]) -> Option<(usize, usize)> {
    let min = pdb.pointer("/spec/minAvailable").filter(|v| !v.is_null());
    if let Some(Value::Number(n)) = min {
        return Some((pods.len(), n.as_u64()? as usize));
    }
    let expected = controllers_scale(st, ns, pods).unwrap_or(pods.len());
    if let Some(m) = min {
        return Some((expected, amount(m, expected)?));
    }
    let max = pdb.pointer("/spec/maxUnavailable")?;
    Some((expected, expected.saturating_sub(amount(max, expected)?)))
}

/// The disruption controller: every budget's status from its pods (kube-controller-manager must
/// run; `lifecycle::reconcile` checks).
pub fn controller(st: &mut State) {
    let now = chrono::Utc::now();
    let budgets: Vec<Value> = st.store.list(PDBS, None).map(|p| (**p).clone()).collect();
    for pdb in budgets {
        let ns = meta_str(&pdb, "namespace").to_string();
        let name = meta_str(&pdb, "name").to_string();
        let pods = covered(st, &ns, &pdb);
        let Some((expected, desired)) = wanted(st, &ns, &pdb, &pods) else {
            continue;
        };
        // an eviction the controller has not yet seen through (the pod still there, < 2 min)
        let disrupted: serde_json::Map<String, Value> = pdb
            .pointer("/status/disruptedPods")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(p, t)| {
                        pods.iter().any(|x| meta_str(x, "name") == p.as_str())
                            && t.as_str()
                                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                                .is_some_and(|t| now.signed_duration_since(t).num_seconds() < 120)
                    })
                    .map(|(p, t)| (p.clone(), t.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let current = pods
            .iter()
            .filter(|p| healthy(p) && !disrupted.contains_key(meta_str(p, "name")))
            .count();
        let allowed = current.saturating_sub(desired);
        let generation = pdb
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let (cstatus, reason) = if allowed > 0 {
            ("True", "SufficientPods")
        } else {
            ("False", "InsufficientPods")
        };
        let old_cond = pdb
            .pointer("/status/conditions/0")
            .cloned()
            .unwrap_or(json!({}));
        let since = if old_cond["status"] == cstatus {
            old_cond["lastTransitionTime"].clone()
        } else {
            json!(now_rfc3339())
        };
        let status = json!({"observedGeneration": generation, "disruptedPods": disrupted,
            "disruptionsAllowed": allowed, "currentHealthy": current, "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": [{"type": "DisruptionAllowed", "status": cstatus, "reason": reason, "message": "",
                "observedGeneration": generation, "lastTransitionTime": since}]});
        if pdb.get("status") != Some(&status) {
            let mut new = pdb.clone();
            new["status"] = status;
            st.store.put(PDBS, &ns, &name, new);
        }
    }
}

fn too_many(why: String) -> ApiError {
    let mut e = ApiError::new(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    e.details = json!({"causes": [{"reason": "DisruptionBudget", "message": why}]});
    e
}

/// The eviction's budget check: `Err(429)` when a budget covering `pod` allows no disruption by its
/// status; otherwise (unless `dry_run`) the disruption is taken off that budget's status.
pub fn check_and_take(
    st: &mut State,
    ns: &str,
    pod: &Value,
    dry_run: bool,
) -> Result<(), ApiError> {
    let phase = pod
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed" | "Pending") {
        return Ok(()); // evicting a pod that does not run never lowers the healthy count
    }
    let pod_labels = labels(pod);
    let matching: Vec<Value> = st
        .store
        .list(PDBS, Some(ns))
        .filter(|p| {
            p.pointer("/spec/selector")
                .and_then(LabelSelector::from_object)
                .is_some_and(|s| !s.is_empty() && s.matches(&pod_labels))
        })
        .map(|p| (**p).clone())
        .collect();
    if matching.len() > 1 {
        return Err(ApiError::new(
            500,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        ));
    }
    let Some(pdb) = matching.into_iter().next() else {
        return Ok(());
    };
    let name = meta_str(&pdb, "name").to_string();
    let generation = pdb
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let s = |k: &str| pdb.pointer(&format!("/status/{k}")).and_then(Value::as_i64);
    if s("observedGeneration").unwrap_or(0) < generation {
        return Err(too_many(format!(
            "The disruption budget {name} is still being processed by the server."
        )));
    }
    let allowed = s("disruptionsAllowed").unwrap_or(0);
    if allowed <= 0 {
        return Err(too_many(format!(
            "The disruption budget {name} needs {} healthy pods and has {} currently",
            s("desiredHealthy").unwrap_or(0),
            s("currentHealthy").unwrap_or(0)
        )));
    }
    if !dry_run {
        let mut new = pdb.clone();
        new["status"]["disruptionsAllowed"] = json!(allowed - 1);
        new["status"]["disruptedPods"][meta_str(pod, "name")] = json!(now_rfc3339());
        st.store.put(PDBS, ns, &name, new);
    }
    Ok(())
}
