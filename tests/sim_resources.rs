//! Resource behaviour beyond plain storage: the Deployment/ReplicaSet controller, the
//! events.k8s.io view of core events, and malformed bodies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{client, raw, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_events_v1_is_a_view_of_core_events() {
    use k8s_openapi::api::core::v1::Event as CoreEvent;
    use k8s_openapi::api::events::v1::Event as V1Event;
    let h = sim("gatekeeper-down").await;
    let c = client(&h).await;
    let v1: Api<V1Event> = Api::namespaced(c.clone(), "shop");
    let listed = v1.list(&ListParams::default()).await.unwrap();
    let failed = listed
        .items
        .iter()
        .find(|e| e.reason.as_deref() == Some("FailedCreate"))
        .unwrap();
    assert_eq!(
        failed.regarding.as_ref().unwrap().kind.as_deref(),
        Some("ReplicaSet")
    );
    assert!(
        failed
            .note
            .as_deref()
            .unwrap()
            .contains("validation.gatekeeper.sh")
    );
    assert_eq!(failed.deprecated_count, Some(23));
    let new: V1Event = serde_json::from_value(json!({
        "metadata": {"name": "made-as-v1"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "ktriage-test", "reportingInstance": "t", "action": "Check",
        "reason": "Tested", "type": "Normal", "note": "written through events.k8s.io",
        "regarding": {"kind": "Pod", "namespace": "shop", "name": "p"},
    }))
    .unwrap();
    // (shop is behind the failing Gatekeeper webhook; gatekeeper-system is exempt)
    let s = support::status(v1.create(&PostParams::default(), &new).await.unwrap_err());
    assert_eq!(s.code, 500);
    let v1_gk: Api<V1Event> = Api::namespaced(c.clone(), "gatekeeper-system");
    v1_gk.create(&PostParams::default(), &new).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(c.clone(), "gatekeeper-system");
    let e = core.get("made-as-v1").await.unwrap();
    assert_eq!(e.message.as_deref(), Some("written through events.k8s.io"));
    assert_eq!(e.involved_object.name.as_deref(), Some("p"));
    assert_eq!(e.reporting_component.as_deref(), Some("ktriage-test"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_replicaset_controller_scales_replaces_and_collects() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let deps: Api<Deployment> = Api::namespaced(c.clone(), "shop");
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    let web = |pods: Api<Pod>| async move {
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
    };
    assert_eq!(web(pods.clone()).await.len(), 3);
    deps.patch_scale(
        "shop-web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let now = web(pods.clone()).await;
    assert_eq!(now.len(), 5);
    assert!(
        now.iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Running"))
    );
    assert!(now.iter().all(|p| {
        p.spec
            .as_ref()
            .unwrap()
            .node_name
            .as_deref()
            .unwrap()
            .starts_with("prod-worker-")
    }));
    // a deleted pod is replaced
    let victim = now[0].metadata.name.clone().unwrap();
    pods.delete(&victim, &DeleteParams::default())
        .await
        .unwrap();
    let after = web(pods.clone()).await;
    assert_eq!(after.len(), 5);
    assert!(
        after
            .iter()
            .all(|p| p.metadata.name.as_deref() != Some(victim.as_str()))
    );
    // deleting the Deployment collects its ReplicaSet and pods
    deps.delete("shop-web", &DeleteParams::default())
        .await
        .unwrap();
    assert!(web(pods.clone()).await.is_empty());
    let rs: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::namespaced(c.clone(), "shop");
    assert!(
        rs.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // a new Deployment gets a ReplicaSet and pods
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "new"}, "spec": {"replicas": 2,
        "selector": {"matchLabels": {"app": "new"}}, "template": {"metadata": {"labels": {"app": "new"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})).unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(
        pods.list(&ListParams::default().labels("app=new"))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(
        deps.get("new")
            .await
            .unwrap()
            .status
            .unwrap()
            .ready_replicas,
        Some(2)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_malformed_bodies_are_bad_requests() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"}, "spec": "oops"});
    let (code, _, text) = raw(
        &c,
        "POST",
        "/apis/apps/v1/namespaces/shop/deployments",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("cannot unmarshal string into Go struct field Deployment.spec"),
        "{text}"
    );
    let (code, _, _) = raw(
        &c,
        "PATCH",
        "/api/v1/namespaces/shop",
        "application/merge-patch+json",
        br#"{"metadata":{"labels":"x"}}"#.to_vec(),
    )
    .await;
    assert_eq!(code, 400);
    let (code, _, _) = raw(
        &c,
        "PATCH",
        "/api/v1/namespaces/shop?fieldManager=t",
        "application/apply-patch+yaml",
        b"just a string".to_vec(),
    )
    .await;
    assert_eq!(code, 400);
    let (code, _, _) = raw(
        &c,
        "PATCH",
        "/api/v1/namespaces/shop",
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(code, 415);
    // the server is still fine
    let (code, _, _) = raw(&c, "GET", "/api/v1/namespaces/shop", "", vec![]).await;
    assert_eq!(code, 200);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_template_change_rolls_out_a_new_replicaset() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    let h = sim("healthy").await;
    let c = client(&h).await;
    let deps: Api<Deployment> = Api::namespaced(c.clone(), "shop");
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.example.internal/shop/web:2.4.0"}]}}}});
    deps.patch(
        "shop-web",
        &PatchParams::default(),
        &Patch::Strategic(patch),
    )
    .await
    .unwrap();
    let rs: Api<ReplicaSet> = Api::namespaced(c.clone(), "shop");
    let sets = rs
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(sets.len(), 2);
    let old = sets
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("shop-web-59d7f8b6c4"))
        .unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(0));
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    let web = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(web.len(), 3);
    assert!(
        web.iter()
            .all(|p| p.spec.as_ref().unwrap().containers[0].image.as_deref()
                == Some("registry.example.internal/shop/web:2.4.0"))
    );
    let d = deps.get("shop-web").await.unwrap();
    assert_eq!(
        d.metadata.annotations.unwrap()["deployment.kubernetes.io/revision"],
        "2"
    );
    let st = d.status.unwrap();
    assert_eq!(
        (st.replicas, st.updated_replicas, st.ready_replicas),
        (Some(3), Some(3), Some(3))
    );
    h.shutdown().await;
}

/// As on a real cluster (kube-controller-manager's root CA publisher and service-account
/// controller): every Active namespace has `kube-root-ca.crt` holding the CA that signed the API
/// server's certificate, and a `default` ServiceAccount, on every built-in scenario and for
/// namespaces created later; a Terminating namespace gets nothing new; a scenario's own
/// `kube-root-ca.crt` (a rotated kube-ca) is left as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_every_namespace_has_kube_root_ca_and_a_default_service_account() {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
    for scenario in ktriage::sim::list_scenarios() {
        let h = sim(scenario).await;
        let c = client(&h).await;
        let nss = Api::<Namespace>::all(c.clone())
            .list(&ListParams::default())
            .await
            .unwrap();
        let mut active = 0;
        for ns in &nss.items {
            let name = ns.metadata.name.as_deref().unwrap();
            let cm = Api::<ConfigMap>::namespaced(c.clone(), name)
                .get_opt("kube-root-ca.crt")
                .await
                .unwrap();
            let sa = Api::<ServiceAccount>::namespaced(c.clone(), name)
                .get_opt("default")
                .await
                .unwrap();
            if ns.metadata.deletion_timestamp.is_some() {
                continue;
            }
            active += 1;
            let cm = cm.unwrap_or_else(|| panic!("{scenario}: no kube-root-ca.crt in {name}"));
            assert!(
                sa.is_some(),
                "{scenario}: no default ServiceAccount in {name}"
            );
            let pem = cm.data.unwrap()["ca.crt"].clone();
            let rotated =
                scenario_rotates(scenario) && matches!(name, "kube-system" | "cattle-system");
            if rotated {
                assert_ne!(pem, h.ca_pem(), "{scenario}/{name}");
            } else {
                assert_eq!(pem, h.ca_pem(), "{scenario}/{name}");
            }
        }
        assert!(active >= 4, "{scenario}: {active} active namespaces");
        h.shutdown().await;
    }
    // created later: published at once; Terminating: nothing new
    let h = sim("stuck-namespaces").await;
    let c = client(&h).await;
    let nss: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "made-later"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();
    let cm = Api::<ConfigMap>::namespaced(c.clone(), "made-later")
        .get("kube-root-ca.crt")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["ca.crt"], h.ca_pem());
    Api::<ServiceAccount>::namespaced(c.clone(), "made-later")
        .get("default")
        .await
        .unwrap();
    let terminating: Vec<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|n| n.metadata.deletion_timestamp.is_some())
        .map(|n| n.metadata.name.unwrap())
        .collect();
    assert!(!terminating.is_empty());
    for name in terminating {
        let cm = Api::<ConfigMap>::namespaced(c.clone(), &name)
            .get_opt("kube-root-ca.crt")
            .await
            .unwrap();
        assert!(cm.is_none(), "Terminating {name} got kube-root-ca.crt");
    }
    h.shutdown().await;
}

fn scenario_rotates(name: &str) -> bool {
    matches!(name, "kube-ca-rotated" | "incident")
}
