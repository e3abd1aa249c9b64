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
    // pod-crashloop, grouped by owner
    let mut by: BTreeMap<WorkloadRef<'_>, Vec<String>> = BTreeMap::new();
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
        by.entry(top.workload_ref(p)).or_default().push(format!(
            "pod {}: container {} CrashLoopBackOff, {} restart(s){last}",
            p.name, c.name, c.restarts
        ));
    }
    for (w, evidence) in by {
        let mut f = Finding::new(
            "pod-crashloop",
            Severity::Warning,
            PaneId::Top,
            Some(Subject::namespaced(w.kind, w.namespace, w.name)),
            format!(
                "{} {}/{}: {} pod(s) crash-looping",
                w.kind,
                w.namespace,
                w.name,
                evidence.len()
            ),
        );
        f.details = json!({"pods": evidence.len()});
        f.evidence = evidence;
        let restartable = matches!(w.kind, "Deployment" | "DaemonSet" | "StatefulSet");
        f.fix.text = if restartable {
            format!(
                "Read the previous logs (`kubectl -n {ns} logs POD --previous`); once the cause is fixed (a rotated CA, a config), restart it: `kubectl -n {ns} rollout restart {k}/{n}`.",
                ns = w.namespace,
                k = w.kind.to_lowercase(),
                n = w.name
            )
        } else {
            format!(
                "Read the previous logs (`kubectl -n {} logs POD --previous`), fix the cause, then delete the pod so it is re-created.",
                w.namespace
            )
        };
        if restartable {
            f.fix.action = Some("rollout_restart".into());
        }
        out.push(f);
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
