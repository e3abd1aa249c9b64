//! The chapter's remaining failure paths as `report --demo` tells them, each on its built-in
//! scenario: an add-on's lease gone quiet (a warning, with its age as a duration); etcd snapshots
//! that are late, failed and kept only on their node (a warning), and none usable while etcd has
//! lost quorum (critical).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::{finding_about, report_demo};

#[test]
fn an_add_on_lease_gone_quiet_is_a_warning() {
    let (_, doc) = report_demo("leader-flapping");
    let f = finding_about(&doc, "leader-missing", "fleet-agent-lock");
    assert_eq!(f["severity"], "warning", "{f:#}");
    assert!(
        f["evidence"][0]
            .as_str()
            .unwrap()
            .contains("last renewed 47m ago"),
        "{f:#}"
    );
    let row = doc["panes"]["leaders"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "fleet-agent-lock")
        .unwrap();
    assert!(
        row["renew_age_s"].as_i64().unwrap() >= 47 * 60,
        "not renewed by the simulator"
    );
}

#[test]
fn stale_failed_and_local_only_snapshots() {
    let (_, doc) = report_demo("etcd-split-brain");
    let f = finding_about(&doc, "etcd-backup-stale", "rke2-etcd-snapshots");
    assert_eq!(f["severity"], "warning", "a good snapshot exists: {f:#}");
    assert_eq!(
        f["title"],
        "etcd snapshots: the newest good one is 38h old (one is due every 12h)"
    );
    let ev = f["evidence"].to_string();
    for want in [
        "newest good snapshot etcd-snapshot-prod-cp-1-2 on prod-cp-1, taken 38h ago",
        "failed: etcd-snapshot-prod-cp-1-3 on prod-cp-1 (2h ago)",
        "every good snapshot is a file on the node that took it",
    ] {
        assert!(ev.contains(want), "{want}: {ev}");
    }
    assert!(
        f["fix"]["text"]
            .as_str()
            .unwrap()
            .contains("`rke2 etcd-snapshot save`")
    );
    // healthy: no snapshot records (not read as "none usable")
    let (_, doc) = report_demo("healthy");
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "etcd-backup-stale"),
        "{:#}",
        doc["findings"]
    );
}

#[test]
fn no_usable_snapshot_while_quorum_is_lost_is_critical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-backup.yaml");
    std::fs::write(
        &path,
        r#"name: no-backup
include: [etcd-quorum-lost]
objects:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: rke2-etcd-snapshots, namespace: kube-system}
    data:
      etcd-snapshot-prod-cp-1-9: '{"name":"etcd-snapshot-prod-cp-1-9","nodeName":"prod-cp-1","location":"file:///var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-prod-cp-1-9","createdAt":"$now-1h","size":0,"status":"failed","message":"no space left on device"}'
"#,
    )
    .unwrap();
    let (code, doc) = report_demo(path.to_str().unwrap());
    assert_eq!(code, Some(1));
    let f = finding_about(&doc, "etcd-backup-stale", "rke2-etcd-snapshots");
    assert_eq!(f["severity"], "critical", "{f:#}");
    assert_eq!(f["title"], "etcd snapshots: none usable");
    assert!(
        f["evidence"]
            .to_string()
            .contains("etcd is unhealthy now and no good snapshot exists to restore")
    );
}

/// kube-ca rotation bites wherever a pod talks to the API server: the ingress controller in its own
/// namespace, found from its previous container's log (its termination message says nothing).
#[test]
fn kube_ca_rotation_breaks_the_ingress_controller_in_its_own_namespace() {
    let home = tempfile::tempdir().unwrap();
    let out = support::ktriage(
        home.path(),
        &[
            "report",
            "--demo",
            "kube-ca-rotated",
            "--format",
            "json",
            "--observe",
            "3s",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "kube-ca-mismatch")
        .expect("kube-ca-mismatch");
    assert!(
        f["details"]["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["namespace"] == "ingress-nginx" && w["name"] == "ingress-nginx-controller"),
        "{f:#}"
    );
    assert!(
        f["evidence"].as_array().unwrap().iter().any(|e| {
            let e = e.as_str().unwrap();
            e.starts_with("ingress-nginx/ingress-nginx-controller-")
                && e.contains("previous log")
                && e.contains("x509: certificate signed by unknown authority")
        }),
        "{f:#}"
    );
    let fix = f["fix"]["text"].as_str().unwrap();
    assert!(
        fix.contains("Never start with `certificate rotate-ca`"),
        "{fix}"
    );
    assert!(
        fix.contains("ingress-nginx/ingress-nginx-controller"),
        "{fix}"
    );
}

/// `report --demo SCENARIO` with a critical finding (exit 1).
fn blocking_report(scenario: &str) -> serde_json::Value {
    let (code, doc) = report_demo(scenario);
    assert_eq!(code, Some(1));
    doc
}

/// The first finding with this id.
fn first<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no {id}: {:#}", doc["findings"]))
}

/// A fail-closed webhook whose backend is up (2 ready endpoints) but whose caBundle no longer
/// matches the backend's certificate: blocking, with the reason named, the fix for that reason and
/// the blast radius beyond pods.
#[test]
fn a_webhook_with_ready_endpoints_and_a_wrong_ca_bundle_blocks() {
    let doc = blocking_report("webhook-cabundle");
    let f = first(&doc, "webhook-blocking");
    assert_eq!(f["subject"]["part"], "validate.kyverno.svc-fail");
    assert_eq!(f["details"]["reachability"], "2 ready");
    assert_eq!(f["details"]["call_failure"], "CaBundle");
    let title = f["title"].as_str().unwrap();
    assert!(
        title.contains("fails closed: calls fail (x509: its caBundle does not match"),
        "{title}"
    );
    assert!(
        title.contains("although 2 endpoint(s) are ready"),
        "{title}"
    );
    assert!(
        f["evidence"].to_string().contains(
            "Leases in kube-system (leader election, heartbeats), ConfigMaps in kube-system"
        ),
        "{f:#}"
    );
    assert!(
        f["fix"]["text"]
            .as_str()
            .unwrap()
            .contains("/webhooks/0/clientConfig/caBundle")
    );
}

/// The simulator refuses what the real API server refuses: a pod create through that webhook fails
/// TLS verification; with failurePolicy Ignore it is admitted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_fails_the_call_on_a_wrong_ca_bundle() {
    use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams, PostParams};
    let h = support::sim("webhook-cabundle").await;
    let c = support::client(&h).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    let pod: Pod = serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "probe"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}))
    .unwrap();
    let err = pods
        .create(&PostParams::default(), &pod)
        .await
        .expect_err("the webhook fails closed");
    let s = support::status(err);
    assert!(
        s.message
            .contains("failed calling webhook \"validate.kyverno.svc-fail\"")
            && s.message
                .contains("x509: certificate signed by unknown authority"),
        "{}",
        s.message
    );
    let cfgs: Api<ValidatingWebhookConfiguration> = Api::all(c.clone());
    cfgs.patch(
        "kyverno-resource-validating-webhook-cfg",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(serde_json::json!([
                {"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}
            ]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("admitted while the webhook fails open");
    h.shutdown().await;
}

/// The caBundle story with every user-chosen name changed gives the same finding.
#[test]
fn a_wrong_ca_bundle_renamed_gives_the_same_finding() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/webhook-cabundle.yaml"
    ))
    .unwrap();
    let text = text
        .replace("kyverno-resource-validating-webhook-cfg", "policy-gate-cfg")
        .replace("validate.kyverno.svc-fail", "check.policy.example.com")
        .replace("kyverno-svc", "gate-backend")
        .replace("kyverno", "policy-system")
        .replace("checkout", "cart")
        .replace("name: webhook-cabundle", "name: renamed");
    let p = dir.path().join("renamed.yaml");
    std::fs::write(&p, text).unwrap();
    let doc = blocking_report(p.to_str().unwrap());
    let f = first(&doc, "webhook-blocking");
    assert_eq!(f["subject"]["name"], "policy-gate-cfg");
    assert_eq!(f["subject"]["part"], "check.policy.example.com");
    assert_eq!(f["details"]["call_failure"], "CaBundle");
}
