//! `apiservice-unavailable` (critical) and `namespace-stuck` (warning): why each Terminating namespace
//! is stuck, with the blocker named as `finalizer:<name>`, `apiservice:<name>` or `content:<kind>`.
//!
//! With the namespace controller's conditions the blockers are read from them; without them (a
//! controller-manager that is down, or a bare API server) they are inferred from the finalizers,
//! APIService availability and the content scan. The fix order is the seed's: the APIService first,
//! then content finalizers, then the namespace's own finalizers, `/finalize` only as a last resort.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::namespaces::{ApiServiceRow, NsRow};
use crate::model::{Model, PaneId};
use crate::text::age;

pub use crate::model::namespaces::blockers::{Blocker, blockers, finalizer_owner, primary};

pub fn apiservice_key(name: &str) -> String {
    format!("apiservice-unavailable/APIService//{name}")
}

pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    let (model, now) = (cx.model, cx.now);
    let nsm = &model.namespaces;
    let terminating: Vec<&NsRow> = nsm.terminating().collect();
    for a in nsm.unavailable() {
        out.push(apiservice_unavailable(a, &terminating));
    }
    for n in terminating {
        out.extend(stuck(model, n, now));
    }
}

/// `apiservice-unavailable`, with the Terminating namespaces it holds.
fn apiservice_unavailable(a: &ApiServiceRow, terminating: &[&NsRow]) -> Finding {
    let blocks: Vec<&str> = terminating
        .iter()
        .filter(|n| n.spec_finalizers.iter().any(|f| f == "kubernetes"))
        .map(|n| n.name.as_str())
        .collect();
    let mut f = Finding::new(
        "apiservice-unavailable",
        Severity::Critical,
        PaneId::Namespaces,
        Some(Subject {
            kind: "APIService".into(),
            namespace: None,
            name: a.name.clone(),
            part: None,
        }),
        format!("APIService {} is unavailable ({})", a.name, a.reason),
    );
    f.evidence.push(format!(
        "condition Available=False {}: {}",
        a.reason, a.message
    ));
    if let Some(s) = &a.service {
        f.evidence.push(format!("backed by service {s}"));
    }
    f.evidence.push(if blocks.is_empty() {
        "every namespace deletion will hang until it is fixed (discovery of its group fails)".into()
    } else {
        format!(
            "blocks the deletion of {} Terminating namespace(s): {}",
            blocks.len(),
            blocks.join(", ")
        )
    });
    f.fix.text = format!(
        "Restore the service behind it, or delete the APIService if its API is gone for good \
         (`kubectl delete apiservice {}`; ktriage saves its YAML in the journal first and can restore it).",
        a.name
    );
    f.fix.action = Some("fix".into());
    f.details = json!({
        "apiservice": a.name, "group": a.group, "version": a.version, "service": a.service,
        "reason": a.reason, "message": a.message, "blocks": blocks,
    });
    f
}

/// `namespace-stuck`: a Terminating namespace with its blockers in fix order.
fn stuck(model: &Model, n: &NsRow, now: DateTime<Utc>) -> Option<Finding> {
    let bl = blockers(model, n);
    let p = primary(&bl)?;
    let mut f = Finding::new(
        "namespace-stuck",
        Severity::Warning,
        PaneId::Namespaces,
        Some(Subject {
            kind: "Namespace".into(),
            namespace: None,
            name: n.name.clone(),
            part: None,
        }),
        format!("namespace {} is stuck Terminating: {}", n.name, p.id),
    );
    if let Some(t) = n.deleting_since {
        f.evidence.push(format!(
            "Terminating for {} (deletionTimestamp {})",
            age(now, t),
            t.to_rfc3339()
        ));
    }
    f.evidence.extend(bl.iter().map(|b| b.evidence.clone()));
    for c in n.conditions.iter().filter(|c| c.status == "True") {
        f.evidence
            .push(format!("condition {}: {}", c.type_, c.message));
    }
    let steps: Vec<String> = bl
        .iter()
        .map(|b| match b.id.split_once(':') {
            Some(("apiservice", name)) => format!("delete or repair APIService {name}"),
            Some(("content", kind)) => format!("remove the finalizers of the remaining {kind} objects (after their controller had its chance)"),
            Some(("finalizer", "kubernetes")) => "finalize the namespace through /finalize (last resort)".to_string(),
            Some(("finalizer", fin)) => format!("remove finalizer {fin}"),
            _ => b.id.clone(),
        })
        .collect();
    f.fix.text = format!(
        "In this order: {}. Press f in the Namespaces pane for the next step; each is confirmed, dry-run, journaled and verified.",
        steps.join("; then ")
    );
    f.fix.action = Some("fix".into());
    if let Some(name) = p.id.strip_prefix("apiservice:") {
        f.cause = Some(apiservice_key(name));
    }
    f.details = json!({
        "blocker": p.id,
        "owner": p.owner,
        "blockers": bl.iter().map(|b| json!({"blocker": b.id, "owner": b.owner})).collect::<Vec<_>>(),
        "spec_finalizers": n.spec_finalizers,
        "finalizers": n.meta_finalizers,
        "inferred": n.conditions.is_empty(),
    });
    Some(f)
}

/// The report's `panes.namespaces.rows`: every namespace, Terminating ones with their blockers.
pub fn report_rows(model: &Model, now: DateTime<Utc>) -> serde_json::Value {
    let nsm = &model.namespaces;
    let rows: Vec<serde_json::Value> = nsm
        .store
        .iter()
        .map(|n| {
            let bl = if n.terminating() {
                blockers(model, n)
            } else {
                Vec::new()
            };
            let content = nsm.content.get(&n.name).map(|c| {
                c.kinds
                    .iter()
                    .map(|k| json!({"kind": k.kind, "apiVersion": k.api_version, "count": k.count, "with_finalizers": k.held.len()}))
                    .collect::<Vec<_>>()
            });
            json!({
                "name": n.name,
                "phase": n.phase,
                "age_s": n.created.map(|t| (now - t).num_seconds().max(0)),
                "spec_finalizers": n.spec_finalizers,
                "finalizers": n.meta_finalizers,
                "blocker": primary(&bl).map(|b| b.id.clone()),
                "blockers": bl.iter().map(|b| b.id.clone()).collect::<Vec<_>>(),
                "conditions": n.conditions.iter().filter(|c| c.status == "True").map(|c| json!({"type": c.type_, "reason": c.reason, "message": c.message})).collect::<Vec<_>>(),
                "content": content,
            })
        })
        .collect();
    serde_json::Value::Array(rows)
}
