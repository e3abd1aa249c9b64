//! ktriage from a jump host: a kubeconfig with no etcd access (the `ktriage/etcd` extension the
//! simulator writes is stripped, as in a kubeconfig Rancher hands out), often in read-only mode.
//! The etcd pods' logs alone must name a split brain's island; `--etcd-via exec` must fill the etcd
//! pane through pods/exec; read-only mode must refuse exec before any request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use serde_json::Value;
use support::jump::{SimProc, findings, report_json};

/// The island as the simulator describes it: (the ID the majority still lists, the ID it answers as,
/// its node).
fn island_truth(sim: &SimProc) -> (String, String, String) {
    let truth = sim.members();
    let m = truth["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["state"] == "island")
        .unwrap_or_else(|| panic!("{truth:#}"));
    (
        m["member_id"].as_str().unwrap().to_string(),
        m["answers_as"].as_str().unwrap().to_string(),
        m["node"].as_str().unwrap().to_string(),
    )
}

fn no_exec_and_no_secrets(sim: &SimProc) {
    let reqs = sim.requests();
    assert!(!reqs.is_empty());
    for r in &reqs {
        let path = r["path"].as_str().unwrap();
        assert!(
            !path.ends_with("/exec"),
            "exec request in read-only mode: {r}"
        );
        assert!(!path.contains("/secrets"), "{r}");
    }
}

/// Read-only, no etcd access: `report` exits 1 with one `etcd-split-brain` from the logs that names
/// the island's stale member ID (for `member remove`) and the ID it answers with.
fn split_brain_from_logs_alone(scenario: &str) -> Value {
    let sim = SimProc::start(scenario);
    let (stale, answers, node) = island_truth(&sim);
    let out = sim.ktriage(&[
        "--read-only",
        "report",
        "--format",
        "json",
        "--observe",
        "0",
    ]);
    let (code, doc) = report_json(&out);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["sources"]["etcd"]["state"], "not_configured", "{doc:#}");
    assert_eq!(doc["sources"]["etcd_logs"]["state"], "ok", "{doc:#}");
    let sb = findings(&doc, "etcd-split-brain");
    assert_eq!(sb.len(), 1, "one finding per split brain: {doc:#}");
    let f = sb[0];
    assert_eq!(f["details"]["source"], "logs", "{f:#}");
    assert_eq!(f["details"]["stale_member_id"], stale.as_str(), "{f:#}");
    assert_eq!(f["subject"]["name"], answers.as_str(), "{f:#}");
    assert_eq!(f["details"]["island_node"], node.as_str(), "{f:#}");
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains(&format!("logs of kube-system/etcd-{node}")),
        "{evidence}"
    );
    assert!(evidence.contains(&stale), "{evidence}");
    assert!(
        f["fix"]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("member remove {stale}")),
        "{f:#}"
    );
    assert!(!doc.to_string().contains("seed"), "{doc:#}");
    no_exec_and_no_secrets(&sim);
    doc
}

#[test]
fn read_only_without_etcd_access_finds_the_split_brain_in_the_logs() {
    split_brain_from_logs_alone("etcd-split-brain");
}

#[test]
fn renamed_five_members_island_fourth() {
    split_brain_from_logs_alone(
        "name: renamed-five\ndescription: renamed\netcd:\n  members:\n    - {node: db-east-a}\n    - {node: db-east-b}\n    - {node: db-east-c}\n    - {node: db-east-d, state: island}\n    - {node: db-east-e}\n",
    );
}

#[test]
fn renamed_three_members_island_first() {
    split_brain_from_logs_alone(
        "name: renamed-three\ndescription: renamed\netcd:\n  members:\n    - {node: zz-store-9, state: island}\n    - {node: aa-store-1}\n    - {node: mm-store-5}\n",
    );
}

#[test]
fn a_healthy_cluster_has_no_etcd_finding_from_the_logs() {
    let sim = SimProc::start("healthy");
    let out = sim.ktriage(&[
        "--read-only",
        "report",
        "--format",
        "json",
        "--observe",
        "0",
    ]);
    let (_, doc) = report_json(&out);
    let etcd: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("etcd"))
        .collect();
    assert!(etcd.is_empty(), "{etcd:#?}");
    assert_eq!(doc["sources"]["etcd_logs"]["state"], "ok", "{doc:#}");
}

#[test]
fn quorum_lost_from_the_logs_names_the_down_members() {
    let sim = SimProc::start("etcd-quorum-lost");
    let truth = sim.members();
    let stopped: Vec<String> = truth["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["state"] == "stopped")
        .map(|m| m["member_id"].as_str().unwrap().to_string())
        .collect();
    let out = sim.ktriage(&[
        "--read-only",
        "report",
        "--format",
        "json",
        "--observe",
        "0",
    ]);
    let (code, doc) = report_json(&out);
    assert_eq!(code, Some(1), "{doc:#}");
    let down: Vec<String> = findings(&doc, "etcd-member-down")
        .iter()
        .map(|f| f["subject"]["name"].as_str().unwrap().to_string())
        .collect();
    for s in &stopped {
        assert!(down.contains(s), "{s} not in {down:?}: {doc:#}");
    }
    assert_eq!(findings(&doc, "etcd-quorum-lost").len(), 1, "{doc:#}");
    assert!(findings(&doc, "etcd-split-brain").is_empty(), "{doc:#}");
}
