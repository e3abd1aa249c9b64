//! Fixture models with a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use ktriage::config::Config;
use ktriage::model::namespaces::NsRow;
use ktriage::model::{ClusterInfo, Delta, Failure, FailureKind, Model, SourceId};
use ktriage::msg::Msg;
use ktriage::update::update;

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

pub fn cluster(read_only: bool) -> ClusterInfo {
    ClusterInfo {
        context: Some("rke2-prod-east".into()),
        server: Some("https://rancher.example:6443/k8s/clusters/c-m-abc".into()),
        namespace: None,
        user: Some("alice".into()),
        read_only,
        production: false,
    }
}

pub fn model(read_only: bool) -> Model {
    let cfg = Config::defaults().unwrap();
    Model::new(cluster(read_only), cfg.keymap, t0())
}

pub fn ns(name: &str, phase: &str, age_min: i64, spec: &[&str], meta: &[&str]) -> NsRow {
    NsRow {
        name: name.into(),
        phase: phase.into(),
        created: Some(t0() - Duration::minutes(age_min)),
        deleting_since: (phase == "Terminating").then(|| t0() - Duration::minutes(5)),
        spec_finalizers: spec.iter().map(|s| s.to_string()).collect(),
        meta_finalizers: meta.iter().map(|s| s.to_string()).collect(),
        ..NsRow::default()
    }
}

/// A cluster that answered, listed namespaces, then went away 40 s ago.
pub fn burning(read_only: bool) -> Model {
    let mut m = model(read_only);
    let t = t0() - Duration::seconds(60);
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t,
    );
    update(&mut m, Msg::Namespaces(Delta::Init), t);
    for n in [
        ns("default", "Active", 60 * 24 * 30, &["kubernetes"], &[]),
        ns("kube-system", "Active", 60 * 24 * 30, &["kubernetes"], &[]),
        ns(
            "cattle-system",
            "Active",
            60 * 24 * 29,
            &["kubernetes"],
            &[],
        ),
        ns(
            "cattle-monitoring-system",
            "Terminating",
            60 * 24 * 3,
            &["kubernetes"],
            &["controller.cattle.io/namespace-auth"],
        ),
        ns("shop", "Active", 90, &["kubernetes"], &[]),
    ] {
        update(&mut m, Msg::Namespaces(Delta::InitApply(n)), t);
    }
    update(&mut m, Msg::Namespaces(Delta::InitDone), t);
    let down = Failure {
        kind: FailureKind::Unreachable,
        message: "tcp connect error: Connection refused (os error 111)".into(),
    };
    let t = t0() - Duration::seconds(40);
    update(&mut m, Msg::SourceFailed(SourceId::Api, down.clone()), t);
    update(&mut m, Msg::SourceFailed(SourceId::Namespaces, down), t);
    update(&mut m, Msg::Tick, t0());
    m
}

fn feed<T>(m: &mut Model, rows: Vec<T>, wrap: impl Fn(Delta<T>) -> Msg) {
    update(m, wrap(Delta::Init), t0());
    for r in rows {
        update(m, wrap(Delta::InitApply(r)), t0());
    }
    update(m, wrap(Delta::InitDone), t0());
}

/// The stuck-namespaces story, with the Namespaces pane active and longhorn-system selected.
pub fn stuck(read_only: bool) -> Model {
    use ktriage::model::namespaces::{ApiServiceRow, HeldObject, NsContent, NsMsg, RemainingKind};
    let mut m = model(read_only);
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t0(),
    );
    let held = |name: &str| HeldObject {
        name: name.into(),
        finalizers: vec!["longhorn.io".into()],
        resource_version: "77".into(),
    };
    feed(
        &mut m,
        vec![
            ns(
                "cattle-monitoring-system",
                "Terminating",
                60 * 24 * 38,
                &["kubernetes"],
                &["controller.cattle.io/namespace-auth"],
            ),
            ns("default", "Active", 60 * 24 * 41, &["kubernetes"], &[]),
            ns("kube-system", "Active", 60 * 24 * 41, &["kubernetes"], &[]),
            ns(
                "longhorn-system",
                "Terminating",
                60 * 24 * 60,
                &["kubernetes"],
                &[],
            ),
            ns(
                "shop-staging",
                "Terminating",
                60 * 24 * 90,
                &["kubernetes"],
                &[],
            ),
        ],
        Msg::Namespaces,
    );
    feed(
        &mut m,
        vec![ApiServiceRow {
            name: "v1beta1.custom.metrics.k8s.io".into(),
            group: "custom.metrics.k8s.io".into(),
            version: "v1beta1".into(),
            service: Some("cattle-monitoring-system/prometheus-adapter".into()),
            available: Some(false),
            reason: "ServiceNotFound".into(),
            message: "service/prometheus-adapter in \"cattle-monitoring-system\" is not present"
                .into(),
        }],
        |d| Msg::NsPane(NsMsg::ApiServices(d)),
    );
    feed(
        &mut m,
        vec![NsContent {
            namespace: "longhorn-system".into(),
            scanned_at: Some(t0()),
            kinds: vec![
                RemainingKind {
                    api_version: "longhorn.io/v1beta2".into(),
                    kind: "Volume".into(),
                    plural: "volumes".into(),
                    count: 2,
                    held: vec![held("pvc-3f1c"), held("pvc-9a8b")],
                },
                RemainingKind {
                    api_version: "longhorn.io/v1beta2".into(),
                    kind: "Replica".into(),
                    plural: "replicas".into(),
                    count: 4,
                    held: vec![
                        held("pvc-3f1c-r-0"),
                        held("pvc-3f1c-r-1"),
                        held("pvc-9a8b-r-0"),
                        held("pvc-9a8b-r-1"),
                    ],
                },
            ],
            broken: vec!["custom.metrics.k8s.io/v1beta1: 503 ServiceUnavailable".into()],
        }],
        |d| Msg::NsPane(NsMsg::Content(d)),
    );
    m.ui.active = ktriage::model::PaneId::Namespaces;
    m.ui.selected[ktriage::model::PaneId::Namespaces.index()] = 3;
    update(&mut m, Msg::Tick, t0());
    m
}

/// The gatekeeper-down story, with the Webhooks pane active and the blocking webhook selected.
pub fn gatekeeper(read_only: bool) -> Model {
    use ktriage::model::webhooks::*;
    use std::collections::BTreeMap;
    let mut m = model(read_only);
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t0(),
    );
    let mut gk = ns(
        "gatekeeper-system",
        "Active",
        60 * 24 * 30,
        &["kubernetes"],
        &[],
    );
    gk.labels = BTreeMap::from([(
        "admission.gatekeeper.sh/ignore".to_string(),
        "no-self-managing".to_string(),
    )]);
    feed(
        &mut m,
        vec![
            ns(
                "cattle-system",
                "Active",
                60 * 24 * 41,
                &["kubernetes"],
                &[],
            ),
            ns("default", "Active", 60 * 24 * 41, &["kubernetes"], &[]),
            gk,
            ns("kube-system", "Active", 60 * 24 * 41, &["kubernetes"], &[]),
            ns("shop", "Active", 60 * 24 * 12, &["kubernetes"], &[]),
        ],
        Msg::Namespaces,
    );
    let svc = Backend::Service {
        namespace: "gatekeeper-system".into(),
        name: "gatekeeper-webhook-service".into(),
        path: "/v1/admit".into(),
        port: 443,
    };
    let rule = |res: &str| RuleRow {
        api_groups: vec!["*".into()],
        api_versions: vec!["*".into()],
        operations: vec!["CREATE".into(), "UPDATE".into()],
        resources: vec![res.into()],
        scope: "*".into(),
    };
    let sel = Selector {
        match_expressions: vec![
            Requirement {
                key: "admission.gatekeeper.sh/ignore".into(),
                operator: "DoesNotExist".into(),
                values: vec![],
            },
            Requirement {
                key: "kubernetes.io/metadata.name".into(),
                operator: "NotIn".into(),
                values: vec!["gatekeeper-system".into()],
            },
        ],
        ..Selector::default()
    };
    let hook = |name: &str, policy: &str, res: &str, sel: Selector| WebhookRow {
        name: name.into(),
        failure_policy: policy.into(),
        timeout_seconds: 3,
        side_effects: "None".into(),
        rules: vec![rule(res)],
        namespace_selector: sel,
        object_selector: Selector::default(),
        backend: svc.clone(),
    };
    feed(
        &mut m,
        vec![WebhookConfigRow {
            kind: WebhookKind::Validating,
            name: "gatekeeper-validating-webhook-configuration".into(),
            resource_version: "12".into(),
            webhooks: vec![
                hook("validation.gatekeeper.sh", "Fail", "*", sel.clone()),
                hook(
                    "check-ignore-label.gatekeeper.sh",
                    "Fail",
                    "namespaces",
                    Selector::default(),
                ),
            ],
            last_action: None,
        }],
        |d| Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Validating, d)),
    );
    feed(
        &mut m,
        vec![WebhookConfigRow {
            kind: WebhookKind::Mutating,
            name: "gatekeeper-mutating-webhook-configuration".into(),
            resource_version: "13".into(),
            webhooks: vec![hook("mutation.gatekeeper.sh", "Ignore", "*", sel)],
            last_action: None,
        }],
        |d| Msg::Webhooks(WebhooksMsg::Configs(WebhookKind::Mutating, d)),
    );
    feed(
        &mut m,
        vec![ServiceRow {
            namespace: "gatekeeper-system".into(),
            name: "gatekeeper-webhook-service".into(),
            selector: BTreeMap::from([(
                "control-plane".to_string(),
                "controller-manager".to_string(),
            )]),
        }],
        |d| Msg::Webhooks(WebhooksMsg::Services(d)),
    );
    feed(
        &mut m,
        vec![EndpointsRow {
            namespace: "gatekeeper-system".into(),
            name: "gatekeeper-webhook-service".into(),
            service: "gatekeeper-webhook-service".into(),
            ready: 0,
            not_ready: 0,
        }],
        |d| Msg::Webhooks(WebhooksMsg::Endpoints(d)),
    );
    let message = "Error creating: Internal error occurred: failed calling webhook \"validation.gatekeeper.sh\": failed to call webhook: Post \"https://gatekeeper-webhook-service.gatekeeper-system.svc:443/v1/admit?timeout=3s\": no endpoints available for service \"gatekeeper-webhook-service\"";
    feed(
        &mut m,
        vec![WebhookEvent {
            namespace: "shop".into(),
            name: "shop-api-7c8d9e6f5a.17c1b0a9f8e7d6c5".into(),
            webhook: "validation.gatekeeper.sh".into(),
            reason: "FailedCreate".into(),
            message: message.into(),
            count: 23,
            last: Some(t0() - Duration::seconds(40)),
            timed_out: false,
        }],
        |d| Msg::Webhooks(WebhooksMsg::Events(d)),
    );
    m.ui.active = ktriage::model::PaneId::Webhooks;
    update(&mut m, Msg::Tick, t0());
    m
}
