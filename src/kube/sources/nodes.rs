//! Nodes: a full-object watch (conditions, addresses and allocatable are in `status`), reduced to
//! the slim shared `NodeRow` as objects arrive.

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::runtime::watcher;

use super::{SourceCtx, run_watch};
use crate::model::SourceId;
use crate::model::nodes::NodeRow;
use crate::model::quantity;
use crate::msg::Msg;

pub async fn run(ctx: SourceCtx) {
    let api: Api<Node> = Api::all(ctx.client.clone());
    run_watch(
        api,
        watcher::Config::default().page_size(500),
        SourceId::Nodes,
        ctx.tx.clone(),
        row,
        |n: &Node| n.metadata.name.clone().unwrap_or_default(),
        Msg::Nodes,
    )
    .await;
}

/// RKE2's / k3s's `node-args` annotation: the server's command line as a JSON array.
fn node_args(annotations: &std::collections::BTreeMap<String, String>) -> Option<&String> {
    annotations
        .get("rke2.io/node-args")
        .or_else(|| annotations.get("k3s.io/node-args"))
}

pub fn row(n: Node) -> NodeRow {
    let labels = n.metadata.labels.unwrap_or_default();
    let annotations = n.metadata.annotations.unwrap_or_default();
    let status = n.status.unwrap_or_default();
    let mut ready = None;
    let mut ready_since = None;
    let (mut ready_status, mut ready_reason, mut ready_message) = Default::default();
    let mut pressure = Vec::new();
    let mut pressure_since = Vec::new();
    for c in status.conditions.unwrap_or_default() {
        let since = c
            .last_transition_time
            .as_ref()
            .and_then(crate::kube::to_chrono);
        if c.type_ == "Ready" {
            ready = Some(c.status == "True");
            ready_since = since;
            ready_reason = c.reason.unwrap_or_default();
            ready_message = c.message.unwrap_or_default();
            ready_status = c.status;
        } else if c.type_.ends_with("Pressure") && c.status == "True" {
            pressure_since.push((c.type_.clone(), since));
            pressure.push(c.type_);
        }
    }
    let alloc = status.allocatable.unwrap_or_default();
    let spec = n.spec.unwrap_or_default();
    NodeRow {
        unschedulable: spec.unschedulable == Some(true),
        taints: spec
            .taints
            .unwrap_or_default()
            .into_iter()
            .map(|t| format!("{}:{}", t.key, t.effect))
            .collect(),
        ready_status,
        ready_reason,
        ready_message,
        name: n.metadata.name.unwrap_or_default(),
        roles: NodeRow::roles_from_labels(&labels),
        kubelet_version: status
            .node_info
            .map(|i| i.kubelet_version)
            .unwrap_or_default(),
        ready,
        ready_since,
        pressure,
        pressure_since,
        alloc_cpu_m: alloc.get("cpu").and_then(|q| quantity::cpu_milli(&q.0)),
        alloc_mem_b: alloc.get("memory").and_then(|q| quantity::bytes(&q.0)),
        internal_ip: status
            .addresses
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.type_ == "InternalIP")
            .map(|a| a.address),
        instance_type: labels.get("node.kubernetes.io/instance-type").cloned(),
        joins_server: node_args(&annotations).map(|a| a.contains("\"--server\"")),
        snapshot_cron: node_args(&annotations).and_then(|a| {
            let args: Vec<String> = serde_json::from_str(a).ok()?;
            let i = args
                .iter()
                .position(|x| x == "--etcd-snapshot-schedule-cron")?;
            args.get(i + 1).cloned()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rke2_server_fixture() {
        let n: Node = serde_json::from_value(serde_json::json!({
            "spec": {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]},
            "metadata": {"name": "cp-1",
                "annotations": {"rke2.io/node-args": "[\"server\",\"--etcd-snapshot-schedule-cron\",\"0 */6 * * *\"]"},
                "labels": {
                "node-role.kubernetes.io/etcd": "true",
                "node-role.kubernetes.io/control-plane": "true",
                "node-role.kubernetes.io/master": "true",
                "node.kubernetes.io/instance-type": "rke2"}},
            "status": {
                "nodeInfo": {"kubeletVersion": "v1.28.9+rke2r1", "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "",
                             "kernelVersion": "", "kubeProxyVersion": "", "machineID": "", "operatingSystem": "linux",
                             "osImage": "", "systemUUID": ""},
                "addresses": [{"type": "InternalIP", "address": "10.0.0.11"}, {"type": "Hostname", "address": "cp-1"}],
                "conditions": [
                    {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."},
                    {"type": "DiskPressure", "status": "True"},
                    {"type": "MemoryPressure", "status": "False"}]}
        }))
        .unwrap();
        let r = row(n);
        assert_eq!(r.roles, vec!["control-plane", "etcd", "master"]);
        assert!(r.has_role("etcd"));
        assert_eq!(r.kubelet_version, "v1.28.9+rke2r1");
        assert_eq!(r.ready, Some(false));
        assert_eq!(r.ready_text(), "Unknown");
        assert_eq!(r.ready_reason, "NodeStatusUnknown");
        assert_eq!(r.ready_message, "Kubelet stopped posting node status.");
        assert_eq!(r.taints, vec!["node.kubernetes.io/unreachable:NoExecute"]);
        assert_eq!(r.roles_text(), "control-plane,etcd");
        assert_eq!(r.snapshot_cron.as_deref(), Some("0 */6 * * *"));
        assert_eq!(r.joins_server, Some(false));
        assert_eq!(r.pressure, vec!["DiskPressure"]);
        assert_eq!(r.internal_ip.as_deref(), Some("10.0.0.11"));
        assert_eq!(r.instance_type.as_deref(), Some("rke2"));
    }
}
