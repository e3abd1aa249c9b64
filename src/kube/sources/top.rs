//! Top: a slim pods watch, a ReplicaSet watch (pod → Deployment) and the metrics.k8s.io poll: one
//! batched list of pods and one of nodes per interval, each with a timeout. Without metrics-server
//! (the APIService missing or unavailable) the poll reports why and keeps trying; requests and limits
//! still show.

use std::borrow::Cow;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::watcher;

use super::pod_view::PodView;
use super::{SourceCtx, classify, run_watch};
use crate::model::quantity;
use crate::model::top::{ContainerRow, MetricsSnapshot, PodRow, RsRow, Usage};
use crate::model::{Failure, FailureKind, SourceId};
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

/// The pods, through a client that slims pod LIST answers as they arrive ([`super::slim`]),
/// decoded as [`PodView`]s.
fn slim_api(ctx: &SourceCtx) -> Api<PodView> {
    let client = super::slim::pod_lists(ctx.client.clone());
    match &ctx.namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

pub async fn pods(ctx: SourceCtx) {
    run_watch(
        // from the cache, slimmed as the answer arrives
        slim_api(&ctx),
        super::from_cache(watcher::Config::default()),
        SourceId::Pods,
        ctx.tx.clone(),
        view_row,
        key_of,
        Msg::Pods,
    )
    .await;
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

/// Poll metrics.k8s.io every `every`, one list call for pods and one for nodes.
/// How a 404 from metrics.k8s.io starts its message (the poller turns it into "not configured").
const NOT_SERVED: &str = "metrics-server not installed";

pub async fn metrics(ctx: SourceCtx, every: Duration) {
    loop {
        let mut wait = every;
        let msg = match poll(&ctx).await {
            Ok(snap) => {
                wait = poll_interval(every, snap.pods.len());
                Msg::Metrics(snap)
            }
            Err(f) if f.message.starts_with(NOT_SERVED) => {
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

/// A metrics.k8s.io list reduced to what the Top pane reads while it is parsed: a 50k-pod list is
/// ~17 MB of JSON, and parsing it into a `serde_json::Value` (then cloning its items) cost hundreds of
/// MB of peak memory and most of the idle CPU (BENCHMARKS.md, issue 13).
/// The strings borrow from the answer's text (`Cow`: owned only where JSON escapes force it), so a
/// 50k-pod list costs one allocation per pod (its `namespace/name` key), not six.
#[derive(Debug, Default, serde::Deserialize)]
struct MetricsList<'a> {
    #[serde(default, borrow)]
    items: Vec<MetricsItem<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct MetricsItem<'a> {
    #[serde(default, borrow)]
    metadata: MetricsMeta<'a>,
    /// Pods: one usage per container.
    #[serde(default, borrow)]
    containers: Vec<MetricsContainer<'a>>,
    /// Nodes: the node's usage.
    #[serde(default, borrow)]
    usage: Option<UsageText<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct MetricsMeta<'a> {
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    namespace: Cow<'a, str>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct MetricsContainer<'a> {
    #[serde(default, borrow)]
    usage: Option<UsageText<'a>>,
}

#[derive(Debug, Default, serde::Deserialize)]
struct UsageText<'a> {
    #[serde(default, borrow)]
    cpu: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    memory: Option<Cow<'a, str>>,
}

fn parse<'a>(path: &str, text: &'a str) -> Result<Vec<MetricsItem<'a>>, Failure> {
    serde_json::from_str::<MetricsList<'_>>(text)
        .map(|l| l.items)
        .map_err(|e| Failure {
            kind: FailureKind::Error,
            message: format!("{path}: not a metrics list: {e}"),
        })
}

async fn get_list(ctx: &SourceCtx, path: &str) -> Result<String, Failure> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| Failure {
            kind: FailureKind::Error,
            message: e.to_string(),
        })?;
    let resp = tokio::time::timeout(ctx.request_timeout, ctx.client.request_text(req))
        .await
        .map_err(|_| Failure {
            kind: FailureKind::Unreachable,
            message: format!(
                "metrics.k8s.io: no answer within {} s",
                ctx.request_timeout.as_secs()
            ),
        })?;
    match resp {
        Ok(text) => Ok(text),
        // not served at all: metrics-server is not installed (no APIService for metrics.k8s.io)
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Failure {
            kind: FailureKind::Error,
            message: format!(
                "{NOT_SERVED} (metrics.k8s.io is not served); showing requests and limits only"
            ),
        }),
        Err(e) => {
            let mut f = classify(&e);
            if matches!(&e, kube::Error::Api(s) if s.code == 503) {
                f.kind = FailureKind::Error;
                f.message = format!(
                    "metrics-server unavailable (metrics.k8s.io: {}); showing requests and limits only",
                    f.message
                );
            }
            Err(f)
        }
    }
}

async fn poll(ctx: &SourceCtx) -> Result<MetricsSnapshot, Failure> {
    let base = "/apis/metrics.k8s.io/v1beta1";
    let pods_path = match &ctx.namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/pods"),
        None => format!("{base}/pods"),
    };
    let nodes_path = format!("{base}/nodes");
    let pods_text = get_list(ctx, &pods_path).await?;
    let nodes_text = get_list(ctx, &nodes_path).await?;
    metrics_snapshot((&pods_path, &pods_text), (&nodes_path, &nodes_text))
}

/// Usage from the metrics.k8s.io answers `(path, text)` for pods and for nodes; an answer that is
/// not a metrics list is an error naming its path.
pub fn metrics_snapshot(
    pods: (&str, &str),
    nodes: (&str, &str),
) -> Result<MetricsSnapshot, Failure> {
    Ok(snapshot(parse(pods.0, pods.1)?, parse(nodes.0, nodes.1)?))
}

fn snapshot(pods: Vec<MetricsItem<'_>>, nodes: Vec<MetricsItem<'_>>) -> MetricsSnapshot {
    let mut snap = MetricsSnapshot::default();
    for p in pods {
        let mut u = Usage::default();
        for c in &p.containers {
            add_usage(&mut u, c.usage.as_ref());
        }
        let key = format!("{}/{}", p.metadata.namespace, p.metadata.name);
        snap.pods.insert(key, u);
    }
    for n in nodes {
        let mut u = Usage::default();
        add_usage(&mut u, n.usage.as_ref());
        snap.nodes.insert(n.metadata.name.into_owned(), u);
    }
    snap
}

fn add_usage(u: &mut Usage, usage: Option<&UsageText<'_>>) {
    let cpu = usage.and_then(|v| v.cpu.as_deref());
    let mem = usage.and_then(|v| v.memory.as_deref());
    u.cpu_m += cpu.and_then(quantity::cpu_milli).unwrap_or(0);
    u.mem_b += mem.and_then(quantity::bytes).unwrap_or(0);
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

    #[test]
    fn metrics_lists_parse_into_usage_without_the_rest() {
        let pods_text = serde_json::json!({
            "kind": "PodMetricsList",
            "metadata": {"resourceVersion": ""},
            "items": [{
                "metadata": {"name": "web-1", "namespace": "shop", "labels": {"app": "web"}},
                "timestamp": "2026-11-29T08:00:00Z", "window": "30s",
                "containers": [
                    {"name": "a", "usage": {"cpu": "250m", "memory": "64Mi"}},
                    {"name": "b", "usage": {"cpu": "1", "memory": "1Gi"}}
                ]
            }, {"metadata": {"name": "bare"}}, {"metadata": {"name": "esc\\aped", "namespace": "shop"}}]
        })
        .to_string();
        let pods = parse("pods", &pods_text).unwrap();
        let nodes_text = serde_json::json!({
            "items": [{"metadata": {"name": "n1"}, "usage": {"cpu": "2", "memory": "2Gi"}}]
        })
        .to_string();
        let nodes = parse("nodes", &nodes_text).unwrap();
        assert!(
            parse("/apis/metrics.k8s.io/v1beta1/pods", "<html>")
                .unwrap_err()
                .message
                .starts_with("/apis/metrics.k8s.io/v1beta1/pods: not a metrics list")
        );
        let snap = snapshot(pods, nodes);
        assert!(
            snap.pods.contains_key("shop/esc\\aped"),
            "an escaped name is decoded"
        );
        assert_eq!(
            snap.pods.get("shop/web-1"),
            Some(&Usage {
                cpu_m: 1250,
                mem_b: (64 << 20) + (1 << 30)
            })
        );
        assert_eq!(snap.pods.get("/bare"), Some(&Usage::default()));
        assert_eq!(
            snap.nodes.get("n1"),
            Some(&Usage {
                cpu_m: 2000,
                mem_b: 2 << 30
            })
        );
    }
}
