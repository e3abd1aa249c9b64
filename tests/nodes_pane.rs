//! The Nodes pane and `node-notready`: severity by role and by the share of workers NotReady, the
//! evidence an operator checks first (Ready's reason, the kubelet's heartbeat Lease, taints, pods,
//! warning events), the cause links to what runs on a NotReady node, the pane's keys (sort, filter,
//! `t` to the node's pods in Top, cordon and drain of the selected node; none in read-only mode),
//! its rows in the report, and a heartbeat renewal that changes nothing on screen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use k8s_openapi::api::core::v1::Node;
use ktriage::diagnose::{Finding, Severity};
use ktriage::kube::sources::{leaders, nodes, top};
use ktriage::model::{Delta, Model, PaneId};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::update::{apply, update};
use serde_json::json;
use support::model::{model, t0};
use support::panes::{lease_yaml, pod, ts};

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// A node as the API serves it; `ready`: "True", "False" or "Unknown" (the kubelet went silent:
/// the node lifecycle controller's reason, message and unreachable taints).
fn node(name: &str, roles: &[&str], ready: &str) -> Node {
    let labels: serde_json::Map<String, serde_json::Value> = roles
        .iter()
        .map(|r| (format!("node-role.kubernetes.io/{r}"), json!("true")))
        .collect();
    let (reason, message) = match ready {
        "True" => ("KubeletReady", "kubelet is posting ready status"),
        "Unknown" => ("NodeStatusUnknown", "Kubelet stopped posting node status."),
        _ => (
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false",
        ),
    };
    let taints = if ready == "Unknown" {
        json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
               {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}])
    } else {
        json!([])
    };
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints},
        "status": {
            "allocatable": {"cpu": "4", "memory": "16Gi"},
            "nodeInfo": {"kubeletVersion": "v1.28.9+rke2r1", "architecture": "amd64", "bootID": "",
                         "containerRuntimeVersion": "", "kernelVersion": "", "kubeProxyVersion": "",
                         "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": ""},
            "conditions": [{"type": "Ready", "status": ready, "reason": reason, "message": message,
                            "lastTransitionTime": ts(180)}]
        }
    }))
    .unwrap()
}

fn feed_nodes(m: &mut Model, list: Vec<Node>) {
    update(m, Msg::Nodes(Delta::Init), t0());
    for n in list {
        update(m, Msg::Nodes(Delta::InitApply(nodes::row(n))), t0());
    }
    update(m, Msg::Nodes(Delta::InitDone), t0());
}

/// cp-1 (control-plane, etcd) went silent 3 minutes ago and holds the scheduler's lease; w-2's
/// runtime is not ready; w-1 and w-3 are fine. A pod of w-2 and the node Leases (cp-1's last
/// renewed 95 s ago).
fn cluster(w3_ready: &str) -> Model {
    let mut m = model(false);
    feed_nodes(
        &mut m,
        vec![
            node("cp-1", &["control-plane", "etcd", "master"], "Unknown"),
            node("w-1", &["worker"], "True"),
            node("w-2", &["worker"], "False"),
            node("w-3", &["worker"], w3_ready),
        ],
    );
    update(&mut m, Msg::Leases(Delta::Init), t0());
    for l in [
        lease_yaml("kube-node-lease", "cp-1", "cp-1", 95, 40),
        lease_yaml("kube-node-lease", "w-1", "w-1", 4, 40),
        lease_yaml("kube-node-lease", "w-2", "w-2", 6, 40),
        lease_yaml("kube-node-lease", "w-3", "w-3", 5, 40),
        lease_yaml("kube-system", "kube-scheduler", "cp-1_7f3a", 95, 15),
    ] {
        update(&mut m, Msg::Leases(Delta::InitApply(leaders::row(l))), t0());
    }
    update(&mut m, Msg::Leases(Delta::InitDone), t0());
    update(&mut m, Msg::Pods(Delta::Init), t0());
    for (name, on) in [("api-1", "w-2"), ("api-2", "w-1"), ("api-3", "w-2")] {
        let p = pod("shop", name, on, None, Some("1Gi"), "512Mi");
        update(&mut m, Msg::Pods(Delta::InitApply(top::pod_row(p))), t0());
    }
    update(&mut m, Msg::Pods(Delta::InitDone), t0());
    m
}

fn notready<'a>(m: &'a Model, node: &str) -> Option<&'a Finding> {
    m.findings
        .iter()
        .find(|f| f.id == "node-notready" && f.subject.as_ref().is_some_and(|s| s.name == node))
}

#[test]
fn control_plane_is_critical_workers_by_share() {
    let m = cluster("True");
    let cp = notready(&m, "cp-1").expect("cp-1 NotReady");
    assert_eq!(cp.severity, Severity::Critical, "a control-plane node");
    assert_eq!(cp.pane, "nodes");
    assert_eq!(
        cp.title,
        "Node cp-1 (control-plane,etcd) NotReady for 3m: its kubelet stopped reporting"
    );
    let w2 = notready(&m, "w-2").expect("w-2 NotReady");
    assert_eq!(
        w2.severity,
        Severity::Warning,
        "1 of 3 workers is under the 50 % default"
    );
    assert!(
        w2.evidence
            .iter()
            .any(|e| e == "1 of 3 worker(s) NotReady (not above 50 %)"),
        "{:?}",
        w2.evidence
    );
    assert!(notready(&m, "w-1").is_none() && notready(&m, "w-3").is_none());

    // a second worker down: 2 of 3 is above half, both workers critical
    let m = cluster("False");
    for w in ["w-2", "w-3"] {
        assert_eq!(notready(&m, w).unwrap().severity, Severity::Critical, "{w}");
    }

    // the share is configurable: above 70 %, 2 of 3 stays a warning
    let mut m = cluster("False");
    m.tuning.nodes.notready_workers_pct = 70;
    m.findings = ktriage::diagnose::evaluate(&m, t0());
    assert_eq!(notready(&m, "w-3").unwrap().severity, Severity::Warning);
}

#[test]
fn evidence_is_what_the_operator_checks_first() {
    let m = cluster("True");
    let cp = notready(&m, "cp-1").unwrap();
    let ev = cp.evidence.join("\n");
    for want in [
        "Ready=Unknown since 3m ago: NodeStatusUnknown: Kubelet stopped posting node status.",
        "kubelet heartbeat (Lease kube-node-lease/cp-1) last renewed 95s ago",
        "tainted node.kubernetes.io/unreachable:NoExecute",
        "0 pod(s) bound to it",
        "check: kubectl describe node cp-1",
    ] {
        assert!(ev.contains(want), "missing {want:?} in\n{ev}");
    }
    assert!(
        cp.fix.text.contains("`systemctl status rke2-server`"),
        "RKE2 server: {}",
        cp.fix.text
    );
    let w2 = notready(&m, "w-2").unwrap();
    let ev = w2.evidence.join("\n");
    assert!(ev.contains("KubeletNotReady: container runtime network not ready"));
    assert!(ev.contains("2 pod(s) bound to it"), "{ev}");
    assert!(w2.fix.text.contains("`journalctl -u rke2-agent`"));
    assert_eq!(w2.details["lease_renew_age_s"], 6);
}

#[test]
fn a_notready_node_explains_the_leader_on_it() {
    let m = cluster("True");
    let cp_key = notready(&m, "cp-1").unwrap().key.clone();
    let leader: Vec<&Finding> = m
        .findings
        .iter()
        .filter(|f| {
            f.id.starts_with("leader-")
                && f.subject
                    .as_ref()
                    .is_some_and(|s| s.name == "kube-scheduler")
        })
        .collect();
    assert!(!leader.is_empty(), "{:#?}", m.findings);
    let missing = leader.iter().find(|f| f.id == "leader-missing").unwrap();
    assert_eq!(
        missing.cause.as_deref(),
        Some(cp_key.as_str()),
        "the scheduler's holder runs on cp-1"
    );
    // no NotReady node, no link
    let healthy = {
        let mut m = cluster("True");
        feed_nodes(
            &mut m,
            vec![
                node("cp-1", &["control-plane", "etcd"], "True"),
                node("w-2", &["worker"], "True"),
            ],
        );
        m
    };
    assert!(healthy.findings.iter().all(|f| f.id != "node-notready"));
    assert!(healthy.findings.iter().all(|f| {
        !f.cause
            .as_deref()
            .unwrap_or("")
            .starts_with("node-notready")
    }));
}

#[test]
fn a_heartbeat_changes_nothing_on_screen_a_new_holder_does() {
    let mut m = cluster("True");
    assert!(!m.findings_stale);
    apply(
        &mut m,
        Msg::Leases(Delta::Apply(leaders::row(lease_yaml(
            "kube-node-lease",
            "w-1",
            "w-1",
            1,
            40,
        )))),
        t0(),
    );
    assert!(!m.findings_stale, "a kubelet's renewal is not a change");
    assert_eq!(
        ktriage::model::nodes::lease_age(&m, "w-1", t0()),
        Some(1),
        "but its age is kept"
    );
    apply(
        &mut m,
        Msg::Leases(Delta::Apply(leaders::row(lease_yaml(
            "kube-system",
            "kube-scheduler",
            "cp-2_11aa",
            1,
            15,
        )))),
        t0(),
    );
    assert!(m.findings_stale, "a leader change is");
}

fn selected_node(m: &Model) -> String {
    let v = ktriage::model::nodes::shown(m, t0());
    v[m.ui.selected[PaneId::Nodes.index()]].node.name.clone()
}

#[test]
fn keys_sort_filter_jump_cordon_drain() {
    let mut m = cluster("True");
    update(&mut m, key('8'), t0());
    assert_eq!(m.ui.active, PaneId::Nodes);
    // health first: NotReady, control plane before workers
    let order: Vec<String> = ktriage::model::nodes::shown(&m, t0())
        .iter()
        .map(|v| v.node.name.clone())
        .collect();
    assert_eq!(order, ["cp-1", "w-2", "w-1", "w-3"]);
    update(&mut m, key('o'), t0());
    update(&mut m, key('o'), t0());
    let by_pods: Vec<String> = ktriage::model::nodes::shown(&m, t0())
        .iter()
        .map(|v| v.node.name.clone())
        .collect();
    assert_eq!(by_pods[0], "w-2", "sort: pods ({by_pods:?})");
    assert_eq!(m.nodes.sort.name(), "pods");

    // `/` keeps the workers whose text matches
    update(&mut m, key('/'), t0());
    for c in "w-2".chars() {
        update(&mut m, key(c), t0());
    }
    update(&mut m, Msg::Key(KeyEvent::from(KeyCode::Enter)), t0());
    assert_eq!(ktriage::model::nodes::shown(&m, t0()).len(), 1);
    assert_eq!(m.row_count(PaneId::Nodes), 1);
    assert_eq!(selected_node(&m), "w-2");

    // c proposes cordoning the selected node, D draining it
    update(&mut m, key('c'), t0());
    let d = m.dialog.take().expect("cordon dialog");
    assert_eq!(
        d.mutation,
        Mutation::Cordon {
            node: "w-2".into(),
            unschedulable: true
        }
    );
    update(&mut m, key('D'), t0());
    let d = m.dialog.take().expect("drain dialog");
    assert_eq!(d.mutation, Mutation::Drain { node: "w-2".into() });
    assert_eq!(
        d.current.as_deref(),
        Some("2 pod(s) on w-2 now; DaemonSet, mirror and unmanaged pods stay")
    );

    // t lists the node's pods in Top
    update(&mut m, key('t'), t0());
    assert_eq!(m.ui.active, PaneId::Top);
    assert_eq!(m.top.filter.text, "w-2");
    assert!(!m.top.grouped);
    let pods: Vec<String> = m.top.rows().iter().map(|r| r.name.clone()).collect();
    assert_eq!(pods, ["api-1", "api-3"]);
}

#[test]
fn read_only_proposes_nothing() {
    let mut m = cluster("True");
    m.cluster.read_only = true;
    update(&mut m, key('8'), t0());
    for c in ['c', 'D'] {
        let effects = update(&mut m, key(c), t0());
        assert!(effects.is_empty() && m.dialog.is_none(), "{c}");
    }
}

#[test]
fn report_rows() {
    let m = cluster("True");
    let doc = ktriage::report::document(&m, t0());
    let rows = doc["panes"]["nodes"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    let cp = rows.iter().find(|r| r["name"] == "cp-1").unwrap();
    assert_eq!(cp["ready"], "Unknown");
    assert_eq!(cp["roles"], "control-plane,etcd");
    assert_eq!(cp["lease_renew_age_s"], 95);
    assert_eq!(cp["reason"], "NodeStatusUnknown");
    let w2 = rows.iter().find(|r| r["name"] == "w-2").unwrap();
    assert_eq!(w2["pods"], 2);
    assert_eq!(w2["taints"], json!([]));
}

/// `ktriage report --demo SCENARIO --format json` (exit 1: a critical finding).
fn report_demo(scenario: &str) -> serde_json::Value {
    let (code, doc) = support::report_demo(scenario);
    assert_eq!(code, Some(1), "a NotReady control-plane node is critical");
    doc
}

use support::finding_about as finding;

/// The nodes-notready story with its control-plane node `cp` and worker `worker`: the report names
/// both, the control-plane node critical and its etcd member's loss explained by it.
fn nodes_notready_story(doc: &serde_json::Value, cp: &str, worker: &str) {
    let c = finding(doc, "node-notready", cp);
    assert_eq!(c["severity"], "critical");
    assert_eq!(c["details"]["reason"], "NodeStatusUnknown");
    let age = c["details"]["lease_renew_age_s"].as_i64().unwrap();
    assert!(age >= 360, "the heartbeat stopped 6 minutes ago: {age}");
    let w = finding(doc, "node-notready", worker);
    assert_eq!(w["severity"], "warning", "1 of 3 workers");
    assert_eq!(w["details"]["reason"], "KubeletNotReady");
    assert!(
        w["evidence"]
            .to_string()
            .contains("ContainerRuntimeUnhealthy: PLEG is not healthy"),
        "{w:#}"
    );
    let nodes = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == "node-notready")
        .count();
    assert_eq!(nodes, 2, "only the two NotReady nodes");
    let member = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "etcd-member-down")
        .unwrap_or_else(|| panic!("etcd member on {cp} down: {:#}", doc["findings"]));
    assert_eq!(member["details"]["node"], cp);
    assert_eq!(
        member["cause"], c["key"],
        "the node explains its etcd member"
    );
    let rows = doc["panes"]["nodes"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
}

#[test]
fn nodes_notready_scenario() {
    nodes_notready_story(&report_demo("nodes-notready"), "prod-cp-3", "prod-worker-3");
}

#[test]
fn nodes_notready_renamed_gives_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let read = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/assets/scenarios/{name}.yaml",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    let rename = |t: String| {
        t.replace("prod-cp-3", "ctl-zeta")
            .replace("prod-worker-3", "edge-7")
    };
    std::fs::write(
        dir.path().join("base.yaml"),
        rename(read("healthy")).replace("name: healthy", "name: base"),
    )
    .unwrap();
    let story = rename(read("nodes-notready"))
        .replace("include: [healthy]", "include: [base.yaml]")
        .replace("name: nodes-notready", "name: renamed");
    let path = dir.path().join("renamed.yaml");
    std::fs::write(&path, story).unwrap();
    nodes_notready_story(&report_demo(path.to_str().unwrap()), "ctl-zeta", "edge-7");
}
