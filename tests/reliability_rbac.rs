//! Partial RBAC on the real kube-apiserver (issue 12): `jane` (no RBAC rights) gets panes marked
//! "needs list <resource> in <scope>" while the API probe works; after binding
//! `assets/rbac/ktriage-auditor.yaml` every source answers and a Secret read is still refused.
//! Needs the real server (`scripts/real-apiserver.sh build`), etcd and kubectl; skips visibly
//! without them, fails under CI (`support::under_ci`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

struct RealServer {
    dir: tempfile::TempDir,
}

impl Drop for RealServer {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/real-apiserver.sh")
}

fn real_server() -> Option<RealServer> {
    let built = Command::new(script())
        .arg("path")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let tools =
        support::require_tool("etcd").is_some() && support::require_tool("kubectl").is_some();
    if !built || !tools {
        if support::under_ci() {
            panic!(
                "the real kube-apiserver is required under CI: run scripts/real-apiserver.sh build"
            );
        }
        eprintln!("SKIP: real kube-apiserver not built (scripts/real-apiserver.sh build)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(script())
        .arg("start")
        .arg(dir.path())
        .output()
        .unwrap();
    let server = RealServer { dir };
    assert!(
        out.status.success(),
        "start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(server)
}

fn kubectl(kc: &Path, args: &[&str]) -> Output {
    Command::new(support::kubectl::kubectl_or_skip("reliability_rbac").unwrap())
        .arg("--kubeconfig")
        .arg(kc)
        .args(args)
        .output()
        .unwrap()
}

fn report(home: &Path, kc: &Path) -> (Output, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .arg("--kubeconfig")
        .arg(kc)
        .args([
            "--read-only",
            "report",
            "--format",
            "json",
            "--observe",
            "1",
        ])
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("KUBECONFIG")
        .env_remove("KTRIAGE_CONFIG")
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, doc)
}

#[test]
fn the_auditor_role_is_exactly_enough_on_the_real_server() {
    let Some(server) = real_server() else {
        return;
    };
    let dir = server.dir.path();
    let admin = dir.join("admin.kubeconfig");
    let jane = dir.join("jane.kubeconfig");
    let home = tempfile::tempdir().unwrap();

    // partial RBAC: nothing granted yet; the panes say what they need, the API probe works
    let (_, doc) = report(home.path(), &jane);
    let sources = &doc["sources"];
    assert_eq!(sources["api"]["state"], "ok", "{doc}");
    assert_eq!(sources["namespaces"]["state"], "forbidden", "{doc}");
    let err = sources["namespaces"]["error"].as_str().unwrap();
    assert!(
        err.starts_with("needs list namespaces in the cluster (403 Forbidden"),
        "{err}"
    );
    assert!(
        sources["nodes"]["error"]
            .as_str()
            .unwrap()
            .starts_with("needs list nodes in the cluster"),
        "{doc}"
    );

    // the shipped role, bound to jane
    let role = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/rbac/ktriage-auditor.yaml");
    let out = kubectl(&admin, &["apply", "-f", role.to_str().unwrap()]);
    assert!(out.status.success(), "{:?}", out);
    let out = kubectl(
        &admin,
        &[
            "create",
            "clusterrolebinding",
            "ktriage-auditor-jane",
            "--clusterrole=ktriage-auditor",
            "--user=jane",
        ],
    );
    assert!(out.status.success(), "{:?}", out);

    let (out, doc) = report(home.path(), &jane);
    let sources = doc["sources"].as_object().unwrap();
    for (name, s) in sources {
        assert_ne!(s["state"], "forbidden", "{name} still forbidden: {s}");
        assert_ne!(s["state"], "error", "{name}: {s}");
    }
    for name in ["api", "namespaces", "nodes"] {
        assert_eq!(sources[name]["state"], "ok", "{name}: {doc}");
    }
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("forbidden"),
        "{out:?}"
    );

    // and still no Secrets
    let out = kubectl(&jane, &["get", "secrets", "-A"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("forbidden"), "{err}");
    let out = kubectl(
        &jane,
        &["auth", "can-i", "get", "secrets", "-n", "kube-system"],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "no");
    let out = kubectl(&jane, &["auth", "can-i", "list", "leases", "-A"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
    // ConfigMaps by name only: kube-root-ca.crt (which the report above read in every namespace)
    for (what, ns, want) in [
        ("configmaps", "-A", "no"),
        ("configmaps/kube-root-ca.crt", "-nshop", "yes"),
        ("configmaps/other", "-nkube-system", "no"),
    ] {
        let out = kubectl(&jane, &["auth", "can-i", "get", what, ns]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            want,
            "{what} {ns}"
        );
    }
    assert_eq!(sources["kube-root-ca"]["state"], "ok", "{doc}");
}
