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
