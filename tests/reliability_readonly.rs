//! Read-only cannot be bypassed (issue 12): not by a config file that says `read_only = false`, not
//! by keymap overrides that bind mutating actions, not by choosing another context. Each session is
//! built the way `main` builds it (`Session::prepare`), every key is pressed, every mutation is
//! proposed and executed, and the recording API server sees no mutating request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use chrono::Utc;
use clap::Parser;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ktriage::action::Action;
use ktriage::cli::Cli;
use ktriage::kube::executor::OutcomeResult;
use ktriage::model::Model;
use ktriage::msg::Msg;
use ktriage::session::Session;
use ktriage::update::{Effect, propose, update};
use serde_json::json;
use support::mutations::every_mutation;
use support::{FakeApi, Handler};

fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: alice\n  user:\n    token: t0k\ncontexts:\n- name: test\n  context: {{cluster: c, user: alice}}\n- name: other\n  context: {{cluster: c, user: alice}}\ncurrent-context: other\n"
    )
}

/// Mutating actions bound to plain keys, and "confirm" too.
const OVERRIDES: &str = r#"
[[keys]]
key = "x"
action = "scale"
desc = "scale, bound by a user"
scope = "global"

[[keys]]
key = "y"
action = "confirm"
desc = "confirm, bound by a user"
scope = "global"
"#;

async fn session(dir: &Path, config: &str, args: &[&str]) -> Session {
    let cfg = support::write(dir, "config.toml", &format!("{config}\n{OVERRIDES}"));
    let mut argv = vec![
        "ktriage".to_string(),
        "--kubeconfig".into(),
        dir.join("kc").display().to_string(),
        "--config".into(),
        cfg.display().to_string(),
        "--journal".into(),
        dir.join("journal.jsonl").display().to_string(),
        "--log-file".into(),
        dir.join("k.log").display().to_string(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    let cli = Cli::parse_from(argv);
    Session::prepare(&cli.global).await.unwrap()
}

fn keys() -> Vec<KeyEvent> {
    let mut k: Vec<KeyEvent> = (' '..='~')
        .map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
        .collect();
    for c in [KeyCode::Enter, KeyCode::Tab, KeyCode::Down, KeyCode::Up] {
        k.push(KeyEvent::new(c, KeyModifiers::NONE));
    }
    k.retain(|e| e.code != KeyCode::Char('q'));
    k
}

async fn assert_nothing_can_write(s: &Session) {
    assert!(s.cluster.read_only, "{:?}", s.cluster);
    // the user's bindings are really in the keymap: the gate, not a missing key, stops them
    assert!(
        s.config
            .keymap
            .bindings
            .iter()
            .any(|b| b.action == Action::Scale && b.desc.contains("bound by a user")),
        "{:?}",
        s.config.keymap
    );
    let now = Utc::now();
    let mut model = Model::new(s.cluster.clone(), s.config.keymap.clone(), now);
    s.configure_model(&mut model, now);
    update(&mut model, Msg::Resize(120, 40), now);
    // every key on every pane, twice (a key may open something the next one confirms)
    for _ in 0..2 {
        for k in keys() {
            let effects = update(&mut model, Msg::Key(k), now);
            assert!(
                !effects.iter().any(|e| matches!(e, Effect::Execute(_))),
                "{k:?} produced {effects:?}"
            );
        }
    }
    update(
        &mut model,
        Msg::Key(KeyEvent::new(KeyCode::Char('x'), KeyModifiers::NONE)),
        now,
    );
    let notice = model
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default();
    assert!(notice.contains("read-only mode"), "{notice}");
    for m in every_mutation() {
        propose(&mut model, m.clone(), now);
        assert!(model.dialog.is_none(), "a confirm dialog opened for {m:?}");
        let out = s.executor.as_ref().unwrap().execute(&m).await;
        assert_eq!(out.result, OutcomeResult::Refused, "{m:?}");
    }
}

fn only_reads(api: &FakeApi) {
    for r in api.recorded() {
        assert!(
            r.method == "GET" || r.path.ends_with("selfsubjectreviews"),
            "a read-only session sent {}",
            r.line()
        );
    }
}

fn handler() -> Handler {
    std::sync::Arc::new(|r, _st| {
        if r.method == "GET" && r.path.ends_with("/deployments/api") {
            (
                200,
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "api", "namespace": "shop", "resourceVersion": "1"},
                          "spec": {"replicas": 3}}),
            )
        } else if r.method == "GET" {
            (404, support::status_json(404, "NotFound", "no"))
        } else {
            (200, json!({"kind": "Status", "status": "Success"}))
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flag_wins_over_a_config_that_turns_read_only_off() {
    let api = FakeApi::start(json!({}), handler()).await;
    let dir = tempfile::tempdir().unwrap();
    support::write(dir.path(), "kc", &kubeconfig(&api.url()));
    let off = "[general]\nread_only = false\n\n[contexts.test]\nread_only = false\n[contexts.other]\nread_only = false\n";
    for ctx in ["test", "other"] {
        let s = session(dir.path(), off, &["--read-only", "--context", ctx]).await;
        assert_nothing_can_write(&s).await;
    }
    only_reads(&api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_context_stays_read_only_whatever_else_says() {
    let api = FakeApi::start(json!({}), handler()).await;
    let dir = tempfile::tempdir().unwrap();
    support::write(dir.path(), "kc", &kubeconfig(&api.url()));
    // the context's own setting, chosen with --context although the current-context is another
    let s = session(
        dir.path(),
        "[general]\nread_only = false\n\n[contexts.test]\nread_only = true\n",
        &["--context", "test"],
    )
    .await;
    assert_nothing_can_write(&s).await;
    // global read-only cannot be lifted by a context
    let s = session(
        dir.path(),
        "[general]\nread_only = true\n\n[contexts.other]\nread_only = false\n",
        &["--context", "other"],
    )
    .await;
    assert_nothing_can_write(&s).await;
    only_reads(&api);
    // and, for contrast, the same files without read-only anywhere give a writable session
    let s = session(
        dir.path(),
        "[general]\nread_only = false\n",
        &["--context", "other"],
    )
    .await;
    assert!(!s.cluster.read_only);
}
