//! The binary's start-up contract: clear one-line errors with exit code 2 before the terminal is
//! touched, `--help` documents every flag, and `report` against a refusing server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::ktriage;

use std::path::Path;
use std::process::{Command, Output};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// No escape sequence, no alternate screen, nothing on stdout: the terminal was not touched.
fn untouched(out: &Output) {
    assert!(out.stdout.is_empty(), "stdout: {}", text(&out.stdout));
    assert!(
        !out.stderr.contains(&0x1b),
        "escape sequence on stderr: {:?}",
        text(&out.stderr)
    );
}

fn dead_kubeconfig(dir: &Path) -> std::path::PathBuf {
    let port = support::refused_port();
    support::write(
        dir,
        "dead.kubeconfig",
        &support::kubeconfig(&format!("https://127.0.0.1:{port}"), "s3cr3t-token-x"),
    )
}

#[test]
fn missing_kubeconfig_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["--kubeconfig", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    untouched(&out);
    assert_eq!(
        text(&out.stderr).trim(),
        "ktriage: cannot read kubeconfig /nonexistent: No such file or directory (os error 2)"
    );
}

#[test]
fn unknown_context_exits_2_and_lists_the_known_ones() {
    let home = tempfile::tempdir().unwrap();
    let kc = dead_kubeconfig(home.path());
    let out = ktriage(
        home.path(),
        &["--kubeconfig", kc.to_str().unwrap(), "--context", "nope"],
    );
    assert_eq!(out.status.code(), Some(2));
    untouched(&out);
    assert_eq!(
        text(&out.stderr).trim(),
        "ktriage: context \"nope\" not found in the kubeconfig (available: test)"
    );
}

#[test]
fn malformed_kubeconfig_exits_2_naming_the_file() {
    let home = tempfile::tempdir().unwrap();
    let kc = support::write(
        home.path(),
        "bad.kubeconfig",
        "apiVersion: v1\nclusters: [\n",
    );
    let out = ktriage(home.path(), &["--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    untouched(&out);
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!("ktriage: cannot read kubeconfig {}", kc.display())),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn unreadable_client_certificate_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let kc = support::write(
        home.path(),
        "cert.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:6443'}\nusers:\n- name: u\n  user: {client-certificate: /nonexistent/client.crt, client-key: /nonexistent/client.key}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    );
    let out = ktriage(home.path(), &["--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    untouched(&out);
    let err = text(&out.stderr);
    assert!(
        err.starts_with("ktriage: cannot set up the Kubernetes client for context \"x\": failed to load client certificate"),
        "{err}"
    );
    assert!(
        err.contains("/nonexistent/client.crt") && err.contains("No such file or directory"),
        "{err}"
    );
}

#[test]
fn broken_config_file_exits_2_with_file_and_line() {
    let home = tempfile::tempdir().unwrap();
    let cfg = support::write(
        home.path(),
        "broken.toml",
        "[general]\nread_only = true\n\n[[keys]]\nkey = \"x\"\naction = \"explode\"\n",
    );
    let kc = dead_kubeconfig(home.path());
    let out = ktriage(
        home.path(),
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--config",
            cfg.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    untouched(&out);
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "ktriage: config file {}, line 6: keys[0].action: unknown action \"explode\"",
            cfg.display()
        )),
        "{err}"
    );
    let missing = ktriage(home.path(), &["--config", "/nonexistent.toml", "report"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("cannot read config file /nonexistent.toml"));
}

#[test]
fn help_documents_every_flag() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for flag in [
        "--kubeconfig",
        "--context",
        "--namespace",
        "-n",
        "--config",
        "--read-only",
        "--log-file",
        "--journal",
        "report",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let out = ktriage(home.path(), &["report", "--help"]);
    let help = text(&out.stdout);
    for flag in ["--format", "--out", "--observe", "text", "markdown", "json"] {
        assert!(help.contains(flag), "report --help lacks {flag}:\n{help}");
    }
    let bad = ktriage(home.path(), &["report", "--format", "yaml"]);
    assert_eq!(bad.status.code(), Some(2), "a bad argument is exit 2");
}

#[test]
fn report_against_a_refusing_server_is_critical_api_unreachable() {
    let home = tempfile::tempdir().unwrap();
    let kc = dead_kubeconfig(home.path());
    let log = home.path().join("k.log");
    let out = ktriage(
        home.path(),
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
            "report",
            "--format",
            "json",
            "--observe",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["context"], "test");
    assert_eq!(doc["sources"]["api"]["state"], "unreachable");
    assert!(
        doc["sources"]["api"]["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused")
    );
    for pane in [
        "overview",
        "etcd",
        "leaders",
        "events",
        "top",
        "namespaces",
        "webhooks",
    ] {
        assert!(
            doc["panes"][pane]["state"].is_string(),
            "pane {pane} missing: {doc}"
        );
    }
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0]["id"], "api-unreachable");
    assert_eq!(findings[0]["severity"], "critical");
    assert_eq!(findings[0]["pane"], "overview");
    // the token is in no output and in no log line
    let all = format!(
        "{}{}{}",
        text(&out.stdout),
        text(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(!all.contains("s3cr3t-token-x"));
    // text and markdown say the same, and --out writes a private file
    let out_file = home.path().join("r.md");
    let md = ktriage(
        home.path(),
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "report",
            "--format",
            "markdown",
            "--observe",
            "0",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(md.status.code(), Some(1));
    let body = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        body.starts_with("# ktriage report")
            && body.contains("### critical — API server https://127.0.0.1:"),
        "{body}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let txt = ktriage(
        home.path(),
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "report",
            "--observe",
            "0",
        ],
    );
    assert!(
        text(&txt.stdout).contains("[CRITICAL] API server"),
        "{}",
        text(&txt.stdout)
    );
}

#[test]
fn report_without_any_source_exits_2() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(home.path(), &["report", "--observe", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no source configured"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn kubeconfig_env_merges_files_and_skips_missing_ones() {
    let home = tempfile::tempdir().unwrap();
    let kc = dead_kubeconfig(home.path());
    let other = support::write(
        home.path(),
        "other.kubeconfig",
        "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: second\n  context: {cluster: c, user: alice}\n",
    );
    let list = format!("/nonexistent/a:{}:{}", kc.display(), other.display());
    let out = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args([
            "--context",
            "second",
            "report",
            "--format",
            "json",
            "--observe",
            "0",
        ])
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("KUBECONFIG", &list)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["context"], "second",
        "context from the second file, cluster from the first"
    );
}

#[test]
fn report_on_the_demo_cluster() {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(
        home.path(),
        &[
            "report",
            "--demo",
            "stuck-namespaces",
            "--format",
            "json",
            "--observe",
            "0",
        ],
    );
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 1),
        "{}",
        text(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["context"], "ktriage-sim");
    assert_eq!(doc["sources"]["api"]["state"], "ok");
    let rows = doc["panes"]["namespaces"]["rows"].as_array().unwrap();
    let terminating: Vec<&str> = rows
        .iter()
        .filter(|r| r["phase"] == "Terminating")
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        terminating.contains(&"cattle-monitoring-system"),
        "{terminating:?}"
    );
    let bad = ktriage(home.path(), &["report", "--demo", "no-such-scenario"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("unknown scenario \"no-such-scenario\""));
    let both = ktriage(home.path(), &["--demo", "--kubeconfig", "/x"]);
    assert_eq!(
        both.status.code(),
        Some(2),
        "--demo conflicts with --kubeconfig"
    );
}

#[test]
fn sim_serves_until_killed_and_report_reads_its_kubeconfig() {
    use std::io::BufRead;
    let home = tempfile::tempdir().unwrap();
    let kc = home.path().join("sim.kubeconfig");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args([
            "sim",
            "--scenario",
            "healthy",
            "--write-kubeconfig",
            kc.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(sim.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("ktriage sim: serving scenario healthy on https://127.0.0.1:"),
        "{line}"
    );
    let out = ktriage(
        home.path(),
        &[
            "--kubeconfig",
            kc.to_str().unwrap(),
            "report",
            "--format",
            "json",
            "--observe",
            "0",
        ],
    );
    let _ = Command::new("kill").arg(sim.id().to_string()).status();
    let status = sim.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["sources"]["namespaces"]["state"], "ok");
    assert!(status.success(), "sim exits cleanly on SIGTERM: {status:?}");
}

/// CI (CONTRACTS §6): any value of `CI` but empty, `0` or `false` makes a missing tool a failure.
#[test]
fn ci_is_any_value_but_empty_zero_or_false() {
    use support::ci_value;
    for v in ["true", "1", "yes", "TRUE", "woodpecker", "on"] {
        assert!(ci_value(Some(v)), "{v}");
    }
    for v in [
        None,
        Some(""),
        Some("0"),
        Some("false"),
        Some("FALSE"),
        Some(" false "),
    ] {
        assert!(!ci_value(v), "{v:?}");
    }
}
