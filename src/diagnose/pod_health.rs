//! Pod health (Top pane): `pod-crashloop` (one finding per owning workload) and `pod-pending` (one
//! per pod, with the scheduler's or the kubelet's reason).

use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::PaneId;
use crate::model::top::{PodRow, TopModel, Workload, WorkloadRef};

/// What groups a crash-looping pod's `pod-crashloop`: its workload, and its own name when it is a
/// static pod (owned by its Node: each stands alone).
pub(super) type CrashGroup = (Workload, Option<String>);

/// A crash-looping pod's part of its group's `pod-crashloop`: its pod and container (the group's
/// first names the logs to read) and its line of evidence.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CrashPod {
    pod: String,
    container: String,
    evidence: String,
}

/// The group and part of a crash-looping pod.
pub(super) fn crash_part(top: &TopModel, p: &PodRow) -> Option<(CrashGroup, CrashPod)> {
    let c = p.crashlooping()?;
    let last = match (&c.last_term_reason, c.last_exit_code) {
        (Some(r), Some(code)) => format!(", last terminated {r} (exit {code})"),
        (Some(r), None) => format!(", last terminated {r}"),
        (None, Some(code)) => format!(", last exit {code}"),
        (None, None) => String::new(),
    };
    let w = top.workload(p);
    let alone = (w.kind == "Node").then(|| p.name.clone());
    let part = CrashPod {
        pod: p.name.clone(),
        container: c.name.clone(),
        evidence: format!(
            "pod {}: container {} CrashLoopBackOff, {} restart(s){last}",
            p.name, c.name, c.restarts
        ),
    };
    Some(((w, alone), part))
}

/// `pod-pending`, one per pod, with the scheduler's or the kubelet's reason.
pub(super) fn pending(p: &PodRow) -> Option<Finding> {
    let reason = p.pending_reason()?;
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
    Some(f)
}

/// `pod-crashloop` about one group, from its pods' parts in name order (the first names the logs
/// to read); `None` for a group without pods.
pub(super) fn crashloop<'a>(
    (w, alone): &CrashGroup,
    mut pods: impl Iterator<Item = &'a CrashPod>,
) -> Option<Finding> {
    let first = pods.next()?;
    let evidence: Vec<String> = std::iter::once(first)
        .chain(pods)
        .map(|c| c.evidence.clone())
        .collect();
    let c = Crashing {
        pod: &first.pod,
        container: &first.container,
        evidence,
    };
    Some(crashloop_of(w.as_ref(), alone.is_some(), c))
}

/// The crash-looping pods of one workload: the first one's pod and container name its logs.
struct Crashing<'a> {
    pod: &'a str,
    container: &'a str,
    evidence: Vec<String>,
}

fn crashloop_of(w: WorkloadRef<'_>, static_pod: bool, c: Crashing) -> Finding {
    let ns = w.namespace;
    let logs = format!(
        "`kubectl -n {ns} logs {} -c {} --previous`",
        c.pod, c.container
    );
    let (subject, title, fix) = if static_pod {
        (
            Subject::namespaced("Pod", ns, c.pod),
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
