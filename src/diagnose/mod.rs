//! Pure rules: `Model` → findings (severity, evidence, suggested fix). Shared by the TUI and the report.
//!
//! The JSON form is fixed by the contract (`findings[]`): id, key, severity, pane, subject, title,
//! evidence, fix, cause, details. Rules read specs, statuses, conditions, events and metrics, never
//! object names a scenario chose.

mod api;
pub mod cluster;
pub mod etcd;
mod etcd_health;
pub mod events;
mod leaders;
pub mod links;
pub mod namespaces;
mod pod_health;
mod top;
pub mod webhooks;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::model::{Model, PaneId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Warning,
    Info,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub id: String,
    pub key: String,
    pub severity: Severity,
    pub pane: String,
    pub subject: Option<Subject>,
    pub title: String,
    pub evidence: Vec<String>,
    pub fix: Fix,
    pub cause: Option<String>,
    pub details: Value,
}

impl Finding {
    /// A finding with the contract's key rule: `id`, then `/kind/namespace/name`, then `#part`.
    pub fn new(
        id: &str,
        severity: Severity,
        pane: PaneId,
        subject: Option<Subject>,
        title: String,
    ) -> Finding {
        let key = match &subject {
            None => id.to_string(),
            Some(s) => {
                let mut k = format!(
                    "{id}/{}/{}/{}",
                    s.kind,
                    s.namespace.as_deref().unwrap_or(""),
                    s.name
                );
                if let Some(p) = &s.part {
                    k.push('#');
                    k.push_str(p);
                }
                k
            }
        };
        Finding {
            id: id.to_string(),
            key,
            severity,
            pane: pane.name().to_string(),
            subject,
            title,
            evidence: Vec::new(),
            fix: Fix {
                text: String::new(),
                action: None,
            },
            cause: None,
            details: Value::Object(Default::default()),
        }
    }
}

/// Run every rule. Result is sorted: critical first, then by id and key (stable for tests and diffs).
pub fn evaluate(model: &Model, now: DateTime<Utc>) -> Vec<Finding> {
    let mut out = Vec::new();
    api::rules(model, now, &mut out);
    etcd::rules(model, now, &mut out);
    leaders::rules(model, now, &mut out);
    events::rules(model, now, &mut out);
    top::rules(model, now, &mut out);
    pod_health::rules(model, now, &mut out);
    namespaces::rules(model, now, &mut out);
    webhooks::rules(model, now, &mut out);
    cluster::rules(model, now, &mut out);
    links::link(model, &mut out);
    out.sort_by(|a, b| (a.severity, &a.id, &a.key).cmp(&(b.severity, &b.id, &b.key)));
    out
}

/// The worst severity present.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).min()
}
