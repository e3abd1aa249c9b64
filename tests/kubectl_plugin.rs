//! `kubectl triage`: the real kubectl (`kubectl.1.32` beside the machine's dispatcher, see
//! `support::kubectl`) finds `kubectl-triage` on PATH and runs it with the arguments after the plugin
//! name, unchanged (kubectl passes no flag of its own, and refuses flags before the plugin name). So
//! `--kubeconfig`, `KUBECONFIG`, `--context` and `-n` reach ktriage's own parser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{Value, json};
use support::package::ci;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory holding `kubectl-triage` (a symlink to the test build), a HOME, and the kubectl.
struct Plugin {
    kubectl: PathBuf,
    dir: tempfile::TempDir,
}

impl Plugin {
    fn new() -> Option<Plugin> {
        let Some(kubectl) = support::kubectl::find() else {
            assert!(
                !ci(),
                "kubectl not found under CI (set KTRIAGE_KUBECTL or install kubectl)"
            );
            eprintln!("SKIP: kubectl not found (kubectl triage)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_ktriage"),
            dir.path().join("bin/kubectl-triage"),
        )
        .unwrap();
        Some(Plugin { kubectl, dir })
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `kubectl ARGS` with the plugin directory first on PATH and nothing of the machine's cluster
    /// configuration in the environment.
    fn kubectl(&self, args: &[&str], kubeconfig_env: Option<&Path>) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(&self.kubectl);
        c.args(args)
            .env("PATH", path)
            .env("HOME", self.home())
            .env("XDG_STATE_HOME", self.home().join("state"))
            .env("XDG_CONFIG_HOME", self.home().join("config"))
            .env_remove("KUBECONFIG")
            .env_remove("KTRIAGE_CONFIG")
            .env_remove("KUBERNETES_SERVICE_HOST");
        if let Some(k) = kubeconfig_env {
            c.env("KUBECONFIG", k);
        }
        c.output().unwrap()
    }
}

#[test]
fn kubectl_triage_report_on_the_demo_cluster() {
    let Some(p) = Plugin::new() else { return };
    let out = p.kubectl(
        &["triage", "report", "--demo", "healthy", "--observe", "0"],
        None,
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("ktriage report: context ktriage-sim"),
        "{stdout}"
    );
    // kubectl sees the plugin, and help names the command as it was typed
    let list = p.kubectl(&["plugin", "list"], None);
    assert!(
        text(&list.stdout).contains("kubectl-triage"),
        "{}",
        text(&list.stdout)
    );
    let help = p.kubectl(&["triage", "--help"], None);
    assert!(
        text(&help.stdout).contains("Usage: kubectl triage [OPTIONS] [COMMAND]"),
        "{}",
        text(&help.stdout)
    );
}

/// A kubeconfig whose current context points at a refused port, with a second context `sim` for
/// the simulator: only `--context sim` reaches a cluster.
fn two_contexts(h: &ktriage::sim::SimHandle, dir: &Path) -> PathBuf {
    let mut kc: Value = ktriage::yaml::from_str(&h.kubeconfig_yaml("admin")).unwrap();
    let sim_cluster = kc["contexts"][0]["context"]["cluster"].clone();
    let user = kc["contexts"][0]["context"]["user"].clone();
    let dead = format!("https://127.0.0.1:{}", support::refused_port());
    kc["clusters"].as_array_mut().unwrap().push(
        json!({"name": "dead", "cluster": {"server": dead, "insecure-skip-tls-verify": true}}),
    );
    kc["contexts"] = json!([
        {"name": "dead", "context": {"cluster": "dead", "user": user}},
        {"name": "sim", "context": {"cluster": sim_cluster, "user": user}},
    ]);
    kc["current-context"] = json!("dead");
    let path = dir.join("two.kubeconfig");
    std::fs::write(&path, ktriage::yaml::to_string(&kc).unwrap()).unwrap();
    path
}

fn json_report(out: &Output) -> Value {
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `kubectl` with `line` split on spaces (`KC` replaced by the kubeconfig path), on a blocking thread
/// (the simulator runs on this test's runtime).
async fn kubectl(p: &Arc<Plugin>, kc: &Path, line: &str, env: bool) -> Output {
    let args: Vec<String> = line
        .split(' ')
        .map(|w| w.replace("KC", kc.to_str().unwrap()))
        .collect();
    let (p, kc) = (p.clone(), kc.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        p.kubectl(&refs, env.then_some(kc.as_path()))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_global_flags_reach_ktriage() {
    let Some(p) = Plugin::new() else { return };
    let p = Arc::new(p);
    let h = support::sim("healthy").await;
    let kc = two_contexts(&h, p.home());

    // --kubeconfig and --context after the plugin name: the sim context, not the current one
    let line = "triage --kubeconfig KC --context sim report --observe 0 --format json";
    let out = kubectl(&p, &kc, line, false).await;
    let r = json_report(&out);
    assert_eq!(r["context"], "sim");
    assert_eq!(r["cluster"], json!(h.base_url()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "healthy cluster: {}",
        r["findings"]
    );

    // without --context the current context (refused) is used: --context made the difference
    let line = "triage --kubeconfig KC report --observe 0 --format json";
    let out = kubectl(&p, &kc, line, false).await;
    let r = json_report(&out);
    assert_eq!(r["context"], "dead");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the API is unreachable: {}",
        r["findings"]
    );

    // KUBECONFIG from the environment, --context=NAME and -n NS: Top shows that namespace only
    let line = "triage --context=sim -n shop report --observe 0 --format json";
    let r = json_report(&kubectl(&p, &kc, line, true).await);
    assert_eq!(r["context"], "sim");
    let rows = r["panes"]["top"]["rows"].as_array().unwrap().clone();
    assert!(!rows.is_empty(), "no pods in shop");
    assert!(rows.iter().all(|p| p["namespace"] == "shop"), "{rows:?}");
    let line = "triage --context sim report --observe 0 --format json";
    let all = json_report(&kubectl(&p, &kc, line, true).await);
    let every = all["panes"]["top"]["rows"].as_array().unwrap().len();
    assert!(
        every > rows.len(),
        "-n did not narrow Top ({every} rows either way)"
    );

    // kubectl itself refuses flags before the plugin name (the README says so)
    let out = kubectl(&p, &kc, "--context sim triage report", true).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("flags cannot be placed before plugin name"),
        "{}",
        text(&out.stderr)
    );
}
