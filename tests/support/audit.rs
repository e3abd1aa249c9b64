//! Every request a client sent to the real kube-apiserver, from the server's own audit log
//! (`scripts/real-apiserver.sh start DIR --audit`: level Metadata, one JSON event a line), and the
//! checks of CONTRACTS.md §4 over them: the read-only allow-list and no request path containing
//! `/secrets`. The client under test connects as its own user (`DIR/ktriage.kubeconfig`,
//! `ktriage-under-test` in `system:masters`: RBAC would allow every write, so only the client's own
//! gate can keep it read-only).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

/// The user name of `DIR/ktriage.kubeconfig`.
pub const UNDER_TEST: &str = "ktriage-under-test";

/// One request as the API server recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    pub uri: String,
    pub user: String,
    pub resource: String,
    pub subresource: String,
    pub code: Option<u64>,
}

impl Request {
    pub fn line(&self) -> String {
        format!("{} {} -> {:?}", self.verb, self.uri, self.code)
    }
}

/// The requests in the audit log at `path`, one per audit ID (a watch is logged when its response
/// starts and again when it completes), in log order.
pub fn read(path: &Path) -> Vec<Request> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(e) = serde_json::from_str::<Value>(line) else {
            continue; // a line being written as we read
        };
        let id = e["auditID"].as_str().unwrap_or_default().to_string();
        if !seen.insert(id) {
            continue;
        }
        let s = |p: &str| {
            e.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        out.push(Request {
            verb: s("/verb"),
            uri: s("/requestURI"),
            user: s("/user/username"),
            resource: s("/objectRef/resource"),
            subresource: s("/objectRef/subresource"),
            code: e.pointer("/responseStatus/code").and_then(Value::as_u64),
        });
    }
    out
}

/// The requests of one user.
pub fn by(requests: &[Request], user: &str) -> Vec<Request> {
    requests
        .iter()
        .filter(|r| r.user == user)
        .cloned()
        .collect()
}

/// Requests outside CONTRACTS.md §4's read-only allow-list: anything but get, list and watch,
/// except creating a SelfSubjectAccessReview, SelfSubjectRulesReview or SelfSubjectReview.
pub fn writes(requests: &[Request]) -> Vec<Request> {
    const WHO_AM_I: &[&str] = &[
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "selfsubjectreviews",
    ];
    requests
        .iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch"))
        .filter(|r| !(r.verb == "create" && WHO_AM_I.contains(&r.resource.as_str())))
        .cloned()
        .collect()
}

/// Requests whose path names Secrets.
pub fn secret_reads(requests: &[Request]) -> Vec<Request> {
    requests
        .iter()
        .filter(|r| r.uri.contains("/secrets") || r.resource == "secrets")
        .cloned()
        .collect()
}

/// Panics, listing them, when `requests` hold a write or a Secret request.
pub fn assert_read_only_without_secrets(requests: &[Request]) {
    let w = writes(requests);
    assert!(
        w.is_empty(),
        "{} write(s) sent: {:#?}",
        w.len(),
        w.iter().map(Request::line).collect::<Vec<_>>()
    );
    let s = secret_reads(requests);
    assert!(
        s.is_empty(),
        "{} Secret request(s) sent: {:#?}",
        s.len(),
        s.iter().map(Request::line).collect::<Vec<_>>()
    );
}
