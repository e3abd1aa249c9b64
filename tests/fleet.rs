//! `ktriage report --all-contexts` over several clusters: two simulators (healthy and
//! kube-ca-rotated), one port that refuses connections and one listener that accepts and never
//! answers. Every context gets an entry, the dead ones as unreachable, and the whole run returns within
//! the per-context timeout plus a second.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::ktriage;

use std::time::{Duration, Instant};

use ktriage::sim::SimOptions;
use serde_json::Value;

/// A simulator's kubeconfig entries renamed to `name` (cluster, user and context).
fn entries_of(yaml: &str, name: &str) -> (Value, Value, Value) {
    let v: Value = ktriage::yaml::from_str(yaml).unwrap();
    let mut cluster = v["clusters"][0].clone();
    cluster["name"] = name.into();
    let mut user = v["users"][0].clone();
    user["name"] = name.into();
    let mut ctx = v["contexts"][0].clone();
    ctx["name"] = name.into();
    ctx["context"]["cluster"] = name.into();
    ctx["context"]["user"] = name.into();
    (cluster, user, ctx)
}

fn dead(name: &str, port: u16) -> (Value, Value, Value) {
    let yaml = format!(
        "clusters:\n- name: {name}\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: {name}\n  user:\n    token: t\ncontexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
    );
    entries_of(&yaml, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_report_marks_refusing_and_black_holed_clusters_unreachable_in_time() {
    let healthy = ktriage::sim::start(SimOptions {
        scenario: "healthy".into(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let rotated = ktriage::sim::start(SimOptions {
        scenario: "kube-ca-rotated".into(),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    // accepts TCP connections and never answers (held open until the test ends)
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hole.incoming().flatten() {
            held.push(s);
        }
    });
    let refused = support::refused_port();

    let parts = [
        entries_of(&healthy.kubeconfig_yaml("admin"), "east-healthy"),
        entries_of(&rotated.kubeconfig_yaml("admin"), "west-rotated"),
        dead("north-refused", refused),
        dead("south-blackhole", hole_port),
    ];
    let kc = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": parts.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        "users": parts.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
        "contexts": parts.iter().map(|p| p.2.clone()).collect::<Vec<_>>(),
        "current-context": "east-healthy",
    });
    let home = tempfile::tempdir().unwrap();
    let kc_path = support::write(
        home.path(),
        "kubeconfig",
        &ktriage::yaml::to_string(&kc).unwrap(),
    );

    let timeout_s = 6;
    let home_path = home.path().to_path_buf();
    let args: Vec<String> = [
        "--kubeconfig",
        kc_path.to_str().unwrap(),
        "report",
        "--all-contexts",
        "--format",
        "json",
        "--context-timeout",
        &format!("{timeout_s}s"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        ktriage(&home_path, &a)
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        took < Duration::from_secs(timeout_s + 1),
        "took {took:?}\n{stdout}{stderr}"
    );
    eprintln!("fleet report over 4 contexts took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert!(doc["generated_at"].is_string());
    let clusters = doc["clusters"].as_array().unwrap();
    let by = |name: &str| {
        clusters
            .iter()
            .find(|c| c["context"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {stdout}"))
            .clone()
    };
    let h = by("east-healthy");
    assert_eq!(h["state"], "ok", "{h:#}");
    assert!(
        h["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] != "critical"),
        "{h:#}"
    );
    let r = by("west-rotated");
    assert_eq!(r["state"], "ok");
    assert_eq!(r["worst_severity"], "critical");
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "kube-ca-mismatch"),
        "{r:#}"
    );
    for dead in ["north-refused", "south-blackhole"] {
        let d = by(dead);
        assert_eq!(d["state"], "unreachable", "{d:#}");
        assert_eq!(d["worst_severity"], "critical");
        assert!(
            d["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["id"] == "api-unreachable")
        );
    }
    // text: one line per cluster
    let kc2 = kc_path.to_str().unwrap().to_string();
    let home_path = home.path().to_path_buf();
    let text = tokio::task::spawn_blocking(move || {
        ktriage(
            &home_path,
            &[
                "--kubeconfig",
                &kc2,
                "report",
                "--all-contexts",
                "--context-timeout",
                "3s",
            ],
        )
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&text.stdout).to_string();
    for name in [
        "east-healthy",
        "west-rotated",
        "north-refused",
        "south-blackhole",
    ] {
        assert_eq!(
            text.lines().filter(|l| l.starts_with(name)).count(),
            1,
            "{text}"
        );
    }
    healthy.shutdown().await;
    rotated.shutdown().await;
}

#[test]
fn all_contexts_with_demo_is_a_usage_error() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["report", "--all-contexts", "--demo"]);
    assert_eq!(out.status.code(), Some(2));
}
