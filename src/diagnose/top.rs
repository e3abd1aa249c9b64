//! Top: `pod-no-limits` (worst consumers first), `pod-near-limit`, `node-overcommitted`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::quantity::fmt_bytes;
use crate::model::top::{PodRow, WorkloadRef};
use crate::model::{Model, PaneId};

/// At most this many `pod-no-limits` findings (the worst consumers).
const NO_LIMITS_MAX: usize = 10;

/// Namespaces of the platform itself (Kubernetes and Rancher contracts), whose static and system pods
/// commonly run without limits by design.
fn platform(ns: &str) -> bool {
    ns == "kube-system" || ns.starts_with("cattle-") || ns == "kube-node-lease"
}

/// The Top pane's findings: those of the per-pod pass (memoised with pod health's).
pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    out.extend(cx.pod_findings().iter().cloned());
}

/// Top's per-pod rules.
pub fn pod_rules(model: &Model, _now: DateTime<Utc>, out: &mut Vec<Finding>) {
    no_limits(model, out);
    near_limit(model, out);
    overcommitted(model, out);
}

/// `pod-no-limits`, one per workload, the worst consumers first.
fn no_limits(model: &Model, out: &mut Vec<Finding>) {
    let top = &model.top;
    // pod-no-limits, one per workload: (pods, memory used, the first pod, described below). Hashed,
    // and only the reported workloads are described: at 50,000 pods without limits this ran per pod.
    let mut by: HashMap<WorkloadRef<'_>, (usize, u64, &PodRow), foldhash::fast::RandomState> =
        HashMap::default();
    for p in top
        .pods
        .iter()
        .filter(|p| p.running() && !platform(&p.namespace))
    {
        if !p.lacks_any_limit() {
            continue;
        }
        let e = by.entry(top.workload_ref(p)).or_insert((0, 0, p));
        e.0 += 1;
        e.1 += top.usage(p).map(|u| u.mem_b).unwrap_or(0);
    }
    let mut ranked: Vec<_> = by.into_iter().collect();
    // the worst consumer first; ties by workload, so the order does not depend on the hash
    ranked.sort_by(|a, b| {
        (b.1.1, b.1.0)
            .cmp(&(a.1.1, a.1.0))
            .then_with(|| a.0.cmp(&b.0))
    });
    ranked.truncate(NO_LIMITS_MAX);
    // findings are listed by key; `rank` keeps the worst-consumer order (1 = uses the most)
    for (rank, (w, (pods, mem, first))) in ranked.into_iter().enumerate() {
        // the pods of one workload share their spec: describe the first
        let mut missing: Vec<String> = Vec::new();
        for c in &first.containers {
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
            Some(Subject::namespaced(w.kind, w.namespace, w.name)),
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
        f.details = json!({"pods": pods, "memory_bytes": mem, "rank": rank + 1});
        out.push(f);
    }
}

/// `pod-near-limit`: memory at the configured share of the limit, or OOMKilled.
fn near_limit(model: &Model, out: &mut Vec<Finding>) {
    let top = &model.top;
    let t = model.tuning.top;
    for p in top.pods.iter().filter(|p| p.running()) {
        let oom_any = p.containers.iter().any(|c| c.oom_killed && c.restarts > 0);
        if p.lim_mem().is_none() && !oom_any {
            continue; // neither near a limit it does not have, nor OOMKilled: no usage lookup
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
            continue;
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
        out.push(f);
    }
}

/// `node-overcommitted`: the pods' memory limits (or requests) beyond the node's allocatable.
fn overcommitted(model: &Model, out: &mut Vec<Finding>) {
    let top = &model.top;
    let t = model.tuning.top;
    let mut per_node: HashMap<&str, (u64, u64), foldhash::fast::RandomState> = HashMap::default();
    for p in top
        .pods
        .iter()
        .filter(|p| p.running() && !p.node.is_empty())
    {
        let e = per_node.entry(p.node.as_str()).or_default();
        e.0 += p.containers.iter().filter_map(|c| c.lim_mem_b).sum::<u64>();
        e.1 += p.req_mem().unwrap_or(0);
    }
    for (node, (lim, req)) in per_node {
        let Some(alloc) = model
            .nodes
            .get(node)
            .and_then(|n| n.alloc_mem_b)
            .filter(|a| *a > 0)
        else {
            continue;
        };
        let lim_pct = lim * 100 / alloc;
        let req_pct = req * 100 / alloc;
        if lim_pct <= t.overcommit_pct && req_pct <= 100 {
            continue;
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
        f.fix.text = "Pods can together use more memory than the node has: expect MemoryPressure and evictions under load. Lower limits or spread the pods.".into();
        f.details = json!({"limits_pct": lim_pct, "requests_pct": req_pct});
        out.push(f);
    }
}
