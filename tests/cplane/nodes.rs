//! The node stories: a worker's and a control-plane node's kubelets stopped → the node lifecycle
//! controller marks them NotReady (after the 40 s grace period on the real control plane), seen by
//! kubectl as an independent client; started again → Ready.
//!
//! With the nodes stopped, ktriage's report names each with `node-notready` (critical for the
//! control-plane node, a warning for one worker of two), and the findings of both tiers are
//! compared like every other story.

use std::process::Command;

use serde_json::Value;

use crate::stories::Checkpoints;
use crate::support;
use crate::tier::{Tier, keys};

/// `kubectl get nodes -o json` as an independent client.
fn kubectl_nodes(t: &Tier, home: &std::path::Path) -> Option<Value> {
    let bin = support::kubectl::kubectl_or_skip("node stories")?;
    let kc = t.kubeconfig();
    let out = Command::new(bin)
        .env("HOME", home)
        .args(["--kubeconfig", kc.to_str().unwrap()])
        .args(["--cache-dir", home.join("cache").to_str().unwrap()])
        .args(["get", "nodes", "-o", "json"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())?
}

fn condition<'a>(nodes: &'a Value, node: &str, type_: &str) -> Option<&'a Value> {
    nodes["items"]
        .as_array()?
        .iter()
        .find(|n| n["metadata"]["name"] == node)?["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn tainted_unreachable(nodes: &Value, node: &str) -> bool {
    nodes["items"].as_array().is_some_and(|ns| {
        ns.iter()
            .filter(|n| n["metadata"]["name"] == node)
            .any(|n| {
                n["spec"]["taints"].as_array().is_some_and(|ts| {
                    ts.iter().any(|t| {
                        t["key"] == "node.kubernetes.io/unreachable" && t["effect"] == "NoSchedule"
                    })
                })
            })
    })
}

fn ready_status(nodes: &Value, node: &str) -> String {
    condition(nodes, node, "Ready")
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

pub async fn nodes(t: &Tier) -> Checkpoints {
    let home = tempfile::tempdir().unwrap();
    let worker = t.names.workers[1].clone();
    let other = t.names.workers[0].clone();
    let cp = t.names.cp_nodes[0].clone();
    let mut cps = Checkpoints::new();
    cps.push(("at rest", keys(&t.report().await)));
    t.stop(&worker).await;
    t.stop(&cp).await;
    let Some(_) = kubectl_nodes(t, home.path()) else {
        return cps; // kubectl missing outside CI: skipped visibly
    };
    let nodes = t
        .until("both stopped nodes NotReady (kubectl)", || async {
            let n = kubectl_nodes(t, home.path())?;
            (ready_status(&n, &worker) == "Unknown" && ready_status(&n, &cp) == "Unknown")
                .then_some(n)
        })
        .await;
    for node in [&worker, &cp] {
        let c = condition(&nodes, node, "Ready").unwrap();
        assert_eq!(c["reason"], "NodeStatusUnknown", "{}: {c}", t.label());
        assert_eq!(c["message"], "Kubelet stopped posting node status.");
        assert!(
            tainted_unreachable(&nodes, node),
            "{}: {node} tainted",
            t.label()
        );
    }
    assert_eq!(
        ready_status(&nodes, &other),
        "True",
        "{}: {other}",
        t.label()
    );
    let doc = t.report().await;
    // `node-notready`: critical for the control-plane node, a warning for one worker of two
    // (not above the default 50 % share), with the node lifecycle controller's reason
    for (node, severity) in [(&cp, "critical"), (&worker, "warning")] {
        let f = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == "node-notready" && f["subject"]["name"] == node.as_str())
            .unwrap_or_else(|| panic!("{}: no node-notready for {node}: {doc:#}", t.label()));
        assert_eq!(f["severity"], severity, "{}: {node}", t.label());
        assert_eq!(f["details"]["reason"], "NodeStatusUnknown", "{}", t.label());
        assert!(
            f["evidence"].to_string().contains("kube-node-lease/"),
            "{}: the heartbeat's age: {f:#}",
            t.label()
        );
    }
    assert!(
        doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["id"] != "node-notready" || f["subject"]["name"] != other.as_str()),
        "{}: {other} is Ready",
        t.label()
    );
    cps.push(("nodes stopped", keys(&doc)));
    t.start(&worker).await;
    t.start(&cp).await;
    t.until("both nodes Ready again (kubectl)", || async {
        let n = kubectl_nodes(t, home.path())?;
        (ready_status(&n, &worker) == "True" && ready_status(&n, &cp) == "True").then_some(())
    })
    .await;
    cps.push(("nodes started", keys(&t.report().await)));
    cps
}
