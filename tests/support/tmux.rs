//! The ktriage binary in a real pseudo-terminal: a private tmux server per instance, its own HOME,
//! XDG state and config directories; screens read with `capture-pane`, keys sent with `send-keys`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static N: AtomicUsize = AtomicUsize::new(0);

pub struct Tmux {
    bin: PathBuf,
    socket: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

impl Tmux {
    /// `None` (a visible skip; a failure under CI) when tmux is missing.
    pub fn new() -> Option<Tmux> {
        let bin = super::require_tool("tmux")?;
        let socket = format!(
            "ktriage-tmux-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        Some(Tmux {
            bin,
            socket,
            dir: tempfile::tempdir().unwrap(),
        })
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// A session of `cols`×`rows` running `ktriage ARGS…` (its HOME and XDG directories in `dir`).
    pub fn ktriage(&self, args: &[&str], cols: u16, rows: u16) {
        let home = self.dir.path();
        let mut cmd = vec![env!("CARGO_BIN_EXE_ktriage").to_string()];
        cmd.extend(args.iter().map(|a| a.to_string()));
        let mut tmux: Vec<String> = ["new-session", "-d", "-s", "t", "-x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        tmux.extend([cols.to_string(), "-y".into(), rows.to_string()]);
        for e in [
            format!("HOME={}", home.display()),
            format!("XDG_STATE_HOME={}", home.join("state").display()),
            format!("XDG_CONFIG_HOME={}", home.join("config").display()),
            "TERM=tmux-256color".to_string(),
            "RUST_BACKTRACE=0".to_string(),
        ] {
            tmux.push("-e".into());
            tmux.push(e);
        }
        tmux.extend(cmd);
        let refs: Vec<&str> = tmux.iter().map(String::as_str).collect();
        self.run(&refs);
    }

    /// Keys by tmux's names (`7`, `Enter`, `Down`, `C-s`).
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

    /// Polls the screen until `pred` holds (the UI's observable state, not a fixed sleep).
    pub fn wait_until(&self, what: &str, limit: Duration, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&self, want: &str, limit: Duration) -> String {
        self.wait_until(&format!("{want:?}"), limit, |s| s.contains(want))
    }
}
