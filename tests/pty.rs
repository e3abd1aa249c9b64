//! The real binary in a real pseudo-terminal (tmux): it starts, switches panes, survives resizes,
//! says when the terminal is too small, and on SIGHUP, SIGTERM, Ctrl-C or a hang-up exits within 2 s
//! with the terminal restored (cooked mode, main screen, cursor shown).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static N: AtomicUsize = AtomicUsize::new(0);

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
        let socket = format!(
            "ktriage-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        Some(Tmux {
            bin,
            socket,
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

    /// Start a session running `script` under `sh -c`, with a given TERM.
    fn start(&self, term: &str, script: &str) {
        let home = self.dir.path();
        let env = [
            format!("HOME={}", home.display()),
            format!("XDG_STATE_HOME={}", home.join("state").display()),
            format!("XDG_CONFIG_HOME={}", home.join("config").display()),
            format!("TERM={term}"),
            "RUST_BACKTRACE=0".to_string(),
        ];
        let mut args: Vec<String> = vec![
            "new-session".into(),
            "-d".into(),
            "-s".into(),
            "t".into(),
            "-x".into(),
            "100".into(),
            "-y".into(),
            "30".into(),
        ];
        for e in &env {
            args.push("-e".into());
            args.push(e.clone());
        }
        args.push(format!("sh -c '{script}'"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        // A test that starts a second session after the first one's process exited: the server
        // of the first may still be shutting down and take the new session with it (seen once on
        // CI as an empty screen). Wait until no server answers, start, and start again if the
        // session is not there.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.ok(&["has-session", "-t", "t"]) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..3 {
            self.run(&refs);
            if self.ok(&["has-session", "-t", "t"]) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether a tmux command succeeds.
    fn ok(&self, args: &[&str]) -> bool {
        Command::new(&self.bin)
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn display(&self, fmt: &str) -> String {
        self.run(&["display-message", "-p", "-t", "t", fmt])
            .trim()
            .to_string()
    }

    /// Poll the screen until `want` appears (the UI's observable state, not a fixed sleep).
    fn wait_for(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = self.screen();
            if s.contains(want) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {want:?}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn journal(&self) -> PathBuf {
        self.dir.path().join("journal-marker.jsonl")
    }

    fn ktriage_cmd(&self, kubeconfig: &Path) -> String {
        format!(
            "{} --kubeconfig {} --journal {} --log-file {}",
            env!("CARGO_BIN_EXE_ktriage"),
            kubeconfig.display(),
            self.journal().display(),
            self.dir.path().join("k.log").display()
        )
    }

    /// The pid of our ktriage, found by its unique journal path.
    fn ktriage_pid(&self) -> u32 {
        let marker = self.journal().display().to_string();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
                    continue;
                };
                let cmd = String::from_utf8_lossy(&cmd);
                let argv0 = cmd.split('\0').next().unwrap_or("");
                if argv0.ends_with("/ktriage") && cmd.contains(&marker) {
                    return pid;
                }
            }
            assert!(Instant::now() < deadline, "ktriage process not found");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Alive means a process that is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn gone_within(pid: u32, limit: Duration) -> Duration {
    let t0 = Instant::now();
    while alive(pid) {
        assert!(
            t0.elapsed() < limit,
            "ktriage (pid {pid}) still running {limit:?} after the signal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    t0.elapsed()
}

fn dead_kubeconfig(dir: &Path) -> PathBuf {
    let port = support::refused_port();
    support::write(
        dir,
        "dead.kubeconfig",
        &support::kubeconfig(&format!("https://127.0.0.1:{port}"), "tok"),
    )
}

/// Run ktriage in a shell that reports, after it exits, whether the terminal is back in cooked mode.
fn wrapped(t: &Tmux) -> String {
    let kc = dead_kubeconfig(t.dir.path());
    format!(
        "{}; echo EXITED rc=$?; case $(stty -a) in *-icanon*) echo MODE=RAW;; *) echo MODE=COOKED;; esac; exec sleep 60",
        t.ktriage_cmd(&kc)
    )
}

fn assert_restored(t: &Tmux) {
    let s = t.wait_for("MODE=");
    assert!(s.contains("MODE=COOKED"), "terminal left in raw mode:\n{s}");
    assert_eq!(
        t.display("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(t.display("#{cursor_flag}"), "1", "cursor hidden");
}

#[test]
fn starts_switches_panes_resizes_and_restores_on_sighup() {
    let Some(t) = Tmux::new() else { return };
    t.start("tmux-256color", &wrapped(&t));
    t.wait_for("API unreachable");
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "runs on the alternate screen"
    );
    t.run(&["send-keys", "-t", "t", "6"]);
    t.wait_for("╭ Namespaces · unreachable");
    t.run(&["send-keys", "-t", "t", "Tab"]);
    t.wait_for("╭ Webhooks · unreachable");
    t.run(&["resize-window", "-t", "t", "-x", "70", "-y", "20"]);
    t.wait_for("70×20, needs at least 80×24");
    t.run(&["resize-window", "-t", "t", "-x", "120", "-y", "40"]);
    t.wait_for("╭ Webhooks · unreachable");
    let pid = t.ktriage_pid();
    Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    gone_within(pid, Duration::from_secs(2));
    assert_restored(&t);
    assert!(t.screen().contains("EXITED rc=0"));
}

#[test]
fn sigterm_restores_the_terminal_under_term_screen() {
    let Some(t) = Tmux::new() else { return };
    t.start("screen", &wrapped(&t));
    t.wait_for("API unreachable");
    let pid = t.ktriage_pid();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    gone_within(pid, Duration::from_secs(2));
    assert_restored(&t);
}

#[test]
fn ctrl_c_quits_and_restores() {
    let Some(t) = Tmux::new() else { return };
    t.start("tmux-256color", &wrapped(&t));
    t.wait_for("API unreachable");
    let pid = t.ktriage_pid();
    t.run(&["send-keys", "-t", "t", "C-c"]);
    gone_within(pid, Duration::from_secs(2));
    assert_restored(&t);
}

#[test]
fn hang_up_of_the_terminal_ends_the_process() {
    let Some(t) = Tmux::new() else { return };
    let kc = dead_kubeconfig(t.dir.path());
    // ktriage is the pane's only process: killing the session hangs up its terminal, as an SSH drop does
    t.start("tmux-256color", &format!("exec {}", t.ktriage_cmd(&kc)));
    t.wait_for("API unreachable");
    let pid = t.ktriage_pid();
    t.run(&["kill-session", "-t", "t"]);
    gone_within(pid, Duration::from_secs(2));
    // nothing may write to the vanished terminal on the way out (a write there panics)
    let log = std::fs::read_to_string(t.dir.path().join("k.log")).unwrap();
    assert!(log.contains("ktriage stopped"), "{log}");
    assert!(!log.contains("panic"), "{log}");
}

#[test]
fn closed_or_redirected_stdin_ends_at_once_with_a_message() {
    for redirect in ["<&-", "</dev/null"] {
        let Some(t) = Tmux::new() else { return };
        let kc = dead_kubeconfig(t.dir.path());
        t.start(
            "tmux-256color",
            &format!(
                "{} {redirect}; echo EXITED rc=$?; case $(stty -a) in *-icanon*) echo MODE=RAW;; *) echo MODE=COOKED;; esac; exec sleep 60",
                t.ktriage_cmd(&kc)
            ),
        );
        let started = Instant::now();
        let s = t.wait_for("EXITED rc=");
        assert!(started.elapsed() < Duration::from_secs(5), "{redirect}");
        assert!(s.contains("EXITED rc=1"), "{redirect}: {s}");
        assert!(
            s.contains("standard input is closed or not a terminal"),
            "{redirect}: {s}"
        );
        assert_restored(&t);
    }
}

#[test]
fn keys_stay_responsive_while_every_source_hangs() {
    let Some(t) = Tmux::new() else { return };
    // a server that accepts connections and never answers: every request hangs
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming() {
            held.push(s);
        }
    });
    let kc = support::write(
        t.dir.path(),
        "hung.kubeconfig",
        &support::kubeconfig(&format!("http://127.0.0.1:{port}"), "tok"),
    );
    t.start("tmux-256color", &format!("exec {}", t.ktriage_cmd(&kc)));
    t.wait_for("API");
    let mut worst = Duration::ZERO;
    for (key, want) in [
        ("6", "╭ Namespaces"),
        ("Tab", "╭ Webhooks"),
        ("6", "╭ Namespaces"),
    ] {
        let t0 = Instant::now();
        t.run(&["send-keys", "-t", "t", key]);
        while !t.screen().contains(want) {
            assert!(
                t0.elapsed() < Duration::from_secs(2),
                "no frame for {key} within 2 s while sources hang"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        worst = worst.max(t0.elapsed());
    }
    eprintln!("key → frame through tmux while every source hangs: worst {worst:?}");
}

#[test]
fn a_panic_restores_the_terminal_and_reports() {
    let Some(t) = Tmux::new() else { return };
    let script = wrapped(&t).replacen(" --kubeconfig", " --debug-panic --kubeconfig", 1);
    t.start("tmux-256color", &script);
    assert_restored(&t);
    let s = t.screen();
    assert!(
        s.contains("deliberate panic after the first frame"),
        "panic message not shown:\n{s}"
    );
    assert!(s.contains("EXITED rc=101"), "{s}");
}

#[test]
fn demo_opens_on_the_simulated_cluster() {
    let Some(t) = Tmux::new() else { return };
    let cmd = format!(
        "exec {} --demo --journal {} --log-file {}",
        env!("CARGO_BIN_EXE_ktriage"),
        t.journal().display(),
        t.dir.path().join("k.log").display()
    );
    t.start("tmux-256color", &cmd);
    t.wait_for("API ok v1.28.9+rke2r1");
    t.run(&["send-keys", "-t", "t", "6"]);
    let s = t.wait_for("cattle-monitoring-system");
    assert!(s.contains("Terminating"), "{s}");
    let pid = t.ktriage_pid();
    t.run(&["send-keys", "-t", "t", "q"]);
    gone_within(pid, Duration::from_secs(2));
}

/// The seed story in the real binary: the eviction storm, `4 t s` and `y`, the action in the journal,
/// then `u` and `y` undo it.
#[test]
fn runaway_story_in_three_keys_plus_confirmation() {
    let Some(t) = Tmux::new() else { return };
    let cmd = format!(
        "exec {} --demo runaway-app --journal {} --log-file {}",
        env!("CARGO_BIN_EXE_ktriage"),
        t.journal().display(),
        t.dir.path().join("k.log").display()
    );
    t.start("tmux-256color", &cmd);
    t.wait_for("API ok v1.28.9+rke2r1");
    t.run(&["send-keys", "-t", "t", "4"]);
    t.wait_for("t: to Top");
    t.run(&["send-keys", "-t", "t", "t"]);
    t.wait_for("WORKLOAD (PODS)");
    t.run(&["send-keys", "-t", "t", "s"]);
    t.wait_for("Confirm action");
    t.run(&["send-keys", "-t", "t", "y"]);
    t.wait_for("applied and verified: scale deployment reports/report-builder to 0 replicas");
    let text = std::fs::read_to_string(t.journal()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["phase"], "intent");
    assert_eq!(lines[0]["before"]["replicas"], 4);
    assert_eq!(lines[1]["result"], "applied");
    t.run(&["send-keys", "-t", "t", "u"]);
    t.wait_for("Confirm action");
    t.run(&["send-keys", "-t", "t", "y"]);
    t.wait_for("applied and verified: scale deployment reports/report-builder to 4 replicas");
    let pid = t.ktriage_pid();
    t.run(&["send-keys", "-t", "t", "q"]);
    gone_within(pid, Duration::from_secs(2));
}

#[test]
fn context_switch_in_the_running_console_keeps_read_only() {
    use std::io::BufRead;
    let Some(t) = Tmux::new() else { return };
    // a live simulator in its own process, and a context that refuses connections
    let sim_kc = t.dir.path().join("sim.kubeconfig");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args([
            "sim",
            "--scenario",
            "healthy",
            "--write-kubeconfig",
            sim_kc.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let dead = dead_kubeconfig(t.dir.path());
    // KUBECONFIG merges both; the first file's current-context (the dead one) is where it starts
    let cmd = format!(
        "KUBECONFIG={}:{} exec {} --read-only --journal {} --log-file {}",
        dead.display(),
        sim_kc.display(),
        env!("CARGO_BIN_EXE_ktriage"),
        t.journal().display(),
        t.dir.path().join("k.log").display()
    );
    t.start("tmux-256color", &cmd);
    t.wait_for("API unreachable");
    t.run(&["send-keys", "-t", "t", "C-o"]);
    t.wait_for("ktriage-sim");
    t.run(&["send-keys", "-t", "t", "j", "Enter"]);
    let s = t.wait_for("API ok v1.28.9+rke2r1");
    let bar = s
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_string();
    assert!(
        bar.contains(" RO ") && bar.contains("ktriage-sim"),
        "read-only holds across the switch: {bar}"
    );
    let _ = Command::new("kill").arg(sim.id().to_string()).status();
    let _ = sim.wait();
}

/// The console (not only the report) never requests Secrets, read-only or not: every pane, and the
/// logs, YAML and describe views of a pod, on the `incident` demo cluster (every namespace with
/// `kube-root-ca.crt` and a default ServiceAccount); the simulator's request log has no path
/// containing `/secrets`, and shows the views' own requests.
#[test]
fn the_console_never_requests_secrets_in_any_mode() {
    let Some(t) = Tmux::new() else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let log = t.dir.path().join("requests.jsonl");
    let kc = t.dir.path().join("kc");
    let h = rt.block_on(ktriage::sim::start(ktriage::sim::SimOptions {
        scenario: "incident".into(),
        request_log: Some(log.clone()),
        ..Default::default()
    }));
    let h = h.unwrap();
    h.write_kubeconfig(&kc).unwrap();
    for read_only in [true, false] {
        let before = support::no_secrets::request_log(&log).len();
        let flag = if read_only { " --read-only" } else { "" };
        t.start(
            "tmux-256color",
            &format!("exec {}{flag}", t.ktriage_cmd(&kc)),
        );
        t.wait_for("API ok");
        let keys = |k: &str| {
            t.run(&["send-keys", "-t", "t", k]);
        };
        keys("5");
        t.wait_for("sort: memory");
        for (k, shows) in [("l", "· logs"), ("Y", "· yaml"), ("d", "· describe")] {
            keys(k);
            t.wait_for(shows);
            keys("Escape");
            // the view closed before the next key: an Escape followed at once by a letter reads
            // as Alt+letter to the terminal
            t.wait_for("sort: memory");
        }
        for pane in ["2", "3", "4", "6", "7", "1"] {
            keys(pane);
        }
        t.wait_for("FINDING");
        let pid = t.ktriage_pid();
        keys("q");
        gone_within(pid, Duration::from_secs(2));
        let seen = support::no_secrets::request_log(&log);
        let during = &seen[before..];
        let bad = support::no_secrets::secret_requests(during);
        assert!(bad.is_empty(), "read_only={read_only}: {bad:?}");
        assert!(
            during.iter().any(|s| s.path.ends_with("/log")),
            "the logs view's request is missing"
        );
        assert!(
            during
                .iter()
                .any(|s| s.path.starts_with("/api/v1/namespaces/")
                    && s.path.contains("/pods/")
                    && !s.path.ends_with("/log")),
            "the YAML view's GET of the pod is missing"
        );
    }
    rt.block_on(h.shutdown());
}
