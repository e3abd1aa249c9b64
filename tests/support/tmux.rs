//! The real binary in a tmux pane of a fixed size, on its own tmux server (killed on drop): keys
//! in, the screen out, waits that poll the screen for what the UI shows (never a fixed sleep).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    bin: PathBuf,
    socket: String,
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

impl Tmux {
    /// `ktriage ARGS` at 160×48 with HOME and XDG_STATE_HOME in `home`; `None` (skip) without
    /// tmux outside CI.
    pub fn ktriage(name: &str, home: &Path, args: &[&str]) -> Option<Tmux> {
        Tmux::ktriage_env(name, home, &[], args)
    }

    /// [`Tmux::ktriage`] with more environment (`NAME=value`).
    pub fn ktriage_env(name: &str, home: &Path, env: &[String], args: &[&str]) -> Option<Tmux> {
        let bin = super::require_tool("tmux")?;
        let t = Tmux {
            bin,
            socket: format!("ktriage-{name}-{}", std::process::id()),
        };
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let cmd = format!(
            "{} {}; exec sleep 60",
            env!("CARGO_BIN_EXE_ktriage"),
            quoted.join(" ")
        );
        let h = home.display();
        let mut extra: Vec<&str> = Vec::new();
        for e in env {
            extra.extend(["-e", e.as_str()]);
        }
        let cmd = format!("sh -c \"{cmd}\"");
        let (home, state, config, discovery) = (
            format!("HOME={h}"),
            format!("XDG_STATE_HOME={h}/state"),
            format!("XDG_CONFIG_HOME={h}/config"),
            format!("KTRIAGE_DISCOVERY_ROOT={h}/no-node"),
        );
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "160",
            "-y",
            "48",
            "-e",
            &home,
            "-e",
            &state,
            "-e",
            &config,
            "-e",
            &discovery,
            "-e",
            "TERM=tmux-256color",
        ];
        args.extend(extra);
        args.push(&cmd);
        t.run(&args);
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

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Characters, literally (`;` and the like are not tmux syntax here).
    pub fn literal(&self, text: &str) {
        self.run(&["send-keys", "-t", "t", "-l", text]);
    }

    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Poll the screen until `pred` holds.
    pub fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_up_to(what, Duration::from_secs(30), pred)
    }

    /// [`Tmux::wait`] with its own limit (a real control plane under load answers slower).
    pub fn wait_up_to(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
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

    pub fn wait_for(&self, want: &str) -> String {
        self.wait(want, |s| s.contains(want))
    }
}
