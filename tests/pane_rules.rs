//! Rules of the Namespaces and Webhooks panes from fixture models (fixed clock): each cause of a stuck
//! namespace, with and without the namespace controller's conditions; selector and rule matching; the
//! blast radius; the proposed fix order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeMap;

use ktriage::action::Action;
use ktriage::diagnose::Severity;
use ktriage::model::namespaces::{
    ApiServiceRow, Condition, HeldObject, NsContent, NsMsg, NsRow, RemainingKind,
};
use ktriage::model::webhooks::{
    Backend, EndpointsRow, Requirement, RuleRow, Selector, ServiceRow, WebhookConfigRow,
    WebhookEvent, WebhookKind, WebhookRow, WebhooksMsg,
};
use ktriage::model::{Delta, Model, PaneId};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::update::update;
use support::model::{model, ns, t0};

fn feed<T>(m: &mut Model, rows: Vec<T>, wrap: impl Fn(Delta<T>) -> Msg) {
    update(m, wrap(Delta::Init), t0());
    for r in rows {
        update(m, wrap(Delta::InitApply(r)), t0());
    }
    update(m, wrap(Delta::InitDone), t0());
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn metrics_apiservice(available: bool) -> ApiServiceRow {
    ApiServiceRow {
        name: "v1beta1.custom.metrics.k8s.io".into(),
        group: "custom.metrics.k8s.io".into(),
        version: "v1beta1".into(),
        service: Some("monitoring/adapter".into()),
        available: Some(available),
        reason: if available {
            "Passed"
        } else {
            "ServiceNotFound"
        }
        .into(),
        message: "service/adapter in \"monitoring\" is not present".into(),
    }
}

fn stuck(name: &str, meta: &[&str]) -> NsRow {
    NsRow {
        resource_version: "41".into(),
        ..ns(name, "Terminating", 600, &["kubernetes"], meta)
    }
}

fn ns_model(rows: Vec<NsRow>, apis: Vec<ApiServiceRow>, content: Vec<NsContent>) -> Model {
    let mut m = model(false);
    let mut all = vec![ns("default", "Active", 6000, &["kubernetes"], &[])];
    all.extend(rows);
    feed(&mut m, all, Msg::Namespaces);
    feed(&mut m, apis, |d| Msg::NsPane(NsMsg::ApiServices(d)));
    feed(&mut m, content, |d| Msg::NsPane(NsMsg::Content(d)));
    m
}

fn finding<'a>(m: &'a Model, id: &str, name: &str) -> &'a ktriage::diagnose::Finding {
    m.findings
        .iter()
        .find(|f| f.id == id && f.subject.as_ref().is_some_and(|s| s.name == name))
        .unwrap_or_else(|| panic!("no {id} for {name} in {:#?}", m.findings))
}

fn volumes(ns: &str) -> NsContent {
    NsContent {
        namespace: ns.into(),
        kinds: vec![RemainingKind {
            api_version: "longhorn.io/v1beta2".into(),
            kind: "Volume".into(),
            plural: "volumes".into(),
            count: 2,
            held: vec![HeldObject {
                name: "pvc-1".into(),
                finalizers: vec!["longhorn.io".into()],
                resource_version: "77".into(),
            }],
        }],
        ..NsContent::default()
    }
}

#[test]
fn rancher_finalizer_is_named_without_controller_conditions() {
    let m = ns_model(
        vec![stuck("mon", &["controller.cattle.io/namespace-auth"])],
        vec![metrics_apiservice(true)],
        vec![],
    );
    let f = finding(&m, "namespace-stuck", "mon");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.key, "namespace-stuck/Namespace//mon");
    assert_eq!(
        f.details["blocker"],
        "finalizer:controller.cattle.io/namespace-auth"
    );
    assert!(f.details["owner"].as_str().unwrap().contains("Rancher"));
    assert_eq!(f.details["inferred"], true);
    assert_eq!(f.cause, None);
    assert!(!m.findings.iter().any(|f| f.id == "apiservice-unavailable"));
}

#[test]
fn unavailable_apiservice_blocks_every_terminating_namespace_and_is_the_cause() {
    let m = ns_model(
        vec![stuck("old-a", &[]), stuck("old-b", &[])],
        vec![metrics_apiservice(false)],
        vec![],
    );
    let a = finding(
        &m,
        "apiservice-unavailable",
        "v1beta1.custom.metrics.k8s.io",
    );
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.details["blocks"], serde_json::json!(["old-a", "old-b"]));
    assert!(a.evidence.iter().any(|e| e.contains("ServiceNotFound")));
    for n in ["old-a", "old-b"] {
        let f = finding(&m, "namespace-stuck", n);
        assert_eq!(
            f.details["blocker"],
            "apiservice:v1beta1.custom.metrics.k8s.io"
        );
        assert_eq!(f.cause.as_deref(), Some(a.key.as_str()));
    }
    // an Active namespace is never a finding
    assert!(
        !m.findings
            .iter()
            .any(|f| f.subject.as_ref().is_some_and(|s| s.name == "default"))
    );
}

#[test]
fn leftover_content_from_the_scan_names_the_kind_and_its_owner() {
    let m = ns_model(
        vec![stuck("storage", &[])],
        vec![metrics_apiservice(true)],
        vec![volumes("storage")],
    );
    let f = finding(&m, "namespace-stuck", "storage");
    assert_eq!(f.details["blocker"], "content:Volume");
    assert_eq!(f.details["owner"], "the controller of longhorn.io");
}

#[test]
fn leftover_content_from_the_controller_conditions_when_not_scanned() {
    let mut row = stuck("storage", &[]);
    row.conditions = vec![Condition {
        type_: "NamespaceContentRemaining".into(),
        status: "True".into(),
        reason: "SomeResourcesRemain".into(),
        message: "Some resources are remaining: volumes.longhorn.io has 2 resource instances"
            .into(),
    }];
    let m = ns_model(vec![row], vec![metrics_apiservice(true)], vec![]);
    let f = finding(&m, "namespace-stuck", "storage");
    assert_eq!(f.details["blocker"], "content:volumes.longhorn.io");
    assert_eq!(f.details["inferred"], false);
}

#[test]
fn only_the_kubernetes_finalizer_points_at_the_namespace_controller() {
    let m = ns_model(vec![stuck("lonely", &[])], vec![], vec![]);
    let f = finding(&m, "namespace-stuck", "lonely");
    assert_eq!(f.details["blocker"], "finalizer:kubernetes");
    assert!(
        f.details["owner"]
            .as_str()
            .unwrap()
            .contains("kube-controller-manager")
    );
}

fn select(m: &mut Model, pane: PaneId, name_index: usize) {
    m.ui.active = pane;
    m.ui.selected[pane.index()] = name_index;
}

#[test]
fn the_fix_goes_in_the_seeds_order() {
    // default, mon, storage (store order)
    let mut m = ns_model(
        vec![
            stuck("mon", &["controller.cattle.io/namespace-auth"]),
            stuck("storage", &[]),
        ],
        vec![metrics_apiservice(false)],
        vec![volumes("storage")],
    );
    select(&mut m, PaneId::Namespaces, 2);
    let first = ktriage::model::pane_actions::mutation_for(&m, Action::Fix).unwrap();
    assert!(
        matches!(&first, Mutation::Delete { target } if target.kind == "APIService" && target.name == "v1beta1.custom.metrics.k8s.io"),
        "{first:?}"
    );
    // the APIService is fixed: the content's finalizers come next
    feed(&mut m, vec![metrics_apiservice(true)], |d| {
        Msg::NsPane(NsMsg::ApiServices(d))
    });
    let next = ktriage::model::pane_actions::mutation_for(&m, Action::Fix).unwrap();
    assert_eq!(
        next.patch(),
        serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "77"},
            {"op": "test", "path": "/metadata/finalizers/0", "value": "longhorn.io"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ])
    );
    assert_eq!(next.target().namespace.as_deref(), Some("storage"));
    // the Rancher namespace: its own finalizer, by index
    select(&mut m, PaneId::Namespaces, 1);
    let fin = ktriage::model::pane_actions::mutation_for(&m, Action::Fix).unwrap();
    assert!(
        matches!(&fin, Mutation::RemoveFinalizer { finalizer, index: 0, resource_version, .. }
            if finalizer == "controller.cattle.io/namespace-auth" && resource_version == "41"),
        "{fin:?}"
    );
    // the last resort is explicit
    let last = ktriage::model::pane_actions::mutation_for(&m, Action::Finalize).unwrap();
    assert!(last.describe().starts_with("LAST RESORT"));
    // an Active namespace has nothing to fix
    select(&mut m, PaneId::Namespaces, 0);
    assert!(ktriage::model::pane_actions::mutation_for(&m, Action::Fix).is_err());
}

fn req(key: &str, op: &str, values: &[&str]) -> Requirement {
    Requirement {
        key: key.into(),
        operator: op.into(),
        values: values.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn label_selectors_match_like_the_api_server() {
    let sel = Selector {
        match_labels: labels(&[("team", "a")]),
        match_expressions: vec![
            req("policy/ignore", "DoesNotExist", &[]),
            req("kubernetes.io/metadata.name", "NotIn", &["guard-system"]),
        ],
    };
    assert!(sel.matches(&labels(&[
        ("team", "a"),
        ("kubernetes.io/metadata.name", "shop")
    ])));
    assert!(!sel.matches(&labels(&[("team", "b")])));
    assert!(!sel.matches(&labels(&[("team", "a"), ("policy/ignore", "x")])));
    assert!(!sel.matches(&labels(&[
        ("team", "a"),
        ("kubernetes.io/metadata.name", "guard-system")
    ])));
    let exists = Selector {
        match_expressions: vec![
            req("tier", "Exists", &[]),
            req("env", "In", &["prod", "qa"]),
        ],
        ..Selector::default()
    };
    assert!(exists.matches(&labels(&[("tier", "x"), ("env", "qa")])));
    assert!(!exists.matches(&labels(&[("tier", "x"), ("env", "dev")])));
    assert!(!exists.matches(&labels(&[("env", "qa")])));
    assert!(
        Selector::default().matches(&labels(&[])),
        "empty matches all"
    );
    let bad = Selector {
        match_expressions: vec![req("x", "Gt", &["1"])],
        ..Selector::default()
    };
    assert!(!bad.matches(&labels(&[("x", "2")])));
}

fn rule(groups: &[&str], ops: &[&str], res: &[&str]) -> RuleRow {
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    RuleRow {
        api_groups: v(groups),
        api_versions: v(&["*"]),
        operations: v(ops),
        resources: v(res),
        scope: "*".into(),
    }
}

#[test]
fn rules_match_pod_creation_only_when_they_cover_it() {
    assert!(
        rule(&["*"], &["CREATE", "UPDATE"], &["*", "pods/exec"]).matches_core("CREATE", "pods")
    );
    assert!(rule(&[""], &["*"], &["pods"]).matches_core("CREATE", "pods"));
    assert!(rule(&["*"], &["CREATE"], &["*/*"]).matches_core("CREATE", "pods"));
    assert!(!rule(&[""], &["CREATE"], &["namespaces"]).matches_core("CREATE", "pods"));
    assert!(!rule(&["apps"], &["CREATE"], &["*"]).matches_core("CREATE", "pods"));
    assert!(!rule(&[""], &["UPDATE"], &["pods"]).matches_core("CREATE", "pods"));
    assert!(!rule(&[""], &["CREATE"], &["pods/exec"]).matches_core("CREATE", "pods"));
}

fn webhook(name: &str, policy: &str, svc: (&str, &str), ns_sel: Selector) -> WebhookRow {
    WebhookRow {
        name: name.into(),
        failure_policy: policy.into(),
        timeout_seconds: 3,
        side_effects: "None".into(),
        rules: vec![rule(&["*"], &["CREATE", "UPDATE"], &["*"])],
        namespace_selector: ns_sel,
        object_selector: Selector::default(),
        backend: Backend::Service {
            namespace: svc.0.into(),
            name: svc.1.into(),
            path: "/admit".into(),
            port: 443,
        },
    }
}

fn webhook_model(hooks: Vec<WebhookRow>, ready: usize, events: Vec<WebhookEvent>) -> Model {
    let mut m = model(false);
    let mut guard = ns("guard-system", "Active", 900, &["kubernetes"], &[]);
    guard.labels = labels(&[("policy/ignore", "yes")]);
    let mut lease = ns("kube-node-lease", "Active", 900, &["kubernetes"], &[]);
    lease.labels = labels(&[("policy/ignore", "yes")]);
    feed(
        &mut m,
        vec![
            ns("default", "Active", 900, &["kubernetes"], &[]),
            guard,
            lease,
            ns("shop", "Active", 900, &["kubernetes"], &[]),
            stuck("leaving", &[]),
        ],
        Msg::Namespaces,
    );
    feed(
        &mut m,
        vec![WebhookConfigRow {
            kind: WebhookKind::Validating,
            name: "policy-hooks".into(),
            resource_version: "5".into(),
            webhooks: hooks,
            last_action: None,
        }],
        |d| Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Validating, d)),
    );
    feed(&mut m, vec![], |d| {
        Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Mutating, d))
    });
    feed(
        &mut m,
        vec![ServiceRow {
            namespace: "guard-system".into(),
            name: "guard-svc".into(),
            selector: labels(&[("app", "guard")]),
        }],
        |d| Msg::Webhooks(WebhooksMsg::Services(d)),
    );
    feed(
        &mut m,
        vec![EndpointsRow {
            namespace: "guard-system".into(),
            name: "guard-svc".into(),
            service: "guard-svc".into(),
            ready,
            not_ready: 0,
        }],
        |d| Msg::Webhooks(WebhooksMsg::Endpoints(d)),
    );
    feed(&mut m, events, |d| Msg::Webhooks(WebhooksMsg::Events(d)));
    m
}

fn ignore_label() -> Selector {
    Selector {
        match_expressions: vec![req("policy/ignore", "DoesNotExist", &[])],
        ..Selector::default()
    }
}

fn failed_event(webhook: &str, msg: &str) -> WebhookEvent {
    let message = format!(
        "Error creating: Internal error occurred: failed calling webhook \"{webhook}\": {msg}"
    );
    WebhookEvent {
        namespace: "shop".into(),
        name: "api-rs.1".into(),
        webhook: WebhookEvent::parse_webhook(&message).unwrap(),
        reason: "FailedCreate".into(),
        timed_out: WebhookEvent::is_timeout(&message),
        message,
        count: 7,
        last: Some(t0()),
    }
}

#[test]
fn failing_closed_webhook_blocks_the_namespaces_its_selector_matches() {
    let ev = failed_event(
        "check.policy.example",
        "no endpoints available for service \"guard-svc\"",
    );
    let m = webhook_model(
        vec![webhook(
            "check.policy.example",
            "Fail",
            ("guard-system", "guard-svc"),
            ignore_label(),
        )],
        0,
        vec![ev],
    );
    let f = finding(&m, "webhook-blocking", "policy-hooks");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(
        f.key,
        "webhook-blocking/ValidatingWebhookConfiguration//policy-hooks#check.policy.example"
    );
    assert_eq!(
        f.subject.as_ref().unwrap().part.as_deref(),
        Some("check.policy.example")
    );
    // labelled namespaces are exempt; Terminating ones take no new pods anyway
    assert_eq!(
        f.details["blocked_namespaces"],
        serde_json::json!(["default", "shop"])
    );
    assert!(
        f.evidence.iter().any(|e| e.contains("7 occurrences")),
        "{:?}",
        f.evidence
    );
    assert!(!m.findings.iter().any(|f| f.id == "webhook-self-blocking"));
    assert_eq!(f.fix.action.as_deref(), Some("toggle_failure_policy"));
}

fn webhook_findings(m: &Model) -> Vec<&ktriage::diagnose::Finding> {
    m.findings.iter().filter(|f| f.pane == "webhooks").collect()
}

#[test]
fn ready_backends_url_backends_and_ignore_do_not_block() {
    let hook = || {
        webhook(
            "check.policy.example",
            "Fail",
            ("guard-system", "guard-svc"),
            ignore_label(),
        )
    };
    let m = webhook_model(vec![hook()], 2, vec![]);
    assert!(webhook_findings(&m).is_empty(), "{:#?}", m.findings);
    let mut url = hook();
    url.backend = Backend::Url("https://policy.example:8443/admit".into());
    let m = webhook_model(vec![url], 0, vec![]);
    assert!(
        webhook_findings(&m).is_empty(),
        "URL webhooks are unknown, not blocking: {:#?}",
        m.findings
    );
    assert_eq!(
        m.webhooks
            .reach(m.webhooks.rows().next().unwrap().2)
            .label(),
        "unknown"
    );
    let mut ignore = hook();
    ignore.failure_policy = "Ignore".into();
    let m = webhook_model(vec![ignore], 0, vec![]);
    let w = webhook_findings(&m);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].id, "webhook-fail-open");
    assert_eq!(w[0].severity, Severity::Info);
    // a missing service is as down as an empty one
    let mut gone = hook();
    gone.backend = Backend::Service {
        namespace: "guard-system".into(),
        name: "renamed".into(),
        path: String::new(),
        port: 443,
    };
    let m = webhook_model(vec![gone], 3, vec![]);
    assert_eq!(
        finding(&m, "webhook-blocking", "policy-hooks").details["reachability"],
        "no service"
    );
}

#[test]
fn a_webhook_that_matches_its_own_backend_pods_is_self_blocking() {
    let m = webhook_model(
        vec![webhook(
            "check.policy.example",
            "Fail",
            ("guard-system", "guard-svc"),
            Selector::default(),
        )],
        0,
        vec![],
    );
    let f = finding(&m, "webhook-self-blocking", "policy-hooks");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.details["blocked_namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "guard-system")
    );
    // an objectSelector that excludes the backend's pods breaks the loop
    let mut hook = webhook(
        "check.policy.example",
        "Fail",
        ("guard-system", "guard-svc"),
        Selector::default(),
    );
    hook.object_selector = Selector {
        match_expressions: vec![req("app", "NotIn", &["guard"])],
        ..Selector::default()
    };
    let m = webhook_model(vec![hook], 0, vec![]);
    assert!(!m.findings.iter().any(|f| f.id == "webhook-self-blocking"));
}

#[test]
fn timeouts_in_events_make_a_webhook_slow() {
    let ev = failed_event(
        "check.policy.example",
        "Post \"https://guard-svc.guard-system.svc:443/admit?timeout=28s\": context deadline exceeded",
    );
    assert!(ev.timed_out);
    let mut hook = webhook(
        "check.policy.example",
        "Fail",
        ("guard-system", "guard-svc"),
        ignore_label(),
    );
    hook.timeout_seconds = 28;
    let m = webhook_model(vec![hook], 1, vec![ev]);
    let f = finding(&m, "webhook-slow", "policy-hooks");
    assert_eq!(f.severity, Severity::Warning);
    // failing closed, a call that times out fails the request although the backend has endpoints
    let b = finding(&m, "webhook-blocking", "policy-hooks");
    assert_eq!(b.severity, Severity::Critical);
    assert_eq!(b.details["call_failure"], "Timeout");
    assert!(
        b.title
            .contains("fails closed: calls fail (timeout) although 1 endpoint(s) are ready"),
        "{}",
        b.title
    );
    // failing open, the same timeouts block nothing
    let mut open = webhook(
        "check.policy.example",
        "Ignore",
        ("guard-system", "guard-svc"),
        ignore_label(),
    );
    open.timeout_seconds = 28;
    let ev = failed_event(
        "check.policy.example",
        "Post \"https://guard-svc.guard-system.svc:443/admit?timeout=28s\": context deadline exceeded",
    );
    let m = webhook_model(vec![open], 1, vec![ev]);
    assert!(!m.findings.iter().any(|f| f.id == "webhook-blocking"));
}

#[test]
fn toggle_and_restore_address_the_webhook_by_configuration_and_name() {
    let mut m = webhook_model(
        vec![
            webhook(
                "first.example",
                "Fail",
                ("guard-system", "guard-svc"),
                ignore_label(),
            ),
            webhook(
                "second.example",
                "Fail",
                ("guard-system", "guard-svc"),
                ignore_label(),
            ),
        ],
        0,
        vec![],
    );
    select(&mut m, PaneId::Webhooks, 1);
    let t = ktriage::model::pane_actions::mutation_for(&m, Action::ToggleFailurePolicy).unwrap();
    assert!(
        matches!(&t, Mutation::SetFailurePolicy { configuration, webhook, index: 1, policy, .. }
            if configuration == "policy-hooks" && webhook == "second.example" && policy == "Ignore"),
        "{t:?}"
    );
    assert!(t.wants_reason());
    assert_eq!(
        t.patch()[0],
        serde_json::json!({"op": "test", "path": "/webhooks/1/name", "value": "second.example"})
    );
    assert_eq!(
        t.patch()[1],
        serde_json::json!({"op": "replace", "path": "/webhooks/1/failurePolicy", "value": "Ignore"})
    );
    assert!(ktriage::model::pane_actions::mutation_for(&m, Action::Restore).is_err());
    let d = ktriage::model::pane_actions::mutation_for(&m, Action::BackupDelete).unwrap();
    assert_eq!(d.target().plural, "validatingwebhookconfigurations");
    // read-only: the action is refused before a dialog opens
    let mut ro = m.clone();
    ro.cluster.read_only = true;
    let mut effects = Vec::new();
    ktriage::update::apply_action(&mut ro, Action::ToggleFailurePolicy, t0(), &mut effects);
    assert!(ro.dialog.is_none() && effects.is_empty());
}
