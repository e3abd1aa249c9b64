//! Pod health (Top pane): `pod-crashloop` (one finding per owning workload) and `pod-pending` (one
//! per pod, with the scheduler's or the kubelet's reason).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::top::WorkloadRef;
use crate::model::{Model, PaneId};

pub fn rules(model: &Model, _now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let top = &model.top;
    // pod-crashloop, grouped by owner; a static pod (its owner is its Node) stands alone
    let mut by: BTreeMap<(WorkloadRef<'_>, Option<&str>), Crashing> = BTreeMap::new();
    for p in top.pods.iter() {
        let Some(c) = p.crashlooping() else {
            continue;
        };
        let last = match (&c.last_term_reason, c.last_exit_code) {
            (Some(r), Some(code)) => format!(", last terminated {r} (exit {code})"),
            (Some(r), None) => format!(", last terminated {r}"),
            (None, Some(code)) => format!(", last exit {code}"),
            (None, None) => String::new(),
        };
        let w = top.workload_ref(p);
        let alone = (w.kind == "Node").then_some(p.name.as_str());
        let e = by.entry((w, alone)).or_insert_with(|| Crashing {
            pod: p.name.clone(),
            container: c.name.clone(),
            evidence: Vec::new(),
        });
        e.evidence.push(format!(
            "pod {}: container {} CrashLoopBackOff, {} restart(s){last}",
            p.name, c.name, c.restarts
        ));
    }
    for ((w, alone), c) in by {
        out.push(crashloop(w, alone.is_some(), c));
    }
    // pod-pending
    for p in top.pods.iter() {
        let Some(reason) = p.pending_reason() else {
            continue;
        };
        let mut f = Finding::new(
            "pod-pending",
            Severity::Warning,
            PaneId::Top,
            Some(Subject::namespaced("Pod", &p.namespace, &p.name)),
            format!("Pod {}/{} Pending: {reason}", p.namespace, p.name),
        );
        f.evidence.push(format!("phase Pending; {reason}"));
        f.fix.text = if p.unschedulable.is_some() {
            "The scheduler cannot place it: free or add capacity, relax its requests, node selector, affinity or tolerations, or uncordon a node.".into()
        } else {
            "A container cannot start: check the image name and pull secret (ImagePullBackOff), volumes and config maps (ContainerCreating).".into()
        };
        f.details = json!({"reason": reason, "unschedulable": p.unschedulable.is_some()});
        out.push(f);
    }
}

/// The crash-looping pods of one workload: the first one's pod and container name its logs.
struct Crashing {
    pod: String,
    container: String,
    evidence: Vec<String>,
}

fn crashloop(w: WorkloadRef<'_>, static_pod: bool, c: Crashing) -> Finding {
    let ns = w.namespace;
    let logs = format!(
        "`kubectl -n {ns} logs {} -c {} --previous`",
        c.pod, c.container
    );
    let (subject, title, fix) = if static_pod {
        (
            Subject::namespaced("Pod", ns, &c.pod),
            format!("static pod {ns}/{} on node {} crash-looping", c.pod, w.name),
            format!(
                "Read the previous logs ({logs}). The kubelet on {} runs it from a manifest on the node (RKE2: /var/lib/rancher/rke2/agent/pod-manifests; kubeadm: /etc/kubernetes/manifests): fix the cause there; deleting the pod through the API does not restart it.",
                w.name
            ),
        )
    } else {
        let restartable = matches!(w.kind, "Deployment" | "DaemonSet" | "StatefulSet");
        let fix = if w.kind == "Pod" {
            format!(
                "Read the previous logs ({logs}) and fix the cause. Nothing re-creates a pod without an owner: deleting it removes it for good; re-create it from its manifest."
            )
        } else if restartable {
            format!(
                "Read the previous logs ({logs}); once the cause is fixed (a rotated CA, a config), restart it: `kubectl -n {ns} rollout restart {}/{}`.",
                w.kind.to_lowercase(),
                w.name
            )
        } else {
            format!(
                "Read the previous logs ({logs}), fix the cause, then delete the pod so it is re-created."
            )
        };
        (
            Subject::namespaced(w.kind, ns, w.name),
            format!(
                "{} {ns}/{}: {} pod(s) crash-looping",
                w.kind,
                w.name,
                c.evidence.len()
            ),
            fix,
        )
    };
    let mut f = Finding::new(
        "pod-crashloop",
        Severity::Warning,
        PaneId::Top,
        Some(subject),
        title,
    );
    f.details = json!({"pods": c.evidence.len()});
    f.evidence = c.evidence;
    f.fix.text = fix;
    if !static_pod && matches!(w.kind, "Deployment" | "DaemonSet" | "StatefulSet") {
        f.fix.action = Some("rollout_restart".into());
    }
    f
}
