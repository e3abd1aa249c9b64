//! Previous-container log tails of crash-looping system pods (`kube-system`, `cattle-system`), for
//! the `kube-ca-mismatch` rule: a bounded tail (`previous=true`, [`TAIL`] lines) per failing container,
//! read every `EVERY` and as soon as a container starts crash-looping; the pods are watched, not listed. Only lines carrying a credential/CA signature are kept, so nothing else a
//! log may contain travels further. While the API server does not answer, a round stops at its first
//! unanswered request and the last tails stay.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::LogParams;
use kube::runtime::{WatchStreamExt, watcher};

use super::SourceCtx;
use crate::msg::Msg;

/// The namespaces whose pods are the platform's own (Kubernetes' and Rancher's contracts).
pub const NAMESPACES: &[&str] = &["kube-system", "cattle-system"];
/// Lines read from each crashed container.
pub const TAIL: i64 = 50;
pub const EVERY: Duration = Duration::from_secs(15);
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

/// Crash-looping containers (`namespace/pod/container`) by pod key, kept from a watch of each
/// system namespace (a list per round was a LIST every 15 s in steady state; issue 13).
#[derive(Debug, Default)]
struct Crashing {
    live: BTreeMap<String, Vec<String>>,
    /// A (re-)list in progress, by namespace.
    pending: BTreeMap<&'static str, BTreeMap<String, Vec<String>>>,
}

impl Crashing {
    /// Apply one watch event; true when the set of crashing containers changed.
    fn apply(&mut self, ns: &'static str, ev: watcher::Event<Pod>) -> bool {
        let key = |p: &Pod| {
            format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or(ns),
                p.metadata.name.as_deref().unwrap_or_default()
            )
        };
        let before = self.keys();
        match ev {
            watcher::Event::Init => {
                self.pending.insert(ns, BTreeMap::new());
            }
            watcher::Event::InitApply(p) => {
                let c = crashing(&p);
                if let Some(m) = self.pending.get_mut(ns) {
                    m.insert(key(&p), c);
                } else {
                    self.live.insert(key(&p), c);
                }
            }
            watcher::Event::InitDone => {
                let fresh = self.pending.remove(ns).unwrap_or_default();
                let prefix = format!("{ns}/");
                self.live.retain(|k, _| !k.starts_with(&prefix));
                self.live.extend(fresh);
            }
            watcher::Event::Apply(p) => {
                self.live.insert(key(&p), crashing(&p));
            }
            watcher::Event::Delete(p) => {
                self.live.remove(&key(&p));
            }
        }
        self.keys() != before
    }

    fn keys(&self) -> Vec<String> {
        self.live.values().flatten().cloned().collect()
    }
}

pub async fn run(ctx: SourceCtx) {
    let streams = NAMESPACES
        .iter()
        .filter(|ns| ctx.namespace.as_deref().is_none_or(|n| n == **ns))
        .map(|ns| {
            let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
            let config = watcher::Config {
                timeout: Some(super::WATCH_TIMEOUT_SECS),
                ..watcher::Config::default()
            };
            watcher(api, config)
                .backoff(super::resume::WatchBackoff::default())
                .map(move |e| (*ns, e))
                .boxed()
        });
    let mut events = futures::stream::select_all(streams);
    let mut state = Crashing::default();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // fetch tails every EVERY, and at once when a container starts crash-looping or a
        // namespace's first list is in
        tokio::select! {
            ev = events.next(), if !events.is_empty() => match ev {
                Some((ns, Ok(e))) => {
                    let synced = matches!(e, watcher::Event::InitDone);
                    if !(state.apply(ns, e) || synced) {
                        continue;
                    }
                }
                Some((_, Err(_))) => continue, // the watcher retries with its backoff
                None => continue,
            },
            _ = tick.tick() => {}
        }
        // while the API server does not answer, the last tails stay
        if let Some(found) = fetch(&ctx, &state).await
            && ctx.tx.send(Msg::CrashLogs(found)).await.is_err()
        {
            return;
        }
    }
}

/// The tails of the crash-looping containers; `None` when the API server did not answer (the round
/// stops at the first such request).
async fn fetch(ctx: &SourceCtx, state: &Crashing) -> Option<BTreeMap<String, Vec<String>>> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in state.keys().into_iter().take(MAX_PER_ROUND) {
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
                    found.insert(key, lines);
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

    fn pod(ns: &str, name: &str, crash: bool) -> Pod {
        let reason = if crash {
            "CrashLoopBackOff"
        } else {
            "ContainerCreating"
        };
        serde_json::from_value(serde_json::json!({
            "metadata": {"namespace": ns, "name": name},
            "status": {"containerStatuses": [{
                "name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": reason}}
            }]}
        }))
        .unwrap()
    }

    #[test]
    fn watch_events_keep_the_crashing_containers_and_say_when_they_change() {
        let mut s = Crashing::default();
        assert!(!s.apply("kube-system", watcher::Event::Init));
        assert!(!s.apply(
            "kube-system",
            watcher::Event::InitApply(pod("kube-system", "ok", false))
        ));
        s.apply(
            "kube-system",
            watcher::Event::InitApply(pod("kube-system", "bad", true)),
        );
        // nothing is live until the list is complete
        assert!(s.keys().is_empty());
        assert!(s.apply("kube-system", watcher::Event::InitDone));
        assert_eq!(s.keys(), vec!["kube-system/bad/c".to_string()]);
        // the other namespace's re-list leaves this one alone
        s.apply("cattle-system", watcher::Event::Init);
        assert!(!s.apply("cattle-system", watcher::Event::InitDone));
        assert!(s.apply(
            "cattle-system",
            watcher::Event::Apply(pod("cattle-system", "agent", true))
        ));
        assert_eq!(s.keys().len(), 2);
        // a recovered pod and a deleted one leave the set
        assert!(s.apply(
            "kube-system",
            watcher::Event::Apply(pod("kube-system", "bad", false))
        ));
        assert!(s.apply(
            "cattle-system",
            watcher::Event::Delete(pod("cattle-system", "agent", true))
        ));
        assert!(s.keys().is_empty());
    }
}
