//! Cross-pane `cause` links (CONTRACTS §1: the Overview issue owns them) and the Overview's grouping.
//!
//! Links come from evidence, never from names:
//! - an etcd quorum loss or split brain explains `api-unreachable` (the API server cannot serve without
//!   quorum) and leader findings no pane explained;
//! - `api-unreachable` explains leader findings (renewals cannot reach the API server, or ktriage
//!   cannot see them);
//! - a `webhook-blocking` webhook whose rules intercept `UPDATE` of `coordination.k8s.io` leases in
//!   the lease's namespace explains that lease's `leader-stale` / `leader-missing` (the seed's
//!   Gatekeeper story: the scheduler's renewals are rejected);
//! - `kube-ca-mismatch` explains `rancher-agent-down` when the agent is one of the workloads that
//!   crash-loop on their credentials;
//! - a `node-notready` node explains the findings about what runs on it: a lease whose holder runs
//!   there (after a blocking webhook, before the API), an etcd member on it (`details.node`), a pod
//!   bound to it.
//!
//! A link is only set where a pane left `cause` empty, and always points up a fixed order
//! (etcd → API → leaders; webhooks → leaders; kube-ca → Rancher agents; nodes → leaders, etcd
//! members, pods), so there are no cycles.

use std::collections::{BTreeMap, BTreeSet};

use super::Finding;
use crate::model::Model;
use crate::model::webhooks::{RuleRow, WebhookRow};
pub use crate::shared::finding::grouped;

const LEADER_IDS: &[&str] = &["leader-stale", "leader-missing", "leader-flapping"];

fn first_key(out: &[Finding], ids: &[&str]) -> Option<String> {
    ids.iter()
        .find_map(|id| out.iter().find(|f| f.id == *id).map(|f| f.key.clone()))
}

/// The rule intercepts `UPDATE` of leases.
fn rule_matches_lease_update(r: &RuleRow) -> bool {
    let has = |l: &[String], w: &str| l.iter().any(|x| x == "*" || x == w);
    has(&r.api_groups, "coordination.k8s.io")
        && has(&r.operations, "UPDATE")
        && r.resources
            .iter()
            .any(|x| x == "*" || x == "*/*" || x == "leases")
        && matches!(r.scope.as_str(), "" | "*" | "Namespaced")
}

fn webhook_of<'a>(model: &'a Model, f: &Finding) -> Option<&'a WebhookRow> {
    let s = f.subject.as_ref()?;
    let part = s.part.as_deref()?;
    model
        .webhooks
        .validating
        .iter()
        .chain(model.webhooks.mutating.iter())
        .filter(|c| c.name == s.name && c.kind.config_kind() == s.kind)
        .flat_map(|c| c.webhooks.iter())
        .find(|w| w.name == part)
}

fn namespace_labels(model: &Model, ns: &str) -> BTreeMap<String, String> {
    match model.namespaces.store.get(ns) {
        Some(n) => n.effective_labels(),
        None => BTreeMap::from([("kubernetes.io/metadata.name".to_string(), ns.to_string())]),
    }
}

/// Set the cross-pane `cause` of findings that no pane explained.
pub fn link(model: &Model, out: &mut [Finding]) {
    let etcd_root = first_key(out, &["etcd-quorum-lost", "etcd-split-brain"]);
    let api = first_key(out, &["api-unreachable"]);
    // webhooks that block lease renewals: (finding key, webhook)
    let lease_blockers: Vec<(String, &WebhookRow)> = out
        .iter()
        .filter(|f| f.id == "webhook-blocking")
        .filter_map(|f| webhook_of(model, f).map(|w| (f.key.clone(), w)))
        .filter(|(_, w)| w.rules.iter().any(rule_matches_lease_update))
        .collect();
    let ca_workloads: BTreeSet<(String, String)> = out
        .iter()
        .filter(|f| f.id == "kube-ca-mismatch")
        .flat_map(|f| {
            f.details["workloads"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|w| {
            Some((
                w["namespace"].as_str()?.to_string(),
                w["name"].as_str()?.to_string(),
            ))
        })
        .collect();
    let ca_key = first_key(out, &["kube-ca-mismatch"]);
    let down_nodes: BTreeMap<String, String> = out
        .iter()
        .filter(|f| f.id == "node-notready")
        .filter_map(|f| Some((f.subject.as_ref()?.name.clone(), f.key.clone())))
        .collect();

    for f in out.iter_mut().filter(|f| f.cause.is_none()) {
        let on_down_node = if down_nodes.is_empty() {
            None
        } else {
            node_of(model, f).and_then(|n| down_nodes.get(&n).cloned())
        };
        if f.id == "api-unreachable" {
            f.cause = etcd_root.clone();
        } else if LEADER_IDS.contains(&f.id.as_str()) {
            let ns = f
                .subject
                .as_ref()
                .and_then(|s| s.namespace.clone())
                .unwrap_or_default();
            let labels = namespace_labels(model, &ns);
            let blocker = lease_blockers
                .iter()
                .find(|(_, w)| {
                    w.failure_policy != "Ignore" && w.namespace_selector.matches(&labels)
                })
                .map(|(k, _)| k.clone());
            let by_webhook = (f.id != "leader-flapping").then_some(blocker).flatten();
            f.cause = by_webhook
                .or(on_down_node)
                .or_else(|| api.clone())
                .or_else(|| etcd_root.clone());
        } else if f.id == "rancher-agent-down"
            && let Some(s) = &f.subject
            && ca_workloads.contains(&(s.namespace.clone().unwrap_or_default(), s.name.clone()))
        {
            f.cause = ca_key.clone();
        } else if f.id != "node-notready" {
            f.cause = on_down_node;
        }
    }
}

/// The node a finding is about: a lease's holder's node, `details.node` (etcd members), a pod's
/// node.
fn node_of(model: &Model, f: &Finding) -> Option<String> {
    if let Some(n) = f.details.get("node").and_then(|n| n.as_str()) {
        return Some(n.to_string());
    }
    let s = f.subject.as_ref()?;
    let key = format!("{}/{}", s.namespace.as_deref().unwrap_or_default(), s.name);
    match s.kind.as_str() {
        "Lease" => model
            .leaders
            .store
            .get(&key)
            .and_then(|l| l.holder_node().map(str::to_string)),
        "Pod" => model
            .top
            .pods
            .get(&key)
            .map(|p| p.node.clone())
            .filter(|n| !n.is_empty()),
        _ => None,
    }
}
