//! The seed's failure stories on a real kube-apiserver (v1.20.2) over real etcd, through the ktriage
//! binary: `ktriage report --format json` with the generated kubeconfig.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::real::RealServer;

fn report(server: &RealServer, extra: &[&str]) -> (Output, Value) {
    let home = server.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args(["--kubeconfig", server.admin_kubeconfig().to_str().unwrap()])
        .args(extra)
        .args(["report", "--format", "json", "--observe", "0"])
        .env("HOME", &home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("KUBECONFIG")
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out, doc)
}

fn findings<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

#[test]
fn etcd_split_brain_under_a_serving_api_server() {
    let Some(server) = RealServer::start("", 3) else {
        return;
    };
    let eps = server.env("ETCD_ENDPOINTS");
    // healthy first: no etcd finding, the API answers
    let (out, doc) = report(&server, &["--etcd-endpoints", &eps]);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["sources"]["api"]["state"], "ok");
    assert!(findings(&doc, "etcd-split-brain").is_empty());
    // member 3 re-bootstrapped as its own cluster: every member still answers health checks
    server.split(3);
    let island_url = eps.split(',').nth(2).unwrap().to_string();
    let (out, doc) = report(&server, &["--etcd-endpoints", &eps]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let split = findings(&doc, "etcd-split-brain");
    assert_eq!(split.len(), 1, "{doc:#}");
    assert_eq!(split[0]["subject"]["kind"], "EtcdMember");
    assert_eq!(
        split[0]["subject"]["part"],
        island_url.as_str(),
        "{:#}",
        split[0]
    );
    assert_ne!(
        split[0]["details"]["island_cluster_id"], split[0]["details"]["majority_cluster_id"],
        "{:#}",
        split[0]
    );
    // the API view stays available next to the etcd view: the API server still serves
    assert_eq!(doc["sources"]["api"]["state"], "ok", "{doc:#}");
    assert!(
        doc["panes"]["namespaces"]["rows"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{doc:#}"
    );
}

mod stories {
    use super::*;
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    use ktriage::journal::Journal;
    use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
    use ktriage::model::webhooks::WebhookKind;
    use ktriage::mutation::Mutation;
    use kube::Api;
    use kube::api::{DeleteParams, PostParams};
    use serde_json::json;

    async fn apply(c: &kube::Client, v: Value) {
        let text = serde_json::to_vec(&v).unwrap();
        let kind = v["kind"].as_str().unwrap();
        let (path, ns) = match kind {
            "Namespace" => ("/api/v1/namespaces".to_string(), None),
            "ServiceAccount" => (
                "serviceaccounts".to_string(),
                v["metadata"]["namespace"].as_str(),
            ),
            "ValidatingWebhookConfiguration" => (
                "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations".to_string(),
                None,
            ),
            "APIService" => (
                "/apis/apiregistration.k8s.io/v1/apiservices".to_string(),
                None,
            ),
            "Lease" => ("leases".to_string(), v["metadata"]["namespace"].as_str()),
            other => panic!("no path for {other}"),
        };
        let path = match (kind, ns) {
            ("ServiceAccount", Some(ns)) => format!("/api/v1/namespaces/{ns}/serviceaccounts"),
            ("Lease", Some(ns)) => format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"),
            _ => path,
        };
        let req = http::Request::post(path)
            .header("content-type", "application/json")
            .body(text)
            .unwrap();
        let _: Value = c.request(req).await.unwrap();
    }

    fn executor(server: &RealServer, client: kube::Client) -> (Executor, Journal) {
        let journal = Journal::new(server.dir.path().join("journal.jsonl"));
        let id = Identity {
            context: "admin@real".into(),
            cluster: server.env("APISERVER"),
            kube_user: Some("admin".into()),
        };
        (Executor::new(client, false, journal.clone(), id), journal)
    }

    fn pod(name: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"automountServiceAccountToken": false,
                     "containers": [{"name": "c", "image": "nginx"}]}
        }))
        .unwrap()
    }

    /// The seed's Gatekeeper story: a Fail webhook whose Service does not exist blocks pod creation;
    /// ktriage names it and its toggle unblocks creation.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gatekeeper_down_blocks_pods_and_the_toggle_unblocks() {
        let Some(server) = RealServer::start("", 1) else {
            return;
        };
        let c = support::real::client_from(&server.admin_kubeconfig()).await;
        apply(
            &c,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        )
        .await;
        // no controller-manager here: the default ServiceAccount is made by hand
        apply(&c, json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "shop"}})).await;
        apply(&c, json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "policy-hooks"},
            "webhooks": [{"name": "validation.policy.example.com", "failurePolicy": "Fail", "sideEffects": "None",
                "admissionReviewVersions": ["v1"], "timeoutSeconds": 3,
                "clientConfig": {"service": {"namespace": "policy-system", "name": "policy-webhook", "path": "/v1/admit"}},
                "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["*"]}]}]
        }))
        .await;
        let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
        // the API server's admission plugin learns of new webhook configurations through an
        // informer: poll until creation is rejected (deleting any pod that slipped through)
        let mut attempt = 0;
        let err = support::eventually("pod creation rejected by the webhook", || {
            attempt += 1;
            let pods = pods.clone();
            let name = format!("probe-{attempt}");
            async move {
                match pods.create(&PostParams::default(), &pod(&name)).await {
                    Ok(_) => {
                        let _ = pods.delete(&name, &DeleteParams::default()).await;
                        None
                    }
                    Err(e) => Some(e),
                }
            }
        })
        .await;
        assert!(
            err.to_string()
                .contains("failed calling webhook \"validation.policy.example.com\""),
            "{err}"
        );
        let (out, doc) = report(&server, &[]);
        assert_eq!(out.status.code(), Some(1), "{doc:#}");
        let f = findings(&doc, "webhook-blocking");
        assert_eq!(f.len(), 1, "{doc:#}");
        assert_eq!(f[0]["subject"]["name"], "policy-hooks");
        assert_eq!(f[0]["subject"]["part"], "validation.policy.example.com");
        assert!(
            f[0].to_string().contains("shop"),
            "blocked namespaces listed: {:#}",
            f[0]
        );
        // the toggle, through the executor as the TUI runs it
        let (exec, journal) = executor(&server, c.clone());
        let toggle = Mutation::SetFailurePolicy {
            kind: WebhookKind::Validating,
            configuration: "policy-hooks".into(),
            webhook: "validation.policy.example.com".into(),
            index: 0,
            policy: "Ignore".into(),
            reason: "policy webhook down, unblocking pod creation".into(),
        };
        let outcome = exec.execute(&toggle).await;
        assert_eq!(outcome.result, OutcomeResult::Applied, "{outcome:?}");
        // admitted once the informer has the new policy
        support::eventually("pod creation admitted after the toggle", || {
            let pods = pods.clone();
            async move { pods.create(&PostParams::default(), &pod("y")).await.ok() }
        })
        .await;
        let (_, doc) = report(&server, &[]);
        assert!(findings(&doc, "webhook-blocking").is_empty(), "{doc:#}");
        let (entries, _) = journal.read().unwrap();
        assert_eq!(
            entries
                .iter()
                .filter(|e| e["phase"] == "outcome" && e["result"] == "applied")
                .count(),
            1
        );
    }

    /// An APIService whose Service is missing holds a deleted namespace in Terminating (there is no
    /// namespace controller here, so the blocker is inferred); `/finalize` clears it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unavailable_apiservice_and_a_stuck_namespace() {
        let Some(server) = RealServer::start("", 1) else {
            return;
        };
        let c = support::real::client_from(&server.admin_kubeconfig()).await;
        apply(&c, json!({
            "apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
            "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                     "versionPriority": 100, "insecureSkipTLSVerify": true,
                     "service": {"namespace": "cattle-monitoring-system", "name": "prometheus-adapter"}}
        }))
        .await;
        apply(
            &c,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old-reports"}}),
        )
        .await;
        let nss: Api<Namespace> = Api::all(c.clone());
        nss.delete("old-reports", &DeleteParams::default())
            .await
            .unwrap();
        let doc = support::eventually_blocking("apiservice-unavailable in the report", || {
            let (_, doc) = report(&server, &[]);
            (!findings(&doc, "apiservice-unavailable").is_empty()).then_some(doc)
        });
        let stuck = findings(&doc, "namespace-stuck");
        let ns = stuck
            .iter()
            .find(|f| f["subject"]["name"] == "old-reports")
            .unwrap_or_else(|| panic!("no namespace-stuck for old-reports: {doc:#}"));
        assert_eq!(
            ns["details"]["blocker"], "apiservice:v1beta1.custom.metrics.k8s.io",
            "{ns:#}"
        );
        // the last resort, through the executor: the whole object with spec.finalizers emptied
        let (exec, _) = executor(&server, c.clone());
        let outcome = exec
            .execute(&Mutation::Finalize {
                namespace: "old-reports".into(),
            })
            .await;
        assert_eq!(outcome.result, OutcomeResult::Applied, "{outcome:?}");
        assert!(nss.get("old-reports").await.is_err(), "namespace gone");
    }

    /// A Lease written by the test drives the Leaders pane: a kube-scheduler lease nobody renews.
    #[test]
    fn a_stale_scheduler_lease_is_named() {
        let Some(server) = RealServer::start("", 1) else {
            return;
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let c = support::real::client_from(&server.admin_kubeconfig()).await;
            let renew = (chrono::Utc::now() - chrono::Duration::minutes(10)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            apply(&c, json!({
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
                "spec": {"holderIdentity": "cp-1_5c8d2f8a-0d7e-4f0e-9a3b-1f2e3d4c5b6a", "leaseDurationSeconds": 15,
                         "acquireTime": renew, "renewTime": renew, "leaseTransitions": 3}
            }))
            .await;
        });
        let (out, doc) = report(&server, &[]);
        assert_eq!(out.status.code(), Some(1), "{doc:#}");
        let f: Vec<&Value> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["id"].as_str().is_some_and(|id| id.starts_with("leader-")))
            .collect();
        assert!(
            f.iter().any(|f| f["subject"]["name"] == "kube-scheduler"
                && f["subject"]["namespace"] == "kube-system"),
            "{doc:#}"
        );
        let rows = doc["panes"]["leaders"]["rows"].to_string();
        assert!(rows.contains("cp-1"), "holder's node shown: {rows}");
    }
}
