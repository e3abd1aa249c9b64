//! The seed's stories and the API server's behaviours around them, through the HTTP API with
//! kube-rs: webhook admission, APIService availability, namespace lifecycle, Forbidden users, pod
//! logs and metrics, start-up errors, the scale generator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use support::{client, client_as, control, raw, sim, status};

fn cm(name: &str, finalizers: &[&str]) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "finalizers": finalizers},
        "data": {"k": "v"},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_webhook_fail_rejects_and_ignore_admits() {
    let h = sim("gatekeeper-down").await;
    let c = client(&h).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {"containers": [{"name": "x", "image": "nginx"}]}})).unwrap();
    let s = status(pods.create(&PostParams::default(), &pod).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    assert_eq!(
        s.message,
        "Internal error occurred: failed calling webhook \"validation.gatekeeper.sh\": failed to call webhook: Post \"https://gatekeeper-webhook-service.gatekeeper-system.svc:443/v1/admit?timeout=3s\": no endpoints available for service \"gatekeeper-webhook-service\""
    );
    // gatekeeper-system is excluded by the namespaceSelector
    let gk: Api<ConfigMap> = Api::namespaced(c.clone(), "gatekeeper-system");
    gk.create(&PostParams::default(), &cm("allowed", &[]))
        .await
        .unwrap();
    // with the service gone the text names it
    control(&c, "delete", json!({"apiVersion": "v1", "kind": "Service", "namespace": "gatekeeper-system", "name": "gatekeeper-webhook-service"})).await;
    let s = status(pods.create(&PostParams::default(), &pod).await.unwrap_err());
    assert!(
        s.message
            .ends_with("service \"gatekeeper-webhook-service\" not found"),
        "{}",
        s.message
    );
    // the webhook configuration itself is never sent to webhooks: patch failurePolicy to Ignore
    let vwc: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(c.clone());
    let p: json_patch::Patch = serde_json::from_value(
        json!([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]),
    )
    .unwrap();
    vwc.patch(
        "gatekeeper-validating-webhook-configuration",
        &PatchParams::default(),
        &Patch::Json::<()>(p),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_replicaset_blocked_by_webhook_until_ignore() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Event;
    let h = sim("gatekeeper-down").await;
    let c = client(&h).await;
    let events: Api<Event> = Api::namespaced(c.clone(), "shop");
    let failed = |events: Api<Event>| async move {
        events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedCreate")
                    && e.involved_object.name.as_deref() == Some("shop-api-7c8d9e6f5a")
            })
            .unwrap()
    };
    // lease renewals go through admission: kube-scheduler's is rejected, node leases are exempt
    let out = control(&c, "trigger", json!({"name": "renew-leases"})).await;
    assert!(out["renewed"].as_u64().unwrap() >= 6, "{out}");
    let rejected = out["rejected"].as_array().unwrap();
    assert!(
        rejected.iter().any(|r| r["name"] == "kube-scheduler"
            && r["error"]
                .as_str()
                .unwrap()
                .contains("validation.gatekeeper.sh")),
        "{out}"
    );
    let before = failed(events.clone()).await.count.unwrap();
    // the ReplicaSet controller retries (every resync) and is rejected by the webhook again
    control(&c, "resync", json!({})).await;
    let ev = failed(events.clone()).await;
    assert!(ev.count.unwrap() > before, "the retry is counted");
    assert!(
        ev.message
            .unwrap()
            .contains("failed calling webhook \"validation.gatekeeper.sh\"")
    );
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    assert_eq!(
        pods.list(&ListParams::default().labels("app=api"))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    // with the webhook set to Ignore the next resync creates the missing pod
    let vwc: Api<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration> =
        Api::all(c.clone());
    let p: json_patch::Patch = serde_json::from_value(
        json!([{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]),
    )
    .unwrap();
    vwc.patch(
        "gatekeeper-validating-webhook-configuration",
        &PatchParams::default(),
        &Patch::Json::<()>(p),
    )
    .await
    .unwrap();
    control(&c, "resync", json!({})).await;
    assert_eq!(
        pods.list(&ListParams::default().labels("app=api"))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let d: Api<Deployment> = Api::namespaced(c.clone(), "shop");
    let st = d.get("shop-api").await.unwrap().status.unwrap();
    assert_eq!(st.ready_replicas, Some(3));
    assert!(
        !st.conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "ReplicaFailure")
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_apiservice_and_namespace_lifecycle() {
    let h = sim("stuck-namespaces").await;
    let c = client(&h).await;
    let api: Api<k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService> =
        Api::all(c.clone());
    let svc = api.get("v1beta1.custom.metrics.k8s.io").await.unwrap();
    let cond = svc
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Available")
        .unwrap();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_deref()),
        ("False", Some("ServiceNotFound"))
    );
    assert_eq!(
        cond.message.as_deref(),
        Some("service/prometheus-adapter in \"cattle-monitoring-system\" is not present")
    );
    let local = api.get("v1.apps").await.unwrap();
    assert_eq!(local.status.unwrap().conditions.unwrap()[0].status, "True");

    let ns: Api<Namespace> = Api::all(c.clone());
    let stuck = ns.get("shop-staging").await.unwrap();
    assert_eq!(
        stuck.status.as_ref().unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert_eq!(stuck.spec.unwrap().finalizers.unwrap(), vec!["kubernetes"]);
    let conds = stuck.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "NamespaceDeletionDiscoveryFailure" && c.status == "True")
    );
    // creating content in a Terminating namespace is forbidden
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "longhorn-system");
    let s = status(
        cms.create(&PostParams::default(), &cm("late", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 403);
    assert_eq!(
        s.message,
        "configmaps \"late\" is forbidden: unable to create new content in namespace longhorn-system because it is being terminated"
    );

    // /finalize on cattle-monitoring-system clears spec.finalizers; the cattle finalizer keeps it.
    // The body is the whole object (as `kubectl get -o json | … | kubectl replace --raw` sends it):
    // a real server takes metadata from the body, so a minimal one would drop the finalizer.
    let mut body = serde_json::to_value(ns.get("cattle-monitoring-system").await.unwrap()).unwrap();
    body["spec"]["finalizers"] = json!([]);
    let (code, _, _) = raw(
        &c,
        "PUT",
        "/api/v1/namespaces/cattle-monitoring-system/finalize",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(code, 200);
    let cms_ns = ns.get("cattle-monitoring-system").await.unwrap();
    assert!(
        cms_ns
            .spec
            .unwrap()
            .finalizers
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(
        cms_ns.metadata.finalizers.unwrap(),
        vec!["controller.cattle.io/namespace-auth"]
    );
    let p: json_patch::Patch =
        serde_json::from_value(json!([{"op": "remove", "path": "/metadata/finalizers"}])).unwrap();
    ns.patch(
        "cattle-monitoring-system",
        &PatchParams::default(),
        &Patch::Json::<()>(p),
    )
    .await
    .unwrap();
    assert_eq!(
        status(ns.get("cattle-monitoring-system").await.unwrap_err()).code,
        404
    );

    // deleting the unavailable APIService lets the namespace controller finish shop-staging;
    // longhorn-system waits for its custom resources' finalizers
    api.delete("v1beta1.custom.metrics.k8s.io", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(status(ns.get("shop-staging").await.unwrap_err()).code, 404);
    let lh = ns.get("longhorn-system").await.unwrap();
    let conds = lh.status.unwrap().conditions.unwrap();
    let rem = conds
        .iter()
        .find(|c| c.type_ == "NamespaceFinalizersRemaining")
        .unwrap();
    assert_eq!(rem.status, "True");
    assert_eq!(
        rem.message.as_deref(),
        Some(
            "Some content in the namespace has finalizers remaining: longhorn.io in 8 resource instances"
        )
    );
    for (plural, name) in [("volumes", "pvc-3f1c2a9e-8b7d-4c6e-9f01-2a3b4c5d6e7f")] {
        let path = format!("/apis/longhorn.io/v1beta2/namespaces/longhorn-system/{plural}/{name}");
        let (code, _, body) = raw(&c, "GET", &path, "", vec![]).await;
        assert_eq!(code, 200, "{body}");
    }
    // strip every longhorn finalizer: the namespace goes away
    for plural in ["volumes", "engines", "replicas"] {
        let (_, _, body) = raw(
            &c,
            "GET",
            &format!("/apis/longhorn.io/v1beta2/namespaces/longhorn-system/{plural}"),
            "",
            vec![],
        )
        .await;
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        for item in list["items"].as_array().unwrap() {
            let name = item["metadata"]["name"].as_str().unwrap();
            let (code, _, b) = raw(
                &c,
                "PATCH",
                &format!("/apis/longhorn.io/v1beta2/namespaces/longhorn-system/{plural}/{name}"),
                "application/merge-patch+json",
                br#"{"metadata":{"finalizers":null}}"#.to_vec(),
            )
            .await;
            assert!(code == 200 || code == 404, "{code} {b}");
        }
    }
    assert_eq!(
        status(ns.get("longhorn-system").await.unwrap_err()).code,
        404
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_namespace_deletion_waits_for_content_finalizers() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let ns: Api<Namespace> = Api::all(c.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "t1"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "t1");
    cms.create(&PostParams::default(), &cm("plain", &[]))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("held", &["example.com/hold"]))
        .await
        .unwrap();
    ns.delete("t1", &DeleteParams::default()).await.unwrap();
    let t1 = ns.get("t1").await.unwrap();
    assert_eq!(t1.status.unwrap().phase.as_deref(), Some("Terminating"));
    assert_eq!(status(cms.get("plain").await.unwrap_err()).code, 404);
    assert!(
        cms.get("held")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": []}})),
    )
    .await
    .ok();
    assert_eq!(status(ns.get("t1").await.unwrap_err()).code, 404);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_forbidden_user_gets_real_status() {
    let h = sim("healthy").await;
    let jane = client_as(&h, "jane").await;
    let ns: Api<Namespace> = Api::all(jane.clone());
    let s = status(ns.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        s.message,
        "namespaces is forbidden: User \"jane\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
    );
    let pods: Api<Pod> = Api::namespaced(jane.clone(), "shop");
    assert!(
        !pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let s = status(
        pods.delete("shop-web-59d7f8b6c4-x7k2p", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        s.message,
        "pods \"shop-web-59d7f8b6c4-x7k2p\" is forbidden: User \"jane\" cannot delete resource \"pods\" in API group \"\" in the namespace \"shop\""
    );
    let (code, _, _) = raw(&jane, "POST", "/_sim/compact", "application/json", vec![]).await;
    assert_eq!(code, 403);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_pod_logs_tail_previous_follow_and_metrics() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    let name = "shop-web-59d7f8b6c4-x7k2p";
    let all = pods.logs(name, &Default::default()).await.unwrap();
    assert_eq!(all.lines().count(), 3);
    let tail = pods
        .logs(
            name,
            &kube::api::LogParams {
                tail_lines: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(tail.contains("/api/cart") && tail.lines().count() == 1);
    let prev = pods
        .logs(
            name,
            &kube::api::LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(prev.starts_with("panic: runtime error"));
    let other = "shop-web-59d7f8b6c4-b9z3w";
    let s = status(
        pods.logs(
            other,
            &kube::api::LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        s.message,
        format!("previous terminated container \"web\" in pod \"{other}\" not found")
    );
    let mut follow = pods
        .log_stream(
            name,
            &kube::api::LogParams {
                follow: true,
                tail_lines: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    control(
        &c,
        "log",
        json!({"namespace": "shop", "pod": name, "line": "followed line"}),
    )
    .await;
    let mut line = String::new();
    use futures::AsyncBufReadExt as _;
    tokio::time::timeout(Duration::from_secs(10), follow.read_line(&mut line))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line, "followed line\n");

    let (code, _, body) = raw(&c, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", "", vec![]).await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 6);
    let (code, _, _) = raw(
        &c,
        "GET",
        "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods",
        "",
        vec![],
    )
    .await;
    assert_eq!(code, 200);
    control(&c, "delete", json!({"apiVersion": "v1", "kind": "Service", "namespace": "kube-system", "name": "rke2-metrics-server"})).await;
    let (code, _, body) = raw(&c, "GET", "/apis/metrics.k8s.io/v1beta1/nodes", "", vec![]).await;
    assert_eq!(code, 503, "{body}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_ready_endpoints_let_the_webhook_allow() {
    let h = sim("gatekeeper-down").await;
    let c = client(&h).await;
    // "restore Gatekeeper": its service gets a ready endpoint through the control channel
    let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "gatekeeper-webhook-service", "namespace": "gatekeeper-system"},
        "subsets": [{"addresses": [{"ip": "10.42.5.9"}], "ports": [{"name": "https-webhook-server", "port": 8443, "protocol": "TCP"}]}]});
    let out = control(&c, "apply", ep).await;
    assert_eq!(
        out["items"][0]["metadata"]["name"],
        "gatekeeper-webhook-service"
    );
    let pods: Api<Pod> = Api::namespaced(c.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "ok"}, "spec": {"containers": [{"name": "x", "image": "nginx"}]}})).unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    // the status subresource changes only status
    let patched = pods
        .patch_status(
            "ok",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"ignored": "yes"}}, "status": {"phase": "Running"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().phase.as_deref(), Some("Running"));
    assert!(
        patched
            .metadata
            .labels
            .unwrap_or_default()
            .contains_key("ignored")
            .eq(&false)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_access_reviews_and_event_links() {
    use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
    let h = sim("healthy").await;
    let jane = client_as(&h, "jane").await;
    let ssar: Api<SelfSubjectAccessReview> = Api::all(jane);
    let ask = |verb: &str, ns: &str| -> SelfSubjectAccessReview {
        serde_json::from_value(json!({"spec": {"resourceAttributes": {"verb": verb, "resource": "pods", "namespace": ns}}})).unwrap()
    };
    let yes = ssar
        .create(&PostParams::default(), &ask("list", "shop"))
        .await
        .unwrap();
    assert!(yes.status.unwrap().allowed);
    let no = ssar
        .create(&PostParams::default(), &ask("delete", "shop"))
        .await
        .unwrap();
    assert!(!no.status.unwrap().allowed);
    // scenario events carry their object's uid, so describe-style field selectors find them
    let c = client(&h).await;
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    let uid = pods
        .get("shop-web-59d7f8b6c4-x7k2p")
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(c, "shop");
    let sel = format!("involvedObject.name=shop-web-59d7f8b6c4-x7k2p,involvedObject.uid={uid}");
    assert_eq!(
        events
            .list(&ListParams::default().fields(&sel))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    h.shutdown().await;
}
