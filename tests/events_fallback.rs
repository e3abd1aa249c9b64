//! Where `events.k8s.io/v1` is not served (404), the Events source falls back to core/v1 events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;
use std::time::Duration;

use ktriage::model::{Delta, SourceId};
use ktriage::msg::Msg;
use serde_json::{Value, json};
use support::{FakeApi, Recorded};

#[tokio::test]
async fn core_v1_events_when_events_k8s_io_is_not_served() {
    let handler = Arc::new(|r: &Recorded, _st: &mut Value| {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/api/v1/events") if !r.query.contains("watch=true") => (
                200,
                json!({"apiVersion": "v1", "kind": "EventList", "metadata": {"resourceVersion": "5"}, "items": [
                    {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "p.1", "namespace": "shop"},
                     "involvedObject": {"kind": "Pod", "name": "p", "namespace": "shop"},
                     "reason": "Evicted", "type": "Warning", "count": 2, "message": "low on memory",
                     "firstTimestamp": "2026-11-29T09:59:00Z", "lastTimestamp": "2026-11-29T09:59:50Z",
                     "source": {"component": "kubelet", "host": "w2"}}
                ]}),
            ),
            _ => (
                404,
                support::status_json(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            ),
        }
    });
    let api = FakeApi::start(json!({}), handler).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = support::write(dir.path(), "kc", &support::kubeconfig(&api.url(), "t"));
    let setup = ktriage::kube::resolve(Some(&kc), None, None).await.unwrap();
    let ktriage::kube::KubeSetup::Ready(target) = setup else {
        panic!("not configured")
    };
    let client = ktriage::session::build_client(target.config, false).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let ctx = ktriage::kube::sources::SourceCtx {
        client,
        tx,
        namespace: None,
        api_probe: Duration::from_secs(30),
        backoff_cap: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        metrics_every: Duration::from_secs(10),
        crashing: ktriage::kube::sources::crash_logs::Wanted::default().subscribe(),
        acted: ktriage::kube::sources::Acted::default().subscribe(),
    };
    let task = tokio::spawn(ktriage::kube::sources::events::run(ctx));
    let mut api_used = None;
    let mut row = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while row.is_none() {
        match tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap()
            .unwrap()
        {
            Msg::EventsApi(a) => api_used = Some(a),
            Msg::Events(Delta::InitApply(r)) => row = Some(r),
            Msg::SourceFailed(SourceId::Events, _) | Msg::Events(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    task.abort();
    assert_eq!(api_used.as_deref(), Some("v1"));
    let r = row.unwrap();
    assert_eq!(
        (r.reason.as_str(), r.node.as_str(), r.count),
        ("Evicted", "w2", 2)
    );
    assert!(r.is_eviction() && r.warning);
    let lines = api.lines();
    assert!(
        lines[0].starts_with("GET /apis/events.k8s.io/v1/events"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("GET /api/v1/events")),
        "{lines:?}"
    );
}
