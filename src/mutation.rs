//! Changes to the cluster as values. The confirm dialog shows `describe()`, `patch()` and the kubectl
//! equivalent; the one `Executor` runs the same value.

use serde_json::{Value, json};

use crate::shared::kinds::WebhookKind;

pub mod outcome;
pub mod pods;
pub use outcome::{Outcome, OutcomeResult};
pub use pods::PodRef;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "ktriage";
/// The annotation naming ktriage's last action on an object.
pub const LAST_ACTION_ANNOTATION: &str = "ktriage.io/last-action";

/// A write ktriage can make. Adding one: a variant here, its request in `kube::executor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Scale a Deployment, StatefulSet or ReplicaSet (`kind`) through its `scale` subresource.
    Scale {
        kind: String,
        namespace: String,
        name: String,
        replicas: i32,
    },
    /// Save the object's YAML into the journal, then delete it (an unavailable APIService, a webhook
    /// configuration). Undone by `Restore`.
    Delete { target: Target },
    /// Create an object again from the manifest saved by `Delete` (or an earlier change).
    Restore { target: Target, manifest: Value },
    /// Remove one named `metadata.finalizers` entry, guarded by `test` ops on `resourceVersion` and on
    /// the finalizer at its index (a concurrent change fails with 422/409 instead of clobbering).
    RemoveFinalizer {
        target: Target,
        finalizer: String,
        index: usize,
        resource_version: String,
    },
    /// `PUT /api/v1/namespaces/NAME/finalize` with `spec.finalizers: []`: the last resort.
    Finalize { namespace: String },
    /// Set one webhook's failurePolicy, addressed by configuration and webhook name (a `test` op on
    /// the name at its index), with the operator's reason in `ktriage.io/last-action`.
    SetFailurePolicy {
        kind: WebhookKind,
        configuration: String,
        webhook: String,
        index: usize,
        policy: String,
        reason: String,
    },
    /// `kubectl rollout restart`: stamp the pod template with `kubectl.kubernetes.io/restartedAt`
    /// (Deployment, DaemonSet or StatefulSet); `at` is fixed when the action is proposed.
    RolloutRestart {
        kind: String,
        namespace: String,
        name: String,
        at: String,
    },
    /// Delete one pod so its controller re-creates it; guarded by its `uid`.
    DeletePod {
        namespace: String,
        name: String,
        uid: Option<String>,
        owner: Option<String>,
    },
    /// Delete the listed Evicted/Failed pods (`namespace: None` = cluster-wide).
    DeletePods {
        namespace: Option<String>,
        pods: Vec<PodRef>,
    },
    /// `kubectl cordon` (`true`) / `kubectl uncordon` (`false`).
    Cordon { node: String, unschedulable: bool },
    /// Cordon, then evict every pod on the node through the Eviction API (PDBs respected,
    /// DaemonSet, mirror and unmanaged pods skipped).
    Drain { node: String },
}

/// An object addressed for a generic request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Target {
    pub fn cluster(api_version: &str, kind: &str, plural: &str, name: &str) -> Target {
        Target {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespace: None,
            name: name.into(),
        }
    }

    /// `plural.group` (or `plural` for the core group), as kubectl names a resource.
    pub fn resource(&self) -> String {
        match self.api_version.rsplit_once('/') {
            Some((group, _)) => format!("{}.{group}", self.plural),
            None => self.plural.clone(),
        }
    }

    fn kubectl_ns(&self) -> String {
        self.namespace
            .as_deref()
            .map(|n| format!(" -n {}", shell_quote(n)))
            .unwrap_or_default()
    }
}

/// The JSON pointer segment for a key (`/` and `~` escaped).
pub fn pointer_escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The ops of a `SetFailurePolicy` patch; `note` is the `ktriage.io/last-action` value and
/// `has_annotations` whether the object already has an annotations map.
pub fn failure_policy_ops(
    index: usize,
    webhook: &str,
    policy: &str,
    note: &str,
    has_annotations: bool,
) -> Value {
    let annotation = if has_annotations {
        json!({"op": "add", "path": format!("/metadata/annotations/{}", pointer_escape(LAST_ACTION_ANNOTATION)), "value": note})
    } else {
        json!({"op": "add", "path": "/metadata/annotations", "value": {LAST_ACTION_ANNOTATION: note}})
    };
    json!([
        {"op": "test", "path": format!("/webhooks/{index}/name"), "value": webhook},
        {"op": "replace", "path": format!("/webhooks/{index}/failurePolicy"), "value": policy},
        annotation,
    ])
}

impl Mutation {
    /// One line for the dialog and the journal.
    pub fn describe(&self) -> String {
        match self {
            Mutation::Scale {
                kind,
                namespace,
                name,
                replicas,
            } => format!(
                "scale {} {namespace}/{name} to {replicas} replicas",
                kind.to_lowercase()
            ),
            Mutation::Delete { target } => format!(
                "back up and delete {} {} (restorable from the journal)",
                target.kind, target.name
            ),
            Mutation::Restore { target, .. } => {
                format!("restore {} {} from its backup", target.kind, target.name)
            }
            Mutation::RemoveFinalizer {
                target, finalizer, ..
            } => format!(
                "remove finalizer {finalizer} from {} {}{}",
                target.kind,
                target
                    .namespace
                    .as_deref()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default(),
                target.name
            ),
            Mutation::Finalize { namespace } => format!(
                "LAST RESORT: finalize namespace {namespace} (clear spec.finalizers; content may be orphaned)"
            ),
            Mutation::SetFailurePolicy {
                kind,
                configuration,
                webhook,
                policy,
                ..
            } => format!(
                "set failurePolicy {policy} on webhook {webhook} in {} {configuration}",
                kind.config_kind()
            ),
            Mutation::RolloutRestart {
                kind,
                namespace,
                name,
                ..
            } => format!(
                "rollout restart {} {namespace}/{name} (new pods replace the old ones)",
                kind.to_lowercase()
            ),
            Mutation::DeletePod {
                namespace,
                name,
                owner,
                ..
            } => match owner {
                Some(o) => format!("delete pod {namespace}/{name} ({o} re-creates it)"),
                None => {
                    format!("delete pod {namespace}/{name} (no controller: it is NOT re-created)")
                }
            },
            Mutation::DeletePods { namespace, pods } => {
                pods::delete_pods_describe(namespace.as_deref(), pods)
            }
            Mutation::Cordon {
                node,
                unschedulable: true,
            } => format!("cordon node {node} (no new pods are scheduled on it)"),
            Mutation::Cordon { node, .. } => format!("uncordon node {node}"),
            Mutation::Drain { node } => {
                format!("drain node {node} (cordon, evict via the Eviction API, PDBs respected)")
            }
        }
    }

    /// The `why` of the annotation: the operator's reason where one was typed, else `describe()`.
    pub fn why(&self) -> String {
        match self {
            Mutation::SetFailurePolicy { reason, .. } if !reason.is_empty() => reason.clone(),
            _ => self.describe(),
        }
    }

    /// Whether the confirm dialog asks the operator for a reason (recorded in the annotation).
    pub fn wants_reason(&self) -> bool {
        matches!(self, Mutation::SetFailurePolicy { .. })
    }

    /// The same mutation with the operator's reason.
    pub fn with_reason(mut self, text: &str) -> Mutation {
        if let Mutation::SetFailurePolicy { reason, .. } = &mut self
            && !text.trim().is_empty()
        {
            *reason = text.trim().to_string();
        }
        self
    }

    /// The object it changes, as `kind/namespace/name` (the finding key form).
    pub fn object(&self) -> ObjectRef {
        match self {
            Mutation::Scale {
                kind,
                namespace,
                name,
                ..
            } => ObjectRef {
                api_version: "apps/v1".into(),
                kind: kind.clone(),
                namespace: Some(namespace.clone()),
                name: name.clone(),
            },
            Mutation::Delete { target }
            | Mutation::Restore { target, .. }
            | Mutation::RemoveFinalizer { target, .. } => ObjectRef {
                api_version: target.api_version.clone(),
                kind: target.kind.clone(),
                namespace: target.namespace.clone(),
                name: target.name.clone(),
            },
            Mutation::Finalize { namespace } => ObjectRef {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                namespace: None,
                name: namespace.clone(),
            },
            Mutation::SetFailurePolicy {
                kind,
                configuration,
                ..
            } => ObjectRef {
                api_version: "admissionregistration.k8s.io/v1".into(),
                kind: kind.config_kind().into(),
                namespace: None,
                name: configuration.clone(),
            },
            Mutation::RolloutRestart { .. } | Mutation::Cordon { .. } | Mutation::Drain { .. } => {
                let t = self.target();
                ObjectRef {
                    api_version: t.api_version,
                    kind: t.kind,
                    namespace: t.namespace,
                    name: t.name,
                }
            }
            Mutation::DeletePod {
                namespace, name, ..
            } => ObjectRef {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some(namespace.clone()),
                name: name.clone(),
            },
            // a bulk delete is recorded on the namespace (cluster-wide: on `default`)
            Mutation::DeletePods { namespace, .. } => ObjectRef {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                namespace: None,
                name: namespace.clone().unwrap_or_else(|| "default".into()),
            },
        }
    }

    /// The generic address of the object (every variant but `Scale`, which uses `/scale`).
    pub fn target(&self) -> Target {
        match self {
            Mutation::Delete { target }
            | Mutation::Restore { target, .. }
            | Mutation::RemoveFinalizer { target, .. } => target.clone(),
            Mutation::Scale {
                kind,
                namespace,
                name,
                ..
            } => Target {
                api_version: "apps/v1".into(),
                kind: kind.clone(),
                plural: format!("{}s", kind.to_lowercase()),
                namespace: Some(namespace.clone()),
                name: name.clone(),
            },
            Mutation::Finalize { namespace } => {
                Target::cluster("v1", "Namespace", "namespaces", namespace)
            }
            Mutation::SetFailurePolicy {
                kind,
                configuration,
                ..
            } => Target::cluster(
                "admissionregistration.k8s.io/v1",
                kind.config_kind(),
                kind.plural(),
                configuration,
            ),
            Mutation::RolloutRestart {
                kind,
                namespace,
                name,
                ..
            } => Target {
                api_version: "apps/v1".into(),
                kind: kind.clone(),
                plural: pods::workload_plural(kind).unwrap_or("deployments").into(),
                namespace: Some(namespace.clone()),
                name: name.clone(),
            },
            Mutation::DeletePod {
                namespace, name, ..
            } => Target {
                api_version: "v1".into(),
                kind: "Pod".into(),
                plural: "pods".into(),
                namespace: Some(namespace.clone()),
                name: name.clone(),
            },
            Mutation::DeletePods { namespace, .. } => Target::cluster(
                "v1",
                "Namespace",
                "namespaces",
                namespace.as_deref().unwrap_or("default"),
            ),
            Mutation::Cordon { node, .. } | Mutation::Drain { node } => {
                Target::cluster("v1", "Node", "nodes", node)
            }
        }
    }

    /// The exact patch body sent.
    pub fn patch(&self) -> Value {
        match self {
            Mutation::Scale { replicas, .. } => json!({"spec": {"replicas": replicas}}),
            Mutation::Delete { .. } => {
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "<as read before>"}})
            }
            Mutation::Restore { manifest, .. } => manifest.clone(),
            Mutation::RemoveFinalizer {
                finalizer,
                index,
                resource_version,
                ..
            } => json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version},
                {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": finalizer},
                {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
            ]),
            Mutation::Finalize { .. } => json!({"spec": {"finalizers": []}}),
            Mutation::SetFailurePolicy {
                webhook,
                index,
                policy,
                reason,
                ..
            } => failure_policy_ops(
                *index,
                webhook,
                policy,
                &json!({"who": "<you>", "when": "<now>", "why": reason}).to_string(),
                true,
            ),
            Mutation::RolloutRestart { at, .. } => pods::restart_patch(at),
            Mutation::DeletePod { uid, .. } => {
                json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}})
            }
            Mutation::DeletePods { pods, .. } => {
                json!({"delete": pods.iter().map(PodRef::path).collect::<Vec<_>>()})
            }
            Mutation::Cordon { unschedulable, .. } => pods::cordon_patch(*unschedulable),
            Mutation::Drain { .. } => json!({
                "cordon": pods::cordon_patch(true),
                "evict": pods::eviction_body("v1", "<namespace>", "<pod>", false),
            }),
        }
    }

    /// What an operator with kubectl would type.
    pub fn kubectl(&self, context: Option<&str>) -> String {
        let ctx = context
            .map(|c| format!(" --context {}", shell_quote(c)))
            .unwrap_or_default();
        match self {
            Mutation::Scale {
                kind,
                namespace,
                name,
                replicas,
            } => format!(
                "kubectl{ctx} -n {} scale {}/{} --replicas={replicas}",
                shell_quote(namespace),
                kind.to_lowercase(),
                shell_quote(name)
            ),
            Mutation::Delete { target } => format!(
                "kubectl{ctx} get {res}{ns} {n} -o yaml > {n}.backup.yaml && kubectl{ctx} delete {res}{ns} {n}",
                res = target.resource(),
                ns = target.kubectl_ns(),
                n = shell_quote(&target.name)
            ),
            Mutation::Restore { target, .. } => format!(
                "kubectl{ctx} create -f {}.backup.yaml",
                shell_quote(&target.name)
            ),
            Mutation::RemoveFinalizer { .. } | Mutation::SetFailurePolicy { .. } => {
                let target = self.target();
                format!(
                    "kubectl{ctx} patch {}{} {} --type=json -p '{}'",
                    target.resource(),
                    target.kubectl_ns(),
                    shell_quote(&target.name),
                    self.patch().to_string().replace('\'', r"'\''")
                )
            }
            Mutation::Finalize { namespace } => format!(
                "kubectl{ctx} get namespace {n} -o json | jq '.spec.finalizers=[]' | kubectl{ctx} replace --raw /api/v1/namespaces/{n}/finalize -f -",
                n = shell_quote(namespace)
            ),
            Mutation::RolloutRestart {
                kind,
                namespace,
                name,
                ..
            } => format!(
                "kubectl{ctx} -n {} rollout restart {}/{}",
                shell_quote(namespace),
                kind.to_lowercase(),
                shell_quote(name)
            ),
            Mutation::DeletePod {
                namespace, name, ..
            } => format!(
                "kubectl{ctx} -n {} delete pod {}",
                shell_quote(namespace),
                shell_quote(name)
            ),
            Mutation::DeletePods { pods, .. } => pods::delete_pods_kubectl(&ctx, pods),
            Mutation::Cordon {
                node,
                unschedulable,
            } => format!(
                "kubectl{ctx} {} {}",
                if *unschedulable { "cordon" } else { "uncordon" },
                shell_quote(node)
            ),
            Mutation::Drain { node } => format!(
                "kubectl{ctx} drain {} --ignore-daemonsets --delete-emptydir-data",
                shell_quote(node)
            ),
        }
    }

    /// Stable name for the journal's `mutation.type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Mutation::Scale { .. } => "scale",
            Mutation::Delete { .. } => "delete",
            Mutation::Restore { .. } => "restore",
            Mutation::RemoveFinalizer { .. } => "remove-finalizer",
            Mutation::Finalize { .. } => "finalize",
            Mutation::SetFailurePolicy { .. } => "set-failure-policy",
            Mutation::RolloutRestart { .. } => "rollout-restart",
            Mutation::DeletePod { .. } => "delete-pod",
            Mutation::DeletePods { .. } => "delete-pods",
            Mutation::Cordon {
                unschedulable: true,
                ..
            } => "cordon",
            Mutation::Cordon { .. } => "uncordon",
            Mutation::Drain { .. } => "drain",
        }
    }
}

/// The subject of a mutation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

pub(crate) fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_describes_itself() {
        let m = Mutation::Scale {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "api".into(),
            replicas: 0,
        };
        assert_eq!(m.describe(), "scale deployment shop/api to 0 replicas");
        assert_eq!(m.patch(), json!({"spec": {"replicas": 0}}));
        assert_eq!(
            m.kubectl(Some("prod east")),
            "kubectl --context 'prod east' -n shop scale deployment/api --replicas=0"
        );
    }
}
