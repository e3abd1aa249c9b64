//! The TUI's context switcher: the key asks for the contexts, the picker opens on the current one,
//! Enter asks to switch; the switched session has its own gated client, and `--read-only` holds
//! across the switch (a write is refused before anything is sent).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use clap::Parser;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use k8s_openapi::api::core::v1::ConfigMap;
use ktriage::cli::Cli;
use ktriage::msg::Msg;
use ktriage::session::Session;
use ktriage::update::{Effect, update};
use kube::Api;
use kube::api::PostParams;
use support::model::t0;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::from(code))
}

#[test]
fn the_picker_lists_contexts_and_asks_to_switch() {
    let mut m = support::model::model(true);
    let effects = update(
        &mut m,
        Msg::Key(KeyEvent::new(KeyCode::Char('o'), KeyModifiers::CONTROL)),
        t0(),
    );
    assert_eq!(effects, vec![Effect::ListContexts]);
    update(
        &mut m,
        Msg::Contexts(Ok(vec![
            "dev".into(),
            "rke2-prod-east".into(),
            "west".into(),
        ])),
        t0(),
    );
    // opens on the current context
    assert_eq!(m.ui.contexts.as_ref().unwrap().selected, 1);
    // keys go to the picker, not the panes
    update(&mut m, key(KeyCode::Char('j')), t0());
    assert_eq!(m.ui.contexts.as_ref().unwrap().selected, 2);
    let effects = update(&mut m, key(KeyCode::Enter), t0());
    assert_eq!(effects, vec![Effect::SwitchContext("west".into())]);
    assert!(m.ui.contexts.is_none());
    // esc closes without switching
    update(&mut m, Msg::Contexts(Ok(vec!["a".into()])), t0());
    let effects = update(&mut m, key(KeyCode::Esc), t0());
    assert!(effects.is_empty() && m.ui.contexts.is_none());
    // an unreadable kubeconfig is a notice
    update(&mut m, Msg::Contexts(Err("no kubeconfig".into())), t0());
    assert!(m.notice.as_ref().unwrap().text.contains("no kubeconfig"));
}

fn two_contexts(port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: first\n  context: {{cluster: a, user: u}}\n- name: second\n  context: {{cluster: a, user: u, namespace: shop}}\ncurrent-context: first\n"
    )
}

#[tokio::test]
async fn read_only_holds_across_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let kc = support::write(
        dir.path(),
        "kubeconfig",
        &two_contexts(support::refused_port()),
    );
    let log = dir.path().join("ktriage.log");
    let journal = dir.path().join("journal.jsonl");
    let cli = Cli::parse_from([
        "ktriage",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--read-only",
        "--log-file",
        log.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let session = Session::prepare(&cli.global).await.unwrap();
    assert_eq!(session.cluster.context.as_deref(), Some("first"));
    assert!(session.cluster.read_only);
    let next = session.switch_to("second").await.unwrap();
    assert_eq!(next.cluster.context.as_deref(), Some("second"));
    assert!(
        next.cluster.read_only,
        "read-only must hold across the switch"
    );
    // the new client's gate refuses a write before any byte is sent (the port refuses anyway: a
    // transport error here would mean the request left)
    let api: Api<ConfigMap> = Api::namespaced(next.client.clone().unwrap(), "default");
    let err = api
        .create(&PostParams::default(), &ConfigMap::default())
        .await
        .unwrap_err();
    assert!(ktriage::kube::gate::is_refusal(&err), "{err:?}");
    // an unknown context is an error, the session stays
    assert!(session.switch_to("nope").await.is_err());

    // without --read-only the switched session may write (the gate lets the request go out)
    let cli = Cli::parse_from([
        "ktriage",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--log-file",
        log.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let rw = Session::prepare(&cli.global)
        .await
        .unwrap()
        .switch_to("second")
        .await
        .unwrap();
    assert!(!rw.cluster.read_only);
}
