//! `kube-ca-mismatch` end to end through the binary on the simulator: `kube-ca-rotated` as shipped
//! and with its user-chosen names changed (pods, workloads, containers), from the crash-looping
//! pods' last words and from the kube-root-ca.crt bundles alone (no Secret is read), and no false
//! positive on `healthy` (which has kube-root-ca.crt in every namespace too).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;

use serde_json::Value;
use support::ktriage;

fn report(home: &Path, scenario: &str, format: &str) -> (Option<i32>, String) {
    let out = ktriage(
        home,
        &[
            "report",
            "--format",
            format,
            "--observe",
            "0",
            "--demo",
            scenario,
        ],
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

fn kube_ca(doc: &str) -> Option<Value> {
    let v: Value = serde_json::from_str(doc).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "kube-ca-mismatch")
        .cloned()
}

fn workloads(f: &Value) -> Vec<String> {
    f["details"]["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{}/{}",
                w["namespace"].as_str().unwrap(),
                w["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn kube_ca_rotated_names_the_crash_looping_workloads() {
    let home = tempfile::tempdir().unwrap();
    let (code, md) = report(home.path(), "kube-ca-rotated", "markdown");
    assert_eq!(code, Some(1), "{md}");
    assert!(md.contains("`kube-ca-mismatch`"), "{md}");
    for w in [
        "kube-system/rke2-canal",
        "kube-system/rke2-coredns-rke2-coredns",
        "cattle-system/cattle-cluster-agent",
    ] {
        assert!(md.contains(w), "{w} missing:\n{md}");
    }
    // the Rancher agent's finding sits under it
    assert!(md.contains("explained by `kube-ca-mismatch`"), "{md}");

    let (_, json) = report(home.path(), "kube-ca-rotated", "json");
    let f = kube_ca(&json).expect("kube-ca-mismatch");
    assert_eq!(f["severity"], "critical");
    // the three whose termination messages say it; the ingress controller's words are only in its
    // previous log, read by the crash-log source's first round, which `--observe 0` may not wait for
    let mut w = workloads(&f);
    w.retain(|w| w != "ingress-nginx/ingress-nginx-controller");
    assert_eq!(
        w,
        [
            "cattle-system/cattle-cluster-agent",
            "kube-system/rke2-canal",
            "kube-system/rke2-coredns-rke2-coredns"
        ],
        "{f:#}"
    );
}

#[test]
fn kube_ca_rotated_with_names_changed() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/kube-ca-rotated.yaml"
    ))
    .unwrap();
    let text = renamed(&text).replace("name: kube-ca-rotated", "name: renamed");
    let p = dir.path().join("renamed.yaml");
    std::fs::write(&p, text).unwrap();
    let (code, json) = report(dir.path(), p.to_str().unwrap(), "json");
    assert_eq!(code, Some(1), "{json}");
    let f = kube_ca(&json).expect("kube-ca-mismatch on the renamed scenario");
    let w = workloads(&f);
    assert!(
        w.iter().any(|x| x.starts_with("kube-system/resolver")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|x| x.starts_with("kube-system/mesh-net")),
        "{w:?}"
    );
    assert!(
        !w.iter()
            .any(|x| x.contains("coredns") || x.contains("canal")),
        "{w:?}"
    );
}

/// The scenario with its user-chosen names changed.
fn renamed(text: &str) -> String {
    text.replace("rke2-coredns-rke2-coredns", "resolver")
        .replace("rke2-canal", "mesh-net")
        .replace("calico-node", "netd")
        .replace("\"coredns\"", "\"dnsd\"")
}

/// Neither a termination message nor a previous log says anything: the CA evidence alone (the API
/// server's certificate against every namespace's kube-root-ca.crt) finds the rotation, as shipped
/// and renamed.
#[test]
fn kube_ca_rotated_found_from_kube_root_ca_alone() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/kube-ca-rotated.yaml"
    ))
    .unwrap();
    let cut = text.find("\nlogs:").unwrap();
    let silent: String = text[..cut]
        .lines()
        .map(|l| {
            // the crashed containers' last words: gone
            match l.find("\"lastState\"") {
                Some(_) => {
                    let start = l.find("\"lastState\"").unwrap();
                    let end = l[start..].find("}}").unwrap() + start + 2;
                    format!("{}\"lastState\": {{}}{}", &l[..start], &l[end..])
                }
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        silent
            .lines()
            .filter(|l| l.contains("\"kind\": \"Pod\""))
            .all(|l| !l.contains("x509") && !l.contains("Unauthorized"))
    );
    for (name, text) in [
        ("silent", silent.clone()),
        ("silent-renamed", renamed(&silent)),
    ] {
        let text = text.replace("name: kube-ca-rotated", &format!("name: {name}"));
        let p = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&p, text).unwrap();
        let (code, json) = report(dir.path(), p.to_str().unwrap(), "json");
        assert_eq!(code, Some(1), "{name}: {json}");
        let f = kube_ca(&json).unwrap_or_else(|| panic!("{name}: no kube-ca-mismatch: {json}"));
        assert!(workloads(&f).is_empty(), "{f:#}");
        assert_eq!(
            f["details"]["untrusting_namespaces"],
            serde_json::json!(["cattle-system", "kube-system"]),
            "{f:#}"
        );
        assert_eq!(f["details"]["api_server_ca"], "CN=ktriage-sim-ca");
        let ev: Vec<&str> = f["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            ev.iter().any(|e| e
                .contains("(cattle-system, kube-system) holds CN=kube-ca, which did not issue it")),
            "{ev:#?}"
        );
        assert!(
            f["title"]
                == "kube-ca rotated? wrong kube-root-ca.crt in 2 namespace(s): cattle-system, kube-system",
            "{f:#}"
        );
    }
}

#[test]
fn no_kube_ca_mismatch_on_healthy() {
    let home = tempfile::tempdir().unwrap();
    let (code, json) = report(home.path(), "healthy", "json");
    assert_eq!(code, Some(0), "{json}");
    assert!(kube_ca(&json).is_none());
    let v: Value = serde_json::from_str(&json).unwrap();
    assert!(
        !v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "rancher-agent-down")
    );
}

/// Done-when of the Overview issue: on the default demo scenario root causes come first and their
/// symptoms sit right under them (the markdown report prints the Overview's order).
#[test]
fn incident_lists_root_causes_first_with_symptoms_under_them() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(
        home.path(),
        &["report", "--format", "markdown", "--observe", "0", "--demo"],
    );
    let md = String::from_utf8_lossy(&out.stdout).to_string();
    let heads: Vec<&str> = md.lines().filter(|l| l.starts_with("###")).collect();
    let pos = |needle: &str| {
        heads
            .iter()
            .position(|h| h.contains(needle))
            .unwrap_or_else(|| panic!("{needle} missing:\n{md}"))
    };
    // the webhook explains the scheduler's missing leader
    let wh = pos("fails closed with no backend");
    let sched = pos("kube-system/kube-scheduler");
    assert_eq!(sched, wh + 1, "{heads:#?}");
    assert!(heads[wh].starts_with("### ") && heads[sched].starts_with("#### "));
    // kube-ca explains the Rancher agent
    let ca = pos("kube-ca rotated?");
    let agent = pos("Rancher cattle-cluster-agent");
    assert_eq!(agent, ca + 1, "{heads:#?}");
    assert!(heads[agent].starts_with("#### "));
    // every critical root comes before the first warning root
    let first_warning_root = heads
        .iter()
        .position(|h| h.starts_with("### warning"))
        .unwrap();
    assert!(
        heads[first_warning_root..]
            .iter()
            .all(|h| !h.starts_with("### critical"))
    );
}

/// Without a termination message, the previous container's log (pod log API, `previous=true`,
/// bounded tail) is the evidence.
#[test]
fn kube_ca_from_previous_logs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let msg = "2026-11-29 06:58:12.481 [ERROR][9] cni-installer/<nil> <nil>: Unable to create token for CNI kubeconfig error=Unauthorized";
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/scenarios/kube-ca-rotated.yaml"
    ))
    .unwrap();
    let from = format!("\"message\": \"{msg}\"");
    assert!(text.contains(&from));
    let text = text
        .replace(&from, "\"message\": \"\"")
        .replace("name: kube-ca-rotated", "name: logs-only");
    let p = dir.path().join("logs-only.yaml");
    std::fs::write(&p, text).unwrap();
    let out = ktriage(
        dir.path(),
        &[
            "report",
            "--format",
            "json",
            "--observe",
            "3s",
            "--demo",
            p.to_str().unwrap(),
        ],
    );
    let json = String::from_utf8_lossy(&out.stdout).to_string();
    let f = kube_ca(&json).expect("kube-ca-mismatch");
    assert!(
        f["evidence"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .unwrap()
            .contains("calico-node")
            && e.as_str().unwrap().contains("previous log")),
        "{f:#}"
    );
}
