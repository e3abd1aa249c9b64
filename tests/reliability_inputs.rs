//! The bad-input matrix at start-up (issue 12), beyond `cli.rs`: every case ends with exit code 2,
//! one clear line on stderr naming the culprit, nothing on stdout, and no panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn ktriage(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("RUST_BACKTRACE", "1")
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KTRIAGE_CONFIG")
        .output()
        .unwrap()
}

fn kubeconfig(cluster_extra: &str, context_cluster: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: 'https://127.0.0.1:6443'{cluster_extra}}}\nusers:\n- name: u\n  user: {{token: abc}}\ncontexts:\n- name: x\n  context: {{cluster: {context_cluster}, user: u}}\ncurrent-context: x\n"
    )
}

#[test]
fn every_bad_input_is_one_clear_line_and_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let w = |name: &str, bytes: &[u8]| {
        std::fs::write(h.join(name), bytes).unwrap();
        name.to_string()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![w(
                "ca-missing.kc",
                kubeconfig(", certificate-authority: /nonexistent/ca.crt", "c").as_bytes(),
            )],
            "failed to load certificate authority: failed to read file '\"/nonexistent/ca.crt\"': No such file or directory",
        ),
        (
            vec![w(
                "ca-bad.kc",
                kubeconfig(", certificate-authority-data: bm90IGEgY2VydA==", "c").as_bytes(),
            )],
            "the certificate authority of cluster \"c\" (certificate-authority-data) holds no readable PEM certificate",
        ),
        (
            vec![w("nocluster.kc", kubeconfig("", "gone").as_bytes())],
            "failed to load the cluster of context: gone",
        ),
        (
            vec![w("empty.kc", b"")],
            "the kubeconfig has no current-context; pick one with --context (it defines no contexts)",
        ),
        (
            vec![w("binary.kc", &[0xff, 0xfe, 0x00, 0x9f, 0x80, 0x41])],
            "cannot read kubeconfig binary.kc: stream did not contain valid UTF-8",
        ),
        (
            vec!["--config".into(), w("c1.toml", b"[[[\n")],
            "config file c1.toml, line 1:",
        ),
        (
            vec![
                "--config".into(),
                w("c2.toml", b"[intervals]\napi_probe_secs = \"soon\"\n"),
            ],
            "config file c2.toml, line 2: `intervals.api_probe_secs`: invalid type: string \"soon\", expected u64",
        ),
    ];
    for (args, want) in cases {
        let mut full: Vec<&str> = Vec::new();
        if args.len() == 1 {
            full.extend(["--kubeconfig", args[0].as_str()]);
        } else {
            full.extend(args.iter().map(String::as_str));
        }
        full.extend(["report", "--observe", "0"]);
        let out = ktriage(h, &full);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{full:?}: {err}");
        assert!(out.stdout.is_empty(), "{full:?}");
        assert!(
            err.starts_with("ktriage: ") && err.contains(want),
            "{full:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{full:?}: {err}");
        assert!(!err.contains("panicked"), "{full:?}: {err}");
    }
}

#[test]
fn invalid_scenario_files_are_named_with_their_line() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    std::fs::write(
        h.join("flow.yaml"),
        "name: bad\nobjects:\n  - {\"kind\": \n",
    )
    .unwrap();
    std::fs::write(h.join("type.yaml"), "name: x\nobjects: 5\n").unwrap();
    for (file, want) in [
        (
            "flow.yaml",
            "invalid scenario flow.yaml line 3: objects: unclosed bracket '{' at line 3, column 5",
        ),
        (
            "type.yaml",
            "invalid scenario type.yaml line 2: objects: expected sequence start at line 2, column 10",
        ),
        (
            "missing.yaml",
            "cannot read scenario file missing.yaml: No such file or directory",
        ),
    ] {
        let out = ktriage(h, &["report", "--demo", file, "--observe", "0"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{file}: {err}");
        assert!(err.contains(want), "{file}: {err}");
        assert!(!err.contains("panicked"), "{file}: {err}");
    }
}
