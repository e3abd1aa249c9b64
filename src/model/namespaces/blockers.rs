//! Why a Terminating namespace cannot go away, in fix order: `apiservice:<name>`, `content:<kind>`,
//! `finalizer:<name>`. Read from the namespace controller's conditions where it set them, else
//! inferred from the finalizers, APIService availability and the content scan. The rules
//! (`namespace-stuck`), the pane and the ordered fix all read these.

use super::{ApiServiceRow, NsRow};
use crate::model::Model;

/// One reason a namespace cannot go away, in fix order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// `apiservice:<name>`, `content:<kind>` or `finalizer:<name>`.
    pub id: String,
    /// Who should have removed it.
    pub owner: String,
    pub evidence: String,
}

/// Who is expected to remove a finalizer.
pub fn finalizer_owner(f: &str) -> String {
    match f {
        "kubernetes" => "the namespace controller (kube-controller-manager)".into(),
        "controller.cattle.io/namespace-auth" => {
            "Rancher's namespace-auth controller (rancher / cattle-cluster-agent)".into()
        }
        other => match other.split_once('/') {
            Some((domain, _)) => format!("the controller of {domain}"),
            None if other.contains('.') => format!("the controller of {other}"),
            None => format!("the controller that added {other}"),
        },
    }
}

/// Blockers of one Terminating namespace, in the order they should be fixed.
pub fn blockers(model: &Model, ns: &NsRow) -> Vec<Blocker> {
    let nsm = &model.namespaces;
    let mut out = Vec::new();
    let kube_fin = ns.spec_finalizers.iter().any(|f| f == "kubernetes");
    let unavailable: Vec<&ApiServiceRow> = nsm.unavailable().collect();
    if kube_fin {
        for a in &unavailable {
            out.push(Blocker {
                id: format!("apiservice:{}", a.name),
                owner: a
                    .service
                    .as_ref()
                    .map(|s| format!("the service {s} behind it"))
                    .unwrap_or_else(|| "its aggregated API server".into()),
                evidence: format!(
                    "spec.finalizers holds `kubernetes` and APIService {} is unavailable ({}): the namespace controller's discovery fails, so it never finishes",
                    a.name, a.reason
                ),
            });
        }
    }
    // content that carries finalizers: from the scan, else from the controller's conditions
    let scanned = nsm.content.get(&ns.name);
    let mut content_found = false;
    if let Some(c) = scanned {
        for k in c.kinds.iter().filter(|k| !k.held.is_empty()) {
            content_found = true;
            let mut fins: Vec<&str> = k
                .held
                .iter()
                .flat_map(|h| h.finalizers.iter().map(String::as_str))
                .collect();
            fins.sort_unstable();
            fins.dedup();
            out.push(Blocker {
                id: format!("content:{}", k.kind),
                owner: fins.first().map(|f| finalizer_owner(f)).unwrap_or_default(),
                evidence: format!(
                    "{} {} ({}) remain with finalizers {}",
                    k.held.len(),
                    k.kind,
                    k.api_version,
                    fins.join(", ")
                ),
            });
        }
    }
    if !content_found
        && let Some(c) = ns
            .condition_true("NamespaceContentRemaining")
            .or_else(|| ns.condition_true("NamespaceFinalizersRemaining"))
    {
        let kinds: Vec<String> = ns
            .condition_true("NamespaceContentRemaining")
            .map(|c| {
                c.message
                    .split(": ")
                    .nth(1)
                    .unwrap_or("")
                    .split(", ")
                    .filter_map(|p| p.split(" has ").next())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        for k in if kinds.is_empty() {
            vec!["unknown".to_string()]
        } else {
            kinds
        } {
            out.push(Blocker {
                id: format!("content:{k}"),
                owner: "the controller that owns the remaining resources' finalizers".into(),
                evidence: format!("condition {}: {}", c.type_, c.message),
            });
        }
    }
    for f in &ns.meta_finalizers {
        out.push(Blocker {
            id: format!("finalizer:{f}"),
            owner: finalizer_owner(f),
            evidence: format!("metadata.finalizers holds {f}"),
        });
    }
    if out.is_empty() && kube_fin {
        out.push(Blocker {
            id: "finalizer:kubernetes".into(),
            owner: finalizer_owner("kubernetes"),
            evidence: "spec.finalizers holds `kubernetes` with no other blocker found: the namespace controller is not finishing (is kube-controller-manager running?)".into(),
        });
    }
    out
}

/// The blocker that is this namespace's own (its finalizer, then its content), else the APIService.
pub fn primary(blockers: &[Blocker]) -> Option<&Blocker> {
    blockers
        .iter()
        .find(|b| b.id.starts_with("finalizer:") && b.id != "finalizer:kubernetes")
        .or_else(|| blockers.iter().find(|b| b.id.starts_with("content:")))
        .or_else(|| blockers.first())
}
