//! RKE2 / k3s etcd snapshot records: the ConfigMap `kube-system/rke2-etcd-snapshots` (or
//! `k3s-etcd-snapshots`) that the server keeps, one JSON record per snapshot. The restore runbook fills
//! in the newest one. Watched by name; a missing ConfigMap means "not RKE2/k3s" (no records).

use chrono::{DateTime, Utc};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, watcher};

use super::SourceCtx;
use crate::model::Failure;
use crate::model::etcd::{EtcdMsg, SnapshotRow};
use crate::msg::Msg;

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

/// Watch both names (a watch each, selected by `metadata.name`: nothing else is read, and an auditor
/// role may grant these names only); the records are the first existing one's. Sent when they
/// change, and again when a watch that failed is back.
pub async fn run(ctx: SourceCtx) {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), "kube-system");
    let (api, starts) = super::resume::observed(api);
    let streams = NAMES.iter().enumerate().map(|(i, name)| {
        let config = watcher::Config {
            timeout: Some(super::WATCH_TIMEOUT_SECS),
            ..super::from_cache(watcher::Config::default().fields(&format!("metadata.name={name}")))
        };
        watcher(api.clone(), config)
            .backoff(super::resume::WatchBackoff::default())
            .map(move |e| (i, e))
            .boxed()
    });
    let mut events = futures::stream::select_all(streams);
    let mut seen = Seen::default();
    let mut failing: Option<u64> = None;
    let mut check = tokio::time::interval(std::time::Duration::from_millis(250));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (i, event) = tokio::select! {
            e = events.next() => match e { Some(e) => e, None => return },
            _ = check.tick(), if failing.is_some() => {
                if failing.is_some_and(|n| starts.count() > n) && seen.synced() {
                    failing = None;
                    if !send(&ctx, Ok(seen.records())).await {
                        return;
                    }
                }
                continue;
            }
        };
        let changed = match event {
            Ok(e) => seen.apply(i, e),
            Err(e) => {
                failing = Some(starts.count());
                let failure = super::needs_access(
                    super::classify_watch(&e),
                    "needs get, list and watch of the ConfigMap rke2-etcd-snapshots or \
                     k3s-etcd-snapshots in namespace kube-system",
                );
                if !send(&ctx, Err(failure)).await {
                    return;
                }
                continue;
            }
        };
        if changed && seen.synced() && !send(&ctx, Ok(seen.records())).await {
            return;
        }
    }
}

async fn send(ctx: &SourceCtx, r: Result<Vec<SnapshotRow>, Failure>) -> bool {
    let msg = Msg::Etcd(Box::new(EtcdMsg::Snapshots(r)));
    ctx.tx.send(msg).await.is_ok()
}

/// What the two watches hold: each name's ConfigMap (if it exists), a re-list in progress, and
/// whether it has listed once.
#[derive(Default)]
struct Seen {
    current: [Option<ConfigMap>; 2],
    pending: [Option<Option<ConfigMap>>; 2],
    listed: [bool; 2],
}

impl Seen {
    /// Apply watch `i`'s event; true when what it holds may have changed.
    fn apply(&mut self, i: usize, e: watcher::Event<ConfigMap>) -> bool {
        match e {
            watcher::Event::Init => {
                self.pending[i] = Some(None);
                false
            }
            watcher::Event::InitApply(cm) => {
                if let Some(p) = self.pending[i].as_mut() {
                    *p = Some(cm);
                }
                false
            }
            watcher::Event::InitDone => {
                if let Some(p) = self.pending[i].take() {
                    self.current[i] = p;
                }
                self.listed[i] = true;
                true
            }
            watcher::Event::Apply(cm) => {
                self.current[i] = Some(cm);
                true
            }
            watcher::Event::Delete(_) => self.current[i].take().is_some(),
        }
    }

    fn synced(&self) -> bool {
        self.listed.iter().all(|l| *l)
    }

    fn records(&self) -> Vec<SnapshotRow> {
        self.current
            .iter()
            .flatten()
            .next()
            .map(records)
            .unwrap_or_default()
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
