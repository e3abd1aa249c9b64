//! The Namespaces and Webhooks actions through the real binary in tmux, against `--demo`: keys open the
//! confirm dialog, `y`/enter runs it through the executor, the status bar says it was verified, the
//! pane shows the change and the journal holds every step.
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
    fn start(scenario: &str) -> Option<Tmux> {
        let bin = support::require_tool("tmux")?;
        let t = Tmux {
            bin,
            socket: format!("ktriage-panes-{}-{scenario}", std::process::id()),
            dir: tempfile::tempdir().unwrap(),
        };
        let home = t.dir.path().display().to_string();
        let cmd = format!(
            "{} --demo {scenario} --journal {home}/journal.jsonl --log-file {home}/k.log; exec sleep 60",
            env!("CARGO_BIN_EXE_ktriage")
        );
        t.run(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "160",
            "-y",
            "48",
            "-e",
            &format!("HOME={home}"),
            "-e",
            &format!("XDG_STATE_HOME={home}/state"),
            "-e",
            "TERM=tmux-256color",
            &format!("sh -c '{cmd}'"),
        ]);
        Some(t)
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Poll the screen until `pred` holds (the UI's observable state, not a fixed sleep).
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if pred(&s) {
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
        self.wait(want, |s| s.contains(want))
    }

    /// Move the selection down until the detail header names `header`. Each step waits for the
    /// detail header itself to change (one `j`, one row), so a redraw for another reason (a clock
    /// tick, a row update) cannot make a step count twice and overshoot the row.
    fn select(&self, header: &str) {
        fn detail(s: &str) -> String {
            s.lines()
                .find(|l| l.contains("│── "))
                .unwrap_or_default()
                .to_string()
        }
        self.keys(&["home"]);
        for _ in 0..60 {
            let before = detail(&self.screen());
            if before.contains(header) {
                return;
            }
            self.keys(&["j"]);
            self.wait("the selection to move", |s| detail(s) != before);
        }
        panic!("never selected {header}:\n{}", self.screen());
    }

    fn journal(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[test]
fn tui_clears_stuck_namespaces_in_the_suggested_order() {
    let Some(t) = Tmux::start("stuck-namespaces") else {
        return;
    };
    t.wait_for("API ok");
    t.keys(&["6"]);
    t.wait_for("apiservice:v1beta1.custom.metrics.k8s.io");
    t.select("── shop-staging");
    t.keys(&["f"]);
    t.wait_for("back up and delete APIService v1beta1.custom.metrics.k8s.io");
    t.keys(&["y"]);
    t.wait_for("applied and verified: back up and delete APIService");
    t.wait("shop-staging gone", |s| {
        !s.lines()
            .any(|l| l.starts_with("│shop-staging") || l.starts_with("│legacy-reports"))
    });
    t.select("── cattle-monitoring-system");
    t.keys(&["f"]);
    t.wait_for("remove finalizer controller.cattle.io/namespace-auth from Namespace");
    t.keys(&["y"]);
    t.wait_for("applied and verified: remove finalizer controller.cattle.io/namespace-auth");
    t.wait("cattle-monitoring-system gone", |s| {
        !s.lines()
            .any(|l| l.starts_with("│cattle-monitoring-system"))
    });
    let j = t.journal();
    assert_eq!(j.len(), 4, "{j:#?}");
    assert_eq!(j[0]["before"]["kind"], "APIService");
    assert_eq!(j[1]["result"], "applied");
    assert_eq!(j[2]["mutation"]["type"], "remove-finalizer");
    assert_eq!(j[3]["result"], "applied");
    t.keys(&["q"]);
}

#[test]
fn tui_toggles_a_failing_webhook_with_a_reason_and_restores_it() {
    let Some(t) = Tmux::start("gatekeeper-down") else {
        return;
    };
    t.wait_for("API ok");
    t.keys(&["7"]);
    t.wait_for("BLOCKS pod creation in:");
    t.select("── validation.gatekeeper.sh");
    t.keys(&["f"]);
    t.wait_for("type a reason");
    t.keys(&["-l", "INC-9 no endpoints"]);
    t.wait_for("> INC-9 no endpoints");
    t.keys(&["Enter"]);
    t.wait_for(
        "applied and verified: set failurePolicy Ignore on webhook validation.gatekeeper.sh",
    );
    t.wait("the policy shown as Ignore", |s| {
        !s.contains("BLOCKS pod creation in:")
    });
    t.keys(&["r"]);
    t.wait_for("set failurePolicy Fail on webhook validation.gatekeeper.sh");
    t.keys(&["Enter"]);
    t.wait_for("applied and verified: set failurePolicy Fail on webhook validation.gatekeeper.sh");
    t.wait_for("BLOCKS pod creation in:");
    let j = t.journal();
    assert_eq!(j.len(), 4, "{j:#?}");
    let note = |i: usize| j[i]["before"]["metadata"]["name"].clone();
    assert_eq!(note(0), "gatekeeper-validating-webhook-configuration");
    assert_eq!(j[1]["after"]["webhooks"][0]["failurePolicy"], "Ignore");
    assert!(
        j[1]["after"]["metadata"]["annotations"]["ktriage.io/last-action"]
            .as_str()
            .unwrap()
            .contains("INC-9 no endpoints")
    );
    assert_eq!(j[3]["after"]["webhooks"][0]["failurePolicy"], "Fail");
    t.keys(&["q"]);
}
