//! etcd through the Kubernetes API: the etcd static pods (`kube-system/etcd-<node>`, watched; their
//! logs are followed by [`super::etcd_logs`], named by this watch); the API server's
//! `/readyz?verbose` etcd check is read by the API heartbeat ([`super::probe_api`]). All GETs:
//! allowed in read-only mode.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;

use super::{SourceCtx, run_watch};
use crate::model::SourceId;
use crate::model::etcd::{EtcdMsg, EtcdPodRow};
use crate::msg::Msg;

/// The label RKE2, k3s (embedded etcd pods are RKE2's) and kubeadm put on etcd static pods.
pub const ETCD_SELECTOR: &str = "component=etcd";
const NAMESPACE: &str = "kube-system";

fn wrap(d: crate::model::Delta<EtcdPodRow>) -> Msg {
    Msg::Etcd(Box::new(EtcdMsg::Pods(d)))
}

/// Watch the etcd pods; `names` tells the log followers which there are.
pub async fn pods(ctx: SourceCtx, names: super::etcd_logs::PodNames) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), NAMESPACE);
    run_watch(
        api,
        super::from_cache(watcher::Config::default().labels(ETCD_SELECTOR)),
        SourceId::EtcdPods,
        ctx.tx.clone(),
        pod_row,
        |p: &Pod| {
            format!(
                "{}/{}",
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default()
            )
        },
        move |d| {
            names.observe(&d);
            wrap(d)
        },
    )
    .await;
}

pub use crate::model::etcd::exec::flag;

pub fn pod_row(p: Pod) -> EtcdPodRow {
    let meta = p.metadata;
    let spec = p.spec.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    let container = spec
        .containers
        .iter()
        .find(|c| c.name == "etcd")
        .or(spec.containers.first());
    let args: Vec<String> = container
        .map(|c| {
            let mut v = c.command.clone().unwrap_or_default();
            v.extend(c.args.clone().unwrap_or_default());
            v
        })
        .unwrap_or_default();
    let statuses = status.container_statuses.unwrap_or_default();
    EtcdPodRow {
        namespace: meta.namespace.unwrap_or_default(),
        name: meta.name.unwrap_or_default(),
        node: spec.node_name,
        host_ip: status.host_ip,
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        ready: !statuses.is_empty() && statuses.iter().all(|c| c.ready),
        restarts: statuses.iter().map(|c| c.restart_count).sum(),
        quota_bytes: flag(&args, "--quota-backend-bytes").and_then(|v| v.parse().ok()),
        data_dir: flag(&args, "--data-dir"),
        image: container.and_then(|c| c.image.clone()),
        advertise_client_url: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubeadm.kubernetes.io/etcd.advertise-client-urls"))
            .and_then(|v| v.split(',').next())
            .map(str::to_string),
        args,
    }
}

/// The etcd lines of `/readyz?verbose` (`[+]etcd ok`, `[-]etcd failed: reason withheld`).
pub fn readyz_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.contains("etcd"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rke2_static_pod_fixture() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "etcd-cp-1", "namespace": "kube-system",
                         "labels": {"component": "etcd", "tier": "control-plane"}},
            "spec": {"nodeName": "cp-1", "containers": [{"name": "etcd", "image": "rancher/hardened-etcd:v3.5.9-k3s1",
                     "command": ["etcd", "--config-file=/var/lib/rancher/rke2/server/db/etcd/config"],
                     "args": ["--quota-backend-bytes", "8589934592", "--data-dir=/var/lib/rancher/rke2/server/db/etcd"]}]},
            "status": {"phase": "Running", "hostIP": "10.0.0.11",
                       "containerStatuses": [{"name": "etcd", "ready": true, "restartCount": 2, "image": "x", "imageID": "y"}]}
        }))
        .unwrap();
        let r = pod_row(pod);
        assert_eq!(r.name, "etcd-cp-1");
        assert_eq!(r.node.as_deref(), Some("cp-1"));
        assert_eq!(r.host_ip.as_deref(), Some("10.0.0.11"));
        assert!(r.ready);
        assert_eq!(r.restarts, 2);
        assert_eq!(r.quota_bytes, Some(8_589_934_592));
        assert_eq!(
            r.data_dir.as_deref(),
            Some("/var/lib/rancher/rke2/server/db/etcd")
        );
    }

    #[test]
    fn readyz_etcd_lines() {
        let text = "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]etcd-readiness ok\nreadyz check failed\n";
        assert_eq!(
            readyz_lines(text),
            vec!["[-]etcd failed: reason withheld", "[+]etcd-readiness ok"]
        );
    }
}
