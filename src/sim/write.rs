//! Writes: create, update, patch (all four types), delete, deletecollection, and the subresources
//! `status`, `scale`, `finalize`, `eviction`. Every write runs admission, honours `dryRun=All`,
//! records the field manager and triggers the lifecycle controllers.

use std::sync::Arc;

use http::Response;
use serde_json::{Value, json};

use super::api::{ApiError, Body, json_response, now_rfc3339};
use super::auth::User;
use super::handlers::{Target, with_type};
use super::patch;
use super::registry::ResourceDef;
use super::server::{Req, Sim, State};
use super::store::{finalizers, meta_str};

/// The admission operation of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Update,
    Delete,
}

pub(super) struct WriteCtx<'a> {
    pub(super) def: &'a ResourceDef,
    pub(super) ns: String,
    pub(super) dry_run: bool,
    pub(super) manager: String,
    pub(super) user: &'a str,
    pub(super) sub: Option<&'a str>,
}

fn field_manager(req: &Req) -> String {
    req.q("fieldManager")
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let ua = req.user_agent.split('/').next().unwrap_or("").trim();
            if ua.is_empty() {
                "unknown".into()
            } else {
                ua.to_string()
            }
        })
}

fn parse_json(req: &Req) -> Result<Value, ApiError> {
    if req.body.is_empty() {
        return Ok(Value::Null);
    }
    if req
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        return super::proto::decode(&req.body);
    }
    serde_json::from_slice(&req.body).or_else(|_| {
        super::yaml::from_slice::<Value>(&req.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the object provided is unrecognized or malformed: {e}"
            ))
        })
    })
}

/// Handles a write verb on a resource target.
pub fn handle(
    sim: &Arc<Sim>,
    user: &User,
    req: &Req,
    t: &Target,
    verb: &str,
) -> Result<Response<Body>, ApiError> {
    let dry_run = req.q("dryRun") == Some("All");
    let body = parse_json(req)?;
    let dry_run = dry_run
        || body
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    let ctx = WriteCtx {
        def: &t.def,
        ns: t.ns.clone().unwrap_or_default(),
        dry_run,
        manager: field_manager(req),
        user: &user.name,
        sub: t.sub.as_deref(),
    };
    let mut st = sim.state();
    let name = t.name.clone().unwrap_or_default();
    let resp = match (verb, t.sub.as_deref()) {
        ("create", None) => create(&mut st, &ctx, body)?,
        ("create", Some("eviction")) => super::subres::evict(&mut st, &ctx, &name, &body)?,
        ("update", Some("finalize")) => super::subres::finalize(&mut st, &ctx, &name, body)?,
        ("update", Some("scale")) => super::subres::scale(&mut st, &ctx, &name, |s| {
            *s = body.clone();
            Ok(())
        })?,
        ("patch", Some("scale")) => {
            super::subres::scale(&mut st, &ctx, &name, |s| patch::apply_any(req, s))?
        }
        ("update", _) => update(&mut st, &ctx, &name, body)?,
        ("patch", _) => patch_obj(&mut st, &ctx, req, &name)?,
        ("delete", None) => super::delete::delete(&mut st, &ctx, &name, &body)?,
        ("deletecollection", None) => super::delete::delete_collection(&mut st, &ctx, req, &body)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    if !dry_run {
        super::lifecycle::reconcile(&mut st);
    }
    Ok(resp)
}

/// Fills server-set metadata of a new object.
fn init_meta(obj: &mut Value, def: &ResourceDef, ns: &str) -> Result<String, ApiError> {
    let m = obj
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
    let mut name = m
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty()
        && let Some(g) = m.get("generateName").and_then(Value::as_str)
    {
        name = format!("{g}{}", random_suffix());
        m.insert("name".into(), json!(name));
    }
    if def.namespaced {
        m.insert("namespace".into(), json!(ns));
    } else {
        m.remove("namespace");
    }
    m.insert("uid".into(), json!(new_uid()));
    m.insert("creationTimestamp".into(), json!(now_rfc3339()));
    m.remove("resourceVersion");
    m.remove("deletionTimestamp");
    m.insert("generation".into(), json!(1));
    if obj.get("spec").is_none()
        && let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut)
    {
        m.remove("generation");
    }
    Ok(name)
}

fn random_suffix() -> String {
    const CH: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| CH[fastrand::usize(..CH.len())] as char)
        .collect()
}

/// A fresh UID.
pub fn new_uid() -> String {
    let a = fastrand::u64(..);
    let b = fastrand::u64(..);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        (b >> 48) & 0x3fff | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub(super) fn set_type(obj: &mut Value, def: &ResourceDef) {
    if let Some(m) = obj.as_object_mut() {
        m.insert("kind".into(), json!(def.kind));
        m.insert("apiVersion".into(), json!(def.api_version()));
    }
}

pub(super) fn record_manager(
    obj: &mut Value,
    manager: &str,
    operation: &str,
    fields: &Value,
    sub: Option<&str>,
) {
    let av = obj.get("apiVersion").cloned().unwrap_or(Value::Null);
    let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = m.entry("managedFields").or_insert_with(|| json!([]));
    let Some(arr) = list.as_array_mut() else {
        return;
    };
    arr.retain(|e| {
        !(e.get("manager").and_then(Value::as_str) == Some(manager)
            && e.get("operation").and_then(Value::as_str) == Some(operation)
            && e.get("subresource").and_then(Value::as_str) == sub)
    });
    let mut e = json!({
        "manager": manager,
        "operation": operation,
        "apiVersion": av,
        "time": now_rfc3339(),
        "fieldsType": "FieldsV1",
        "fieldsV1": patch::fields_v1(fields),
    });
    if let Some(s) = sub {
        e["subresource"] = json!(s);
    }
    arr.push(e);
}

fn check_namespace(st: &State, def: &ResourceDef, ns: &str, name: &str) -> Result<(), ApiError> {
    if !def.namespaced {
        return Ok(());
    }
    let Some(nso) = st.store.get("/namespaces", "", ns) else {
        return Err(ApiError::not_found("namespaces", "", ns));
    };
    if nso
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        let mut e = ApiError::forbidden(
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                super::api::qualified(&def.plural, &def.group)
            ),
            name,
            &def.group,
            &def.plural,
        );
        e.details["causes"] = json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
        return Err(e);
    }
    Ok(())
}

/// Rejects bodies whose structural fields are not objects (as decoding into Go types would),
/// so the server never indexes into a string.
pub(super) fn check_shape(obj: &Value, kind: &str) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized or malformed",
        ));
    }
    for ptr in [
        "/metadata",
        "/spec",
        "/status",
        "/metadata/labels",
        "/metadata/annotations",
        "/spec/template",
        "/spec/template/metadata",
        "/spec/template/metadata/labels",
    ] {
        if let Some(v) = obj.pointer(ptr)
            && !(v.is_object() || v.is_null())
        {
            let field = ptr.trim_start_matches('/').replace('/', ".");
            return Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go struct field {kind}.{field} of type object",
                match v {
                    Value::String(_) => "string",
                    Value::Array(_) => "array",
                    Value::Number(_) => "number",
                    _ => "bool",
                }
            )));
        }
    }
    Ok(())
}

fn create(st: &mut State, ctx: &WriteCtx<'_>, mut obj: Value) -> Result<Response<Body>, ApiError> {
    check_shape(&obj, &ctx.def.kind)?;
    let body_ns = meta_str(&obj, "namespace").to_string();
    if ctx.def.namespaced && !body_ns.is_empty() && body_ns != ctx.ns {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    set_type(&mut obj, ctx.def);
    if obj.get("metadata").is_none() {
        obj["metadata"] = json!({});
    }
    let name = init_meta(&mut obj, ctx.def, &ctx.ns)?;
    if name.is_empty() {
        let mut e = ApiError::invalid(
            &ctx.def.kind,
            &ctx.def.group,
            "",
            "metadata.name",
            "Required value: name or generateName is required",
        );
        e.message = format!(
            "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
            ctx.def.kind
        );
        return Err(e);
    }
    check_namespace(st, ctx.def, &ctx.ns, &name)?;
    if st.store.get(&ctx.def.key(), &ctx.ns, &name).is_some() {
        return Err(ApiError::already_exists(
            &ctx.def.plural,
            &ctx.def.group,
            &name,
        ));
    }
    defaults(ctx.def, &mut obj, None);
    super::admission::admit(st, ctx.def, Op::Create, None, &ctx.ns, &name, &obj, None)?;
    let fields = obj.clone();
    record_manager(&mut obj, &ctx.manager, "Update", &fields, None);
    if ctx.dry_run {
        return Ok(json_response(201, &obj));
    }
    let stored = commit(st, ctx.def, &ctx.ns, &name, obj);
    Ok(json_response(201, &stored))
}

/// Server-side defaults and derived state for a new or changed object.
pub(super) fn defaults(def: &ResourceDef, obj: &mut Value, old: Option<&Value>) {
    match (def.group.as_str(), def.plural.as_str()) {
        ("", "namespaces") => {
            let name = meta_str(obj, "name").to_string();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            if obj.pointer("/spec/finalizers").is_none() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if obj.pointer("/status/phase").is_none() {
                obj["status"]["phase"] = json!("Active");
            }
        }
        ("", "pods") if obj.pointer("/status/phase").is_none() => {
            obj["status"]["phase"] = json!("Pending");
        }
        ("apps", "deployments") | ("apps", "replicasets")
            if obj.pointer("/spec/replicas").is_none() =>
        {
            obj["spec"]["replicas"] = json!(1);
        }
        ("apps", "statefulsets") => {
            if obj.pointer("/spec/replicas").is_none() {
                obj["spec"]["replicas"] = json!(1);
            }
            let want = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
            let changed = old.and_then(|o| o.pointer("/spec/replicas")) != Some(&want);
            if changed {
                let gen_ = obj
                    .pointer("/metadata/generation")
                    .cloned()
                    .unwrap_or(json!(1));
                let st = obj["status"].as_object_mut().map(|_| ()).is_some();
                if !st {
                    obj["status"] = json!({});
                }
                for k in [
                    "replicas",
                    "updatedReplicas",
                    "readyReplicas",
                    "availableReplicas",
                ] {
                    obj["status"][k] = want.clone();
                }
                obj["status"]["observedGeneration"] = gen_;
            }
        }
        _ => {}
    }
}

/// Stores (or, when a deleted object has lost its last finalizer, removes) and returns the result.
pub(super) fn commit(st: &mut State, def: &ResourceDef, ns: &str, name: &str, obj: Value) -> Value {
    let obj = if def.events_view {
        super::events::to_core(&obj)
    } else {
        obj
    };
    let deleting = obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let ns_spec_empty = def.key() != "/namespaces"
        || obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
    if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
        st.reg.register_crd(&obj);
    }
    if deleting && finalizers(&obj).is_empty() && ns_spec_empty {
        if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
            st.reg.unregister_crd(&obj);
        }
        return st
            .store
            .remove(&def.key(), ns, name)
            .map(|o| with_type(def, &o).into_owned())
            .unwrap_or(obj);
    }
    let stored = st.store.put(&def.key(), ns, name, obj);
    with_type(def, &stored).into_owned()
}

/// Checks name/namespace/resourceVersion of a replacement and carries over server-owned fields.
fn prepare_update(
    ctx: &WriteCtx<'_>,
    name: &str,
    old: &Value,
    mut new: Value,
    check_rv: bool,
) -> Result<Value, ApiError> {
    check_shape(&new, &ctx.def.kind)?;
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the object provided is unrecognized or malformed",
        ));
    }
    set_type(&mut new, ctx.def);
    if new.get("metadata").is_none_or(|m| !m.is_object()) {
        new["metadata"] = json!({});
    }
    let body_name = meta_str(&new, "name").to_string();
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let rv = meta_str(&new, "resourceVersion").to_string();
    if check_rv && !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(&ctx.def.plural, &ctx.def.group, name));
    }
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
    ] {
        match old.pointer(&format!("/metadata/{k}")) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    new["metadata"]["name"] = json!(name);
    if old.pointer("/metadata/deletionTimestamp").is_some() {
        // finalizers may only be removed while deleting; anything else is kept
    }
    let has_status = ctx.def.subresources.iter().any(|s| s == "status");
    match ctx.sub {
        Some("status") => {
            let status = new.get("status").cloned();
            let mut merged = old.clone();
            match status {
                Some(s) => merged["status"] = s,
                None => {
                    if let Some(m) = merged.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
            merged["metadata"]["resourceVersion"] = json!(meta_str(&new, "resourceVersion"));
            new = merged;
        }
        _ if has_status => match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        },
        _ => {}
    }
    if old.get("spec") != new.get("spec") {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    if ctx.def.key() == "/namespaces" {
        new["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        if ctx.sub.is_none() {
            new["spec"] = old.get("spec").cloned().unwrap_or(json!({}));
        }
    }
    Ok(new)
}

pub(super) fn finish_update(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    name: &str,
    old: &Value,
    mut new: Value,
    fields: &Value,
    operation: &str,
) -> Result<Response<Body>, ApiError> {
    defaults(ctx.def, &mut new, Some(old));
    let sub = ctx.sub.filter(|s| *s != "finalize");
    super::admission::admit(st, ctx.def, Op::Update, sub, &ctx.ns, name, &new, Some(old))?;
    record_manager(&mut new, &ctx.manager, operation, fields, sub);
    if ctx.dry_run {
        return Ok(json_response(200, &new));
    }
    let stored = commit(st, ctx.def, &ctx.ns, name, new);
    Ok(json_response(200, &stored))
}

pub(super) fn current(st: &State, ctx: &WriteCtx<'_>, name: &str) -> Result<Value, ApiError> {
    st.store
        .get(&ctx.def.key(), &ctx.ns, name)
        .map(|o| with_type(ctx.def, o).into_owned())
        .ok_or_else(|| ApiError::not_found(&ctx.def.plural, &ctx.def.group, name))
}

fn update(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    name: &str,
    body: Value,
) -> Result<Response<Body>, ApiError> {
    let old = current(st, ctx, name)?;
    let new = prepare_update(ctx, name, &old, body.clone(), true)?;
    finish_update(st, ctx, name, &old, new, &body, "Update")
}

fn patch_obj(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    req: &Req,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let ctype = req.content_type.split(';').next().unwrap_or("").trim();
    if ctype == "application/apply-patch+yaml" {
        let applied: Value = super::yaml::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        check_shape(&applied, &ctx.def.kind)?;
        if req.q("fieldManager").is_none_or(str::is_empty) {
            return Err(ApiError::bad_request(
                "PATCH, application/apply-patch+yaml requests must have a fieldManager query parameter",
            ));
        }
        let Some(old) = st
            .store
            .get(&ctx.def.key(), &ctx.ns, name)
            .map(|o| with_type(ctx.def, o).into_owned())
        else {
            let mut obj = applied.clone();
            if obj.get("metadata").is_none() {
                obj["metadata"] = json!({});
            }
            obj["metadata"]["name"] = json!(name);
            set_type(&mut obj, ctx.def);
            init_meta(&mut obj, ctx.def, &ctx.ns)?;
            check_namespace(st, ctx.def, &ctx.ns, name)?;
            defaults(ctx.def, &mut obj, None);
            super::admission::admit(st, ctx.def, Op::Create, None, &ctx.ns, name, &obj, None)?;
            record_manager(&mut obj, &ctx.manager, "Apply", &applied, None);
            if ctx.dry_run {
                return Ok(json_response(201, &obj));
            }
            let stored = commit(st, ctx.def, &ctx.ns, name, obj);
            return Ok(json_response(201, &stored));
        };
        let mut new = old.clone();
        patch::strategic(&mut new, &applied);
        // fields this manager applied before and no longer applies are removed
        let previous = old
            .pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter().find(|e| {
                    e.get("manager").and_then(Value::as_str) == Some(ctx.manager.as_str())
                        && e.get("operation").and_then(Value::as_str) == Some("Apply")
                        && e.get("subresource").is_none()
                })
            })
            .and_then(|e| e.get("fieldsV1").cloned());
        if let Some(prev) = previous {
            patch::prune(&mut new, &prev, &patch::fields_v1(&applied));
        }
        let new = prepare_update(ctx, name, &old, new, true)?;
        return finish_update(st, ctx, name, &old, new, &applied, "Apply");
    }
    let old = current(st, ctx, name)?;
    let mut new = old.clone();
    let fields = patch::apply_typed(ctype, &req.body, &mut new)?;
    let new = prepare_update(ctx, name, &old, new, true)?;
    finish_update(st, ctx, name, &old, new, &fields, "Update")
}
