//! What ktriage says about itself: `--version` (version, commit, Kubernetes API), `completions`,
//! `man`, `config path` and `config default`, and config warnings in `report`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::Path;
use std::process::Command;

use support::ktriage;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn version_names_the_commit_and_the_kubernetes_api() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["--version"]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    assert_eq!(
        line.trim_end(),
        format!("ktriage {}", ktriage::cli::VERSION)
    );
    assert!(
        line.starts_with(&format!("ktriage {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    // the commit is the checkout's HEAD when the test binary was built (same build script run)
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(manifest())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert!(
            line.contains(&format!("(commit {head},")),
            "{line} vs HEAD {head}"
        );
    }
    // the Kubernetes API version is the k8s-openapi feature Cargo.toml enables (v1_NN → v1.NN)
    let cargo = std::fs::read_to_string(manifest().join("Cargo.toml")).unwrap();
    let feature = cargo
        .lines()
        .find(|l| l.starts_with("k8s-openapi"))
        .and_then(|l| l.split("\"v1_").nth(1))
        .and_then(|r| r.split('"').next())
        .unwrap();
    assert!(
        line.contains(&format!("Kubernetes API v1.{feature})")),
        "{line}"
    );
}

#[test]
fn bash_completion_completes_subcommands_and_flags() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["completions", "bash"]);
    assert!(out.status.success());
    let script = home.path().join("ktriage.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // bash itself completes: source the script, ask for `ktriage re<TAB>` and `ktriage report --fo<TAB>`
    let probe = format!(
        "source {}\n\
         COMP_WORDS=(ktriage re); COMP_CWORD=1; _ktriage ktriage re ktriage; echo \"sub: ${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(ktriage report --fo); COMP_CWORD=2; _ktriage ktriage --fo report; echo \"flag: ${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(ktriage config ''); COMP_CWORD=2; _ktriage ktriage '' config; echo \"config: ${{COMPREPLY[*]}}\"\n",
        script.display()
    );
    let run = Command::new("bash").arg("-c").arg(probe).output().unwrap();
    let got = text(&run.stdout);
    assert!(run.status.success(), "{got}{}", text(&run.stderr));
    assert!(got.contains("sub: report"), "{got}");
    assert!(got.contains("flag: --format"), "{got}");
    assert!(
        got.contains("config: ") && got.contains("path") && got.contains("default"),
        "{got}"
    );
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    let home = tempfile::tempdir().unwrap();
    for (shell, checker) in [("zsh", ["zsh", "-n"]), ("fish", ["fish", "--no-execute"])] {
        let out = ktriage(home.path(), &["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        for sub in ["report", "sim", "completions", "man", "config"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        // the shell's own syntax check where that shell is installed
        if let Some(bin) = support::package::on_path(checker[0]) {
            let file = home.path().join(format!("completion.{shell}"));
            std::fs::write(&file, &out.stdout).unwrap();
            let ok = Command::new(bin)
                .arg(checker[1])
                .arg(&file)
                .status()
                .unwrap();
            assert!(ok.success(), "{shell} rejects its completion script");
        }
    }
    let bad = ktriage(home.path(), &["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn man_pages_cover_every_command_and_render() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["man"]);
    assert!(out.status.success());
    let page = text(&out.stdout);
    assert!(page.contains(".TH ktriage 1"), "{page}");
    for section in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "ENVIRONMENT",
        "FILES",
        "\"SEE ALSO\"",
    ] {
        assert!(page.contains(&format!(".SH {section}")), "no {section}");
    }
    let dir = home.path().join("man");
    std::fs::create_dir(&dir).unwrap();
    let out = ktriage(home.path(), &["man", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ktriage-completions.1",
            "ktriage-config-default.1",
            "ktriage-config-path.1",
            "ktriage-config.1",
            "ktriage-man.1",
            "ktriage-replay.1",
            "ktriage-report.1",
            "ktriage-sim.1",
            "ktriage-timeline.1",
            "ktriage.1"
        ]
    );
    // man(1) renders them: the report page documents --format, the main page the plugin
    if let Some(man) = support::package::on_path("man") {
        let render = |file: &str| {
            let o = Command::new(&man)
                .args(["-l", dir.join(file).to_str().unwrap()])
                .env("MANWIDTH", "200")
                .env("MANPAGER", "cat")
                .output()
                .unwrap();
            assert!(o.status.success(), "{file}: {}", text(&o.stderr));
            // justified text: compare words
            text(&o.stdout)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let report = render("ktriage-report.1");
        assert!(
            report.contains("ktriage report") && report.contains("--format"),
            "{report}"
        );
        let main = render("ktriage.1");
        assert!(
            main.contains("kubectl triage --context prod -n shop report"),
            "{main}"
        );
    }
}

#[test]
fn config_default_prints_the_embedded_file() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["config", "default"]);
    assert!(out.status.success());
    let shipped = std::fs::read(manifest().join("assets/default-config.toml")).unwrap();
    assert_eq!(out.stdout, shipped);
    // written where `config path` says, it is a valid config with no warning
    let path = ktriage(home.path(), &["config", "path"]);
    let target = text(&path.stdout).trim().to_string();
    assert_eq!(
        Path::new(&target),
        home.path().join("config/ktriage/config.toml")
    );
    assert!(
        text(&path.stderr).contains("not present"),
        "{}",
        text(&path.stderr)
    );
    std::fs::create_dir_all(Path::new(&target).parent().unwrap()).unwrap();
    std::fs::write(&target, &out.stdout).unwrap();
    let check = ktriage(home.path(), &["config", "path"]);
    assert!(check.status.success());
    assert_eq!(text(&check.stderr).trim(), "ok");
}

#[test]
fn config_path_checks_the_file() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("typo.toml");
    std::fs::write(&file, "[general]\nread_onyl = true\n").unwrap();
    let out = ktriage(
        home.path(),
        &["--config", file.to_str().unwrap(), "config", "path"],
    );
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), file.to_str().unwrap());
    let err = text(&out.stderr);
    assert!(
        err.contains("line 2: unknown key `general.read_onyl` ignored (did you mean `read_only`?)"),
        "{err}"
    );
    std::fs::write(&file, "[intervals]\n\netcd_poll_secs = \"often\"\n").unwrap();
    let out = ktriage(
        home.path(),
        &["--config", file.to_str().unwrap(), "config", "path"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("typo.toml, line 3: `intervals.etcd_poll_secs`"),
        "{err}"
    );
    // KTRIAGE_CONFIG names it too
    let out = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args(["config", "path"])
        .env("HOME", home.path())
        .env("KTRIAGE_CONFIG", &file)
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout).trim(), file.to_str().unwrap());
}

#[test]
fn report_warns_about_unknown_keys_on_stderr() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("typo.toml");
    std::fs::write(&file, "[top]\nnear_limit_pcct = 80\n").unwrap();
    let out = ktriage(
        home.path(),
        &[
            "--config",
            file.to_str().unwrap(),
            "report",
            "--demo",
            "healthy",
            "--observe",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("unknown key `top.near_limit_pcct` ignored (did you mean `near_limit_pct`?)"),
        "{err}"
    );
    assert!(!text(&out.stdout).contains("near_limit_pcct"));
}
