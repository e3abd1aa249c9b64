//! Every mutation ktriage can make, for the read-only proofs (`tests/executor_readonly.rs`,
//! `tests/reliability_readonly.rs`). The match is exhaustive on purpose: a new `Mutation` variant does
//! not compile until the proofs cover it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ktriage::model::webhooks::WebhookKind;
use ktriage::mutation::{Mutation, Target};
use serde_json::json;

/// Every mutation ktriage can make. The match is exhaustive on purpose: a new `Mutation` variant does
/// not compile here until this proof covers it.
pub fn every_mutation() -> Vec<Mutation> {
    let apisvc = Target::cluster(
        "apiregistration.k8s.io/v1",
        "APIService",
        "apiservices",
        "v1beta1.custom.metrics.k8s.io",
    );
    let all = vec![
        Mutation::Scale {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "api".into(),
            replicas: 0,
        },
        Mutation::Delete {
            target: apisvc.clone(),
        },
        Mutation::Restore {
            target: apisvc,
            manifest: json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                             "metadata": {"name": "v1beta1.custom.metrics.k8s.io"}}),
        },
        Mutation::RemoveFinalizer {
            target: Target::cluster("v1", "Namespace", "namespaces", "mon"),
            finalizer: "controller.cattle.io/namespace-auth".into(),
            index: 0,
            resource_version: "41".into(),
        },
        Mutation::Finalize {
            namespace: "mon".into(),
        },
        Mutation::SetFailurePolicy {
            kind: WebhookKind::Validating,
            configuration: "policy".into(),
            webhook: "check.policy.example".into(),
            index: 0,
            policy: "Ignore".into(),
            reason: "incident".into(),
        },
        Mutation::RolloutRestart {
            kind: "Deployment".into(),
            namespace: "kube-system".into(),
            name: "coredns".into(),
            at: "2026-11-29T07:00:00Z".into(),
        },
        Mutation::DeletePod {
            namespace: "kube-system".into(),
            name: "coredns-1".into(),
            uid: Some("u-1".into()),
            owner: Some("ReplicaSet coredns-5d".into()),
        },
        Mutation::DeletePods {
            namespace: None,
            pods: vec![ktriage::mutation::PodRef {
                namespace: "shop".into(),
                name: "api-x".into(),
                uid: Some("u-2".into()),
                reason: "Evicted".into(),
            }],
        },
        Mutation::Cordon {
            node: "worker-1".into(),
            unschedulable: true,
        },
        Mutation::Cordon {
            node: "worker-1".into(),
            unschedulable: false,
        },
        Mutation::Drain {
            node: "worker-1".into(),
        },
    ];
    for m in &all {
        match m {
            Mutation::Scale { .. }
            | Mutation::Delete { .. }
            | Mutation::Restore { .. }
            | Mutation::RemoveFinalizer { .. }
            | Mutation::Finalize { .. }
            | Mutation::SetFailurePolicy { .. }
            | Mutation::RolloutRestart { .. }
            | Mutation::DeletePod { .. }
            | Mutation::DeletePods { .. }
            | Mutation::Cordon { .. }
            | Mutation::Drain { .. } => {}
        }
    }
    all
}
