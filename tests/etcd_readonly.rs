//! Read-only proof for etcd: every request ktriage's etcd probe sends, recorded by the servers that
//! received it, is one of the allowed read calls (status, member list, alarm GET, the quorum read,
//! the peer port's GET /members). The etcd sources that go through the Kubernetes API (etcd pods,
//! their logs, /readyz, nodes) send only requests the read-only gate allows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ktriage::etcd::access::EtcdAccess;
use ktriage::etcd::client::Request;
use ktriage::kube::gate::allowed_read_only;
use ktriage::model::etcd::EtcdMsg;
use ktriage::msg::Msg;
use serde_json::{Value, json};
use support::{FakeApi, Handler, Recorded};

/// The allow-list, spelled out independently of the client's own enum.
fn allowed(r: &Recorded) -> bool {
    matches!(
        (r.method.as_str(), r.path.as_str(), r.body.as_str()),
        ("POST", "/v3/maintenance/status", "{}")
            | ("POST", "/v3/cluster/member/list", "{}")
            | ("POST", "/v3/maintenance/alarm", r#"{"action":"GET"}"#)
            | ("POST", "/v3/kv/range", r#"{"key":"aGVhbHRo"}"#)
            | ("GET", "/members", "")
    )
}

/// A fake member answering the gateway as member `id` with member list `list`.
fn member(id: &'static str, list: Value) -> Handler {
    Arc::new(move |r: &Recorded, _st: &mut Value| match r.path.as_str() {
        "/v3/maintenance/status" => (
            200,
            json!({"header": {"cluster_id": "10691867111653563428", "member_id": id, "raft_term": "2"},
                   "version": "3.4.23", "dbSize": "20480", "leader": id, "raftIndex": "8", "raftTerm": "2",
                   "raftAppliedIndex": "8", "dbSizeInUse": "16384"}),
        ),
        "/v3/cluster/member/list" => (200, list.clone()),
        "/v3/maintenance/alarm" => (200, json!({"header": {}})),
        "/v3/kv/range" => (200, json!({"header": {}})),
        "/members" => (200, json!([])),
        _ => (404, json!({"error": "not found"})),
    })
}

#[tokio::test]
async fn the_etcd_probe_sends_only_read_calls() {
    // B never answers a status (503), so the probe also asks its peer port (B's listener too)
    let b = FakeApi::start(
        json!({}),
        Arc::new(|r: &Recorded, _: &mut Value| match r.path.as_str() {
            "/members" => (200, json!([])),
            _ => (503, json!({"error": "etcdserver: no leader", "code": 14})),
        }),
    )
    .await;
    let a_list = |a: &str| {
        json!({"header": {"cluster_id": "10691867111653563428"}, "members": [
            {"ID": "7043420851810188903", "name": "a", "peerURLs": [a], "clientURLs": [a]},
            {"ID": "17349673837713561804", "name": "b", "peerURLs": [b.url()], "clientURLs": [b.url()]}]})
    };
    // A2 (configured) lists A and B, so the probe learns both and asks B's peer port too
    let a = FakeApi::start(json!({}), member("7043420851810188903", json!({}))).await;
    let a2 = FakeApi::start(json!({}), member("7043420851810188903", a_list(&a.url()))).await;
    let access = EtcdAccess {
        endpoints: vec![a2.url()],
        client: Default::default(),
        peer: Default::default(),
        origin: "test".into(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let handle = ktriage::etcd::start(
        &access,
        Duration::from_secs(1),
        Duration::from_millis(50),
        tx,
    )
    .unwrap();
    let mut rounds = 0;
    while rounds < 2 {
        match rx.recv().await {
            Some(Msg::Etcd(m)) if matches!(*m, EtcdMsg::Round(_)) => rounds += 1,
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("the source stopped"),
        }
    }
    handle.abort();
    let all: Vec<Recorded> = [a.recorded(), a2.recorded(), b.recorded()].concat();
    for r in &all {
        assert!(
            allowed(r),
            "not an allowed etcd read: {} {} {}",
            r.method,
            r.path,
            r.body
        );
    }
    let kinds: BTreeSet<(String, String)> = all
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect();
    for req in Request::ALL {
        assert!(
            kinds.contains(&(req.method().to_string(), req.path().to_string())),
            "{req:?} was never sent: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn the_kubernetes_side_etcd_sources_pass_the_read_only_gate() {
    let api = FakeApi::start(
        json!({}),
        Arc::new(|r: &Recorded, _: &mut Value| match r.path.as_str() {
            // the heartbeat asks /readyz once /version answered
            "/version" => (200, json!({"major": "1", "minor": "33", "gitVersion": "v1.33.1"})),
            "/readyz" => (200, json!("[+]etcd ok")),
            p if p.ends_with("/log") => (200, json!("")),
            "/api/v1/namespaces/kube-system/pods" if r.query.contains("watch") => (200, json!({})),
            "/api/v1/nodes" if r.query.contains("watch") => (200, json!({})),
            "/api/v1/namespaces/kube-system/pods" => (
                200,
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                       "items": [{"metadata": {"name": "etcd-cp-1", "namespace": "kube-system"},
                                  "spec": {"containers": [{"name": "etcd"}]}}]}),
            ),
            "/api/v1/nodes" => (
                200,
                json!({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}),
            ),
            _ => (404, support::status_json(404, "NotFound", "no")),
        }),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let kc = support::write(dir.path(), "kc", &support::kubeconfig(&api.url(), "tok"));
    let setup = ktriage::kube::resolve(Some(&kc), None, None).await.unwrap();
    let ktriage::kube::KubeSetup::Ready(target) = setup else {
        panic!("not configured")
    };
    let client = ktriage::session::build_client(target.config, true).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let ctx = ktriage::kube::sources::SourceCtx {
        client,
        tx,
        namespace: None,
        api_probe: Duration::from_secs(30),
        backoff_cap: Duration::from_secs(30),
        request_timeout: Duration::from_secs(2),
        metrics_every: Duration::from_secs(10),
        crashing: ktriage::kube::sources::crash_logs::Wanted::default().subscribe(),
        acted: ktriage::kube::sources::Acted::default().subscribe(),
    };
    let handles = ktriage::kube::sources::start_all(&ctx);
    // wait until the pods, logs, readyz and nodes sources have each reported
    let (mut pods, mut logs, mut readyz, mut nodes) = (false, false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(pods && logs && readyz && nodes) {
        let m = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap()
            .unwrap();
        match m {
            Msg::Etcd(e) => match *e {
                EtcdMsg::Pods(_) => pods = true,
                EtcdMsg::Logs { .. } | EtcdMsg::LogsFailed { .. } | EtcdMsg::LogsRound => {
                    logs = true
                }
                EtcdMsg::Readyz(_) => readyz = true,
                EtcdMsg::Snapshots(_) => {}
                EtcdMsg::Round(_) | EtcdMsg::ExecRound(_) | EtcdMsg::Exec(_) => {}
            },
            Msg::Nodes(_) => nodes = true,
            Msg::SourceFailed(id, f) => {
                assert!(!f.message.contains("read-only"), "{id} was refused: {f:?}")
            }
            _ => {}
        }
    }
    for h in handles {
        h.abort();
    }
    let lines = api.lines();
    for r in api.recorded() {
        let method = http::Method::from_bytes(r.method.as_bytes()).unwrap();
        assert!(allowed_read_only(&method, &r.path), "{}", r.line());
    }
    assert!(
        lines.iter().any(|l| l.starts_with("GET /readyz?verbose")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l
            .starts_with("GET /api/v1/namespaces/kube-system/pods/etcd-cp-1/log?")
            && l.contains("timestamps=true")
            && l.contains("follow=true")
            && l.contains("tailLines=2000")),
        "{lines:?}"
    );
}
