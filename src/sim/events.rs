//! events.k8s.io/v1 is a view of the core/v1 events store, as on a real server: objects are stored
//! in the core shape and converted on the way in and out.

use serde_json::{Map, Value, json};

const PAIRS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("reason", "reason"),
    ("type", "type"),
    ("action", "action"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

fn convert(from: &Value, api_version: &str, to_v1: bool) -> Value {
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    out.insert(
        "metadata".into(),
        from.get("metadata").cloned().unwrap_or(json!({})),
    );
    for (core, v1) in PAIRS {
        let (src, dst) = if to_v1 { (core, v1) } else { (v1, core) };
        if let Some(v) = from.get(*src).filter(|v| !v.is_null()) {
            out.insert((*dst).to_string(), v.clone());
        }
    }
    if to_v1 {
        if !out.contains_key("reportingController")
            && let Some(c) = from.pointer("/source/component")
        {
            out.insert("reportingController".into(), c.clone());
        }
        if !out.contains_key("eventTime") {
            out.insert("eventTime".into(), Value::Null);
        }
    }
    Value::Object(out)
}

/// The events.k8s.io/v1 shape of a stored core/v1 Event.
pub fn to_v1(core: &Value) -> Value {
    convert(core, "events.k8s.io/v1", true)
}

/// The core/v1 shape (for storing) of an events.k8s.io/v1 Event.
pub fn to_core(v1: &Value) -> Value {
    convert(v1, "v1", false)
}
