//! ktriage from a jump host: a kubeconfig with no etcd access (the `ktriage/etcd` extension the
//! simulator writes is stripped, as in a kubeconfig Rancher hands out), often in read-only mode.
//! The etcd pods' logs alone must name a split brain's island; `--etcd-via exec` must fill the etcd
//! pane through pods/exec; read-only mode must refuse exec before any request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use serde_json::Value;
use support::jump::{SimProc, findings};

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
    let (code, doc) = sim.report(&["--read-only"]);
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

/// `report` waits for the first pass over the etcd pods' logs (bounded by the sync timeout), even
/// when every other source answered long before: with each etcd pod's log answered 1.5 s late, the
/// split brain is still in the report.
#[test]
fn report_waits_for_the_first_log_round() {
    let sim = SimProc::start("etcd-split-brain");
    sim.request(
        "POST",
        "/_sim/fault",
        r#"{"latency_ms":1500,"path_prefix":"/api/v1/namespaces/kube-system/pods/etcd-"}"#,
    );
    let (code, doc) = sim.report(&["--read-only"]);
    assert_eq!(doc["sources"]["etcd_logs"]["state"], "ok", "{doc:#}");
    assert_eq!(findings(&doc, "etcd-split-brain").len(), 1, "{doc:#}");
    assert_eq!(code, Some(1));
}

#[test]
fn a_healthy_cluster_has_no_etcd_finding_from_the_logs() {
    let sim = SimProc::start("healthy");
    let (_, doc) = sim.report(&["--read-only"]);
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
    let (code, doc) = sim.report(&["--read-only"]);
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

/// `--etcd-via exec` with no etcd endpoint or certificate: every member in the pane (status, cluster
/// ID, leader, revision, DB size) and the island named with evidence from exec.
#[test]
fn exec_fills_the_pane_and_names_the_island() {
    let sim = SimProc::start("etcd-split-brain");
    let (stale, answers, _) = island_truth(&sim);
    let truth = sim.members();
    let (code, doc) = sim.report(&["--etcd-via", "exec"]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["sources"]["etcd"]["state"], "not_configured");
    assert_eq!(doc["sources"]["etcd_exec"]["state"], "ok", "{doc:#}");
    let rows = doc["panes"]["etcd"]["rows"].as_array().unwrap();
    let members = truth["members"].as_array().unwrap();
    assert_eq!(rows.len(), members.len(), "{rows:#?}");
    for m in members {
        let row = rows
            .iter()
            .find(|r| r["endpoint"] == m["client_url"])
            .unwrap_or_else(|| panic!("{m} not in {rows:#?}"));
        assert_eq!(row["member_id"], m["answers_as"], "{row}");
        for k in ["cluster_id", "leader", "raft_index", "db_size", "name"] {
            assert!(!row[k].is_null(), "{k} in {row}");
        }
    }
    assert_eq!(
        rows.iter().filter(|r| r["leader"] == true).count(),
        2,
        "the majority's leader and the island's own: {rows:#?}"
    );
    let sb = findings(&doc, "etcd-split-brain");
    assert_eq!(sb.len(), 1, "{doc:#}");
    let f = sb[0];
    assert_eq!(
        f["details"]["source"],
        serde_json::json!(["exec", "logs"]),
        "{f:#}"
    );
    assert_eq!(f["details"]["stale_member_id"], stale.as_str());
    assert_eq!(f["subject"]["name"], answers.as_str());
    assert!(
        f["evidence"]
            .to_string()
            .contains("answers with cluster ID"),
        "{f:#}"
    );
    let execs = sim
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/exec"))
        .count();
    assert_eq!(execs, 3 * members.len(), "three etcdctl calls per pod");
}

/// `--read-only --etcd-via exec` refuses at once with a clear message; nothing is sent.
#[test]
fn read_only_refuses_exec_before_any_request() {
    let sim = SimProc::start("etcd-split-brain");
    let before = sim.requests().len();
    let out = sim.ktriage(&[
        "--read-only",
        "--etcd-via",
        "exec",
        "report",
        "--format",
        "json",
        "--observe",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("read-only")
            && err.contains("pods/exec")
            && err.contains("before any request"),
        "{err}"
    );
    assert_eq!(sim.requests().len(), before, "no request at all");
    assert!(out.stdout.is_empty());
}

/// Exec asked for by the kubeconfig extension in read-only mode: refused visibly, the logs still
/// find the split brain, and no exec request is sent.
#[test]
fn read_only_with_exec_in_the_kubeconfig_falls_back_to_the_logs() {
    let sim = SimProc::start("etcd-split-brain");
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let mut kc: serde_json::Value = ktriage::yaml::from_str(&text).unwrap();
    kc["contexts"][0]["context"]["extensions"] =
        ktriage::yaml::from_str("[{name: ktriage/etcd, extension: {via: exec}}]").unwrap();
    std::fs::write(&sim.kubeconfig, ktriage::yaml::to_string(&kc).unwrap()).unwrap();
    let (code, doc) = sim.report(&["--read-only"]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["sources"]["etcd_exec"]["state"], "forbidden", "{doc:#}");
    assert!(
        doc["sources"]["etcd_exec"]["error"]
            .as_str()
            .unwrap()
            .contains("read-only"),
        "{doc:#}"
    );
    assert_eq!(
        findings(&doc, "etcd-split-brain")[0]["details"]["source"],
        "logs"
    );
    no_exec_and_no_secrets(&sim);
}

/// A user who may not exec: the access review says no, nothing is run, the pane says why, and the
/// logs still find the split brain.
#[test]
fn exec_forbidden_is_asked_first_and_falls_back() {
    let sim = SimProc::start(
        "name: no-exec\ndescription: x\ninclude: [etcd-split-brain]\nusers:\n  - name: auditor\n    rules:\n      - {verbs: [get, list, watch], apiGroups: [\"*\"], resources: [\"*\"]}\n      - {verbs: [create], apiGroups: [authorization.k8s.io], resources: [selfsubjectaccessreviews]}\n",
    );
    let text = std::fs::read_to_string(&sim.kubeconfig).unwrap();
    let text = text.replace(&sim.token, "auditor-token");
    std::fs::write(&sim.kubeconfig, text).unwrap();
    let (code, doc) = sim.report(&["--etcd-via", "exec"]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["sources"]["etcd_exec"]["state"], "forbidden", "{doc:#}");
    assert!(
        doc["sources"]["etcd_exec"]["error"]
            .as_str()
            .unwrap()
            .contains("needs create pods/exec"),
        "{doc:#}"
    );
    let reqs = sim.requests();
    assert!(
        reqs.iter().any(|r| r["path"]
            .as_str()
            .unwrap()
            .ends_with("selfsubjectaccessreviews")),
        "asked first"
    );
    no_exec_and_no_secrets(&sim);
    assert_eq!(
        findings(&doc, "etcd-split-brain")[0]["details"]["source"],
        "logs"
    );
}

/// Conformance of the simulator's pods/exec: the real `kubectl exec` (1.32, WebSocket first) runs the
/// Rancher guide's RKE2 loop command against it and gets what ktriage's exec source parses.
#[tokio::test]
async fn kubectl_exec_runs_the_guides_rke2_loop_against_the_simulator() {
    let Some(bin) = support::kubectl::kubectl_or_skip("kubectl exec") else {
        return;
    };
    let h = support::sim("etcd-split-brain").await;
    let k = support::kubectl::Kubectl::new(bin, &h, "admin");
    let script = "ETCDCTL_ENDPOINTS='https://127.0.0.1:2379' ETCDCTL_CACERT='/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt' ETCDCTL_CERT='/var/lib/rancher/rke2/server/tls/etcd/server-client.crt' ETCDCTL_KEY='/var/lib/rancher/rke2/server/tls/etcd/server-client.key' ETCDCTL_API=3 etcdctl --write-out=json endpoint status --cluster";
    let out = k
        .run(
            &[
                "-n",
                "kube-system",
                "exec",
                "etcd-prod-cp-1",
                "-c",
                "etcd",
                "--",
                "sh",
                "-c",
                script,
            ],
            None,
        )
        .await;
    assert!(out.ok, "{out:?}");
    let items: Vec<Value> = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(items.len(), 3, "{}", out.stdout);
    // u64 IDs as JSON numbers, as etcdctl prints them
    assert!(
        items
            .iter()
            .all(|i| i["Status"]["header"]["member_id"].is_u64())
    );
    let clusters: std::collections::BTreeSet<u64> = items
        .iter()
        .map(|i| i["Status"]["header"]["cluster_id"].as_u64().unwrap())
        .collect();
    assert_eq!(clusters.len(), 2, "the island answers for its own cluster");
    let statuses: Vec<ktriage::etcd::wire::Status> = items
        .iter()
        .map(|i| serde_json::from_value(i["Status"].clone()).unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| s.is_leader()).count(), 2);
    // member list with the flags ktriage passes; a wrong certificate path fails as etcdctl does
    let list = k
        .run(
            &[
                "-n",
                "kube-system",
                "exec",
                "etcd-prod-cp-3",
                "--",
                "etcdctl",
                "--endpoints=https://127.0.0.1:2379",
                "--cacert=/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt",
                "--cert=/var/lib/rancher/rke2/server/tls/etcd/server-client.crt",
                "--key=/var/lib/rancher/rke2/server/tls/etcd/server-client.key",
                "-w",
                "json",
                "member",
                "list",
            ],
            None,
        )
        .await;
    assert!(list.ok, "{list:?}");
    let ml: ktriage::etcd::wire::MemberList = serde_json::from_str(list.stdout.trim()).unwrap();
    assert_eq!(ml.members.len(), 3);
    let bad = k
        .run(
            &[
                "-n",
                "kube-system",
                "exec",
                "etcd-prod-cp-3",
                "--",
                "etcdctl",
                "--cert=/nope.crt",
                "member",
                "list",
            ],
            None,
        )
        .await;
    assert!(!bad.ok);
    assert!(
        bad.stderr
            .contains("open /nope.crt: no such file or directory"),
        "{bad:?}"
    );
    assert!(bad.stderr.contains("exit code 1"), "{bad:?}");
}

/// The Rancher guide's RKE2 health loop, verbatim ("Recovering an RKE cluster from an etcd split
/// brain"), run by a shell with the real kubectl against the simulator: for every etcd pod, its name
/// and etcdctl's `--write-out=table` (laid out as etcdctl 3.4 prints it; `tests/etcd_real_exec.rs`
/// pins that layout to a real etcdctl). As the guide warns, every member says healthy, the island
/// too. Then the `--cluster` table through `kubectl exec` and the guide's `crictl` form's flags.
#[tokio::test]
async fn the_guides_loop_prints_etcdctl_tables_through_kubectl_exec() {
    let Some(bin) = support::kubectl::kubectl_or_skip("the guide's loop") else {
        return;
    };
    let h = support::sim("etcd-split-brain").await;
    let k = support::kubectl::Kubectl::new(bin, &h, "admin");
    let certs = "ETCDCTL_ENDPOINTS='https://127.0.0.1:2379' ETCDCTL_CACERT='/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt' ETCDCTL_CERT='/var/lib/rancher/rke2/server/tls/etcd/server-client.crt' ETCDCTL_KEY='/var/lib/rancher/rke2/server/tls/etcd/server-client.key' ETCDCTL_API=3";
    let guide = format!(
        "for etcdpod in $(kubectl -n kube-system get pod -l component=etcd --no-headers -o custom-columns=NAME:.metadata.name); do echo $etcdpod; kubectl -n kube-system exec $etcdpod -- sh -c \"{certs} etcdctl --write-out=table endpoint health\"; echo \"\"; done;"
    );
    let out = k.shell(&guide).await;
    assert!(out.ok, "{out:?}");
    let table = "+------------------------+--------+-------+-------+\n\
                 |        ENDPOINT        | HEALTH | TOOK  | ERROR |\n\
                 +------------------------+--------+-------+-------+\n\
                 | https://127.0.0.1:2379 |   true | 1.2ms |       |\n\
                 +------------------------+--------+-------+-------+\n";
    let expected: String = ["etcd-prod-cp-1", "etcd-prod-cp-2", "etcd-prod-cp-3"]
        .iter()
        .map(|p| format!("{p}\n{table}\n"))
        .collect();
    assert_eq!(out.stdout, expected);
    // the crictl form's `endpoint health --cluster --write-out=table`, and `endpoint status`
    // through kubectl exec into a majority member: one row per member the majority lists
    let cluster = k
        .shell(&format!(
            "kubectl -n kube-system exec etcd-prod-cp-1 -- sh -c \"{certs} etcdctl endpoint status --cluster --write-out=table\""
        ))
        .await;
    let lines: Vec<&str> = cluster.stdout.lines().collect();
    let header: Vec<&str> = lines[1]
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        [
            "ENDPOINT",
            "ID",
            "VERSION",
            "DB SIZE",
            "IS LEADER",
            "IS LEARNER",
            "RAFT TERM",
            "RAFT INDEX",
            "RAFT APPLIED INDEX",
            "ERRORS"
        ],
        "{}",
        cluster.stdout
    );
    let rows: Vec<&&str> = lines.iter().filter(|l| l.starts_with("| http")).collect();
    assert_eq!(rows.len(), 3, "{}", cluster.stdout);
    // alarm list has no table in etcdctl 3.4: the same refusal, exit code 4
    let alarms = k
        .shell(&format!(
            "kubectl -n kube-system exec etcd-prod-cp-1 -- sh -c \"{certs} etcdctl alarm list -w table\""
        ))
        .await;
    assert!(!alarms.ok);
    assert!(
        alarms
            .stderr
            .contains("Error: table not supported as output format"),
        "{alarms:?}"
    );
    assert!(alarms.stderr.contains("exit code 4"), "{alarms:?}");
}
