//! Patch types: JSON merge patch, strategic merge patch (with the list semantics of the fields that
//! matter), JSON patch (with `test`), and the field sets recorded in managedFields.

use serde_json::{Map, Value, json};

use super::api::ApiError;
use super::server::Req;

const UNSUPPORTED: &str = "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";

fn parse(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Applies a patch of the given content type to `doc`; returns the field set the patch touched.
pub fn apply_typed(ctype: &str, body: &[u8], doc: &mut Value) -> Result<Value, ApiError> {
    match ctype {
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            let mut work = doc.clone();
            json_patch::patch(&mut work, &p.0).map_err(|e| {
                let mut err = ApiError::new(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request",
                );
                let cause = match e.kind {
                    json_patch::PatchErrorKind::TestFailed => {
                        format!("testing value {} failed: test failed", e.path)
                    }
                    _ => e.to_string(),
                };
                err.details =
                    json!({"causes": [{"reason": "UnexpectedServerResponse", "message": cause}]});
                err
            })?;
            *doc = work;
            Ok(json!({}))
        }
        "application/merge-patch+json" => {
            let p = parse(body)?;
            json_patch::merge(doc, &p);
            Ok(p)
        }
        "application/strategic-merge-patch+json" => {
            let p = parse(body)?;
            strategic(doc, &p);
            Ok(p)
        }
        _ => Err(ApiError::new(415, "UnsupportedMediaType", UNSUPPORTED)),
    }
}

/// Applies the request's patch to `doc` (used for subresources).
pub fn apply_any(req: &Req, doc: &mut Value) -> Result<(), ApiError> {
    let ctype = req.content_type.split(';').next().unwrap_or("").trim();
    if ctype == "application/apply-patch+yaml" {
        let p: Value = super::yaml::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
        strategic(doc, &p);
        return Ok(());
    }
    apply_typed(ctype, &req.body, doc).map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ListKind {
    Replace,
    Set,
    Key(&'static str),
}

fn list_kind(parent: Option<&str>, field: &str, items: &[Value]) -> ListKind {
    match field {
        "finalizers" if parent == Some("metadata") => ListKind::Set,
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "env"
        | "webhooks" => ListKind::Key("name"),
        "volumeMounts" => ListKind::Key("mountPath"),
        "volumeDevices" => ListKind::Key("devicePath"),
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                ListKind::Key("containerPort")
            } else {
                ListKind::Key("port")
            }
        }
        "conditions" => ListKind::Key("type"),
        "ownerReferences" => ListKind::Key("uid"),
        "addresses" if parent == Some("status") => ListKind::Key("type"),
        "hostAliases" => ListKind::Key("ip"),
        _ => ListKind::Replace,
    }
}

fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, x)| (k.clone(), strip(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Strategic merge patch.
pub fn strategic(doc: &mut Value, patch: &Value) {
    smp(doc, patch, None);
}

fn smp(doc: &mut Value, patch: &Value, parent: Option<&str>) {
    let Some(pm) = patch.as_object() else {
        *doc = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        *doc = strip(patch);
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Some(dm) = doc.as_object_mut() else {
        return;
    };
    for (k, v) in pm {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let remove: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(Value::Array(cur)) = dm.get_mut(field) {
                cur.retain(|x| !remove.contains(&x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            dm.remove(k);
            continue;
        }
        match (dm.get_mut(k), v) {
            (Some(Value::Array(cur)), Value::Array(pv)) => {
                let kind = list_kind(parent, k, if cur.is_empty() { pv } else { cur });
                merge_list(cur, pv, kind);
            }
            (Some(cur @ Value::Object(_)), Value::Object(_)) => smp(cur, v, Some(k)),
            (_, Value::Object(_)) => {
                let mut fresh = Value::Object(Map::new());
                smp(&mut fresh, v, Some(k));
                dm.insert(k.clone(), fresh);
            }
            (_, Value::Array(pv)) => {
                let kept: Vec<Value> = pv
                    .iter()
                    .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
                    .map(strip)
                    .collect();
                dm.insert(k.clone(), Value::Array(kept));
            }
            _ => {
                dm.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_list(cur: &mut Vec<Value>, patch: &[Value], kind: ListKind) {
    match kind {
        ListKind::Replace => {
            *cur = patch.iter().map(strip).collect();
        }
        ListKind::Set => {
            // as the real server orders it (checked by tests/conformance.rs): the patch's items
            // first, in patch order, then the original items the patch did not name
            let mut merged: Vec<Value> = Vec::with_capacity(cur.len() + patch.len());
            for p in patch.iter().chain(cur.iter()) {
                if !merged.contains(p) {
                    merged.push(p.clone());
                }
            }
            *cur = merged;
        }
        ListKind::Key(key) => {
            for p in patch {
                let Some(kv) = p.get(key) else {
                    cur.push(strip(p));
                    continue;
                };
                let pos = cur.iter().position(|c| c.get(key) == Some(kv));
                if p.get("$patch").and_then(Value::as_str) == Some("delete") {
                    if let Some(i) = pos {
                        cur.remove(i);
                    }
                    continue;
                }
                match pos {
                    Some(i) => smp(&mut cur[i], p, None),
                    None => cur.push(strip(p)),
                }
            }
        }
    }
}

/// Removes from `obj` the map fields present in the `previous` field set but not in `now`
/// (server-side apply dropping fields a manager stopped applying; lists are left alone).
pub fn prune(obj: &mut Value, previous: &Value, now: &Value) {
    let (Some(prev), Some(o)) = (previous.as_object(), obj.as_object_mut()) else {
        return;
    };
    for (k, sub) in prev {
        let Some(name) = k.strip_prefix("f:") else {
            continue;
        };
        match now.get(k) {
            None => {
                o.remove(name);
            }
            Some(next) => {
                if let Some(child) = o.get_mut(name)
                    && child.is_object()
                {
                    prune(child, sub, next);
                }
            }
        }
    }
}

const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The FieldsV1 set of the fields present in `v` (an approximation of the real field sets).
pub fn fields_v1(v: &Value) -> Value {
    let mut out = Map::new();
    if let Some(m) = v.as_object() {
        for (k, x) in m {
            if k == "apiVersion" || k == "kind" || k.starts_with('$') {
                continue;
            }
            if k == "metadata" {
                let mut meta = Map::new();
                if let Some(mm) = x.as_object() {
                    for (mk, mx) in mm {
                        if !SERVER_META.contains(&mk.as_str()) {
                            meta.insert(format!("f:{mk}"), fields(mx));
                        }
                    }
                }
                if !meta.is_empty() {
                    out.insert("f:metadata".into(), Value::Object(meta));
                }
                continue;
            }
            out.insert(format!("f:{k}"), fields(x));
        }
    }
    Value::Object(out)
}

fn fields(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                if !k.starts_with('$') {
                    out.insert(format!("f:{k}"), fields(x));
                }
            }
            Value::Object(out)
        }
        Value::Array(a)
            if a.iter()
                .all(|i| i.get("name").and_then(Value::as_str).is_some())
                && !a.is_empty() =>
        {
            let mut out = Map::new();
            for i in a {
                let n = i.get("name").cloned().unwrap_or(Value::Null);
                let mut f = match fields(i) {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                f.insert(".".into(), json!({}));
                out.insert(format!("k:{}", json!({"name": n})), Value::Object(f));
            }
            Value::Object(out)
        }
        Value::Array(a) if a.iter().all(|i| !i.is_object() && !i.is_array()) && !a.is_empty() => {
            let mut out = Map::new();
            for i in a {
                out.insert(format!("v:{i}"), json!({}));
            }
            Value::Object(out)
        }
        _ => json!({}),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sim_smp_finalizers_merge_as_set() {
        let mut doc =
            json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"finalizers": ["kubernetes"]}});
        strategic(
            &mut doc,
            &json!({"metadata": {"finalizers": ["b", "c"]}, "spec": {"finalizers": []}}),
        );
        assert_eq!(doc["metadata"]["finalizers"], json!(["b", "c", "a"]));
        assert_eq!(doc["spec"]["finalizers"], json!([]));
        strategic(
            &mut doc,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(doc["metadata"]["finalizers"], json!(["b", "c"]));
    }

    #[test]
    fn sim_smp_containers_by_name() {
        let mut doc = json!({"spec": {"containers": [
            {"name": "a", "image": "x:1", "env": [{"name": "E", "value": "1"}]},
            {"name": "b", "image": "y:1"}]}});
        strategic(
            &mut doc,
            &json!({"spec": {"containers": [
            {"name": "a", "image": "x:2", "env": [{"name": "F", "value": "2"}]},
            {"name": "b", "$patch": "delete"},
            {"name": "c", "image": "z:1"}]}}),
        );
        let c = &doc["spec"]["containers"];
        assert_eq!(c.as_array().map(Vec::len), Some(2));
        assert_eq!(c[0]["image"], "x:2");
        assert_eq!(c[0]["env"].as_array().map(Vec::len), Some(2));
        assert_eq!(c[1]["name"], "c");
    }
}
