//! Webhooks pane state: validating and mutating webhook configurations, the Services and ready
//! endpoints they call, and warning events that say `failed calling webhook`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Delta, Keyed, SourceId, SourceState, Store};

pub use crate::shared::kinds::WebhookKind;

/// A `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Selector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<Requirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    pub values: Vec<String>,
}

impl Selector {
    /// An empty selector matches everything (as the API server treats it).
    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let got = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => got.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => got.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => got.is_some(),
                    "DoesNotExist" => got.is_none(),
                    _ => false, // an invalid selector matches nothing
                }
            })
    }

    /// `k=v, k2 notin (a,b)` as kubectl prints it; `(all)` when empty.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "(all)".into();
        }
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            parts.push(match r.operator.as_str() {
                "Exists" => r.key.clone(),
                "DoesNotExist" => format!("!{}", r.key),
                op => format!("{} {} ({})", r.key, op.to_lowercase(), r.values.join(",")),
            });
        }
        parts.join(", ")
    }
}

/// One rule of a webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleRow {
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub operations: Vec<String>,
    pub resources: Vec<String>,
    pub scope: String,
}

impl RuleRow {
    /// Whether the rule matches `operation` on core/v1 `resource` (no subresource).
    pub fn matches_core(&self, operation: &str, resource: &str) -> bool {
        let has = |l: &[String], w: &str| l.iter().any(|x| x == "*" || x == w);
        has(&self.api_groups, "")
            && has(&self.api_versions, "v1")
            && has(&self.operations, operation)
            && self
                .resources
                .iter()
                .any(|r| r == "*" || r == "*/*" || r == resource)
            && matches!(self.scope.as_str(), "" | "*" | "Namespaced")
    }
}

/// Where a webhook is called.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Backend {
    Service {
        namespace: String,
        name: String,
        path: String,
        port: i32,
    },
    Url(String),
}

impl Default for Backend {
    fn default() -> Self {
        Backend::Url(String::new())
    }
}

impl Backend {
    pub fn describe(&self) -> String {
        match self {
            Backend::Service {
                namespace,
                name,
                port,
                path,
            } => format!("{namespace}/{name}:{port}{path}"),
            Backend::Url(u) => u.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookRow {
    pub name: String,
    /// `Fail` (the default) or `Ignore`.
    pub failure_policy: String,
    pub timeout_seconds: i32,
    pub side_effects: String,
    pub rules: Vec<RuleRow>,
    pub namespace_selector: Selector,
    pub object_selector: Selector,
    pub backend: Backend,
}

impl WebhookRow {
    pub fn matches(&self, operation: &str, resource: &str) -> bool {
        self.rules
            .iter()
            .any(|r| r.matches_core(operation, resource))
    }
}

/// One webhook configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookConfigRow {
    pub kind: WebhookKind,
    pub name: String,
    pub resource_version: String,
    pub webhooks: Vec<WebhookRow>,
    /// `ktriage.io/last-action`, when ktriage changed it.
    pub last_action: Option<String>,
}

impl Keyed for WebhookConfigRow {
    fn key(&self) -> String {
        format!("{}/{}", self.kind.short(), self.name)
    }
}

/// A Service a webhook may call (only the selector matters: it names the backend's pods' labels).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceRow {
    pub namespace: String,
    pub name: String,
    pub selector: BTreeMap<String, String>,
}

impl Keyed for ServiceRow {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Ready addresses of one Endpoints object or EndpointSlice.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EndpointsRow {
    pub namespace: String,
    /// The object's own name (a slice's name differs from its service's).
    pub name: String,
    pub service: String,
    pub ready: usize,
    pub not_ready: usize,
}

impl Keyed for EndpointsRow {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// A warning event whose message says `failed calling webhook "NAME"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookEvent {
    pub namespace: String,
    pub name: String,
    pub webhook: String,
    pub reason: String,
    pub message: String,
    pub count: i32,
    pub last: Option<DateTime<Utc>>,
    /// The call timed out (`deadline exceeded`, `Client.Timeout`, `timeout`).
    pub timed_out: bool,
}

impl Keyed for WebhookEvent {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl WebhookEvent {
    /// The webhook name from `failed calling webhook "NAME"`, if the message has one.
    pub fn parse_webhook(message: &str) -> Option<String> {
        let rest = message.split("failed calling webhook \"").nth(1)?;
        Some(rest.split('"').next()?.to_string())
    }

    pub fn is_timeout(message: &str) -> bool {
        let m = message.to_ascii_lowercase();
        m.contains("deadline exceeded") || m.contains("client.timeout") || m.contains("i/o timeout")
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum WebhooksMsg {
    Configs(WebhookKind, Delta<WebhookConfigRow>),
    Services(Delta<ServiceRow>),
    Endpoints(Delta<EndpointsRow>),
    Events(Delta<WebhookEvent>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhooksModel {
    pub state: SourceState,
    pub validating: Store<WebhookConfigRow>,
    pub mutating: Store<WebhookConfigRow>,
    pub backends_state: SourceState,
    pub services: Store<ServiceRow>,
    pub endpoints: Store<EndpointsRow>,
    pub events_state: SourceState,
    pub events: Store<WebhookEvent>,
    /// Configurations saved by ktriage before a change, by `kind/name` (the journal holds them too).
    pub backups: BTreeMap<String, Value>,
    /// failurePolicy before ktriage's first toggle, by `kind/configuration#webhook`.
    pub saved_policies: BTreeMap<String, String>,
    /// The `/` filter of the table (display and selection only; rules read `rows()`).
    pub filter: super::filter::TableFilter,
}

/// What the backend of a webhook looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Ready(usize),
    NoEndpoints,
    NoService,
    /// A URL webhook, or backends not known yet: never shown as healthy.
    Unknown,
}

impl Reach {
    pub fn label(self) -> String {
        match self {
            Reach::Ready(n) => format!("{n} ready"),
            Reach::NoEndpoints => "0 ready".into(),
            Reach::NoService => "no service".into(),
            Reach::Unknown => "unknown".into(),
        }
    }

    pub fn down(self) -> bool {
        matches!(self, Reach::NoEndpoints | Reach::NoService)
    }
}

impl WebhooksModel {
    pub fn new(state: SourceState) -> Self {
        WebhooksModel {
            backends_state: state.clone(),
            events_state: state.clone(),
            state,
            validating: Store::default(),
            mutating: Store::default(),
            services: Store::default(),
            endpoints: Store::default(),
            events: Store::default(),
            backups: BTreeMap::new(),
            saved_policies: BTreeMap::new(),
            filter: Default::default(),
        }
    }

    pub fn on_msg(&mut self, msg: WebhooksMsg, now: DateTime<Utc>) -> bool {
        let ok = SourceState::Ok { at: now };
        match msg {
            WebhooksMsg::Configs(kind, d) => {
                let c = match kind {
                    WebhookKind::Validating => self.validating.apply(d),
                    WebhookKind::Mutating => self.mutating.apply(d),
                };
                if self.validating.synced && self.mutating.synced {
                    self.state = ok;
                }
                c
            }
            WebhooksMsg::Services(d) => {
                let c = self.services.apply(d);
                if self.services.synced && self.endpoints.synced {
                    self.backends_state = ok;
                }
                c
            }
            WebhooksMsg::Endpoints(d) => {
                let c = self.endpoints.apply(d);
                if self.services.synced && self.endpoints.synced {
                    self.backends_state = ok;
                }
                c
            }
            WebhooksMsg::Events(d) => {
                let c = self.events.apply(d);
                if self.events.synced {
                    self.events_state = ok;
                }
                c
            }
        }
    }

    pub fn state_mut(&mut self, id: SourceId) -> Option<&mut SourceState> {
        match id {
            SourceId::Webhooks => Some(&mut self.state),
            SourceId::WebhookBackends => Some(&mut self.backends_state),
            SourceId::WebhookEvents => Some(&mut self.events_state),
            _ => None,
        }
    }

    /// Validating configurations first, then mutating ones.
    pub fn configs(&self) -> impl Iterator<Item = &WebhookConfigRow> {
        self.validating.iter().chain(self.mutating.iter())
    }

    /// Every webhook with its configuration, in display order.
    pub fn rows(&self) -> impl Iterator<Item = (&WebhookConfigRow, usize, &WebhookRow)> {
        self.configs()
            .flat_map(|c| c.webhooks.iter().enumerate().map(move |(i, w)| (c, i, w)))
    }

    pub fn row_count(&self) -> usize {
        self.configs().map(|c| c.webhooks.len()).sum()
    }

    /// The rows the table shows: `rows()` through the `/` filter (configuration, webhook, policy).
    pub fn shown(&self) -> Vec<(&WebhookConfigRow, usize, &WebhookRow)> {
        self.rows()
            .filter(|(c, _, w)| {
                self.filter
                    .keeps(&[c.name.as_str(), w.name.as_str(), w.failure_policy.as_str()])
            })
            .collect()
    }

    /// Whether a webhook's backend can be called now.
    pub fn reach(&self, w: &WebhookRow) -> Reach {
        let Backend::Service {
            namespace, name, ..
        } = &w.backend
        else {
            return Reach::Unknown;
        };
        if !self.services.synced || !self.endpoints.synced {
            return Reach::Unknown;
        }
        if self.services.get(&format!("{namespace}/{name}")).is_none() {
            return Reach::NoService;
        }
        let ready: usize = self
            .endpoints
            .iter()
            .filter(|e| &e.namespace == namespace && &e.service == name)
            .map(|e| e.ready)
            .sum();
        if ready == 0 {
            Reach::NoEndpoints
        } else {
            Reach::Ready(ready)
        }
    }

    /// Warning events that name this webhook.
    pub fn events_for<'a>(&'a self, webhook: &'a str) -> impl Iterator<Item = &'a WebhookEvent> {
        self.events.iter().filter(move |e| e.webhook == webhook)
    }
}
