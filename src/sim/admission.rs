//! Admission through mutating and validating webhook configurations. The simulator never calls a
//! webhook: a matching webhook whose service has ready endpoints allows the request; one whose
//! service is missing or has no ready endpoints fails it (failurePolicy Fail, the default) with the
//! real API server's error text, or is skipped (Ignore). The TLS check the real API server makes
//! against the webhook's `caBundle` is modelled too: a Service annotated
//! `sim.ktriage.io/serving-ca: <base64 CA>` serves a certificate from that CA, and a webhook whose
//! `caBundle` differs fails with `x509: certificate signed by unknown authority`.

use serde_json::Value;

use super::api::ApiError;
use super::registry::ResourceDef;
use super::selectors::LabelSelector;
use super::server::State;
use super::store::labels;
use super::write::Op;

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Create => "CREATE",
        Op::Update => "UPDATE",
        Op::Delete => "DELETE",
    }
}

fn list_has(v: Option<&Value>, want: &str) -> bool {
    v.and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "*" || x == want))
}

fn resource_matches(rules_res: Option<&Value>, plural: &str, sub: Option<&str>) -> bool {
    let Some(list) = rules_res.and_then(Value::as_array) else {
        return false;
    };
    list.iter().filter_map(Value::as_str).any(|r| {
        let (rp, rs) = match r.split_once('/') {
            Some((p, s)) => (p, Some(s)),
            None => (r, None),
        };
        let plural_ok = rp == "*" || rp == plural;
        let sub_ok = match (rs, sub) {
            (None, None) => true,
            (None, Some(_)) => false,
            (Some("*"), _) => true,
            (Some(x), Some(s)) => x == s,
            (Some(_), None) => false,
        };
        plural_ok && sub_ok
    })
}

fn rule_matches(rule: &Value, op: Op, def: &ResourceDef, sub: Option<&str>) -> bool {
    let scope = rule.get("scope").and_then(Value::as_str).unwrap_or("*");
    let scope_ok = match scope {
        "Cluster" => !def.namespaced,
        "Namespaced" => def.namespaced,
        _ => true,
    };
    scope_ok
        && list_has(rule.get("operations"), op_name(op))
        && list_has(rule.get("apiGroups"), &def.group)
        && list_has(rule.get("apiVersions"), &def.version)
        && resource_matches(rule.get("resources"), &def.plural, sub)
}

fn selector_matches(
    sel: Option<&Value>,
    lbls: &std::collections::BTreeMap<String, String>,
) -> bool {
    match sel {
        None | Some(Value::Null) => true,
        Some(s) => LabelSelector::from_object(s).is_some_and(|ls| ls.matches(lbls)),
    }
}

/// Why a webhook's service cannot be called, or `None` when it has ready endpoints.
fn unreachable(st: &State, svc: &Value) -> Option<String> {
    let ns = svc.get("namespace").and_then(Value::as_str).unwrap_or("");
    let name = svc.get("name").and_then(Value::as_str).unwrap_or("");
    st.store.get("/services", ns, name)?;
    let ready = st.store.get("/endpoints", ns, name).is_some_and(|ep| {
        ep.get("subsets")
            .and_then(Value::as_array)
            .is_some_and(|subs| {
                subs.iter().any(|s| {
                    s.get("addresses")
                        .and_then(Value::as_array)
                        .is_some_and(|a| !a.is_empty())
                })
            })
    });
    if ready {
        None
    } else {
        Some(format!("no endpoints available for service \"{name}\""))
    }
}

/// The annotation naming the CA (base64, as a `caBundle`) the Service's backend serves from.
pub const SERVING_CA_ANNOTATION: &str = "sim.ktriage.io/serving-ca";

fn missing_service(st: &State, svc: &Value, ca_bundle: Option<&str>) -> Option<String> {
    let ns = svc.get("namespace").and_then(Value::as_str).unwrap_or("");
    let name = svc.get("name").and_then(Value::as_str).unwrap_or("");
    let Some(service) = st.store.get("/services", ns, name) else {
        return Some(format!("service \"{name}\" not found"));
    };
    unreachable(st, svc).or_else(|| {
        let serving = service
            .pointer(&format!(
                "/metadata/annotations/{}",
                SERVING_CA_ANNOTATION.replace('/', "~1")
            ))
            .and_then(Value::as_str)?;
        (ca_bundle != Some(serving)).then(|| {
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .to_string()
        })
    })
}

fn webhook_url(svc: &Value, timeout: i64) -> String {
    let ns = svc.get("namespace").and_then(Value::as_str).unwrap_or("");
    let name = svc.get("name").and_then(Value::as_str).unwrap_or("");
    let port = svc.get("port").and_then(Value::as_i64).unwrap_or(443);
    let path = svc.get("path").and_then(Value::as_str).unwrap_or("");
    format!("https://{name}.{ns}.svc:{port}{path}?timeout={timeout}s")
}

/// Runs admission for a write; an error is the Status the API server would answer.
#[allow(clippy::too_many_arguments)]
pub fn admit(
    st: &State,
    def: &ResourceDef,
    op: Op,
    sub: Option<&str>,
    ns: &str,
    _name: &str,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    if def.group == "admissionregistration.k8s.io" {
        return Ok(());
    }
    let ns_labels = if def.key() == "/namespaces" {
        Some(labels(obj))
    } else if def.namespaced {
        Some(
            st.store
                .get("/namespaces", "", ns)
                .map(|n| labels(n))
                .unwrap_or_default(),
        )
    } else {
        None
    };
    let obj_labels = labels(obj);
    let old_labels = old.map(labels);
    for res in [
        "admissionregistration.k8s.io/mutatingwebhookconfigurations",
        "admissionregistration.k8s.io/validatingwebhookconfigurations",
    ] {
        for cfg in st.store.list(res, None) {
            let Some(hooks) = cfg.get("webhooks").and_then(Value::as_array) else {
                continue;
            };
            for hook in hooks {
                let rules = hook.get("rules").and_then(Value::as_array);
                if !rules.is_some_and(|r| r.iter().any(|r| rule_matches(r, op, def, sub))) {
                    continue;
                }
                if let Some(l) = &ns_labels
                    && !selector_matches(hook.get("namespaceSelector"), l)
                {
                    continue;
                }
                let os = hook.get("objectSelector");
                if !selector_matches(os, &obj_labels)
                    && !old_labels.as_ref().is_some_and(|l| selector_matches(os, l))
                {
                    continue;
                }
                let Some(svc) = hook.pointer("/clientConfig/service") else {
                    continue;
                };
                let ca_bundle = hook
                    .pointer("/clientConfig/caBundle")
                    .and_then(Value::as_str);
                let Some(why) = missing_service(st, svc, ca_bundle) else {
                    continue;
                };
                let policy = hook
                    .get("failurePolicy")
                    .and_then(Value::as_str)
                    .unwrap_or("Fail");
                if policy == "Ignore" {
                    continue;
                }
                let hook_name = hook.get("name").and_then(Value::as_str).unwrap_or("");
                let timeout = hook
                    .get("timeoutSeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(10);
                return Err(ApiError::internal(format!(
                    "failed calling webhook \"{hook_name}\": failed to call webhook: Post \"{}\": {why}",
                    webhook_url(svc, timeout)
                )));
            }
        }
    }
    Ok(())
}
