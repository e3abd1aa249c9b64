//! Reliability of the API sources (issue 12): hung watches are restarted, 429 honours
//! `Retry-After`, 5xx backs off, and a partly forbidden user gets panes that say which access they
//! need while the rest works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "reliability/harness.rs"]
mod harness;
mod support;

use std::time::Duration;

use chrono::Utc;
use harness::{Harness, screen};
use k8s_openapi::api::core::v1::Namespace;
use ktriage::kube::sources::run_watch;
use ktriage::model::namespaces::NsRow;
use ktriage::model::{Delta, FailureKind, SourceId, SourceState};
use ktriage::msg::Msg;
use ktriage::update::update;
use kube::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};
use support::{control, eventually, raw, sim};
use tokio::sync::mpsc;

fn row(ns: Namespace) -> NsRow {
    NsRow {
        name: ns.metadata.name.unwrap_or_default(),
        phase: "Active".into(),
        created: None,
        deleting_since: None,
        spec_finalizers: vec![],
        meta_finalizers: vec![],
        ..NsRow::default()
    }
}

async fn requests(c: &kube::Client, path: &str) -> Vec<Value> {
    let (_, _, text) = raw(c, "GET", "/_sim/requests", "", vec![]).await;
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["path"] == path && e["stream_end"].is_null())
        .collect()
}

fn is_watch(e: &Value) -> bool {
    e["query"].as_str().unwrap_or("").contains("watch=true")
}

async fn ktriage_client(h: &ktriage::sim::SimHandle) -> kube::Client {
    ktriage::session::build_client(h.kube_config("admin").await.unwrap(), true).unwrap()
}

/// A hung watch (the server sends nothing and never closes it, not even at `timeoutSeconds`) is
/// noticed by ktriage itself: dropped and re-watched from its resourceVersion within the stated
/// bound, `timeoutSeconds` + kube-runtime's 5 s margin (60 s in production; 2 + 5 = 7 s here, the
/// same code path), and what it missed arrives once the server answers again, without a re-list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_watch_is_restarted_and_delivers_what_it_missed() {
    use ktriage::kube::sources::{
        HUNG_WATCH_BOUND_SECS, WATCH_IDLE_MARGIN_SECS, WATCH_TIMEOUT_SECS,
    };
    const TIMEOUT: u32 = 2;
    const { assert!(HUNG_WATCH_BOUND_SECS == 60 && WATCH_TIMEOUT_SECS > TIMEOUT) };
    let bound = Duration::from_secs(u64::from(TIMEOUT + WATCH_IDLE_MARGIN_SECS));
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    let api: Api<Namespace> = Api::all(ktriage_client(&h).await);
    let (tx, mut rx) = mpsc::channel(256);
    let task = tokio::spawn(run_watch(
        api,
        watcher::Config::default().timeout(TIMEOUT),
        SourceId::Namespaces,
        tx,
        row,
        |ns: &Namespace| ns.metadata.name.clone().unwrap_or_default(),
        Msg::Namespaces,
    ));
    loop {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Msg::Namespaces(Delta::InitDone))) => break,
            Ok(Some(_)) => {}
            other => panic!("no initial sync: {other:?}"),
        }
    }
    raw(&admin, "DELETE", "/_sim/requests", "", vec![]).await;
    control(&admin, "fault", json!({"hang_watches": true})).await;
    let hung_at = std::time::Instant::now();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "during-hang"}});
    control(&admin, "apply", ns).await;
    // the watch open when the hang began: the server never ends it; ktriage drops it at the bound
    let ended = loop {
        let (_, _, text) = raw(&admin, "GET", "/_sim/requests", "", vec![]).await;
        let end = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|e| e["path"] == "/api/v1/namespaces" && is_watch(e) && e["stream_end"] == true);
        if let Some(e) = end {
            break e;
        }
        assert!(
            hung_at.elapsed() < bound + Duration::from_secs(3),
            "the hung watch was not dropped within {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let noticed = hung_at.elapsed();
    let lasted = Duration::from_secs_f64(ended["duration_ms"].as_f64().unwrap() / 1000.0);
    eprintln!(
        "hung watch: lasted {lasted:?} (server timeout {TIMEOUT} s), dropped {noticed:?} after the hang began; bound {bound:?}"
    );
    // silent past the server's own timeout: it was the client that gave up, at the bound
    assert!(
        lasted >= bound - Duration::from_millis(500),
        "the server closed the hung watch after {lasted:?}: not hung"
    );
    assert!(noticed <= bound + Duration::from_secs(2), "{noticed:?}");
    // ... and re-watched at once
    let rewatch = requests(&admin, "/api/v1/namespaces")
        .await
        .iter()
        .filter(|e| is_watch(e))
        .count();
    assert!(rewatch >= 1, "no re-watch after dropping the hung one");
    control(&admin, "fault", json!({"hang_watches": false})).await;
    // the watch opened during the hang is hung too; the next one (within the bound) delivers
    let got = tokio::time::timeout(bound + Duration::from_secs(3), async {
        while let Some(m) = rx.recv().await {
            if let Msg::Namespaces(Delta::Apply(r)) = m
                && r.name == "during-hang"
            {
                return r;
            }
        }
        panic!("watch ended")
    })
    .await
    .expect("the event missed during the hang arrives after a restart");
    assert_eq!(got.name, "during-hang");
    // restarted from the kept resourceVersion: no re-list
    let lists = requests(&admin, "/api/v1/namespaces").await;
    assert!(lists.iter().all(is_watch), "{lists:?}");
    task.abort();
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_waits_for_retry_after() {
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    let c = ktriage_client(&h).await;
    control(
        &admin,
        "fault",
        json!({"error_rate": 1.0, "error_status": 429, "retry_after_seconds": 1, "path_prefix": "/version"}),
    )
    .await;
    let call = tokio::spawn(async move { c.apiserver_version().await });
    let answered = eventually("three 429 answers", || {
        let admin = admin.clone();
        async move {
            let r = requests(&admin, "/version").await;
            (r.len() >= 3).then_some(r)
        }
    })
    .await;
    let ts: Vec<i64> = answered
        .iter()
        .map(|e| e["ts_ms"].as_i64().unwrap())
        .collect();
    for w in ts.windows(2) {
        assert!(
            w[1] - w[0] >= 950,
            "a retry came sooner than Retry-After: {ts:?}"
        );
    }
    assert!(answered.iter().all(|e| e["status"] == 429));
    control(&admin, "reset-faults", json!({})).await;
    let v = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap();
    assert!(v.is_ok(), "{v:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_back_off_exponentially() {
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    control(
        &admin,
        "fault",
        json!({"error_rate": 1.0, "error_status": 500, "path_prefix": "/api/v1/namespaces"}),
    )
    .await;
    let api: Api<Namespace> = Api::all(ktriage_client(&h).await);
    let (tx, mut rx) = mpsc::channel(256);
    let task = tokio::spawn(run_watch(
        api,
        watcher::Config::default(),
        SourceId::Namespaces,
        tx,
        row,
        |ns: &Namespace| ns.metadata.name.clone().unwrap_or_default(),
        Msg::Namespaces,
    ));
    let failed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match rx.recv().await {
                Some(Msg::SourceFailed(id, f)) => return (id, f),
                Some(_) => {}
                None => panic!("source ended"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(failed.0, SourceId::Namespaces);
    assert_eq!(failed.1.kind, FailureKind::Error);
    assert!(failed.1.message.starts_with("500"), "{:?}", failed.1);
    let tries = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let r = requests(&admin, "/api/v1/namespaces").await;
            if r.len() >= 5 {
                return r;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        }
    })
    .await
    .expect("five attempts");
    let ts: Vec<i64> = tries.iter().map(|e| e["ts_ms"].as_i64().unwrap()).collect();
    let gaps: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    eprintln!("gaps between attempts under 500s (ms): {gaps:?}");
    // never a tight loop, and growing: the last gap is at least twice the first
    assert!(gaps.iter().all(|g| *g >= 300), "{gaps:?}");
    assert!(gaps[3] >= 2 * gaps[0], "{gaps:?}");
    task.abort();
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_panes_say_what_they_need_and_the_rest_works() {
    let h = sim("healthy").await;
    let mut app = Harness::start(&h, "jane").await;
    let forbidden = |s: &SourceState| matches!(s, SourceState::Failed { failure, .. } if failure.kind == FailureKind::Forbidden);
    app.until(
        "namespaces, nodes and etcd pods forbidden, the API up",
        Duration::from_secs(20),
        |m| {
            forbidden(&m.namespaces.state)
                && forbidden(&m.nodes.state)
                && forbidden(&m.etcd.pods_state)
                && m.api.state.is_ok()
        },
    )
    .await;
    let msg = |s: &SourceState| s.error_text().unwrap_or("").to_string();
    let m = &app.model;
    assert!(
        msg(&m.namespaces.state).starts_with("needs list namespaces in the cluster (403 Forbidden"),
        "{:?}",
        m.namespaces.state
    );
    assert!(
        msg(&m.nodes.state).starts_with("needs list nodes in the cluster"),
        "{:?}",
        m.nodes.state
    );
    assert!(
        msg(&m.etcd.pods_state).starts_with("needs list pods in namespace kube-system"),
        "{:?}",
        m.etcd.pods_state
    );
    let mut shown = app.model.clone();
    update(&mut shown, Msg::Resize(120, 40), Utc::now());
    let text = screen(&shown, 120, 40);
    assert!(text.contains("forbidden"), "{text}");
    assert!(text.contains("API ok"), "{text}");
    h.shutdown().await;
}
