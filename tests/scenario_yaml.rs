//! The YAML parser does not change what a scenario means.
//!
//! `tests/fixtures/scenarios/NAME.json` is each built-in scenario file as the parser read it (typed,
//! before includes and relative times; `ktriage::sim::scenario::parse_file`), and
//! `tests/fixtures/yaml/scalars.json` is the parse of a corpus of scalars and shapes a user's scenario
//! or kubeconfig may hold. Both were recorded with `serde_yaml` 0.9, the parser the project used until
//! it moved to the one kube-client already brings; the tests compare today's parse with them.
//!
//! A scenario edited on purpose: record it again with `KTRIAGE_RECORD_YAML=1 cargo test --test
//! scenario_yaml` and review the fixture's diff (it must show only the edit).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn recording() -> bool {
    std::env::var("KTRIAGE_RECORD_YAML").is_ok_and(|v| v == "1")
}

/// Every place where two JSON values differ, as JSON pointers with both sides.
fn differences(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => differences(&p, u, v, out),
                    (u, v) => out.push(format!("{p}: recorded {u:?}, now {v:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                differences(&format!("{path}/{i}"), u, v, out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: recorded {a}, now {b}")),
    }
}

fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    let mut out = Vec::new();
    differences(path, a, b, &mut out);
    out.into_iter().next()
}

/// Compares `now` with the recorded fixture (or records it when asked).
fn check(fixture: &Path, now: &Value, deliberate: &[&str]) {
    if recording() {
        let text = serde_json::to_string_pretty(now).unwrap() + "\n";
        std::fs::write(fixture, text).unwrap();
        return;
    }
    let recorded: Value = match std::fs::read_to_string(fixture) {
        Ok(t) => serde_json::from_str(&t).unwrap(),
        Err(e) => panic!(
            "{}: {e} (record it with KTRIAGE_RECORD_YAML=1)",
            fixture.display()
        ),
    };
    let mut found = Vec::new();
    differences("", &recorded, now, &mut found);
    found.retain(|d| !deliberate.iter().any(|p| d.starts_with(&format!("{p}:"))));
    assert!(
        found.is_empty(),
        "{} differs:\n{}",
        fixture.display(),
        found.join("\n")
    );
}

#[test]
fn every_builtin_scenario_parses_as_recorded() {
    let dir = fixtures().join("scenarios");
    let mut names = Vec::new();
    for (name, text) in ktriage::sim::scenario::BUILTIN {
        let parsed = ktriage::sim::scenario::parse_file(text)
            .unwrap_or_else(|e| panic!("built-in scenario {name}: {e}"));
        check(&dir.join(format!("{name}.json")), &parsed, &[]);
        names.push(format!("{name}.json"));
    }
    // a fixture without its scenario is a scenario removed without its record
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(on_disk, names, "fixtures and built-in scenarios differ");
}

#[test]
fn scalar_corpus_parses_as_recorded() {
    let dir = fixtures().join("yaml");
    let text = std::fs::read_to_string(dir.join("scalars.yaml")).unwrap();
    let parsed: Value = ktriage::yaml::from_str(&text).unwrap();
    // deliberate: YAML merge keys (`<<: *anchor`) are merged into the mapping, as kubectl reads them
    // (serde_yaml kept a literal `<<` key)
    check(
        &dir.join("scalars.json"),
        &parsed,
        &["/anchors/merged/<<", "/anchors/merged/cpu"],
    );
}

#[test]
fn printed_yaml_reads_back_as_the_same_value() {
    // the YAML view prints objects: a string that looks like a number, a boolean or null must come
    // back as that string, or copying the view into kubectl would change the object
    let text = std::fs::read_to_string(fixtures().join("yaml/scalars.yaml")).unwrap();
    let parsed: Value = ktriage::yaml::from_str(&text).unwrap();
    let tricky = serde_json::json!({"labels": {"a": "true", "b": "1.20", "c": "null", "d": "~", "e": "0755",
        "f": "yes", "g": "-30d", "h": "", "i": "a: b", "j": "#x", "k": "line\nbreak", "l": " lead"}});
    for v in [parsed, tricky] {
        let printed = ktriage::yaml::to_string(&v).unwrap();
        let back: Value = ktriage::yaml::from_str(&printed).unwrap();
        if let Some(d) = first_difference("", &v, &back) {
            panic!("printed and read back differs at {d}\n{printed}");
        }
    }
}

#[test]
fn documents_skip_empty_ones_and_errors_name_the_line() {
    let docs = ktriage::yaml::documents("---\na: 1\n---\n---\nb: [x]\n").unwrap();
    assert_eq!(
        docs,
        vec![serde_json::json!({"a": 1}), serde_json::json!({"b": ["x"]})]
    );
    let err = ktriage::yaml::from_str::<Value>("a: 1\nb: [unclosed\nc: 2\n").unwrap_err();
    assert!(err.line.is_some_and(|l| l >= 2), "{err:?}");
}

#[test]
fn a_scenario_error_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "name: bad\nobjects:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: x\n",
    )
    .unwrap();
    let err = ktriage::sim::scenario::load(path.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("line"), "{err}");
}
