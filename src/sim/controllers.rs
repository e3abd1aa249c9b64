//! A small Deployment/ReplicaSet controller and owner-reference garbage collection, run
//! synchronously after writes (and on the periodic resync):
//! - a Deployment keeps one ReplicaSet (created if missing) whose `spec.replicas` follows it;
//! - a ReplicaSet creates or deletes its pods to match `spec.replicas`; pod creation goes through
//!   admission, and a rejection becomes a `FailedCreate` Warning event on the ReplicaSet and a
//!   `ReplicaFailure` condition on the Deployment (the Gatekeeper story);
//! - new pods are scheduled at once (`scheduler`) and are Running, or stay Pending while
//!   kube-scheduler is stopped (`components`);
//! - deleting a Deployment deletes its ReplicaSets, deleting a ReplicaSet deletes its pods;
//! - a StatefulSet keeps the pods `<name>-0` … `<name>-<replicas-1>`: scaled down, the highest
//!   ordinals go; scaled up, the missing ones are created (through admission), as the real
//!   StatefulSet controller does (all at once here, as with `podManagementPolicy: Parallel`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::api::now_rfc3339;
use super::server::State;
use super::store::meta_str;
use super::write::{Op, new_uid};

const DEPLOY: &str = "apps/deployments";
const RS: &str = "apps/replicasets";
const STS: &str = "apps/statefulsets";
const PODS: &str = "/pods";

type Key = (String, String);

fn owner_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|o| o.get("uid").and_then(Value::as_str))
}

fn owned_by<'a>(st: &'a State, res: &str, ns: &str, uid: &'a str) -> Vec<Value> {
    st.store
        .list(res, Some(ns))
        .filter(|o| owner_uid(o) == Some(uid))
        .map(|o| (**o).clone())
        .collect()
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 1469598103934665603;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    h
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Runs the controllers for everything that changed since the last run (or everything, after a
/// resync).
pub fn run(st: &mut State) {
    if !super::components::running(st, super::components::CONTROLLER_MANAGER) {
        return; // picked up where it left off when it starts again (a resync)
    }
    let since = st.controllers_rv;
    st.controllers_rv = st.store.rv();
    let mut deploys: BTreeSet<Key> = BTreeSet::new();
    let mut sets: BTreeSet<Key> = BTreeSet::new();
    let mut stateful: BTreeSet<Key> = BTreeSet::new();
    let mut deleted_owners: Vec<(String, String, String)> = Vec::new();
    let all = since == 0;
    if all {
        deploys.extend(st.store.list(DEPLOY, None).map(|o| key(o)));
        sets.extend(st.store.list(RS, None).map(|o| key(o)));
        stateful.extend(st.store.list(STS, None).map(|o| key(o)));
    } else {
        for c in st.store.changes_since_any(since) {
            let k = key(&c.obj);
            match (c.res.as_str(), c.kind) {
                (DEPLOY, "DELETED") | (RS, "DELETED") => {
                    deleted_owners.push((c.res.clone(), k.0, meta_str(&c.obj, "uid").to_string()))
                }
                (DEPLOY, _) => {
                    deploys.insert(k);
                }
                (RS, _) => {
                    sets.insert(k);
                }
                (STS, "DELETED") => {
                    deleted_owners.push((c.res.clone(), k.0, meta_str(&c.obj, "uid").to_string()))
                }
                (STS, _) => {
                    stateful.insert(k);
                }
                (PODS, _) => {
                    if let Some(uid) = owner_uid(&c.obj)
                        && let Some(rs) = st
                            .store
                            .list(RS, Some(&k.0))
                            .find(|r| meta_str(r, "uid") == uid)
                    {
                        sets.insert(key(rs));
                    }
                }
                _ => {}
            }
        }
    }
    while let Some((res, ns, uid)) = deleted_owners.pop() {
        let child = if res == DEPLOY { RS } else { PODS };
        for o in owned_by(st, child, &ns, &uid) {
            st.store.remove(child, &ns, meta_str(&o, "name"));
            if child == RS {
                deleted_owners.push((RS.to_string(), ns.clone(), meta_str(&o, "uid").to_string()));
            }
        }
    }
    let mut owners: BTreeMap<Key, Option<String>> = BTreeMap::new();
    for (ns, name) in deploys {
        for rs in sync_deployment(st, &ns, &name) {
            sets.insert((ns.clone(), rs));
        }
        owners.entry((ns, name)).or_default();
    }
    for (ns, name) in sets {
        if let Some((owner, failure)) = sync_replicaset(st, &ns, &name) {
            let slot = owners.entry((ns, owner)).or_default();
            if failure.is_some() {
                *slot = failure;
            }
        }
    }
    for ((ns, name), failure) in owners {
        deployment_status(st, &ns, &name, failure);
    }
    for (ns, name) in stateful {
        sync_statefulset(st, &ns, &name);
    }
    // the controllers' own writes are already accounted for
    st.controllers_rv = st.store.rv();
}

/// Makes the next [`run`] look at every Deployment and ReplicaSet.
pub fn resync_all(st: &mut State) {
    st.controllers_rv = 0;
}

fn key(o: &Value) -> Key {
    (
        meta_str(o, "namespace").to_string(),
        meta_str(o, "name").to_string(),
    )
}

/// The pod template of a ReplicaSet without its `pod-template-hash` label.
fn template_of(rs: &Value) -> Option<Value> {
    let mut t = rs.pointer("/spec/template")?.clone();
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove("pod-template-hash");
    }
    Some(t)
}

fn revision(o: &Value) -> i64 {
    o.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Finds (or creates, on a template change: an instant rollout) the Deployment's current
/// ReplicaSet and gives it the wanted replicas; answers every owned ReplicaSet's name.
fn sync_deployment(st: &mut State, ns: &str, name: &str) -> Vec<String> {
    if terminating(st, ns) {
        return vec![];
    }
    let Some(d) = st.store.get(DEPLOY, ns, name).map(|d| (**d).clone()) else {
        return vec![];
    };
    if d.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return vec![];
    }
    let uid = meta_str(&d, "uid").to_string();
    let want = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let owned = owned_by(st, RS, ns, &uid);
    let mut names: Vec<String> = owned
        .iter()
        .map(|r| meta_str(r, "name").to_string())
        .collect();
    // a hand-written ReplicaSet without a template counts as current
    let current = owned
        .iter()
        .find(|r| template_of(r).is_none_or(|t| t == template))
        .cloned();
    let rs = match current {
        Some(rs) => rs,
        None => {
            let hash = format!("{:010x}", fnv(&template.to_string()) & 0xff_ffff_ffff);
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels["pod-template-hash"] = json!(hash);
            let mut tpl = template.clone();
            tpl["metadata"]["labels"] = labels.clone();
            let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rev = owned.iter().map(revision).max().unwrap_or(0) + 1;
            json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": format!("{name}-{hash}"), "namespace": ns, "uid": new_uid(), "creationTimestamp": now_rfc3339(),
                    "generation": 1, "labels": labels, "annotations": {"deployment.kubernetes.io/revision": rev.to_string()},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"replicas": 0, "selector": selector, "template": tpl},
                "status": {"replicas": 0},
            })
        }
    };
    let rs_name = meta_str(&rs, "name").to_string();
    if rs.pointer("/spec/replicas").and_then(Value::as_i64) != Some(want)
        || st.store.get(RS, ns, &rs_name).is_none()
    {
        let mut rs = rs;
        rs["spec"]["replicas"] = json!(want);
        let g = int(&rs, "/metadata/generation");
        rs["metadata"]["generation"] = json!(g + 1);
        st.store.put(RS, ns, &rs_name, rs);
        let rev = st
            .store
            .get(RS, ns, &rs_name)
            .map(|r| revision(r))
            .unwrap_or(1);
        if revision(&d) != rev && rev > 0 {
            let mut nd = d.clone();
            nd["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                json!(rev.to_string());
            st.store.put(DEPLOY, ns, name, nd);
        }
    }
    if !names.contains(&rs_name) {
        names.push(rs_name);
    }
    names
}

fn new_pod(st: &State, rs: &Value, ns: &str) -> Value {
    const CH: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let suffix: String = (0..5)
        .map(|_| CH[fastrand::usize(..CH.len())] as char)
        .collect();
    let rs_name = meta_str(rs, "name");
    let name = format!("{rs_name}-{suffix}");
    let tpl = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let spec = tpl.get("spec").cloned().unwrap_or(json!({}));
    let now = now_rfc3339();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": new_uid(), "creationTimestamp": now,
            "labels": tpl.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "uid": meta_str(rs, "uid"), "controller": true, "blockOwnerDeletion": true}]},
        "spec": spec,
        // created, not yet seen by the scheduler
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    });
    if super::components::running(st, super::components::SCHEDULER) {
        super::scheduler::place(st, pod)
    } else {
        pod
    }
}

fn failed_create(st: &mut State, rs: &Value, ns: &str, message: &str) {
    let rs_name = meta_str(rs, "name");
    let existing = st
        .store
        .list("/events", Some(ns))
        .find(|e| {
            e.get("reason").and_then(Value::as_str) == Some("FailedCreate")
                && e.pointer("/involvedObject/name").and_then(Value::as_str) == Some(rs_name)
        })
        .map(|e| meta_str(e, "name").to_string());
    let name = existing
        .unwrap_or_else(|| format!("{rs_name}.{:016x}", fnv(&format!("{rs_name}/FailedCreate"))));
    let now = now_rfc3339();
    let msg = format!("Error creating: {message}");
    let ev = match st.store.get("/events", ns, &name) {
        Some(e) => {
            let mut e = (**e).clone();
            e["count"] = json!(int(&e, "/count") + 1);
            e["lastTimestamp"] = json!(now);
            e["message"] = json!(msg);
            e
        }
        None => json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns, "uid": new_uid(), "creationTimestamp": now},
            "involvedObject": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "namespace": ns, "uid": meta_str(rs, "uid")},
            "reason": "FailedCreate", "message": msg, "type": "Warning", "count": 1, "firstTimestamp": now, "lastTimestamp": now,
            "source": {"component": "replicaset-controller"}, "reportingComponent": "replicaset-controller"}),
    };
    st.store.put("/events", ns, &name, ev);
}

fn terminating(st: &State, ns: &str) -> bool {
    st.store.get("/namespaces", "", ns).is_none_or(|n| {
        n.pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    })
}

/// Creates or deletes the ReplicaSet's pods; answers its owning Deployment and any creation error.
fn sync_replicaset(st: &mut State, ns: &str, name: &str) -> Option<(String, Option<String>)> {
    if terminating(st, ns) {
        return None;
    }
    let rs = st.store.get(RS, ns, name).map(|r| (**r).clone())?;
    let mut templated = rs.clone();
    if rs.pointer("/spec/template/spec").is_none() {
        // a hand-written ReplicaSet without a template: use its Deployment's
        let owner = rs
            .pointer("/metadata/ownerReferences/0/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(t) = st
            .store
            .get(DEPLOY, ns, owner)
            .and_then(|d| d.pointer("/spec/template"))
        {
            let mut t = t.clone();
            if let Some(h) = rs.pointer("/metadata/labels/pod-template-hash").cloned() {
                t["metadata"]["labels"]["pod-template-hash"] = h;
            }
            templated["spec"]["template"] = t;
        }
    }
    let uid = meta_str(&rs, "uid").to_string();
    let want = rs
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let mut pods: Vec<Value> = owned_by(st, PODS, ns, &uid)
        .into_iter()
        .filter(|p| {
            p.pointer("/metadata/deletionTimestamp")
                .is_none_or(Value::is_null)
        })
        .collect();
    let mut failure: Option<String> = None;
    if pods.len() > want {
        pods.sort_by_key(|p| std::cmp::Reverse(meta_str(p, "creationTimestamp").to_string()));
        let extra: Vec<Value> = pods.drain(..pods.len() - want).collect();
        for p in extra {
            st.store.remove(PODS, ns, meta_str(&p, "name"));
        }
    }
    if let Some(pods_def) = st.reg.find("", "v1", "pods").cloned() {
        while pods.len() < want {
            let pod = new_pod(st, &templated, ns);
            let pname = meta_str(&pod, "name").to_string();
            if let Err(e) =
                super::admission::admit(st, &pods_def, Op::Create, None, ns, &pname, &pod, None)
            {
                failed_create(st, &rs, ns, &e.message);
                failure = Some(e.message);
                break;
            }
            st.store.put(PODS, ns, &pname, pod.clone());
            pods.push(pod);
        }
    }
    let ready = pods
        .iter()
        .filter(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some("Running"))
        .count() as i64;
    let mut new_rs = rs.clone();
    new_rs["status"] = json!({"replicas": pods.len(), "fullyLabeledReplicas": pods.len(), "readyReplicas": ready, "availableReplicas": ready,
        "observedGeneration": int(&rs, "/metadata/generation")});
    if let Some(msg) = &failure {
        // the ReplicaSet controller's own condition, besides the Deployment's
        let since = rs
            .pointer("/status/conditions/0/lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now_rfc3339()));
        new_rs["status"]["conditions"] = json!([{"type": "ReplicaFailure", "status": "True",
            "reason": "FailedCreate", "message": msg, "lastTransitionTime": since}]);
    }
    if new_rs != rs {
        st.store.put(RS, ns, name, new_rs);
    }
    let owner = rs
        .pointer("/metadata/ownerReferences/0/name")
        .and_then(Value::as_str)?;
    Some((owner.to_string(), failure))
}

/// Scales old ReplicaSets down once the current one is ready, and sums the status up.
fn deployment_status(st: &mut State, ns: &str, name: &str, failure: Option<String>) {
    let Some(d) = st.store.get(DEPLOY, ns, name).map(|d| (**d).clone()) else {
        return;
    };
    let want = d
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let uid = meta_str(&d, "uid").to_string();
    let owned = owned_by(st, RS, ns, &uid);
    let current = owned
        .iter()
        .find(|r| template_of(r).is_none_or(|t| t == template))
        .cloned();
    if let Some(cur) = &current
        && int(cur, "/status/readyReplicas") >= want
    {
        for old in owned
            .iter()
            .filter(|r| meta_str(r, "name") != meta_str(cur, "name"))
        {
            if int(old, "/spec/replicas") > 0 {
                let mut o = old.clone();
                o["spec"]["replicas"] = json!(0);
                let oname = meta_str(old, "name").to_string();
                st.store.put(RS, ns, &oname, o);
                sync_replicaset(st, ns, &oname);
            }
        }
    }
    let owned = owned_by(st, RS, ns, &uid);
    let sum = |ptr: &str| owned.iter().map(|r| int(r, ptr)).sum::<i64>();
    let updated = current
        .as_ref()
        .and_then(|c| {
            owned
                .iter()
                .find(|r| meta_str(r, "name") == meta_str(c, "name"))
        })
        .map(|c| int(c, "/status/replicas"))
        .unwrap_or(0);
    let mut nd = d.clone();
    for (k, v) in [
        ("replicas", sum("/status/replicas")),
        ("updatedReplicas", updated),
        ("readyReplicas", sum("/status/readyReplicas")),
        ("availableReplicas", sum("/status/availableReplicas")),
    ] {
        nd["status"][k] = json!(v);
    }
    nd["status"]["observedGeneration"] = json!(int(&d, "/metadata/generation"));
    let mut conds: Vec<Value> = d
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds.retain(|c| {
        c.get("type").and_then(Value::as_str) != Some("ReplicaFailure") || failure.is_some()
    });
    if let Some(msg) = &failure {
        match conds.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some("ReplicaFailure")) {
            Some(c) => c["message"] = json!(msg),
            None => conds.push(json!({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": msg,
                "lastTransitionTime": now_rfc3339(), "lastUpdateTime": now_rfc3339()})),
        }
    }
    nd["status"]["conditions"] = json!(conds);
    if nd != d {
        st.store.put(DEPLOY, ns, name, nd);
    }
}

/// The ordinal of a StatefulSet's pod (`web-2` → 2).
fn ordinal(pod: &str, set: &str) -> Option<usize> {
    pod.strip_prefix(set)?.strip_prefix('-')?.parse().ok()
}

/// Keeps the StatefulSet's pods `<name>-0 … <name>-<replicas-1>` and its status.
fn sync_statefulset(st: &mut State, ns: &str, name: &str) {
    if terminating(st, ns) {
        return;
    }
    let Some(sts) = st.store.get(STS, ns, name).map(|r| (**r).clone()) else {
        return;
    };
    let uid = meta_str(&sts, "uid").to_string();
    let want = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0) as usize;
    let pods = owned_by(st, PODS, ns, &uid);
    for p in &pods {
        if ordinal(meta_str(p, "name"), name).is_none_or(|i| i >= want) {
            st.store.remove(PODS, ns, meta_str(p, "name"));
        }
    }
    if let Some(pods_def) = st.reg.find("", "v1", "pods").cloned() {
        for i in 0..want {
            let pname = format!("{name}-{i}");
            if st.store.get(PODS, ns, &pname).is_some() {
                continue;
            }
            let pod = stateful_pod(st, &sts, ns, &pname);
            if super::admission::admit(st, &pods_def, Op::Create, None, ns, &pname, &pod, None)
                .is_err()
            {
                break;
            }
            st.store.put(PODS, ns, &pname, pod);
        }
    }
    let now: Vec<Value> = owned_by(st, PODS, ns, &uid);
    let ready = now
        .iter()
        .filter(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some("Running"))
        .count();
    let mut new = sts.clone();
    new["status"] = json!({"replicas": now.len(), "readyReplicas": ready, "currentReplicas": now.len(),
        "updatedReplicas": now.len(), "availableReplicas": ready,
        "observedGeneration": int(&sts, "/metadata/generation")});
    if new != sts {
        st.store.put(STS, ns, name, new);
    }
}

/// A StatefulSet's pod `<name>-<ordinal>` from its template, scheduled at once while the scheduler
/// runs.
fn stateful_pod(st: &State, sts: &Value, ns: &str, pname: &str) -> Value {
    let tpl = sts.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut labels = tpl
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels["statefulset.kubernetes.io/pod-name"] = json!(pname);
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pname, "namespace": ns, "uid": new_uid(), "creationTimestamp": now_rfc3339(),
            "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": meta_str(sts, "name"),
                "uid": meta_str(sts, "uid"), "controller": true, "blockOwnerDeletion": true}]},
        "spec": tpl.get("spec").cloned().unwrap_or(json!({})),
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    });
    if super::components::running(st, super::components::SCHEDULER) {
        super::scheduler::place(st, pod)
    } else {
        pod
    }
}
