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
pub mod recovery;
pub mod runbook;
mod top;
pub mod webhooks;

use crate::model::Model;
pub use crate::shared::finding::{Finding, Fix, Severity, Subject, worst};
use chrono::{DateTime, Utc};

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

/// Rule results kept between evaluations (see `PodInputs`), owned by the loop beside the model
/// (`derived::Derived`).
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
