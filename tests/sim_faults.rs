//! Faults injected through the control channel, and the request log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use support::{client, control, eventually, raw, sim, status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_fault_latency() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let ns: Api<Namespace> = Api::all(c.clone());
    control(&c, "fault", json!({"latency_ms": 300})).await;
    let t = Instant::now();
    ns.list(&ListParams::default()).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    control(&c, "reset-faults", json!({})).await;
    let t = Instant::now();
    ns.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() < Duration::from_millis(300));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_fault_error_statuses_with_retry_after() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    control(&c, "fault", json!({"error_rate": 1.0, "error_status": 503, "retry_after_seconds": 2, "path_prefix": "/api/v1/namespaces"})).await;
    let (code, headers, body) = raw(&c, "GET", "/api/v1/namespaces", "", vec![]).await;
    assert_eq!(code, 503);
    assert_eq!(headers.get("retry-after").unwrap(), "2");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["reason"], "ServiceUnavailable");
    // other paths are untouched by the prefix
    let (code, _, _) = raw(&c, "GET", "/api/v1/nodes", "", vec![]).await;
    assert_eq!(code, 200);
    control(
        &c,
        "fault",
        json!({"error_status": 429, "retry_after_seconds": 1}),
    )
    .await;
    let ns: Api<Namespace> = Api::all(c.clone());
    let s = status(ns.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    let (_, headers, _) = raw(&c, "GET", "/api/v1/namespaces", "", vec![]).await;
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    control(&c, "fault", json!({"error_status": 500})).await;
    let s = status(ns.list(&ListParams::default()).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    control(&c, "fault", json!({"error_rate": 0.0})).await;
    assert!(ns.list(&ListParams::default()).await.is_ok());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_fault_watch_drop_hang_and_forced_gone() {
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
    // dropped: the open stream ends
    let mut w = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    control(&c, "fault", json!({"drop_watches": true})).await;
    let end = tokio::time::timeout(Duration::from_secs(10), w.try_next())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_none(), "stream should end, got {end:?}");
    // forced 410 on the next watch
    control(&c, "fault", json!({"gone_watches": 1})).await;
    let mut w = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), w.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Error(e)) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {other:?}"),
    }
    // hung: the stream stays open but delivers nothing, not even its end at timeoutSeconds; after
    // reset new watches work again
    control(&c, "fault", json!({"hang_watches": true})).await;
    let mut hung = cms
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .boxed();
    let mk =
        |n: &str| serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": n}})).unwrap();
    cms.create(&PostParams::default(), &mk("during-hang"))
        .await
        .unwrap();
    control(&c, "bookmark", json!({})).await;
    // past its timeoutSeconds (1 s): neither an event nor the end of the stream
    match tokio::time::timeout(Duration::from_millis(2500), hung.try_next()).await {
        Err(_elapsed) => {}
        Ok(got) => panic!("a hung stream must stay open and silent, got {got:?}"),
    }
    control(&c, "reset-faults", json!({})).await;
    let mut ok = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match tokio::time::timeout(Duration::from_secs(10), ok.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(WatchEvent::Added(o)) => assert_eq!(o.metadata.name.as_deref(), Some("during-hang")),
        other => panic!("expected the missed ADDED, got {other:?}"),
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_fault_outage_then_recovery() {
    let h = sim("healthy").await;
    let c = client(&h).await;
    let ns: Api<Namespace> = Api::all(c.clone());
    ns.list(&ListParams::default()).await.unwrap();
    control(&c, "fault", json!({"outage_seconds": 1.0})).await;
    let e = ns.list(&ListParams::default()).await.unwrap_err();
    assert!(
        !matches!(e, kube::Error::Api(_)),
        "an outage is not an HTTP answer: {e:?}"
    );
    // the port refuses, as when nothing listens (not accepted and dropped)
    let refused = std::net::TcpStream::connect(h.addr()).unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused:?}"
    );
    // a fresh connection is refused too
    let fresh = support::client(&h).await;
    assert!(
        Api::<Namespace>::all(fresh)
            .list(&ListParams::default())
            .await
            .is_err()
    );
    eventually("recovery after the outage", || {
        let ns = ns.clone();
        async move { ns.list(&ListParams::default()).await.ok() }
    })
    .await;
    // listening again on the same port
    std::net::TcpStream::connect(h.addr()).unwrap();
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_request_log_in_memory_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let h = ktriage::sim::start(ktriage::sim::SimOptions {
        scenario: "healthy".into(),
        request_log: Some(log.clone()),
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(&h).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(c.clone(), "shop");
    pods.list(&ListParams::default().labels("app=web"))
        .await
        .unwrap();
    let _ = pods.get("missing").await.unwrap_err();
    let (code, _, text) = raw(&c, "GET", "/_sim/requests", "", vec![]).await;
    assert_eq!(code, 200);
    let entries: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let list = entries
        .iter()
        .find(|e| e["path"] == "/api/v1/namespaces/shop/pods" && e["method"] == "GET")
        .unwrap();
    assert_eq!(list["status"], 200);
    assert!(
        list["query"]
            .as_str()
            .unwrap()
            .contains("labelSelector=app%3Dweb")
    );
    assert!(list["bytes"].as_u64().unwrap() > 100);
    assert!(list["duration_ms"].as_f64().is_some());
    assert_eq!(list["user"], "admin");
    assert!(
        entries
            .iter()
            .any(|e| e["path"] == "/api/v1/namespaces/shop/pods/missing" && e["status"] == 404)
    );
    // a watch stream is logged again when it ends, with the bytes it carried
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
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
    let mk = serde_json::from_value::<ConfigMap>(json!({"metadata": {"name": "logged"}})).unwrap();
    cms.create(&PostParams::default(), &mk).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), w.try_next())
        .await
        .unwrap()
        .unwrap();
    drop(w);
    let end = eventually("the watch's stream_end entry", || {
        let c = c.clone();
        async move {
            let (_, _, text) = raw(&c, "GET", "/_sim/requests", "", vec![]).await;
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .find(|e| {
                    e["stream_end"] == true && e["path"] == "/api/v1/namespaces/default/configmaps"
                })
        }
    })
    .await;
    assert!(end["bytes"].as_u64().unwrap() > 50, "{end}");
    let file = std::fs::read_to_string(&log).unwrap();
    assert!(file.lines().count() >= 2);
    assert!(
        file.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(file.contains("/api/v1/namespaces/shop/pods/missing"));
    h.shutdown().await;
}
