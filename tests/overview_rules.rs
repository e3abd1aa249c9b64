//! The Overview's cross-pane links and grouping, `kube-ca-mismatch` and `rancher-agent-down` from
//! fixture models (pods fed through the pods source's own row function) with a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use k8s_openapi::api::core::v1::Pod;
use ktriage::diagnose::links::grouped;
use ktriage::diagnose::{Finding, Severity};
use ktriage::kube::sources::{leaders, top};
use ktriage::model::{Delta, Model, PaneId};
use ktriage::msg::Msg;
use ktriage::update::update;
use serde_json::json;
use support::model::t0;

fn finding(id: &str, key: &str, sev: Severity, cause: Option<&str>) -> Finding {
    let mut f = Finding::new(id, sev, PaneId::Overview, None, format!("{id} {key}"));
    f.key = key.into();
    f.cause = cause.map(str::to_string);
    f
}

#[test]
fn grouping_puts_root_causes_first_with_their_symptoms_under_them() {
    // as evaluate sorts them: critical first, then id
    let fs = vec![
        finding("api-unreachable", "api", Severity::Critical, Some("quorum")),
        finding("etcd-quorum-lost", "quorum", Severity::Critical, None),
        finding("webhook-blocking", "wh", Severity::Critical, None),
        finding("leader-stale", "sched", Severity::Warning, Some("wh")),
        finding("leader-stale", "kcm", Severity::Warning, Some("api")),
        finding("pod-no-limits", "app", Severity::Warning, None),
        finding("namespace-stuck", "ns", Severity::Warning, Some("gone")),
        finding("webhook-fail-open", "open", Severity::Info, None),
    ];
    let order: Vec<(&str, usize)> = grouped(&fs)
        .into_iter()
        .map(|(i, d)| (fs[i].key.as_str(), d))
        .collect();
    assert_eq!(
        order,
        vec![
            // among the critical roots, what reaches furthest (etcd) comes first
            ("quorum", 0),
            ("api", 1),
            ("kcm", 2),
            ("wh", 0),
            ("sched", 1),
            // a cause that is not present leaves the finding a root
            ("app", 0),
            ("ns", 0),
            ("open", 0),
        ]
    );
}

#[test]
fn an_etcd_split_brain_opens_the_overview_above_an_eviction_storm_that_explains_more() {
    // the demo's incident: the storm explains three findings, the split brain none; the split
    // brain reaches every write of the cluster, so it leads (the chapter's worst first)
    let fs = vec![
        finding("etcd-split-brain", "split", Severity::Critical, None),
        finding("eviction-storm", "storm", Severity::Critical, None),
        finding("node-pressure", "p1", Severity::Critical, Some("storm")),
        finding("pod-no-limits", "app", Severity::Warning, Some("storm")),
        finding("pod-crashloop", "c", Severity::Warning, Some("storm")),
    ];
    let order: Vec<(&str, usize)> = grouped(&fs)
        .into_iter()
        .map(|(i, d)| (fs[i].key.as_str(), d))
        .collect();
    assert_eq!(
        order,
        vec![("split", 0), ("storm", 0), ("p1", 1), ("app", 1), ("c", 1)]
    );
    // between two roots of equal reach, the one explaining more still comes first
    let fs = vec![
        finding("webhook-blocking", "wh", Severity::Critical, None),
        finding("eviction-storm", "storm", Severity::Critical, None),
        finding("pod-no-limits", "app", Severity::Warning, Some("storm")),
    ];
    let order: Vec<&str> = grouped(&fs)
        .into_iter()
        .map(|(i, _)| fs[i].key.as_str())
        .collect();
    assert_eq!(order, vec!["storm", "app", "wh"]);
}

#[test]
fn a_cause_cycle_does_not_hide_findings() {
    let fs = vec![
        finding("a", "a", Severity::Critical, Some("b")),
        finding("b", "b", Severity::Warning, Some("a")),
    ];
    let order = grouped(&fs);
    assert_eq!(order.len(), 2);
    assert!(order.iter().all(|(_, d)| *d == 0));
}

fn stale_scheduler(m: &mut Model) {
    update(m, Msg::Leases(Delta::Init), t0());
    let l = support::panes::lease_yaml("kube-system", "kube-scheduler", "cp-1_abc", 2820, 15);
    update(m, Msg::Leases(Delta::InitApply(leaders::row(l))), t0());
    update(m, Msg::Leases(Delta::InitDone), t0());
    update(m, Msg::Tick, t0());
}

#[test]
fn a_webhook_rejecting_lease_updates_explains_the_stale_scheduler() {
    let mut m = support::model::gatekeeper(true);
    stale_scheduler(&mut m);
    // the webhook that intercepts lease updates (Gatekeeper's namespace-label one blocks too)
    let wh = m
        .findings
        .iter()
        .find(|f| {
            f.id == "webhook-blocking"
                && f.subject.as_ref().and_then(|s| s.part.as_deref())
                    == Some("validation.gatekeeper.sh")
        })
        .expect("webhook-blocking")
        .key
        .clone();
    let leader = m
        .findings
        .iter()
        .find(|f| f.id.starts_with("leader-") && f.key.contains("kube-scheduler"))
        .expect("a leader finding for the scheduler");
    assert_eq!(leader.cause.as_deref(), Some(wh.as_str()), "{leader:#?}");
    // on the Overview the webhook comes before the lease, which sits under it
    let order = grouped(&m.findings);
    let pos = |k: &str| order.iter().position(|(i, _)| m.findings[*i].key == k);
    assert!(pos(&wh) < pos(&leader.key));
    let depth = order
        .iter()
        .find(|(i, _)| m.findings[*i].key == leader.key)
        .map(|(_, d)| *d);
    assert_eq!(depth, Some(1));
}

#[test]
fn a_webhook_that_ignores_leases_explains_nothing() {
    let mut m = support::model::gatekeeper(true);
    // the same webhooks, but only for pods
    use ktriage::model::webhooks::{WebhookKind, WebhooksMsg};
    let configs: Vec<_> = m.webhooks.validating.iter().cloned().collect();
    for mut c in configs {
        for w in &mut c.webhooks {
            for r in &mut w.rules {
                r.resources = vec!["pods".into()];
                r.api_groups = vec!["".into()];
            }
        }
        update(
            &mut m,
            Msg::Webhooks(WebhooksMsg::Configs(
                WebhookKind::Validating,
                Delta::Apply(c),
            )),
            t0(),
        );
    }
    assert!(m.findings.iter().any(|f| f.id == "webhook-blocking"));
    stale_scheduler(&mut m);
    let leader = m
        .findings
        .iter()
        .find(|f| f.id.starts_with("leader-") && f.key.contains("kube-scheduler"))
        .expect("a leader finding");
    assert_eq!(leader.cause, None, "{leader:#?}");
}

#[test]
fn an_unreachable_api_explains_leader_findings() {
    let mut m = support::model::burning(true);
    stale_scheduler(&mut m);
    let api = m
        .findings
        .iter()
        .find(|f| f.id == "api-unreachable")
        .expect("api-unreachable");
    assert_eq!(api.cause, None);
    let leader = m
        .findings
        .iter()
        .find(|f| f.id.starts_with("leader-"))
        .expect("leader finding");
    assert_eq!(leader.cause.as_deref(), Some("api-unreachable"));
}

/// A pod as the API serves it; `crash` gives its one container a CrashLoopBackOff with `message` as
/// the last termination message.
fn pod(ns: &str, name: &str, owner: (&str, &str), crash: Option<&str>) -> Pod {
    let status = match crash {
        Some(msg) => json!({
            "name": "main", "ready": false, "restartCount": 12, "image": "x",
            "imageID": "", "started": false,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": msg}}
        }),
        None => json!({
            "name": "main", "ready": true, "restartCount": 0, "image": "x", "imageID": "",
            "state": {"running": {"startedAt": "2026-11-01T00:00:00Z"}}
        }),
    };
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": owner.0, "name": owner.1, "uid": "u", "controller": true}
        ]},
        "spec": {"nodeName": "n1", "containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": "Running", "containerStatuses": [status]}
    }))
    .unwrap()
}

fn with_pods(pods: Vec<Pod>) -> Model {
    let mut m = support::model::model(true);
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t0(),
    );
    update(&mut m, Msg::Pods(Delta::Init), t0());
    for p in pods {
        update(&mut m, Msg::Pods(Delta::InitApply(top::pod_row(p))), t0());
    }
    update(&mut m, Msg::Pods(Delta::InitDone), t0());
    update(&mut m, Msg::Tick, t0());
    m
}

const X509: &str = "level=fatal msg=\"Get \\\"https://10.43.0.1:443/api\\\": x509: certificate signed by unknown authority\"";
const UNAUTH: &str = "failed to list *v1.Namespace: Unauthorized";

fn ca(m: &Model) -> Option<&Finding> {
    m.findings.iter().find(|f| f.id == "kube-ca-mismatch")
}

#[test]
fn kube_ca_mismatch_from_system_pods_last_words() {
    // names are arbitrary: the rule reads namespaces, states and messages
    let m = with_pods(vec![
        pod(
            "kube-system",
            "dns-a1",
            ("DaemonSet", "resolver"),
            Some(UNAUTH),
        ),
        pod(
            "cattle-system",
            "agent-x",
            ("DaemonSet", "edge"),
            Some(X509),
        ),
        pod("kube-system", "fine-1", ("DaemonSet", "fine"), None),
    ]);
    let f = ca(&m).expect("kube-ca-mismatch");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.title.contains("DaemonSet kube-system/resolver"),
        "{}",
        f.title
    );
    assert!(
        f.title.contains("DaemonSet cattle-system/edge"),
        "{}",
        f.title
    );
    assert!(!f.title.contains("fine"));
    assert!(f.evidence.iter().any(|e| e.contains("Unauthorized")));
    assert!(f.evidence.iter().any(|e| e.contains("x509")));
    assert!(
        f.fix.text.contains("Restart the affected pods"),
        "{}",
        f.fix.text
    );
    assert!(
        f.fix.text.contains("projected service-account tokens"),
        "1.28: {}",
        f.fix.text
    );
    // the kubeconfig in this fixture goes through Rancher's proxy: nothing compares it
    assert!(
        m.cluster
            .server
            .as_deref()
            .unwrap()
            .contains("/k8s/clusters/")
    );
}

#[test]
fn kube_ca_mismatch_from_previous_logs_when_no_termination_message() {
    let mut m = with_pods(vec![pod(
        "kube-system",
        "p1",
        ("DaemonSet", "cni"),
        Some(""),
    )]);
    assert!(ca(&m).is_none());
    let logs = std::collections::BTreeMap::from([(
        "kube-system/p1/main".to_string(),
        vec![X509.to_string()],
    )]);
    update(&mut m, Msg::CrashLogs(logs), t0());
    let f = ca(&m).expect("from logs");
    assert!(f.evidence.iter().any(|e| e.contains("previous log")));
}

#[test]
fn no_kube_ca_mismatch_for_application_pods_or_other_errors() {
    let m = with_pods(vec![
        // an application namespace: its own TLS problem (to its own backend), not the cluster CA
        pod(
            "shop",
            "web-1",
            ("Deployment", "web"),
            Some(
                "dial \"https://payments.internal:8443/charge\": x509: certificate signed by unknown authority",
            ),
        ),
        // a system pod crash-looping for another reason
        pod(
            "kube-system",
            "dns-1",
            ("Deployment", "dns"),
            Some("panic: out of memory"),
        ),
        pod("kube-system", "ok-1", ("DaemonSet", "ok"), None),
    ]);
    assert!(ca(&m).is_none(), "{:#?}", m.findings);
}

#[test]
fn rancher_agent_down_is_explained_by_kube_ca() {
    let m = with_pods(vec![
        pod(
            "cattle-system",
            "cattle-cluster-agent-7f-abc",
            ("Deployment", "cattle-cluster-agent"),
            Some(X509),
        ),
        pod(
            "kube-system",
            "r-1",
            ("DaemonSet", "resolver"),
            Some(UNAUTH),
        ),
    ]);
    let agent = m
        .findings
        .iter()
        .find(|f| f.id == "rancher-agent-down")
        .expect("rancher-agent-down");
    assert_eq!(agent.severity, Severity::Warning);
    assert!(
        agent
            .evidence
            .iter()
            .any(|e| e.contains("CrashLoopBackOff"))
    );
    assert_eq!(agent.cause.as_deref(), Some("kube-ca-mismatch"));
}

#[test]
fn rancher_agent_down_without_kube_ca_is_a_root() {
    let m = with_pods(vec![pod(
        "cattle-system",
        "cattle-cluster-agent-7f-abc",
        ("Deployment", "cattle-cluster-agent"),
        Some("dial tcp: lookup rancher.example: no such host"),
    )]);
    let agent = m
        .findings
        .iter()
        .find(|f| f.id == "rancher-agent-down")
        .expect("rancher-agent-down");
    assert_eq!(agent.cause, None);
    assert!(ca(&m).is_none());
    // a ready agent: nothing
    let ok = with_pods(vec![pod(
        "cattle-system",
        "cattle-cluster-agent-7f-abc",
        ("Deployment", "cattle-cluster-agent"),
        None,
    )]);
    assert!(!ok.findings.iter().any(|f| f.id == "rancher-agent-down"));
}

/// A CA (PEM) and a serving certificate it signed (DER).
fn ca_and_leaf(cn: &str) -> (String, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, cn);
    let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
    let mut l = CertificateParams::new(vec!["kubernetes.default.svc".to_string()]).unwrap();
    l.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = l.signed_by(&KeyPair::generate().unwrap(), &ca).unwrap();
    (ca.pem(), leaf.der().to_vec())
}

fn served(leaf: &[u8], proxied: bool) -> Msg {
    use ktriage::certs::chain::{ServedChain, Trust, issuer_of};
    Msg::Certs(ktriage::certs::CertsModel {
        served: Some(ServedChain {
            endpoint: "10.0.0.11:6443".into(),
            leaf: leaf.to_vec(),
            intermediates: vec![],
            issuer: issuer_of(leaf),
            proxied,
            kubeconfig_ca: Some(Trust::Trusted),
        }),
        ..Default::default()
    })
}

/// `kube-root-ca.crt` of each namespace, through the source's own row function.
fn root_cas(m: &mut Model, bundles: &[(&str, &str)]) {
    use ktriage::kube::sources::root_ca::Bundles;
    let b = Bundles::default();
    update(m, Msg::RootCa(Delta::Init), t0());
    for (ns, pem) in bundles {
        let cm: k8s_openapi::api::core::v1::ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "kube-root-ca.crt", "namespace": ns},
            "data": {"ca.crt": pem}
        }))
        .unwrap();
        update(m, Msg::RootCa(Delta::InitApply(b.row(&cm))), t0());
    }
    update(m, Msg::RootCa(Delta::InitDone), t0());
}

/// Without a single Secret: the certificate the API server presents, and namespaces whose
/// kube-root-ca.crt does not trust it while others' does, are `kube-ca-mismatch` on their own.
#[test]
fn kube_root_ca_that_does_not_trust_the_api_server_is_kube_ca_evidence() {
    let (new_ca, leaf) = ca_and_leaf("kube-ca-2026");
    let (old_ca, _) = ca_and_leaf("kube-ca-2016");
    let mut m = with_pods(vec![]);
    update(&mut m, served(&leaf, false), t0());
    root_cas(
        &mut m,
        &[
            ("apps", &new_ca),
            ("default", &new_ca),
            ("kube-system", &old_ca),
        ],
    );
    let f = ca(&m).expect("kube-ca-mismatch from kube-root-ca.crt");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(
        f.title,
        "kube-ca rotated? wrong kube-root-ca.crt in 1 namespace(s): kube-system"
    );
    assert_eq!(f.details["untrusting_namespaces"], json!(["kube-system"]));
    assert_eq!(f.details["api_server_ca"], json!("CN=kube-ca-2026"));
    let ev = f.evidence.join("\n");
    assert!(
        ev.contains("issued by CN=kube-ca-2026; the kubeconfig's CA trusts it"),
        "{ev}"
    );
    assert!(
        ev.contains("(kube-system) holds CN=kube-ca-2016, which did not issue it"),
        "{ev}"
    );
    assert!(
        ev.contains("(apps, default) holds CN=kube-ca-2026, which issued it"),
        "{ev}"
    );
    // the old CA added beside the new one (a rotation in progress) trusts it: nothing
    let mut ok = with_pods(vec![]);
    update(&mut ok, served(&leaf, false), t0());
    let both = format!("{old_ca}{new_ca}");
    root_cas(&mut ok, &[("apps", &new_ca), ("kube-system", &both)]);
    assert!(ca(&ok).is_none(), "{:?}", ca(&ok));
    // no namespace trusts it (a TLS-terminating proxy looks the same): not a finding by itself
    let mut proxy = with_pods(vec![]);
    update(&mut proxy, served(&leaf, false), t0());
    root_cas(&mut proxy, &[("apps", &old_ca), ("kube-system", &old_ca)]);
    assert!(ca(&proxy).is_none());
    // behind Rancher's proxy the chain is Rancher's: never compared
    let mut rancher = with_pods(vec![]);
    update(&mut rancher, served(&leaf, true), t0());
    root_cas(&mut rancher, &[("apps", &new_ca), ("kube-system", &old_ca)]);
    assert!(ca(&rancher).is_none());
    // the API server presents another certificate: the verdicts follow it
    let (_, leaf_old) = ca_and_leaf("kube-ca-2016-reissued");
    update(&mut m, served(&leaf_old, false), t0());
    assert!(ca(&m).is_none(), "{:?}", ca(&m));
}

/// Without the served chain (plain HTTP), bundles that differ between namespaces are evidence
/// beside crash-looping system pods, not a finding by themselves.
#[test]
fn differing_kube_root_ca_is_evidence_beside_crash_loops() {
    let (new_ca, _) = ca_and_leaf("kube-ca-2026");
    let (old_ca, _) = ca_and_leaf("kube-ca-2016");
    let mut m = with_pods(vec![]);
    root_cas(&mut m, &[("apps", &new_ca), ("kube-system", &old_ca)]);
    assert!(ca(&m).is_none());
    let mut m = with_pods(vec![pod(
        "kube-system",
        "dns-1",
        ("ReplicaSet", "dns-7f"),
        Some(X509),
    )]);
    root_cas(&mut m, &[("apps", &new_ca), ("kube-system", &old_ca)]);
    let f = ca(&m).expect("kube-ca-mismatch");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.starts_with("kube-root-ca.crt differs between namespaces")),
        "{f:#?}"
    );
}
