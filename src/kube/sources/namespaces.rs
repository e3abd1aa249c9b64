//! Namespaces: a full-object watch (`spec.finalizers` and `status` are not in metadata), an
//! APIService watch, and a content scan of Terminating namespaces (discovery cached once per run; a
//! broken API group is recorded and skipped, never the end of the scan). While the API server does
//! not answer, a scan round stops at its first unanswered request and the last content stays.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::runtime::watcher;
use kube::{Api, Client};

use super::{SourceCtx, classify, run_watch};
use crate::model::namespaces::{
    ApiServiceRow, Condition, HeldObject, NsContent, NsMsg, NsRow, RemainingKind,
};
use crate::model::{Delta, Failure, FailureKind, SourceId};
use crate::msg::Msg;

/// How often Terminating namespaces are scanned for what remains in them: every 10 s after a change,
/// doubling while nothing changes, to [`CONTENT_MAX`].
pub const CONTENT_EVERY: Duration = Duration::from_secs(10);
/// The longest wait between two scans while nothing changes. A change seen on the Terminating
/// namespaces themselves (the namespace controller updates their conditions as content goes) or
/// an action of this console rescans at once and starts over at [`CONTENT_EVERY`].
pub const CONTENT_MAX: Duration = Duration::from_secs(80);
/// Upper bound of one group's discovery request.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn run(ctx: SourceCtx) {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    run_watch(
        api,
        super::from_cache(watcher::Config::default()),
        SourceId::Namespaces,
        ctx.tx.clone(),
        row,
        |ns: &Namespace| ns.metadata.name.clone().unwrap_or_default(),
        Msg::Namespaces,
    )
    .await;
}

pub fn row(ns: Namespace) -> NsRow {
    let meta = ns.metadata;
    let status = ns.status.unwrap_or_default();
    NsRow {
        name: meta.name.unwrap_or_default(),
        phase: status.phase.unwrap_or_else(|| "Active".into()),
        created: meta
            .creation_timestamp
            .as_ref()
            .and_then(crate::kube::to_chrono),
        deleting_since: meta
            .deletion_timestamp
            .as_ref()
            .and_then(crate::kube::to_chrono),
        spec_finalizers: ns.spec.and_then(|s| s.finalizers).unwrap_or_default(),
        meta_finalizers: meta.finalizers.unwrap_or_default(),
        labels: meta.labels.unwrap_or_default(),
        conditions: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(|c| Condition {
                type_: c.type_,
                status: c.status,
                reason: c.reason.unwrap_or_default(),
                message: c.message.unwrap_or_default(),
            })
            .collect(),
        resource_version: meta.resource_version.unwrap_or_default(),
    }
}

pub async fn run_apiservices(ctx: SourceCtx) {
    let api: Api<APIService> = Api::all(ctx.client.clone());
    run_watch(
        api,
        super::from_cache(watcher::Config::default()),
        SourceId::ApiServices,
        ctx.tx.clone(),
        apiservice_row,
        |a: &APIService| a.metadata.name.clone().unwrap_or_default(),
        |d| Msg::NsPane(NsMsg::ApiServices(d)),
    )
    .await;
}

pub fn apiservice_row(a: APIService) -> ApiServiceRow {
    let spec = a.spec.unwrap_or_default();
    let cond = a
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Available");
    ApiServiceRow {
        name: a.metadata.name.unwrap_or_default(),
        group: spec.group.unwrap_or_default(),
        version: spec.version.unwrap_or_default(),
        service: spec.service.map(|s| {
            format!(
                "{}/{}",
                s.namespace.unwrap_or_default(),
                s.name.unwrap_or_default()
            )
        }),
        available: cond.as_ref().map(|c| c.status == "True"),
        reason: cond
            .as_ref()
            .and_then(|c| c.reason.clone())
            .unwrap_or_default(),
        message: cond.and_then(|c| c.message).unwrap_or_default(),
    }
}

/// Namespaced, listable resource kinds, discovered once, except Secrets (ktriage never reads them:
/// a Secret left in a Terminating namespace is not listed as content). Groups whose discovery fails
/// are recorded; an API server that does not answer at all is an error (nothing more is asked).
/// Each discovery request is bounded by `timeout` (the client retries a 503 with backoff: an
/// unavailable aggregated API would otherwise hold the scan for many seconds).
pub async fn discover(
    client: &Client,
    timeout: Duration,
) -> Result<(Vec<ApiResource>, Vec<String>), Failure> {
    let mut out = Vec::new();
    let mut broken = Vec::new();
    let mut push =
        |group: &str,
         version: &str,
         list: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList| {
            for r in list.resources {
                if !r.namespaced || r.name.contains('/') || !r.verbs.iter().any(|v| v == "list") {
                    continue;
                }
                // events are noise here, and two views of the same objects would be counted twice
                if r.name == "events" && !group.is_empty() {
                    continue;
                }
                if r.name == "secrets" {
                    continue;
                }
                out.push(ApiResource {
                    group: group.to_string(),
                    version: version.to_string(),
                    api_version: if group.is_empty() {
                        version.to_string()
                    } else {
                        format!("{group}/{version}")
                    },
                    kind: r.kind,
                    plural: r.name,
                });
            }
        };
    match client.list_core_api_resources("v1").await {
        Ok(l) => push("", "v1", l),
        Err(e) => {
            let f = classify(&e);
            if f.kind == FailureKind::Unreachable {
                return Err(f);
            }
            broken.push(format!("core/v1: {}", f.message));
        }
    }
    // groups served by an unavailable APIService are known broken: skip them without waiting
    let mut unavailable = BTreeMap::new();
    if let Ok(list) = Api::<APIService>::all(client.clone())
        .list(&ListParams::default().match_any())
        .await
    {
        for a in list.items.into_iter().map(apiservice_row) {
            if a.available == Some(false) {
                unavailable.insert(format!("{}/{}", a.group, a.version), a);
            }
        }
    }
    match client.list_api_groups().await {
        Ok(groups) => {
            for g in groups.groups {
                let Some(v) = g.preferred_version.or_else(|| g.versions.first().cloned()) else {
                    continue;
                };
                if let Some(a) = unavailable.get(&v.group_version) {
                    broken.push(format!(
                        "{}: APIService {} unavailable ({})",
                        v.group_version, a.name, a.reason
                    ));
                    continue;
                }
                match tokio::time::timeout(
                    timeout,
                    client.list_api_group_resources(&v.group_version),
                )
                .await
                {
                    Ok(Ok(l)) => push(&g.name, &v.version, l),
                    Ok(Err(e)) => {
                        broken.push(format!("{}: {}", v.group_version, classify(&e).message))
                    }
                    Err(_) => broken.push(format!(
                        "{}: no answer within {} s",
                        v.group_version,
                        timeout.as_secs_f32()
                    )),
                }
            }
        }
        Err(e) => broken.push(format!("/apis: {}", classify(&e).message)),
    }
    Ok((out, broken))
}

/// List what remains in one namespace; a failing list is recorded as broken and skipped, except when
/// the API server does not answer: then the scan stops there (an error, nothing more is asked).
pub async fn scan(
    client: &Client,
    ns: &str,
    kinds: &[ApiResource],
    broken: &[String],
) -> Result<NsContent, Failure> {
    let mut content = NsContent {
        namespace: ns.to_string(),
        broken: broken.to_vec(),
        ..NsContent::default()
    };
    for ar in kinds {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, ar);
        match api.list(&ListParams::default().match_any()).await {
            Ok(list) if list.items.is_empty() => {}
            Ok(list) => {
                let held = list
                    .items
                    .iter()
                    .filter_map(|o| {
                        let f = o.metadata.finalizers.clone().unwrap_or_default();
                        (!f.is_empty()).then(|| HeldObject {
                            name: o.metadata.name.clone().unwrap_or_default(),
                            finalizers: f,
                            resource_version: o
                                .metadata
                                .resource_version
                                .clone()
                                .unwrap_or_default(),
                        })
                    })
                    .collect();
                content.kinds.push(RemainingKind {
                    api_version: ar.api_version.clone(),
                    kind: ar.kind.clone(),
                    plural: ar.plural.clone(),
                    count: list.items.len(),
                    held,
                });
            }
            Err(e) => {
                let f = classify(&e);
                if f.kind == FailureKind::Unreachable {
                    return Err(f);
                }
                content
                    .broken
                    .push(format!("{}/{}: {}", ar.api_version, ar.plural, f.message));
            }
        }
    }
    Ok(content)
}

/// Scan each Terminating namespace every [`CONTENT_EVERY`] (doubling to [`CONTENT_MAX`] while the
/// result stays the same), and at once when a Terminating namespace changes (the set, or one's
/// status: the namespace controller rewrites its conditions as content goes) or this console's
/// action finished. The set comes from a watch with the field selector `status.phase=Terminating`
/// (a healthy cluster's watch is silent); listing it every 10 s was a LIST in steady state.
pub async fn run_content(ctx: SourceCtx) {
    use futures::StreamExt;
    use kube::runtime::WatchStreamExt;
    let client = ctx.client.clone();
    let mut discovered: Option<(Vec<ApiResource>, Vec<String>)> = None;
    let config = watcher::Config {
        timeout: Some(super::WATCH_TIMEOUT_SECS),
        ..super::from_cache(watcher::Config::default().fields("status.phase=Terminating"))
    };
    let nss: Api<Namespace> = Api::all(client.clone());
    let mut events = watcher(nss, config)
        .backoff(super::resume::WatchBackoff::default())
        .boxed();
    let mut terminating = Terminating::default();
    let mut pace = Pace::default();
    let mut acted = ctx.acted.clone();
    let mut acted_open = true;
    loop {
        tokio::select! {
            ev = events.next() => {
                match ev {
                    Some(Ok(ev)) => {
                        if terminating.apply(ev) {
                            pace.reset();
                        }
                    }
                    Some(Err(e)) => {
                        let f = super::classify_watch(&e);
                        if ctx.tx.send(Msg::SourceFailed(SourceId::NsContent, f)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    None => return,
                }
                if !terminating.synced || !pace.due() {
                    continue;
                }
            }
            changed = acted.changed(), if acted_open => {
                // a closed channel (no console behind it) is never asked again
                acted_open = changed.is_ok();
                if !acted_open {
                    continue;
                }
                pace.reset();
            }
            _ = tokio::time::sleep_until(pace.next), if terminating.synced => {}
        }
        let round = content_round(&ctx, &mut discovered, &terminating.names).await;
        pace.scanned(round.as_ref().ok());
        match round {
            Ok(found) => {
                let mut msgs = vec![Delta::Init];
                msgs.extend(found.into_values().map(Delta::InitApply));
                msgs.push(Delta::InitDone);
                for d in msgs {
                    if ctx.tx.send(Msg::NsPane(NsMsg::Content(d))).await.is_err() {
                        return;
                    }
                }
            }
            // the API server does not answer: the last content stays, marked stale
            Err(f) => {
                if ctx
                    .tx
                    .send(Msg::SourceFailed(SourceId::NsContent, f))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// The Terminating namespaces (those with a deletionTimestamp) as the field-selected watch tells
/// them, and a re-list in progress.
#[derive(Default)]
struct Terminating {
    names: std::collections::BTreeSet<String>,
    pending: Option<std::collections::BTreeSet<String>>,
    synced: bool,
}

impl Terminating {
    /// Apply one event; true when the content is to be scanned at once: the first list, a changed
    /// set, or a Terminating namespace that changed (the namespace controller rewrites its
    /// conditions as content goes).
    fn apply(&mut self, ev: watcher::Event<Namespace>) -> bool {
        let deleting = |n: &Namespace| {
            n.metadata
                .deletion_timestamp
                .is_some()
                .then(|| n.metadata.name.clone().unwrap_or_default())
        };
        match ev {
            watcher::Event::Init => {
                self.pending = Some(Default::default());
                false
            }
            watcher::Event::InitApply(n) => {
                if let (Some(p), Some(name)) = (self.pending.as_mut(), deleting(&n)) {
                    p.insert(name);
                }
                false
            }
            watcher::Event::InitDone => {
                let names = self.pending.take().unwrap_or_default();
                let first = !self.synced;
                self.synced = true;
                let changed = names != self.names;
                self.names = names;
                first || changed
            }
            watcher::Event::Apply(n) => {
                let name = n.metadata.name.clone().unwrap_or_default();
                match deleting(&n) {
                    Some(_) => {
                        self.names.insert(name);
                        true
                    }
                    None => self.names.remove(&name),
                }
            }
            watcher::Event::Delete(n) => self
                .names
                .remove(n.metadata.name.as_deref().unwrap_or_default()),
        }
    }
}

/// When the content scan runs next: [`CONTENT_EVERY`] after a scan whose result changed, twice the
/// last wait (to [`CONTENT_MAX`]) after one that found the same, at once after [`Pace::reset`].
struct Pace {
    next: tokio::time::Instant,
    every: Duration,
    last: Option<BTreeMap<String, NsContent>>,
}

impl Default for Pace {
    fn default() -> Self {
        Pace {
            next: tokio::time::Instant::now(),
            every: CONTENT_EVERY,
            last: None,
        }
    }
}

impl Pace {
    /// Something changed: scan at once, then at the short interval.
    fn reset(&mut self) {
        self.every = CONTENT_EVERY;
        self.next = tokio::time::Instant::now();
    }

    fn due(&self) -> bool {
        tokio::time::Instant::now() >= self.next
    }

    /// A scan ended with `found` (`None`: the API server did not answer; the wait stays).
    fn scanned(&mut self, found: Option<&BTreeMap<String, NsContent>>) {
        if let Some(found) = found {
            if self.last.as_ref() == Some(found) {
                self.every = (self.every * 2).min(CONTENT_MAX);
            } else {
                self.every = CONTENT_EVERY;
                self.last = Some(found.clone());
            }
        }
        self.next = tokio::time::Instant::now() + self.every;
    }
}

/// One scan of every Terminating namespace (discovery cached; retried only while some group is
/// broken). Stops at the first request the API server does not answer.
async fn content_round(
    ctx: &SourceCtx,
    discovered: &mut Option<(Vec<ApiResource>, Vec<String>)>,
    terminating: &std::collections::BTreeSet<String>,
) -> Result<BTreeMap<String, NsContent>, Failure> {
    if terminating.is_empty() {
        return Ok(BTreeMap::new());
    }
    if discovered.as_ref().is_none_or(|(_, b)| !b.is_empty()) {
        let t = ctx.request_timeout.min(DISCOVERY_TIMEOUT);
        *discovered = Some(discover(&ctx.client, t).await?);
    }
    let (kinds, broken) = discovered.clone().unwrap_or_default();
    let mut found = BTreeMap::new();
    for name in terminating {
        let c = scan(&ctx.client, name, &kinds, &broken).await?;
        found.insert(name.clone(), c);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(rv: &str) -> BTreeMap<String, NsContent> {
        let content = NsContent {
            namespace: "shop".into(),
            kinds: vec![RemainingKind {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
                count: 1,
                held: vec![HeldObject {
                    name: "held".into(),
                    finalizers: vec!["example.com/hold".into()],
                    resource_version: rv.into(),
                }],
            }],
            ..NsContent::default()
        };
        BTreeMap::from([("shop".to_string(), content)])
    }

    #[tokio::test]
    async fn the_content_scan_backs_off_while_nothing_changes_and_starts_over_on_a_change() {
        let mut pace = Pace::default();
        assert!(pace.due(), "the first scan is at once");
        let mut waits = Vec::new();
        for _ in 0..5 {
            pace.scanned(Some(&found("1")));
            waits.push(pace.every.as_secs());
        }
        assert_eq!(waits, vec![10, 20, 40, 80, 80]);
        assert!(!pace.due());
        // an unanswered scan keeps the wait
        pace.scanned(None);
        assert_eq!(pace.every, CONTENT_MAX);
        // the held object changed: back to the short interval
        pace.scanned(Some(&found("2")));
        assert_eq!(pace.every, CONTENT_EVERY);
        pace.scanned(Some(&found("2")));
        assert_eq!(pace.every.as_secs(), 20);
        // a namespace change or an action: at once, then the short interval
        pace.reset();
        assert!(pace.due());
        assert_eq!(pace.every, CONTENT_EVERY);
    }
}
