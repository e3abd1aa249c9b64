//! Events: `eviction-storm` (with the workload most likely responsible), `node-pressure`,
//! `node-flapping`, `evicted-pods-leftover`.
//!
//! The culprit of a storm is found from pod specs and placement, never names: a workload with a
//! container without a memory limit whose pods run on the pressured nodes, ranked by memory usage
//! where metrics exist, else by memory requests and replica count. When every workload there has
//! limits, the culprit is the one whose memory grew furthest past its request (at least
//! [`GROWTH_FACTOR`] times it, metrics needed). Evicted pods are victims.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::nodes::NodeRow;
use crate::model::quantity::fmt_bytes;
use crate::model::top::Workload;
use crate::model::{Model, PaneId};
use crate::text::age;

/// With metrics, a suspect's pods use at least this share of their nodes' allocatable memory.
pub const MIN_SHARE_PCT: u64 = 10;

/// A workload with limits is a suspect when its pods use this many times their memory request.
pub const GROWTH_FACTOR: u64 = 2;

/// Without pressure on any node, a storm is over once the last eviction is this old (seconds).
pub const QUIET_SECS: i64 = 120;

/// A candidate culprit with its weight on the pressured nodes.
#[derive(Debug, Clone)]
pub struct Suspect {
    pub workload: Workload,
    pub pods: usize,
    pub nodes: BTreeSet<String>,
    pub usage_b: Option<u64>,
    pub requests_b: u64,
    /// Its pods have memory limits: a suspect by its growth past its request, not by a missing limit.
    pub limited: bool,
}

/// Workloads without memory limits on `nodes`, most likely culprit first; when there are none,
/// workloads with limits whose memory grew to [`GROWTH_FACTOR`] times their request.
pub fn suspects(model: &Model, nodes: &BTreeSet<String>) -> Vec<Suspect> {
    let unlimited = suspects_where(model, nodes, false);
    if !unlimited.is_empty() || !model.top.metrics_state.is_ok() {
        return unlimited;
    }
    suspects_where(model, nodes, true)
        .into_iter()
        .filter(|s| s.usage_b.is_some_and(|u| u >= GROWTH_FACTOR * s.requests_b.max(1)))
        .collect()
}

/// Running workloads on `nodes` without a memory limit (`limited` false) or with one (true),
/// heaviest first.
fn suspects_where(model: &Model, nodes: &BTreeSet<String>, limited: bool) -> Vec<Suspect> {
    let top = &model.top;
    let with_metrics = top.metrics_state.is_ok();
    let mut by: BTreeMap<Workload, Suspect> = BTreeMap::new();
    for p in top.pods.iter() {
        if !p.running() || !nodes.contains(&p.node) || p.lacks_mem_limit() == limited {
            continue;
        }
        let w = top.workload(p);
        let s = by.entry(w.clone()).or_insert_with(|| Suspect {
            workload: w,
            pods: 0,
            nodes: BTreeSet::new(),
            usage_b: None,
            requests_b: 0,
            limited,
        });
        s.pods += 1;
        s.nodes.insert(p.node.clone());
        if with_metrics && let Some(u) = top.usage(p) {
            s.usage_b = Some(s.usage_b.unwrap_or(0) + u.mem_b);
        }
        s.requests_b += p.req_mem().unwrap_or(0);
    }
    // with metrics, a culprit must hold a real share of its nodes' memory (a DaemonSet using 1 % of
    // each node explains no pressure)
    let share_ok = |s: &Suspect| {
        let Some(used) = s.usage_b else {
            return true;
        };
        let alloc: u64 = s
            .nodes
            .iter()
            .filter_map(|n| model.nodes.get(n).and_then(|n| n.alloc_mem_b))
            .sum();
        alloc == 0 || used * 100 >= alloc * MIN_SHARE_PCT
    };
    let mut v: Vec<Suspect> = by.into_values().filter(share_ok).collect();
    v.sort_by(|a, b| {
        (b.usage_b, b.requests_b, b.pods)
            .cmp(&(a.usage_b, a.requests_b, a.pods))
            .then_with(|| a.workload.cmp(&b.workload))
    });
    v
}

fn node_subject(name: &str) -> Subject {
    Subject {
        kind: "Node".into(),
        namespace: None,
        name: name.to_string(),
        part: None,
    }
}

pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    let (model, now, evicted) = (cx.model, cx.now, cx.evicted());
    // nodes under pressure now
    let pressured: Vec<&NodeRow> = model
        .nodes
        .store
        .iter()
        .filter(|n| !n.pressure.is_empty())
        .collect();
    let storm_key = storm(model, now, &pressured).map(|f| {
        let key = f.key.clone();
        out.push(f);
        key
    });
    node_pressure(&pressured, now, &storm_key, out);
    node_flapping(model, now, out);
    evicted_leftover(evicted, &storm_key, out);
}

/// `eviction-storm`: enough evictions in the window, still going (or memory pressure now); the
/// culprit is the workload without memory limits on the affected nodes, never a victim.
fn storm(model: &Model, now: DateTime<Utc>, pressured: &[&NodeRow]) -> Option<Finding> {
    let t = model.tuning.events;
    let recent: Vec<_> = model
        .events
        .recent_evictions(now, t.storm_window_secs)
        .collect();
    let evictions: u64 = recent.iter().map(|e| u64::from(e.count.max(1))).sum();
    let last_eviction = recent.iter().filter_map(|e| e.last).max();
    let memory = |n: &&&NodeRow| n.pressure.iter().any(|p| p == "MemoryPressure");
    let quiet = !pressured.iter().any(|n| memory(&n))
        && last_eviction.is_none_or(|t| (now - t).num_seconds() > QUIET_SECS);
    if evictions < t.storm_evictions.max(1) || quiet {
        return None;
    }
    let mut nodes: BTreeSet<String> = recent
        .iter()
        .map(|e| e.node.clone())
        .filter(|n| !n.is_empty())
        .collect();
    nodes.extend(pressured.iter().filter(memory).map(|n| n.name.clone()));
    let ranked = suspects(model, &nodes);
    let culprit = ranked.first();
    let window = age(now, now - chrono::Duration::seconds(t.storm_window_secs));
    let subject = culprit.map(|s| Subject {
        kind: s.workload.kind.clone(),
        namespace: Some(s.workload.namespace.clone()),
        name: s.workload.name.clone(),
        part: None,
    });
    let title = match culprit {
        Some(s) => format!(
            "Eviction storm: {evictions} evictions in {window}; likely cause {} {}/{} ({})",
            s.workload.kind,
            s.workload.namespace,
            s.workload.name,
            if s.limited {
                format!(
                    "memory at {}× its request",
                    s.usage_b.unwrap_or(0) / s.requests_b.max(1)
                )
            } else {
                "no memory limit".into()
            }
        ),
        None => format!("Eviction storm: {evictions} evictions in {window}"),
    };
    let mut f = Finding::new(
        "eviction-storm",
        Severity::Critical,
        PaneId::Events,
        subject,
        title,
    );
    let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
    f.evidence.push(format!(
        "{evictions} eviction events on node(s) {}",
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(", ")
        }
    ));
    for n in pressured.iter().filter(|n| nodes.contains(&n.name)) {
        f.evidence
            .push(format!("node {}: {}", n.name, n.pressure.join(", ")));
    }
    f.evidence.extend(ranked.iter().take(3).map(suspect_line));
    let victims: Vec<String> = recent
        .iter()
        .filter(|e| e.kind == "Pod")
        .map(|e| format!("{}/{}", e.namespace, e.object))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !victims.is_empty() {
        f.evidence.push(victims_line(&victims));
    }
    storm_fix(&mut f, culprit);
    f.details = json!({
        "evictions": evictions,
        "window_s": t.storm_window_secs,
        "nodes": names,
        "victims": victims,
        "suspects": ranked.iter().take(5).map(|s| json!({
            "kind": s.workload.kind, "namespace": s.workload.namespace, "name": s.workload.name,
            "pods": s.pods, "usage_bytes": s.usage_b, "requests_bytes": s.requests_b,
        })).collect::<Vec<_>>(),
    });
    Some(f)
}

fn suspect_line(s: &Suspect) -> String {
    let weight = match s.usage_b {
        Some(u) => format!("using {}", fmt_bytes(u)),
        None => format!("requesting {}", fmt_bytes(s.requests_b)),
    };
    let what = if s.limited {
        format!(
            "with memory limits, grown past their request of {}",
            fmt_bytes(s.requests_b)
        )
    } else {
        "without a memory limit".into()
    };
    format!(
        "{} {}/{}: {} pod(s) {what} on {}, {weight}",
        s.workload.kind,
        s.workload.namespace,
        s.workload.name,
        s.pods,
        s.nodes.iter().cloned().collect::<Vec<_>>().join(", ")
    )
}

fn victims_line(victims: &[String]) -> String {
    format!(
        "evicted (victims, not the cause): {}{}",
        victims
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", "),
        if victims.len() > 5 {
            format!(" and {} more", victims.len() - 5)
        } else {
            String::new()
        }
    )
}

fn storm_fix(f: &mut Finding, culprit: Option<&Suspect>) {
    f.fix.text = match culprit {
        Some(s) => format!(
            "Stop the runaway workload: `kubectl -n {} scale {}/{} --replicas=0` (press t to jump to it in Top, then s), \
             then {} before scaling back up. Add limits and requests to all workloads.",
            s.workload.namespace,
            s.workload.kind.to_lowercase(),
            s.workload.name,
            if s.limited {
                "find why its memory grows past its request (a leak, a load it was not sized for) and set its request \
                 to what it really uses, with a limit the node can hold (the scheduler places pods by requests)"
            } else {
                "give it memory requests and limits"
            }
        ),
        None => "Find the pods using the most memory on the pressured nodes (Top pane) and give every workload memory requests and limits.".into(),
    };
    if culprit.is_some_and(|s| crate::model::top::actions::SCALABLE.contains(&s.workload.kind.as_str())) {
        f.fix.action = Some("scale".into());
    }
}

/// `node-pressure`, explained by the storm when there is one.
fn node_pressure(
    pressured: &[&NodeRow],
    now: DateTime<Utc>,
    storm_key: &Option<String>,
    out: &mut Vec<Finding>,
) {
    for n in pressured {
        let mut f = Finding::new(
            "node-pressure",
            Severity::Warning,
            PaneId::Events,
            Some(node_subject(&n.name)),
            format!("Node {} under {}", n.name, n.pressure.join(", ")),
        );
        for (c, since) in &n.pressure_since {
            f.evidence.push(match since {
                Some(s) => format!("{c}=True for {}", age(now, *s)),
                None => format!("{c}=True"),
            });
        }
        f.fix.text = format!(
            "`kubectl describe node {}`; find the heaviest pods on it in Top (sort by memory) and limit them.",
            n.name
        );
        f.cause = storm_key.clone();
        f.details = json!({"conditions": n.pressure});
        out.push(f);
    }
}

/// `node-flapping`: Ready/NotReady flips within the hour.
fn node_flapping(model: &Model, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let t = model.tuning.events;
    for (node, flips) in &model.nodes.flips {
        if flips.len() < t.node_flaps.max(1) {
            continue;
        }
        let mut f = Finding::new(
            "node-flapping",
            Severity::Warning,
            PaneId::Events,
            Some(node_subject(node)),
            format!(
                "Node {node} flapped Ready/NotReady {} times in the last hour",
                flips.len()
            ),
        );
        if let Some(last) = flips.last() {
            f.evidence
                .push(format!("last flip {} ago", age(now, *last)));
        }
        f.fix.text = format!(
            "Check the kubelet and the network of {node} (`journalctl -u rke2-agent` / `docker logs kubelet`)."
        );
        f.details = json!({"flips": flips.len()});
        out.push(f);
    }
}

/// `evicted-pods-leftover`: the Evicted pods no one deleted, per namespace.
fn evicted_leftover(
    per_ns: &BTreeMap<String, usize>,
    storm_key: &Option<String>,
    out: &mut Vec<Finding>,
) {
    let total: usize = per_ns.values().sum();
    if total == 0 {
        return;
    }
    let mut f = Finding::new(
        "evicted-pods-leftover",
        Severity::Info,
        PaneId::Events,
        None,
        format!("{total} evicted pod(s) left behind"),
    );
    for (ns, n) in per_ns {
        f.evidence
            .push(format!("{ns}: {n} pod(s) in phase Failed, reason Evicted"));
    }
    f.fix.text = "They hold no resources but clutter listings: `kubectl get pods -A --field-selector=status.phase=Failed` \
                  and delete the Evicted ones (`kubectl delete pod -n <ns> <pod>`)."
        .into();
    f.cause = storm_key.clone();
    f.details = json!({"count": total, "per_namespace": per_ns});
    out.push(f);
}
