//! The action machinery around the Top pane: scale proposal, replica editing, OSC 52 copy, undo,
//! read-only refusal, production typed name, and unfinished intents after a crash.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, Outcome, OutcomeResult};
use ktriage::model::{Model, PaneId};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::update::{Effect, update};
use serde_json::json;
use support::model::t0;
use support::panes::story;

fn key(m: &mut Model, code: KeyCode) -> Vec<Effect> {
    update(m, Msg::Key(KeyEvent::from(code)), t0())
}

fn chars(m: &mut Model, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| key(m, KeyCode::Char(c))).collect()
}

fn scale(replicas: i32) -> Mutation {
    Mutation::Scale {
        kind: "Deployment".into(),
        namespace: "app".into(),
        name: "hog".into(),
        replicas,
    }
}

#[test]
fn three_keys_from_the_storm_to_a_confirmed_scale() {
    let mut m = story("app", "hog", "w2");
    // from the Overview, the storm is the first (critical) finding: t jumps, s proposes
    assert_eq!(m.findings[0].id, "eviction-storm");
    assert!(chars(&mut m, "ts").is_empty());
    assert_eq!(m.ui.active, PaneId::Top);
    assert_eq!(m.dialog.as_ref().unwrap().mutation, scale(0));
    assert_eq!(
        m.dialog.as_ref().unwrap().current.as_deref(),
        Some("2 pod(s) running")
    );
    // replicas are editable
    key(&mut m, KeyCode::Up);
    key(&mut m, KeyCode::Up);
    key(&mut m, KeyCode::Down);
    assert_eq!(m.dialog.as_ref().unwrap().mutation, scale(1));
    key(&mut m, KeyCode::Down);
    key(&mut m, KeyCode::Down);
    assert_eq!(m.dialog.as_ref().unwrap().mutation, scale(0));
    // c copies the kubectl command through OSC 52
    let fx = chars(&mut m, "c");
    let cmd = "kubectl --context rke2-prod-east -n app scale deployment/hog --replicas=0";
    assert_eq!(fx, vec![Effect::Copy(cmd.into())]);
    assert_eq!(
        ktriage::app::osc52("ab"),
        "\u{1b}]52;c;YWI=\u{7}",
        "OSC 52 with base64 text"
    );
    assert_eq!(chars(&mut m, "y"), vec![Effect::Execute(scale(0))]);
    assert!(m.dialog.is_none());
}

fn applied(m: &Mutation, before: i32) -> Outcome {
    Outcome {
        id: "20261129T100000Z-00000001".into(),
        mutation: m.clone(),
        result: OutcomeResult::Applied,
        stage: "verify",
        error: None,
        before: Some(json!({"replicas": before})),
        after: Some(json!({"replicas": 0})),
        side_effects: vec![],
    }
}

#[test]
fn undo_proposes_the_journal_before() {
    let mut m = story("app", "hog", "w2");
    assert!(chars(&mut m, "u").is_empty());
    assert!(m.dialog.is_none(), "nothing to undo yet");
    update(
        &mut m,
        Msg::ActionDone(Box::new(applied(&scale(0), 4))),
        t0(),
    );
    assert!(chars(&mut m, "u").is_empty());
    let d = m.dialog.as_ref().unwrap();
    assert_eq!(d.mutation, scale(4));
    assert!(d.current.as_deref().unwrap().contains("0 replicas"));
    assert_eq!(chars(&mut m, "y"), vec![Effect::Execute(scale(4))]);
    // a rejected action is not undoable
    let mut m = story("app", "hog", "w2");
    let mut o = applied(&scale(0), 4);
    o.result = OutcomeResult::Rejected;
    update(&mut m, Msg::ActionDone(Box::new(o)), t0());
    chars(&mut m, "u");
    assert!(m.dialog.is_none());
}

#[test]
fn read_only_reaches_neither_scale_nor_undo() {
    let mut m = story("app", "hog", "w2");
    m.cluster.read_only = true;
    update(
        &mut m,
        Msg::ActionDone(Box::new(applied(&scale(0), 4))),
        t0(),
    );
    for k in ["ts", "u"] {
        assert!(chars(&mut m, k).is_empty());
        assert!(m.dialog.is_none());
        assert!(m.notice.as_ref().unwrap().text.contains("read-only"));
    }
    // and the help hides them
    let rows = m.keymap.rows(true);
    assert!(rows.iter().all(|r| !r.action.is_write()));
}

#[test]
fn production_requires_the_typed_name() {
    let mut m = story("app", "hog", "w2");
    m.cluster.production = true;
    chars(&mut m, "ts");
    // typed characters go to the name, including y
    assert!(chars(&mut m, "ho").is_empty());
    assert!(key(&mut m, KeyCode::Enter).is_empty());
    assert!(m.dialog.is_some());
    chars(&mut m, "g");
    assert_eq!(key(&mut m, KeyCode::Enter), vec![Effect::Execute(scale(0))]);
}

#[test]
fn scale_on_a_bare_pod_explains() {
    let mut m = story("app", "hog", "w2");
    chars(&mut m, "4s");
    assert!(m.dialog.is_none(), "s is a Top key");
    let bare = ktriage::kube::sources::top::pod_row(support::panes::pod(
        "aaa", "lonely", "w1", None, None, "1Gi",
    ));
    update(&mut m, Msg::Pods(ktriage::model::Delta::Apply(bare)), t0());
    chars(&mut m, "5");
    m.top.sort = ktriage::model::top::TopSort::Name;
    chars(&mut m, "s");
    assert!(m.dialog.is_none());
    let text = &m.notice.as_ref().unwrap().text;
    assert!(text.contains("has no replicas to scale"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_intent_and_outcome_is_reported_at_the_next_start() {
    let h = support::sim("runaway-app").await;
    let c = support::client(&h).await;
    // every request to the scale subresource takes 2 s: the intent is written after the first,
    // the dry run hangs in the second, and the "crash" (abort) happens there
    support::control(
        &c,
        "fault",
        json!({"latency_ms": 2000, "path_prefix": "/apis/apps/v1/namespaces/reports/deployments/report-builder"}),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let exec = Executor::new(
        c.clone(),
        false,
        journal.clone(),
        Identity {
            context: "ktriage-sim".into(),
            cluster: "sim".into(),
            kube_user: None,
        },
    );
    let m = Mutation::Scale {
        kind: "Deployment".into(),
        namespace: "reports".into(),
        name: "report-builder".into(),
        replicas: 0,
    };
    let task = tokio::spawn(async move { exec.execute(&m).await });
    let j = journal.clone();
    support::eventually("the intent line", || {
        let j = j.clone();
        async move { (!j.unfinished().unwrap_or_default().is_empty()).then_some(()) }
    })
    .await;
    task.abort();
    let _ = task.await;
    let w = ktriage::app::unfinished_warning(&journal).expect("a warning at the next start");
    assert!(w.contains("1 action(s)"), "{w}");
    assert!(
        w.contains("scale deployment reports/report-builder to 0 replicas"),
        "{w}"
    );
    // nothing was written: the dry run never returned
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(c.clone(), "reports");
    support::control(&c, "reset-faults", json!({})).await;
    let s = tokio::time::timeout(Duration::from_secs(10), api.get_scale("report-builder"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(4));
}
