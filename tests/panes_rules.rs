//! Leaders, Events and Top: model and rule tests from fixtures (lease YAML, event streams, pods and
//! metrics), with a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chrono::Duration;
use ktriage::diagnose::{Finding, Severity};
use ktriage::kube::sources::{events, leaders};
use ktriage::model::{Delta, SourceState};
use ktriage::msg::Msg;
use ktriage::update::update;
use support::model::t0;
use support::panes::*;

fn ids(fs: &[Finding]) -> Vec<String> {
    fs.iter().map(|f| f.key.clone()).collect()
}

fn find<'a>(fs: &'a [Finding], id: &str) -> &'a Finding {
    fs.iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", ids(fs)))
}

#[test]
fn eviction_storm_names_the_workload_without_limits_on_the_pressured_node() {
    let m = story("app", "hog", "w2");
    let f = find(&m.findings, "eviction-storm");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.key, "eviction-storm/Deployment/app/hog");
    let s = f.subject.as_ref().unwrap();
    assert_eq!((s.kind.as_str(), s.name.as_str()), ("Deployment", "hog"));
    assert!(
        f.evidence.iter().any(|e| e.contains("w2")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence.iter().any(|e| e.contains("victims")),
        "{:?}",
        f.evidence
    );
    assert_eq!(f.fix.action.as_deref(), Some("scale"));
    // pressure and leftovers point at the storm
    let p = find(&m.findings, "node-pressure");
    assert_eq!(p.key, "node-pressure/Node//w2");
    assert_eq!(
        p.cause.as_deref(),
        Some("eviction-storm/Deployment/app/hog")
    );
    let left = find(&m.findings, "evicted-pods-leftover");
    assert_eq!(left.severity, Severity::Info);
    assert!(left.title.starts_with("2 evicted"), "{}", left.title);
}

#[test]
fn storm_ranks_by_requests_and_replicas_without_metrics() {
    let mut m = story("app", "hog", "w2");
    m.top.metrics_state = SourceState::Failed {
        failure: ktriage::model::Failure {
            kind: ktriage::model::FailureKind::Error,
            message: "metrics-server unavailable".into(),
        },
        since: t0(),
        last_ok: None,
    };
    let fs = ktriage::diagnose::evaluate(&m, t0());
    assert_eq!(
        find(&fs, "eviction-storm").key,
        "eviction-storm/Deployment/app/hog"
    );
}

#[test]
fn renamed_objects_give_the_same_findings() {
    let a = story("app", "hog", "w2");
    let b = story("zz-batch", "mangle", "node-17");
    let norm = |fs: &[Finding]| {
        let mut v: Vec<(String, Severity)> =
            fs.iter().map(|f| (f.id.clone(), f.severity)).collect();
        v.sort();
        v
    };
    assert_eq!(norm(&a.findings), norm(&b.findings));
    assert_eq!(
        find(&b.findings, "eviction-storm").key,
        "eviction-storm/Deployment/zz-batch/mangle"
    );
}

#[test]
fn a_few_old_evictions_are_no_storm() {
    let mut m = story("app", "hog", "w2");
    // the window is 5 minutes: move the clock 10 minutes on
    let later = t0() + Duration::minutes(10);
    update(&mut m, Msg::Tick, later);
    assert!(
        m.findings.iter().all(|f| f.id != "eviction-storm"),
        "{:?}",
        ids(&m.findings)
    );
}

#[test]
fn leaders_missing_stale_and_notready() {
    let m = story("app", "hog", "w2");
    let f = find(&m.findings, "leader-missing");
    assert_eq!(
        f.key,
        "leader-missing/Lease/kube-system/cloud-controller-manager"
    );
    assert_eq!(f.severity, Severity::Critical);
    let n = find(&m.findings, "leader-node-notready");
    assert_eq!(
        n.key,
        "leader-node-notready/Lease/kube-system/kube-controller-manager"
    );
    assert!(m.findings.iter().all(|f| f.id != "leader-stale"));
    // 12 s without renewal of a 15 s lease: past the renew deadline, not yet expired
    let mut m = m;
    update(&mut m, Msg::Tick, t0() + Duration::seconds(10));
    assert!(
        m.findings
            .iter()
            .any(|f| f.key == "leader-stale/Lease/kube-system/kube-scheduler"),
        "{:?}",
        ids(&m.findings)
    );
    // and after the duration it is missing
    update(&mut m, Msg::Tick, t0() + Duration::seconds(20));
    assert!(
        m.findings
            .iter()
            .any(|f| f.key == "leader-missing/Lease/kube-system/kube-scheduler")
    );
}

/// A lease only an add-on needs (Fleet's agent) is a warning when its holder stops renewing; the
/// control plane's own elections (RKE2's, k3s's, the scheduler's) stay critical; ages read as
/// durations.
#[test]
fn leases_that_matter() {
    let mut m = story("app", "hog", "w2");
    update(&mut m, Msg::Leases(Delta::Init), t0());
    for l in [
        lease_yaml(
            "cattle-fleet-system",
            "fleet-agent-lock",
            "fleet-agent-7d9f8b6c5-x2x9q",
            47 * 60,
            15,
        ),
        lease_yaml("kube-system", "rke2", "prod-cp-1", 50, 15),
        lease_yaml("kube-system", "k3s-etcd", "prod-cp-1", 50, 15),
        lease_yaml("kube-system", "kube-scheduler", "cp1_abc", 2830, 15),
    ] {
        update(&mut m, Msg::Leases(Delta::InitApply(leaders::row(l))), t0());
    }
    update(&mut m, Msg::Leases(Delta::InitDone), t0());
    let missing = |name: &str| {
        m.findings
            .iter()
            .find(|f| {
                f.id == "leader-missing" && f.subject.as_ref().is_some_and(|s| s.name == name)
            })
            .unwrap_or_else(|| panic!("no leader-missing for {name}: {:?}", ids(&m.findings)))
    };
    let fleet = missing("fleet-agent-lock");
    assert_eq!(
        fleet.severity,
        Severity::Warning,
        "an add-on, not the cluster"
    );
    assert!(
        fleet.evidence[0].contains("last renewed 47m ago"),
        "{:?}",
        fleet.evidence
    );
    assert!(
        fleet.fix.text.contains("cattle-fleet-system"),
        "{}",
        fleet.fix.text
    );
    for name in ["rke2", "k3s-etcd", "kube-scheduler"] {
        assert_eq!(missing(name).severity, Severity::Critical, "{name}");
    }
    assert!(
        missing("kube-scheduler").evidence[0].contains("last renewed 47m ago"),
        "2830 s reads as 47m"
    );
}

#[test]
fn holder_changes_in_the_window_are_flapping() {
    let mut m = story("app", "hog", "w2");
    for (i, h) in ["cp2_1", "cp1_2", "cp2_3"].iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64);
        let mut row = leaders::row(lease_yaml("kube-system", "kube-scheduler", h, 0, 15));
        row.renew = Some(at);
        update(&mut m, Msg::Leases(Delta::Apply(row)), at);
    }
    let f = find(&m.findings, "leader-flapping");
    assert_eq!(f.key, "leader-flapping/Lease/kube-system/kube-scheduler");
    assert!(
        f.evidence.iter().any(|e| e.contains("cp1_2 → cp2_3")),
        "{:?}",
        f.evidence
    );
    // two changes are below the default threshold of 3
    let mut m2 = story("app", "hog", "w2");
    for h in ["cp2_1", "cp1_2"] {
        update(
            &mut m2,
            Msg::Leases(Delta::Apply(leaders::row(lease_yaml(
                "kube-system",
                "kube-scheduler",
                h,
                0,
                15,
            )))),
            t0(),
        );
    }
    assert!(m2.findings.iter().all(|f| f.id != "leader-flapping"));
}

#[test]
fn leader_annotation_fallback_is_read() {
    let text = r#"{"holderIdentity":"node-a_1234","leaseDurationSeconds":15,"acquireTime":"2026-11-29T09:00:00Z","renewTime":"2026-11-29T09:59:58Z","leaderTransitions":7}"#;
    let row = leaders::annotation_row("kube-system", "kube-scheduler", text).unwrap();
    assert_eq!(row.holder_node(), Some("node-a"));
    assert_eq!(row.transitions, Some(7));
    assert_eq!(row.renew_age(t0()), Some(2));
    let mut m = support::model::model(false);
    update(&mut m, Msg::Leases(Delta::Apply(row)), t0());
    // a lease re-list does not drop the annotation row
    update(&mut m, Msg::Leases(Delta::Init), t0());
    update(&mut m, Msg::Leases(Delta::InitDone), t0());
    assert_eq!(m.leaders.rows().len(), 1);
}

#[test]
fn events_aggregate_filter_sort_and_stay_bounded() {
    let mut m = story("app", "hog", "w2");
    let g = m.events.groups();
    assert_eq!(g.len(), 1);
    assert_eq!(
        (g[0].reason.as_str(), g[0].node.as_str(), g[0].count),
        ("Evicted", "w2", 6)
    );
    assert!(g[0].rate_per_min() > 1.0);
    // a Normal event shows only with warnings-only off
    let mut normal = events::core_row(eviction("pay", "p", "w1", 5));
    normal.reason = "Scheduled".into();
    normal.warning = false;
    normal.id = "pay/normal".into();
    update(&mut m, Msg::Events(Delta::Apply(normal)), t0());
    assert_eq!(m.events.groups().len(), 1);
    m.events.warnings_only = false;
    assert_eq!(m.events.groups().len(), 2);
    // the ring: cap 10, 40 more events keep it near the cap, newest kept
    m.events.cap = 10;
    for i in 0..40 {
        let mut e = events::core_row(eviction("pay", &format!("q{i}"), "w2", 1000 - i));
        e.id = format!("pay/q{i}");
        update(&mut m, Msg::Events(Delta::Apply(e)), t0());
    }
    assert!(m.events.store.len() <= 11, "{}", m.events.store.len());
    assert!(m.events.store.get("pay/q39").is_some());
}

#[test]
fn a_relist_after_410_keeps_the_rows_until_complete() {
    let mut m = story("app", "hog", "w2");
    let before = m.events.store.len();
    update(&mut m, Msg::Events(Delta::Init), t0());
    assert_eq!(m.events.store.len(), before, "rows stay while re-listing");
    update(&mut m, Msg::Events(Delta::InitDone), t0());
    assert_eq!(m.events.store.len(), 0);
}

#[test]
fn top_joins_usage_requests_limits_and_owners() {
    let mut m = story("app", "hog", "w2");
    let rows = m.top.rows();
    assert_eq!(rows.len(), 4, "evicted pods are not consumers");
    assert_eq!(rows[0].workload.as_ref().unwrap().name, "hog");
    let ledger = rows.iter().find(|r| r.name == "ledger-7b8d-c").unwrap();
    assert_eq!(ledger.pct_of(ledger.lim_mem_b), Some(93));
    m.top.grouped = true;
    let g = m.top.rows();
    assert_eq!(g.len(), 3);
    assert_eq!(g[0].name, "hog");
    assert_eq!(g[0].pods, 2);
    assert_eq!(m.row_count(ktriage::model::PaneId::Top), 3);
    let near = find(&m.findings, "pod-near-limit");
    assert_eq!(near.key, "pod-near-limit/Pod/pay/ledger-7b8d-c");
    let nl: Vec<&Finding> = m
        .findings
        .iter()
        .filter(|f| f.id == "pod-no-limits")
        .collect();
    assert_eq!(
        nl[0].key, "pod-no-limits/Deployment/app/hog",
        "worst consumer first"
    );
    assert_eq!(nl.len(), 2);
}

#[test]
fn overcommitted_node() {
    let mut m = story("app", "hog", "w2");
    for i in 0..4 {
        let p = ktriage::kube::sources::top::pod_row(pod(
            "pay",
            &format!("big-{i}"),
            "w1",
            None,
            Some("16Gi"),
            "1Gi",
        ));
        update(&mut m, Msg::Pods(Delta::Apply(p)), t0());
    }
    let f = find(&m.findings, "node-overcommitted");
    assert_eq!(f.key, "node-overcommitted/Node//w1");
    assert!(f.title.contains("200%"), "{}", f.title);
}

#[test]
fn without_metrics_top_still_shows_requests_and_limits() {
    let mut m = support::model::model(false);
    update(
        &mut m,
        Msg::Pods(Delta::Apply(ktriage::kube::sources::top::pod_row(pod(
            "a",
            "p",
            "n",
            None,
            Some("1Gi"),
            "512Mi",
        )))),
        t0(),
    );
    update(
        &mut m,
        Msg::SourceFailed(
            ktriage::model::SourceId::Metrics,
            ktriage::model::Failure {
                kind: ktriage::model::FailureKind::Error,
                message: "metrics-server unavailable".into(),
            },
        ),
        t0(),
    );
    let rows = m.top.rows();
    assert_eq!(rows[0].mem_b, None);
    assert_eq!(rows[0].req_mem_b, Some(512 << 20));
    assert_eq!(rows[0].lim_mem_b, Some(1 << 30));
}

#[test]
fn events_filter_by_namespace_reason_and_text() {
    use crossterm::event::{KeyCode, KeyEvent};
    let mut m = story("app", "hog", "w2");
    let mut other = events::core_row(eviction("web", "p", "w1", 5));
    other.reason = "BackOff".into();
    other.message = "Back-off restarting failed container".into();
    other.id = "web/backoff".into();
    update(&mut m, Msg::Events(Delta::Apply(other)), t0());
    assert_eq!(m.events.groups().len(), 2);
    let press = |m: &mut ktriage::model::Model, c: KeyCode| {
        update(m, Msg::Key(KeyEvent::from(c)), t0());
    };
    press(&mut m, KeyCode::Char('4'));
    press(&mut m, KeyCode::Char('/'));
    for c in "ns:web".chars() {
        press(&mut m, KeyCode::Char(c));
    }
    press(&mut m, KeyCode::Enter);
    assert!(!m.events.editing);
    let g = m.events.groups();
    assert_eq!((g.len(), g[0].reason.as_str()), (1, "BackOff"));
    // typed keys went to the filter, not to the keymap (no pane switch on the digits)
    assert_eq!(m.ui.active, ktriage::model::PaneId::Events);
    m.events.filter = "reason:evicted".into();
    assert_eq!(m.events.groups()[0].reason, "Evicted");
    m.events.filter = "restarting".into();
    assert_eq!(m.events.groups()[0].reason, "BackOff");
    press(&mut m, KeyCode::Char('/'));
    press(&mut m, KeyCode::Esc);
    assert!(m.events.filter.is_empty());
    assert_eq!(m.events.groups().len(), 2);
}

/// Cost of one event arriving with 10,000 events and 5,000 pods in the model (run with
/// `cargo test --release --test panes_rules -- --ignored --nocapture`).
#[test]
#[ignore]
fn perf_one_event_with_10k_events() {
    let mut m = story("app", "hog", "w2");
    update(&mut m, Msg::Events(Delta::Init), t0());
    for i in 0..10_000 {
        let mut e = events::core_row(eviction(
            &format!("ns{}", i % 50),
            &format!("p{i}"),
            &format!("n{}", i % 40),
            i % 3000,
        ));
        e.reason = ["Evicted", "BackOff", "Unhealthy", "FailedMount"][i as usize % 4].into();
        e.id = format!("x/{i}");
        update(&mut m, Msg::Events(Delta::InitApply(e)), t0());
    }
    update(&mut m, Msg::Events(Delta::InitDone), t0());
    update(&mut m, Msg::Pods(Delta::Init), t0());
    for i in 0..5_000 {
        let p = ktriage::kube::sources::top::pod_row(pod(
            &format!("ns{}", i % 50),
            &format!("p{i}"),
            &format!("n{}", i % 40),
            Some("rs"),
            None,
            "100Mi",
        ));
        update(&mut m, Msg::Pods(Delta::InitApply(p)), t0());
    }
    update(&mut m, Msg::Pods(Delta::InitDone), t0());
    let n = 50;
    let start = std::time::Instant::now();
    for i in 0..n {
        let mut e = events::core_row(eviction("ns1", &format!("new{i}"), "n1", 1));
        e.id = format!("y/{i}");
        update(&mut m, Msg::Events(Delta::Apply(e)), t0());
    }
    let per = start.elapsed() / n;
    assert_eq!(m.events.group_count(), m.events.groups().len());
    let start = std::time::Instant::now();
    let g = m.events.groups();
    let groups = start.elapsed();
    let t = std::time::Instant::now();
    let _ = ktriage::diagnose::evaluate(&m, t0());
    let eval = t.elapsed();
    let t = std::time::Instant::now();
    for p in ktriage::model::PaneId::ALL {
        let _ = m.row_count(*p);
    }
    let counts = t.elapsed();
    eprintln!("evaluate: {eval:?}; row counts: {counts:?}");
    eprintln!(
        "update per event: {per:?}; groups(): {groups:?} ({} groups); findings {}",
        g.len(),
        m.findings.len()
    );
}

#[test]
fn a_storm_is_over_when_pressure_is_gone_and_evictions_stopped() {
    let mut m = story("app", "hog", "w2");
    // the runaway is scaled away: its pods go, the node recovers
    for p in ["app/hog-5f7c-a", "app/hog-5f7c-b"] {
        update(&mut m, Msg::Pods(Delta::Delete(p.into())), t0());
    }
    let calm = ktriage::kube::sources::nodes::row(node("w2", true, false));
    update(&mut m, Msg::Nodes(Delta::Apply(calm)), t0());
    // right after: still a storm (the last eviction was 20 s ago) but no culprit any more: the
    // small pods left on w2 hold no real share of its memory
    let f = find(&m.findings, "eviction-storm");
    assert_eq!(f.key, "eviction-storm", "{:?}", f.evidence);
    // two minutes of quiet later it is over
    update(&mut m, Msg::Tick, t0() + Duration::seconds(150));
    assert!(
        m.findings.iter().all(|f| f.id != "eviction-storm"),
        "{:?}",
        ids(&m.findings)
    );
}

#[test]
fn node_flapping_and_oomkilled() {
    let mut m = story("app", "hog", "w2");
    for (i, ready) in [false, true, false, true].iter().enumerate() {
        let at = t0() + Duration::seconds(i as i64 * 30);
        let row = ktriage::kube::sources::nodes::row(node("w1", *ready, false));
        update(&mut m, Msg::Nodes(Delta::Apply(row)), at);
    }
    let f = find(&m.findings, "node-flapping");
    assert_eq!(f.key, "node-flapping/Node//w1");
    assert!(f.title.contains("4 times"), "{}", f.title);
    // an OOMKilled container with restarts is near its limit whatever the usage says
    let mut p: serde_json::Value =
        serde_json::to_value(pod("pay", "oom-1", "w1", None, Some("256Mi"), "128Mi")).unwrap();
    p["status"]["containerStatuses"][0]["restartCount"] = 5.into();
    p["status"]["containerStatuses"][0]["lastState"] =
        serde_json::json!({"terminated": {"reason": "OOMKilled", "exitCode": 137}});
    let row = ktriage::kube::sources::top::pod_row(serde_json::from_value(p).unwrap());
    update(&mut m, Msg::Pods(Delta::Apply(row)), t0());
    let f = m
        .findings
        .iter()
        .find(|f| f.key == "pod-near-limit/Pod/pay/oom-1")
        .unwrap();
    assert!(f.title.contains("OOMKilled"), "{}", f.title);
    let ranks: Vec<u64> = m
        .findings
        .iter()
        .filter(|f| f.id == "pod-no-limits")
        .map(|f| f.details["rank"].as_u64().unwrap())
        .collect();
    assert_eq!(ranks.len(), 2);
}

#[test]
fn an_abandoned_lease_of_some_controller_is_no_missing_leader() {
    let mut m = story("app", "hog", "w2");
    let old = leaders::row(lease_yaml(
        "tools",
        "old-operator-lock",
        "pod-x",
        86_400,
        15,
    ));
    update(&mut m, Msg::Leases(Delta::Apply(old)), t0());
    assert!(
        m.findings
            .iter()
            .all(|f| !f.key.contains("old-operator-lock"))
    );
    // recently stopped: that one is a leader gone missing
    let recent = leaders::row(lease_yaml("tools", "live-operator-lock", "pod-y", 120, 15));
    update(&mut m, Msg::Leases(Delta::Apply(recent)), t0());
    assert!(has_key(
        &m.findings,
        "leader-missing/Lease/tools/live-operator-lock"
    ));
    // a well-known election is never abandoned
    let sched = leaders::row(lease_yaml(
        "kube-system",
        "kube-scheduler",
        "cp1_x",
        86_400,
        15,
    ));
    update(&mut m, Msg::Leases(Delta::Apply(sched)), t0());
    assert!(has_key(
        &m.findings,
        "leader-missing/Lease/kube-system/kube-scheduler"
    ));
}

fn has_key(fs: &[Finding], key: &str) -> bool {
    fs.iter().any(|f| f.key == key)
}

/// When every workload on the pressured node has memory limits, the culprit is the one whose
/// memory grew furthest past its request.
#[test]
fn a_storm_culprit_with_limits_is_found_by_growth_past_its_request() {
    let mut m = story("app", "hog", "w2");
    let hogs: Vec<_> = m
        .top
        .pods
        .iter()
        .filter(|p| p.namespace == "app")
        .cloned()
        .collect();
    assert!(!hogs.is_empty());
    for mut p in hogs {
        for c in &mut p.containers {
            c.lim_mem_b = Some(16 << 30);
        }
        update(&mut m, Msg::Pods(Delta::Apply(p)), t0());
    }
    let f = find(&m.findings, "eviction-storm");
    assert_eq!(
        f.key, "eviction-storm/Deployment/app/hog",
        "{:?}",
        f.evidence
    );
    assert!(
        f.title.contains("(memory at 14× its request)"),
        "{}",
        f.title
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("with memory limits, grown past their request of 1.0Gi")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.fix.text.contains("grows past its request"),
        "{}",
        f.fix.text
    );
}
