//! `as=Table` answers (what `kubectl get` asks for), with the real columns for the kinds ktriage
//! and kubectl users look at, and Name/Age for the rest.

use serde_json::{Value, json};

use super::registry::ResourceDef;
use super::store::{Obj, meta_str};

/// Whether the Accept header asks for a meta.k8s.io Table first.
pub fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// A short age like kubectl prints (`45s`, `12m`, `3h`, `5d`).
pub fn age(ts: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - t.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s if s < 8 * 86400 => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn s<'a>(o: &'a Value, ptr: &str) -> &'a str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn n(o: &Value, ptr: &str) -> i64 {
    o.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn cond_status<'a>(o: &'a Value, t: &str) -> Option<&'a Value> {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
        })
}

fn pod_cells(o: &Value) -> Vec<Value> {
    let total = o
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let statuses = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ready = statuses
        .iter()
        .filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true))
        .count();
    let restarts: i64 = statuses
        .iter()
        .map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0))
        .sum();
    let mut status = s(o, "/status/reason").to_string();
    if status.is_empty() {
        status = s(o, "/status/phase").to_string();
    }
    for c in &statuses {
        let w = c.pointer("/state/waiting/reason").and_then(Value::as_str);
        let t = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str);
        if let Some(r) = w.or(t) {
            status = r.to_string();
        }
    }
    if o.pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        status = "Terminating".into();
    }
    vec![
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts),
        json!(age(meta_str(o, "creationTimestamp"))),
        json!(if s(o, "/status/podIP").is_empty() {
            "<none>"
        } else {
            s(o, "/status/podIP")
        }),
        json!(if s(o, "/spec/nodeName").is_empty() {
            "<none>"
        } else {
            s(o, "/spec/nodeName")
        }),
    ]
}

fn node_cells(o: &Value) -> Vec<Value> {
    let ready = cond_status(o, "Ready")
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str);
    let mut status = match ready {
        Some("True") => "Ready".to_string(),
        _ => "NotReady".to_string(),
    };
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    let mut roles: Vec<String> = o
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    let ip = o
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("type").and_then(Value::as_str) == Some("InternalIP"))
        })
        .and_then(|x| x.get("address").and_then(Value::as_str))
        .unwrap_or("<none>");
    vec![
        json!(status),
        json!(if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles.join(",")
        }),
        json!(age(meta_str(o, "creationTimestamp"))),
        json!(s(o, "/status/nodeInfo/kubeletVersion")),
        json!(ip),
        json!(s(o, "/status/nodeInfo/osImage")),
        json!(s(o, "/status/nodeInfo/kernelVersion")),
        json!(s(o, "/status/nodeInfo/containerRuntimeVersion")),
    ]
}

fn event_cells(o: &Value) -> Vec<Value> {
    let last = [
        s(o, "/lastTimestamp"),
        s(o, "/eventTime"),
        s(o, "/series/lastObservedTime"),
        meta_str(o, "creationTimestamp"),
    ]
    .into_iter()
    .find(|x| !x.is_empty())
    .unwrap_or("");
    let obj = format!(
        "{}/{}",
        s(o, "/involvedObject/kind").to_lowercase(),
        s(o, "/involvedObject/name")
    );
    vec![
        json!(age(last)),
        json!(s(o, "/type")),
        json!(s(o, "/reason")),
        json!(obj),
        json!(s(o, "/message")),
    ]
}

fn col(name: &str, ty: &str, priority: i64) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": name, "priority": priority})
}

/// Columns (name, type, priority) and the cells after Name, per kind.
fn columns_and_cells(
    def: &ResourceDef,
    o: &Value,
) -> (Vec<(&'static str, &'static str, i64)>, Vec<Value>) {
    let age_cell = json!(age(meta_str(o, "creationTimestamp")));
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => (
            vec![("Status", "string", 0), ("Age", "string", 0)],
            vec![json!(s(o, "/status/phase")), age_cell],
        ),
        ("", "pods") => (
            vec![
                ("Ready", "string", 0),
                ("Status", "string", 0),
                ("Restarts", "string", 0),
                ("Age", "string", 0),
                ("IP", "string", 1),
                ("Node", "string", 1),
            ],
            pod_cells(o),
        ),
        ("", "nodes") => (
            vec![
                ("Status", "string", 0),
                ("Roles", "string", 0),
                ("Age", "string", 0),
                ("Version", "string", 0),
                ("Internal-IP", "string", 1),
                ("OS-Image", "string", 1),
                ("Kernel-Version", "string", 1),
                ("Container-Runtime", "string", 1),
            ],
            node_cells(o),
        ),
        (g, "events") if g.is_empty() || def.events_view => (
            vec![
                ("Last Seen", "string", 0),
                ("Type", "string", 0),
                ("Reason", "string", 0),
                ("Object", "string", 0),
                ("Message", "string", 0),
            ],
            event_cells(o),
        ),
        ("apps", "deployments") => (
            vec![
                ("Ready", "string", 0),
                ("Up-to-date", "integer", 0),
                ("Available", "integer", 0),
                ("Age", "string", 0),
            ],
            vec![
                json!(format!(
                    "{}/{}",
                    n(o, "/status/readyReplicas"),
                    n(o, "/spec/replicas")
                )),
                json!(n(o, "/status/updatedReplicas")),
                json!(n(o, "/status/availableReplicas")),
                age_cell,
            ],
        ),
        ("apps", "replicasets") => (
            vec![
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Age", "string", 0),
            ],
            vec![
                json!(n(o, "/spec/replicas")),
                json!(n(o, "/status/replicas")),
                json!(n(o, "/status/readyReplicas")),
                age_cell,
            ],
        ),
        ("", "services") => {
            let ports: Vec<String> = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|p| {
                            format!(
                                "{}/{}",
                                n(p, "/port"),
                                p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            (
                vec![
                    ("Type", "string", 0),
                    ("Cluster-IP", "string", 0),
                    ("External-IP", "string", 0),
                    ("Port(s)", "string", 0),
                    ("Age", "string", 0),
                ],
                vec![
                    json!(s(o, "/spec/type")),
                    json!(s(o, "/spec/clusterIP")),
                    json!("<none>"),
                    json!(if ports.is_empty() {
                        "<none>".to_string()
                    } else {
                        ports.join(",")
                    }),
                    age_cell,
                ],
            )
        }
        ("coordination.k8s.io", "leases") => (
            vec![("Holder", "string", 0), ("Age", "string", 0)],
            vec![json!(s(o, "/spec/holderIdentity")), age_cell],
        ),
        ("apiregistration.k8s.io", "apiservices") => {
            let svc = match o.pointer("/spec/service").filter(|v| !v.is_null()) {
                Some(v) => format!("{}/{}", s(v, "/namespace"), s(v, "/name")),
                None => "Local".into(),
            };
            let avail = match cond_status(o, "Available") {
                Some(c) if s(c, "/status") == "True" => "True".to_string(),
                Some(c) => format!("{} ({})", s(c, "/status"), s(c, "/reason")),
                None => "Unknown".into(),
            };
            (
                vec![
                    ("Service", "string", 0),
                    ("Available", "string", 0),
                    ("Age", "string", 0),
                ],
                vec![json!(svc), json!(avail), age_cell],
            )
        }
        ("admissionregistration.k8s.io", _) => (
            vec![("Webhooks", "integer", 0), ("Age", "string", 0)],
            vec![
                json!(
                    o.get("webhooks")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                ),
                age_cell,
            ],
        ),
        ("", "configmaps") => (
            vec![("Data", "integer", 0), ("Age", "string", 0)],
            vec![
                json!(
                    o.get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                ),
                age_cell,
            ],
        ),
        ("", "secrets") => (
            vec![
                ("Type", "string", 0),
                ("Data", "integer", 0),
                ("Age", "string", 0),
            ],
            vec![
                json!(o.get("type").and_then(Value::as_str).unwrap_or("Opaque")),
                json!(
                    o.get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                ),
                age_cell,
            ],
        ),
        ("", "endpoints") => {
            let mut eps = Vec::new();
            for sub in o
                .get("subsets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                for a in sub
                    .get("addresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for p in sub
                        .get("ports")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        eps.push(format!("{}:{}", s(a, "/ip"), n(p, "/port")));
                    }
                }
            }
            (
                vec![("Endpoints", "string", 0), ("Age", "string", 0)],
                vec![
                    json!(if eps.is_empty() {
                        "<none>".to_string()
                    } else {
                        eps.join(",")
                    }),
                    age_cell,
                ],
            )
        }
        ("apiextensions.k8s.io", _) => (
            vec![("Created At", "date", 0)],
            vec![json!(meta_str(o, "creationTimestamp"))],
        ),
        _ => (vec![("Age", "string", 0)], vec![age_cell]),
    }
}

fn column_defs(def: &ResourceDef, objs: &[Obj]) -> Vec<Value> {
    let sample = objs.first().map(|o| (**o).clone()).unwrap_or(Value::Null);
    let (cols, _) = columns_and_cells(def, &sample);
    let mut defs = vec![col("Name", "string", 0)];
    defs.extend(cols.iter().map(|(n, t, p)| col(n, t, *p)));
    defs
}

fn row(def: &ResourceDef, o: &Value, include: Option<&str>) -> Value {
    let (_, cells) = columns_and_cells(def, o);
    let mut all = vec![json!(meta_str(o, "name"))];
    all.extend(cells);
    let object = match include {
        Some("None") => Value::Null,
        Some("Object") => super::handlers::with_type(def, o).into_owned(),
        _ => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
        }),
    };
    json!({"cells": all, "object": object})
}

/// A meta.k8s.io/v1 Table of `objs`.
pub fn table(
    def: &ResourceDef,
    objs: &[Obj],
    rv: &str,
    include: Option<&str>,
    with_columns: bool,
) -> Value {
    let rows: Vec<Value> = objs.iter().map(|o| row(def, o, include)).collect();
    let mut t = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv},
        "rows": rows,
    });
    if with_columns {
        t["columnDefinitions"] = json!(column_defs(def, objs));
    }
    t
}

/// The same Table serialised row by row (large lists never exist as values at once).
pub fn table_bytes(
    def: &ResourceDef,
    objs: &[Obj],
    rv: &str,
    include: Option<&str>,
    cont: Option<&str>,
) -> Vec<u8> {
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    let head = json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": column_defs(def, objs),
    });
    let mut out = head.to_string().into_bytes();
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"rows\":[");
    for (i, o) in objs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = serde_json::to_writer(&mut out, &row(def, o, include));
    }
    out.extend_from_slice(b"]}");
    out
}
