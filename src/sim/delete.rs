//! DELETE and deletecollection: deletionTimestamp while finalizers remain, namespace Terminating,
//! preconditions, dry run, and the real answers (the object, 202 while pending, or Status Success).

use http::Response;
use serde_json::{Value, json};

use super::api::{ApiError, Body, json_response, now_rfc3339, success_status};
use super::handlers::Filter;
use super::server::{Req, State};
use super::store::{finalizers, meta_str};
use super::write::{Op, WriteCtx, commit, current};

pub(super) fn delete(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    name: &str,
    opts: &Value,
) -> Result<Response<Body>, ApiError> {
    let old = current(st, ctx, name)?;
    let pre = |k: &str| {
        opts.pointer(&format!("/preconditions/{k}"))
            .and_then(Value::as_str)
    };
    if pre("uid").is_some_and(|u| u != meta_str(&old, "uid"))
        || pre("resourceVersion").is_some_and(|rv| rv != meta_str(&old, "resourceVersion"))
    {
        return Err(ApiError::conflict(&ctx.def.plural, &ctx.def.group, name));
    }
    super::admission::admit(
        st,
        ctx.def,
        Op::Delete,
        None,
        &ctx.ns,
        name,
        &old,
        Some(&old),
    )?;
    let _ = ctx.user;
    let is_ns = ctx.def.key() == "/namespaces";
    let mut new = old.clone();
    if new
        .pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null)
    {
        new["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
        new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    }
    if is_ns {
        new["status"]["phase"] = json!("Terminating");
    }
    let spec_fin = new
        .pointer("/spec/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let pending = !finalizers(&new).is_empty() || (is_ns && spec_fin);
    if ctx.dry_run {
        return Ok(json_response(if pending { 202 } else { 200 }, &new));
    }
    if pending {
        let stored = if old
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
        {
            old
        } else {
            commit(st, ctx.def, &ctx.ns, name, new)
        };
        return Ok(json_response(if is_ns { 200 } else { 202 }, &stored));
    }
    let gone = commit(st, ctx.def, &ctx.ns, name, new);
    if matches!(
        ctx.def.key().as_str(),
        "/pods" | "/services" | "/namespaces"
    ) {
        Ok(json_response(200, &gone))
    } else {
        Ok(json_response(
            200,
            &success_status(
                name,
                &ctx.def.group,
                &ctx.def.plural,
                meta_str(&gone, "uid"),
            ),
        ))
    }
}

pub(super) fn delete_collection(
    st: &mut State,
    ctx: &WriteCtx<'_>,
    req: &Req,
    opts: &Value,
) -> Result<Response<Body>, ApiError> {
    let filter = Filter::from_req(req)?;
    let ns = if ctx.def.namespaced && !ctx.ns.is_empty() {
        Some(ctx.ns.as_str())
    } else {
        None
    };
    let names: Vec<String> = st
        .store
        .list(&ctx.def.key(), ns)
        .filter(|o| filter.matches(o))
        .map(|o| meta_str(o, "name").to_string())
        .collect();
    let mut items = Vec::new();
    for n in names {
        let r = delete(st, ctx, &n, opts)?;
        let _ = r;
        items.push(json!({"metadata": {"name": n}}));
    }
    Ok(json_response(
        200,
        &json!({"kind": format!("{}List", ctx.def.kind), "apiVersion": ctx.def.api_version(), "metadata": {}, "items": items}),
    ))
}
