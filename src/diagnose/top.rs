//! Top: `pod-no-limits` (worst consumers first), `pod-near-limit`, `node-overcommitted`.

use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::quantity::fmt_bytes;
use crate::model::top::{PodRow, TopModel, Workload, WorkloadRef};
use crate::model::{Model, PaneId};
use crate::tuning::TopTuning;

/// At most this many `pod-no-limits` findings (the worst consumers).
pub(super) const NO_LIMITS_MAX: usize = 10;

/// Namespaces of the platform itself (Kubernetes and Rancher contracts), whose static and system pods
/// commonly run without limits by design.
fn platform(ns: &str) -> bool {
    ns == "kube-system" || ns.starts_with("cattle-") || ns == "kube-node-lease"
}

/// The Top pane's findings: those of the per-pod pass (kept with pod health's, `diagnose::pods`).
pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    out.extend(cx.pod_findings().cloned());
}

/// What a pod adds to its workload's `pod-no-limits` total (its memory in use), when it counts:
/// running, outside the platform's namespaces, some container without a limit.
pub(super) fn no_limits_mem(top: &TopModel, p: &PodRow) -> Option<u64> {
    (p.running() && !platform(&p.namespace) && p.lacks_any_limit())
        .then(|| top.usage(p).map(|u| u.mem_b).unwrap_or(0))
}

/// The order of `pod-no-limits`: the worst consumer first (memory, then pods); ties by workload,
/// so the order does not depend on a hash.
pub(super) fn no_limits_order(
    a: (WorkloadRef<'_>, usize, u64),
    b: (WorkloadRef<'_>, usize, u64),
) -> std::cmp::Ordering {
    (b.2, b.1).cmp(&(a.2, a.1)).then_with(|| a.0.cmp(&b.0))
}

/// `pod-no-limits` about one workload ranked `rank` (1 = uses the most), described by `first`, its
/// first pod by name (the pods of one workload share their spec).
pub(super) fn no_limits(
    top: &TopModel,
    rank: usize,
    w: &Workload,
    (pods, mem): (usize, u64),
    first: Option<&PodRow>,
) -> Finding {
    let mut missing: Vec<String> = Vec::new();
    for c in first.iter().flat_map(|p| &p.containers) {
        let what = match (c.lim_mem_b.is_none(), c.lim_cpu_m.is_none()) {
            (true, true) => "memory/cpu",
            (true, false) => "memory",
            (false, true) => "cpu",
            (false, false) => continue,
        };
        let s = format!("container {}: no {what} limit", c.name);
        if !missing.contains(&s) {
            missing.push(s);
        }
    }
    let mut f = Finding::new(
        "pod-no-limits",
        Severity::Warning,
        PaneId::Top,
        Some(Subject::namespaced(&w.kind, &w.namespace, &w.name)),
        format!(
            "{} {}/{}: {pods} pod(s) without resource limits{}",
            w.kind,
            w.namespace,
            w.name,
            if top.metrics_state.is_ok() {
                format!(", using {}", fmt_bytes(mem))
            } else {
                String::new()
            }
        ),
    );
    f.evidence.extend(missing);
    f.fix.text = format!(
        "Set requests and limits: `kubectl -n {} set resources {}/{} --requests=memory=…,cpu=… --limits=memory=…,cpu=…`.",
        w.namespace,
        w.kind.to_lowercase(),
        w.name
    );
    f.details = json!({"pods": pods, "memory_bytes": mem, "rank": rank});
    f
}

/// `pod-near-limit`: memory at the configured share of the limit, or OOMKilled.
pub(super) fn near_limit(top: &TopModel, t: TopTuning, p: &PodRow) -> Option<Finding> {
        if !p.running() {
            return None;
        }
        let oom_any = p.containers.iter().any(|c| c.oom_killed && c.restarts > 0);
        if p.lim_mem().is_none() && !oom_any {
            return None; // neither near a limit it does not have, nor OOMKilled: no usage lookup
        }
        let u = top.usage(p);
        let pct = match (u, p.lim_mem()) {
            (Some(u), Some(l)) if l > 0 => Some(u.mem_b * 100 / l),
            _ => None,
        };
        let oom: Vec<&str> = p
            .containers
            .iter()
            .filter(|c| c.oom_killed && c.restarts > 0)
            .map(|c| c.name.as_str())
            .collect();
        let near = pct.is_some_and(|x| x >= t.near_limit_pct);
        if !near && oom.is_empty() {
            return None;
        }
        let mut f = Finding::new(
            "pod-near-limit",
            Severity::Warning,
            PaneId::Top,
            Some(Subject::namespaced("Pod", &p.namespace, &p.name)),
            match pct {
                Some(x) if near => {
                    format!("Pod {}/{} at {x}% of its memory limit", p.namespace, p.name)
                }
                _ => format!("Pod {}/{} was OOMKilled", p.namespace, p.name),
            },
        );
        if let (Some(u), Some(l)) = (u, p.lim_mem()) {
            f.evidence.push(format!(
                "memory {} of limit {}",
                fmt_bytes(u.mem_b),
                fmt_bytes(l)
            ));
        }
        for c in &oom {
            f.evidence.push(format!(
                "container {c}: last terminated OOMKilled, {} restart(s)",
                p.restarts()
            ));
        }
        f.fix.text = "Raise the memory limit to what the workload needs, or find the leak; OOMKilled containers restart in a loop.".into();
        f.details = json!({"pct_of_limit": pct, "oom_killed": oom});
        Some(f)
}

/// What a pod adds to its node's `node-overcommitted` totals: (node, memory limits, memory
/// requests), when it runs on one.
pub(super) fn node_part(p: &PodRow) -> Option<(&str, u64, u64)> {
    (p.running() && !p.node.is_empty()).then(|| {
        (
            p.node.as_str(),
            p.containers.iter().filter_map(|c| c.lim_mem_b).sum::<u64>(),
            p.req_mem().unwrap_or(0),
        )
    })
}

/// `node-overcommitted`: the pods' memory limits (or requests) beyond the node's allocatable.
pub(super) fn overcommitted(model: &Model, node: &str, (lim, req): (u64, u64)) -> Option<Finding> {
    let t = model.tuning.top;
    let alloc = model
        .nodes
        .get(node)
        .and_then(|n| n.alloc_mem_b)
        .filter(|a| *a > 0)?;
    let lim_pct = lim * 100 / alloc;
    let req_pct = req * 100 / alloc;
    if lim_pct <= t.overcommit_pct && req_pct <= 100 {
        return None;
    }
    let mut f = Finding::new(
        "node-overcommitted",
        Severity::Warning,
        PaneId::Top,
        Some(Subject {
            kind: "Node".into(),
            namespace: None,
            name: node.to_string(),
            part: None,
        }),
        format!("Node {node}: memory limits at {lim_pct}% of allocatable"),
    );
    f.evidence.push(format!(
        "limits {} / requests {} / allocatable {}",
        fmt_bytes(lim),
        fmt_bytes(req),
        fmt_bytes(alloc)
    ));
    f.fix.text = "Pods can together use more memory than the node has: expect MemoryPressure and evictions under load. Lower limits or spread the pods.".into()    ;
    f.details = json!({"limits_pct": lim_pct, "requests_pct": req_pct});
    Some(f)
}
