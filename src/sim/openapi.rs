//! Minimal OpenAPI v3 documents: enough for kubectl to see that every resource's PATCH accepts
//! `fieldValidation` (so it validates server-side and needs no schemas). No schemas are served;
//! `/openapi/v2` answers 404 like a server without it.

use serde_json::{Map, Value, json};

use super::registry::Registry;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash(s: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    format!("{h:016X}")
}

/// The `/openapi/v3` root: one entry per served group version.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for d in &reg.defs {
        let p = gv_path(&d.group, &d.version);
        if !paths.contains_key(&p) {
            let url = format!("/openapi/v3/{p}?hash={}", hash(&p));
            paths.insert(p, json!({"serverRelativeURL": url}));
        }
    }
    json!({"paths": paths})
}

/// The document of one group version (`api/v1`, `apis/apps/v1`), or `None`.
pub fn group_version(reg: &Registry, rest: &str) -> Option<Value> {
    let mut paths = Map::new();
    let params = json!([
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}},
    ]);
    let mut found = false;
    for d in &reg.defs {
        if gv_path(&d.group, &d.version) != rest || d.read_only {
            continue;
        }
        found = true;
        let base = format!("/{}", gv_path(&d.group, &d.version));
        let item = if d.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", d.plural)
        } else {
            format!("{base}/{}/{{name}}", d.plural)
        };
        let gvk = json!({"group": d.group, "version": d.version, "kind": d.kind});
        paths.insert(
            item,
            json!({
                "patch": {
                    "parameters": params,
                    "operationId": format!("patch{}", d.kind),
                    "x-kubernetes-action": "patch",
                    "x-kubernetes-group-version-kind": gvk,
                    "responses": {"200": {"description": "OK"}},
                },
            }),
        );
    }
    found.then(|| {
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": "v1.28.9+rke2r1"},
            "paths": paths,
            "components": {"schemas": {}},
        })
    })
}
