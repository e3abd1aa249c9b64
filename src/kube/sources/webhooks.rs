//! Webhooks: watches of validating and mutating webhook configurations, the Services they call and
//! their ready endpoints (EndpointSlices `discovery.k8s.io/v1` where served, else core/v1 Endpoints),
//! and warning events whose message says `failed calling webhook`.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Endpoints, Event, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;
use kube::runtime::watcher;

use super::{SourceCtx, run_watch};
use crate::model::webhooks::{
    Backend, EndpointsRow, Requirement, RuleRow, Selector, ServiceRow, WebhookConfigRow,
    WebhookEvent, WebhookKind, WebhookRow, WebhooksMsg,
};
use crate::model::{Delta, SourceId};
use crate::msg::Msg;

fn name_of(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    m.name.clone().unwrap_or_default()
}

fn ns_name_of(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    format!("{}/{}", m.namespace.clone().unwrap_or_default(), name_of(m))
}

pub fn selector(s: Option<LabelSelector>) -> Selector {
    let s = s.unwrap_or_default();
    Selector {
        match_labels: s.match_labels.unwrap_or_default(),
        match_expressions: s
            .match_expressions
            .unwrap_or_default()
            .into_iter()
            .map(|r| Requirement {
                key: r.key,
                operator: r.operator,
                values: r.values.unwrap_or_default(),
            })
            .collect(),
    }
}

fn rules(
    r: Option<Vec<k8s_openapi::api::admissionregistration::v1::RuleWithOperations>>,
) -> Vec<RuleRow> {
    r.unwrap_or_default()
        .into_iter()
        .map(|r| RuleRow {
            api_groups: r.api_groups.unwrap_or_default(),
            api_versions: r.api_versions.unwrap_or_default(),
            operations: r.operations.unwrap_or_default(),
            resources: r.resources.unwrap_or_default(),
            scope: r.scope.unwrap_or_default(),
        })
        .collect()
}

fn backend(c: k8s_openapi::api::admissionregistration::v1::WebhookClientConfig) -> Backend {
    match (c.service, c.url) {
        (Some(s), _) => Backend::Service {
            namespace: s.namespace,
            name: s.name,
            path: s.path.unwrap_or_default(),
            port: s.port.unwrap_or(443),
        },
        (None, url) => Backend::Url(url.unwrap_or_default()),
    }
}

fn last_action(m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<String> {
    m.annotations.as_ref().and_then(|a| {
        a.get(crate::kube::executor::LAST_ACTION_ANNOTATION)
            .cloned()
    })
}

/// `ValidatingWebhook` and `MutatingWebhook` are distinct types with the same fields.
macro_rules! webhook_row {
    ($w:expr) => {{
        let w = $w;
        WebhookRow {
            name: w.name,
            failure_policy: w.failure_policy.unwrap_or_else(|| "Fail".into()),
            timeout_seconds: w.timeout_seconds.unwrap_or(10),
            side_effects: w.side_effects,
            rules: rules(w.rules),
            namespace_selector: selector(w.namespace_selector),
            object_selector: selector(w.object_selector),
            backend: backend(w.client_config),
        }
    }};
}

fn config_row(
    kind: WebhookKind,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    webhooks: Vec<WebhookRow>,
) -> WebhookConfigRow {
    WebhookConfigRow {
        kind,
        name: name_of(meta),
        resource_version: meta.resource_version.clone().unwrap_or_default(),
        last_action: last_action(meta),
        webhooks,
    }
}

pub fn validating_row(c: ValidatingWebhookConfiguration) -> WebhookConfigRow {
    let hooks = c
        .webhooks
        .unwrap_or_default()
        .into_iter()
        .map(|w| webhook_row!(w))
        .collect();
    config_row(WebhookKind::Validating, &c.metadata, hooks)
}

pub fn mutating_row(c: MutatingWebhookConfiguration) -> WebhookConfigRow {
    let hooks = c
        .webhooks
        .unwrap_or_default()
        .into_iter()
        .map(|w| webhook_row!(w))
        .collect();
    config_row(WebhookKind::Mutating, &c.metadata, hooks)
}

pub async fn run_validating(ctx: SourceCtx) {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(ctx.client.clone());
    run_watch(
        api,
        super::from_cache(watcher::Config::default()),
        SourceId::Webhooks,
        ctx.tx.clone(),
        validating_row,
        |c| format!("validating/{}", name_of(&c.metadata)),
        |d| Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Validating, d)),
    )
    .await;
}

pub async fn run_mutating(ctx: SourceCtx) {
    let api: Api<MutatingWebhookConfiguration> = Api::all(ctx.client.clone());
    run_watch(
        api,
        super::from_cache(watcher::Config::default()),
        SourceId::Webhooks,
        ctx.tx.clone(),
        mutating_row,
        |c| format!("mutating/{}", name_of(&c.metadata)),
        |d| Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Mutating, d)),
    )
    .await;
}

pub async fn run_services(ctx: SourceCtx) {
    let api: Api<Service> = Api::all(ctx.client.clone());
    run_watch(
        api,
        super::from_cache(watcher::Config::default()),
        SourceId::WebhookBackends,
        ctx.tx.clone(),
        |s: Service| ServiceRow {
            namespace: s.metadata.namespace.clone().unwrap_or_default(),
            name: name_of(&s.metadata),
            selector: s.spec.and_then(|s| s.selector).unwrap_or_default(),
        },
        |s| ns_name_of(&s.metadata),
        |d| Msg::Webhooks(WebhooksMsg::Services(d)),
    )
    .await;
}

pub fn endpoints_row(e: Endpoints) -> EndpointsRow {
    let (mut ready, mut not_ready) = (0, 0);
    for s in e.subsets.unwrap_or_default() {
        ready += s.addresses.map(|a| a.len()).unwrap_or(0);
        not_ready += s.not_ready_addresses.map(|a| a.len()).unwrap_or(0);
    }
    let name = name_of(&e.metadata);
    EndpointsRow {
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        service: name.clone(),
        name,
        ready,
        not_ready,
    }
}

pub fn slice_row(s: EndpointSlice) -> EndpointsRow {
    let (mut ready, mut not_ready) = (0, 0);
    for e in &s.endpoints {
        // a nil `ready` means ready (the API's convention)
        if e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
            ready += 1;
        } else {
            not_ready += 1;
        }
    }
    let labels: BTreeMap<String, String> = s.metadata.labels.clone().unwrap_or_default();
    EndpointsRow {
        namespace: s.metadata.namespace.clone().unwrap_or_default(),
        name: name_of(&s.metadata),
        service: labels
            .get("kubernetes.io/service-name")
            .cloned()
            .unwrap_or_default(),
        ready,
        not_ready,
    }
}

/// EndpointSlices where `discovery.k8s.io/v1` is served, else core/v1 Endpoints.
pub async fn run_endpoints(ctx: SourceCtx) {
    let slices = match ctx
        .client
        .list_api_group_resources("discovery.k8s.io/v1")
        .await
    {
        Ok(l) => l.resources.iter().any(|r| r.name == "endpointslices"),
        Err(_) => false,
    };
    let wrap = |d| Msg::Webhooks(WebhooksMsg::Endpoints(d));
    if slices {
        let api: Api<EndpointSlice> = Api::all(ctx.client.clone());
        run_watch(
            api,
            super::from_cache(watcher::Config::default()),
            SourceId::WebhookBackends,
            ctx.tx.clone(),
            slice_row,
            |s| ns_name_of(&s.metadata),
            wrap,
        )
        .await;
    } else {
        let api: Api<Endpoints> = Api::all(ctx.client.clone());
        run_watch(
            api,
            super::from_cache(watcher::Config::default()),
            SourceId::WebhookBackends,
            ctx.tx.clone(),
            endpoints_row,
            |e| ns_name_of(&e.metadata),
            wrap,
        )
        .await;
    }
}

/// A warning event that names a failing webhook, or `None`.
pub fn event_row(e: Event) -> Option<WebhookEvent> {
    let message = e.message.clone().unwrap_or_default();
    let webhook = WebhookEvent::parse_webhook(&message)?;
    Some(WebhookEvent {
        namespace: e.metadata.namespace.clone().unwrap_or_default(),
        name: name_of(&e.metadata),
        webhook,
        reason: e.reason.clone().unwrap_or_default(),
        timed_out: WebhookEvent::is_timeout(&message),
        message,
        count: e.count.unwrap_or(1),
        last: e
            .last_timestamp
            .as_ref()
            .or(e.first_timestamp.as_ref())
            .and_then(crate::kube::to_chrono),
    })
}

pub async fn run_events(ctx: SourceCtx) {
    let api: Api<Event> = Api::all(ctx.client.clone());
    run_watch(
        api,
        watcher::Config::default()
            .fields("type=Warning")
            .page_size(500),
        SourceId::WebhookEvents,
        ctx.tx.clone(),
        |e: Event| {
            let key = ns_name_of(&e.metadata);
            event_row(e).ok_or(key)
        },
        |e| ns_name_of(&e.metadata),
        |d| {
            // events that do not name a webhook are never stored: they become a delete of their key,
            // which changes nothing (and so triggers no re-evaluation)
            let d = match d {
                Delta::Init => Delta::Init,
                Delta::InitDone => Delta::InitDone,
                Delta::InitApply(Ok(r)) => Delta::InitApply(r),
                Delta::Apply(Ok(r)) => Delta::Apply(r),
                Delta::InitApply(Err(k)) | Delta::Apply(Err(k)) | Delta::Delete(k) => {
                    Delta::Delete(k)
                }
            };
            Msg::Webhooks(WebhooksMsg::Events(d))
        },
    )
    .await;
}
