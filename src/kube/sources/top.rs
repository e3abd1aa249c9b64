//! Top: a pods watch (only what the rows read is decoded), a ReplicaSet watch (pod → Deployment) and the metrics.k8s.io poll: one
//! batched list of pods and one of nodes per interval, each with a timeout. Without metrics-server
//! (the APIService missing or unavailable) the poll reports why and keeps trying; requests and limits
//! still show.

use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;

use super::pod_view::PodView;
use super::{SourceCtx, run_watch};
use crate::model::SourceId;
use crate::model::quantity;
use crate::model::top::{ContainerRow, PodRow, RsRow};
use crate::msg::Msg;

fn ns_api<K>(ctx: &SourceCtx) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match &ctx.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    }
}

fn key_of<K: kube::Resource>(k: &K) -> String {
    let m = k.meta();
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

/// The pods: list answers decoded into rows as they arrive ([`super::pod_list`]), watch events
/// decoded as [`PodView`]s.
pub async fn pods(ctx: SourceCtx) {
    let listed = super::Listed::default();
    let client = super::pod_list::pod_lists(ctx.client.clone(), listed.clone());
    let api = match &ctx.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let convert = super::Convert {
        row: view_row,
        key: key_of,
        wrap: Msg::Pods,
    };
    // from the cache
    let config = super::from_cache(watcher::Config::default());
    super::watch_loop(api, config, SourceId::Pods, ctx.tx.clone(), convert, listed).await;
}

pub async fn replicasets(ctx: SourceCtx) {
    run_watch(
        ns_api::<ReplicaSet>(&ctx),
        super::from_cache(watcher::Config::default()),
        SourceId::Pods,
        ctx.tx.clone(),
        rs_row,
        key_of,
        Msg::ReplicaSets,
    )
    .await;
}

fn controller(
    refs: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
) -> Option<(String, String)> {
    let refs = refs?;
    refs.iter()
        .find(|r| r.controller == Some(true))
        .or_else(|| refs.first())
        .map(|r| (r.kind.clone(), r.name.clone()))
}

pub fn rs_row(rs: ReplicaSet) -> RsRow {
    RsRow {
        owner: controller(rs.metadata.owner_references.as_ref()),
        namespace: rs.metadata.namespace.unwrap_or_default(),
        name: rs.metadata.name.unwrap_or_default(),
    }
}

/// The longest termination message kept per container (the kubelet caps them at 4096 bytes).
const MESSAGE_MAX: usize = 1024;

/// The last `max` bytes of `s` (a crash's last words are at the end), on a char boundary.
fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].to_string()
}

/// A decoded `Pod`'s row (what the other sources and the tests hold; the watch decodes
/// [`PodView`]s).
pub fn pod_row(p: Pod) -> PodRow {
    view_row(p.into())
}

/// A pod's row.
pub fn view_row(p: PodView) -> PodRow {
    let spec = p.spec.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    let statuses = status.container_statuses.unwrap_or_default();
    let containers = spec
        .containers
        .into_iter()
        .map(|c| {
            let res = c.resources.unwrap_or_default();
            let req = res.requests.unwrap_or_default();
            let lim = res.limits.unwrap_or_default();
            let st = statuses.iter().find(|s| s.name == c.name);
            let last = st
                .and_then(|s| s.last_state.as_ref())
                .and_then(|l| l.terminated.as_ref());
            let waiting = st
                .and_then(|s| s.state.as_ref())
                .and_then(|s| s.waiting.as_ref());
            ContainerRow {
                req_cpu_m: req.get("cpu").and_then(|q| quantity::cpu_milli(&q.0)),
                req_mem_b: req.get("memory").and_then(|q| quantity::bytes(&q.0)),
                lim_cpu_m: lim.get("cpu").and_then(|q| quantity::cpu_milli(&q.0)),
                lim_mem_b: lim.get("memory").and_then(|q| quantity::bytes(&q.0)),
                restarts: st.map(|s| s.restart_count.max(0) as u32).unwrap_or(0),
                oom_killed: last.and_then(|t| t.reason.as_deref()) == Some("OOMKilled"),
                ready: st.is_some_and(|s| s.ready),
                waiting_reason: waiting.and_then(|w| w.reason.clone()),
                waiting_message: waiting.and_then(|w| w.message.clone()),
                last_term_reason: last.and_then(|t| t.reason.clone()),
                last_exit_code: last.map(|t| t.exit_code),
                last_message: last
                    .and_then(|t| t.message.as_deref())
                    .map(|m| bounded(m, MESSAGE_MAX))
                    .unwrap_or_default(),
                name: c.name,
            }
        })
        .collect();
    let unschedulable = status
        .conditions
        .as_ref()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        })
        .map(|c| {
            format!(
                "{}: {}",
                c.reason.as_deref().unwrap_or("Unschedulable"),
                c.message.as_deref().unwrap_or_default()
            )
        });
    PodRow {
        uid: p.metadata.uid.clone().unwrap_or_default(),
        unschedulable,
        owner: controller(p.metadata.owner_references.as_ref()),
        namespace: p.metadata.namespace.unwrap_or_default(),
        name: p.metadata.name.unwrap_or_default(),
        node: spec.node_name.unwrap_or_default(),
        phase: status.phase.unwrap_or_default(),
        reason: status.reason.unwrap_or_default(),
        containers,
    }
}

/// Poll metrics.k8s.io every `every`, one list call for pods and one for nodes
/// ([`super::metrics`]).
pub async fn metrics(ctx: SourceCtx, every: Duration) {
    loop {
        let mut wait = every;
        let msg = match super::metrics::poll(&ctx).await {
            Ok(snap) => {
                wait = poll_interval(every, snap.pods.len());
                Msg::Metrics(snap)
            }
            Err(f) if f.message.starts_with(super::metrics::NOT_SERVED) => {
                // not installed: ask again once a minute, not every interval
                wait = every.max(NOT_SERVED_EVERY);
                Msg::SourceAbsent(SourceId::Metrics, f.message)
            }
            Err(f) => Msg::SourceFailed(SourceId::Metrics, f),
        };
        if ctx.tx.send(msg).await.is_err() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Without metrics-server (metrics.k8s.io not served) the poll asks again after this long.
pub const NOT_SERVED_EVERY: Duration = Duration::from_secs(60);

/// Each pod in the answer adds this much to the wait before the next poll (when that exceeds the
/// configured interval): a 50,000-pod answer is ~17 MB to fetch, parse and join, so it is polled
/// every 25 s, not every 10 s (at most ~1 % of a core for it); up to 20,000 pods the configured
/// interval holds. metrics-server itself refreshes every 15–60 s.
pub const METRICS_WAIT_PER_POD: Duration = Duration::from_micros(500);

/// The wait before the next metrics poll after an answer with `pods` pods.
pub fn poll_interval(every: Duration, pods: usize) -> Duration {
    every.max(METRICS_WAIT_PER_POD * u32::try_from(pods).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poll_slows_down_only_for_large_answers() {
        let every = Duration::from_secs(10);
        assert_eq!(poll_interval(every, 0), every);
        assert_eq!(poll_interval(every, 20_000), every);
        assert_eq!(poll_interval(every, 50_000), Duration::from_secs(25));
        assert_eq!(
            poll_interval(Duration::from_secs(60), 50_000),
            Duration::from_secs(60)
        );
    }
}
