//! Behaviours of the Leaders/Events/Top stories.
//!
//! - `eviction-burst`: every Deployment or StatefulSet annotated `sim.ktriage.io/runaway: "true"` whose pods run
//!   drives MemoryPressure on their nodes and evicts one other pod per node (one with memory
//!   limits, outside kube-system: the victims of the story; phase Failed, reason
//!   Evicted, a kubelet `Evicted` Warning event). When it is scaled to 0 (no running pods) the
//!   pressure clears and the stream stops. Answers `{"evicted": N, "pressured": [nodes]}`.
//! - `flip-leader`: the holder of a Lease (`namespace`, `lease`; default kube-system/kube-scheduler)
//!   moves to the next control-plane node, as a flapping leader election does. Answers
//!   `{"from", "to"}`.
//!
//! Both find their objects from annotations, owners and node roles, never from names, so a scenario
//! with every user-chosen name changed behaves the same.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::sim::api::now_rfc3339;
use crate::sim::server::State;
use crate::sim::store::meta_str;
use crate::sim::write::new_uid;

pub const RUNAWAY_ANNOTATION: &str = "sim.ktriage.io/runaway";

fn micro_now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn owner_uid(o: &Value) -> Option<&str> {
    o.pointer("/metadata/ownerReferences/0/uid")
        .and_then(Value::as_str)
}

fn running(p: &Value) -> bool {
    p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
}

/// The running pods of every runaway (a Deployment or StatefulSet annotated
/// `sim.ktriage.io/runaway`, replicas > 0), and the uids their pods are owned by (the Deployments'
/// ReplicaSets, the StatefulSets themselves).
fn runaway_pods(st: &State) -> (Vec<Value>, BTreeSet<String>) {
    let mut pods = Vec::new();
    let mut rs_uids = BTreeSet::new();
    let runaway = |o: &Value| {
        o.pointer(&format!(
            "/metadata/annotations/{}",
            RUNAWAY_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
            == Some("true")
    };
    for s in st
        .store
        .list("apps/statefulsets", None)
        .filter(|s| runaway(s))
    {
        let ns = meta_str(s, "namespace");
        let uid = meta_str(s, "uid").to_string();
        pods.extend(
            st.store
                .list("/pods", Some(ns))
                .filter(|p| running(p) && owner_uid(p) == Some(uid.as_str()))
                .map(|p| (**p).clone()),
        );
        rs_uids.insert(uid);
    }
    for d in st.store.list("apps/deployments", None) {
        let on = d
            .pointer(&format!(
                "/metadata/annotations/{}",
                RUNAWAY_ANNOTATION.replace('/', "~1")
            ))
            .and_then(Value::as_str)
            == Some("true");
        if !on {
            continue;
        }
        let ns = meta_str(d, "namespace");
        let duid = meta_str(d, "uid");
        let replicas = d
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        for rs in st.store.list("apps/replicasets", Some(ns)) {
            if owner_uid(rs) == Some(duid) {
                rs_uids.insert(meta_str(rs, "uid").to_string());
            }
        }
        if replicas == 0 {
            continue;
        }
        pods.extend(
            st.store
                .list("/pods", Some(ns))
                .filter(|p| running(p) && owner_uid(p).is_some_and(|u| rs_uids.contains(u)))
                .map(|p| (**p).clone()),
        );
    }
    (pods, rs_uids)
}

/// Every container has a memory limit: the well-behaved pods the kubelet evicts in the story.
fn has_memory_limits(p: &Value) -> bool {
    p.pointer("/spec/containers")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            !cs.is_empty()
                && cs
                    .iter()
                    .all(|c| c.pointer("/resources/limits/memory").is_some())
        })
}

fn set_memory_pressure(st: &mut State, node: &str, on: bool) {
    let Some(n) = st.store.get("/nodes", "", node).map(|n| (**n).clone()) else {
        return;
    };
    let mut n = n;
    let Some(conds) = n
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    let want = if on { "True" } else { "False" };
    let mut changed = false;
    for c in conds.iter_mut() {
        if c.get("type").and_then(Value::as_str) == Some("MemoryPressure")
            && c.get("status").and_then(Value::as_str) != Some(want)
        {
            c["status"] = json!(want);
            c["lastTransitionTime"] = json!(now_rfc3339());
            c["reason"] = json!(if on {
                "KubeletHasInsufficientMemory"
            } else {
                "KubeletHasSufficientMemory"
            });
            c["message"] = json!(if on {
                "kubelet has insufficient memory available"
            } else {
                "kubelet has sufficient memory available"
            });
            changed = true;
        }
    }
    if changed {
        st.store.put("/nodes", "", node, n);
    }
}

pub fn eviction_burst(st: &mut State, _args: &Value) -> Value {
    let (pods, rs_uids) = runaway_pods(st);
    let nodes: BTreeSet<String> = pods
        .iter()
        .filter_map(|p| p.pointer("/spec/nodeName").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    // clear pressure on nodes the runaway left
    let pressured_before: Vec<String> = st
        .store
        .list("/nodes", None)
        .filter(|n| {
            n.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("MemoryPressure")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
        })
        .map(|n| meta_str(n, "name").to_string())
        .collect();
    for n in pressured_before.iter().filter(|n| !nodes.contains(*n)) {
        set_memory_pressure(st, n, false);
    }
    let mut evicted = 0;
    for node in &nodes {
        set_memory_pressure(st, node, true);
        let on_node = |p: &Value| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node);
        let not_runaway = |p: &Value| owner_uid(p).is_none_or(|u| !rs_uids.contains(u));
        let victim = st
            .store
            .list("/pods", None)
            .filter(|p| {
                running(p)
                    && on_node(p)
                    && not_runaway(p)
                    && meta_str(p, "namespace") != "kube-system"
                    && has_memory_limits(p)
                    && p.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
                        .is_none()
            })
            .map(|p| (**p).clone())
            .next()
            .or_else(|| {
                // nobody left to evict: a replacement of an earlier victim, evicted again
                st.store
                    .list("/pods", None)
                    .find(|p| {
                        on_node(p)
                            && p.pointer("/status/reason").and_then(Value::as_str)
                                == Some("Evicted")
                    })
                    .map(|p| {
                        let mut p = (**p).clone();
                        let base = meta_str(&p, "name")
                            .rsplit_once('-')
                            .map(|(b, _)| b.to_string())
                            .unwrap_or_default();
                        p["metadata"]["name"] =
                            json!(format!("{base}-{:05x}", fastrand::u32(..0xfffff)));
                        p["metadata"]["uid"] = json!(new_uid());
                        p
                    })
            });
        let Some(mut pod) = victim else { continue };
        let ns = meta_str(&pod, "namespace").to_string();
        let name = meta_str(&pod, "name").to_string();
        let msg =
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 61224Ki. ";
        pod["status"] = json!({"phase": "Failed", "reason": "Evicted", "message": msg, "startTime": pod.pointer("/status/startTime").cloned().unwrap_or(Value::Null)});
        // the evicted pod stays behind, orphaned, and its ReplicaSet makes a replacement
        if let Some(m) = pod["metadata"].as_object_mut() {
            m.remove("ownerReferences");
        }
        st.store.put("/pods", &ns, &name, pod.clone());
        let now = now_rfc3339();
        let ev_name = format!("{name}.{:016x}", fastrand::u64(..));
        st.store.put(
            "/events",
            &ns,
            &ev_name,
            json!({"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": ev_name, "namespace": ns, "uid": new_uid(), "creationTimestamp": now},
                "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": ns, "uid": meta_str(&pod, "uid")},
                "reason": "Evicted", "message": msg, "type": "Warning", "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": "kubelet", "host": node}, "reportingComponent": "kubelet", "reportingInstance": node}),
        );
        evicted += 1;
    }
    json!({"evicted": evicted, "pressured": nodes})
}

pub fn flip_leader(st: &mut State, args: &Value) -> Value {
    let ns = args
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("kube-system");
    let name = args
        .get("lease")
        .and_then(Value::as_str)
        .unwrap_or("kube-scheduler");
    let Some(lease) = st
        .store
        .get("coordination.k8s.io/leases", ns, name)
        .map(|l| (**l).clone())
    else {
        return json!({"error": format!("no lease {ns}/{name}")});
    };
    let mut cps: Vec<String> = st
        .store
        .list("/nodes", None)
        .filter(|n| {
            n.pointer("/metadata/labels/node-role.kubernetes.io~1control-plane")
                .is_some()
        })
        .map(|n| meta_str(n, "name").to_string())
        .collect();
    cps.sort();
    if cps.is_empty() {
        return json!({"error": "no control-plane node"});
    }
    let from = lease
        .pointer("/spec/holderIdentity")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let cur = from.split('_').next().unwrap_or("");
    let i = cps
        .iter()
        .position(|n| n == cur)
        .map(|i| i + 1)
        .unwrap_or(0)
        % cps.len();
    let to = format!(
        "{}_{:08x}-{:04x}",
        cps[i],
        fastrand::u32(..),
        fastrand::u16(..)
    );
    let mut l = lease;
    let now = micro_now();
    l["spec"]["holderIdentity"] = json!(to);
    l["spec"]["acquireTime"] = json!(now);
    l["spec"]["renewTime"] = json!(now);
    let tr = l
        .pointer("/spec/leaseTransitions")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    l["spec"]["leaseTransitions"] = json!(tr + 1);
    st.store.put("coordination.k8s.io/leases", ns, name, l);
    json!({"from": from, "to": to})
}
