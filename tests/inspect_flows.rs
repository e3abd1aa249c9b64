//! The Inspect flows through `update` with a model fed by the real source row functions from the
//! simulator's `crashloop` story: filter, logs view (previous, copy the kubectl command), restart
//! proposal; the log buffer's bound under a fast stream; the view source task against the simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use crossterm::event::{KeyCode, KeyEvent};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use ktriage::kube::sources::view::{ViewRequest, ViewTask, pump};
use ktriage::model::view::LOG_CAP;
use ktriage::model::{Delta, Model, PaneId};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::update::{Effect, update};
use kube::Api;
use kube::api::ListParams;
use support::model::t0;

fn key(m: &mut Model, code: KeyCode) -> Vec<Effect> {
    update(m, Msg::Key(KeyEvent::from(code)), t0())
}

fn chars(m: &mut Model, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| key(m, KeyCode::Char(c))).collect()
}

async fn crashloop_model(read_only: bool) -> (Model, ktriage::sim::SimHandle) {
    let h = support::sim("crashloop").await;
    let c = support::client(&h).await;
    let mut m = support::model::model(read_only);
    let now = t0();
    m.top.apply_replicasets(Delta::Init);
    for rs in Api::<ReplicaSet>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
    {
        m.top
            .apply_replicasets(Delta::InitApply(ktriage::kube::sources::top::rs_row(rs)));
    }
    m.top.apply_replicasets(Delta::InitDone);
    m.top.apply_pods(Delta::Init, now);
    for p in Api::<Pod>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
    {
        m.top.apply_pods(
            Delta::InitApply(ktriage::kube::sources::top::pod_row(p)),
            now,
        );
    }
    m.top.apply_pods(Delta::InitDone, now);
    (m, h)
}

#[tokio::test]
async fn find_the_crashloop_read_previous_logs_copy_kubectl_and_propose_the_restart() {
    let (mut m, _h) = crashloop_model(false).await;
    chars(&mut m, "5");
    assert_eq!(m.ui.active, PaneId::Top);
    let all = m.top.row_count();
    // `/` filters the table; the filter is in the title
    chars(&mut m, "/crashloop");
    key(&mut m, KeyCode::Enter);
    let rows = m.top.rows();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.status == "CrashLoopBackOff"));
    assert_eq!(m.top.filter.title("Top"), "Top · /crashloop");
    // `!` negates
    m.top.filter.text = "!crashloop".into();
    assert_eq!(m.top.rows().len(), all - 2);
    m.top.filter.text = "crashloop".into();
    let pod = rows[0].name.clone();
    // logs of the selected pod, then its previous run
    let fx = chars(&mut m, "l");
    assert!(
        matches!(
            &fx[..],
            [Effect::View(ViewRequest::Logs {
                previous: false,
                follow: true,
                ..
            })]
        ),
        "{fx:?}"
    );
    let fx = chars(&mut m, "p");
    let [
        Effect::View(ViewRequest::Logs {
            id,
            previous: true,
            pod: p,
            ..
        }),
    ] = &fx[..]
    else {
        panic!("{fx:?}")
    };
    assert_eq!(p, &pod);
    // lines of an older stream are ignored; this stream's are kept
    update(
        &mut m,
        Msg::ViewLines {
            id: id - 1,
            lines: vec!["stale".into()],
        },
        t0(),
    );
    update(
        &mut m,
        Msg::ViewLines {
            id: *id,
            lines: vec!["F1129 main.go:214] x509: certificate signed by unknown authority".into()],
        },
        t0(),
    );
    let v = m.view.as_ref().unwrap();
    assert_eq!(v.lines.iter().cloned().collect::<Vec<_>>().len(), 1);
    // copy the kubectl equivalent (OSC 52 effect)
    let fx = chars(&mut m, "y");
    assert_eq!(
        fx,
        vec![Effect::Copy(format!(
            "kubectl --context rke2-prod-east -n kube-system logs {pod} --previous --tail=500"
        ))]
    );
    // esc closes the view and stops its stream
    let fx = key(&mut m, KeyCode::Esc);
    assert_eq!(fx, vec![Effect::View(ViewRequest::Stop)]);
    assert!(m.view.is_none());
    // so does leaving the pane
    chars(&mut m, "d");
    assert!(m.view.is_some());
    let fx = chars(&mut m, "4");
    assert_eq!(fx, vec![Effect::View(ViewRequest::Stop)]);
    assert!(m.view.is_none());
    assert_eq!(m.ui.active, PaneId::Events);
    chars(&mut m, "5");
    // restart its Deployment: the dialog, then the executor effect
    chars(&mut m, "R");
    let d = m.dialog.as_ref().expect("confirm dialog");
    let Mutation::RolloutRestart {
        kind,
        namespace,
        name,
        ..
    } = &d.mutation
    else {
        panic!("{:?}", d.mutation)
    };
    assert_eq!(
        (kind.as_str(), namespace.as_str()),
        ("Deployment", "kube-system")
    );
    assert_eq!(
        d.mutation.kubectl(None),
        format!("kubectl -n kube-system rollout restart deployment/{name}")
    );
    let fx = chars(&mut m, "c");
    assert_eq!(fx, vec![Effect::Copy(d_kubectl(&m))]);
    let fx = key(&mut m, KeyCode::Enter);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Execute(Mutation::RolloutRestart { .. }))),
        "{fx:?}"
    );
}

fn d_kubectl(m: &Model) -> String {
    m.dialog
        .as_ref()
        .map(|d| d.mutation.kubectl(m.cluster.context.as_deref()))
        .unwrap_or_default()
}

#[tokio::test]
async fn clean_evicted_and_drain_dialogs_show_counts_and_lists() {
    let h = support::sim("runaway-app").await;
    let c = support::client(&h).await;
    let mut m = support::model::model(false);
    m.top.apply_pods(Delta::Init, t0());
    for p in Api::<Pod>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
    {
        m.top.apply_pods(
            Delta::InitApply(ktriage::kube::sources::top::pod_row(p)),
            t0(),
        );
    }
    m.top.apply_pods(Delta::InitDone, t0());
    let failed = m.top.pods.iter().filter(|p| p.phase == "Failed").count();
    chars(&mut m, "5");
    chars(&mut m, "E");
    let d = m.dialog.clone().expect("dialog");
    let Mutation::DeletePods {
        namespace: None,
        pods,
    } = &d.mutation
    else {
        panic!("{:?}", d.mutation)
    };
    assert_eq!(pods.len(), failed);
    let current = d.current.unwrap();
    assert!(
        current.starts_with(&format!("{failed} pod(s): ")),
        "{current}"
    );
    assert!(current.contains("(Evicted)"), "{current}");
    key(&mut m, KeyCode::Esc);
    chars(&mut m, "D");
    let d = m.dialog.clone().expect("dialog");
    assert!(matches!(d.mutation, Mutation::Drain { .. }));
    assert!(d.current.unwrap().contains("DaemonSet"));
}

#[tokio::test]
async fn read_only_refuses_the_actions_but_keeps_the_views() {
    let (mut m, _h) = crashloop_model(true).await;
    chars(&mut m, "5");
    for k in ["R", "x", "e", "E", "c", "D"] {
        let fx = chars(&mut m, k);
        assert!(fx.is_empty(), "{k}: {fx:?}");
        assert!(m.dialog.is_none(), "{k}");
        assert!(m.notice.as_ref().unwrap().text.contains("read-only"), "{k}");
    }
    // reading is allowed: the logs view opens, and its kubectl command is what an auditor hands over
    let fx = chars(&mut m, "l");
    assert!(matches!(&fx[..], [Effect::View(ViewRequest::Logs { .. })]));
}

#[tokio::test]
async fn a_fast_log_stream_stays_within_the_ring_cap() {
    const N: usize = 200_000;
    let mut m = support::model::model(false);
    m.view = Some(ktriage::model::view::PodView::new(
        ktriage::model::view::ViewKind::Logs,
        7,
        "ns",
        "chatty",
        vec!["c".into()],
    ));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(1024);
    let lines = futures::stream::iter((0..N).map(|i| Ok(format!("line {i}"))));
    let producer = tokio::spawn(async move { pump(7, lines, &tx).await });
    let mut batches = 0;
    let mut max_batch = 0;
    while let Some(msg) = rx.recv().await {
        if let Msg::ViewLines { lines, .. } = &msg {
            max_batch = max_batch.max(lines.len());
        }
        batches += 1;
        update(&mut m, msg, t0());
        let v = m.view.as_ref().unwrap();
        assert!(v.lines.len() <= LOG_CAP);
    }
    assert_eq!(producer.await.unwrap(), None);
    let v = m.view.as_ref().unwrap();
    assert_eq!(v.lines.len(), LOG_CAP);
    assert_eq!(v.lines.dropped, (N - LOG_CAP) as u64);
    assert_eq!(v.lines.iter().last().unwrap(), &format!("line {}", N - 1));
    assert!(max_batch <= 500, "{max_batch}");
    assert!(batches >= N / 500);
}

#[tokio::test]
async fn the_view_task_streams_previous_logs_from_the_simulator() {
    let h = support::sim("crashloop").await;
    let c = support::client(&h).await;
    let pod = Api::<Pod>::namespaced(c.clone(), "kube-system")
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|p| {
            ktriage::kube::sources::top::pod_row(p.clone())
                .crashlooping()
                .is_some()
        })
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(16);
    let mut task = ViewTask::default();
    task.start(
        ViewRequest::Logs {
            id: 3,
            namespace: "kube-system".into(),
            pod: pod.metadata.name.clone().unwrap(),
            container: None,
            previous: true,
            follow: false,
            tail: 500,
        },
        Some(c.clone()),
        tx,
    );
    let mut got = Vec::new();
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::ViewLines { id: 3, lines } => got.extend(lines),
            Msg::ViewEnded { id: 3, error } => {
                assert_eq!(error, None);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        got.iter()
            .any(|l| l.contains("x509: certificate signed by unknown authority")),
        "{got:?}"
    );
}

#[test]
fn leaders_table_has_the_same_slash_filter_and_rules_ignore_it() {
    let mut m = support::panes::story("reports", "report-builder", "prod-worker-2");
    chars(&mut m, "3");
    let all = m.row_count(PaneId::Leaders);
    let findings = ktriage::diagnose::evaluate(&m, t0()).len();
    chars(&mut m, "/kube-scheduler");
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.row_count(PaneId::Leaders), 1);
    assert_eq!(
        m.leaders.filter.title("Leaders"),
        "Leaders · /kube-scheduler"
    );
    chars(&mut m, "/");
    key(&mut m, KeyCode::Esc);
    assert_eq!(m.row_count(PaneId::Leaders), all);
    m.leaders.filter.text = "!kube-scheduler".into();
    assert_eq!(m.row_count(PaneId::Leaders), all - 1);
    // a display filter never hides a finding
    assert_eq!(ktriage::diagnose::evaluate(&m, t0()).len(), findings);
}

#[test]
fn pod_pending_names_the_scheduler_message_or_the_waiting_reason() {
    let mut m = support::model::model(false);
    let pods = [
        serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "big-0", "namespace": "batch", "uid": "u0"},
            "spec": {"containers": [{"name": "job", "image": "job:1"}]},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": "0/6 nodes are available: 3 Insufficient memory."}]}}),
        serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "img-0", "namespace": "batch", "uid": "u1"},
            "spec": {"nodeName": "w1", "containers": [{"name": "app", "image": "typo:1"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "image": "typo:1", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"typo:1\""}}}]}}),
    ];
    m.top.apply_pods(Delta::Init, t0());
    for p in pods {
        let p: Pod = serde_json::from_value(p).unwrap();
        m.top.apply_pods(
            Delta::InitApply(ktriage::kube::sources::top::pod_row(p)),
            t0(),
        );
    }
    m.top.apply_pods(Delta::InitDone, t0());
    let f = ktriage::diagnose::evaluate(&m, t0());
    let pending: Vec<_> = f.iter().filter(|f| f.id == "pod-pending").collect();
    assert_eq!(pending.len(), 2, "{pending:?}");
    let big = pending
        .iter()
        .find(|f| f.key == "pod-pending/Pod/batch/big-0")
        .unwrap();
    assert_eq!(big.severity, ktriage::diagnose::Severity::Warning);
    assert!(
        big.title
            .contains("Unschedulable: 0/6 nodes are available: 3 Insufficient memory."),
        "{}",
        big.title
    );
    let img = pending
        .iter()
        .find(|f| f.key == "pod-pending/Pod/batch/img-0")
        .unwrap();
    assert!(
        img.title.contains("container app: ImagePullBackOff"),
        "{}",
        img.title
    );
    assert!(!f.iter().any(|f| f.id == "pod-crashloop"));
}

#[test]
fn namespaces_and_webhooks_tables_filter_and_actions_follow_the_shown_rows() {
    // Namespaces: the filtered row is the one an action addresses
    let mut m = support::model::stuck(false);
    chars(&mut m, "6");
    let all = m.row_count(PaneId::Namespaces);
    let terminating: Vec<String> = m
        .namespaces
        .store
        .iter()
        .filter(|n| n.phase == "Terminating")
        .map(|n| n.name.clone())
        .collect();
    assert!(!terminating.is_empty() && terminating.len() < all);
    chars(&mut m, "/terminating");
    key(&mut m, KeyCode::Enter);
    assert_eq!(m.row_count(PaneId::Namespaces), terminating.len());
    assert_eq!(
        m.namespaces.filter.title("Namespaces"),
        "Namespaces · /terminating"
    );
    assert_eq!(m.namespaces.at(0).unwrap().name, terminating[0]);
    let findings = ktriage::diagnose::evaluate(&m, t0()).len();
    m.namespaces.filter.text = "!terminating".into();
    assert_eq!(m.row_count(PaneId::Namespaces), all - terminating.len());
    assert_eq!(ktriage::diagnose::evaluate(&m, t0()).len(), findings);
    // Webhooks
    let mut m = support::model::gatekeeper(false);
    chars(&mut m, "7");
    let all = m.row_count(PaneId::Webhooks);
    assert!(all >= 1);
    let (c, _, w) = m
        .webhooks
        .rows()
        .last()
        .map(|(c, i, w)| (c.name.clone(), i, w.name.clone()))
        .unwrap();
    chars(&mut m, "/");
    chars(&mut m, &w);
    key(&mut m, KeyCode::Enter);
    assert!(m.row_count(PaneId::Webhooks) >= 1);
    let shown: Vec<String> = m
        .webhooks
        .shown()
        .iter()
        .map(|(cfg, _, x)| {
            assert!(x.name.contains(&w) || cfg.name.contains(&w) || c.contains(&w));
            x.name.clone()
        })
        .collect();
    // the toggle addresses the shown (filtered) row
    chars(&mut m, "f");
    if let Some(d) = &m.dialog {
        let ktriage::mutation::Mutation::SetFailurePolicy { webhook, .. } = &d.mutation else {
            panic!("{:?}", d.mutation)
        };
        assert_eq!(webhook, &shown[0]);
    }
}
