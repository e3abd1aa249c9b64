//! The incident snapshot: the document (findings grouped by cause, evidence, trimmed tables, this
//! run's journal), credentials scrubbed even when a crashed pod printed them, `--redact` hiding node
//! names and IPs, the TUI's key writing a 0600 file, and the binary's `report --format markdown` on a
//! scenario with a planted Secret and token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::ktriage;

use k8s_openapi::api::core::v1::Pod;
use ktriage::kube::sources::top;
use ktriage::model::{Delta, Model};
use ktriage::msg::Msg;
use ktriage::snapshot;
use ktriage::update::{Effect, update};
use serde_json::json;
use support::model::t0;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InBsYW50ZWQifQ.cGxhbnRlZA.c2lnbmF0dXJl";
const PASSWORD: &str = "hunter2-planted";

fn crashing(ns: &str, name: &str, message: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"nodeName": "prod-cp-1", "containers": [{"name": "main", "image": "x"}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.11", "containerStatuses": [{
            "name": "main", "ready": false, "restartCount": 9, "image": "x", "imageID": "",
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "message": message}}
        }]}
    }))
    .unwrap()
}

fn leaky_model() -> Model {
    let mut m = support::model::model(true);
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t0(),
    );
    let msg = format!(
        "GET https://10.43.0.1:443/api with Authorization: Bearer {TOKEN} password={PASSWORD} token: {TOKEN} failed: x509: certificate signed by unknown authority"
    );
    update(&mut m, Msg::Pods(Delta::Init), t0());
    update(
        &mut m,
        Msg::Pods(Delta::InitApply(top::pod_row(crashing(
            "kube-system",
            "cni-1",
            &msg,
        )))),
        t0(),
    );
    update(&mut m, Msg::Pods(Delta::InitDone), t0());
    update(&mut m, Msg::Tick, t0());
    m
}

#[test]
fn the_document_has_findings_tables_and_journal_but_no_credentials() {
    let m = leaky_model();
    assert!(m.findings.iter().any(|f| f.id == "kube-ca-mismatch"));
    let journal = vec![
        json!({"phase": "intent", "id": "a1", "time": "2026-11-29T10:00:05Z",
               "object": {"kind": "Deployment", "namespace": "shop", "name": "web"},
               "mutation": {"describe": "scale to 0"}, "before": {"spec": {"replicas": 3}}}),
        json!({"phase": "outcome", "id": "a1", "time": "2026-11-29T10:00:06Z",
               "stage": "write", "result": "applied"}),
        json!({"phase": "intent", "id": "old", "time": "2026-11-28T10:00:05Z",
               "object": {"kind": "Deployment", "namespace": "shop", "name": "old"},
               "mutation": {"describe": "scale to 1"}}),
    ];
    let entries = snapshot::run_entries(&journal, t0());
    assert_eq!(entries.len(), 2, "only this run's entries");
    let doc = snapshot::document(&m, t0(), &entries, false);
    assert!(doc.starts_with("# ktriage report"), "{doc}");
    assert!(doc.contains("`kube-ca-mismatch`"), "{doc}");
    assert!(doc.contains("x509: certificate signed by unknown authority"));
    assert!(doc.contains("## Failing pods (1)") && doc.contains("kube-system/cni-1"));
    assert!(doc.contains("## Actions this run (2)") && doc.contains("scale to 0"));
    assert!(
        !doc.contains("scale to 1"),
        "an earlier run's entry leaked in"
    );
    for secret in [TOKEN, PASSWORD, "cGxhbnRlZA"] {
        assert!(!doc.contains(secret), "{secret} in:\n{doc}");
    }
    // Kubernetes names stay, however long
    let name = "cattle-system/cattle-cluster-agent-6d4f5d7c9b-m4q8d container agent";
    assert_eq!(snapshot::scrub(name), name);
    // without --redact node names and IPs stay
    assert!(doc.contains("prod-cp-1") && doc.contains("10.43.0.1"));
    let red = snapshot::document(&m, t0(), &entries, true);
    assert!(
        !red.contains("prod-cp-1") && !red.contains("10.43.0.1"),
        "{red}"
    );
    assert!(red.contains("node-1") && red.contains("x.x.x.x"));
}

#[test]
fn the_snapshot_key_asks_the_app_to_write_and_the_file_is_private() {
    let mut m = leaky_model();
    let effects = update(
        &mut m,
        Msg::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char('s'),
            crossterm::event::KeyModifiers::CONTROL,
        )),
        t0(),
    );
    assert!(
        effects.iter().any(|e| matches!(e, Effect::Snapshot(_))),
        "{effects:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = snapshot::path_for(dir.path(), Some("rke2/prod east"), t0());
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        "ktriage-snapshot-rke2_prod_east-20261129T100000Z.md"
    );
    snapshot::write_private(&path, "# x\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // never overwrites
    assert!(snapshot::write_private(&path, "# y\n").is_err());
    update(
        &mut m,
        Msg::SnapshotWritten(Ok(path.display().to_string())),
        t0(),
    );
    assert!(
        m.notice
            .as_ref()
            .is_some_and(|n| n.text.contains(&path.display().to_string()))
    );
}

#[test]
fn report_markdown_on_a_scenario_with_a_planted_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret_value = "planted-secret-value-7731";
    let scenario = format!(
        r#"name: planted
include: [kube-ca-rotated]
objects:
  - apiVersion: v1
    kind: Secret
    metadata: {{name: db-creds, namespace: kube-system}}
    type: Opaque
    stringData: {{password: {secret_value}}}
    data: {{token: {b64}}}
  - apiVersion: v1
    kind: Pod
    metadata: {{name: leaky-1, namespace: kube-system}}
    spec: {{nodeName: prod-cp-1, containers: [{{name: main, image: x}}]}}
    status:
      phase: Running
      containerStatuses:
        - name: main
          ready: false
          restartCount: 4
          image: x
          imageID: ""
          state: {{waiting: {{reason: CrashLoopBackOff}}}}
          lastState: {{terminated: {{exitCode: 1, message: "Authorization: Bearer {TOKEN} rejected: Unauthorized"}}}}
"#,
        b64 = "cGxhbnRlZC1zZWNyZXQtdmFsdWUtNzczMQ=="
    );
    let path = dir.path().join("planted.yaml");
    std::fs::write(&path, scenario).unwrap();
    let out = ktriage(
        dir.path(),
        &[
            "report",
            "--format",
            "markdown",
            "--observe",
            "0",
            "--demo",
            path.to_str().unwrap(),
        ],
    );
    let body = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{body}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(body.contains("`kube-ca-mismatch`"), "{body}");
    assert!(body.contains("kube-system/leaky-1"), "{body}");
    for s in [
        secret_value,
        "cGxhbnRlZC1zZWNyZXQtdmFsdWUtNzczMQ==",
        TOKEN,
        "cGxhbnRlZA",
    ] {
        assert!(!body.contains(s), "{s} leaked:\n{body}");
    }
    let red = ktriage(
        dir.path(),
        &[
            "report",
            "--format",
            "markdown",
            "--observe",
            "0",
            "--redact",
            "--demo",
            path.to_str().unwrap(),
        ],
    );
    let red = String::from_utf8_lossy(&red.stdout).to_string();
    assert!(red.contains("`kube-ca-mismatch`"));
    assert!(
        !red.contains("prod-cp-1") && !red.contains("10.0.0.11"),
        "{red}"
    );
}
