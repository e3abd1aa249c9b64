//! Pure rules: `Model` → findings (severity, evidence, suggested fix). Shared by the TUI and the report.
//!
//! The JSON form is fixed by the contract (`findings[]`): id, key, severity, pane, subject, title,
//! evidence, fix, cause, details. Rules read specs, statuses, conditions, events and metrics, never
//! object names a scenario chose.

mod api;
pub mod cluster;
pub mod etcd;
pub mod etcd_health;
mod etcd_logs;
pub mod etcd_members;
pub mod events;
mod leaders;
pub mod links;
pub mod namespaces;
mod pod_health;
mod root_ca;
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

impl Subject {
    /// A namespaced object, whole (no `part`).
    pub fn namespaced(kind: &str, namespace: &str, name: &str) -> Subject {
        Subject {
            kind: kind.to_string(),
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
            part: None,
        }
    }
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
    evaluate_with(model, now, &mut Memo::default())
}

/// What the per-pod rules (Top's, pod health's, and the evicted-pod count of the Events rules)
/// read. They do not read the clock, so while these are unchanged their findings are too: at 50,000
/// pods they are most of an evaluation, and the clock tick or an Event does not change them.
#[derive(Debug, Clone, PartialEq)]
struct PodInputs {
    top: (u64, u64, u64, bool),
    nodes: u64,
    tuning: crate::tuning::TopTuning,
}

impl PodInputs {
    fn of(model: &Model) -> PodInputs {
        PodInputs {
            top: model.top.data_rev(),
            nodes: model.nodes.store.rev(),
            tuning: model.tuning.top,
        }
    }
}

/// Rule results kept between evaluations (see `PodInputs`). A clone starts empty; memos compare
/// equal (derived data, not state).
#[derive(Debug, Default)]
pub struct Memo {
    pods: Option<(PodInputs, PodResults)>,
}

/// What the per-pod pass produced: Top's and pod health's findings, and the evicted pods per
/// namespace (read by the Events rules).
#[derive(Debug, Default)]
struct PodResults {
    findings: Vec<Finding>,
    evicted: std::collections::BTreeMap<String, usize>,
}

impl Clone for Memo {
    fn clone(&self) -> Self {
        Memo::default()
    }
}

impl PartialEq for Memo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// [`evaluate`], reusing the per-pod rules' findings from `memo` while their inputs are unchanged.
pub fn evaluate_with(model: &Model, now: DateTime<Utc>, memo: &mut Memo) -> Vec<Finding> {
    let mut out = Vec::new();
    api::rules(model, now, &mut out);
    etcd::rules(model, now, &mut out);
    leaders::rules(model, now, &mut out);
    let inputs = PodInputs::of(model);
    if memo.pods.as_ref().is_none_or(|(was, _)| *was != inputs) {
        let mut findings = Vec::new();
        top::rules(model, now, &mut findings);
        pod_health::rules(model, now, &mut findings);
        let evicted = events::evicted_per_namespace(model);
        memo.pods = Some((inputs, PodResults { findings, evicted }));
    }
    let pods = memo.pods.as_ref().map(|(_, r)| r);
    let no_evicted = Default::default();
    events::rules(
        model,
        now,
        pods.map_or(&no_evicted, |r| &r.evicted),
        &mut out,
    );
    out.extend(pods.into_iter().flat_map(|r| r.findings.iter().cloned()));
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
