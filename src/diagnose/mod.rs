//! Pure rules: `Model` → findings (severity, evidence, suggested fix). Shared by the TUI and the report.
//!
//! The JSON form is fixed by the contract (`findings[]`): id, key, severity, pane, subject, title,
//! evidence, fix, cause, details. Rules read specs, statuses, conditions, events and metrics, never
//! object names a scenario chose.

mod api;
pub mod cluster;
mod etcd_backups;
pub mod etcd_health;
mod etcd_logs;
pub mod etcd_members;
pub mod links;
mod pod_health;
pub mod recovery;
mod root_ca;
pub mod runbook;

/// Each pane's rules module, `diagnose::<pane>` (declared here from the pane registry,
/// `shared::pane::panes!`), with `rules(&Rules, &mut Vec<Finding>)`; run in tab order.
macro_rules! rules_of_panes {
    ($($id:ident $module:ident $title:literal,)*) => {
        $(pub mod $module;)*

        fn pane_rules(cx: &Rules, out: &mut Vec<Finding>) {
            $($module::rules(cx, out);)*
        }
    };
}
crate::shared::pane::panes!(rules_of_panes);

use crate::model::Model;
pub use crate::shared::finding::{Finding, Fix, Severity, Subject, reach, worst};
use chrono::{DateTime, Utc};

/// Run every rule. Result is sorted: critical first, then by reach (see [`reach`]), then by id and
/// key (stable for tests and diffs).
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
    /// Pods (`namespace/name`), in every namespace, with a failing container whose termination
    /// message carries a CA/credential signature (read by `kube-ca-mismatch`).
    failing: Vec<String>,
}

/// What a pane's rules read: the model, the clock, and the per-pod pass several panes share.
pub struct Rules<'a> {
    pub model: &'a Model,
    pub now: DateTime<Utc>,
    pods: &'a PodResults,
}

impl Rules<'_> {
    /// Evicted pods per namespace (the Events rules).
    pub fn evicted(&self) -> &std::collections::BTreeMap<String, usize> {
        &self.pods.evicted
    }

    /// The per-pod findings (Top's and pod health's).
    pub fn pod_findings(&self) -> &[Finding] {
        &self.pods.findings
    }

    /// Pods with a failing container whose termination message says CA/credentials, every namespace.
    pub fn failing_pods(&self) -> &[String] {
        &self.pods.failing
    }
}

impl PodResults {
    fn of(model: &Model, now: DateTime<Utc>) -> PodResults {
        let mut findings = Vec::new();
        top::pod_rules(model, now, &mut findings);
        pod_health::rules(model, now, &mut findings);
        let evicted = events::evicted_per_namespace(model);
        let failing = model
            .top
            .pods
            .iter()
            .filter(|p| cluster::says_ca_at_termination(p))
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect();
        PodResults {
            findings,
            evicted,
            failing,
        }
    }
}

/// [`evaluate`], reusing the per-pod rules' findings from `memo` while their inputs are unchanged.
pub fn evaluate_with(model: &Model, now: DateTime<Utc>, memo: &mut Memo) -> Vec<Finding> {
    let inputs = PodInputs::of(model);
    if memo.pods.as_ref().is_none_or(|(was, _)| *was != inputs) {
        memo.pods = Some((inputs, PodResults::of(model, now)));
    }
    let no_pods = PodResults::default();
    let pods = memo.pods.as_ref().map_or(&no_pods, |(_, r)| r);
    let cx = Rules { model, now, pods };
    let mut out = Vec::new();
    pane_rules(&cx, &mut out);
    links::link(model, &mut out);
    out.sort_by(|a, b| {
        (a.severity, reach(&a.id), &a.id, &a.key).cmp(&(b.severity, reach(&b.id), &b.id, &b.key))
    });
    out
}
