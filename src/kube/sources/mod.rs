//! Sources: one tokio task each, sending `Msg`s over the bounded channel. Watch where possible
//! (kube-runtime `watcher` with backoff), poll only what cannot be watched.

mod api;
pub mod crash_logs;
pub mod etcd;
pub mod etcd_exec;
pub mod etcd_logs;
pub mod etcd_snapshots;
pub mod events;
pub mod leaders;
pub mod metrics;
pub mod namespaces;
pub mod nodes;
pub mod pod_list;
pub mod pod_view;
pub mod resume;
pub mod root_ca;
pub mod streamed;
pub mod top;
pub mod view;
pub mod webhooks;

use std::fmt::Debug;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use crate::model::{Delta, Failure, FailureKind, SourceId};
use crate::msg::Msg;

pub use api::probe_api;

/// Everything sources need to start.
#[derive(Clone)]
pub struct SourceCtx {
    pub client: Client,
    pub tx: Sender<Msg>,
    /// `-n`: scope of namespaced sources.
    pub namespace: Option<String>,
    pub api_probe: Duration,
    pub backoff_cap: Duration,
    pub request_timeout: Duration,
    /// metrics.k8s.io poll interval (`[top] metrics_secs`).
    pub metrics_every: Duration,
    /// The crash-looping containers the loop offers (`crash_logs::Wanted`), whose previous logs
    /// the crash-log source reads.
    pub crashing: tokio::sync::watch::Receiver<Vec<(String, u32)>>,
    /// This console's finished actions ([`Acted`]): what they change is looked at again at once.
    pub acted: tokio::sync::watch::Receiver<u64>,
}

/// Counts this console's finished actions, so a source that polls (the Terminating-namespace
/// content scan) looks again at once instead of at its next round.
#[derive(Debug, Clone)]
pub struct Acted(std::sync::Arc<tokio::sync::watch::Sender<u64>>);

impl Default for Acted {
    fn default() -> Self {
        Acted(std::sync::Arc::new(tokio::sync::watch::Sender::new(0)))
    }
}

impl Acted {
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }

    /// An action finished (applied or not: either way the cluster may have changed).
    pub fn bump(&self) {
        self.0.send_modify(|n| *n += 1);
    }
}

/// Start every source. The returned handles are aborted when the app stops.
pub fn start_all(ctx: &SourceCtx) -> Vec<JoinHandle<()>> {
    let etcd_pods = etcd_logs::PodNames::default();
    vec![
        tokio::spawn(probe_api(ctx.clone())),
        tokio::spawn(namespaces::run(ctx.clone())),
        tokio::spawn(nodes::run(ctx.clone())),
        tokio::spawn(etcd_logs::run(ctx.clone(), etcd_pods.subscribe())),
        tokio::spawn(etcd::pods(ctx.clone(), etcd_pods)),
        tokio::spawn(etcd_snapshots::run(ctx.clone())),
        tokio::spawn(leaders::run(ctx.clone())),
        tokio::spawn(events::run(ctx.clone())),
        tokio::spawn(top::pods(ctx.clone())),
        tokio::spawn(top::replicasets(ctx.clone())),
        tokio::spawn(crash_logs::run(ctx.clone())),
        tokio::spawn(root_ca::run(ctx.clone())),
        tokio::spawn(top::metrics(ctx.clone(), ctx.metrics_every)),
        tokio::spawn(namespaces::run_apiservices(ctx.clone())),
        tokio::spawn(namespaces::run_content(ctx.clone())),
        tokio::spawn(webhooks::run_validating(ctx.clone())),
        tokio::spawn(webhooks::run_mutating(ctx.clone())),
        tokio::spawn(webhooks::run_services(ctx.clone())),
        tokio::spawn(webhooks::run_endpoints(ctx.clone())),
        tokio::spawn(webhooks::run_events(ctx.clone())),
    ]
}

/// A watch's first list from the API server's watch cache (`resourceVersion=0`: no etcd read)
/// instead of a quorum read from etcd paginated by 500, which at 50,000 pods is ~100 etcd range
/// reads per start, from every console that opens during an etcd incident. The cache answers whole
/// (it ignores `limit`), so this is for kinds whose list is small or narrowed by a selector, and
/// for pods through [`pod_list`] (decoded into rows as they arrive). Nodes and Events keep paginated quorum
/// lists: Events have no watch cache in kube-apiserver's defaults (a `resourceVersion=0` list is
/// read from etcd whole), and 5,000 full Node objects (their image lists) would arrive at once.
/// A re-list after `410 Gone` asks the cache again.
pub fn from_cache(config: watcher::Config) -> watcher::Config {
    let mut config = config.any_semantic();
    config.page_size = None;
    config
}

/// Server-side timeout of every watch request (`timeoutSeconds`) unless the caller sets one.
/// kube-runtime's watcher treats a stream that stays silent for this plus 5 s as dead and re-watches
/// from its last resourceVersion, so a hung watch (connection open, nothing arriving) is restarted
/// within 60 s; a healthy quiet watch is ended by the server first and resumes without a re-list.
pub const WATCH_TIMEOUT_SECS: u32 = 55;

/// kube-runtime's margin over a watch's `timeoutSeconds` before it calls a silent stream dead.
pub const WATCH_IDLE_MARGIN_SECS: u32 = 5;

/// A hung watch (connection open, nothing arriving, never closed) is dropped and re-watched from its
/// resourceVersion this long after the last thing it delivered: 60 s.
pub const HUNG_WATCH_BOUND_SECS: u32 = WATCH_TIMEOUT_SECS + WATCH_IDLE_MARGIN_SECS;

/// Drive a `watcher` for `K`, reducing objects to rows with `row` and wrapping deltas with `wrap`.
/// Errors are reported as `SourceFailed` and the watcher retries with its backoff; a `410 Gone` makes
/// it re-list (an `Init` … `InitDone` sequence, applied atomically by the store). A forbidden list
/// says what is missing: `needs list <resource> in <namespace>`.
pub async fn run_watch<K, T>(
    api: Api<K>,
    config: watcher::Config,
    id: SourceId,
    tx: Sender<Msg>,
    row: impl Fn(K) -> T,
    key: impl Fn(&K) -> String,
    wrap: impl Fn(Delta<T>) -> Msg,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
    K::Scope: 'static,
{
    let convert = Convert { row, key, wrap };
    watch_loop(api, config, id, tx, convert, Listed::default()).await;
}

/// How a watch's objects become messages.
pub struct Convert<R, Ky, W> {
    pub row: R,
    pub key: Ky,
    pub wrap: W,
}

/// Rows decoded from a list answer on its way in (by the client, [`pod_list::pod_lists`]) instead of
/// by the watcher: the watcher is handed the list without its items, and the rows are sent between
/// its `Init` and `InitDone`. Rows of a list that failed part-way never get here; what a failed
/// attempt left is dropped when the watcher starts again (`Init`).
#[derive(Debug)]
pub struct Listed<T>(std::sync::Arc<std::sync::Mutex<Vec<T>>>);

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed(Default::default())
    }
}

impl<T> Clone for Listed<T> {
    fn clone(&self) -> Self {
        Listed(self.0.clone())
    }
}

impl<T> Listed<T> {
    /// A list page's rows, decoded whole.
    pub fn put(&self, rows: Vec<T>) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if held.is_empty() {
            *held = rows;
        } else {
            held.extend(rows); // a further page
        }
    }

    /// Every row put since the last take.
    pub fn take(&self) -> Vec<T> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// [`run_watch`], with the rows of list answers decoded by the client (`listed`).
pub async fn watch_loop<K, T, R, Ky, W>(
    api: Api<K>,
    config: watcher::Config,
    id: SourceId,
    tx: Sender<Msg>,
    convert: Convert<R, Ky, W>,
    listed: Listed<T>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
    K::Scope: 'static,
    R: Fn(K) -> T,
    Ky: Fn(&K) -> String,
    W: Fn(Delta<T>) -> Msg,
{
    let Convert { row, key, wrap } = convert;
    let mut config = config;
    config.timeout.get_or_insert(WATCH_TIMEOUT_SECS);
    let cluster_scoped = std::any::TypeId::of::<K::Scope>()
        == std::any::TypeId::of::<k8s_openapi::ClusterResourceScope>();
    let scope = match api.namespace() {
        Some(ns) => format!("namespace {ns}"),
        None if cluster_scoped => "the cluster".to_string(),
        None => "all namespaces".to_string(),
    };
    let needs = format!(
        "needs list {} in {scope}",
        K::plural(&K::DynamicType::default())
    );
    let (api, starts) = resume::observed(api);
    let mut stream = watcher::watcher(api, config)
        .backoff(resume::WatchBackoff::default())
        .boxed();
    // after an error: the watch-start count then; a higher count means the watch is back
    let mut failing: Option<u64> = None;
    let mut check = tokio::time::interval(Duration::from_millis(250));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            _ = check.tick(), if failing.is_some() => {
                if failing.is_some_and(|n| starts.count() > n) {
                    failing = None;
                    // no rows change (nothing is pending after a watch restart): the source is live
                    if tx.send(wrap(Delta::InitDone)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        };
        let Some(item) = item else { return };
        let msg = match item {
            Ok(Event::Init) => {
                drop(listed.take()); // a failed attempt's, if any
                wrap(Delta::Init)
            }
            Ok(Event::InitApply(o)) => wrap(Delta::InitApply(row(o))),
            Ok(Event::InitDone) => {
                for r in listed.take() {
                    if tx.send(wrap(Delta::InitApply(r))).await.is_err() {
                        return;
                    }
                }
                wrap(Delta::InitDone)
            }
            Ok(Event::Apply(o)) => wrap(Delta::Apply(row(o))),
            Ok(Event::Delete(o)) => wrap(Delta::Delete(key(&o))),
            Err(e) => {
                tracing::debug!(source = %id, error = %e, "watch error");
                failing = Some(starts.count());
                Msg::SourceFailed(id, needs_access(classify_watch(&e), &needs))
            }
        };
        if tx.send(msg).await.is_err() {
            return; // the app is gone
        }
    }
}

/// A forbidden failure names the access it lacks first: `needs list pods in namespace shop (403 …)`.
pub fn needs_access(failure: Failure, needs: &str) -> Failure {
    if failure.kind != FailureKind::Forbidden || !failure.message.starts_with("403") {
        return failure;
    }
    Failure {
        kind: failure.kind,
        message: format!("{needs} ({})", failure.message),
    }
}

fn classify_watch(e: &watcher::Error) -> Failure {
    match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k) => classify(k),
        watcher::Error::WatchError(status) => {
            status_failure(status.code, &status.reason, &status.message)
        }
        other => Failure {
            kind: FailureKind::Error,
            message: other.to_string(),
        },
    }
}

/// Turn a client error into what a pane says: unreachable (with the transport's reason), forbidden, or
/// the server's own error.
pub fn classify(e: &kube::Error) -> Failure {
    match e {
        kube::Error::Api(status) => status_failure(status.code, &status.reason, &status.message),
        kube::Error::SerdeError(err) => Failure {
            kind: FailureKind::Error,
            message: format!("unreadable response from the API server: {err}"),
        },
        kube::Error::FromUtf8(err) => Failure {
            kind: FailureKind::Error,
            message: format!("unreadable response from the API server (not UTF-8): {err}"),
        },
        other if crate::kube::gate::is_refusal(other) => Failure {
            kind: FailureKind::Error,
            message: crate::text::error_chain(other),
        },
        other => Failure {
            kind: FailureKind::Unreachable,
            message: transport_reason(other),
        },
    }
}

fn status_failure(code: u16, reason: &str, message: &str) -> Failure {
    let kind = if code == 401 || code == 403 {
        FailureKind::Forbidden
    } else {
        FailureKind::Error
    };
    let reason = if reason.is_empty() { "Error" } else { reason };
    Failure {
        kind,
        message: format!("{code} {reason}: {message}"),
    }
}

/// The most useful part of a transport error chain: the innermost causes, e.g.
/// `tcp connect error: Connection refused (os error 111)`.
fn transport_reason(e: &kube::Error) -> String {
    let chain = crate::text::error_chain(e);
    let parts: Vec<&str> = chain.split(": ").collect();
    // drop the generic wrappers kube and hyper put in front
    let skip = parts
        .iter()
        .take_while(|p| {
            p.starts_with("ServiceError")
                || p.starts_with("HyperError")
                || p.starts_with("client error")
                || p.starts_with("error trying to connect")
        })
        .count();
    let tail = parts[skip.min(parts.len().saturating_sub(1))..].join(": ");
    if tail.is_empty() { chain } else { tail }
}

/// Exponential backoff with jitter: 1 s, 2 s, 4 s … capped.
pub fn next_backoff(current: Duration, cap: Duration) -> Duration {
    let doubled = current.saturating_mul(2).min(cap);
    let jitter = doubled.as_millis() as u64 / 10;
    let j = if jitter > 0 {
        fastrand::u64(0..=jitter)
    } else {
        0
    };
    (doubled.saturating_sub(Duration::from_millis(jitter / 2)) + Duration::from_millis(j)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap() {
        let cap = Duration::from_secs(30);
        let mut d = Duration::from_secs(1);
        let mut seen = Vec::new();
        for _ in 0..10 {
            d = next_backoff(d, cap);
            seen.push(d);
        }
        assert!(
            seen[0] >= Duration::from_millis(1900) && seen[0] <= Duration::from_millis(2100),
            "{seen:?}"
        );
        assert!(seen.iter().all(|d| *d <= cap));
        // at the cap, jitter spreads retries over the last 5 % below it
        let last = *seen.last().unwrap_or(&Duration::ZERO);
        assert!(
            last >= Duration::from_millis(28_500) && last <= cap,
            "{seen:?}"
        );
    }

    #[test]
    fn forbidden_is_classified() {
        let f = status_failure(
            403,
            "Forbidden",
            "namespaces is forbidden: User \"jane\" cannot list",
        );
        assert_eq!(f.kind, FailureKind::Forbidden);
        assert!(
            f.message
                .starts_with("403 Forbidden: namespaces is forbidden")
        );
        assert_eq!(status_failure(503, "", "x").kind, FailureKind::Error);
    }
}
