//! The no-Secrets proof (CONTRACTS §4), reusable on any server whose requests can be listed: the
//! simulator's request log, or a real kube-apiserver's audit log. [`prove`] runs `ktriage report`
//! read-only and then read-write against a kubeconfig and fails if any request the server received
//! has a path containing `/secrets`; it also fails when the run did not reach the server or did not
//! read `kube-root-ca.crt` (the path that once read Secrets), so it cannot pass by doing nothing.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::Value;

/// One request the server received: its path and its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Who sent it, as the server authenticated it.
    pub user: String,
    pub method: String,
    pub path: String,
    pub query: String,
}

impl Seen {
    pub fn line(&self) -> String {
        format!("{} {}?{}", self.method, self.path, self.query)
    }
}

/// The simulator's request log (`--request-log FILE`, or `SimOptions::request_log`): stream-end
/// lines are skipped (the stream was logged when it started).
pub fn request_log(file: &Path) -> Vec<Seen> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stream_end"].is_null())
        .map(|e| Seen {
            user: e["user"].as_str().unwrap_or("").to_string(),
            method: e["method"].as_str().unwrap_or("").to_string(),
            path: e["path"].as_str().unwrap_or("").to_string(),
            query: e["query"].as_str().unwrap_or("").to_string(),
        })
        .collect()
}

/// A kube-apiserver audit log (`--audit-log-path`, JSON lines, any level): one entry per request
/// (the `ResponseComplete` or `Panic` stage; `RequestReceived` and `ResponseStarted` repeat it).
pub fn audit_log(file: &Path) -> Vec<Seen> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| matches!(e["stage"].as_str(), Some("ResponseComplete" | "Panic")))
        .map(|e| {
            let uri = e["requestURI"].as_str().unwrap_or("");
            let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
            Seen {
                user: e["user"]["username"].as_str().unwrap_or("").to_string(),
                method: e["verb"].as_str().unwrap_or("").to_string(),
                path: path.to_string(),
                query: query.to_string(),
            }
        })
        .collect()
}

/// The requests whose path contains `/secrets` (the literal test of the contract: broader than
/// the gate's own parse, so a path shape the gate misreads still fails here).
pub fn secret_requests(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.path.to_ascii_lowercase().contains("/secrets"))
        .map(Seen::line)
        .collect()
}

/// Run `ktriage report` against `kubeconfig` read-only, then read-write (JSON, observing for
/// `observe_secs`), with `home` as its HOME; after each run, the requests the server received
/// during it (`seen()` lists every request so far) must contain no `/secrets` path, must include
/// the `kube-root-ca.crt` watch, and the report must say that source is `ok`. Also fails when ktriage
/// itself refused a request for Secrets (its log names every refusal): no code path may even try.
pub fn prove(
    what: &str,
    kubeconfig: &Path,
    home: &Path,
    observe_secs: u32,
    seen: &mut dyn FnMut() -> Vec<Seen>,
) {
    for read_only in [true, false] {
        let before = seen().len();
        let log = home.join(format!("ktriage-{read_only}.log"));
        let observe = observe_secs.to_string();
        let mut args = vec![
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ];
        if read_only {
            args.push("--read-only");
        }
        args.extend(["report", "--format", "json", "--observe", &observe]);
        let out = super::ktriage(home, &args);
        let mode = if read_only { "read-only" } else { "read-write" };
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{what} ({mode}): report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            doc["sources"]["kube-root-ca"]["state"], "ok",
            "{what} ({mode}): the kube-root-ca.crt source did not run: {}",
            doc["sources"]
        );
        let all = seen();
        let during = &all[before.min(all.len())..];
        assert!(
            during
                .iter()
                .any(|s| s.path.ends_with("/configmaps") && s.query.contains("kube-root-ca.crt")),
            "{what} ({mode}): kube-root-ca.crt was not read; requests: {:#?}",
            during.iter().map(Seen::line).collect::<Vec<_>>()
        );
        let bad = secret_requests(during);
        assert!(
            bad.is_empty(),
            "{what} ({mode}): ktriage requested Secrets: {bad:#?}"
        );
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            !text.contains("never reads Secrets"),
            "{what} ({mode}): a code path asked for Secrets (refused by the gate): {text}"
        );
        eprintln!(
            "{what} ({mode}): {} requests, none for Secrets",
            during.len()
        );
    }
}
