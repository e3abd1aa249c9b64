//! Credentials and secrecy (issue 12): exec-plugin and tokenFile credentials work as in kubectl;
//! no token, key or Secret value reaches stdout, stderr, the report file, the debug log or the
//! screen; ktriage never even asks for Secrets; a wrong CA and an expired client certificate are
//! refused with a clear message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "reliability/harness.rs"]
mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use harness::{Harness, screen};
use ktriage::msg::Msg;
use ktriage::update::update;
use serde_json::{Value, json};
use support::{control, raw, sim};

const PLANTED: &str = "PLANTED-secret-value-7d1c0ffee";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn ktriage(home: &Path, args: Vec<String>, debug: bool) -> Output {
    let home = home.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ktriage"));
        c.args(&args)
            .env("HOME", &home)
            .env("XDG_STATE_HOME", home.join("state"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env_remove("KUBECONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KTRIAGE_CONFIG");
        if debug {
            c.env("KTRIAGE_LOG", "debug");
        }
        c.output().unwrap()
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The simulator's admin kubeconfig with the `user:` section replaced.
fn kubeconfig_with_user(h: &ktriage::sim::SimHandle, user_yaml: &str) -> String {
    let base = h.kubeconfig_yaml("admin");
    let cut = base.find("users:\n").unwrap();
    format!(
        "{}users:\n- name: admin\n  user:\n{user_yaml}",
        &base[..cut]
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// An exec credential plugin that is a small shell script, as kubectl runs it.
fn exec_kubeconfig(h: &ktriage::sim::SimHandle, dir: &Path) -> PathBuf {
    let script = write(
        dir,
        "cred.sh",
        &format!(
            "#!/bin/sh\nprintf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"%s\"}}}}' '{}'\n",
            h.admin_token()
        ),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let user = format!(
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n",
        script.display()
    );
    write(dir, "exec.kubeconfig", &kubeconfig_with_user(h, &user))
}

fn report_args(kc: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--kubeconfig".into(),
        kc.display().to_string(),
        "--read-only".into(),
        "report".into(),
        "--observe".into(),
        "1".into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): stdout {} stderr {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_plugin_and_token_file_credentials_work() {
    let h = sim("healthy").await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "token", &format!("{}\n", h.admin_token()));
    let tf = write(
        dir.path(),
        "tokenfile.kubeconfig",
        &kubeconfig_with_user(&h, &format!("    tokenFile: {}\n", token_file.display())),
    );
    for kc in [exec_kubeconfig(&h, dir.path()), tf] {
        let out = ktriage(dir.path(), report_args(&kc, &["--format", "json"]), false).await;
        let doc = json_of(&out);
        for s in ["api", "namespaces", "nodes"] {
            assert_eq!(
                doc["sources"][s]["state"],
                "ok",
                "{} with {}: {doc}",
                s,
                kc.display()
            );
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output() {
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    // the plant: a Secret in the cluster, a token in the kubeconfig (via an exec plugin), and the
    // other users' tokens the scenario defines
    control(
        &admin,
        "apply",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "kube-system"},
               "type": "Opaque", "data": {"password": b64(PLANTED)}}),
    )
    .await;
    raw(&admin, "DELETE", "/_sim/requests", "", vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = exec_kubeconfig(&h, dir.path());
    let log = dir.path().join("debug.log");
    let report_file = dir.path().join("report.json");
    let mut outputs = Vec::new();
    for (format, out_file) in [
        ("json", Some(&report_file)),
        ("text", None),
        ("markdown", None),
    ] {
        let mut extra = vec!["--format", format];
        let f;
        if let Some(p) = out_file {
            f = p.display().to_string();
            extra.extend(["--out", f.as_str()]);
        }
        let mut args = vec!["--log-file".to_string(), log.display().to_string()];
        args.extend(report_args(&kc, &extra));
        let out = ktriage(dir.path(), args, true).await;
        assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
        outputs.push(format!("{}{}", text(&out.stdout), text(&out.stderr)));
    }
    let report = std::fs::read_to_string(&report_file).unwrap();
    let debug_log = std::fs::read_to_string(&log).unwrap();
    assert!(debug_log.contains("DEBUG"), "the log ran at debug level");
    // the screen: every pane of a TUI model fed by the same sources
    let mut app = Harness::start(&h, "admin").await;
    app.until("namespaces synced", Duration::from_secs(20), |m| {
        m.namespaces.state.is_ok()
    })
    .await;
    let mut shown = app.model.clone();
    update(&mut shown, Msg::Resize(160, 48), Utc::now());
    for k in ['1', '2', '3', '4', '5', '6', '7', '?'] {
        update(
            &mut shown,
            Msg::Key(KeyEvent::new(KeyCode::Char(k), KeyModifiers::NONE)),
            Utc::now(),
        );
        outputs.push(screen(&shown, 160, 48));
        update(
            &mut shown,
            Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            Utc::now(),
        );
    }
    outputs.push(report);
    outputs.push(debug_log);
    let secrets = [
        h.admin_token(),
        h.token_for("jane").unwrap(),
        h.token_for("viewer").unwrap(),
        PLANTED.to_string(),
        b64(PLANTED),
    ];
    for (i, o) in outputs.iter().enumerate() {
        for s in &secrets {
            assert!(!o.contains(s.as_str()), "output {i} contains a secret: {o}");
        }
    }
    // and ktriage never asked for a Secret
    let (_, _, reqs) = raw(&admin, "GET", "/_sim/requests", "", vec![]).await;
    let secret_reads: Vec<&str> = reqs.lines().filter(|l| l.contains("/secrets")).collect();
    assert!(secret_reads.is_empty(), "{secret_reads:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for p in [&report_file, &log] {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} mode {mode:o}", p.display());
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_refused_with_a_clear_message() {
    let h = sim("healthy").await;
    let dir = tempfile::tempdir().unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let base = h.kubeconfig_yaml("admin");
    let start = base.find("certificate-authority-data: ").unwrap() + 28;
    let end = start + base[start..].find('\n').unwrap();
    let kc = format!(
        "{}{}{}",
        &base[..start],
        b64(&other.cert.pem()),
        &base[end..]
    );
    let kc = write(dir.path(), "wrong-ca.kubeconfig", &kc);
    let out = ktriage(dir.path(), report_args(&kc, &["--format", "json"]), false).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let doc = json_of(&out);
    assert_eq!(doc["sources"]["api"]["state"], "unreachable");
    let err = doc["sources"]["api"]["error"].as_str().unwrap();
    assert!(
        err.contains("certificate") && err.contains("UnknownIssuer"),
        "unclear TLS error: {err}"
    );
    assert!(!text(&out.stdout).contains(&h.admin_token()));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_certificate_is_refused_at_start() {
    let h = sim("healthy").await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["admin".to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = p.self_signed(&key).unwrap();
    let user = format!(
        "    client-certificate-data: {}\n    client-key-data: {}\n",
        b64(&cert.pem()),
        b64(&key.serialize_pem())
    );
    let kc = write(
        dir.path(),
        "expired.kubeconfig",
        &kubeconfig_with_user(&h, &user),
    );
    let out = ktriage(dir.path(), report_args(&kc, &["--format", "json"]), false).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("client certificate of user \"admin\" (client-certificate-data) expired at 2021-01-01 00:00:00 UTC"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(!err.contains("PRIVATE KEY"), "{err}");
    h.shutdown().await;
}
