//! The etcd pane's exec key through the real binary in tmux, from a jump host: `ktriage sim
//! --scenario etcd-split-brain` as its own process, its kubeconfig with the `ktriage/etcd`
//! extension stripped (no etcd access), its request log read back. `2` `e` asks (nothing is sent
//! yet), `y` runs the access review and then etcdctl in every etcd pod, and the pane fills with the
//! members from exec; in read-only mode the key asks nothing and no exec request is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use serde_json::Value;
use support::jump::SimProc;
use support::tmux::Tmux;

fn paths(sim: &SimProc) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r: &Value| r["path"].as_str().unwrap_or("").to_string())
        .collect()
}

fn console(sim: &SimProc, name: &str, extra: &[&str]) -> Option<(Tmux, tempfile::TempDir)> {
    let home = tempfile::tempdir().unwrap();
    let kc = sim.kubeconfig.display().to_string();
    let journal = home.path().join("journal.jsonl").display().to_string();
    let log = home.path().join("k.log").display().to_string();
    let mut args = vec![
        "--kubeconfig",
        kc.as_str(),
        "--journal",
        journal.as_str(),
        "--log-file",
        log.as_str(),
    ];
    args.extend_from_slice(extra);
    let t = Tmux::ktriage(name, home.path(), &args)?;
    Some((t, home))
}

#[test]
fn the_exec_key_asks_then_fills_the_pane_through_pods_exec() {
    let sim = SimProc::start("etcd-split-brain");
    let Some((t, _home)) = console(&sim, "exec-key", &[]) else {
        return;
    };
    t.wait_for("1 Overview");
    t.keys(&["2"]);
    t.wait_for("(or press e)");
    t.keys(&["e"]);
    let s = t.wait_for("etcd through pods/exec");
    for needle in [
        "pods:  kube-system/etcd-prod-cp-1 (prod-cp-1), etcd-prod-cp-2 (prod-cp-2),",
        "pods/exec is a write for the read-only gate",
    ] {
        assert!(s.contains(needle), "{needle} not in\n{s}");
    }
    // asking sends nothing
    assert!(
        !paths(&sim)
            .iter()
            .any(|p| p.ends_with("/exec") || p.ends_with("selfsubjectaccessreviews")),
        "{:?}",
        paths(&sim)
    );
    t.keys(&["y"]);
    // every member from exec, the island among them, and the split brain named
    let s = t.wait("the members through exec", |s| {
        s.matches("ok (exec)").count() == 3 && s.contains("split brain")
    });
    assert!(s.contains("etcdctl inside 3 etcd pod(s)"), "{s}");
    let p = paths(&sim);
    let review = p
        .iter()
        .position(|p| p.ends_with("selfsubjectaccessreviews"))
        .expect("an access review");
    let first_exec = p
        .iter()
        .position(|p| p.ends_with("/exec"))
        .expect("exec requests");
    assert!(review < first_exec, "asked first: {p:?}");
    // asked once: e again says exec is on, no second question
    t.keys(&["e"]);
    let s = t.wait_for("already on for context");
    assert!(!s.contains("etcd through pods/exec"), "{s}");
}

#[test]
fn read_only_the_exec_key_asks_nothing_and_sends_nothing() {
    let sim = SimProc::start("etcd-split-brain");
    let Some((t, _home)) = console(&sim, "exec-key-ro", &["--read-only"]) else {
        return;
    };
    t.wait_for("1 Overview");
    t.keys(&["2"]);
    let s = t.wait_for("etcd pods seen through the API");
    assert!(!s.contains("(or press e)"), "{s}");
    t.keys(&["e"]);
    let s = t.wait_for("read-only mode: `etcd_exec` is disabled; nothing was sent");
    assert!(!s.contains("etcd through pods/exec"), "{s}");
    // the logs still find the split brain, and no exec request ever left
    t.wait_for("split brain");
    assert!(
        !paths(&sim).iter().any(|p| p.ends_with("/exec")),
        "{:?}",
        paths(&sim)
    );
}
