//! The derived-data caches behind issue 13's numbers: the Top pane's cached row order and the rules'
//! memo of per-pod findings. Each must follow every input it depends on; a missed input would show
//! stale rows or findings, so every step here compares the cached answer with one computed afresh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ktriage::diagnose;
use ktriage::model::nodes::NodeRow;
use ktriage::model::top::{ContainerRow, MetricsSnapshot, PodRow, RsRow, TopRow, TopSort, Usage};
use ktriage::model::{Delta, Model};
use ktriage::msg::Msg;
use ktriage::update::update;
use support::model::{model, t0};

fn pod(
    ns: &str,
    name: &str,
    owner: Option<(&str, &str)>,
    node: &str,
    lim_mem: Option<u64>,
) -> PodRow {
    PodRow {
        namespace: ns.into(),
        name: name.into(),
        node: node.into(),
        phase: "Running".into(),
        owner: owner.map(|(k, n)| (k.to_string(), n.to_string())),
        containers: vec![ContainerRow {
            name: "app".into(),
            req_mem_b: Some(64 << 20),
            lim_mem_b: lim_mem,
            lim_cpu_m: Some(500),
            ready: true,
            ..Default::default()
        }],
        uid: format!("uid-{name}"),
        ..Default::default()
    }
}

/// A pod of a ReplicaSet.
fn rs_pod(ns: &str, name: &str, rs: &str, node: &str, lim_mem: Option<u64>) -> PodRow {
    pod(ns, name, Some(("ReplicaSet", rs)), node, lim_mem)
}

fn metrics(pods: &[(&str, u64)]) -> MetricsSnapshot {
    MetricsSnapshot {
        pods: pods
            .iter()
            .map(|(k, mem)| {
                (
                    k.to_string(),
                    Usage {
                        cpu_m: mem / (1 << 20),
                        mem_b: *mem,
                    },
                )
            })
            .collect(),
        nodes: Default::default(),
    }
}

fn send(m: &mut Model, msg: Msg) {
    update(m, msg, t0());
}

fn names(rows: &[TopRow]) -> Vec<String> {
    rows.iter()
        .map(|r| format!("{}/{}", r.namespace, r.name))
        .collect()
}

/// Everything a frame or an action can ask the Top pane for agrees with the full row list.
fn check_consistent(m: &Model) {
    let all = m.top.rows();
    assert_eq!(m.top.row_count(), all.len(), "row_count vs rows");
    for off in 0..all.len() + 1 {
        assert_eq!(
            m.top.rows_window(off, 2),
            all.iter().skip(off).take(2).cloned().collect::<Vec<_>>(),
            "window at {off}"
        );
        assert_eq!(m.top.row(off), all.get(off).cloned(), "row {off}");
    }
}

fn synced(pods: Vec<PodRow>) -> Model {
    let mut m = model(true);
    send(&mut m, Msg::Pods(Delta::Init));
    for p in pods {
        send(&mut m, Msg::Pods(Delta::InitApply(p)));
    }
    send(&mut m, Msg::Pods(Delta::InitDone));
    send(&mut m, Msg::ReplicaSets(Delta::Init));
    send(&mut m, Msg::ReplicaSets(Delta::InitDone));
    m
}

#[test]
fn top_row_order_follows_every_input() {
    let mut m = synced(vec![
        rs_pod("a", "web-1", "web-7d", "n1", Some(1 << 30)),
        rs_pod("a", "web-2", "web-7d", "n2", Some(1 << 30)),
        pod("b", "bare", None, "n1", None),
        pod(
            "c",
            "db-0",
            Some(("StatefulSet", "db")),
            "n3",
            Some(1 << 30),
        ),
    ]);
    // no metrics yet: name order (the sort key is equal for all, the order is stable)
    assert_eq!(
        names(&m.top.rows()),
        ["a/web-1", "a/web-2", "b/bare", "c/db-0"]
    );
    check_consistent(&m);

    let mib = |web1: u64| {
        Msg::Metrics(metrics(&[
            ("a/web-1", web1 << 20),
            ("a/web-2", 30 << 20),
            ("b/bare", 20 << 20),
            ("c/db-0", 5 << 20),
        ]))
    };
    send(&mut m, mib(10));
    assert_eq!(
        names(&m.top.rows()),
        ["a/web-2", "b/bare", "a/web-1", "c/db-0"]
    );
    assert_eq!(m.top.row(0).unwrap().mem_b, Some(30 << 20));
    check_consistent(&m);

    // a new poll reorders
    send(&mut m, mib(90));
    assert_eq!(
        names(&m.top.rows()),
        ["a/web-1", "a/web-2", "b/bare", "c/db-0"]
    );

    // a pod deleted, a pod evicted: both leave the table
    send(&mut m, Msg::Pods(Delta::Delete("a/web-2".into())));
    let mut ev = pod("b", "bare", None, "n1", None);
    ev.phase = "Failed".into();
    ev.reason = "Evicted".into();
    send(&mut m, Msg::Pods(Delta::Apply(ev)));
    assert_eq!(names(&m.top.rows()), ["a/web-1", "c/db-0"]);
    check_consistent(&m);

    // a pod changes in place: its row shows the new status
    let mut crash = pod(
        "c",
        "db-0",
        Some(("StatefulSet", "db")),
        "n3",
        Some(1 << 30),
    );
    crash.containers[0].waiting_reason = Some("CrashLoopBackOff".into());
    crash.containers[0].restarts = 7;
    send(&mut m, Msg::Pods(Delta::Apply(crash)));
    assert_eq!(m.top.row(1).unwrap().status, "CrashLoopBackOff");

    // the sort key
    m.top.sort = TopSort::Restarts;
    assert_eq!(names(&m.top.rows()), ["c/db-0", "a/web-1"]);
    m.top.sort = TopSort::Node;
    assert_eq!(names(&m.top.rows()), ["a/web-1", "c/db-0"]);
    check_consistent(&m);

    // the owner appears later: the row's workload becomes the Deployment
    assert_eq!(m.top.row(0).unwrap().workload.unwrap().kind, "ReplicaSet");
    send(
        &mut m,
        Msg::ReplicaSets(Delta::Apply(RsRow {
            namespace: "a".into(),
            name: "web-7d".into(),
            owner: Some(("Deployment".into(), "web".into())),
        })),
    );
    assert_eq!(m.top.row(0).unwrap().workload.unwrap().kind, "Deployment");

    // the filter, typed and cleared
    m.top.filter.text = "crashloop".into();
    assert_eq!(names(&m.top.rows()), ["c/db-0"]);
    check_consistent(&m);
    m.top.filter.text = "!crashloop".into();
    assert_eq!(names(&m.top.rows()), ["a/web-1"]);
    m.top.filter.text.clear();
    assert_eq!(m.top.row_count(), 2);

    // grouping, and a pod joining a group
    m.top.grouped = true;
    m.top.sort = TopSort::Name;
    send(
        &mut m,
        Msg::Pods(Delta::Apply(rs_pod(
            "a",
            "web-3",
            "web-7d",
            "n2",
            Some(1 << 30),
        ))),
    );
    let g = m.top.rows();
    assert_eq!(names(&g), ["a/web", "c/db"]);
    assert_eq!(
        (g[0].pods, g[0].ready.as_str(), g[0].node.as_str()),
        (2, "2/2", "n1 …")
    );
    assert_eq!(
        g[0].mem_b,
        Some(90 << 20),
        "web-3 has no usage yet: 0 is added"
    );
    check_consistent(&m);
}

#[test]
fn owner_sort_orders_by_namespace_kind_name() {
    let mut m = synced(vec![
        pod("b", "x", Some(("StatefulSet", "s")), "n1", None),
        pod("a", "y", Some(("StatefulSet", "t")), "n1", None),
        pod("a", "z", Some(("DaemonSet", "u")), "n1", None),
    ]);
    m.top.sort = TopSort::Owner;
    assert_eq!(names(&m.top.rows()), ["a/z", "a/y", "b/x"]);
    m.top.grouped = true;
    assert_eq!(names(&m.top.rows()), ["a/u", "a/t", "b/s"]);
}

fn node(name: &str, alloc_mem: u64) -> NodeRow {
    NodeRow {
        name: name.into(),
        ready: Some(true),
        alloc_mem_b: Some(alloc_mem),
        ..Default::default()
    }
}

/// After each change the memoised evaluation (what the TUI runs) equals a fresh one (what the
/// report runs), and the change shows in the findings.
#[test]
fn rules_memo_follows_pods_owners_metrics_and_nodes() {
    let mut m = synced(vec![
        rs_pod("a", "web-1", "web-7d", "n1", Some(100 << 20)),
        rs_pod("a", "hog-1", "hog-5c", "n1", None),
    ]);
    send(&mut m, Msg::Nodes(Delta::Init));
    send(&mut m, Msg::Nodes(Delta::InitApply(node("n1", 8 << 30))));
    send(&mut m, Msg::Nodes(Delta::InitDone));
    let ids = |m: &Model| {
        let fresh = diagnose::evaluate(m, t0());
        assert_eq!(
            m.findings, fresh,
            "memoised findings differ from a fresh evaluation"
        );
        m.findings.iter().map(|f| f.key.clone()).collect::<Vec<_>>()
    };
    assert!(ids(&m).contains(&"pod-no-limits/ReplicaSet/a/hog-5c".to_string()));

    // an owner arrives: the finding names the Deployment
    send(
        &mut m,
        Msg::ReplicaSets(Delta::Apply(RsRow {
            namespace: "a".into(),
            name: "hog-5c".into(),
            owner: Some(("Deployment".into(), "hog".into())),
        })),
    );
    let k = ids(&m);
    assert!(
        k.contains(&"pod-no-limits/Deployment/a/hog".to_string()),
        "{k:?}"
    );

    // usage near the limit
    assert!(!ids(&m).iter().any(|k| k.starts_with("pod-near-limit")));
    send(&mut m, Msg::Metrics(metrics(&[("a/web-1", 95 << 20)])));
    assert!(ids(&m).contains(&"pod-near-limit/Pod/a/web-1".to_string()));

    // the node shrinks: overcommitted (limits 100 MiB of 64 MiB allocatable)
    send(&mut m, Msg::Nodes(Delta::Apply(node("n1", 64 << 20))));
    assert!(ids(&m).contains(&"node-overcommitted/Node//n1".to_string()));

    // a pod starts crash-looping, then recovers
    let mut crash = rs_pod("a", "web-1", "web-7d", "n1", Some(100 << 20));
    crash.containers[0].waiting_reason = Some("CrashLoopBackOff".into());
    send(&mut m, Msg::Pods(Delta::Apply(crash)));
    assert!(ids(&m).iter().any(|k| k.starts_with("pod-crashloop/")));
    send(
        &mut m,
        Msg::Pods(Delta::Apply(rs_pod(
            "a",
            "web-1",
            "web-7d",
            "n1",
            Some(100 << 20),
        ))),
    );
    assert!(!ids(&m).iter().any(|k| k.starts_with("pod-crashloop/")));

    // a pod evicted: counted for the Events pane's leftover finding, and removed again
    let mut ev = pod("b", "gone", None, "n1", Some(1 << 20));
    ev.phase = "Failed".into();
    ev.reason = "Evicted".into();
    send(&mut m, Msg::Pods(Delta::Apply(ev)));
    assert!(ids(&m).contains(&"evicted-pods-leftover".to_string()));
    send(&mut m, Msg::Pods(Delta::Delete("b/gone".into())));
    assert!(!ids(&m).contains(&"evicted-pods-leftover".to_string()));

    // the clock ticks: nothing per-pod changes, the findings stay the same
    let before = m.findings.clone();
    send(&mut m, Msg::Tick);
    assert_eq!(m.findings, before);
}

/// `pod-crashloop` names a pod and container for `kubectl logs` (no `POD` placeholder); a static
/// pod (owned by its Node) is its own finding with the manifest advice, not "delete the pod"; a
/// pod without an owner is not "re-created" by anything.
#[test]
fn crashloop_fix_names_the_pod_and_handles_static_and_bare_pods() {
    let crashing = |mut p: PodRow| {
        p.containers[0].waiting_reason = Some("CrashLoopBackOff".into());
        p
    };
    let mut m = synced(vec![
        crashing(pod(
            "kube-system",
            "etcd-cp-2",
            Some(("Node", "cp-2")),
            "cp-2",
            None,
        )),
        crashing(pod(
            "kube-system",
            "kube-apiserver-cp-2",
            Some(("Node", "cp-2")),
            "cp-2",
            None,
        )),
        crashing(pod("a", "lonely", None, "n1", None)),
        crashing(rs_pod("a", "web-1", "web-7d", "n1", None)),
    ]);
    send(&mut m, Msg::Tick);
    let crash: Vec<_> = m
        .findings
        .iter()
        .filter(|f| f.id == "pod-crashloop")
        .collect();
    let keys: Vec<&str> = crash.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "pod-crashloop/Pod/a/lonely",
            "pod-crashloop/Pod/kube-system/etcd-cp-2",
            "pod-crashloop/Pod/kube-system/kube-apiserver-cp-2",
            "pod-crashloop/ReplicaSet/a/web-7d",
        ]
    );
    let fix = |key: &str| &crash.iter().find(|f| f.key == key).unwrap().fix.text;
    let etcd = crash
        .iter()
        .find(|f| f.key == "pod-crashloop/Pod/kube-system/etcd-cp-2")
        .unwrap();
    assert_eq!(
        etcd.title,
        "static pod kube-system/etcd-cp-2 on node cp-2 crash-looping"
    );
    assert!(
        etcd.fix
            .text
            .contains("`kubectl -n kube-system logs etcd-cp-2 -c app --previous`"),
        "{}",
        etcd.fix.text
    );
    assert!(etcd.fix.text.contains("manifest"), "{}", etcd.fix.text);
    assert!(!etcd.fix.text.contains("then delete the pod"));
    assert_eq!(etcd.fix.action, None);
    let lonely = fix("pod-crashloop/Pod/a/lonely");
    assert!(
        lonely.contains("Nothing re-creates a pod without an owner"),
        "{lonely}"
    );
    let web = fix("pod-crashloop/ReplicaSet/a/web-7d");
    assert!(
        web.contains("`kubectl -n a logs web-1 -c app --previous`")
            && web.contains("delete the pod so it is re-created"),
        "{web}"
    );
    assert!(crash.iter().all(|f| !f.fix.text.contains(" POD ")));
}
