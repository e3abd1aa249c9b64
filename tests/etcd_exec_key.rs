//! The etcd pane's exec key (keys as data: `e` in `assets/default-config.toml`): it asks once
//! whether to run etcdctl in the etcd pods through pods/exec for this context, saying what would
//! run, in which pods and that exec is a write; a yes asks the app loop to start exec (held for the
//! context for the session, across context switches); read-only mode hides and refuses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use clap::Parser;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use k8s_openapi::api::core::v1::Pod;
use ktriage::action::Action;
use ktriage::cli::Cli;
use ktriage::etcd::access::{ASKED_IN_PANE, ExecMode};
use ktriage::model::{Model, PaneId, SourceState};
use ktriage::msg::Msg;
use ktriage::session::Session;
use ktriage::update::{Effect, update};
use kube::Api;
use kube::api::AttachParams;
use support::etcd_model::jump_host;
use support::model::t0;

fn press(m: &mut Model, c: char) -> Vec<Effect> {
    update(
        m,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        t0(),
    )
}

fn notice(m: &Model) -> String {
    m.notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

const FIRST: &str = "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt --cert=/var/lib/rancher/rke2/server/tls/etcd/server-client.crt --key=/var/lib/rancher/rke2/server/tls/etcd/server-client.key --command-timeout=3s -w json endpoint status --cluster";

#[test]
fn the_key_asks_once_then_exec_is_in_use() {
    let mut m = jump_host(false);
    assert!(matches!(
        m.etcd.exec_state,
        SourceState::NotConfigured { .. }
    ));
    // the question: what, where, how often
    assert!(press(&mut m, 'e').is_empty());
    let ask = m.etcd.exec_ask.clone().expect("the question is open");
    assert_eq!(ask.context, "rke2-prod-east");
    let pods: Vec<&str> = ask.pods.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(pods, ["etcd-cp-1", "etcd-cp-2", "etcd-cp-3"]);
    assert_eq!(
        ask.skipped,
        ["etcd-cp-4"],
        "no certificates on its command line"
    );
    assert_eq!(ask.commands[0], FIRST);
    assert!(ask.commands[1].ends_with("-w json member list"));
    assert!(ask.commands[2].ends_with("-w json alarm list"));
    assert_eq!(ask.every_secs, 15);
    // while it is open, other keys do nothing
    assert!(press(&mut m, '1').is_empty());
    assert_eq!(m.ui.active, PaneId::Etcd);
    assert!(m.etcd.exec_ask.is_some());
    // c copies the kubectl equivalent and keeps the question open
    assert_eq!(
        press(&mut m, 'c'),
        vec![Effect::Copy(format!(
            "kubectl --context rke2-prod-east -n kube-system exec etcd-cp-1 -c etcd -- {FIRST}"
        ))]
    );
    assert!(m.etcd.exec_ask.is_some());
    // n: nothing runs
    assert!(press(&mut m, 'n').is_empty());
    assert!(m.etcd.exec_ask.is_none());
    assert!(notice(&m).contains("nothing was run"), "{}", notice(&m));
    assert!(matches!(
        m.etcd.exec_state,
        SourceState::NotConfigured { .. }
    ));
    // e again, y: the app loop is asked to start exec; the pane says it is in use
    press(&mut m, 'e');
    assert_eq!(press(&mut m, 'y'), vec![Effect::EtcdExec]);
    assert!(m.etcd.exec_ask.is_none());
    assert!(matches!(m.etcd.exec_state, SourceState::Loading { .. }));
    assert!(
        m.etcd.exec_note.as_deref().unwrap().contains(ASKED_IN_PANE),
        "{:?}",
        m.etcd.exec_note
    );
    assert!(notice(&m).contains("access review first"), "{}", notice(&m));
    // asked once: the key now says exec is on and asks nothing
    assert!(press(&mut m, 'e').is_empty());
    assert!(m.etcd.exec_ask.is_none());
    assert!(notice(&m).contains("already on"), "{}", notice(&m));
}

#[test]
fn read_only_hides_and_refuses_the_key() {
    let mut m = jump_host(true);
    assert!(
        m.keymap.visible(true).all(|b| b.action != Action::EtcdExec),
        "hidden in read-only mode"
    );
    assert!(
        m.keymap
            .visible(false)
            .any(|b| b.action == Action::EtcdExec)
    );
    assert!(press(&mut m, 'e').is_empty());
    assert!(m.etcd.exec_ask.is_none(), "no question in read-only mode");
    assert!(notice(&m).contains("read-only"), "{}", notice(&m));
    // a question left open when read-only applies (never opened by the key) still runs nothing
    let mut rw = jump_host(false);
    press(&mut rw, 'e');
    rw.cluster.read_only = true;
    assert!(press(&mut rw, 'y').is_empty());
    assert!(matches!(
        rw.etcd.exec_state,
        SourceState::NotConfigured { .. }
    ));
}

#[test]
fn nothing_to_ask_without_an_etcd_pod_or_a_context() {
    // k3s and RKE1: no etcd pod to exec into
    let mut m = support::model::model(false);
    m.ui.active = PaneId::Etcd;
    assert!(press(&mut m, 'e').is_empty());
    assert!(m.etcd.exec_ask.is_none());
    assert!(notice(&m).contains("no running etcd pod"), "{}", notice(&m));
    let mut m = support::model::model(false);
    m.cluster.context = None;
    m.ui.active = PaneId::Etcd;
    press(&mut m, 'e');
    assert!(m.etcd.exec_ask.is_none());
    assert!(
        notice(&m).contains("no Kubernetes context"),
        "{}",
        notice(&m)
    );
}

fn kubeconfig(dir: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: east\n  context: {{cluster: a, user: u}}\n- name: west\n  context: {{cluster: a, user: u}}\ncurrent-context: east\n",
        support::refused_port()
    );
    support::write(dir, "kubeconfig", &text)
}

async fn session(dir: &std::path::Path, read_only: bool) -> Session {
    let kc = kubeconfig(dir);
    let mut args = vec![
        "ktriage".to_string(),
        "--kubeconfig".into(),
        kc.display().to_string(),
        "--log-file".into(),
        dir.join("k.log").display().to_string(),
        "--journal".into(),
        dir.join("journal.jsonl").display().to_string(),
    ];
    if read_only {
        args.push("--read-only".into());
    }
    Session::prepare(&Cli::parse_from(args).global)
        .await
        .unwrap()
}

/// The yes is held for its context for the session: switching away turns exec off, switching back
/// turns it on again, and the pane says so before the first round.
#[tokio::test]
async fn the_yes_is_held_for_the_context_across_switches() {
    let dir = tempfile::tempdir().unwrap();
    let mut east = session(dir.path(), false).await;
    assert_eq!(east.etcd_exec, ExecMode::Off);
    east.allow_exec().unwrap();
    assert_eq!(east.etcd_exec, ExecMode::On(ASKED_IN_PANE.into()));
    assert!(east.allow_exec().unwrap_err().contains("already on"));
    let west = east.switch_to("west").await.unwrap();
    assert_eq!(west.etcd_exec, ExecMode::Off, "asked for east only");
    let back = west.switch_to("east").await.unwrap();
    assert_eq!(back.etcd_exec, ExecMode::On(ASKED_IN_PANE.into()));
    let mut m = Model::new(back.cluster.clone(), back.config.keymap.clone(), t0());
    back.configure_model(&mut m, t0());
    assert!(matches!(m.etcd.exec_state, SourceState::Loading { .. }));
    assert!(m.etcd.exec_note.unwrap().contains(ASKED_IN_PANE));
    // read-only: refused in the session too, and nothing is started
    let ro_dir = tempfile::tempdir().unwrap();
    let mut ro = session(ro_dir.path(), true).await;
    assert!(ro.allow_exec().unwrap_err().contains("read-only"));
    assert_eq!(ro.etcd_exec, ExecMode::Off);
    let (tx, _rx) = tokio::sync::mpsc::channel(1);
    assert!(ro.start_exec(&tx).is_none());
    // and the read-only client's gate refuses pods/exec itself, before a byte is sent (the port
    // refuses connections: a transport error would mean the request left)
    let api: Api<Pod> = Api::namespaced(ro.client.clone().unwrap(), "kube-system");
    let argv = ["etcdctl", "member", "list"];
    match api.exec("etcd-cp-1", argv, &AttachParams::default()).await {
        Ok(_) => panic!("exec went through in read-only mode"),
        Err(e) => assert!(ktriage::kube::gate::is_refusal(&e), "{e:?}"),
    }
}
