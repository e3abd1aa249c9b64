//! The control plane's processes, following what the real ones do when they stop and start
//! (measured on kube-controller-manager, kube-scheduler and kubemark hollow nodes v1.20.2):
//!
//! - **kube-controller-manager** stopped: its Lease `kube-system/kube-controller-manager` is no longer
//!   renewed, and every controller it runs stops: Deployments and ReplicaSets, the namespace
//!   lifecycle, node lifecycle. Started again, it is a candidate under a new identity that takes the
//!   Lease once it has watched it go unrenewed for its duration (15 s; at once when nobody holds it),
//!   `leaseTransitions` + 1.
//! - **kube-scheduler** stopped: its Lease is no longer renewed and new pods stay Pending, unscheduled
//!   (no `nodeName`, no `PodScheduled` condition); started again, it takes the Lease the same way and
//!   schedules them.
//! - **a node** (its kubelet) stopped: its Lease in `kube-node-lease` is no longer renewed; once it is
//!   older than the node monitor grace period (40 s) and the controller-manager runs, the node
//!   lifecycle controller marks its `Ready`, `MemoryPressure`, `DiskPressure` and `PIDPressure`
//!   conditions `Unknown` (`NodeStatusUnknown`, "Kubelet stopped posting node status.") and taints it
//!   `node.kubernetes.io/unreachable` (NoSchedule, NoExecute), and marks its pods not Ready.
//!   Started again, the kubelet renews its Lease, posts Ready and its pods Ready; the taints go.
//!
//! - **an add-on's controller** (`NAMESPACE/LEASE`, e.g. `cattle-fleet-system/fleet-agent-lock`)
//!   stopped: that Lease is no longer renewed; nothing else changes.
//!
//! `POST /_sim/component {"name": NAME, "running": false, "ago": "20s"}` stops one as if it had
//! stopped `ago` earlier (its last renewal moved back by that much), so a test need not wait out a
//! lease; `"running": true` starts it, as if `ago` earlier too (a candidate started 20 s ago takes an
//! unrenewed 15 s Lease at once). Only processes stopped this way are affected: scenario nodes
//! whose leases nobody renews never turn NotReady by themselves.

use serde_json::{Value, json};

use super::server::State;
use super::store::meta_str;

pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";
pub const SCHEDULER: &str = "kube-scheduler";
const LEASES: &str = "coordination.k8s.io/leases";
const NODES: &str = "/nodes";
/// kube-controller-manager's default `--node-monitor-grace-period`.
pub const NODE_GRACE_SECS: i64 = 40;

fn micro(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Whether the process `name` runs (every process runs until stopped through the control channel).
pub fn running(st: &State, name: &str) -> bool {
    !st.stopped.contains(name)
}

/// Whether nobody renews the Lease `ns/name`: its process is stopped, or started again and still
/// waiting to take the Lease over.
pub fn lease_orphaned(st: &State, ns: &str, name: &str) -> bool {
    match ns {
        "kube-system" => st.stopped.contains(name) || st.candidates.contains_key(name),
        "kube-node-lease" => st.stopped.contains(name),
        // any other lease: its holder stopped (`stopped: [NAMESPACE/NAME]` in a scenario)
        _ => st.stopped.contains(&format!("{ns}/{name}")),
    }
}

fn lease_ns(st: &State, name: &str) -> Option<&'static str> {
    if name == CONTROLLER_MANAGER || name == SCHEDULER {
        Some("kube-system")
    } else if st.store.get(NODES, "", name).is_some() {
        Some("kube-node-lease")
    } else {
        None
    }
}

/// Stops or starts the process `name`; `ago_secs` backdates a stop. Answers what changed.
pub fn set(st: &mut State, name: &str, run: bool, ago_secs: i64) -> Result<Value, String> {
    let Some(ns) = lease_ns(st, name) else {
        return Err(format!(
            "unknown process {name:?}: {CONTROLLER_MANAGER}, {SCHEDULER} or a node's name"
        ));
    };
    let now = chrono::Utc::now();
    if run {
        st.stopped.remove(name);
        if name == CONTROLLER_MANAGER {
            super::controllers::resync_all(st); // it lists everything again
        }
        if name == SCHEDULER {
            schedule_waiting(st);
        }
        if ns == "kube-node-lease" {
            renew(st, ns, name, now);
            node_posts_ready(st, name, now);
            return Ok(json!({"name": name, "running": true}));
        }
        // a new process: a candidate under a new identity, which takes the Lease once it has seen
        // it unrenewed for its duration (or at once when nobody holds it)
        st.candidates.insert(
            name.to_string(),
            now - chrono::Duration::seconds(ago_secs.max(0)),
        );
        let took_over = elect(st).contains(&name.to_string());
        Ok(json!({"name": name, "running": true, "leader": took_over}))
    } else {
        st.stopped.insert(name.to_string());
        st.candidates.remove(name);
        if ago_secs > 0
            && let Some(mut l) = st.store.get(LEASES, ns, name).map(|l| (**l).clone())
        {
            l["spec"]["renewTime"] = json!(micro(now - chrono::Duration::seconds(ago_secs)));
            st.store.put(LEASES, ns, name, l);
        }
        Ok(json!({"name": name, "running": false}))
    }
}

fn renew(st: &mut State, ns: &str, name: &str, now: chrono::DateTime<chrono::Utc>) {
    if let Some(mut l) = st.store.get(LEASES, ns, name).map(|l| (**l).clone()) {
        l["spec"]["renewTime"] = json!(micro(now));
        st.store.put(LEASES, ns, name, l);
    }
}

/// Leader election of the processes started again: a candidate takes its Lease (a new holder
/// identity, `leaseTransitions` + 1) when nobody holds it or when it has watched it go unrenewed
/// for `leaseDurationSeconds` since it started, as client-go's leader election does. Answers the
/// processes that became leader.
pub fn elect(st: &mut State) -> Vec<String> {
    let now = chrono::Utc::now();
    let mut elected = Vec::new();
    for (name, since) in st.candidates.clone() {
        let Some(mut l) = st
            .store
            .get(LEASES, "kube-system", &name)
            .map(|l| (**l).clone())
        else {
            st.candidates.remove(&name);
            continue;
        };
        let holder = l["spec"]["holderIdentity"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let dur = l["spec"]["leaseDurationSeconds"].as_i64().unwrap_or(15);
        if !holder.is_empty() && now.signed_duration_since(since).num_seconds() < dur {
            continue;
        }
        let host = holder.split('_').next().filter(|h| !h.is_empty());
        let transitions = l["spec"]["leaseTransitions"].as_i64().unwrap_or(0);
        l["spec"]["holderIdentity"] = json!(format!(
            "{}_{}",
            host.unwrap_or(&name),
            super::write::new_uid()
        ));
        l["spec"]["acquireTime"] = json!(micro(now));
        l["spec"]["renewTime"] = json!(micro(now));
        l["spec"]["leaseTransitions"] = json!(transitions + 1);
        st.store.put(LEASES, "kube-system", &name, l);
        st.candidates.remove(&name);
        elected.push(name);
    }
    elected
}

const NODE_CONDITIONS: &[(&str, &str, &str, &str)] = &[
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "False",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    (
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
    ),
];

fn set_conditions(node: &mut Value, f: impl Fn(&str) -> Option<Value>) {
    if let Some(conds) = node
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in conds.iter_mut() {
            let t = c
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(new) = f(&t) {
                *c = new;
            }
        }
    }
}

fn taints_without_unreachable(node: &Value) -> Vec<Value> {
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter(|t| {
                    t.get("key").and_then(Value::as_str) != Some("node.kubernetes.io/unreachable")
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The kubelet, started again, posts its conditions; the node lifecycle lifts the taints.
fn node_posts_ready(st: &mut State, name: &str, now: chrono::DateTime<chrono::Utc>) {
    let Some(mut n) = st.store.get(NODES, "", name).map(|n| (**n).clone()) else {
        return;
    };
    let t = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    set_conditions(&mut n, |ty| {
        NODE_CONDITIONS.iter().find(|c| c.0 == ty).map(|c| {
            json!({"type": c.0, "status": c.1, "reason": c.2, "message": c.3,
                   "lastHeartbeatTime": t, "lastTransitionTime": t})
        })
    });
    n["spec"]["taints"] = json!(taints_without_unreachable(&n));
    st.store.put(NODES, "", name, n);
    pods_ready(st, name, true);
}

/// The node lifecycle controller (part of kube-controller-manager): a stopped node whose Lease is
/// older than the grace period goes `Unknown` and is tainted unreachable.
pub fn node_lifecycle(st: &mut State) {
    if !running(st, CONTROLLER_MANAGER) {
        return;
    }
    let now = chrono::Utc::now();
    let stopped: Vec<String> = st.stopped.iter().cloned().collect();
    for name in stopped {
        let Some(lease) = st.store.get(LEASES, "kube-node-lease", &name) else {
            continue;
        };
        let silent_for = lease
            .pointer("/spec/renewTime")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| now.signed_duration_since(t).num_seconds());
        if silent_for.is_none_or(|s| s <= NODE_GRACE_SECS) {
            continue;
        }
        let Some(node) = st.store.get(NODES, "", &name).map(|n| (**n).clone()) else {
            continue;
        };
        let mut n = node.clone();
        let t = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        set_conditions(&mut n, |ty| {
            let c = NODE_CONDITIONS.iter().find(|c| c.0 == ty)?;
            let cur = node
                .pointer("/status/conditions")
                .and_then(Value::as_array)?
                .iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some(c.0))?;
            if cur.get("status").and_then(Value::as_str) == Some("Unknown") {
                return Some(cur.clone());
            }
            let mut u = cur.clone();
            u["status"] = json!("Unknown");
            u["reason"] = json!("NodeStatusUnknown");
            u["message"] = json!("Kubelet stopped posting node status.");
            u["lastTransitionTime"] = json!(t);
            Some(u)
        });
        let mut taints = taints_without_unreachable(&n);
        for effect in ["NoSchedule", "NoExecute"] {
            taints.push(
                json!({"key": "node.kubernetes.io/unreachable", "effect": effect, "timeAdded": t}),
            );
        }
        n["spec"]["taints"] = json!(taints);
        if n != node {
            st.store.put(NODES, "", &name, n);
            pods_ready(st, &name, false);
        }
    }
}

/// The Ready condition of the pods on `node`: false when the node lifecycle controller marks them
/// (their node stopped reporting), true again when the kubelet reports them.
fn pods_ready(st: &mut State, node: &str, ready: bool) {
    let on: Vec<Value> = st
        .store
        .list("/pods", None)
        .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node))
        .map(|p| (**p).clone())
        .collect();
    let want = if ready { "True" } else { "False" };
    for mut p in on {
        let Some(conds) = p
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        let mut changed = false;
        for c in conds.iter_mut().filter(|c| c["type"] == "Ready") {
            if c["status"] != want {
                c["status"] = json!(want);
                c["lastTransitionTime"] = json!(super::api::now_rfc3339());
                changed = true;
            }
        }
        if changed {
            let (ns, name) = (
                meta_str(&p, "namespace").to_string(),
                meta_str(&p, "name").to_string(),
            );
            st.store.put("/pods", &ns, &name, p);
        }
    }
}

/// kube-scheduler, running again, places the pods created while it was stopped (Pending, no node,
/// no `PodScheduled` condition yet).
fn schedule_waiting(st: &mut State) {
    if !running(st, SCHEDULER) {
        return;
    }
    let waiting: Vec<Value> = st
        .store
        .list("/pods", None)
        .filter(|p| {
            p.pointer("/spec/nodeName").is_none_or(Value::is_null)
                && p.pointer("/status/phase").and_then(Value::as_str) == Some("Pending")
                && p.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                && p.pointer("/metadata/deletionTimestamp")
                    .is_none_or(Value::is_null)
        })
        .map(|p| (**p).clone())
        .collect();
    for p in waiting {
        let ns = meta_str(&p, "namespace").to_string();
        let name = meta_str(&p, "name").to_string();
        let placed = super::scheduler::place(st, p);
        st.store.put("/pods", &ns, &name, placed);
    }
}
