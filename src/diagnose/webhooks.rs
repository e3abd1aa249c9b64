//! Admission webhooks: `webhook-blocking` and `webhook-self-blocking` (critical), `webhook-slow`
//! (warning), `webhook-fail-open` (info). Matching reads the webhook's rules, namespaceSelector and
//! objectSelector against live namespaces and the backend Service's pod labels, never names.
//!
//! A fail-closed webhook blocks when its backend has no ready endpoints, and also when the
//! endpoints are ready but its calls fail: the reason comes from the `failed calling webhook`
//! events of the last 15 minutes (a wrong `caBundle`, a refused port, a timeout), and the fix
//! follows the reason. Its blast radius counts pods and what the cluster needs to heal: Leases,
//! ConfigMaps and Endpoints in kube-system, Namespaces, Nodes.

use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::model::webhooks::{Backend, Reach, WebhookConfigRow, WebhookRow};
use crate::model::{Model, PaneId};

/// The API server caps a webhook call at 30 s; a timeout this close to it stalls every request.
pub const SLOW_TIMEOUT_SECS: i32 = 25;

/// `failed calling webhook` events this recent say the calls fail now.
const RECENT_SECS: i64 = 15 * 60;

/// Why calls to a webhook fail, read from the API server's `failed calling webhook` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// `x509: …`: the certificate the backend serves does not verify against the `caBundle`.
    CaBundle,
    /// `connection refused`: endpoints are ready but nothing listens on the target port.
    Refused,
    /// `context deadline exceeded` and other timeouts.
    Timeout,
    /// `no endpoints available`, `service … not found`: the backend is down.
    NoBackend,
    Other,
}

impl CallFailure {
    pub fn of(message: &str) -> CallFailure {
        let m = message.to_ascii_lowercase();
        if m.contains("x509:") || m.contains("failed to verify certificate") {
            CallFailure::CaBundle
        } else if m.contains("connection refused") {
            CallFailure::Refused
        } else if crate::model::webhooks::WebhookEvent::is_timeout(message) {
            CallFailure::Timeout
        } else if m.contains("no endpoints available") || m.contains("not found") {
            CallFailure::NoBackend
        } else {
            CallFailure::Other
        }
    }

    fn label(self) -> &'static str {
        match self {
            CallFailure::CaBundle => "x509: its caBundle does not match the backend's certificate",
            CallFailure::Refused => "connection refused",
            CallFailure::Timeout => "timeout",
            CallFailure::NoBackend => "no backend",
            CallFailure::Other => "the call fails",
        }
    }
}

/// The reason of the newest recent failed call, when calls fail although the backend is up.
fn failing_calls(
    model: &Model,
    w: &WebhookRow,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(CallFailure, String)> {
    let recent = model
        .webhooks
        .events_for(&w.name)
        .filter(|e| e.last.is_none_or(|t| (now - t).num_seconds() <= RECENT_SECS))
        .max_by_key(|e| e.last)?;
    let why = CallFailure::of(&recent.message);
    (why != CallFailure::NoBackend).then(|| (why, recent.message.clone()))
}

/// What the cluster needs to heal that a webhook intercepts (create or update), as operators name
/// it: Leases, ConfigMaps and Endpoints in kube-system (when its namespaceSelector matches
/// kube-system), Namespaces, Nodes.
pub fn heal_blast(model: &Model, w: &WebhookRow) -> Vec<&'static str> {
    let hits = |group: &str, resource: &str| {
        w.rules.iter().any(|r| {
            let has = |l: &[String], x: &str| l.iter().any(|v| v == "*" || v == x);
            has(&r.api_groups, group)
                && (has(&r.operations, "CREATE") || has(&r.operations, "UPDATE"))
                && r.resources
                    .iter()
                    .any(|x| x == "*" || x == "*/*" || x == resource)
        })
    };
    let kube_system = match model.namespaces.store.get("kube-system") {
        Some(n) => n.effective_labels(),
        None => [(
            "kubernetes.io/metadata.name".to_string(),
            "kube-system".to_string(),
        )]
        .into_iter()
        .collect(),
    };
    let in_kube_system = w.namespace_selector.matches(&kube_system);
    let mut v = Vec::new();
    for (group, resource, what, namespaced) in [
        ("coordination.k8s.io", "leases", "Leases in kube-system (leader election, heartbeats)", true),
        ("", "configmaps", "ConfigMaps in kube-system", true),
        ("", "endpoints", "Endpoints in kube-system", true),
        ("", "namespaces", "Namespaces", false),
        ("", "nodes", "Nodes", false),
    ] {
        if hits(group, resource) && (!namespaced || in_kube_system) {
            v.push(what);
        }
    }
    v
}

fn subject(c: &WebhookConfigRow, w: &WebhookRow) -> Subject {
    Subject {
        kind: c.kind.config_kind().into(),
        namespace: None,
        name: c.name.clone(),
        part: Some(w.name.clone()),
    }
}

/// Active namespaces whose labels the webhook's namespaceSelector matches.
pub fn blocked_namespaces(model: &Model, w: &WebhookRow) -> Vec<String> {
    model
        .namespaces
        .store
        .iter()
        .filter(|n| !n.terminating())
        .filter(|n| w.namespace_selector.matches(&n.effective_labels()))
        .map(|n| n.name.clone())
        .collect()
}

/// Whether the webhook would be called for its own backend's pods (the chicken-and-egg case: the
/// backend's replacement pod cannot be created while the backend is down).
pub fn self_blocking(model: &Model, w: &WebhookRow) -> bool {
    let Backend::Service {
        namespace, name, ..
    } = &w.backend
    else {
        return false;
    };
    let Some(svc) = model.webhooks.services.get(&format!("{namespace}/{name}")) else {
        return false;
    };
    let ns_labels = match model.namespaces.store.get(namespace) {
        Some(n) => n.effective_labels(),
        None => [("kubernetes.io/metadata.name".to_string(), namespace.clone())]
            .into_iter()
            .collect(),
    };
    !svc.selector.is_empty()
        && w.matches("CREATE", "pods")
        && w.namespace_selector.matches(&ns_labels)
        && w.object_selector.matches(&svc.selector)
}

fn base_evidence(model: &Model, w: &WebhookRow, reach: Reach) -> Vec<String> {
    let mut ev = vec![
        format!(
            "failurePolicy {}, timeoutSeconds {}, sideEffects {}",
            w.failure_policy, w.timeout_seconds, w.side_effects
        ),
        format!("backend {}: {}", w.backend.describe(), reach.label()),
        format!("namespaceSelector {}", w.namespace_selector.describe()),
    ];
    if !w.object_selector.is_empty() {
        ev.push(format!("objectSelector {}", w.object_selector.describe()));
    }
    let events: Vec<_> = model.webhooks.events_for(&w.name).collect();
    if !events.is_empty() {
        let total: i32 = events.iter().map(|e| e.count).sum();
        ev.push(format!(
            "{} warning event(s) ({} occurrences) say `failed calling webhook \"{}\"`, e.g. {}/{}: {}",
            events.len(),
            total,
            w.name,
            events[0].namespace,
            events[0].reason,
            crate::text::truncate(&events[0].message, 160)
        ));
    }
    ev
}

pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    let model = cx.model;
    let wm = &model.webhooks;
    for (c, index, w) in wm.rows() {
        let one = One::new(model, c, index, w);
        blocking(model, &one, cx.now, out);
        self_blocking_rule(model, &one, out);
        slow(model, &one, out);
        fail_open(model, &one, out);
    }
}

/// One webhook as the rules read it.
struct One<'a> {
    c: &'a WebhookConfigRow,
    index: usize,
    w: &'a WebhookRow,
    reach: Reach,
    /// `failurePolicy: Fail`.
    fail: bool,
    /// It intercepts pod creation.
    pods: bool,
    /// The operations its rules intercept.
    ops: Vec<&'static str>,
}

impl<'a> One<'a> {
    fn new(model: &Model, c: &'a WebhookConfigRow, index: usize, w: &'a WebhookRow) -> One<'a> {
        let ops = ["CREATE", "UPDATE", "DELETE", "CONNECT"]
            .into_iter()
            .filter(|op| {
                w.rules
                    .iter()
                    .any(|r| r.operations.iter().any(|o| o == op || o == "*"))
            })
            .collect();
        One {
            c,
            index,
            w,
            reach: model.webhooks.reach(w),
            fail: w.failure_policy != "Ignore",
            pods: w.matches("CREATE", "pods"),
            ops,
        }
    }

    fn details(&self, blocked: &[String]) -> serde_json::Value {
        let (c, w) = (self.c, self.w);
        json!({
            "configuration": c.name, "kind": c.kind.config_kind(), "webhook": w.name, "index": self.index,
            "failure_policy": w.failure_policy, "timeout_seconds": w.timeout_seconds,
            "backend": w.backend.describe(), "reachability": self.reach.label(),
            "operations": self.ops, "blocked_namespaces": blocked,
        })
    }
}

/// `webhook-blocking`: fails closed, intercepts pod creation or what the cluster needs to heal,
/// and its backend is down or its calls fail although the backend is up.
fn blocking(model: &Model, one: &One, now: chrono::DateTime<chrono::Utc>, out: &mut Vec<Finding>) {
    let One {
        c,
        index,
        w,
        reach,
        fail,
        pods,
        ref ops,
    } = *one;
    let heal = heal_blast(model, w);
    let failing = if reach.down() {
        None
    } else {
        failing_calls(model, w, now)
    };
    if !(fail && (pods || !heal.is_empty()) && (reach.down() || failing.is_some())) {
        return;
    }
    let blocked = if pods {
        blocked_namespaces(model, w)
    } else {
        Vec::new()
    };
    let radius = if pods {
        format!("blocks pod creation in {} namespace(s)", blocked.len())
    } else {
        format!("blocks changes to {}", heal.join(", "))
    };
    let title = match failing {
        None => format!(
            "webhook {} ({}) fails closed with no backend: {radius}",
            w.name, c.name
        ),
        Some((why, _)) => format!(
            "webhook {} ({}) fails closed: calls fail ({}){}; {radius}",
            w.name,
            c.name,
            why.label(),
            match reach {
                Reach::Ready(n) => format!(" although {n} endpoint(s) are ready"),
                _ => String::new(),
            }
        ),
    };
    let mut f = Finding::new(
        "webhook-blocking",
        Severity::Critical,
        PaneId::Webhooks,
        Some(subject(c, w)),
        title,
    );
    f.evidence = base_evidence(model, w, reach);
    if pods {
        f.evidence.push(format!(
            "matches {} of pods; blocked namespaces: {}",
            ops.join("/"),
            blocked.join(", ")
        ));
    }
    if !heal.is_empty() {
        f.evidence.push(format!(
            "it also intercepts what the cluster needs to heal: {}",
            heal.join(", ")
        ));
    }
    f.fix.text = blocking_fix(c, w, index, failing.as_ref().map(|(why, _)| *why));
    f.fix.action = Some("toggle_failure_policy".into());
    f.details = one.details(&blocked);
    if let Some((why, message)) = &failing {
        f.details["call_failure"] = json!(format!("{why:?}"));
        f.details["call_message"] = json!(crate::text::truncate(message, 300));
    }
    f.details["heals_blocked"] = json!(heal);
    out.push(f);
}

/// What to do about a blocking webhook: take it out of the way, then what its failure calls for.
fn blocking_fix(
    c: &WebhookConfigRow,
    w: &WebhookRow,
    index: usize,
    why: Option<CallFailure>,
) -> String {
    let toggle = format!(
        "Switch failurePolicy to Ignore for {} (`kubectl patch {} {} --type=json` on /webhooks/{index}/failurePolicy; ktriage backs the configuration up and records why), \
         or back it up and delete the configuration",
        w.name,
        c.kind.plural(),
        c.name
    );
    let backend = w.backend.describe();
    match why {
        None => format!("{toggle}; bring the backend {backend} back; then restore Fail."),
        Some(CallFailure::CaBundle) => format!(
            "{toggle}. The backend {backend} serves a certificate its caBundle does not trust: inject the \
             current CA into /webhooks/{index}/clientConfig/caBundle (cert-manager's CA injector or the \
             product's own certificate controller does it when it runs), or re-issue the backend's \
             certificate from that CA; then restore Fail."
        ),
        Some(CallFailure::Refused) => format!(
            "{toggle}. The Service {backend} has ready endpoints but their port refuses: check its targetPort \
             against the container's port and the backend's logs; then restore Fail."
        ),
        Some(CallFailure::Timeout) => format!(
            "{toggle}. Calls to {backend} time out: check the backend's load and the network path from the \
             API server to the pods (a NetworkPolicy or a CNI problem); then restore Fail."
        ),
        Some(_) => format!(
            "{toggle}; read the backend's logs ({backend}) for why it fails the calls; then restore Fail."
        ),
    }
}

/// `webhook-self-blocking`: fails closed and intercepts its own backend's pods.
fn self_blocking_rule(model: &Model, one: &One, out: &mut Vec<Finding>) {
    let (c, w, reach, fail) = (one.c, one.w, one.reach, one.fail);
    if fail && reach.down() && self_blocking(model, w) {
        let mut f = Finding::new(
            "webhook-self-blocking",
            Severity::Critical,
            PaneId::Webhooks,
            Some(subject(c, w)),
            format!(
                "webhook {} blocks its own backend's pods: {} cannot come back while it fails closed",
                w.name,
                w.backend.describe()
            ),
        );
        f.evidence = base_evidence(model, w, reach);
        f.evidence.push(
            "its namespaceSelector and objectSelector match the backend Service's namespace and pod labels"
                .into(),
        );
        f.fix.text = "Set failurePolicy to Ignore (or exclude the backend's namespace with a namespaceSelector), let the backend start, then restore Fail.".into();
        f.fix.action = Some("toggle_failure_policy".into());
        f.details = one.details(&blocked_namespaces(model, w));
        out.push(f);
    }
}

/// `webhook-slow`: calls time out, or a long timeout in front of a down backend.
fn slow(model: &Model, one: &One, out: &mut Vec<Finding>) {
    let (c, w, reach) = (one.c, one.w, one.reach);
    let wm = &model.webhooks;
    let timeouts: Vec<_> = wm.events_for(&w.name).filter(|e| e.timed_out).collect();
    if !timeouts.is_empty() || (w.timeout_seconds >= SLOW_TIMEOUT_SECS && reach.down()) {
        let mut f = Finding::new(
            "webhook-slow",
            Severity::Warning,
            PaneId::Webhooks,
            Some(subject(c, w)),
            format!(
                "webhook {} times out (timeoutSeconds {}, the API server's limit is 30)",
                w.name, w.timeout_seconds
            ),
        );
        f.evidence = base_evidence(model, w, reach);
        f.evidence.push(format!(
            "{} warning event(s) report a timeout",
            timeouts.len()
        ));
        f.fix.text = "Lower timeoutSeconds (every matching request waits that long) and fix the backend's latency.".into();
        f.details = one.details(&[]);
        out.push(f);
    }
}

/// `webhook-fail-open`: the policy is not enforced while the backend is down.
fn fail_open(model: &Model, one: &One, out: &mut Vec<Finding>) {
    let (c, w, reach, fail) = (one.c, one.w, one.reach, one.fail);
    if !fail && reach.down() {
        let mut f = Finding::new(
            "webhook-fail-open",
            Severity::Info,
            PaneId::Webhooks,
            Some(subject(c, w)),
            format!(
                "webhook {} fails open: its policy is not enforced while the backend is down",
                w.name
            ),
        );
        f.evidence = base_evidence(model, w, reach);
        if let Some(a) = &c.last_action {
            f.evidence.push(format!("ktriage.io/last-action: {a}"));
        }
        f.fix.text = "Requests pass unchecked while the backend is down: bring it back, then restore failurePolicy Fail if it was set to Ignore for the incident.".into();
        f.fix.action = Some("restore".into());
        f.details = one.details(&[]);
        out.push(f);
    }
}

/// The report's `panes.webhooks.rows`: every webhook with its policy, backend and blast radius.
pub fn report_rows(model: &Model) -> serde_json::Value {
    let wm = &model.webhooks;
    let rows: Vec<serde_json::Value> = wm
        .rows()
        .map(|(c, index, w)| {
            let reach = wm.reach(w);
            let blocks = w.failure_policy != "Ignore" && reach.down() && w.matches("CREATE", "pods");
            json!({
                "configuration": c.name,
                "kind": c.kind.config_kind(),
                "webhook": w.name,
                "index": index,
                "failure_policy": w.failure_policy,
                "timeout_seconds": w.timeout_seconds,
                "side_effects": w.side_effects,
                "backend": w.backend.describe(),
                "reachability": reach.label(),
                "matches_pod_create": w.matches("CREATE", "pods"),
                "namespace_selector": w.namespace_selector.describe(),
                "object_selector": w.object_selector.describe(),
                "blocked_namespaces": if blocks { blocked_namespaces(model, w) } else { Vec::new() },
                "self_blocking": self_blocking(model, w),
                "failed_call_events": wm.events_for(&w.name).map(|e| e.count).sum::<i32>(),
                "last_action": c.last_action,
            })
        })
        .collect();
    serde_json::Value::Array(rows)
}

#[cfg(test)]
mod tests {
    use super::CallFailure;

    #[test]
    fn call_failures_from_the_api_servers_words() {
        let post = "failed calling webhook \"v.example.com\": failed to call webhook: Post \"https://svc.ns.svc:443/v?timeout=10s\": ";
        for (tail, want) in [
            ("tls: failed to verify certificate: x509: certificate signed by unknown authority", CallFailure::CaBundle),
            ("dial tcp 10.43.77.12:443: connect: connection refused", CallFailure::Refused),
            ("context deadline exceeded", CallFailure::Timeout),
            ("no endpoints available for service \"svc\"", CallFailure::NoBackend),
            ("service \"svc\" not found", CallFailure::NoBackend),
            ("EOF", CallFailure::Other),
        ] {
            assert_eq!(CallFailure::of(&format!("{post}{tail}")), want, "{tail}");
        }
    }
}
