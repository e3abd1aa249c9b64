//! The Inspect "done when" in the real binary (`--demo crashloop`) in tmux: find the
//! crash-looping system pod, read its previous logs, copy the kubectl command (OSC 52, caught by tmux
//! as a paste buffer), restart its Deployment, see it in the journal and as an Event; drain a node
//! and read exactly which pods moved and which a PodDisruptionBudget held.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    bin: PathBuf,
    socket: String,
    dir: tempfile::TempDir,
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

impl Tmux {
    fn new() -> Option<Tmux> {
        let bin = support::require_tool("tmux")?;
        Some(Tmux {
            bin,
            socket: format!("ktriage-inspect-{}", std::process::id()),
            dir: tempfile::tempdir().unwrap(),
        })
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn start(&self, script: &str) {
        let home = self.dir.path();
        let env = [
            format!("HOME={}", home.display()),
            format!("XDG_STATE_HOME={}", home.join("state").display()),
            format!("XDG_CONFIG_HOME={}", home.join("config").display()),
            "TERM=tmux-256color".to_string(),
        ];
        let mut args: Vec<String> = ["new-session", "-d", "-s", "t", "-x", "160", "-y", "48"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for e in &env {
            args.push("-e".into());
            args.push(e.clone());
        }
        args.push(format!("sh -c '{script}'"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&refs);
        // tmux keeps what an application puts on the clipboard (OSC 52) as a paste buffer
        self.run(&["set-option", "-g", "set-clipboard", "on"]);
    }

    fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", "t", "-l", k]);
    }

    fn special(&self, k: &str) {
        self.run(&["send-keys", "-t", "t", k]);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Poll until `want` is true of the screen (observable state, not a fixed sleep).
    fn until(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if want(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, want: &str) -> String {
        self.until(want, |s| s.contains(want))
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal-inspect.jsonl")
    }

    fn journal_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.journal())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[test]
fn demo_crashloop_previous_logs_copy_restart_journal_event_and_drain_report() {
    let Some(t) = Tmux::new() else { return };
    t.start(&format!(
        "exec {} --demo crashloop --journal {} --log-file {}",
        env!("CARGO_BIN_EXE_ktriage"),
        t.journal().display(),
        t.dir.path().join("k.log").display()
    ));
    t.wait_for("API ok");
    // find it: Top, filtered to what is crash-looping
    t.keys("5");
    t.wait_for("STATUS");
    t.keys("/crashloop");
    t.special("Enter");
    let s = t.wait_for("Top · /crashloop");
    let pod_line = s
        .lines()
        .find(|l| l.contains("CrashLoopBackOff"))
        .expect("a crash-looping pod")
        .to_string();
    assert!(pod_line.contains("kube-system/"), "{pod_line}");
    // its previous logs say why
    t.keys("l");
    t.wait_for(" -f ");
    t.keys("p");
    t.wait_for("x509: certificate signed by unknown authority");
    // copy the kubectl command: OSC 52, kept by tmux as a paste buffer
    t.keys("y");
    let deadline = Instant::now() + Duration::from_secs(10);
    let copied = loop {
        let b = t.run(&["show-buffer"]);
        if b.contains("logs") {
            break b;
        }
        assert!(Instant::now() < deadline, "no OSC 52 buffer");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(copied.starts_with("kubectl --context "), "{copied}");
    assert!(copied.contains(" -n kube-system logs "), "{copied}");
    assert!(copied.contains("--previous"), "{copied}");
    // restart its Deployment through the confirm dialog
    t.special("Escape");
    t.until("view closed", |s| !s.contains("x509"));
    t.keys("R");
    t.wait_for("rollout restart deployment kube-system/");
    t.keys("y");
    let s = t.wait_for("applied and verified: rollout restart deployment kube-system/");
    let deploy = s
        .lines()
        .find_map(|l| {
            l.split("rollout restart deployment kube-system/")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
        })
        .unwrap();
    // the journal: intent, then the applied outcome
    let lines = t.journal_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["phase"], "intent");
    assert_eq!(lines[0]["mutation"]["type"], "rollout-restart");
    assert_eq!(lines[0]["object"]["name"], deploy.as_str());
    assert_eq!(lines[1]["result"], "applied");
    assert!(
        lines[1]["side_effects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "event KtriageAction recorded")
    );
    // the crash loop is gone from Top once the new pods run
    t.until("no crash-looping pod", |s| !s.contains("CrashLoopBackOff"));
    // and the Event is in the Events pane (all events, filtered by reason)
    t.keys("4");
    t.wait_for("Events");
    t.keys("w");
    t.keys("/reason:KtriageAction");
    t.special("Enter");
    t.wait_for("KtriageAction");
    // drain the node of a PDB-covered pod: exactly what moved and what the PDB held
    t.keys("5");
    t.keys("/");
    // editing the filter (the earlier `/crashloop` is still there)
    t.until("editing the filter", |s| {
        s.contains("Top · /") && s.contains('▏')
    });
    t.special("Escape");
    // the filter closed before the next key: an Escape followed at once by `/` reads as Alt+/
    t.until("filter cleared", |s| !s.contains("Top · /"));
    t.keys("/shop/shop-api");
    t.special("Enter");
    t.wait_for("Top · /shop/shop-api");
    t.keys("D");
    t.wait_for("drain node ");
    t.keys("y");
    let s = t.wait_for("what happened");
    assert!(
        s.contains("held by a PodDisruptionBudget: shop/shop-api-"),
        "{s}"
    );
    assert!(s.contains("moved "), "{s}");
    assert!(s.contains("skipped kube-system/"), "{s}");
    let lines = t.journal_lines();
    let out = lines.last().unwrap();
    assert_eq!(out["result"], "unverified", "{out}");
    let effects: Vec<String> = out["side_effects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let held: Vec<&String> = effects
        .iter()
        .filter(|e| e.starts_with("held by a PodDisruptionBudget"))
        .collect();
    assert_eq!(held.len(), 1, "{effects:?}");
    // every moved pod is on the screen's report too
    for m in effects.iter().filter(|e| e.starts_with("moved ")) {
        assert!(s.contains(m.as_str()), "{m} not shown:\n{s}");
    }
    t.special("Escape");
    t.keys("q");
}
