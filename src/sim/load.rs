//! Loading objects directly (scenario start, control channel): no admission, server metadata
//! filled in, missing namespaces created.

use serde_json::{Value, json};

use super::api::{ApiError, now_rfc3339};
use super::handlers::with_type;
use super::server::State;
use super::store::meta_str;
use super::write::{defaults, new_uid, set_type};

/// Loads scenario objects at start (no admission, no history).
pub fn load_all(st: &mut State, objects: Vec<Value>) {
    // CRDs first so their custom resources resolve.
    let (crds, rest): (Vec<Value>, Vec<Value>) = objects
        .into_iter()
        .partition(|o| o.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition"));
    for o in crds.into_iter().chain(rest) {
        let _ = store_direct(st, o, true);
    }
    link_events(st);
}

/// Scenario events name their object; give them its uid (as recorded events have), so that
/// `kubectl describe` finds them with its `involvedObject.uid` field selector.
fn link_events(st: &mut State) {
    let mut fixes = Vec::new();
    for e in st.store.list("/events", None) {
        let io = e.get("involvedObject");
        if io.and_then(|i| i.get("uid")).is_some() {
            continue;
        }
        let s = |k: &str| {
            io.and_then(|i| i.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let av = if s("apiVersion").is_empty() {
            "v1"
        } else {
            s("apiVersion")
        };
        let Some(def) = st.reg.by_kind(av, s("kind")) else {
            continue;
        };
        let ns = if def.namespaced { s("namespace") } else { "" };
        if let Some(target) = st.store.get(&def.key(), ns, s("name")) {
            let mut fixed = (**e).clone();
            fixed["involvedObject"]["uid"] = json!(meta_str(target, "uid"));
            fixes.push((
                meta_str(e, "namespace").to_string(),
                meta_str(e, "name").to_string(),
                fixed,
            ));
        }
    }
    for (ns, name, e) in fixes {
        st.store.load("/events", &ns, &name, e);
    }
}

/// Stores an object directly (control channel), bypassing admission.
pub fn apply_direct(st: &mut State, obj: Value) -> Result<Value, ApiError> {
    store_direct(st, obj, false)
}

fn store_direct(st: &mut State, mut obj: Value, bulk: bool) -> Result<Value, ApiError> {
    super::write::check_shape(&obj, "object")?;
    let av = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let def = st.reg.by_kind(&av, &kind).cloned().ok_or_else(|| {
        ApiError::bad_request(format!("no resource for apiVersion {av:?} kind {kind:?}"))
    })?;
    set_type(&mut obj, &def);
    if obj.get("metadata").is_none_or(|m| !m.is_object()) {
        obj["metadata"] = json!({});
    }
    let name = meta_str(&obj, "name").to_string();
    if name.is_empty() {
        return Err(ApiError::bad_request("metadata.name is required"));
    }
    let ns = if def.namespaced {
        let n = meta_str(&obj, "namespace");
        if n.is_empty() {
            "default".to_string()
        } else {
            n.to_string()
        }
    } else {
        String::new()
    };
    if def.namespaced {
        obj["metadata"]["namespace"] = json!(ns);
        if st.store.get("/namespaces", "", &ns).is_none() {
            let nso = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            store_direct(st, nso, bulk)?;
        }
    }
    let old = st.store.get(&def.key(), &ns, &name).cloned();
    let has_spec = obj.get("spec").is_some();
    let m = obj["metadata"]
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata"))?;
    let keep = |k: &str, m: &mut serde_json::Map<String, Value>, default: Value| {
        if m.get(k).is_none_or(Value::is_null) {
            let v = old
                .as_ref()
                .and_then(|o| o.pointer(&format!("/metadata/{k}")).cloned())
                .unwrap_or(default);
            m.insert(k.to_string(), v);
        }
    };
    keep("uid", m, json!(new_uid()));
    keep("creationTimestamp", m, json!(now_rfc3339()));
    if m.get("generation").is_none() && has_spec {
        m.insert("generation".into(), json!(1));
    }
    let snapshot = obj.clone();
    defaults(&def, &mut obj, Some(&snapshot));
    if def.key() == "apiextensions.k8s.io/customresourcedefinitions" {
        st.reg.register_crd(&obj);
    }
    if def.events_view {
        obj = super::events::to_core(&obj);
    }
    if bulk {
        st.store.load(&def.key(), &ns, &name, obj);
        Ok(Value::Null)
    } else {
        let stored = st.store.put(&def.key(), &ns, &name, obj);
        Ok(with_type(&def, &stored).into_owned())
    }
}
