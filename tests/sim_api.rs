//! The simulator through its HTTP API, with kube-rs as the client over HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;
use support::{client, control, raw, sim, status};

fn cm(name: &str, finalizers: &[&str]) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "finalizers": finalizers},
        "data": {"k": "v"},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_discovery_lists_resources_and_subresources() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let v = c.apiserver_version().await.unwrap();
    assert_eq!(v.git_version, "v1.28.9+rke2r1");
    let core = c.list_core_api_resources("v1").await.unwrap();
    let names: Vec<&str> = core.resources.iter().map(|r| r.name.as_str()).collect();
    for want in [
        "namespaces",
        "namespaces/finalize",
        "pods",
        "pods/log",
        "pods/status",
        "events",
        "nodes",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let pods = core.resources.iter().find(|r| r.name == "pods").unwrap();
    assert!(pods.namespaced);
    assert_eq!(pods.short_names.as_deref(), Some(&["po".to_string()][..]));
    let apps = c.list_api_group_resources("apps/v1").await.unwrap();
    let scale = apps
        .resources
        .iter()
        .find(|r| r.name == "deployments/scale")
        .unwrap();
    assert_eq!(scale.kind, "Scale");
    assert_eq!(scale.group.as_deref(), Some("autoscaling"));
    let groups = c.list_api_groups().await.unwrap();
    let gnames: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
    for want in [
        "apps",
        "coordination.k8s.io",
        "admissionregistration.k8s.io",
        "apiregistration.k8s.io",
        "events.k8s.io",
        "metrics.k8s.io",
    ] {
        assert!(gnames.contains(&want), "{want} missing from {gnames:?}");
    }
    let (code, _, body) = raw(&c, "GET", "/readyz?verbose", "", vec![]).await;
    assert_eq!(code, 200);
    assert!(
        body.contains("[+]etcd ok") && body.ends_with("readyz check passed\n"),
        "{body}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_list_paginates_and_filters() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let pods: Api<Pod> = Api::all(c.clone());
    let all = pods.list(&ListParams::default()).await.unwrap();
    assert!(all.items.len() > 20);
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(7);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = pods.list(&lp).await.unwrap();
        assert!(page.items.len() <= 7);
        pages += 1;
        seen.extend(page.items.into_iter().map(|p| p.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => break,
        }
    }
    assert_eq!(seen.len(), all.items.len());
    assert!(pages > 3);
    let etcd = pods
        .list(&ListParams::default().labels("component=etcd"))
        .await
        .unwrap();
    assert_eq!(etcd.items.len(), 3);
    let on_node = pods
        .list(&ListParams::default().fields("spec.nodeName=prod-cp-1,status.phase=Running"))
        .await
        .unwrap();
    assert!(
        on_node
            .items
            .iter()
            .all(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some("prod-cp-1"))
    );
    assert!(!on_node.items.is_empty());
    let ns: Api<Namespace> = Api::all(c.clone());
    let one = ns
        .list(&ListParams::default().fields("metadata.name=kube-system"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_watcher_sees_a_change_and_bookmarks_and_410() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    // kube-runtime's watcher (list + watch) sees a create.
    let mut stream = watcher(cms.clone(), watcher::Config::default()).boxed();
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, Some(watcher::Event::Init)));
    let creator = cms.clone();
    tokio::spawn(async move {
        creator
            .create(&PostParams::default(), &cm("seen", &[]))
            .await
            .unwrap();
    });
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            if let watcher::Event::Apply(o) | watcher::Event::InitApply(o) = ev
                && o.metadata.name.as_deref() == Some("seen")
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(found);

    // A raw watch gets a BOOKMARK when the control channel asks for one.
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut w = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    control(&c, "bookmark", json!({})).await;
    let ev = tokio::time::timeout(Duration::from_secs(10), w.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Bookmark(b) => assert!(
            b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
        ),
        other => panic!("expected a bookmark, got {other:?}"),
    }

    // After compaction an old resourceVersion gets 410 Gone (Expired).
    control(&c, "compact", json!({})).await;
    let mut old = cms
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    let ev = tokio::time::timeout(Duration::from_secs(10), old.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match ev {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
            assert!(
                e.message.starts_with("too old resource version: 2 ("),
                "{}",
                e.message
            );
        }
        other => panic!("expected 410, got {other:?}"),
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_patch_types_dry_run_and_conflict() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    cms.create(&PostParams::default(), &cm("p", &["a.example/x"]))
        .await
        .unwrap();
    let pp = PatchParams::default();
    // merge patch replaces the list
    let o = cms
        .patch(
            "p",
            &pp,
            &Patch::Merge(json!({"metadata": {"finalizers": ["b.example/y"]}})),
        )
        .await
        .unwrap();
    assert_eq!(o.metadata.finalizers.unwrap(), vec!["b.example/y"]);
    // strategic merge patch merges metadata.finalizers as a set
    let o = cms
        .patch(
            "p",
            &pp,
            &Patch::Strategic(json!({"metadata": {"finalizers": ["c.example/z", "b.example/y"]}})),
        )
        .await
        .unwrap();
    // the patch's items first, then the original's others (as the real server orders them)
    assert_eq!(
        o.metadata.finalizers.clone().unwrap(),
        vec!["c.example/z", "b.example/y"]
    );
    // json patch with a passing test
    let rv = o.metadata.resource_version.clone().unwrap();
    let ok: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "remove", "path": "/metadata/finalizers/0"}]))
    .unwrap();
    let o = cms.patch("p", &pp, &Patch::Json::<()>(ok)).await.unwrap();
    assert_eq!(o.metadata.finalizers.clone().unwrap(), vec!["b.example/y"]);
    // json patch with a failing test: 422 Invalid, nothing changes
    let stale: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "remove", "path": "/metadata/finalizers"}]))
    .unwrap();
    let s = status(
        cms.patch("p", &pp, &Patch::Json::<()>(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        s.message,
        "the server rejected our request due to an error in our request"
    );
    assert_eq!(
        cms.get("p").await.unwrap().metadata.finalizers.unwrap(),
        vec!["b.example/y"]
    );
    // server-side apply records its field manager
    let applied = cms
        .patch("p", &PatchParams::apply("ktriage-test"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"applied": "yes"}})))
        .await
        .unwrap();
    assert_eq!(applied.data.as_ref().unwrap()["applied"], "yes");
    let mf = applied.metadata.managed_fields.unwrap();
    assert!(
        mf.iter()
            .any(|m| m.manager.as_deref() == Some("ktriage-test")
                && m.operation.as_deref() == Some("Apply"))
    );
    // applying again without `applied` removes it (it was this manager's); other data stays
    let again = cms
        .patch("p", &PatchParams::apply("ktriage-test"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "p"}, "data": {"other": "x"}})))
        .await
        .unwrap();
    let data = again.data.unwrap();
    assert!(
        !data.contains_key("applied") && data["other"] == "x" && data["k"] == "v",
        "{data:?}"
    );
    // dry run: answered, nothing stored
    let dry = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &cm("dry", &[]),
        )
        .await
        .unwrap();
    assert_eq!(dry.metadata.name.as_deref(), Some("dry"));
    assert_eq!(status(cms.get("dry").await.unwrap_err()).code, 404);
    cms.patch(
        "p",
        &PatchParams::default().dry_run(),
        &Patch::Merge(json!({"data": {"k": "dry"}})),
    )
    .await
    .unwrap();
    assert_eq!(cms.get("p").await.unwrap().data.unwrap()["k"], "v");
    cms.delete(
        "p",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(cms.get("p").await.is_ok());
    // update with a stale resourceVersion: 409 Conflict; create twice: AlreadyExists; missing: NotFound
    let mut stale_obj = cms.get("p").await.unwrap();
    stale_obj.metadata.resource_version = Some("3".into());
    let s = status(
        cms.replace("p", &PostParams::default(), &stale_obj)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(s.message.starts_with(
        "Operation cannot be fulfilled on configmaps \"p\": the object has been modified"
    ));
    let s = status(
        cms.create(&PostParams::default(), &cm("p", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (409, "AlreadyExists", "configmaps \"p\" already exists")
    );
    let ns: Api<Namespace> = Api::all(c.clone());
    let s = status(ns.get("nope").await.unwrap_err());
    assert_eq!(
        (s.code, s.message.as_str()),
        (404, "namespaces \"nope\" not found")
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_scale_subresource_and_delete_with_finalizers() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let deps: Api<Deployment> = Api::namespaced(c.clone(), "shop");
    let s = deps.get_scale("shop-web").await.unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(3));
    deps.patch_scale(
        "shop-web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    let d = deps.get("shop-web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(5));
    assert_eq!(d.status.unwrap().replicas, Some(5));
    let mut s = deps.get_scale("shop-web").await.unwrap();
    s.spec.as_mut().unwrap().replicas = Some(0);
    let s = deps
        .replace_scale("shop-web", &PostParams::default(), &s)
        .await
        .unwrap();
    // autoscaling/v1 `replicas` is omitempty: 0 is an absent field, as on a real server
    assert_eq!(s.spec.unwrap().replicas.unwrap_or(0), 0);
    // the ReplicaSet controller ran with the write: no pods left, status follows
    let pods: Api<Pod> = Api::namespaced(c.clone(), "shop");
    assert!(
        pods.list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        deps.get("shop-web").await.unwrap().status.unwrap().replicas,
        Some(0)
    );

    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    cms.create(&PostParams::default(), &cm("held", &["example.com/hold"]))
        .await
        .unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap_or_default();
    assert_eq!(status(cms.get("held").await.unwrap_err()).code, 404);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_watcher_streaming_lists_initial_events() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(c.clone());
    let mut stream = watcher(nodes, watcher::Config::default().streaming_lists()).boxed();
    let mut seen = 0;
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            match ev {
                watcher::Event::InitApply(_) => seen += 1,
                watcher::Event::InitDone => return true,
                _ => {}
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(done);
    assert_eq!(seen, 6);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_filtered_watch_sees_objects_enter_and_leave() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut w = cms
        .watch(&WatchParams::default().labels("tier=gold"), &rv)
        .await
        .unwrap()
        .boxed();
    let mk: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "w", "labels": {"tier": "silver"}}}))
            .unwrap();
    cms.create(&PostParams::default(), &mk).await.unwrap();
    let relabel = |t: &str| Patch::Merge(json!({"metadata": {"labels": {"tier": t}}}));
    cms.patch("w", &PatchParams::default(), &relabel("gold"))
        .await
        .unwrap();
    cms.patch("w", &PatchParams::default(), &relabel("bronze"))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), w.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, ["ADDED", "DELETED"]);
    h.shutdown().await;
}
