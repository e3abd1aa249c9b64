//! Scheduling, as kube-scheduler decides for the simulator's pods (and the kubelet starts them at
//! once): a node must be Ready and not cordoned, and the pod must tolerate its `NoSchedule` and
//! `NoExecute` taints (so a control-plane node is used only where its taint is tolerated, whatever
//! its labels); among the nodes left, the replicas of one owner spread out (fewest pods of the same
//! owner first, then fewest pods), ties broken by a hash of the pod's name. A required pod
//! anti-affinity per node (`topologyKey: kubernetes.io/hostname`) keeps a pod off nodes running a
//! pod it selects (in its namespace).

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::api::now_rfc3339;
use super::selectors::LabelSelector;
use super::server::State;
use super::store::{labels, meta_str};

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 1469598103934665603;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    h
}

fn ready(n: &Value) -> bool {
    n.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// Whether a toleration covers a taint (`operator` Exists or Equal, empty key with Exists = all).
fn tolerates(tol: &Value, taint: &Value) -> bool {
    let effect_ok = tol["effect"]
        .as_str()
        .is_none_or(|e| e.is_empty() || taint["effect"] == e);
    let key = tol["key"].as_str().unwrap_or("");
    let exists = tol["operator"] == "Exists";
    if key.is_empty() {
        return exists && effect_ok;
    }
    effect_ok
        && taint["key"] == key
        && (exists || tol["value"].as_str().unwrap_or("") == taint["value"].as_str().unwrap_or(""))
}

fn fits(node: &Value, pod: &Value) -> bool {
    let tols = pod
        .pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .is_none_or(|taints| {
            taints
                .iter()
                .filter(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute")
                .all(|t| tols.iter().any(|tol| tolerates(tol, t)))
        })
}

/// The label selectors of the pod's required anti-affinity terms per node.
fn anti_affinity(pod: &Value) -> Vec<LabelSelector> {
    pod.pointer("/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution")
        .and_then(Value::as_array)
        .map(|terms| {
            terms
                .iter()
                .filter(|t| t["topologyKey"] == "kubernetes.io/hostname")
                .filter_map(|t| LabelSelector::from_object(&t["labelSelector"]))
                .collect()
        })
        .unwrap_or_default()
}

/// The nodes running a pod (in `pod`'s namespace) that one of `terms` selects.
fn repelling_nodes(st: &State, pod: &Value, terms: &[LabelSelector]) -> HashSet<String> {
    if terms.is_empty() {
        return HashSet::new();
    }
    st.store
        .list("/pods", Some(meta_str(pod, "namespace")))
        .filter(|p| {
            p.pointer("/metadata/deletionTimestamp")
                .is_none_or(Value::is_null)
        })
        .filter(|p| terms.iter().any(|t| t.matches(&labels(p))))
        .filter_map(|p| p.pointer("/spec/nodeName").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn owner_uid(o: &Value) -> Option<&str> {
    o.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o["controller"] == true)?
        .get("uid")?
        .as_str()
}

/// The node for `pod` and its InternalIP. One pass over the pods counts each node's (so placing
/// a pod costs O(pods + nodes), also in the generated large scenarios).
fn pick_node(st: &State, pod: &Value) -> Option<(String, String)> {
    let owner = owner_uid(pod);
    let repelled = repelling_nodes(st, pod, &anti_affinity(pod));
    let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
    for p in st.store.list("/pods", None) {
        if let Some(node) = p.pointer("/spec/nodeName").and_then(Value::as_str) {
            let c = counts.entry(node).or_default();
            c.1 += 1;
            if owner.is_some() && owner_uid(p) == owner {
                c.0 += 1;
            }
        }
    }
    let name = meta_str(pod, "name");
    let n = st
        .store
        .list("/nodes", None)
        .filter(|n| ready(n))
        .filter(|n| n.pointer("/spec/unschedulable").and_then(Value::as_bool) != Some(true))
        .filter(|n| fits(n, pod))
        .filter(|n| !repelled.contains(meta_str(n, "name")))
        .min_by_key(|n| {
            let node = meta_str(n, "name");
            let (same, all) = counts.get(node).copied().unwrap_or_default();
            (same, all, fnv(&format!("{name}/{node}")))
        })?;
    let ip = n
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|x| x["address"].as_str())
        .unwrap_or("")
        .to_string();
    Some((meta_str(n, "name").to_string(), ip))
}

/// The scheduler's decision and the kubelet's start, at once: on a node that fits, the pod is
/// Running; with none it stays Pending, `Unschedulable`.
pub fn place(st: &State, mut pod: Value) -> Value {
    let now = now_rfc3339();
    let Some((node, host_ip)) = pick_node(st, &pod) else {
        pod["status"] = json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/0 nodes are available: no schedulable worker node."}]});
        return pod;
    };
    pod["spec"]["nodeName"] = json!(node);
    let statuses: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| json!({"name": c.get("name").cloned().unwrap_or(json!("")), "image": c.get("image").cloned().unwrap_or(json!("")),
            "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}}}))
        .collect();
    let h = fnv(meta_str(&pod, "name"));
    pod["status"] = json!({"phase": "Running", "hostIP": host_ip, "podIP": format!("10.42.{}.{}", 3 + h % 3, 100 + (h >> 8) % 150), "startTime": now, "qosClass": "BestEffort",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}, {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": statuses});
    pod
}
