//! RKE2 / k3s etcd snapshot records: the ConfigMap `kube-system/rke2-etcd-snapshots` (or
//! `k3s-etcd-snapshots`) that the server keeps, one JSON record per snapshot. The restore runbook fills
//! in the newest one. A GET every minute; a missing ConfigMap means "not RKE2/k3s" (no records).

use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use super::{SourceCtx, classify};
use crate::model::etcd::{EtcdMsg, SnapshotRow};
use crate::msg::Msg;

pub const EVERY: Duration = Duration::from_secs(60);
const NAMES: [&str; 2] = ["rke2-etcd-snapshots", "k3s-etcd-snapshots"];

/// The records of one snapshot ConfigMap, newest first.
pub fn records(cm: &ConfigMap) -> Vec<SnapshotRow> {
    let mut rows: Vec<SnapshotRow> = cm
        .data
        .iter()
        .flatten()
        .filter_map(|(key, v)| {
            let j: serde_json::Value = serde_json::from_str(v).ok()?;
            let s = |k: &str| j.get(k).and_then(|x| x.as_str()).map(str::to_string);
            Some(SnapshotRow {
                name: s("name").unwrap_or_else(|| key.clone()),
                node: s("nodeName"),
                location: s("location"),
                created: s("createdAt")
                    .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                size: j.get("size").and_then(|x| x.as_u64()),
                ok: s("status").is_none_or(|st| st == "successful")
                    && j.get("message")
                        .is_none_or(|m| m.as_str().unwrap_or("").is_empty()),
            })
        })
        .collect();
    rows.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    rows
}

pub async fn run(ctx: SourceCtx) {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), "kube-system");
    loop {
        let mut result = Ok(Vec::new());
        for name in NAMES {
            match tokio::time::timeout(ctx.request_timeout, api.get_opt(name)).await {
                Ok(Ok(Some(cm))) => {
                    result = Ok(records(&cm));
                    break;
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    result = Err(classify(&e));
                    break;
                }
                Err(_) => {
                    result = Err(crate::model::Failure {
                        kind: crate::model::FailureKind::Unreachable,
                        message: "snapshot records: no answer".into(),
                    });
                    break;
                }
            }
        }
        if ctx
            .tx
            .send(Msg::Etcd(Box::new(EtcdMsg::Snapshots(result))))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rke2_snapshot_configmap() {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "rke2-etcd-snapshots", "namespace": "kube-system"},
            "data": {
                "local-etcd-snapshot-cp-1-1764370800": "{\"name\":\"etcd-snapshot-cp-1-1764370800\",\"location\":\"file:///var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp-1-1764370800\",\"nodeName\":\"cp-1\",\"createdAt\":\"2025-11-28T23:00:00Z\",\"size\":4124704,\"compressed\":false}",
                "local-etcd-snapshot-cp-1-1764414000": "{\"name\":\"etcd-snapshot-cp-1-1764414000\",\"location\":\"file:///var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp-1-1764414000\",\"nodeName\":\"cp-1\",\"createdAt\":\"2025-11-29T11:00:00Z\",\"size\":4200000,\"compressed\":false}",
                "broken": "not json"
            }
        }))
        .unwrap();
        let r = records(&cm);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].name, "etcd-snapshot-cp-1-1764414000");
        assert_eq!(r[0].node.as_deref(), Some("cp-1"));
        assert!(r[0].ok);
        assert_eq!(r[0].size, Some(4_200_000));
    }
}
