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
