//! The `ktriage` binary against the simulator's etcd members: `report --demo` for each etcd scenario,
//! and `ktriage sim --write-kubeconfig F` followed by `ktriage report --kubeconfig F`, which finds the
//! simulated etcd through the kubeconfig extension `ktriage/etcd` with no extra flag.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn ktriage(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args(args)
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("KTRIAGE_DISCOVERY_ROOT", home.join("no-node"))
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KTRIAGE_CONFIG")
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .unwrap()
}

fn report_demo(scenario: &str) -> (Option<i32>, Value) {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(
        home.path(),
        &[
            "report",
            "--format",
            "json",
            "--observe",
            "0",
            "--demo",
            scenario,
        ],
    );
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code(), doc)
}

fn findings<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// The island finding: subject the island's own hex member ID and client URL, the stale ID in details.
fn assert_island(doc: &Value) {
    let sb = findings(doc, "etcd-split-brain");
    assert_eq!(sb.len(), 1, "{doc:#}");
    let f = sb[0];
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["subject"]["kind"], "EtcdMember");
    let name = f["subject"]["name"].as_str().unwrap();
    assert_eq!(name.len(), 16, "hex member ID: {name}");
    assert!(u64::from_str_radix(name, 16).is_ok());
    assert_eq!(f["details"]["island_member_id"], name);
    let stale = f["details"]["stale_member_id"].as_str().unwrap();
    assert_ne!(stale, name);
    assert!(
        f["details"]["stale_member_name"]
            .as_str()
            .unwrap()
            .starts_with("prod-cp-2-"),
        "{f:#}"
    );
    let part = f["subject"]["part"].as_str().unwrap();
    assert!(part.starts_with("http://127.0.0.1:"), "{part}");
    assert_eq!(f["details"]["endpoint"], part);
    assert!(
        f["fix"]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("etcdctl member remove {stale}"))
    );
    assert_eq!(doc["sources"]["etcd"]["state"], "ok");
}

#[test]
fn report_demo_etcd_split_brain_names_the_island() {
    let (code, doc) = report_demo("etcd-split-brain");
    assert_eq!(code, Some(1), "{doc:#}");
    assert_island(&doc);
    assert_eq!(findings(&doc, "etcd-member-down").len(), 0, "{doc:#}");
}

#[test]
fn report_demo_incident_has_the_split_brain_too() {
    let (code, doc) = report_demo("incident");
    assert_eq!(code, Some(1), "{doc:#}");
    assert_island(&doc);
}

#[test]
fn report_demo_etcd_quorum_lost() {
    let (code, doc) = report_demo("etcd-quorum-lost");
    assert_eq!(code, Some(1), "{doc:#}");
    let q = findings(&doc, "etcd-quorum-lost");
    assert_eq!(q.len(), 1, "{doc:#}");
    assert_eq!(q[0]["details"]["size"], 3);
    assert!(findings(&doc, "etcd-split-brain").is_empty(), "{doc:#}");
    // the RKE2 runbook: reset from the member with the newest data, restore only as a last resort
    let rb = &doc["panes"]["etcd"]["runbook"];
    assert_eq!(rb["distribution"], "RKE2", "{rb:#}");
    let steps = rb["steps"].as_array().unwrap();
    let reset = steps
        .iter()
        .position(|s| s["command"] == "rke2 server --cluster-reset")
        .unwrap_or_else(|| panic!("{rb:#}"));
    assert!(
        steps[reset]["text"]
            .as_str()
            .unwrap()
            .starts_with("On prod-cp-1 (newest data)"),
        "{rb:#}"
    );
    let restore = steps
        .iter()
        .position(|s| s["command"].as_str().is_some_and(|c| c.contains("--cluster-reset-restore-path=/var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-prod-cp-1-1")))
        .unwrap_or_else(|| panic!("{rb:#}"));
    assert!(reset < restore, "{rb:#}");
    let text = steps[restore]["text"].as_str().unwrap();
    assert!(text.contains("loses every write of the last 5h"), "{text}");
}

#[test]
fn report_demo_etcd_nospace() {
    let (code, doc) = report_demo("etcd-nospace");
    assert_eq!(code, Some(1), "{doc:#}");
    let a = findings(&doc, "etcd-alarm");
    assert_eq!(a.len(), 3, "one per member: {doc:#}");
    assert!(
        a.iter()
            .all(|f| f["title"].as_str().unwrap().contains("NOSPACE"))
    );
}

#[test]
fn report_demo_healthy_has_no_etcd_finding() {
    let (code, doc) = report_demo("healthy");
    let etcd: Vec<&Value> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("etcd"))
        .collect();
    assert!(etcd.is_empty(), "{etcd:#?}");
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["sources"]["etcd"]["state"], "ok");
    assert_eq!(
        doc["panes"]["etcd"]["rows"].as_array().unwrap().len(),
        3,
        "{doc:#}"
    );
}

#[test]
fn sim_kubeconfig_leads_report_to_the_simulated_etcd() {
    use std::io::BufRead;
    let home = tempfile::tempdir().unwrap();
    let kc = home.path().join("sim.kubeconfig");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args([
            "sim",
            "--scenario",
            "etcd-split-brain",
            "--write-kubeconfig",
            kc.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let out = ktriage(
        home.path(),
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "report",
            "--format",
            "json",
            "--observe",
            "0",
        ],
    );
    let _ = Command::new("kill").arg(sim.id().to_string()).status();
    let status = sim.wait().unwrap();
    assert!(line.contains("; etcd: http://127.0.0.1:"), "{line}");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    assert_island(&doc);
    let part = findings(&doc, "etcd-split-brain")[0]["subject"]["part"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(line.contains(&part), "{line} / {part}");
    let kc_text = std::fs::read_to_string(&kc).unwrap();
    assert!(
        kc_text.contains("ktriage/etcd") && kc_text.contains(&part),
        "{kc_text}"
    );
    assert!(status.success(), "sim exits cleanly on SIGTERM: {status:?}");
}

/// The text and markdown reports print the runbook too (the JSON carries it in `panes.etcd`): from
/// a jump host, the report is where an operator copies the commands from, in the same order.
#[test]
fn text_and_markdown_reports_print_the_runbook_commands_in_order() {
    let home = tempfile::tempdir().unwrap();
    let (_, doc) = report_demo("etcd-split-brain");
    let want: Vec<String> = doc["panes"]["etcd"]["runbook"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["command"].as_str().map(String::from))
        .collect();
    assert!(
        want.iter().any(|c| c.contains("member remove")),
        "{want:#?}"
    );
    for (format, prefix) in [("text", "     $ "), ("markdown", "   ")] {
        let out = ktriage(
            home.path(),
            &[
                "report",
                "--format",
                format,
                "--observe",
                "0",
                "--demo",
                "etcd-split-brain",
            ],
        );
        assert_eq!(out.status.code(), Some(1));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Runbook: etcd split brain"), "{text}");
        let got: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter(|l| want.iter().any(|w| w == l))
            .collect();
        assert_eq!(got, want, "{format}:\n{text}");
    }
}
