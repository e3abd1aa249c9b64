//! Previous-container log tails of crash-looping pods, in every namespace, for the
//! `kube-ca-mismatch` rule: a bounded tail (`previous=true`, [`TAIL`] lines) per failing container,
//! read every [`EVERY`] and as soon as the set of crash-looping containers changes. Which containers
//! crash-loop is what the Top pane's pods watch already says: the loop that owns the model offers
//! the set ([`Wanted::offer`], at most once per change of the pods) and this task reads it, so no
//! second pods watch is needed. At most [`MAX_PER_ROUND`] containers a round (80 log requests a
//! minute at most). Only lines carrying a credential/CA signature are kept, so nothing else a log
//! may contain travels further. While the API server does not answer, a round stops at its first
//! unanswered request and the last tails stay.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use tokio::sync::watch;

use super::SourceCtx;
use crate::msg::Msg;

/// Lines read from each crashed container.
pub const TAIL: i64 = 50;
pub const EVERY: Duration = Duration::from_secs(15);
/// At most this many containers' logs per round (a crash-looping DaemonSet on 500 nodes is one story).
pub const MAX_PER_ROUND: usize = 20;

/// The crash-looping containers (`namespace/pod/container`) the loop offers to this source.
#[derive(Debug, Clone)]
pub struct Wanted {
    tx: Arc<watch::Sender<Vec<String>>>,
    /// The pods' revision the set was last computed at (computed again only when it moved).
    rev: Arc<AtomicU64>,
}

impl Default for Wanted {
    fn default() -> Self {
        Wanted {
            tx: Arc::new(watch::Sender::new(Vec::new())),
            rev: Arc::new(AtomicU64::new(u64::MAX)),
        }
    }
}

impl Wanted {
    /// What the source reads.
    pub fn subscribe(&self) -> watch::Receiver<Vec<String>> {
        self.tx.subscribe()
    }

    /// Offer the model's crash-looping containers: computed only when the pods changed since the
    /// last offer, and sent only when the set differs.
    pub fn offer(&self, model: &crate::model::Model) {
        let rev = model.top.pods.rev();
        if self.rev.swap(rev, Ordering::Relaxed) == rev {
            return;
        }
        let now = model.top.crash_looping();
        self.tx.send_if_modified(|v| {
            let changed = *v != now;
            if changed {
                *v = now;
            }
            changed
        });
    }
}

/// Keep only the lines that carry a CA/credential signature.
pub fn signature_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(crate::diagnose::cluster::ca_line)
        .collect()
}

pub async fn run(ctx: SourceCtx) {
    let mut wanted = ctx.crashing.clone();
    let mut open = true;
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // fetch tails every EVERY, and at once when the set of crash-looping containers changes
        tokio::select! {
            r = wanted.changed(), if open => open = r.is_ok(),
            _ = tick.tick() => {}
        }
        let keys = wanted.borrow_and_update().clone();
        if keys.is_empty() {
            continue;
        }
        // while the API server does not answer, the last tails stay
        if let Some(found) = fetch(&ctx, &keys).await
            && ctx.tx.send(Msg::CrashLogs(found)).await.is_err()
        {
            return;
        }
    }
}

/// The tails of the crash-looping containers; `None` when the API server did not answer (the round
/// stops at the first such request).
async fn fetch(ctx: &SourceCtx, keys: &[String]) -> Option<BTreeMap<String, Vec<String>>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in keys.iter().take(MAX_PER_ROUND) {
        let mut parts = key.splitn(3, '/');
        let (Some(ns), Some(pod), Some(container)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        let lp = LogParams {
            container: Some(container.to_string()),
            previous: true,
            tail_lines: Some(TAIL),
            ..LogParams::default()
        };
        match tokio::time::timeout(ctx.request_timeout, api.logs(pod, &lp)).await {
            Ok(Ok(text)) => {
                let lines = signature_lines(&text);
                if !lines.is_empty() {
                    found.insert(key.clone(), lines);
                }
            }
            Ok(Err(e)) if super::classify(&e).kind == crate::model::FailureKind::Unreachable => {
                return None;
            }
            Err(_) => return None,
            Ok(Err(_)) => {}
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClusterInfo, Delta, Model};

    fn pod(ns: &str, name: &str, waiting: &str, restarts: u32) -> crate::model::top::PodRow {
        let (ready, state) = if waiting.is_empty() {
            (true, serde_json::json!({"running": {}}))
        } else {
            (false, serde_json::json!({"waiting": {"reason": waiting}}))
        };
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": ns, "name": name},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": "c", "image": "i", "imageID": "", "ready": ready, "restartCount": restarts,
                "state": state,
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
            }]}
        }))
        .unwrap();
        crate::kube::sources::top::pod_row(p)
    }

    #[test]
    fn the_loop_offers_crash_looping_containers_of_every_namespace_once_per_change() {
        let now = chrono::Utc::now();
        let mut m = Model::new(ClusterInfo::default(), Default::default(), now);
        let w = Wanted::default();
        let rx = w.subscribe();
        m.top.apply_pods(Delta::Init, now);
        for p in [
            pod(
                "ingress-nginx",
                "ingress-nginx-controller-1",
                "CrashLoopBackOff",
                9,
            ),
            pod("kube-system", "coredns-1", "CrashLoopBackOff", 4),
            pod("shop", "web-1", "ContainerCreating", 0),
        ] {
            m.top.apply_pods(Delta::InitApply(p), now);
        }
        m.top.apply_pods(Delta::InitDone, now);
        w.offer(&m);
        assert!(rx.has_changed().unwrap());
        assert_eq!(
            *rx.borrow(),
            vec![
                "ingress-nginx/ingress-nginx-controller-1/c".to_string(),
                "kube-system/coredns-1/c".to_string()
            ]
        );
        let mut rx = rx;
        rx.borrow_and_update();
        // unchanged pods: nothing computed, nothing sent
        w.offer(&m);
        assert!(!rx.has_changed().unwrap());
        // one recovers: the set shrinks
        m.top
            .apply_pods(Delta::Apply(pod("kube-system", "coredns-1", "", 4)), now);
        w.offer(&m);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow().len(), 1);
    }
}
