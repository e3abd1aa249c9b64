//! PodDisruptionBudgets for the eviction subresource: an eviction that would take a budget's
//! healthy pods below `minAvailable` (or disrupt more than `maxUnavailable`) is refused with the
//! real server's 429, message and `DisruptionBudget` cause. The simulator computes the allowance at
//! request time (a real server reads `status.disruptionsAllowed` kept by the disruption controller).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::api::ApiError;
use super::selectors::LabelSelector;
use super::server::State;

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

fn healthy(p: &Value) -> bool {
    p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        && p.pointer("/metadata/deletionTimestamp").is_none()
}

/// An int or a percentage of `total`.
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

/// `Err(429)` when a budget covering `pod` allows no disruption now.
pub fn check(st: &State, ns: &str, pod: &Value) -> Result<(), ApiError> {
    if !healthy(pod) {
        return Ok(()); // evicting an unhealthy pod never lowers the healthy count
    }
    let pod_labels = labels(pod);
    for pdb in st.store.list(PDBS, Some(ns)) {
        let Some(sel) = pdb
            .pointer("/spec/selector")
            .and_then(LabelSelector::from_object)
        else {
            continue;
        };
        if sel.is_empty() || !sel.matches(&pod_labels) {
            continue;
        }
        let covered: Vec<&Value> = st
            .store
            .list(PODS, Some(ns))
            .map(|p| p.as_ref())
            .filter(|p| sel.matches(&labels(p)))
            .collect();
        let total = covered.len();
        let ok = covered.iter().filter(|p| healthy(p)).count();
        let name = pdb
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (allowed, needs) = if let Some(min) = pdb
            .pointer("/spec/minAvailable")
            .and_then(|v| amount(v, total))
        {
            (ok.saturating_sub(min), min)
        } else if let Some(max) = pdb
            .pointer("/spec/maxUnavailable")
            .and_then(|v| amount(v, total))
        {
            let down = total - ok;
            (max.saturating_sub(down), total.saturating_sub(max))
        } else {
            continue;
        };
        if allowed == 0 {
            let mut e = ApiError::new(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            );
            e.details = json!({"causes": [{"reason": "DisruptionBudget",
                "message": format!("The disruption budget {name} needs {needs} healthy pods and has {ok} currently")}]});
            return Err(e);
        }
    }
    Ok(())
}
