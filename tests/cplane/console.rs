//! The console in a real pty (tmux) on the real control plane: the Gatekeeper story seen and fixed
//! with keys. The Overview names the fail-closed webhook; `7` `f`, a reason and `enter` (Webhooks
//! pane, toggle the failure policy, say why, run) applies it; the ReplicaSet controller then creates the pods it could
//! not, the finding goes, and the journal holds the action.

use crate::support::tmux::Tmux;
use crate::tier::on_screen;
use crate::tier::{Names, Tier};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_fixes_the_blocking_webhook_with_keys() {
    let names = Names::b();
    let Some(t) = Tier::real(&names).await else {
        return;
    };
    crate::stories::blocked_deployment(&t).await;
    let home = tempfile::tempdir().unwrap();
    let kc = t.kubeconfig().display().to_string();
    let journal = home.path().join("journal.jsonl");
    let j = journal.display().to_string();
    let Some(tmux) = Tmux::ktriage(
        "cplane-console",
        home.path(),
        &["--kubeconfig", &kc, "--journal", &j],
    ) else {
        return;
    };
    on_screen(&tmux, "API ok v1.20.2");
    let title = format!("webhook {} ({}) fails closed", names.hook, names.hook_cfg);
    on_screen(&tmux, &title);
    tmux.keys(&["7"]);
    on_screen(&tmux, &names.hook_cfg);
    tmux.keys(&["f"]);
    on_screen(&tmux, "type a reason");
    tmux.literal("policy webhook down");
    tmux.keys(&["Enter"]);
    on_screen(&tmux, "applied and verified");
    crate::stories::wait_running(&t, &names.app_ns, &names.guarded, 2).await;
    tmux.keys(&["1"]);
    tmux.wait_up_to(
        "the blocking finding gone",
        std::time::Duration::from_secs(90),
        |s| !s.contains(&title) && s.contains("fails open"),
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["phase"], "intent");
    assert_eq!(lines[1]["result"], "applied", "{text}");
    assert!(
        text.contains("policy webhook down"),
        "the reason is recorded: {text}"
    );
    tmux.keys(&["q"]);
}
