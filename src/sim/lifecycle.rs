//! Controllers the stories depend on, run synchronously after every write: APIService
//! availability, the namespace lifecycle (content deletion, the `kubernetes` finalizer, conditions),
//! each Active namespace's `kube-root-ca.crt` and `default` ServiceAccount ([`super::publish`]), the
//! disruption controller (`pdb`), node lifecycle and scheduling (`components`), and the
//! metrics.k8s.io API served while its APIService is available.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Response;
use serde_json::{Value, json};

use super::api::{ApiError, Body, json_response, now_rfc3339};
use super::handlers::{Filter, Target};
use super::server::{Req, Sim, State};
use super::store::{finalizers, meta_str};

const APISERVICES: &str = "apiregistration.k8s.io/apiservices";

/// Runs the controllers until nothing changes (bounded).
pub fn reconcile(st: &mut State) {
    for _ in 0..5 {
        let before = st.store.rv();
        super::controllers::run(st);
        apiservices(st);
        // kube-controller-manager's controllers, while it runs
        if super::components::running(st, super::components::CONTROLLER_MANAGER) {
            namespaces(st);
            super::pdb::controller(st);
            super::publish::publish(st);
        }
        super::components::node_lifecycle(st);
        if st.store.rv() == before {
            break;
        }
    }
}

fn availability(st: &State, svc: &Value) -> (bool, &'static str, String) {
    let Some(s) = svc.pointer("/spec/service").filter(|s| !s.is_null()) else {
        return (
            true,
            "Local",
            "Local APIServices are always available".into(),
        );
    };
    let ns = s.get("namespace").and_then(Value::as_str).unwrap_or("");
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    if st.store.get("/services", ns, name).is_none() {
        return (
            false,
            "ServiceNotFound",
            format!("service/{name} in \"{ns}\" is not present"),
        );
    }
    let has_addr = st.store.get("/endpoints", ns, name).is_some_and(|ep| {
        ep.get("subsets")
            .and_then(Value::as_array)
            .is_some_and(|subs| {
                subs.iter().any(|x| {
                    x.get("addresses")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty())
                })
            })
    });
    if !has_addr {
        return (
            false,
            "MissingEndpoints",
            format!(
                "endpoints for service/{name} in \"{ns}\" have no addresses with port name \"https\""
            ),
        );
    }
    (true, "Passed", "all checks passed".into())
}

fn apiservices(st: &mut State) {
    let mut updates = Vec::new();
    for svc in st.store.list(APISERVICES, None) {
        let (ok, reason, message) = availability(st, svc);
        let status = if ok { "True" } else { "False" };
        let cur = svc
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Available"))
            });
        let same = cur.is_some_and(|c| {
            c.get("status").and_then(Value::as_str) == Some(status)
                && c.get("reason").and_then(Value::as_str) == Some(reason)
                && c.get("message").and_then(Value::as_str) == Some(message.as_str())
        });
        if same {
            continue;
        }
        let keep_time = cur
            .filter(|c| c.get("status").and_then(Value::as_str) == Some(status))
            .and_then(|c| c.get("lastTransitionTime").cloned());
        let mut v = (**svc).clone();
        v["status"] = json!({"conditions": [{
            "type": "Available",
            "status": status,
            "lastTransitionTime": keep_time.unwrap_or_else(|| json!(now_rfc3339())),
            "reason": reason,
            "message": message,
        }]});
        updates.push((meta_str(svc, "name").to_string(), v));
    }
    for (name, v) in updates {
        st.store.put(APISERVICES, "", &name, v);
    }
}

fn unavailable_groups(st: &State) -> Vec<String> {
    st.store
        .list(APISERVICES, None)
        .filter(|s| {
            !s.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Available")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
        })
        .map(|s| {
            let g = s
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or("");
            let v = s
                .pointer("/spec/version")
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("{g}/{v}")
        })
        .collect()
}

fn cond(t: &str, status: &str, reason: &str, message: String) -> Value {
    json!({"type": t, "status": status, "lastTransitionTime": now_rfc3339(), "reason": reason, "message": message})
}

fn namespaces(st: &mut State) {
    let deleting: Vec<Arc<Value>> = st
        .store
        .list("/namespaces", None)
        .filter(|n| {
            n.pointer("/metadata/deletionTimestamp")
                .is_some_and(|v| !v.is_null())
        })
        .cloned()
        .collect();
    if deleting.is_empty() {
        return;
    }
    let failing = unavailable_groups(st);
    let namespaced: Vec<(String, String)> = st
        .reg
        .defs
        .iter()
        .filter(|d| d.namespaced && !d.read_only)
        .map(|d| (d.key(), d.plural.clone()))
        .collect();
    for ns_obj in deleting {
        let ns = meta_str(&ns_obj, "name").to_string();
        let spec_fin: Vec<String> = ns_obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let (remaining, fin_remaining) = if spec_fin.iter().any(|f| f == "kubernetes") {
            delete_content(st, &ns, &namespaced)
        } else {
            Default::default()
        };
        let conds = deletion_conditions(&failing, &remaining, &fin_remaining);
        let Some(cur) = st.store.get("/namespaces", "", &ns).cloned() else {
            continue;
        };
        let mut v = (*cur).clone();
        v["status"]["phase"] = json!("Terminating");
        if spec_fin.iter().any(|f| f == "kubernetes") {
            let old_conds = cur
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let merged: Vec<Value> = conds
                .into_iter()
                .map(|c| {
                    let prev = old_conds.iter().find(|o| o.get("type") == c.get("type"));
                    match prev {
                        Some(p)
                            if p.get("status") == c.get("status")
                                && p.get("message") == c.get("message") =>
                        {
                            p.clone()
                        }
                        _ => c,
                    }
                })
                .collect();
            v["status"]["conditions"] = json!(merged);
            if failing.is_empty() && remaining.is_empty() {
                let rest: Vec<&String> = spec_fin.iter().filter(|f| *f != "kubernetes").collect();
                v["spec"]["finalizers"] = json!(rest);
            }
        }
        let spec_empty = v
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if spec_empty && finalizers(&v).is_empty() {
            st.store.remove("/namespaces", "", &ns);
        } else if v != *cur {
            st.store.put("/namespaces", "", &ns, v);
        }
    }
}

/// Delete a Terminating namespace's content: objects without finalizers go, the others are marked
/// deleted and counted (by resource, and by finalizer group) for the namespace's conditions.
fn delete_content(
    st: &mut State,
    ns: &str,
    namespaced: &[(String, String)],
) -> (BTreeMap<String, usize>, BTreeMap<String, usize>) {
    let mut remaining: BTreeMap<String, usize> = BTreeMap::new();
    let mut fin_remaining: BTreeMap<String, usize> = BTreeMap::new();
    for (key, plural) in namespaced {
        let objs: Vec<Arc<Value>> = st.store.list(key, Some(ns)).cloned().collect();
        let group = key.split('/').next().unwrap_or("").to_string();
        for o in objs {
            let name = meta_str(&o, "name").to_string();
            let fins = finalizers(&o);
            if fins.is_empty() {
                st.store.remove(key, ns, &name);
                continue;
            }
            let res_name = if group.is_empty() {
                plural.clone()
            } else {
                format!("{plural}.{group}")
            };
            *remaining.entry(res_name).or_default() += 1;
            for f in fins {
                let fgroup = f.split('/').next().unwrap_or("").to_string();
                *fin_remaining.entry(fgroup).or_default() += 1;
            }
            if o.pointer("/metadata/deletionTimestamp")
                .is_none_or(Value::is_null)
            {
                let mut v = (*o).clone();
                v["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                v["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                st.store.put(key, ns, &name, v);
            }
        }
    }
    (remaining, fin_remaining)
}

/// The namespace controller's deletion conditions for what remains.
fn deletion_conditions(
    failing: &[String],
    remaining: &BTreeMap<String, usize>,
    fin_remaining: &BTreeMap<String, usize>,
) -> Vec<Value> {
    let mut conds = vec![];
    if failing.is_empty() {
        conds.push(cond(
            "NamespaceDeletionDiscoveryFailure",
            "False",
            "ResourcesDiscovered",
            "All resources successfully discovered".into(),
        ));
    } else {
        let list: Vec<String> = failing
            .iter()
            .map(|g| format!("{g}: stale GroupVersion discovery: {g}"))
            .collect();
        conds.push(cond(
            "NamespaceDeletionDiscoveryFailure",
            "True",
            "DiscoveryFailed",
            format!("Discovery failed for some groups, {} failing: unable to retrieve the complete list of server APIs: {}", failing.len(), list.join(", ")),
        ));
    }
    conds.push(cond(
        "NamespaceDeletionGroupVersionParsingFailure",
        "False",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed".into(),
    ));
    conds.push(cond(
        "NamespaceDeletionContentFailure",
        "False",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization".into(),
    ));
    if remaining.is_empty() {
        conds.push(cond(
            "NamespaceContentRemaining",
            "False",
            "ContentRemoved",
            "All content successfully removed".into(),
        ));
        conds.push(cond(
            "NamespaceFinalizersRemaining",
            "False",
            "ContentHasNoFinalizers",
            "All content-preserving finalizers finished".into(),
        ));
    } else {
        let parts: Vec<String> = remaining
            .iter()
            .map(|(r, n)| format!("{r} has {n} resource instances"))
            .collect();
        conds.push(cond(
            "NamespaceContentRemaining",
            "True",
            "SomeResourcesRemain",
            format!("Some resources are remaining: {}", parts.join(", ")),
        ));
        let parts: Vec<String> = fin_remaining
            .iter()
            .map(|(f, n)| format!("{f} in {n} resource instances"))
            .collect();
        conds.push(cond(
            "NamespaceFinalizersRemaining",
            "True",
            "SomeFinalizersRemain",
            format!(
                "Some content in the namespace has finalizers remaining: {}",
                parts.join(", ")
            ),
        ));
    }
    conds
}

/// Deterministic usage figures, overridable with the `sim.ktriage.io/cpu` / `sim.ktriage.io/memory`
/// annotations (e.g. `850m`, `1536Mi`).
fn usage(obj: &Value, salt: &str, cpu_max: u64, mem_max: u64) -> Value {
    let ann = |k: &str| {
        obj.pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut h: u64 = 1469598103934665603;
    for b in meta_str(obj, "name").bytes().chain(salt.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    json!({
        "cpu": ann("sim.ktriage.io/cpu").unwrap_or_else(|| format!("{}m", 1 + h % cpu_max)),
        "memory": ann("sim.ktriage.io/memory").unwrap_or_else(|| format!("{}Ki", 10240 + (h >> 20) % mem_max)),
    })
}

fn node_metrics(n: &Value) -> Value {
    json!({
        "kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": meta_str(n, "name"), "creationTimestamp": now_rfc3339(), "labels": n.pointer("/metadata/labels").cloned().unwrap_or(json!({}))},
        "timestamp": now_rfc3339(), "window": "10.071s",
        "usage": usage(n, "", 1800, 8_000_000),
    })
}

fn pod_metrics(p: &Value) -> Value {
    let containers: Vec<Value> = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
                    json!({"name": cname, "usage": usage(p, cname, 250, 400_000)})
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": meta_str(p, "name"), "namespace": meta_str(p, "namespace"), "creationTimestamp": now_rfc3339(), "labels": p.pointer("/metadata/labels").cloned().unwrap_or(json!({}))},
        "timestamp": now_rfc3339(), "window": "15.02s",
        "containers": containers,
    })
}

/// The metrics.k8s.io API (503 while `v1beta1.metrics.k8s.io` is unavailable).
pub fn metrics(sim: &Arc<Sim>, req: &Req, t: &Target) -> Result<Response<Body>, ApiError> {
    let st = sim.state();
    if super::handlers::apiservice_available(&st, &t.def.group, &t.def.version) != Some(true) {
        return Err(ApiError::unavailable());
    }
    let filter = Filter::from_req(req)?;
    let (src, is_node) = if t.def.plural == "nodes" {
        ("/nodes", true)
    } else {
        ("/pods", false)
    };
    let live = |o: &Value| {
        if is_node {
            o.pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Ready")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
        } else {
            o.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        }
    };
    let render = |o: &Value| {
        if is_node {
            node_metrics(o)
        } else {
            pod_metrics(o)
        }
    };
    if let Some(name) = &t.name {
        let ns = t.ns.as_deref().unwrap_or("");
        return match st.store.get(src, ns, name).filter(|o| live(o)) {
            Some(o) => Ok(json_response(200, &render(o))),
            None => Err(ApiError::not_found(&t.def.plural, &t.def.group, name)),
        };
    }
    let kind = if is_node {
        "NodeMetricsList"
    } else {
        "PodMetricsList"
    };
    // Serialised item by item: 50k pods never exist as values at once.
    let mut out = format!(
        r#"{{"kind":"{kind}","apiVersion":"metrics.k8s.io/v1beta1","metadata":{{}},"items":["#
    )
    .into_bytes();
    let mut first = true;
    for o in st.store.list(src, t.ns.as_deref()) {
        if !(live(o) && filter.matches(o)) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut out, &render(o))
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    out.extend_from_slice(b"]}");
    Ok(super::api::bytes_response(200, "application/json", out))
}
