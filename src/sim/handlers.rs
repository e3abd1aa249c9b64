//! Routing: health, version, discovery, and resource requests (reads here; writes in `write`).

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine as _;
use http::{Method, Response};
use serde_json::{Value, json};

use super::api::{ApiError, Body, bytes_response, json_response};
use super::auth::{Attributes, User, allowed, forbidden};
use super::registry::{self, METRICS_GROUP, ResourceDef};
use super::selectors::{FieldSelector, LabelSelector};
use super::server::{Req, Sim, State};
use super::store::{Obj, meta_str};

/// A resource request after routing.
#[derive(Debug, Clone)]
pub struct Target {
    pub def: ResourceDef,
    pub ns: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

/// Answers one authenticated API request.
pub async fn dispatch(sim: &Arc<Sim>, user: &User, req: Req) -> Response<Body> {
    match route(sim, user, req).await {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

fn health(req: &Req, name: &str) -> Response<Body> {
    if req.query.contains_key("verbose") {
        let checks = [
            "ping",
            "log",
            "etcd",
            "informer-sync",
            "poststarthook/start-apiserver-admission-initializer",
            "poststarthook/generic-apiserver-start-informers",
            "poststarthook/start-kube-aggregator-informers",
            "poststarthook/apiservice-registration-controller",
            "poststarthook/apiservice-status-available-controller",
        ];
        let mut s = String::new();
        for c in checks {
            if c == "informer-sync" && name != "readyz" {
                continue;
            }
            s.push_str(&format!("[+]{c} ok\n"));
        }
        s.push_str(&format!("{name} check passed\n"));
        bytes_response(200, "text/plain; charset=utf-8", s)
    } else {
        bytes_response(200, "text/plain; charset=utf-8", "ok")
    }
}

fn version() -> Value {
    json!({
        "major": "1",
        "minor": "28",
        "gitVersion": "v1.28.9+rke2r1",
        "gitCommit": "587f5fe8a69b0d15b578eaf478f009247d1c5d47",
        "gitTreeState": "clean",
        "buildDate": "2024-04-16T20:51:05Z",
        "goVersion": "go1.21.9 X:boringcrypto",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Whether an aggregated group's APIService is available; `None` when no APIService names it.
pub fn apiservice_available(st: &State, group: &str, version: &str) -> Option<bool> {
    let name = format!("{version}.{group}");
    let svc = st
        .store
        .get("apiregistration.k8s.io/apiservices", "", &name)?;
    let conds = svc.pointer("/status/conditions").and_then(Value::as_array);
    Some(conds.is_some_and(|c| {
        c.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some("Available")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    }))
}

/// The reason of an APIService's `Available=False` condition, if it has one.
pub fn apiservice_unavailable_reason(st: &State, group: &str, version: &str) -> Option<String> {
    let svc = st.store.get(
        "apiregistration.k8s.io/apiservices",
        "",
        &format!("{version}.{group}"),
    )?;
    svc.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| {
            c.get("type").and_then(Value::as_str) == Some("Available")
                && c.get("status").and_then(Value::as_str) == Some("False")
        })
        .and_then(|c| c.get("reason").and_then(Value::as_str))
        .map(str::to_string)
}

fn discovery(st: &State, segs: &[&str]) -> Result<Option<Value>, ApiError> {
    Ok(match segs {
        ["api"] => Some(registry::api_versions()),
        ["api", "v1"] => st.reg.resource_list("", "v1"),
        ["apis"] => {
            let mut groups: Vec<Value> = st
                .reg
                .groups()
                .iter()
                .filter(|(g, _)| {
                    g != METRICS_GROUP || apiservice_available(st, g, "v1beta1").is_some()
                })
                .map(|(g, v)| registry::api_group(g, v))
                .collect();
            for svc in st.store.list("apiregistration.k8s.io/apiservices", None) {
                let g = svc
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let v = svc
                    .pointer("/spec/version")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !g.is_empty() && !st.reg.groups().iter().any(|(x, _)| x == g) {
                    groups.push(registry::api_group(g, v));
                }
            }
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        ["apis", g] => {
            let v = st
                .reg
                .groups()
                .into_iter()
                .find(|(x, _)| x == g)
                .map(|(_, v)| v)
                .or_else(|| {
                    st.store
                        .list("apiregistration.k8s.io/apiservices", None)
                        .find(|s| s.pointer("/spec/group").and_then(Value::as_str) == Some(g))
                        .and_then(|s| s.pointer("/spec/version").and_then(Value::as_str))
                        .map(str::to_string)
                });
            v.map(|v| {
                let mut grp = registry::api_group(g, &v);
                grp["kind"] = json!("APIGroup");
                grp["apiVersion"] = json!("v1");
                grp
            })
        }
        ["apis", g, v] => {
            if apiservice_available(st, g, v) == Some(false) {
                // a real aggregator answers a missing Service with a plain 404 page, other
                // unavailability with 503
                if apiservice_unavailable_reason(st, g, v).as_deref() == Some("ServiceNotFound") {
                    return Err(ApiError::page_not_found());
                }
                return Err(ApiError::unavailable());
            }
            match st.reg.resource_list(g, v) {
                Some(l) => Some(l),
                None if apiservice_available(st, g, v) == Some(true) => Some(json!({
                    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{g}/{v}"), "resources": []
                })),
                None => None,
            }
        }
        _ => None,
    })
}

/// Splits a resource path into a target.
fn resolve(st: &State, segs: &[&str]) -> Option<Target> {
    let (group, version, rest): (&str, &str, &[&str]) = match segs {
        ["api", "v1", rest @ ..] => ("", "v1", rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return None,
    };
    let (ns, rest): (Option<String>, &[&str]) = match rest {
        ["namespaces", ns, r, tail @ ..]
            if !(group.is_empty() && matches!(*r, "finalize" | "status") && tail.is_empty()) =>
        {
            (Some((*ns).to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some((*n).to_string()), None),
        [p, n, s] => (*p, Some((*n).to_string()), Some((*s).to_string())),
        _ => return None,
    };
    let def = st.reg.find(group, version, plural)?.clone();
    if ns.is_some() && !def.namespaced {
        return None;
    }
    if let Some(s) = &sub
        && !def.subresources.contains(s)
    {
        return None;
    }
    Some(Target { def, ns, name, sub })
}

async fn route(sim: &Arc<Sim>, user: &User, req: Req) -> Result<Response<Body>, ApiError> {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => return Ok(json_response(200, &version())),
        [h, ..] if matches!(*h, "healthz" | "livez" | "readyz") => return Ok(health(&req, h)),
        [] => {
            return Ok(json_response(
                200,
                &json!({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]}),
            ));
        }
        _ => {}
    }
    if let ["openapi", "v3", rest @ ..] = segs.as_slice() {
        let st = sim.state();
        let doc = if rest.is_empty() {
            Some(super::openapi::root(&st.reg))
        } else {
            super::openapi::group_version(&st.reg, &rest.join("/"))
        };
        return doc
            .map(|d| json_response(200, &d))
            .ok_or_else(ApiError::no_route);
    }
    if user.name == "system:anonymous" {
        return Err(ApiError::unauthorized());
    }
    let target = {
        let st = sim.state();
        if req.method == Method::GET
            && let Some(doc) = discovery(&st, &segs)?
        {
            return Ok(json_response(200, &doc));
        }
        resolve(&st, &segs).ok_or_else(ApiError::no_route)?
    };
    let verb = verb_of(&req, &target);
    let resource = match &target.sub {
        Some(s) => format!("{}/{s}", target.def.plural),
        None => target.def.plural.clone(),
    };
    let attrs = Attributes {
        verb,
        group: &target.def.group,
        resource,
        namespace: target.ns.as_deref(),
        name: target.name.as_deref(),
    };
    // every authenticated user may ask what it may do (system:basic-user)
    if target.def.group == "authorization.k8s.io" && verb == "create" {
        return Ok(access_review(user, &req));
    }
    if !allowed(user, &attrs) {
        return Err(forbidden(&user.name, &attrs));
    }
    if target.def.group == METRICS_GROUP {
        return super::lifecycle::metrics(sim, &req, &target);
    }
    match (verb, target.sub.as_deref()) {
        ("watch", _) => super::watch::start(sim, &req, &target),
        ("get", Some("log")) => super::logs::serve(sim, &req, &target),
        ("get", _) => get(sim, &req, &target),
        ("list", _) => list(sim, &req, &target),
        _ => super::write::handle(sim, user, &req, &target, verb),
    }
}

/// SelfSubjectAccessReview: answers whether the caller may do what `spec.resourceAttributes` says.
fn access_review(user: &User, req: &Req) -> Response<Body> {
    let mut review: Value = serde_json::from_slice(&req.body).unwrap_or_else(|_| json!({}));
    let ra = review
        .pointer("/spec/resourceAttributes")
        .cloned()
        .unwrap_or(json!({}));
    let s = |k: &str| ra.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let (verb, group, resource, sub, ns, name) = (
        s("verb"),
        s("group"),
        s("resource"),
        s("subresource"),
        s("namespace"),
        s("name"),
    );
    let attrs = Attributes {
        verb: &verb,
        group: &group,
        resource: if sub.is_empty() {
            resource.clone()
        } else {
            format!("{resource}/{sub}")
        },
        namespace: (!ns.is_empty()).then_some(ns.as_str()),
        name: (!name.is_empty()).then_some(name.as_str()),
    };
    let ok = allowed(user, &attrs);
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    review["status"] = if ok {
        json!({"allowed": true, "reason": "allowed by the simulator's rules for this user"})
    } else {
        json!({"allowed": false})
    };
    json_response(201, &review)
}

fn verb_of(req: &Req, t: &Target) -> &'static str {
    match (&req.method, t.name.is_some()) {
        (&Method::GET, true) => "get",
        (&Method::GET, false) if req.flag("watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

/// The object as a client sees it (kind and apiVersion set; borrowed when they already are, so
/// large lists are serialised without copying objects).
pub fn with_type<'a>(def: &ResourceDef, obj: &'a Value) -> Cow<'a, Value> {
    if def.events_view {
        return Cow::Owned(super::events::to_v1(obj));
    }
    let typed = obj.get("kind").and_then(Value::as_str) == Some(def.kind.as_str())
        && obj.get("apiVersion").and_then(Value::as_str) == Some(def.api_version().as_str());
    if typed {
        return Cow::Borrowed(obj);
    }
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("kind".into(), json!(def.kind));
        m.insert("apiVersion".into(), json!(def.api_version()));
    }
    Cow::Owned(v)
}

#[derive(serde::Serialize)]
struct ListOut<'a> {
    kind: String,
    #[serde(rename = "apiVersion")]
    api_version: String,
    metadata: Value,
    items: Vec<Cow<'a, Value>>,
}

fn get(sim: &Arc<Sim>, req: &Req, t: &Target) -> Result<Response<Body>, ApiError> {
    let st = sim.state();
    let name = t.name.as_deref().unwrap_or("");
    let ns = t.ns.as_deref().unwrap_or("");
    let obj = st
        .store
        .get(&t.def.key(), ns, name)
        .ok_or_else(|| ApiError::not_found(&t.def.plural, &t.def.group, name))?;
    if t.sub.as_deref() == Some("scale") {
        return Ok(json_response(200, &super::subres::scale_of(&t.def, obj)));
    }
    if super::table::wants_table(&req.accept) {
        let rv = st.store.rv().to_string();
        return Ok(json_response(
            200,
            &super::table::table(
                &t.def,
                std::slice::from_ref(obj),
                &rv,
                req.q("includeObject"),
                true,
            ),
        ));
    }
    Ok(json_response(200, &with_type(&t.def, obj)))
}

/// Parsed selectors of a list or watch.
pub struct Filter {
    pub label: LabelSelector,
    pub field: FieldSelector,
}

impl Filter {
    pub fn from_req(req: &Req) -> Result<Self, ApiError> {
        Ok(Filter {
            label: LabelSelector::parse(req.q("labelSelector").unwrap_or(""))?,
            field: FieldSelector::parse(req.q("fieldSelector").unwrap_or(""))?,
        })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        (self.label.is_empty() || self.label.matches(&super::store::labels(obj)))
            && (self.field.is_empty() || self.field.matches(obj))
    }
}

fn list(sim: &Arc<Sim>, req: &Req, t: &Target) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_req(req)?;
    let limit: usize = req
        .q("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let cont = req.q("continue").filter(|c| !c.is_empty());
    let st = sim.state();
    let key = t.def.key();
    let iter: Box<dyn Iterator<Item = &Obj>> = match cont {
        Some(c) => {
            let after = decode_continue(c)?;
            if t.ns.as_deref().is_some_and(|n| n != after.0) && t.ns.is_some() {
                return Err(ApiError::bad_request(
                    "continue token does not match the namespace",
                ));
            }
            st.store.list_after(&key, after)
        }
        None => st.store.list(&key, t.ns.as_deref()),
    };
    let ns = t.ns.clone();
    let mut items: Vec<Obj> = Vec::new();
    let mut next = None;
    for o in iter {
        if ns.as_deref().is_some_and(|n| meta_str(o, "namespace") != n) {
            break;
        }
        if !filter.matches(o) {
            continue;
        }
        if items.len() == limit {
            next = items.last().map(|l| {
                (
                    meta_str(l, "namespace").to_string(),
                    meta_str(l, "name").to_string(),
                )
            });
            break;
        }
        items.push(o.clone());
    }
    let rv = st.store.rv().to_string();
    drop(st);
    if super::table::wants_table(&req.accept) {
        let cont = next.as_ref().map(encode_continue);
        let bytes =
            super::table::table_bytes(&t.def, &items, &rv, req.q("includeObject"), cont.as_deref());
        return Ok(super::api::bytes_response(200, "application/json", bytes));
    }
    let mut meta = json!({"resourceVersion": rv});
    if let Some(n) = &next {
        meta["continue"] = json!(encode_continue(n));
    }
    let out = ListOut {
        kind: format!("{}List", t.def.kind),
        api_version: t.def.api_version(),
        metadata: meta,
        items: items.iter().map(|o| with_type(&t.def, o)).collect(),
    };
    let bytes = serde_json::to_vec(&out).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(super::api::bytes_response(200, "application/json", bytes))
}

fn encode_continue(after: &(String, String)) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "start": [after.0, after.1]}).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_continue(c: &str) -> Result<(String, String), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.trim_end_matches('='))
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let a = v.get("start").and_then(Value::as_array).ok_or_else(bad)?;
    let s = |i: usize| a.get(i).and_then(Value::as_str).unwrap_or("").to_string();
    Ok((s(0), s(1)))
}
