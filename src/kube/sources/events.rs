//! Events: `events.k8s.io/v1`, or core `v1` where that API is not served, cluster-wide or in `-n`.
//! After the initial list only the watch; a `410 Gone` re-lists (the store swaps atomically, so the
//! pane keeps its rows meanwhile).

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::events::v1 as ev;
use kube::api::ListParams;
use kube::runtime::watcher;
use kube::{Api, Client};

use super::{SourceCtx, run_watch};
use crate::model::SourceId;
use crate::model::events::EventRow;
use crate::msg::Msg;

fn api<K>(client: &Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    <K as kube::Resource>::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

pub async fn run(ctx: SourceCtx) {
    let ns = ctx.namespace.as_deref();
    let v1: Api<ev::Event> = api(&ctx.client, ns);
    let probe = tokio::time::timeout(
        ctx.request_timeout,
        v1.list(&ListParams::default().limit(1)),
    )
    .await;
    let core_only = matches!(probe, Ok(Err(kube::Error::Api(ref s))) if s.code == 404);
    let config = watcher::Config::default().page_size(500);
    if core_only {
        let _ = ctx.tx.send(Msg::EventsApi("v1".into())).await;
        let api: Api<core::Event> = api(&ctx.client, ns);
        run_watch(
            api,
            config,
            SourceId::Events,
            ctx.tx.clone(),
            core_row,
            key_of,
            Msg::Events,
        )
        .await;
    } else {
        let _ = ctx.tx.send(Msg::EventsApi("events.k8s.io/v1".into())).await;
        run_watch(
            v1,
            config,
            SourceId::Events,
            ctx.tx.clone(),
            v1_row,
            key_of,
            Msg::Events,
        )
        .await;
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

fn micro(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}

/// The node an event is about: the object itself when it is a Node, else the reporting kubelet's host.
fn node_of(
    kind: &str,
    name: &str,
    host: Option<&str>,
    instance: Option<&str>,
    controller: Option<&str>,
) -> String {
    if kind == "Node" {
        return name.to_string();
    }
    if let Some(h) = host.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    if controller == Some("kubelet") {
        return instance.unwrap_or_default().to_string();
    }
    String::new()
}

pub fn v1_row(e: ev::Event) -> EventRow {
    let id = key_of(&e);
    let regarding = e.regarding.unwrap_or_default();
    let kind = regarding.kind.unwrap_or_default();
    let object = regarding.name.unwrap_or_default();
    let first = e
        .deprecated_first_timestamp
        .as_ref()
        .and_then(crate::kube::to_chrono)
        .or_else(|| e.event_time.as_ref().and_then(micro));
    let last = e
        .series
        .as_ref()
        .and_then(|s| micro(&s.last_observed_time))
        .or_else(|| {
            e.deprecated_last_timestamp
                .as_ref()
                .and_then(crate::kube::to_chrono)
        })
        .or_else(|| e.event_time.as_ref().and_then(micro))
        .or(first);
    let count = e
        .series
        .as_ref()
        .map(|s| s.count)
        .or(e.deprecated_count)
        .unwrap_or(1)
        .max(1) as u32;
    let host = e.deprecated_source.as_ref().and_then(|s| s.host.clone());
    EventRow {
        id,
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        reason: e.reason.unwrap_or_default(),
        warning: e.type_.as_deref() == Some("Warning"),
        node: node_of(
            &kind,
            &object,
            host.as_deref(),
            e.reporting_instance.as_deref(),
            e.reporting_controller.as_deref(),
        ),
        kind,
        object,
        message: e.note.unwrap_or_default(),
        count,
        first,
        last,
    }
}

pub fn core_row(e: core::Event) -> EventRow {
    let kind = e.involved_object.kind.clone().unwrap_or_default();
    let object = e.involved_object.name.clone().unwrap_or_default();
    let first = e
        .first_timestamp
        .as_ref()
        .and_then(crate::kube::to_chrono)
        .or_else(|| e.event_time.as_ref().and_then(micro));
    let last = e
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_ref().and_then(micro))
        .or_else(|| e.last_timestamp.as_ref().and_then(crate::kube::to_chrono))
        .or(first);
    let host = e.source.as_ref().and_then(|s| s.host.clone());
    let component = e.source.as_ref().and_then(|s| s.component.clone());
    EventRow {
        id: key_of(&e),
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        reason: e.reason.clone().unwrap_or_default(),
        warning: e.type_.as_deref() == Some("Warning"),
        node: node_of(
            &kind,
            &object,
            host.as_deref(),
            e.reporting_instance.as_deref(),
            e.reporting_component.as_deref().or(component.as_deref()),
        ),
        kind,
        object,
        message: e.message.clone().unwrap_or_default(),
        count: e.count.unwrap_or(1).max(1) as u32,
        first,
        last,
    }
}
