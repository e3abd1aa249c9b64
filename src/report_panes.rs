//! The report's `panes.{leaders,events,top}.rows`: the same rows the panes show.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::model::{Model, PaneId};

fn ts(t: Option<DateTime<Utc>>) -> Value {
    json!(t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

pub fn rows(model: &Model, pane: PaneId, now: DateTime<Utc>) -> Option<Value> {
    match pane {
        PaneId::Leaders if model.leaders.store.synced => Some(Value::Array(
            model
                .leaders
                .rows()
                .into_iter()
                .map(|l| {
                    json!({
                        "namespace": l.namespace,
                        "name": l.name,
                        "holder": l.holder,
                        "node": l.holder_node(),
                        "lease_duration_s": l.duration_s,
                        "renew_age_s": l.renew_age(now),
                        "acquire_time": ts(l.acquire),
                        "transitions": l.transitions,
                        "changes_seen": model.leaders.changes.get(&format!("{}/{}", l.namespace, l.name)).map(Vec::len).unwrap_or(0),
                    })
                })
                .collect(),
        )),
        PaneId::Events if model.events.store.synced => Some(Value::Array(
            model
                .events
                .groups()
                .into_iter()
                .map(|g| {
                    json!({
                        "reason": g.reason,
                        "kind": g.kind,
                        "namespace": g.namespace,
                        "node": g.node,
                        "warning": g.warning,
                        "count": g.count,
                        "first_seen": ts(g.first),
                        "last_seen": ts(g.last),
                        "rate_per_min": (g.rate_per_min() * 10.0).round() / 10.0,
                        "message": g.message,
                    })
                })
                .collect(),
        )),
        PaneId::Top if model.top.pods.synced => Some(Value::Array(
            model
                .top
                .rows()
                .into_iter()
                .map(|r| {
                    json!({
                        "namespace": r.namespace,
                        "name": r.name,
                        "owner": r.workload.as_ref().map(|w| format!("{}/{}", w.kind, w.name)),
                        "node": r.node,
                        "cpu_m": r.cpu_m,
                        "memory_bytes": r.mem_b,
                        "memory_pct_of_request": r.pct_of(r.req_mem_b),
                        "memory_pct_of_limit": r.pct_of(r.lim_mem_b),
                        "restarts": r.restarts,
                        "no_limits": r.no_limits,
                    })
                })
                .collect(),
        )),
        _ => None,
    }
}
