//! One conformance suite of everything ktriage relies on, run against the simulator and against a
//! real kube-apiserver (v1.20.2 built by `scripts/real-apiserver.sh`). Where they differ, the
//! simulator is wrong. Each case works in its own namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::real::{RealServer, client_from};

use std::process::Command;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{
    DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};

struct Target {
    name: &'static str,
    admin: Client,
    unprivileged: Client,
    _guard: Guard,
}

/// Keeps the server alive for the target's lifetime (dropping it stops the real server).
#[allow(dead_code)]
enum Guard {
    Sim(ktriage::sim::SimHandle),
    Real(RealServer),
}

async fn sim_target() -> Target {
    let h = support::sim("healthy").await;
    let admin = support::client(&h).await;
    let unprivileged = support::client_as(&h, "jane").await;
    Target {
        name: "simulator",
        admin,
        unprivileged,
        _guard: Guard::Sim(h),
    }
}

/// The real server, or `None` (visible skip) when it is not built — a failure under CI (`support::under_ci`).
async fn real_target() -> Option<Target> {
    // configmaps bypass the watch cache so that an etcd compaction is visible as 410 (the 1.20
    // watch cache keeps serving its own history); every other resource is cached as usual
    let server = RealServer::start("--watch-cache-sizes=configmaps#0", 1)?;
    let admin = client_from(&server.admin_kubeconfig()).await;
    let unprivileged = client_from(&server.jane_kubeconfig()).await;
    Some(Target {
        name: "real kube-apiserver",
        admin,
        unprivileged,
        _guard: Guard::Real(server),
    })
}

impl Target {
    fn is_real(&self) -> bool {
        matches!(self._guard, Guard::Real(_))
    }

    async fn namespace(&self, name: &str) -> String {
        let api: Api<Namespace> = Api::all(self.admin.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        api.create(&PostParams::default(), &ns).await.unwrap();
        name.to_string()
    }

    /// A resourceVersion older than what the server can still watch from, given `current`.
    async fn expired_resource_version(&self, ns: &str, current: &str) -> String {
        match &self._guard {
            // configmaps are not watch-cached on the real target (see `real_target`), so a watch
            // goes to etcd: a change, then an etcd compaction at the new revision, expires `current`
            Guard::Real(server) => {
                // etcd keeps the compaction revision itself: two changes, then compacting at the
                // newest, leave nothing after `current` that a watch could start from
                let cms: Api<ConfigMap> = Api::namespaced(self.admin.clone(), ns);
                cms.create(&PostParams::default(), &cm("churn-1", json!({})))
                    .await
                    .unwrap();
                cms.create(&PostParams::default(), &cm("churn-2", json!({})))
                    .await
                    .unwrap();
                let rev = cms
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .metadata
                    .resource_version
                    .unwrap();
                let etcd = server.env("ETCD_ENDPOINTS");
                let out = Command::new("curl")
                    .args(["-sf", "-X", "POST", &format!("{etcd}/v3/kv/compaction")])
                    .args([
                        "-d",
                        &format!("{{\"revision\":\"{rev}\",\"physical\":true}}"),
                    ])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "etcd compaction failed");
                current.to_string()
            }
            // the simulator keeps 10,000 changes; a change, then compaction at the new revision,
            // leaves the older one unwatchable, as an etcd compaction does
            Guard::Sim(_) => {
                let cms: Api<ConfigMap> = Api::namespaced(self.admin.clone(), ns);
                cms.create(&PostParams::default(), &cm("churn", json!({})))
                    .await
                    .unwrap();
                support::control(&self.admin, "compact", json!({})).await;
                current.to_string()
            }
        }
    }
}

fn cm(name: &str, extra: Value) -> ConfigMap {
    let mut v = json!({"metadata": {"name": name}, "data": {"k": "v"}});
    if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, val) in extra {
            if k == "metadata" {
                for (mk, mv) in val.as_object().unwrap() {
                    obj["metadata"][mk] = mv.clone();
                }
            } else {
                obj.insert(k.clone(), val.clone());
            }
        }
    }
    serde_json::from_value(v).unwrap()
}

fn api_err(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other}"),
    }
}

async fn list_with_pagination(t: &Target) {
    let ns = t.namespace("conf-pages").await;
    let api: Api<ConfigMap> = Api::namespaced(t.admin.clone(), &ns);
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("p{i}"), json!({})))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(c) = &token {
            lp = lp.continue_token(c);
        }
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        assert!(
            page.items.len() <= 3,
            "{}: page larger than the limit",
            t.name
        );
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        token = page.metadata.continue_.clone().filter(|c| !c.is_empty());
        if token.is_none() {
            break;
        }
    }
    names.retain(|n| n.starts_with('p'));
    names.sort();
    assert_eq!(
        names,
        vec!["p0", "p1", "p2", "p3", "p4", "p5", "p6"],
        "{}",
        t.name
    );
    assert!(pages >= 3, "{}: {pages} pages", t.name);
}

async fn watch_from_resource_version(t: &Target) {
    let ns = t.namespace("conf-watch").await;
    let api: Api<ConfigMap> = Api::namespaced(t.admin.clone(), &ns);
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.clone().unwrap();
    let wp = WatchParams {
        bookmarks: true,
        ..WatchParams::default()
    }
    .timeout(10);
    let mut stream = api.watch(&wp, &rv).await.unwrap().boxed();
    api.create(&PostParams::default(), &cm("w1", json!({})))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            match ev {
                WatchEvent::Added(c) if c.metadata.name.as_deref() == Some("w1") => return true,
                WatchEvent::Bookmark(b) => assert!(!b.metadata.resource_version.is_empty()),
                WatchEvent::Error(e) => panic!("{}: watch error {e:?}", t.name),
                _ => {}
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(got, "{}: the watch did not deliver the new object", t.name);
}

async fn gone_for_an_expired_resource_version(t: &Target) {
    let ns = t.namespace("conf-gone").await;
    let api: Api<ConfigMap> = Api::namespaced(t.admin.clone(), &ns);
    api.create(&PostParams::default(), &cm("g0", json!({})))
        .await
        .unwrap();
    let current = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let old = t.expired_resource_version(&ns, &current).await;
    // a real server answers 410 either as the HTTP status or as an ERROR event on the stream
    let status = match api.watch(&WatchParams::default().timeout(5), &old).await {
        Err(e) => api_err(e),
        Ok(s) => {
            let mut s = s.boxed();
            match tokio::time::timeout(Duration::from_secs(10), s.next()).await {
                Ok(Some(Ok(WatchEvent::Error(e)))) => kube::core::Status {
                    code: e.code,
                    reason: e.reason,
                    message: e.message,
                    ..Default::default()
                },
                Ok(Some(Err(kube::Error::Api(s)))) => *s,
                Ok(Some(Ok(WatchEvent::Added(o)))) => panic!(
                    "{}: expected 410 for a watch from {old} (list was at {current}), got ADDED {:?} at {:?}",
                    t.name, o.metadata.name, o.metadata.resource_version
                ),
                other => panic!("{}: expected 410, got {other:?}", t.name),
            }
        }
    };
    assert_eq!(status.code, 410, "{}: {status:?}", t.name);
    assert_eq!(status.reason, "Expired", "{}: {status:?}", t.name);
    // etcd-backed watches say "The resourceVersion for the provided watch is too old.", the watch
    // cache says "too old resource version: N (M)"
    assert!(status.message.contains("too old"), "{}: {status:?}", t.name);
}

async fn scale_subresource_and_dry_run(t: &Target) {
    let ns = t.namespace("conf-scale").await;
    let api: Api<Deployment> = Api::namespaced(t.admin.clone(), &ns);
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
    let patch = Patch::Merge(json!({"spec": {"replicas": 0}}));
    let dry = PatchParams {
        dry_run: true,
        field_manager: Some("ktriage".into()),
        ..Default::default()
    };
    let s = api.patch_scale("web", &dry, &patch).await.unwrap();
    // `replicas` is omitempty in autoscaling/v1: 0 arrives as an absent field
    assert_eq!(
        s.spec.unwrap().replicas.unwrap_or(0),
        0,
        "{}: dry run answers the would-be result",
        t.name
    );
    let s = api.get_scale("web").await.unwrap();
    assert_eq!(
        s.spec.unwrap().replicas,
        Some(3),
        "{}: dry run changed nothing",
        t.name
    );
    let pp = PatchParams {
        field_manager: Some("ktriage".into()),
        ..Default::default()
    };
    api.patch_scale("web", &pp, &patch).await.unwrap();
    let d = api.get("web").await.unwrap();
    assert_eq!(
        d.spec.as_ref().unwrap().replicas.unwrap_or(0),
        0,
        "{}",
        t.name
    );
    let managers = |d: &Deployment| -> Vec<(String, String)> {
        d.metadata
            .managed_fields
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                (
                    m.manager.unwrap_or_default(),
                    m.subresource.unwrap_or_default(),
                )
            })
            .collect()
    };
    // servers since 1.22 record the scale subresource's manager (`subresource: scale`); 1.20 does not
    if !t.is_real() {
        assert!(
            managers(&d).contains(&("ktriage".into(), "scale".into())),
            "{}: {:?}",
            t.name,
            managers(&d)
        );
    }
    // the executor's annotation patch is recorded under field manager `ktriage` by every version
    let note = Patch::Merge(json!({"metadata": {"annotations": {"ktriage.io/last-action": "{}"}}}));
    let d = api.patch("web", &pp, &note).await.unwrap();
    assert!(
        managers(&d).iter().any(|(m, _)| m == "ktriage"),
        "{}: {:?}",
        t.name,
        managers(&d)
    );
    // dry-run create persists nothing
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let cms: Api<ConfigMap> = Api::namespaced(t.admin.clone(), &ns);
    cms.create(&pp, &cm("ghost", json!({}))).await.unwrap();
    assert_eq!(
        api_err(cms.get("ghost").await.unwrap_err()).code,
        404,
        "{}",
        t.name
    );
}

async fn finalizer_patches(t: &Target) {
    let ns = t.namespace("conf-fin").await;
    let api: Api<ConfigMap> = Api::namespaced(t.admin.clone(), &ns);
    api.create(
        &PostParams::default(),
        &cm("f", json!({"metadata": {"finalizers": ["example.com/a"]}})),
    )
    .await
    .unwrap();
    // strategic merge on metadata.finalizers merges the lists (patch items first, as the real
    // server orders them); a JSON merge patch replaces them
    let pp = PatchParams::default();
    let c = api
        .patch(
            "f",
            &pp,
            &Patch::Strategic(json!({"metadata": {"finalizers": ["example.com/b"]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        c.metadata.finalizers.unwrap(),
        vec!["example.com/b", "example.com/a"],
        "{}",
        t.name
    );
    // a JSON patch guarded by resourceVersion and the finalizer's index
    let rv = api
        .get("f")
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let guarded = |rv: &str| {
        Patch::<()>::Json(
            serde_json::from_value(json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "test", "path": "/metadata/finalizers/1", "value": "example.com/a"},
                {"op": "remove", "path": "/metadata/finalizers/1"}
            ]))
            .unwrap(),
        )
    };
    let stale = api.patch("f", &pp, &guarded("1")).await.unwrap_err();
    let st = api_err(stale);
    assert_eq!(
        (st.code, st.reason.as_str()),
        (422, "Invalid"),
        "{}: {st:?}",
        t.name
    );
    assert_eq!(
        api.get("f")
            .await
            .unwrap()
            .metadata
            .finalizers
            .unwrap()
            .len(),
        2,
        "{}: unchanged",
        t.name
    );
    let c = api.patch("f", &pp, &guarded(&rv)).await.unwrap();
    assert_eq!(
        c.metadata.finalizers.unwrap(),
        vec!["example.com/b"],
        "{}",
        t.name
    );
    let c = api
        .patch(
            "f",
            &pp,
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/c"]}})),
        )
        .await
        .unwrap();
    assert_eq!(
        c.metadata.finalizers.unwrap(),
        vec!["example.com/c"],
        "{}",
        t.name
    );
    // delete with a finalizer: deletionTimestamp set, object stays until the finalizer goes
    api.delete("f", &DeleteParams::default()).await.unwrap();
    let c = api.get("f").await.unwrap();
    assert!(c.metadata.deletion_timestamp.is_some(), "{}", t.name);
    api.patch(
        "f",
        &pp,
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(
        api_err(api.get("f").await.unwrap_err()).code,
        404,
        "{}",
        t.name
    );
}

async fn namespace_finalize(t: &Target) {
    let nss: Api<Namespace> = Api::all(t.admin.clone());
    let finalize = |name: &str, body: Value| {
        http::Request::put(format!("/api/v1/namespaces/{name}/finalize"))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap()
    };
    for name in ["conf-term", "conf-term-min"] {
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"team": "a"}, "finalizers": ["example.com/hold"]}
        }))
        .unwrap();
        nss.create(&PostParams::default(), &ns).await.unwrap();
        nss.delete(name, &DeleteParams::default()).await.unwrap();
        let n = nss.get(name).await.unwrap();
        assert_eq!(
            n.status.and_then(|s| s.phase).as_deref(),
            Some("Terminating"),
            "{}",
            t.name
        );
    }
    // the whole object with spec.finalizers emptied (what ktriage and the seed's kubectl replace send):
    // the metadata finalizer still holds it, labels stay
    let mut whole = serde_json::to_value(nss.get("conf-term").await.unwrap()).unwrap();
    whole["spec"]["finalizers"] = json!([]);
    let after: Namespace = t.admin.request(finalize("conf-term", whole)).await.unwrap();
    assert_eq!(
        after.spec.and_then(|s| s.finalizers).unwrap_or_default(),
        Vec::<String>::new(),
        "{}",
        t.name
    );
    let held = nss.get("conf-term").await;
    assert!(
        held.is_ok(),
        "{}: metadata finalizer keeps it: {held:?}",
        t.name
    );
    let held = held.unwrap();
    assert_eq!(
        held.metadata
            .labels
            .unwrap_or_default()
            .get("team")
            .map(String::as_str),
        Some("a"),
        "{}",
        t.name
    );
    let rm = Patch::<()>::Json(
        serde_json::from_value(json!([{"op": "remove", "path": "/metadata/finalizers/0"}]))
            .unwrap(),
    );
    nss.patch("conf-term", &PatchParams::default(), &rm)
        .await
        .unwrap();
    assert_eq!(
        api_err(nss.get("conf-term").await.unwrap_err()).code,
        404,
        "{}",
        t.name
    );
    // a minimal body replaces the metadata too: the metadata finalizer is dropped with it and the
    // namespace is gone at once (why the action must send the whole object)
    let minimal = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "conf-term-min"}, "spec": {"finalizers": []}});
    let _: Namespace = t
        .admin
        .request(finalize("conf-term-min", minimal))
        .await
        .unwrap();
    assert_eq!(
        api_err(nss.get("conf-term-min").await.unwrap_err()).code,
        404,
        "{}",
        t.name
    );
}

async fn webhook_failure_policy_patch(t: &Target) {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(t.admin.clone());
    let hook = |name: &str| {
        json!({"name": name, "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
               "clientConfig": {"service": {"namespace": "nowhere", "name": "missing", "path": "/v"}},
               "rules": [{"apiGroups": ["nothing.example.com"], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["widgets"]}]})
    };
    let cfg: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": "conf-hooks"}, "webhooks": [hook("a.example.com"), hook("b.example.com")]
    }))
    .unwrap();
    api.create(&PostParams::default(), &cfg).await.unwrap();
    let patch = Patch::<()>::Json(
        serde_json::from_value(json!([
            {"op": "test", "path": "/webhooks/1/name", "value": "b.example.com"},
            {"op": "replace", "path": "/webhooks/1/failurePolicy", "value": "Ignore"}
        ]))
        .unwrap(),
    );
    let pp = PatchParams {
        field_manager: Some("ktriage".into()),
        ..Default::default()
    };
    let after = api.patch("conf-hooks", &pp, &patch).await.unwrap();
    let policies: Vec<String> = after
        .webhooks
        .unwrap()
        .into_iter()
        .map(|w| w.failure_policy.unwrap_or_default())
        .collect();
    assert_eq!(policies, vec!["Fail", "Ignore"], "{}", t.name);
    api.delete("conf-hooks", &DeleteParams::default())
        .await
        .unwrap();
}

async fn unavailable_apiservice_and_discovery(t: &Target) {
    let api: Api<APIService> = Api::all(t.admin.clone());
    let svc: APIService = serde_json::from_value(json!({
        "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
        "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                 "versionPriority": 100, "insecureSkipTLSVerify": true,
                 "service": {"namespace": "cattle-monitoring-system", "name": "prometheus-adapter"}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
    let cond = support::eventually("APIService Available=False", || async {
        let s = api.get("v1beta1.custom.metrics.k8s.io").await.ok()?;
        let c = s
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "Available")?;
        (c.status == "False").then_some(c)
    })
    .await;
    assert_eq!(
        cond.reason.as_deref(),
        Some("ServiceNotFound"),
        "{}",
        t.name
    );
    assert!(
        cond.message
            .as_deref()
            .unwrap_or("")
            .contains("service/prometheus-adapter in \"cattle-monitoring-system\" is not present"),
        "{}: {cond:?}",
        t.name
    );
    // discovery still answers; the broken group version does not
    let groups: Value = t
        .admin
        .request(http::Request::get("/apis").body(vec![]).unwrap())
        .await
        .unwrap();
    assert!(
        groups.to_string().contains("custom.metrics.k8s.io"),
        "{}",
        t.name
    );
    let err = t
        .admin
        .request::<Value>(
            http::Request::get("/apis/custom.metrics.k8s.io/v1beta1")
                .body(vec![])
                .unwrap(),
        )
        .await
        .unwrap_err();
    // a missing Service: the aggregator's plain-text 404 page (kube reads no Status from it)
    let st = api_err(err);
    assert_eq!(
        (st.code, st.message.as_str()),
        (404, "404 page not found"),
        "{}: {st:?}",
        t.name
    );
    api.delete("v1beta1.custom.metrics.k8s.io", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_err(api.get("v1beta1.custom.metrics.k8s.io").await.unwrap_err()).code,
        404,
        "{}",
        t.name
    );
}

async fn forbidden_for_the_unprivileged_user(t: &Target) {
    let api: Api<Namespace> = Api::all(t.unprivileged.clone());
    let st = api_err(api.list(&ListParams::default()).await.unwrap_err());
    assert_eq!(
        (st.code, st.reason.as_str()),
        (403, "Forbidden"),
        "{}: {st:?}",
        t.name
    );
    assert_eq!(
        st.message,
        "namespaces is forbidden: User \"jane\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope",
        "{}",
        t.name
    );
}

async fn run_all(t: &Target) {
    list_with_pagination(t).await;
    watch_from_resource_version(t).await;
    gone_for_an_expired_resource_version(t).await;
    scale_subresource_and_dry_run(t).await;
    finalizer_patches(t).await;
    namespace_finalize(t).await;
    webhook_failure_policy_patch(t).await;
    unavailable_apiservice_and_discovery(t).await;
    forbidden_for_the_unprivileged_user(t).await;
    eprintln!(
        "conformance: every case passed against the {}",
        if t.is_real() {
            "real kube-apiserver"
        } else {
            "simulator"
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_simulator() {
    run_all(&sim_target().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_real_apiserver() {
    let Some(t) = real_target().await else { return };
    run_all(&t).await;
}
