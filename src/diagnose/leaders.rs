//! Leaders: `leader-missing`, `leader-stale`, `leader-flapping`, `leader-node-notready`.
//! `leader-missing` is critical for the control plane's own elections (`LeaseRow::well_known`) and a
//! warning for any other lease (an add-on's controller stalls, not the cluster).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::leaders::LeaseRow;
use crate::model::{Model, PaneId};
use crate::text::age;

fn subject(l: &LeaseRow) -> Subject {
    Subject {
        kind: "Lease".into(),
        namespace: Some(l.namespace.clone()),
        name: l.name.clone(),
        part: None,
    }
}

/// Seconds as a duration people read (`47m`, `95s`).
fn secs(now: DateTime<Utc>, s: i64) -> String {
    age(now, now - chrono::Duration::seconds(s))
}

fn lookup(l: &LeaseRow) -> String {
    format!("kubectl get leases -n {} {} -o yaml", l.namespace, l.name)
}

pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    let (model, now) = (cx.model, cx.now);
    for l in model.leaders.rows() {
        if l.abandoned(now) {
            continue;
        }
        let missing_key = missing_or_stale(l, now, out);
        flapping(model, l, now, &missing_key, out);
        node_not_ready(model, l, now, &missing_key, out);
    }
}

/// `leader-missing` (no holder, or the lease expired), else `leader-stale` (past the renew
/// deadline); the key of `leader-missing`, which explains the lease's other findings.
fn missing_or_stale(l: &LeaseRow, now: DateTime<Utc>, out: &mut Vec<Finding>) -> Option<String> {
    let renew_age = l.renew_age(now);
    let dur = l.duration_s.unwrap_or(15).max(1);
    if l.holder.is_empty() || renew_age.is_some_and(|a| a > dur) {
        // the control plane's own elections stall the cluster; any other lease, one add-on
        let severity = if l.well_known() {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut f = Finding::new(
            "leader-missing",
            severity,
            PaneId::Leaders,
            Some(subject(l)),
            format!("{}/{}: no active leader", l.namespace, l.name),
        );
        if l.holder.is_empty() {
            f.evidence.push("holderIdentity is empty".into());
        } else {
            f.evidence.push(format!(
                "holder {} last renewed {} ago, lease duration {dur}s",
                l.holder,
                renew_age.map(|a| secs(now, a)).unwrap_or_default()
            ));
        }
        f.evidence.push(format!("check: {}", lookup(l)));
        f.fix.text = if l.well_known() {
            "Find why no candidate renews: the component's pods on the control-plane nodes (RKE2: \
             `crictl ps --name <component>`, RKE1: `docker logs <component>`), their node's health, \
             and any admission webhook rejecting lease updates."
                .into()
        } else {
            format!(
                "Only the controller that holds this lease stalls, not the cluster: find its pods in \
                 namespace {} (`kubectl -n {} get pods`), their logs and their node's health, and any \
                 admission webhook rejecting lease updates.",
                l.namespace, l.namespace
            )
        };
        f.details = json!({"holder": l.holder, "renew_age_s": renew_age, "lease_duration_s": dur});
        let key = f.key.clone();
        out.push(f);
        return Some(key);
    } else {
        // past the renew deadline (2/3 of the duration, kube-scheduler's default 10 s of 15 s)
        if let Some(a) = renew_age
            && a * 3 > dur * 2
        {
            let mut f = Finding::new(
                "leader-stale",
                Severity::Warning,
                PaneId::Leaders,
                Some(subject(l)),
                format!(
                    "{}/{}: leader {} has not renewed for {}",
                    l.namespace,
                    l.name,
                    l.holder,
                    secs(now, a)
                ),
            );
            f.evidence.push(format!(
                "renewTime {} ago; leaseDurationSeconds {dur}: the leader steps down after the renew deadline",
                secs(now, a)
            ));
            f.evidence.push(format!("check: {}", lookup(l)));
            f.fix.text = "Check the holder's node and the component's logs; a slow API server or etcd also delays renewals.".into();
            f.details = json!({"holder": l.holder, "renew_age_s": a, "lease_duration_s": dur});
            out.push(f);
        }
    }
    None
}

/// `leader-flapping`: the holder changed too often within the window.
fn flapping(
    model: &Model,
    l: &LeaseRow,
    now: DateTime<Utc>,
    missing_key: &Option<String>,
    out: &mut Vec<Finding>,
) {
    let t = model.tuning.leaders;
    let key = crate::model::Keyed::key(l);
    let changes = model
        .leaders
        .changes_within(&key, now, t.flapping_window_secs);
    if changes >= t.flapping_changes.max(1) {
        let mut f = Finding::new(
            "leader-flapping",
            Severity::Warning,
            PaneId::Leaders,
            Some(subject(l)),
            format!(
                "{}/{}: leader changed {changes} times in {}",
                l.namespace,
                l.name,
                age(now, now - chrono::Duration::seconds(t.flapping_window_secs))
            ),
        );
        let hist: Vec<String> = model
            .leaders
            .changes
            .get(&key)
            .map(|v| {
                v.iter()
                    .rev()
                    .take(6)
                    .map(|c| format!("{} → {} ({} ago)", c.from, c.to, age(now, c.at)))
                    .collect()
            })
            .unwrap_or_default();
        f.evidence.extend(hist);
        if let Some(tr) = l.transitions {
            f.evidence.push(format!("leaseTransitions: {tr}"));
        }
        f.fix.text = "Leaders that keep changing lose their renewals: check the API server latency and etcd \
                      health (etcd pane), clock skew and CPU starvation on the control-plane nodes."
            .into();
        f.cause = missing_key.clone();
        f.details = json!({"changes": changes, "window_s": t.flapping_window_secs, "threshold": t.flapping_changes});
        out.push(f);
    }
}

/// `leader-node-notready`: the holder's node is NotReady.
fn node_not_ready(
    model: &Model,
    l: &LeaseRow,
    now: DateTime<Utc>,
    missing_key: &Option<String>,
    out: &mut Vec<Finding>,
) {
    if let Some(node) = l.holder_node()
        && let Some(n) = model.nodes.get(node)
        && n.ready == Some(false)
    {
        let mut f = Finding::new(
            "leader-node-notready",
            Severity::Warning,
            PaneId::Leaders,
            Some(subject(l)),
            format!(
                "{}/{}: the leader's node {node} is NotReady",
                l.namespace, l.name
            ),
        );
        f.evidence
            .push(format!("holder {} runs on node {node}", l.holder));
        if let Some(s) = n.ready_since {
            f.evidence
                .push(format!("{node} NotReady for {}", age(now, s)));
        }
        f.fix.text = format!(
            "Check the node (`kubectl describe node {node}`); another candidate takes over once the lease expires."
        );
        f.cause = missing_key.clone();
        f.details = json!({"node": node});
        out.push(f);
    }
}
