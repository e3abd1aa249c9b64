//! Installing ktriage: the release binary and the Debian package `scripts/package-deb` builds from it
//! (`scripts/test` builds both before `cargo test`), tools on PATH, and the CI switch.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// CI is any value of `CI` other than empty, `0` or `false`.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `name` on PATH.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A tool this test needs: found, or `None` after a visible SKIP outside CI (a failure under CI).
pub fn need(name: &str, test: &str) -> Option<PathBuf> {
    match on_path(name) {
        Some(p) => Some(p),
        None if ci() => {
            panic!("{name} not found on PATH under CI ({test}); scripts/test installs it")
        }
        None => {
            eprintln!("SKIP: {name} not found on PATH ({test})");
            None
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The Debian package for this version and architecture, as `scripts/package-deb` names it.
pub fn deb_path() -> PathBuf {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    root()
        .join("target/debian")
        .join(format!("ktriage_{}_{arch}.deb", env!("CARGO_PKG_VERSION")))
}

/// The package, or `None` after a visible SKIP outside CI (a failure under CI, where `scripts/test`
/// builds it before `cargo test`).
pub fn deb_or_skip(test: &str) -> Option<PathBuf> {
    let deb = deb_path();
    let msg = if !deb.is_file() {
        format!(
            "{} not built ({test}): scripts/test builds it (scripts/package-deb)",
            deb.display()
        )
    } else {
        match packaged_version(&deb) {
            Some(v) if v == format!("ktriage {}", ktriage::cli::VERSION) => return Some(deb),
            v => format!(
                "{} is stale ({test}): it holds {v:?}, this build is {}; scripts/package-deb rebuilds it",
                deb.display(),
                ktriage::cli::VERSION
            ),
        }
    };
    if ci() {
        panic!("{msg}");
    }
    eprintln!("SKIP: {msg}");
    None
}

/// Root, or passwordless sudo: the prefix to run dpkg with.
pub fn as_root() -> Option<Vec<String>> {
    let uid = std::process::Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() == "0" {
        return Some(Vec::new());
    }
    let sudo = std::process::Command::new("sudo")
        .args(["-n", "true"])
        .status()
        .ok()?;
    sudo.success()
        .then(|| vec!["sudo".to_string(), "-n".to_string()])
}

/// What a program left behind in a pty (tmux) after it ended: the screen, and whether the terminal
/// is back in cooked mode, on the main screen, with the cursor shown.
pub struct PtyEnd {
    pub screen: String,
    pub cooked: bool,
    pub main_screen: bool,
    pub cursor_shown: bool,
}

/// Runs `command` (a shell command line) in a fresh tmux session and waits for it to end.
pub fn run_in_pty(tmux: &Path, home: &Path, command: &str) -> PtyEnd {
    let socket = format!("ktriage-pkg-{}", std::process::id());
    let t = |args: &[&str]| {
        let out = std::process::Command::new(tmux)
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let script = format!(
        "{command}; echo EXITED rc=$?; case $(stty -a) in *-icanon*) echo MODE=RAW;; *) echo MODE=COOKED;; esac; exec sleep 60"
    );
    let home_env = format!("HOME={}", home.display());
    t(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "30",
        "-e",
        &home_env,
        "-e",
        "TERM=tmux-256color",
        "-e",
        "RUST_BACKTRACE=0",
        &script,
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let screen = loop {
        let s = t(&["capture-pane", "-p", "-t", "t"]);
        if s.contains("MODE=") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            t(&["kill-server"]);
            panic!("the program did not end in 20 s; screen:\n{s}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let flag = |f: &str| t(&["display-message", "-p", "-t", "t", f]).trim() == "1";
    let end = PtyEnd {
        cooked: screen.contains("MODE=COOKED"),
        main_screen: !flag("#{alternate_on}"),
        cursor_shown: flag("#{cursor_flag}"),
        screen,
    };
    t(&["kill-server"]);
    end
}

/// `--version` of the binary inside the package (extracted to a temporary directory).
fn packaged_version(deb: &Path) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let ok = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir.path())
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let out = std::process::Command::new(dir.path().join("usr/bin/ktriage"))
        .arg("--version")
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
