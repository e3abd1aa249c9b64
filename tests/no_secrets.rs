//! ktriage never requests Secrets, in any mode (CONTRACTS §4): the gate in every client it builds
//! refuses them before a byte is sent, and no source asks for them on any built-in scenario of the
//! simulator (which has `kube-root-ca.crt` and a default ServiceAccount in every namespace, as a real
//! cluster has), read-only or not, nor on the real kube-apiserver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use ktriage::kube::gate::is_refusal;
use kube::Api;
use kube::api::{ListParams, WatchParams};
use serde_json::{Value, json};
use support::{FakeApi, Handler, Recorded};

async fn config_for(url: &str) -> kube::Config {
    let kc = kube::config::Kubeconfig::from_yaml(&support::kubeconfig(url, "t0ken")).unwrap();
    kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap()
}

/// Answers every request with an empty list of config maps (a server that would hand anything out).
fn anything() -> Handler {
    Arc::new(|_r: &Recorded, _st: &mut Value| {
        (
            200,
            json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "1"}, "items": []}),
        )
    })
}

/// The structural guard: a request for Secrets, however it is made, is refused by the client
/// itself in read-only AND in read-write mode (the sources' client and the executor's), and the
/// server never sees it; other reads still reach the server.
#[tokio::test]
async fn every_client_refuses_secrets_in_every_mode_before_sending() {
    let fake = FakeApi::start(json!({}), anything()).await;
    for read_only in [false, true] {
        let cfg = config_for(&fake.url()).await;
        let clients = [
            ktriage::session::build_client(cfg.clone(), read_only).unwrap(),
            ktriage::session::build_executor_client(cfg, read_only).unwrap(),
        ];
        for c in clients {
            let ns: Api<Secret> = Api::namespaced(c.clone(), "kube-system");
            let all: Api<Secret> = Api::all(c.clone());
            let errors = vec![
                ns.list(&ListParams::default()).await.unwrap_err(),
                ns.list_metadata(&ListParams::default()).await.unwrap_err(),
                ns.get("token-x").await.unwrap_err(),
                ns.get_metadata("token-x").await.unwrap_err(),
                all.list(&ListParams::default()).await.unwrap_err(),
                match all.watch(&WatchParams::default(), "0").await {
                    Ok(s) => match s.boxed().next().await {
                        Some(Err(e)) => e,
                        other => panic!("a Secrets watch delivered {other:?}"),
                    },
                    Err(e) => e,
                },
            ];
            for e in errors {
                assert!(is_refusal(&e), "read_only={read_only}: {e:?}");
                assert!(
                    e.to_string().contains("never reads Secrets")
                        || format!("{e:?}").contains("SecretsRefused"),
                    "{e:?}"
                );
            }
            // a raw request with an escaped path is refused too
            let req = http::Request::builder()
                .uri("/api/v1/namespaces/kube-system/%73ecrets")
                .body(kube::client::Body::empty())
                .unwrap();
            let e = c.send(req).await.unwrap_err();
            assert!(is_refusal(&e), "{e:?}");
            // and nothing reached the server
            assert!(fake.lines().is_empty(), "{:?}", fake.lines());
            // while the same client still reads what ktriage does read
            let cms: Api<ConfigMap> = Api::namespaced(c, "kube-system");
            cms.list(&ListParams::default()).await.unwrap();
            assert_eq!(
                fake.lines(),
                vec!["GET /api/v1/namespaces/kube-system/configmaps".to_string()]
            );
            fake.requests.lock().unwrap().clear();
        }
    }
}

/// Every built-in scenario (each has kube-root-ca.crt and a default ServiceAccount in every
/// namespace, as a real cluster has), `ktriage report` read-only and read-write: the simulator's
/// request log has no path containing `/secrets`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_for_secrets_on_any_built_in_scenario_in_any_mode() {
    let scenarios = ktriage::sim::list_scenarios();
    assert!(scenarios.len() >= 11, "{scenarios:?}");
    // two scenarios at a time (2 cores)
    for pair in scenarios.chunks(2) {
        let mut runs = Vec::new();
        for scenario in pair {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("requests.jsonl");
            let h = ktriage::sim::start(ktriage::sim::SimOptions {
                scenario: scenario.to_string(),
                request_log: Some(log.clone()),
                ..ktriage::sim::SimOptions::default()
            })
            .await
            .unwrap();
            let kc = dir.path().join("kubeconfig");
            h.write_kubeconfig(&kc).unwrap();
            let name = scenario.to_string();
            let run = tokio::task::spawn_blocking(move || {
                support::no_secrets::prove(&name, &kc, dir.path(), 2, &mut || {
                    support::no_secrets::request_log(&log)
                });
                dir
            });
            runs.push((h, run));
        }
        for (h, run) in runs {
            run.await.unwrap();
            h.shutdown().await;
        }
    }
}

/// The real kube-apiserver v1.20.2 (no controller-manager: `kube-root-ca.crt` and the default
/// ServiceAccount are created here the way it would create them, with the cluster's CA), with a
/// token Secret to be read and a Terminating namespace to be scanned: the audit log shows no request
/// for Secrets in either mode. Then the CA check on the real server's own certificate chain: every
/// bundle trusts it (no finding), until kube-system's holds another CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_for_secrets_on_the_real_apiserver() {
    use k8s_openapi::api::core::v1::Namespace;
    use kube::api::{DeleteParams, PostParams};
    let audit_dir = tempfile::tempdir().unwrap();
    let policy = audit_dir.path().join("audit.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
    )
    .unwrap();
    let audit = audit_dir.path().join("audit.log");
    let flags = format!(
        "--audit-policy-file={} --audit-log-path={}",
        policy.display(),
        audit.display()
    );
    let Some(server) =
        tokio::task::spawn_blocking(move || support::real::RealServer::start(&flags, 1))
            .await
            .unwrap()
    else {
        return;
    };
    let kc = server.admin_kubeconfig();
    let c = support::real::client_from(&kc).await;
    let ca = std::fs::read_to_string(server.dir.path().join("pki/ca.crt")).unwrap();
    let nss: Api<Namespace> = Api::all(c.clone());
    let pp = PostParams::default();
    for name in ["cattle-system", "shop", "old-team"] {
        let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        nss.create(&pp, &ns).await.unwrap();
    }
    // what kube-controller-manager would publish into every namespace
    for ns in nss.list(&ListParams::default()).await.unwrap().items {
        let name = ns.metadata.name.unwrap();
        publish(&c, &name, &ca).await;
    }
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "coredns-token-x", "annotations": {"kubernetes.io/service-account.name": "default"}},
        "type": "Opaque", "stringData": {"ca.crt": ca, "token": "planted"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(c.clone(), "kube-system")
        .create(&pp, &secret)
        .await
        .unwrap();
    // no namespace controller: it stays Terminating, and ktriage scans what remains in it
    nss.delete("old-team", &DeleteParams::default())
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let (kc2, home_path, audit2) = (kc.clone(), home.path().to_path_buf(), audit.clone());
    tokio::task::spawn_blocking(move || {
        support::no_secrets::prove("real kube-apiserver", &kc2, &home_path, 2, &mut || {
            // the API server's own loopback requests are not ktriage's
            support::no_secrets::audit_log(&audit2)
                .into_iter()
                .filter(|s| !s.user.starts_with("system:"))
                .collect()
        })
    })
    .await
    .unwrap();

    // the CA evidence on a real chain: the cluster's CA everywhere → nothing
    let report = |home: std::path::PathBuf, kc: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            let out = support::ktriage(
                &home,
                &[
                    "--kubeconfig",
                    kc.to_str().unwrap(),
                    "--read-only",
                    "report",
                    "--format",
                    "json",
                    "--observe",
                    "0",
                ],
            );
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            doc["findings"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["id"] == "kube-ca-mismatch")
                .cloned()
        })
        .await
        .unwrap()
    };
    assert_eq!(report(home.path().to_path_buf(), kc.clone()).await, None);
    // kube-system holds another CA: its pods could not trust the API server
    let other = rcgen::generate_simple_self_signed(vec!["x".to_string()])
        .unwrap()
        .cert
        .pem();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "kube-system");
    cms.delete("kube-root-ca.crt", &DeleteParams::default())
        .await
        .unwrap();
    publish(&c, "kube-system", &other).await;
    let f = report(home.path().to_path_buf(), kc.clone())
        .await
        .expect("kube-ca-mismatch on the real server");
    assert_eq!(
        f["details"]["untrusting_namespaces"],
        json!(["kube-system"])
    );
    assert_eq!(f["details"]["api_server_ca"], json!("CN=ktriage-test-ca"));
    drop(server);
}

/// `kube-root-ca.crt` (holding `ca`) and the `default` ServiceAccount in `ns`, as the
/// controller-manager creates them.
async fn publish(c: &kube::Client, ns: &str, ca: &str) {
    use k8s_openapi::api::core::v1::ServiceAccount;
    use kube::api::PostParams;
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": ca}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(c.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "default"}})).unwrap();
    let sas: Api<ServiceAccount> = Api::namespaced(c.clone(), ns);
    if sas.get_opt("default").await.unwrap().is_none() {
        sas.create(&PostParams::default(), &sa).await.unwrap();
    }
}
