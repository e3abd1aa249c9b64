//! Property tests (issue 12): the decoders and parsers that see what a server, a log or a user
//! wrote never panic, whatever they are given. Failing cases proptest finds are kept in
//! `tests/proptest-regressions/fuzz_decoders.txt` (and as plain tests below) and replayed first on every run.
//!
//! Every decoder that reads server data is here: each Kubernetes row function (pods for Top, the
//! etcd pane and crash logs; ReplicaSets, nodes, core and events.k8s.io Events, Leases and the old
//! leader annotation, Endpoints and EndpointSlices, namespaces, APIServices, webhook
//! configurations, the etcd snapshot records and `kube-root-ca.crt` ConfigMaps) is fed every object
//! of every built-in scenario with its fields mutated (values swapped for odd ones of the same
//! type, for other types, for null, or dropped), so the objects still decode and the row code
//! runs; plus the metrics.k8s.io lists, pod log lines, certificates (PEM and DER) as a server
//! presents them, quantities, and the etcd gateway and log formats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use std::sync::OnceLock;

use chrono::Utc;
use k8s_openapi::api::core::v1::{Node, Pod};
use ktriage::config::Config;
use ktriage::etcd::logs::{LogGroups, classify, parse_line, signatures};
use ktriage::etcd::wire::{MemberList, Status};
use ktriage::kube::sources::etcd::{pod_row, readyz_lines};
use ktriage::kube::sources::etcd_logs::newer;
use ktriage::kube::sources::nodes;
use ktriage::kube::sources::{events, leaders, metrics, namespaces, root_ca, top, webhooks};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

/// Field names the decoders look at, so generated objects reach the interesting paths.
const KEYS: &[&str] = &[
    "metadata",
    "name",
    "namespace",
    "labels",
    "annotations",
    "creationTimestamp",
    "deletionTimestamp",
    "finalizers",
    "spec",
    "status",
    "conditions",
    "type",
    "phase",
    "reason",
    "message",
    "nodeName",
    "containers",
    "containerStatuses",
    "restartCount",
    "state",
    "capacity",
    "allocatable",
    "cpu",
    "memory",
    "header",
    "member_id",
    "cluster_id",
    "leader",
    "raftTerm",
    "dbSize",
    "members",
    "ID",
    "clientURLs",
    "peerURLs",
    "level",
    "ts",
    "msg",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("2026-11-29T10:00:00Z")),
        Just(json!("18446744073709551615")),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kv| {
                let mut m = Map::new();
                for (k, v) in kv {
                    m.insert(k.to_string(), v);
                }
                Value::Object(m)
            }),
        ]
    })
}

fn log_line() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        ".{0,200}",
        json_value().prop_map(|v| v.to_string()),
        (".{0,20}", json_value()).prop_map(|(p, v)| format!("2026-11-29T10:00:00.1Z {p}{v}")),
        "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]{8,15} [EWIN] \\| [a-z]{1,8}: .{0,60}",
    ]
}

/// Cases proptest found, kept as plain tests.
#[test]
fn regression_capnslog_stamp_cut_inside_a_character() {
    // found by `etcd_log_parser_never_panics`: the capnslog branch cut the line at byte 26, inside
    // a 4-byte character
    let line = "2021-05-04 07:50:10.14040\u{66ed2}x | rafthttp: y";
    assert!(!line.is_char_boundary(26));
    let _ = parse_line(line);
    let _ = classify(line, signatures());
    LogGroups::default().ingest(line, Utc::now());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/fuzz_decoders.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn etcd_log_parser_never_panics(lines in prop::collection::vec(log_line(), 0..20)) {
        let mut groups = LogGroups::default();
        for l in &lines {
            let _ = parse_line(l);
            let _ = classify(l, signatures());
            groups.ingest(l, Utc::now());
        }
        let text = lines.join("\n");
        let _ = newer(&text, None);
        let _ = readyz_lines(&text);
    }

    #[test]
    fn etcd_gateway_decoders_never_panic(v in json_value()) {
        let text = v.to_string();
        let _ = serde_json::from_str::<Status>(&text);
        let _ = serde_json::from_str::<MemberList>(&text);
        // truncated answers too
        let cut = text.len() / 2;
        if text.is_char_boundary(cut) {
            let _ = serde_json::from_str::<Status>(&text[..cut]);
        }
    }

    #[test]
    fn kubernetes_rows_never_panic(meta in json_value(), spec in json_value(), status in json_value()) {
        let obj = json!({"metadata": meta, "spec": spec, "status": status});
        if let Ok(n) = serde_json::from_value::<Node>(obj.clone()) {
            let _ = nodes::row(n);
        }
        if let Ok(p) = serde_json::from_value::<Pod>(obj) {
            let _ = pod_row(p);
        }
    }

    #[test]
    fn config_files_never_panic(text in prop_oneof![
        any::<String>(),
        "\\[(keys|theme|intervals|contexts)\\]\n[a-z_]{1,12} = .{0,20}\n",
    ]) {
        let mut cfg = Config::defaults().unwrap();
        let _ = cfg.apply_text(Path::new("fuzz.toml"), &text);
    }

    #[test]
    fn scenario_files_never_panic(text in prop_oneof![
        any::<String>(),
        "name: [a-z]{1,8}\nobjects:\n  - .{0,60}\n",
        json_value().prop_map(|v| format!("name: x\nobjects:\n  - {v}\n")),
    ]) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.yaml");
        std::fs::write(&p, &text).unwrap();
        let _ = ktriage::sim::scenario::load(p.to_str().unwrap());
    }
}

/// One edit of a field: what a hostile or buggy server could send instead.
#[derive(Debug, Clone)]
enum Edit {
    Keep,
    Str(String),
    Num(i64),
    Float(f64),
    Bool(bool),
    Null,
    Drop,
    /// A value of another type (a number where a string was, a string where an object was).
    Swap(String),
}

fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        ".{0,40}",
        Just(String::new()),
        // quantities: huge, signed, exponents, every suffix
        "-?[0-9]{1,30}(\\.[0-9]{0,10})?(m|n|u|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]{1,4}|E-?[0-9]{1,3})?",
        // timestamps, valid and not
        "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}T[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})?",
        // paths, keys and multi-byte text
        "[a-z0-9./-]{0,30}/[a-z0-9./-]{0,30}",
        "[\u{1F600}-\u{1F64F}äß\u{66ed2}]{1,12}",
        "-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]{0,120}\n-----END CERTIFICATE-----\n",
        Just("CrashLoopBackOff".to_string()),
        Just("x509: certificate signed by unknown authority".to_string()),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        40 => Just(Edit::Keep),
        3 => odd_string().prop_map(Edit::Str),
        2 => prop_oneof![Just(i64::MIN), Just(i64::MAX), Just(-1i64), Just(0i64), any::<i64>()].prop_map(Edit::Num),
        1 => prop_oneof![Just(f64::MAX), Just(-0.5f64), Just(1e300f64), any::<f64>()].prop_map(Edit::Float),
        1 => any::<bool>().prop_map(Edit::Bool),
        1 => Just(Edit::Null),
        2 => Just(Edit::Drop),
        1 => odd_string().prop_map(Edit::Swap),
    ]
}

/// Apply `plan` to every field and element of `v` in order (cycling through the plan).
fn mutate(v: &mut Value, plan: &[Edit], k: &mut usize) {
    let next = |k: &mut usize| {
        let e = &plan[*k % plan.len()];
        *k += 1;
        e.clone()
    };
    match v {
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for key in keys {
                if let Edit::Drop = next(k) {
                    m.remove(&key);
                } else if let Some(child) = m.get_mut(&key) {
                    mutate(child, plan, k);
                }
            }
        }
        Value::Array(a) => {
            for child in a.iter_mut() {
                mutate(child, plan, k);
            }
        }
        leaf => {
            *leaf = match (next(k), &*leaf) {
                (Edit::Str(s), Value::String(_)) => Value::String(s),
                (Edit::Num(n), Value::Number(_)) => json!(n),
                (Edit::Float(f), Value::Number(_)) => json!(f),
                (Edit::Bool(b), Value::Bool(_)) => Value::Bool(b),
                (Edit::Null, _) => Value::Null,
                (Edit::Swap(s), Value::Number(_) | Value::Bool(_)) => Value::String(s),
                (Edit::Swap(s), Value::String(_)) => json!(s.len()),
                _ => leaf.clone(),
            };
        }
    }
}

/// Every object of every built-in scenario, plus the kinds no scenario holds (events.k8s.io
/// Events, an EndpointSlice, a mutating webhook configuration, etcd snapshot records, a
/// kube-root-ca.crt with a real certificate).
fn templates() -> &'static Vec<Value> {
    static T: OnceLock<Vec<Value>> = OnceLock::new();
    T.get_or_init(|| {
        let mut out = Vec::new();
        for name in ktriage::sim::list_scenarios() {
            out.extend(ktriage::sim::scenario::load(name).unwrap().objects);
        }
        let core_events: Vec<Value> = out
            .iter()
            .filter(|o| o["kind"] == "Event")
            .map(ktriage::sim::events::to_v1)
            .collect();
        out.extend(core_events);
        let ca = rcgen::generate_simple_self_signed(vec!["kube-ca".to_string()])
            .unwrap()
            .cert
            .pem();
        out.extend([
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "gk-abc", "namespace": "gatekeeper-system",
                    "labels": {"kubernetes.io/service-name": "gatekeeper-webhook-service"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["10.42.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false}},
                              {"addresses": ["10.42.0.6"], "conditions": {"ready": false}}],
                "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}]}),
            json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": "m", "annotations": {"ktriage.io/last-action": "{\"who\":\"a\",\"why\":\"b\"}"}},
                "webhooks": [{"name": "m.example.io", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "failurePolicy": "Fail", "timeoutSeconds": 30, "matchPolicy": "Equivalent",
                    "clientConfig": {"service": {"namespace": "x", "name": "y", "port": 443, "path": "/m"}},
                    "namespaceSelector": {"matchExpressions": [{"key": "k", "operator": "NotIn", "values": ["a"]}]},
                    "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"], "scope": "*"}]}]}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "rke2-etcd-snapshots", "namespace": "kube-system"},
                "data": {"s1": "{\"name\":\"etcd-snapshot-cp-1-1\",\"nodeName\":\"cp-1\",\"location\":\"file:///var/lib/rancher/rke2/server/db/snapshots/s1\",\"createdAt\":\"2026-11-29T06:00:00Z\",\"size\":12345,\"status\":\"successful\"}",
                         "s2": "{\"name\":\"s2\",\"status\":\"failed\",\"message\":\"no space\"}"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "namespace": "default"},
                "data": {"ca.crt": ca}}),
        ]);
        out
    })
}

/// Every row decoder for the object's kind; false when the object no longer decodes as that kind
/// (the API client would have refused it before any row code).
fn decode(obj: Value) -> bool {
    let kind = obj["kind"].as_str().unwrap_or("").to_string();
    let api = obj["apiVersion"].as_str().unwrap_or("").to_string();
    fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
        serde_json::from_value(v.clone()).ok()
    }
    let some = |o: Option<()>| o.is_some();
    match kind.as_str() {
        "Pod" => some(typed::<Pod>(&obj).map(|p| {
            let row = top::pod_row(p.clone());
            let _ = (row.status(), row.ready_text(), row.evicted(), row.ready());
            let _ = pod_row(p);
            static KEYMAP: OnceLock<ktriage::keymap::Keymap> = OnceLock::new();
            let keymap = KEYMAP.get_or_init(|| Config::defaults().unwrap().keymap);
            let mut m = ktriage::model::Model::new(Default::default(), keymap.clone(), Utc::now());
            let (ns, name) = (row.namespace.clone(), row.name.clone());
            ktriage::update::update(
                &mut m,
                ktriage::msg::Msg::Pods(ktriage::model::Delta::Apply(row)),
                Utc::now(),
            );
            let mut v = ktriage::model::view::PodView::new(
                ktriage::model::view::ViewKind::Describe,
                1,
                &ns,
                &name,
                vec![],
            );
            v.object = Some(obj.clone());
            let _ = ktriage::ui::view::describe_lines(&m, &v);
            let _ = v.yaml();
        })),
        "ReplicaSet" => some(typed(&obj).map(top::rs_row).map(drop)),
        "Node" => some(typed(&obj).map(nodes::row).map(drop)),
        "Event" if api == "v1" => some(typed::<k8s_openapi::api::core::v1::Event>(&obj).map(|e| {
            let _ = events::core_row(e.clone());
            let _ = webhooks::event_row(e);
        })),
        "Event" => some(typed(&obj).map(events::v1_row).map(drop)),
        "Lease" => some(typed(&obj).map(leaders::row).map(drop)),
        "Endpoints" => some(
            typed::<k8s_openapi::api::core::v1::Endpoints>(&obj).map(|e| {
                for text in e.metadata.annotations.iter().flatten().map(|(_, v)| v) {
                    let _ = leaders::annotation_row("kube-system", "x", text);
                }
                let _ = webhooks::endpoints_row(e);
            }),
        ),
        "EndpointSlice" => some(typed(&obj).map(webhooks::slice_row).map(drop)),
        "Namespace" => some(typed(&obj).map(namespaces::row).map(drop)),
        "APIService" => some(typed(&obj).map(namespaces::apiservice_row).map(drop)),
        "ValidatingWebhookConfiguration" => {
            some(typed(&obj).map(webhooks::validating_row).map(drop))
        }
        "MutatingWebhookConfiguration" => some(typed(&obj).map(webhooks::mutating_row).map(drop)),
        "ConfigMap" => some(typed(&obj).map(|cm| {
            let _ = ktriage::kube::sources::etcd_snapshots::records(&cm);
            let row = root_ca::Bundles::default().row(&cm);
            let _ = row.bundle.describe();
        })),
        _ => false,
    }
}

/// The fuzzer must reach the row code: mutated objects of each decoded kind still decode as that
/// kind in a fair share of cases (else the test above would pass by exercising serde only).
#[test]
fn mutated_objects_mostly_still_decode() {
    use proptest::strategy::ValueTree;
    use std::collections::BTreeMap;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let plans = prop::collection::vec(edit(), 1..48);
    let mut tally: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let all = templates();
    let mut kinds: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    for t in all {
        kinds
            .entry(t["kind"].as_str().unwrap())
            .or_default()
            .push(t);
    }
    for (_, of_kind) in kinds {
        for i in 0..40 {
            let t = of_kind[i % of_kind.len()];
            let plan = plans.new_tree(&mut runner).unwrap().current();
            let mut obj = t.clone();
            mutate(&mut obj, &plan, &mut 0);
            if obj.is_object() {
                obj["kind"] = t["kind"].clone();
                obj["apiVersion"] = t["apiVersion"].clone();
            }
            let decoded = decode(obj);
            let e = tally
                .entry(t["kind"].as_str().unwrap().to_string())
                .or_default();
            e.0 += u32::from(decoded);
            e.1 += 1;
        }
    }
    for kind in [
        "Pod",
        "ReplicaSet",
        "Node",
        "Event",
        "Lease",
        "Endpoints",
        "EndpointSlice",
        "Namespace",
        "APIService",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ConfigMap",
    ] {
        let (ok, all) = tally.get(kind).copied().unwrap_or_default();
        eprintln!("{kind}: {ok} of {all} mutated objects decoded");
        assert!(
            all > 0 && ok * 4 >= all,
            "{kind}: only {ok} of {all} decoded"
        );
    }
}

/// A metrics.k8s.io list built from (namespace, name, cpu, memory) tuples.
fn metrics_list(items: &[(String, String, Value, Value)]) -> String {
    let items: Vec<Value> = items
        .iter()
        .map(|(ns, name, cpu, mem)| {
            json!({"metadata": {"namespace": ns, "name": name}, "timestamp": "2026-11-29T10:00:00Z",
                   "window": "15s", "usage": {"cpu": cpu, "memory": mem},
                   "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": mem}}]})
        })
        .collect();
    json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items})
        .to_string()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/fuzz_decoders.txt",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_kubernetes_row_decoder_takes_mutated_scenario_objects(
        pick in any::<prop::sample::Index>(),
        plan in prop::collection::vec(edit(), 1..48),
    ) {
        let all = templates();
        let mut obj = all[pick.index(all.len())].clone();
        let kind = obj["kind"].clone();
        let api = obj["apiVersion"].clone();
        mutate(&mut obj, &plan, &mut 0);
        // the decoders are picked by kind; keep it so the mutated object reaches its decoder
        if obj.is_object() {
            obj["kind"] = kind;
            obj["apiVersion"] = api;
        }
        let _ = decode(obj);
    }

    #[test]
    fn metrics_lists_never_panic(
        items in prop::collection::vec((".{0,12}", ".{0,12}", json_value(), json_value()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = metrics_list(&items);
        let _ = metrics::metrics_snapshot(("pods", &text), ("nodes", &text));
        let at = cut.index(text.len() + 1);
        if text.is_char_boundary(at) {
            let _ = metrics::metrics_snapshot(("pods", &text[..at]), ("nodes", "{}"));
        }
    }

    #[test]
    fn log_lines_quantities_and_certificates_never_panic(
        text in prop_oneof![any::<String>(), odd_string(), log_line()],
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        prefix in any::<prop::sample::Index>(),
    ) {
        let _ = ktriage::kube::sources::crash_logs::signature_lines(&text);
        let _ = ktriage::diagnose::cluster::ca_line(&text);
        let _ = ktriage::model::quantity::cpu_milli(&text);
        let _ = ktriage::model::quantity::bytes(&text);
        // what a server's TLS handshake or a ConfigMap could carry as a certificate
        let _ = ktriage::certs::pem_certs(&text);
        let _ = ktriage::certs::not_after_der(&bytes);
        let _ = ktriage::certs::chain::issuer_of(&bytes);
        let b = ktriage::certs::chain::CaBundle::from_der(vec![bytes.clone()]);
        let _ = b.describe();
        let _ = ktriage::certs::chain::trusts(std::slice::from_ref(&bytes), &bytes, &[], 1_796_600_000);
        // a real certificate cut short, or with a byte changed, is not a reason to panic
        let real = templates()
            .iter()
            .find(|o| o["metadata"]["name"] == "kube-root-ca.crt" && o["metadata"]["namespace"] == "default")
            .and_then(|o| o["data"]["ca.crt"].as_str())
            .map(|pem| ktriage::certs::pem_certs(pem).remove(0))
            .unwrap();
        let at = prefix.index(real.len());
        let _ = ktriage::certs::chain::issuer_of(&real[..at]);
        let _ = ktriage::certs::not_after_der(&real[..at]);
        let mut flipped = real.clone();
        flipped[at] ^= bytes.first().copied().unwrap_or(0xff);
        let _ = ktriage::certs::chain::issuer_of(&flipped);
        let _ = ktriage::certs::chain::trusts(std::slice::from_ref(&real), &flipped, &[], 1_796_600_000);
    }
}
