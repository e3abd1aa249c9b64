//! The pod, workload and node actions of the Inspect issue: describe, exact body and kubectl
//! equivalent of each. `Mutation` delegates its match arms here to keep one file per concern.

use serde_json::{Value, json};

use super::shell_quote;

/// The annotation `kubectl rollout restart` sets on the pod template.
pub const RESTARTED_AT_ANNOTATION: &str = "kubectl.kubernetes.io/restartedAt";

/// One pod addressed by a bulk action; `uid` guards against deleting a re-created namesake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    /// Why it is listed (`Evicted`, `Failed`, …), shown in the dialog.
    pub reason: String,
}

impl PodRef {
    pub fn path(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The workload kinds `rollout restart` supports, as `(kind, plural)`.
pub fn workload_plural(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" => Some("deployments"),
        "DaemonSet" => Some("daemonsets"),
        "StatefulSet" => Some("statefulsets"),
        _ => None,
    }
}

/// The strategic merge patch `kubectl rollout restart` sends.
pub fn restart_patch(at: &str) -> Value {
    json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: at}}}}})
}

/// The strategic merge patch of `kubectl cordon` (`true`) and `kubectl uncordon` (`null`).
pub fn cordon_patch(unschedulable: bool) -> Value {
    if unschedulable {
        json!({"spec": {"unschedulable": true}})
    } else {
        json!({"spec": {"unschedulable": null}})
    }
}

/// The body of `POST .../pods/NAME/eviction` for `policy/v1` or `policy/v1beta1`.
pub fn eviction_body(version: &str, namespace: &str, name: &str, dry_run: bool) -> Value {
    let mut b = json!({
        "apiVersion": format!("policy/{version}"),
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    });
    if dry_run {
        b["deleteOptions"] = json!({"dryRun": ["All"]});
    }
    b
}

/// `kubectl delete pod` for a list: one command per namespace with a phase field selector would
/// match pods that failed after the dialog, so the exact names are listed.
pub fn delete_pods_kubectl(ctx: &str, pods: &[PodRef]) -> String {
    let mut by_ns: Vec<(&str, Vec<&str>)> = Vec::new();
    for p in pods {
        match by_ns.iter_mut().find(|(ns, _)| *ns == p.namespace) {
            Some((_, names)) => names.push(&p.name),
            None => by_ns.push((&p.namespace, vec![&p.name])),
        }
    }
    if by_ns.is_empty() {
        return format!("kubectl{ctx} get pods -A --field-selector=status.phase=Failed");
    }
    by_ns
        .iter()
        .map(|(ns, names)| {
            format!(
                "kubectl{ctx} -n {} delete pod {}",
                shell_quote(ns),
                names
                    .iter()
                    .map(|n| shell_quote(n))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join(" && ")
}

pub fn delete_pods_describe(namespace: Option<&str>, pods: &[PodRef]) -> String {
    let scope = namespace
        .map(|n| format!("in namespace {n}"))
        .unwrap_or_else(|| "cluster-wide".into());
    format!("delete {} Evicted/Failed pods {scope}", pods.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_body_is_the_small_json_kubectl_sends() {
        assert_eq!(
            eviction_body("v1", "shop", "api-1", false),
            json!({"apiVersion": "policy/v1", "kind": "Eviction",
                   "metadata": {"name": "api-1", "namespace": "shop"}})
        );
        assert_eq!(
            eviction_body("v1beta1", "shop", "api-1", true)["deleteOptions"],
            json!({"dryRun": ["All"]})
        );
    }

    #[test]
    fn delete_pods_kubectl_groups_by_namespace() {
        let p = |ns: &str, n: &str| PodRef {
            namespace: ns.into(),
            name: n.into(),
            uid: None,
            reason: "Evicted".into(),
        };
        assert_eq!(
            delete_pods_kubectl("", &[p("a", "x"), p("b", "y"), p("a", "z")]),
            "kubectl -n a delete pod x z && kubectl -n b delete pod y"
        );
    }
}
