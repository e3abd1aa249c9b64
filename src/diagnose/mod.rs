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
mod pods;
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

/// Rule results kept between evaluations, owned by the loop beside the model
/// (`derived::Derived`): the per-pod pass (`pods::PodIndex`), which follows pod changes one pod at a
/// time instead of passing over every pod.
#[derive(Debug, Default)]
pub struct Memo {
    pods: Option<pods::PodIndex>,
}

/// What a pane's rules read: the model, the clock, and the per-pod pass several panes share.
pub struct Rules<'a> {
    pub model: &'a Model,
    pub now: DateTime<Utc>,
    pods: &'a pods::PodIndex,
}

impl Rules<'_> {
    /// Evicted pods per namespace (the Events rules).
    pub fn evicted(&self) -> &std::collections::BTreeMap<String, usize> {
        self.pods.evicted()
    }

    /// The per-pod findings (Top's and pod health's).
    pub fn pod_findings(&self) -> impl Iterator<Item = &Finding> {
        self.pods.findings()
    }

    /// Pods (`namespace/name`) with a failing container whose termination message says
    /// CA/credentials, every namespace.
    pub fn failing_pods(&self) -> impl Iterator<Item = &str> {
        self.pods.failing()
    }
}

/// [`evaluate`], the per-pod pass following the pods that changed since `memo` last saw them.
pub fn evaluate_with(model: &Model, now: DateTime<Utc>, memo: &mut Memo) -> Vec<Finding> {
    let pods = match memo.pods.take() {
        Some(ix) => ix.follow(model),
        None => pods::PodIndex::build(model),
    };
    let pods = &*memo.pods.insert(pods);
    let cx = Rules { model, now, pods };
    let mut out = Vec::new();
    pane_rules(&cx, &mut out);
    links::link(model, &mut out);
    out.sort_by(|a, b| {
        (a.severity, reach(&a.id), &a.id, &a.key).cmp(&(b.severity, reach(&b.id), &b.id, &b.key))
    });
    out
}
