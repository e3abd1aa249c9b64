//! Fixtures for the Leaders, Events and Top panes: Kubernetes objects (YAML/JSON as a cluster
//! serves them) fed through the sources' own row functions into a model with a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(dead_code)]

use chrono::Duration;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use ktriage::kube::sources::{events, leaders, nodes, top};
use ktriage::model::top::{MetricsSnapshot, Usage};
use ktriage::model::{Delta, Model};
use ktriage::msg::Msg;
use ktriage::update::update;
use serde_json::{Value, json};

use super::model::{model, t0};

pub fn ts(secs_ago: i64) -> String {
    (t0() - Duration::seconds(secs_ago)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn micro(secs_ago: i64) -> String {
    (t0() - Duration::seconds(secs_ago))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

pub fn lease_yaml(ns: &str, name: &str, holder: &str, renew_ago: i64, dur: i64) -> Lease {
    let y = format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  holderIdentity: \"{holder}\"\n  leaseDurationSeconds: {dur}\n  acquireTime: \"{}\"\n  renewTime: \"{}\"\n  leaseTransitions: 3\n",
        micro(3600),
        micro(renew_ago)
    );
    ktriage::yaml::from_str(&y).unwrap()
}

pub fn node(name: &str, ready: bool, memory_pressure: bool) -> Node {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
        "status": {
            "allocatable": {"cpu": "8", "memory": "32Gi"},
            "conditions": [
                {"type": "MemoryPressure", "status": if memory_pressure {"True"} else {"False"}, "lastTransitionTime": ts(120)},
                {"type": "Ready", "status": if ready {"True"} else {"False"}, "lastTransitionTime": ts(300)},
            ]
        }
    }))
    .unwrap()
}

pub fn eviction(ns: &str, pod: &str, node: &str, ago: i64) -> Event {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{pod}.1"), "namespace": ns},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns},
        "reason": "Evicted", "type": "Warning", "count": 1,
        "message": "The node was low on resource: memory.",
        "firstTimestamp": ts(ago), "lastTimestamp": ts(ago),
        "source": {"component": "kubelet", "host": node},
    }))
    .unwrap()
}

pub fn pod(
    ns: &str,
    name: &str,
    node: &str,
    rs: Option<&str>,
    limits: Option<&str>,
    request: &str,
) -> Pod {
    let mut resources = json!({"requests": {"memory": request, "cpu": "100m"}});
    if let Some(l) = limits {
        resources["limits"] = json!({"memory": l, "cpu": "500m"});
    }
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "x", "resources": resources}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "main", "image": "x", "imageID": "", "ready": true, "restartCount": 0}]},
    });
    if let Some(rs) = rs {
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "u", "controller": true}]);
    }
    serde_json::from_value(p).unwrap()
}

pub fn evicted_pod(ns: &str, name: &str, node: &str) -> Pod {
    let mut p: Value =
        serde_json::to_value(pod(ns, name, node, None, Some("256Mi"), "128Mi")).unwrap();
    p["status"] = json!({"phase": "Failed", "reason": "Evicted"});
    serde_json::from_value(p).unwrap()
}

pub fn rs(ns: &str, name: &str, deploy: &str) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": deploy, "uid": "d", "controller": true}]},
    }))
    .unwrap()
}

fn feed<T>(m: &mut Model, rows: Vec<T>, wrap: impl Fn(Delta<T>) -> Msg) {
    update(m, wrap(Delta::Init), t0());
    for r in rows {
        update(m, wrap(Delta::InitApply(r)), t0());
    }
    update(m, wrap(Delta::InitDone), t0());
}

/// The runaway-app story as fixtures: `app/hog` (no memory limits, 2 pods on w2 at 7 GiB each) puts
/// w2 under MemoryPressure; `pay/ledger` pods (with limits) are evicted from it. Leaders: a healthy
/// scheduler lease, a controller-manager lease whose holder node is NotReady.
pub fn story(hog_ns: &str, hog: &str, node2: &str) -> Model {
    let mut m = model(false);
    feed(
        &mut m,
        vec![
            nodes::row(node("w1", true, false)),
            nodes::row(node(node2, true, true)),
            nodes::row(node("cp1", true, false)),
            nodes::row(node("cp2", false, false)),
        ],
        Msg::Nodes,
    );
    feed(
        &mut m,
        vec![
            leaders::row(lease_yaml(
                "kube-system",
                "kube-scheduler",
                "cp1_abc",
                2,
                15,
            )),
            leaders::row(lease_yaml(
                "kube-system",
                "kube-controller-manager",
                "cp2_def",
                3,
                15,
            )),
            leaders::row(lease_yaml(
                "kube-system",
                "cloud-controller-manager",
                "",
                3,
                15,
            )),
        ],
        Msg::Leases,
    );
    let hog_rs = format!("{hog}-5f7c");
    feed(
        &mut m,
        vec![
            top::rs_row(rs(hog_ns, &hog_rs, hog)),
            top::rs_row(rs("pay", "ledger-7b8d", "ledger")),
            top::rs_row(rs("web", "front-1a2b", "front")),
        ],
        Msg::ReplicaSets,
    );
    feed(
        &mut m,
        vec![
            top::pod_row(pod(
                hog_ns,
                &format!("{hog_rs}-a"),
                node2,
                Some(&hog_rs),
                None,
                "512Mi",
            )),
            top::pod_row(pod(
                hog_ns,
                &format!("{hog_rs}-b"),
                node2,
                Some(&hog_rs),
                None,
                "512Mi",
            )),
            top::pod_row(pod(
                "pay",
                "ledger-7b8d-c",
                node2,
                Some("ledger-7b8d"),
                Some("512Mi"),
                "256Mi",
            )),
            // no limits either, but small and on the healthy node: not the culprit
            top::pod_row(pod(
                "web",
                "front-1a2b-d",
                "w1",
                Some("front-1a2b"),
                None,
                "2Gi",
            )),
            top::pod_row(evicted_pod("pay", "ledger-7b8d-x", node2)),
            top::pod_row(evicted_pod("pay", "ledger-7b8d-y", node2)),
        ],
        Msg::Pods,
    );
    let gib = 1u64 << 30;
    let mut snap = MetricsSnapshot::default();
    for (k, mem) in [
        (format!("{hog_ns}/{hog_rs}-a"), 7 * gib),
        (format!("{hog_ns}/{hog_rs}-b"), 7 * gib),
        ("pay/ledger-7b8d-c".to_string(), 480 << 20),
        ("web/front-1a2b-d".to_string(), 300 << 20),
    ] {
        snap.pods.insert(
            k,
            Usage {
                cpu_m: 900,
                mem_b: mem,
            },
        );
    }
    update(&mut m, Msg::Metrics(snap), t0());
    let evs: Vec<_> = (0..6)
        .map(|i| {
            let mut e = events::core_row(eviction(
                "pay",
                &format!("ledger-7b8d-{i}"),
                node2,
                20 + i * 30,
            ));
            e.id = format!("pay/ev-{i}");
            e
        })
        .collect();
    feed(&mut m, evs, Msg::Events);
    m
}
