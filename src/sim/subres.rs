//! Subresources: `scale` (autoscaling/v1 Scale), namespace `finalize`, pod `eviction`.

use http::Response;
use serde_json::{Value, json};

use super::api::{ApiError, Body, json_response};
use super::registry::ResourceDef;
use super::server::State;
use super::store::meta_str;
use super::write::{Op, WriteCtx, commit, current, defaults, finish_update, record_manager};

/// The autoscaling/v1 Scale of a scalable object.
pub fn scale_of(def: &ResourceDef, obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let _ = def;
    // autoscaling/v1 Scale fields are `omitempty`: a real server leaves out replicas of 0
    let non_zero = |v: Option<&Value>| v.cloned().filter(|r| r.as_i64() != Some(0));
    let mut spec = serde_json::Map::new();
    if let Some(r) = non_zero(obj.pointer("/spec/replicas")) {
        spec.insert("replicas".into(), r);
    }
    let mut status = serde_json::Map::new();
    if let Some(r) = non_zero(obj.pointer("/status/replicas")) {
        status.insert("replicas".into(), r);
    }
    status.insert("selector".into(), json!(selector));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta_str(obj, "name"),
            "namespace": meta_str(obj, "namespace"),
            "uid": meta_str(obj, "uid"),
            "resourceVersion": meta_str(obj, "resourceVersion"),
            "creationTimestamp": meta_str(obj, "creationTimestamp"),
        },
        "spec": spec,
        "status": status,
    })
}

pub(super) fn scale(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    name: &str,
    change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
) -> Result<Response<Body>, ApiError> {
    let old = current(st, ctx, name)?;
    let mut s = scale_of(ctx.def, &old);
    change(&mut s)?;
    let rv = s
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
        return Err(ApiError::conflict(&ctx.def.plural, &ctx.def.group, name));
    }
    let replicas = s
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            ApiError::invalid(
                "Scale",
                "autoscaling",
                name,
                "spec.replicas",
                "Required value",
            )
        })?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            name,
            "spec.replicas",
            &format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        ));
    }
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(replicas);
    if old.get("spec") != new.get("spec") {
        let g = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    defaults(ctx.def, &mut new, Some(&old));
    super::admission::admit(
        st,
        ctx.def,
        Op::Update,
        Some("scale"),
        &ctx.ns,
        name,
        &new,
        Some(&old),
    )?;
    record_manager(
        &mut new,
        &ctx.manager,
        "Update",
        &json!({"spec": {"replicas": replicas}}),
        Some("scale"),
    );
    let result = if ctx.dry_run {
        new
    } else {
        commit(st, ctx.def, &ctx.ns, name, new)
    };
    Ok(json_response(200, &scale_of(ctx.def, &result)))
}

pub(super) fn finalize(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    name: &str,
    body: Value,
) -> Result<Response<Body>, ApiError> {
    let old = current(st, ctx, name)?;
    let body_name = meta_str(&body, "name");
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    // As the real server does (namespaceFinalizeStrategy keeps only the stored status; checked by
    // tests/conformance.rs): spec and the user-settable metadata come from the body, so a body
    // without metadata.finalizers, labels or annotations removes them. Clients must send the whole
    // object, as `kubectl get -o json | … | kubectl replace --raw …/finalize` does.
    let mut new = old.clone();
    new["spec"]["finalizers"] = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(json!([]));
    if new.pointer("/spec/finalizers").is_some_and(Value::is_null) {
        new["spec"]["finalizers"] = json!([]);
    }
    if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
        for key in ["finalizers", "labels", "annotations"] {
            match body.pointer(&format!("/metadata/{key}")) {
                Some(v) if !v.is_null() => {
                    meta.insert(key.into(), v.clone());
                }
                _ => {
                    meta.remove(key);
                }
            }
        }
    }
    let fields = json!({"spec": {"finalizers": new["spec"]["finalizers"].clone()}});
    finish_update(st, ctx, name, &old, new, &fields, "Update")
}

pub(super) fn evict(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    name: &str,
    body: &Value,
) -> Result<Response<Body>, ApiError> {
    let pod = current(st, ctx, name)?;
    let dry_run = ctx.dry_run
        || body
            .pointer("/deleteOptions/dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "All"));
    super::pdb::check_and_take(st, &ctx.ns, &pod, dry_run)?;
    if !dry_run {
        st.store.remove(&ctx.def.key(), &ctx.ns, name);
    }
    Ok(json_response(
        201,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    ))
}
