//! Starting the simulator: loopback only, scenario errors, files including built-ins,
//! kubeconfig files, plain HTTP, the scale generator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, ListParams};
use support::{client, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_refuses_non_loopback_and_reports_bad_scenarios() {
    let e = ktriage::sim::start(ktriage::sim::SimOptions {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(e, ktriage::sim::SimError::NotLoopback(_)));
    assert!(e.to_string().contains("loopback"));
    let e = ktriage::sim::start(ktriage::sim::SimOptions {
        scenario: "nope".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("healthy, gatekeeper-down, stuck-namespaces, incident"),
        "{e}"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, "name: bad\nobjects:\n  - apiVersion: v1\n    kind: [\n").unwrap();
    let e = ktriage::sim::start(ktriage::sim::SimOptions {
        scenario: f.display().to_string(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            ktriage::sim::SimError::InvalidScenario { line: Some(_), .. }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("bad.yaml line"), "{e}");
    // a scenario file including a built-in one
    std::fs::write(&f, "name: mine\ninclude: [healthy]\nobjects:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: mine, namespace: shop, creationTimestamp: -2h}}\n").unwrap();
    let h = ktriage::sim::start(ktriage::sim::SimOptions {
        scenario: f.display().to_string(),
        ..Default::default()
    })
    .await
    .unwrap();
    let kc = dir.path().join("kubeconfig");
    h.write_kubeconfig(&kc).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kc).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let c = client(&h).await;
    let cms: Api<ConfigMap> = Api::namespaced(c, "shop");
    let mine = cms.get("mine").await.unwrap();
    let created = chrono::DateTime::parse_from_rfc3339(
        &mine.metadata.creation_timestamp.unwrap().0.to_string(),
    )
    .unwrap();
    let age = chrono::Utc::now() - created.with_timezone(&chrono::Utc);
    assert!((age.num_minutes() - 120).abs() <= 1, "{age:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_scale_generator_small() {
    let h = sim("scale:20:400:50:8").await;
    let c = client(&h).await;
    let pods: Api<Pod> = Api::all(c.clone());
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        400
    );
    let ns: Api<Namespace> = Api::all(c.clone());
    assert_eq!(
        ns.list(&ListParams::default()).await.unwrap().items.len(),
        8 + 4
    );
    let ev: Api<k8s_openapi::api::core::v1::Event> = Api::all(c.clone());
    assert_eq!(
        ev.list(&ListParams::default()).await.unwrap().items.len(),
        50
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_plain_http_option() {
    let h = ktriage::sim::start(ktriage::sim::SimOptions {
        scenario: "healthy".into(),
        plain_http: true,
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(h.base_url().starts_with("http://127.0.0.1:"));
    let kc = h.kubeconfig_yaml("admin");
    assert!(!kc.contains("certificate-authority-data"));
    assert!(kc.contains("current-context: ktriage-sim"));
    let c = client(&h).await;
    let ns: Api<Namespace> = Api::all(c);
    assert!(ns.get("kube-system").await.is_ok());
    h.shutdown().await;
}
