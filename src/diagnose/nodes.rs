//! Nodes: `node-notready` — a node whose Ready condition is False or Unknown. Critical for a
//! control-plane or etcd node, or when more than `[nodes] notready_workers_pct` of the workers are
//! NotReady; a warning otherwise. The evidence is what the operator checks first: the Ready
//! condition's reason and message, the kubelet's heartbeat (its Lease in `kube-node-lease`), the
//! taints the node lifecycle controller set, the pods on the node and its last warning events.
//! `diagnose::links` makes a NotReady node the cause of the leader, etcd-member and pod findings
//! on it.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::runbook::{Platform, detect};
use super::{Finding, Severity, Subject};
use crate::model::PaneId;
use crate::model::nodes::{NodeRow, NodeView, views};
use crate::text::age;

/// How many of the node's warning events the evidence quotes.
const EVENTS_QUOTED: usize = 3;

pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    let (model, now) = (cx.model, cx.now);
    // the views walk every pod and event: only when a node is NotReady (at 50k pods the rules run
    // on every change; a healthy cluster pays one pass over the nodes)
    if !model.nodes.store.iter().any(|n| n.ready == Some(false)) {
        return;
    }
    let all = views(model, now);
    let down: Vec<&NodeView> = all.iter().filter(|v| v.node.ready == Some(false)).collect();
    if down.is_empty() {
        return;
    }
    let workers = all.iter().filter(|v| !v.node.is_control_plane()).count();
    let workers_down = down.iter().filter(|v| !v.node.is_control_plane()).count();
    let pct = model.tuning.nodes.notready_workers_pct;
    // more than pct % of the workers: `workers_down / workers > pct / 100`
    let many_workers = workers > 0 && workers_down as u64 * 100 > pct * workers as u64;
    let platform = detect(model).platform;
    for v in down {
        let n = v.node;
        let severity = if n.is_control_plane() || many_workers {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let role = if n.is_control_plane() {
            n.roles_text()
        } else {
            "worker".to_string()
        };
        let since = n.ready_since.map(|t| format!(" for {}", age(now, t)));
        let mut f = Finding::new(
            "node-notready",
            severity,
            PaneId::Nodes,
            Some(Subject {
                kind: "Node".into(),
                namespace: None,
                name: n.name.clone(),
                part: None,
            }),
            format!(
                "Node {} ({role}) NotReady{}{}",
                n.name,
                since.unwrap_or_default(),
                if n.ready_status == "Unknown" {
                    ": its kubelet stopped reporting"
                } else {
                    ""
                }
            ),
        );
        f.evidence = evidence(v, now);
        if !n.is_control_plane() {
            f.evidence.push(format!(
                "{workers_down} of {workers} worker(s) NotReady ({} above {pct} %)",
                if many_workers { "critical:" } else { "not" }
            ));
        }
        f.evidence
            .push(format!("check: kubectl describe node {}", n.name));
        f.fix.text = fix(n, platform);
        f.fix.action = Some("drain".into());
        f.details = json!({
            "roles": n.roles,
            "status": n.ready_status,
            "reason": n.ready_reason,
            "message": n.ready_message,
            "since": n.ready_since.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "lease_renew_age_s": v.lease_age,
            "pods": v.pods,
            "taints": n.taints,
            "workers": workers,
            "workers_notready": workers_down,
        });
        out.push(f);
    }
}

/// The Ready condition, the heartbeat, the taints, the pods and the last warning events.
fn evidence(v: &NodeView, now: DateTime<Utc>) -> Vec<String> {
    let n = v.node;
    let mut e = Vec::new();
    let mut ready = format!("Ready={}", n.ready_status);
    if let Some(t) = n.ready_since {
        ready.push_str(&format!(" since {} ago", age(now, t)));
    }
    for part in [&n.ready_reason, &n.ready_message] {
        if !part.is_empty() {
            ready.push_str(": ");
            ready.push_str(part);
        }
    }
    e.push(ready);
    e.push(match v.lease_age {
        Some(a) => format!(
            "kubelet heartbeat (Lease kube-node-lease/{}) last renewed {} ago; a running kubelet renews it every 10 s",
            n.name,
            age(now, now - chrono::Duration::seconds(a))
        ),
        None => format!(
            "no heartbeat Lease kube-node-lease/{} seen: the kubelet has not registered one",
            n.name
        ),
    });
    if n.no_execute() {
        let t: Vec<&str> = n
            .taints
            .iter()
            .filter(|t| t.ends_with(":NoExecute"))
            .map(String::as_str)
            .collect();
        e.push(format!(
            "tainted {}: its pods are evicted once their toleration runs out (300 s by default)",
            t.join(", ")
        ));
    }
    e.push(format!("{} pod(s) bound to it", v.pods));
    for (reason, message, last) in v.warnings.iter().take(EVENTS_QUOTED) {
        let when = last.map(|t| format!(" ({} ago)", age(now, t)));
        e.push(format!(
            "event {reason}: {message}{}",
            when.unwrap_or_default()
        ));
    }
    e
}

/// Where to look on the node, by distribution and role.
fn fix(n: &NodeRow, platform: Platform) -> String {
    let server = n.is_control_plane();
    let kubelet = match platform {
        Platform::Rke2 => {
            let unit = if server { "rke2-server" } else { "rke2-agent" };
            format!(
                "`systemctl status {unit}`, `journalctl -u {unit}` and the kubelet's log `/var/lib/rancher/rke2/agent/logs/kubelet.log`"
            )
        }
        Platform::K3s => {
            let unit = if server { "k3s" } else { "k3s-agent" };
            format!("`systemctl status {unit}` and `journalctl -u {unit}` (the kubelet runs inside it)")
        }
        Platform::Rke1 => "`docker ps -a --filter name=kubelet` and `docker logs --tail 100 kubelet`".into(),
        Platform::Kubeadm | Platform::Unknown => {
            "`systemctl status kubelet` and `journalctl -u kubelet`".into()
        }
    };
    format!(
        "On {}: check the kubelet ({kubelet}), the disk, memory and network. A node that locked up under a \
         runaway app (\"A runaway app stomping all over a cluster\") recovers once the app is scaled to zero \
         in Top; kubelets that no longer trust the API server after a kube-ca rotation (\"Can rotating kube-ca \
         break my cluster?\") need the cluster's certificates restored. Drain it (D) only when its pods must \
         move now: the node lifecycle controller evicts them anyway once their toleration runs out.",
        n.name
    )
}
