//! The Debian package on this machine: `dpkg -i` the package `scripts/package-deb` built from the
//! release binary (`scripts/test` builds it before `cargo test`), run `ktriage --version` and
//! `ktriage report --demo healthy` from PATH, panic the installed (release) binary in a pty to prove
//! unwinding restores the terminal, then `dpkg -r` and check nothing is left.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::package::{as_root, ci, deb_or_skip, need, run_in_pty};

/// The PATH a login shell on a Debian host has: no cargo, no test directories.
const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(prefix: &[String], program: &str, args: &[&str]) -> Output {
    let mut argv: Vec<&str> = prefix.iter().map(String::as_str).collect();
    argv.push(program);
    argv.extend_from_slice(args);
    Command::new(argv[0]).args(&argv[1..]).output().unwrap()
}

/// Removes the package however the test ends.
struct Installed<'a> {
    root: &'a [String],
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        let _ = run(self.root, "dpkg", &["--purge", "ktriage"]);
    }
}

fn is_installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f", "${Status}", "ktriage"])
        .output()
        .is_ok_and(|o| text(&o.stdout).contains("install ok installed"))
}

/// A command resolved through the system PATH, with its own HOME.
fn from_path(home: &Path, program: &str, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("exec {program} \"$@\""))
        .arg(program)
        .args(args)
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("HOME", home)
        .output()
        .unwrap()
}

fn contents(deb: &Path) -> String {
    let out = Command::new("dpkg-deb")
        .arg("--contents")
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn the_package_installs_runs_from_path_and_removes_cleanly() {
    let test = "deb";
    if need("dpkg", test).is_none() || need("dpkg-deb", test).is_none() {
        return;
    }
    let Some(deb) = deb_or_skip(test) else { return };
    let Some(root) = as_root() else {
        assert!(!ci(), "dpkg -i needs root or passwordless sudo under CI");
        eprintln!("SKIP: dpkg -i needs root or passwordless sudo ({test})");
        return;
    };
    assert!(
        !is_installed() && !Path::new("/usr/bin/ktriage").exists(),
        "a ktriage is already installed in /usr/bin; the test would replace and remove it \
         (dpkg --purge ktriage first)"
    );

    // what the package holds, before installing it
    let listing = contents(&deb);
    for path in [
        "./usr/bin/ktriage",
        "./usr/bin/kubectl-triage -> ktriage",
        "./usr/share/man/man1/ktriage.1.gz",
        "./usr/share/man/man1/ktriage-report.1.gz",
        "./usr/share/bash-completion/completions/ktriage",
        "./usr/share/zsh/vendor-completions/_ktriage",
        "./usr/share/fish/vendor_completions.d/ktriage.fish",
        "./usr/share/ktriage/ktriage-auditor.yaml",
        "./usr/share/ktriage/default-config.toml",
    ] {
        assert!(
            listing.contains(path),
            "{path} not in the package:\n{listing}"
        );
    }
    assert!(
        listing.lines().all(|l| l.contains("root/root")),
        "{listing}"
    );

    let _guard = Installed { root: &root };
    let out = run(&root, "dpkg", &["-i", deb.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "dpkg -i: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let home = tempfile::tempdir().unwrap();
    let which = Command::new("sh")
        .args(["-c", "command -v ktriage"])
        .env_clear()
        .env("PATH", SYSTEM_PATH)
        .output()
        .unwrap();
    assert_eq!(
        text(&which.stdout).trim(),
        "/usr/bin/ktriage",
        "another ktriage shadows the package"
    );

    // the installed binary is this checkout's build: same version, commit and Kubernetes API
    let version = from_path(home.path(), "ktriage", &["--version"]);
    assert!(version.status.success(), "{}", text(&version.stderr));
    assert_eq!(
        text(&version.stdout).trim(),
        format!("ktriage {}", ktriage::cli::VERSION)
    );

    let report = from_path(
        home.path(),
        "ktriage",
        &["report", "--demo", "healthy", "--observe", "0"],
    );
    let stdout = text(&report.stdout);
    assert_eq!(
        report.status.code(),
        Some(0),
        "{stdout}{}",
        text(&report.stderr)
    );
    assert!(
        stdout.starts_with("ktriage report: context ktriage-sim"),
        "{stdout}"
    );

    installed_files_match_the_checkout(home.path());
    through_kubectl(home.path());
    release_panic_restores_the_terminal(home.path());

    let out = run(&root, "dpkg", &["-r", "ktriage"]);
    assert!(out.status.success(), "dpkg -r: {}", text(&out.stderr));
    for gone in [
        "/usr/bin/ktriage",
        "/usr/bin/kubectl-triage",
        "/usr/share/man/man1/ktriage.1.gz",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} left after dpkg -r");
    }
    let _ = run(&root, "dpkg", &["--purge", "ktriage"]);
    assert!(!is_installed());
}

fn installed_files_match_the_checkout(home: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::fs::read("/usr/share/ktriage/ktriage-auditor.yaml").unwrap(),
        std::fs::read(repo.join("assets/rbac/ktriage-auditor.yaml")).unwrap()
    );
    assert_eq!(
        std::fs::read("/usr/share/ktriage/default-config.toml").unwrap(),
        std::fs::read(repo.join("assets/default-config.toml")).unwrap()
    );
    // man finds the page by name
    if support::package::on_path("man").is_some() {
        let man = from_path(home, "man", &["-w", "ktriage"]);
        assert_eq!(
            text(&man.stdout).trim(),
            "/usr/share/man/man1/ktriage.1.gz",
            "{}",
            text(&man.stderr)
        );
    }
    // bash's completion loader finds the script by the command's name
    let bash = Command::new("bash")
        .arg("-c")
        .arg("source /usr/share/bash-completion/completions/ktriage && complete -p ktriage")
        .output()
        .unwrap();
    assert!(
        text(&bash.stdout).contains("_ktriage"),
        "{}",
        text(&bash.stderr)
    );
}

/// kubectl finds the plugin the package links, and runs it.
fn through_kubectl(home: &Path) {
    let Some(kubectl) = support::kubectl::find() else {
        assert!(!ci(), "kubectl not found under CI");
        eprintln!("SKIP: kubectl not found (the package's kubectl plugin)");
        return;
    };
    let kubectl = kubectl.to_str().unwrap();
    let out = from_path(home, kubectl, &["triage", "--version"]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("ktriage {}", ktriage::cli::VERSION),
        "{}",
        text(&out.stderr)
    );
    let list = from_path(home, kubectl, &["plugin", "list"]);
    assert!(
        text(&list.stdout).contains("/usr/bin/kubectl-triage"),
        "{}",
        text(&list.stdout)
    );
}

/// The packaged binary is the release profile's: a panic unwinds (exit code 101, not SIGABRT's 134)
/// and the terminal is restored.
fn release_panic_restores_the_terminal(home: &Path) {
    let Some(tmux) = need("tmux", "deb: panic in a pty") else {
        return;
    };
    let command = format!(
        "/usr/bin/ktriage --demo healthy --debug-panic --log-file {} --journal {}",
        home.join("k.log").display(),
        home.join("journal.jsonl").display()
    );
    let end = run_in_pty(&tmux, home, &command);
    assert!(
        end.screen
            .contains("deliberate panic after the first frame"),
        "{}",
        end.screen
    );
    assert!(
        end.screen.contains("EXITED rc=101"),
        "not an unwinding panic:\n{}",
        end.screen
    );
    assert!(end.cooked, "terminal left in raw mode:\n{}", end.screen);
    assert!(end.main_screen, "still on the alternate screen");
    assert!(end.cursor_shown, "cursor hidden");
}

/// `scripts/test` installs with `cargo install --locked --path . --root target/install`, the command
/// README gives: the installed binary is this build.
#[test]
fn cargo_install_installed_this_build() {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/install/bin/ktriage");
    if !bin.is_file() {
        assert!(
            !ci(),
            "{} missing: scripts/test runs cargo install first",
            bin.display()
        );
        eprintln!(
            "SKIP: {} missing (scripts/test runs cargo install)",
            bin.display()
        );
        return;
    }
    let out = Command::new(&bin).arg("--version").output().unwrap();
    let got = text(&out.stdout).trim().to_string();
    let want = format!("ktriage {}", ktriage::cli::VERSION);
    if got != want && !ci() {
        eprintln!(
            "SKIP: {} is stale ({got}); scripts/test reinstalls it",
            bin.display()
        );
        return;
    }
    assert_eq!(got, want);
}

/// README names the package file this version builds.
#[test]
fn readme_names_the_package_file() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let deb = support::package::deb_path();
    let name = deb.file_name().unwrap().to_str().unwrap();
    assert!(
        readme.contains(&format!("target/debian/{name}")),
        "README does not name {name}"
    );
    assert!(readme.contains("cargo install --locked --path ."));
}

/// The crate as `cargo package` packs it (installable on another machine with `cargo install --locked
/// --path` after unpacking) holds every file the build embeds, the build script and the lockfile.
#[test]
fn the_packaged_crate_holds_what_the_build_embeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO"))
        .args(["package", "--list", "--locked", "--allow-dirty"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&out.stdout);
    let listed: Vec<&str> = listed.lines().collect();
    let mut wanted = vec!["build.rs".to_string(), "Cargo.lock".to_string()];
    // every include_str!/include_bytes! path in src/, relative to the including file
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let src = std::fs::read_to_string(&p).unwrap_or_default();
            for part in ["include_str!(\"", "include_bytes!(\""]
                .iter()
                .flat_map(|m| src.split(*m).skip(1))
            {
                let Some(rel) = part.split('"').next() else {
                    continue;
                };
                let file = p.parent().unwrap().join(rel);
                let Ok(file) = file.canonicalize() else {
                    continue;
                };
                if let Ok(r) = file.strip_prefix(root.canonicalize().unwrap()) {
                    wanted.push(r.to_string_lossy().into_owned());
                }
            }
        }
    }
    assert!(
        wanted.iter().any(|w| w.starts_with("assets/scenarios/")),
        "{wanted:?}"
    );
    for w in &wanted {
        assert!(
            listed.contains(&w.as_str()),
            "{w} is not in the packaged crate"
        );
    }
}
