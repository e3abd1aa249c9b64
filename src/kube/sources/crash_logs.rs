//! Previous-container log tails of crash-looping system pods (`kube-system`, `cattle-system`), for
//! the `kube-ca-mismatch` rule: a bounded tail (`previous=true`, [`TAIL`] lines) per failing container,
//! polled every [`EVERY`]. Only lines carrying a credential/CA signature are kept, so nothing else a
//! log may contain travels further.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};

use super::SourceCtx;
use crate::msg::Msg;

/// The namespaces whose pods are the platform's own (Kubernetes' and Rancher's contracts).
pub const NAMESPACES: &[&str] = &["kube-system", "cattle-system"];
/// Lines read from each crashed container.
pub const TAIL: i64 = 50;
const EVERY: Duration = Duration::from_secs(15);
/// At most this many containers' logs per round (a crash-looping DaemonSet on 500 nodes is one story).
const MAX_PER_ROUND: usize = 20;

/// `namespace/pod/container` of every container waiting in CrashLoopBackOff.
fn crashing(p: &Pod) -> Vec<String> {
    let (Some(ns), Some(name)) = (&p.metadata.namespace, &p.metadata.name) else {
        return Vec::new();
    };
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| {
            cs.iter()
                .filter(|c| {
                    c.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        == Some("CrashLoopBackOff")
                })
                .map(|c| format!("{ns}/{name}/{}", c.name))
                .collect()
        })
        .unwrap_or_default()
}

/// Keep only the lines that carry a CA/credential signature.
pub fn signature_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(crate::diagnose::cluster::ca_line)
        .collect()
}

pub async fn run(ctx: SourceCtx) {
    loop {
        let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for ns in NAMESPACES {
            if ctx.namespace.as_deref().is_some_and(|n| n != *ns) {
                continue;
            }
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
            let Ok(Ok(list)) =
                tokio::time::timeout(ctx.request_timeout, api.list(&ListParams::default())).await
            else {
                continue;
            };
            for key in list.items.iter().flat_map(crashing).take(MAX_PER_ROUND) {
                let mut parts = key.splitn(3, '/');
                let (Some(_), Some(pod), Some(container)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let lp = LogParams {
                    container: Some(container.to_string()),
                    previous: true,
                    tail_lines: Some(TAIL),
                    ..LogParams::default()
                };
                if let Ok(Ok(text)) =
                    tokio::time::timeout(ctx.request_timeout, api.logs(pod, &lp)).await
                {
                    let lines = signature_lines(&text);
                    if !lines.is_empty() {
                        found.insert(key.clone(), lines);
                    }
                }
            }
        }
        if ctx.tx.send(Msg::CrashLogs(found)).await.is_err() {
            return;
        }
        tokio::time::sleep(EVERY).await;
    }
}
