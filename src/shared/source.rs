//! Where each pane's data comes from and how fresh it is.

use std::fmt;

use chrono::{DateTime, Utc};

/// A data source (one tokio task each).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum SourceId {
    /// Reachability and version of the API server.
    Api,
    Namespaces,
    /// The etcd probe (v3 JSON gateway, no Kubernetes needed).
    Etcd,
    /// etcd static pods, their logs and `/readyz` (through the Kubernetes API).
    EtcdPods,
    /// Rounds over the etcd pods' logs (the first one is what `report` waits for).
    EtcdLogs,
    /// `etcdctl … -w json` inside the etcd pods through pods/exec (opt-in).
    EtcdExec,
    Nodes,
    Leases,
    Events,
    Pods,
    /// metrics.k8s.io poll (pods and nodes).
    Metrics,
    ApiServices,
    NsContent,
    Webhooks,
    WebhookBackends,
    WebhookEvents,
    /// Every namespace's `kube-root-ca.crt` ConfigMap (watched).
    RootCa,
    /// The certificate probe: a TLS handshake with the API server, the etcd client certificate.
    Certs,
}

impl SourceId {
    /// A source the operator turns on (etcd exec): while it is off it is neither ok nor a problem.
    pub fn is_opt_in(self) -> bool {
        self == SourceId::EtcdExec
    }

    pub fn name(self) -> &'static str {
        match self {
            SourceId::Api => "api",
            SourceId::Namespaces => "namespaces",
            SourceId::Etcd => "etcd",
            SourceId::EtcdPods => "etcd_pods",
            SourceId::EtcdLogs => "etcd_logs",
            SourceId::EtcdExec => "etcd_exec",
            SourceId::Nodes => "nodes",
            SourceId::Leases => "leases",
            SourceId::Events => "events",
            SourceId::Pods => "pods",
            SourceId::Metrics => "metrics",
            SourceId::ApiServices => "apiservices",
            SourceId::NsContent => "namespace-content",
            SourceId::Webhooks => "webhooks",
            SourceId::WebhookBackends => "webhook-backends",
            SourceId::WebhookEvents => "webhook-events",
            SourceId::RootCa => "kube-root-ca",
            SourceId::Certs => "certificates",
        }
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a source failed, classified so the pane can say what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FailureKind {
    /// Connection refused, DNS, TLS, timeout: the server did not answer.
    Unreachable,
    /// 401/403: we may not read this.
    Forbidden,
    /// Anything else the server said (5xx, 429, bad data).
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    /// One line, for humans; never contains credentials.
    pub message: String,
}

/// The state every pane shows: loading, ok, stale (with age), forbidden, unreachable, not configured.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceState {
    /// Nothing to read from (no kubeconfig, or the source is not built yet).
    NotConfigured { why: String },
    /// Started, no answer yet.
    Loading { since: DateTime<Utc> },
    /// In sync; `at` is the last time we heard from it.
    Ok { at: DateTime<Utc> },
    /// Failing. `last_ok` is when data was last good (`None`: never synced).
    Failed {
        failure: Failure,
        since: DateTime<Utc>,
        last_ok: Option<DateTime<Utc>>,
    },
}

impl SourceState {
    /// A short label: `ok`, `loading`, `stale 12s`, `forbidden`, `unreachable`, `error`, `not configured`.
    pub fn label(&self, now: DateTime<Utc>) -> String {
        match self {
            SourceState::NotConfigured { .. } => "not configured".into(),
            SourceState::Loading { .. } => "loading".into(),
            SourceState::Ok { .. } => "ok".into(),
            SourceState::Failed {
                failure, last_ok, ..
            } => {
                let what = match failure.kind {
                    FailureKind::Unreachable => "unreachable",
                    FailureKind::Forbidden => "forbidden",
                    FailureKind::Error => "error",
                };
                match last_ok {
                    Some(t) => format!("{what}, stale {}", crate::text::age(now, *t)),
                    None => what.to_string(),
                }
            }
        }
    }

    pub fn is_loading(&self) -> bool {
        matches!(self, SourceState::Loading { .. })
    }

    pub fn is_ok(&self) -> bool {
        matches!(self, SourceState::Ok { .. })
    }

    /// When data was last known good.
    pub fn last_ok(&self) -> Option<DateTime<Utc>> {
        match self {
            SourceState::Ok { at } => Some(*at),
            SourceState::Failed { last_ok, .. } => *last_ok,
            _ => None,
        }
    }

    /// Move to a failure, keeping when data was last good and when the failure began.
    pub fn fail(&self, failure: Failure, now: DateTime<Utc>) -> SourceState {
        let since = match self {
            SourceState::Failed {
                failure: f, since, ..
            } if f.kind == failure.kind => *since,
            _ => now,
        };
        SourceState::Failed {
            failure,
            since,
            last_ok: self.last_ok(),
        }
    }

    /// One-word state for the JSON report.
    pub fn report_state(&self) -> &'static str {
        match self {
            SourceState::NotConfigured { .. } => "not_configured",
            SourceState::Loading { .. } => "loading",
            SourceState::Ok { .. } => "ok",
            SourceState::Failed {
                failure, last_ok, ..
            } => match (failure.kind, last_ok) {
                (FailureKind::Unreachable, _) => "unreachable",
                (FailureKind::Forbidden, _) => "forbidden",
                (FailureKind::Error, Some(_)) => "stale",
                (FailureKind::Error, None) => "error",
            },
        }
    }

    pub fn error_text(&self) -> Option<&str> {
        match self {
            SourceState::Failed { failure, .. } => Some(&failure.message),
            SourceState::NotConfigured { why } => Some(why),
            _ => None,
        }
    }
}
