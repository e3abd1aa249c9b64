//! Property tests (issue 12): the decoders and parsers that see what a server, a log or a user
//! wrote never panic, whatever they are given. Failing cases proptest finds are kept in
//! `tests/proptest-regressions/fuzz_decoders.txt` (and as plain tests below) and replayed first on every run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use chrono::Utc;
use k8s_openapi::api::core::v1::{Node, Pod};
use ktriage::config::Config;
use ktriage::etcd::logs::{LogGroups, classify, parse_line, signatures};
use ktriage::etcd::wire::{MemberList, Status};
use ktriage::kube::sources::etcd::{newer, pod_row, readyz_lines};
use ktriage::kube::sources::nodes;
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
