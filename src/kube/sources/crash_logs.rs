//! Previous-container log tails of crash-looping pods, in every namespace, for the
//! `kube-ca-mismatch` rule: a bounded tail (`previous=true`, [`TAIL`] lines) per failing container,
//! read once per restart of that container (a previous log does not change until the container
//! restarts again: an idle cluster costs no request), as soon as the set of crash-looping
//! containers or their restart counts change; one that could not be read is tried again every
//! [`EVERY`]. Which containers
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
    tx: Arc<watch::Sender<Vec<(String, u32)>>>,
    /// The pods' revision the set was last computed at (computed again only when it moved).
    rev: Arc<AtomicU64>,
    /// The set by pod (`namespace/name`), brought up to date with the pods that changed since
    /// `rev` (the pods store lists them): at 50,000 pods under churn, no pass over every pod.
    by_pod: Arc<std::sync::Mutex<ByPod>>,
}

/// The crash-looping containers (`namespace/pod/container`, restarts) of each pod that has any.
type ByPod = BTreeMap<String, Vec<(String, u32)>>;

impl Default for Wanted {
    fn default() -> Self {
        Wanted {
            tx: Arc::new(watch::Sender::new(Vec::new())),
            rev: Arc::new(AtomicU64::new(u64::MAX)),
            by_pod: Arc::default(),
        }
    }
}

impl Wanted {
    /// What the source reads.
    pub fn subscribe(&self) -> watch::Receiver<Vec<(String, u32)>> {
        self.tx.subscribe()
    }

    /// Offer the model's crash-looping containers: computed only when the pods changed since the
    /// last offer, and sent only when the set differs.
    pub fn offer(&self, model: &crate::model::Model) {
        let pods = &model.top.pods;
        let rev = pods.rev();
        let was = self.rev.swap(rev, Ordering::Relaxed);
        if was == rev {
            return;
        }
        let Ok(mut by) = self.by_pod.lock() else {
            return; // a panic elsewhere poisoned it: nothing to offer
        };
        match (was != u64::MAX).then(|| pods.changed_since(was)).flatten() {
            Some(changes) => {
                for (key, _) in changes {
                    by.remove(&**key);
                    if let Some(p) = pods.get(key) {
                        let v = crate::model::top::TopModel::looping(p);
                        if !v.is_empty() {
                            by.insert(key.to_string(), v);
                        }
                    }
                }
            }
            None => {
                by.clear();
                for (key, p) in pods.shared_entries() {
                    let v = crate::model::top::TopModel::looping(p);
                    if !v.is_empty() {
                        by.insert(key.to_string(), v);
                    }
                }
            }
        }
        let now: Vec<(String, u32)> = by.values().flatten().cloned().collect();
        drop(by);
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
    let mut cache = Cache::default();
    let mut sent: Option<BTreeMap<String, Vec<String>>> = None;
    loop {
        // read at once when the set of crash-looping containers changes; retry what failed
        tokio::select! {
            r = wanted.changed(), if open => open = r.is_ok(),
            _ = tick.tick() => {}
        }
        let keys = wanted.borrow_and_update().clone();
        if keys.is_empty() {
            continue;
        }
        // while the API server does not answer, the last tails stay
        if fetch(&ctx, &keys, &mut cache).await.is_none() {
            continue;
        }
        let found = cache.found(&keys);
        if sent.as_ref() != Some(&found) {
            if ctx.tx.send(Msg::CrashLogs(found.clone())).await.is_err() {
                return;
            }
            sent = Some(found);
        }
    }
}

/// The signature lines read for each container, with the restart count they were read at.
#[derive(Default)]
struct Cache(BTreeMap<String, (u32, Vec<String>)>);

impl Cache {
    fn fresh(&self, key: &str, restarts: u32) -> bool {
        self.0.get(key).is_some_and(|(r, _)| *r == restarts)
    }

    /// What the model gets: the lines of the wanted containers that have any.
    fn found(&mut self, keys: &[(String, u32)]) -> BTreeMap<String, Vec<String>> {
        self.0.retain(|k, _| keys.iter().any(|(w, _)| w == k));
        self.0
            .iter()
            .filter(|(_, (_, lines))| !lines.is_empty())
            .map(|(k, (_, lines))| (k.clone(), lines.clone()))
            .collect()
    }
}

/// Read the tails not read since the container's last restart (at most [`MAX_PER_ROUND`]); `None`
/// when the API server did not answer (the round stops at the first such request).
async fn fetch(ctx: &SourceCtx, keys: &[(String, u32)], cache: &mut Cache) -> Option<()> {
    let stale: Vec<&(String, u32)> = keys
        .iter()
        .filter(|(k, r)| !cache.fresh(k, *r))
        .take(MAX_PER_ROUND)
        .collect();
    for (key, restarts) in stale {
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
                cache
                    .0
                    .insert(key.clone(), (*restarts, signature_lines(&text)));
            }
            Ok(Err(e)) if super::classify(&e).kind == crate::model::FailureKind::Unreachable => {
                return None;
            }
            Err(_) => return None,
            // no previous log yet (or the pod went): tried again next round
            Ok(Err(_)) => {}
        }
    }
    Some(())
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
                ("ingress-nginx/ingress-nginx-controller-1/c".to_string(), 9),
                ("kube-system/coredns-1/c".to_string(), 4)
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
        let mut rx = rx;
        rx.borrow_and_update();
        // a restart changes the set: its new previous log is read
        m.top.apply_pods(
            Delta::Apply(pod(
                "ingress-nginx",
                "ingress-nginx-controller-1",
                "CrashLoopBackOff",
                10,
            )),
            now,
        );
        w.offer(&m);
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow()[0].1, 10);
        // followed pod by pod (added, changed, deleted between offers), it is what a pass over
        // every pod says
        m.top.apply_pods(
            Delta::Apply(pod("shop", "web-2", "CrashLoopBackOff", 1)),
            now,
        );
        m.top.apply_pods(
            Delta::Apply(pod("kube-system", "coredns-1", "CrashLoopBackOff", 5)),
            now,
        );
        m.top.apply_pods(
            Delta::Delete("ingress-nginx/ingress-nginx-controller-1".into()),
            now,
        );
        w.offer(&m);
        assert_eq!(*rx.borrow(), m.top.crash_looping());
        assert_eq!(
            *rx.borrow(),
            vec![
                ("kube-system/coredns-1/c".to_string(), 5),
                ("shop/web-2/c".to_string(), 1)
            ]
        );
        // a re-list: computed from every pod
        m.top.apply_pods(Delta::Init, now);
        m.top.apply_pods(
            Delta::InitApply(pod("shop", "web-3", "CrashLoopBackOff", 2)),
            now,
        );
        m.top.apply_pods(Delta::InitDone, now);
        w.offer(&m);
        assert_eq!(*rx.borrow(), vec![("shop/web-3/c".to_string(), 2)]);
    }

    #[test]
    fn the_cache_keeps_a_tail_until_its_container_restarts_or_recovers() {
        let mut c = Cache::default();
        c.0.insert(
            "a/p/c".into(),
            (
                3,
                vec!["x509: certificate signed by unknown authority".into()],
            ),
        );
        c.0.insert("a/q/c".into(), (1, vec![]));
        assert!(c.fresh("a/p/c", 3));
        assert!(!c.fresh("a/p/c", 4));
        assert!(!c.fresh("a/r/c", 0));
        let keys = vec![("a/p/c".to_string(), 3), ("a/q/c".to_string(), 1)];
        // only containers with signature lines reach the model
        assert_eq!(c.found(&keys).len(), 1);
        // a container no longer crash-looping is forgotten
        assert!(c.found(&keys[1..]).is_empty());
        assert!(!c.fresh("a/p/c", 3));
    }
}
