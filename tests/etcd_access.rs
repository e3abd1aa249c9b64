//! Where the binary finds etcd, end to end (a fake v3 gateway stands in for etcd): flags, `ETCDCTL_*`,
//! `[contexts.NAME.etcd]`, the kubeconfig context extension `ktriage/etcd`, and the report with no
//! source at all. The report's `panes.etcd.access.origin` says which one was used.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{Value, json};
use support::{FakeApi, Recorded};

/// A healthy one-member etcd as the JSON gateway answers.
async fn fake_etcd() -> FakeApi {
    FakeApi::start(
        json!({}),
        Arc::new(|r: &Recorded, _: &mut Value| match r.path.as_str() {
            "/v3/maintenance/status" => (
                200,
                json!({"header": {"cluster_id": "10691867111653563428", "member_id": "17349673837713561804"},
                       "version": "3.4.23", "dbSize": "20480", "leader": "17349673837713561804",
                       "raftIndex": "8", "raftTerm": "2", "raftAppliedIndex": "8"}),
            ),
            "/v3/cluster/member/list" => (
                200,
                json!({"header": {"cluster_id": "10691867111653563428"},
                       "members": [{"ID": "17349673837713561804", "name": "m1"}]}),
            ),
            _ => (200, json!({"header": {}})),
        }),
    )
    .await
}

fn run(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ktriage"));
    c.args(args)
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("KTRIAGE_DISCOVERY_ROOT", home)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KTRIAGE_CONFIG");
    for k in [
        "ETCDCTL_ENDPOINTS",
        "ETCDCTL_CACERT",
        "ETCDCTL_CERT",
        "ETCDCTL_KEY",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

async fn report(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let mut all = vec!["report", "--format", "json", "--observe", "0"];
    all.extend_from_slice(args);
    let (home, all, env): (std::path::PathBuf, Vec<String>, Vec<(String, String)>) = (
        home.to_path_buf(),
        all.iter().map(|s| s.to_string()).collect(),
        env.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    );
    let out = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = all.iter().map(String::as_str).collect();
        let e: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        run(&home, &a, &e)
    })
    .await
    .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "stdout {}\nstderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), doc)
}

fn origin(doc: &Value) -> &str {
    doc["panes"]["etcd"]["access"]["origin"].as_str().unwrap()
}

#[tokio::test]
async fn flags_then_environment() {
    let etcd = fake_etcd().await;
    let home = tempfile::tempdir().unwrap();
    let (code, doc) = report(home.path(), &["--etcd-endpoints", &etcd.url()], &[]).await;
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(origin(&doc), "endpoints: flags (--etcd-*)");
    assert_eq!(doc["sources"]["etcd"]["state"], "ok");
    assert_eq!(
        doc["panes"]["etcd"]["rows"][0]["member_id"],
        "f0c66c6ed1ce18cc"
    );
    let (code, doc) = report(home.path(), &[], &[("ETCDCTL_ENDPOINTS", &etcd.url())]).await;
    assert_eq!(code, 0);
    assert_eq!(origin(&doc), "endpoints: ETCDCTL_* environment");
}

#[tokio::test]
async fn kubeconfig_extension_and_config_section() {
    let etcd = fake_etcd().await;
    let home = tempfile::tempdir().unwrap();
    let port = support::refused_port();
    let kc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:{port}\n\
         users:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: test\n  context:\n    cluster: c\n    user: u\n\
         \x20   extensions:\n    - name: ktriage/etcd\n      extension:\n        endpoints: [\"{}\"]\n\
         current-context: test\n",
        etcd.url()
    );
    let kc = support::write(home.path(), "kc", &kc);
    let kc = kc.to_str().unwrap();
    let (code, doc) = report(home.path(), &["--kubeconfig", kc], &[]).await;
    // the API server is down (critical), etcd answers through the extension
    assert_eq!(code, 1);
    assert_eq!(origin(&doc), "endpoints: kubeconfig extension ktriage/etcd");
    assert_eq!(doc["sources"]["etcd"]["state"], "ok");
    // [contexts.test.etcd] in the config file comes before the extension
    let cfg = support::write(
        home.path(),
        "config.toml",
        &format!("[contexts.test.etcd]\nendpoints = \"{}\"\n", etcd.url()),
    );
    let (_, doc) = report(
        home.path(),
        &["--kubeconfig", kc, "--config", cfg.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(origin(&doc), "endpoints: config [contexts.test.etcd]");
}

#[tokio::test]
async fn nothing_configured_exits_2_and_says_what_is_needed() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["report"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--etcd-endpoints"), "{err}");
    assert!(out.stdout.is_empty());
}
