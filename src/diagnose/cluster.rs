//! Cluster-wide control-plane checks shown on the Overview: `kube-ca-mismatch` (critical) and
//! `rancher-agent-down` (warning).
//!
//! `kube-ca-mismatch` reads what system pods say when they die: a crash-looping container in
//! `kube-system` or a `cattle-*` namespace whose last termination message or previous log lines say
//! `Unauthorized` or `x509: certificate signed by unknown authority`. That is the "Can rotating
//! kube-ca break my cluster?" story: credentials issued under the old CA no longer work. The CA side
//! ([`super::root_ca`]) needs no Secret either: the certificate the API server presents, the
//! kubeconfig's CA, and every namespace's `kube-root-ca.crt` (never compared behind Rancher's proxy,
//! whose certificate is not the cluster's). Pod names are never matched.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::diagnose::runbook::{Platform, detect};
use crate::model::top::{PodRow, Workload, WorkloadRef};
use crate::model::{Model, PaneId};

/// What a client says when its service-account token or its CA bundle no longer matches the cluster.
pub const CA_SIGNATURES: &[&str] = &[
    "x509: certificate signed by unknown authority",
    "Unauthorized",
];

/// The Rancher agents (names are Rancher's contract): (workload name, kind).
const RANCHER_AGENTS: &[(&str, &str)] = &[
    ("cattle-cluster-agent", "Deployment"),
    ("cattle-node-agent", "DaemonSet"),
];

/// Namespaces of the platform: Kubernetes' own and Rancher's.
pub fn system_namespace(ns: &str) -> bool {
    ns == "kube-system" || ns.starts_with("cattle-")
}

/// The line of `text` carrying a CA/credential signature: credentials scrubbed first (a crashed client
/// may print its own token), then bounded around the signature.
pub fn ca_line(text: &str) -> Option<String> {
    ca_line_where(text, |_| true)
}

/// Words that place a failing call at the Kubernetes API server (its in-cluster Service, its
/// paths, client-go), not at an application's own backend.
const API_REFERENCES: &[&str] = &[
    "kubernetes.default",
    "10.43.0.1",
    "10.96.0.1",
    "/api/",
    "/api\"",
    "/apis/",
    "/version",
    "API server",
    "api server",
    "apiserver",
    "client-go",
];

/// [`ca_line`] for a line that also names the Kubernetes API server: outside the platform's own
/// namespaces an `x509` or `Unauthorized` counts only against the API service (an application's
/// own TLS to its database is not the cluster CA).
pub fn api_ca_line(text: &str) -> Option<String> {
    ca_line_where(text, |l| API_REFERENCES.iter().any(|r| l.contains(r)))
}

fn ca_line_where(text: &str, keep: impl Fn(&str) -> bool) -> Option<String> {
    let line = text
        .lines()
        .find(|l| CA_SIGNATURES.iter().any(|s| l.contains(s)) && keep(l))?;
    let line = crate::text::scrub(line.trim());
    Some(around_signature(&line, 160))
}

/// At most `max` characters of `line`, ending just after the first signature it contains.
fn around_signature(line: &str, max: usize) -> String {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= max {
        return line.to_string();
    }
    let end_byte = CA_SIGNATURES
        .iter()
        .filter_map(|s| line.find(s).map(|p| p + s.len()))
        .min()
        .unwrap_or(line.len());
    let end = line[..end_byte].chars().count();
    let start = end.saturating_sub(max);
    let mut out: String = chars[start..end].iter().collect();
    if start > 0 {
        out.insert(0, '…');
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// A failing container of the pod says CA/credentials in its termination message (read in the
/// memoised per-pod pass: scanning every crash-looping pod's message on every evaluation cost
/// 0.19 ms at 50k pods with 500 of them crash-looping).
pub fn says_ca_at_termination(p: &PodRow) -> bool {
    let line: fn(&str) -> Option<String> = if system_namespace(&p.namespace) {
        ca_line
    } else {
        api_ca_line
    };
    p.containers
        .iter()
        .any(|c| failing(c) && line(&c.last_message).is_some())
}

/// A container is failing: waiting in CrashLoopBackOff, or restarted and not ready.
pub fn failing(c: &crate::model::top::ContainerRow) -> bool {
    c.waiting_reason.as_deref() == Some("CrashLoopBackOff") || (c.restarts > 0 && !c.ready)
}

/// `cert-expiring` from this many days before notAfter (critical under [`CERT_CRITICAL_DAYS`]).
pub const CERT_WARN_DAYS: i64 = 30;
pub const CERT_CRITICAL_DAYS: i64 = 7;

pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    let (model, now) = (cx.model, cx.now);
    // the pods whose termination messages say it, and those whose previous logs do
    let mut pods: std::collections::BTreeSet<&str> = cx.failing_pods().collect();
    for key in model.top.crash_logs.keys() {
        if let Some((pod, _container)) = key.rsplit_once('/') {
            pods.insert(pod);
        }
    }
    let pods: Vec<String> = pods.into_iter().map(str::to_string).collect();
    kube_ca(model, &pods, out);
    rancher_agents(model, out);
    certs(model, now, out);
}

fn certs(model: &Model, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let Some(c) = &model.certs else { return };
    for r in &c.rows {
        let left = r.not_after - now;
        let days = left.num_days();
        if days >= CERT_WARN_DAYS {
            continue;
        }
        let severity = if days < CERT_CRITICAL_DAYS {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let when = if left.num_seconds() <= 0 {
            format!("expired {} day(s) ago", -days)
        } else {
            format!("expires in {days} day(s)")
        };
        let mut f = Finding::new(
            "cert-expiring",
            severity,
            PaneId::Overview,
            Some(Subject {
                kind: "Certificate".into(),
                namespace: None,
                name: r.source.clone(),
                part: None,
            }),
            format!("{} ({}) {when}", r.what, r.source),
        );
        f.evidence.push(format!(
            "notAfter {} ({when})",
            r.not_after.format("%Y-%m-%d %H:%M UTC")
        ));
        let d = detect(model);
        f.fix.text = match d.platform {
            Platform::Rke1 => "RKE1: `rke cert rotate --config cluster.yml` (with the matching cluster.rkestate), \
                               then restart the components that hold the old certificates."
                .into(),
            Platform::Rke2 => "RKE2: certificates are renewed when rke2-server restarts within 90 days of \
                               expiry; `rke2 certificate rotate` then `systemctl restart rke2-server` on each \
                               server node, one at a time."
                .into(),
            Platform::K3s => "k3s: `k3s certificate rotate` then restart k3s on each server node, one at a time."
                .into(),
            Platform::Kubeadm => "kubeadm: `kubeadm certs renew all` on each control-plane node, then restart its control-plane static pods.".into(),
            Platform::Unknown => "Rotate the certificate before notAfter and restart what serves or uses it."
                .into(),
        };
        f.details =
            json!({"not_after": r.not_after.to_rfc3339(), "days_left": days, "source": r.source});
        out.push(f);
    }
}

/// Crash-looping containers, in every namespace, whose last words carry a CA/credential signature:
/// the workloads (with their labels) and one evidence line per container. `failing` are the pods
/// with a failing container (from the memoised per-pod pass), in store order.
fn crash_evidence(model: &Model, pods: &[String]) -> (Vec<(Workload, String)>, Vec<String>) {
    let top = &model.top;
    let mut affected: Vec<(Workload, String)> = Vec::new();
    let mut evidence = Vec::new();
    for p in pods.iter().filter_map(|k| top.pods.get(k)) {
        // the platform's own pods talk to the API server only; elsewhere the line must say so
        let line: fn(&str) -> Option<String> = if system_namespace(&p.namespace) {
            ca_line
        } else {
            api_ca_line
        };
        for c in p.containers.iter().filter(|c| failing(c)) {
            let said = line(&c.last_message)
                .map(|l| format!("termination message: {l}"))
                .or_else(|| {
                    top.crash_logs
                        .get(&format!("{}/{}/{}", p.namespace, p.name, c.name))
                        .and_then(|lines| lines.iter().rev().find_map(|l| line(l)))
                        .map(|l| format!("previous log: {l}"))
                });
            let Some(said) = said else { continue };
            let w = top.workload(p);
            evidence.push(format!(
                "{}/{} container {} ({}, {} restarts): {said}",
                p.namespace,
                p.name,
                c.name,
                c.waiting_reason.as_deref().unwrap_or("not ready"),
                c.restarts
            ));
            let label = format!("{} {}/{}", w.kind, w.namespace, w.name);
            if !affected.iter().any(|(a, _)| *a == w) {
                affected.push((w, label));
            }
        }
    }
    (affected, evidence)
}

fn kube_ca(model: &Model, failing: &[String], out: &mut Vec<Finding>) {
    let (affected, evidence) = crash_evidence(model, failing);
    let ca = super::root_ca::evidence(model);
    if affected.is_empty() && !ca.mismatch {
        return;
    }
    let names: Vec<&str> = affected.iter().map(|(_, l)| l.as_str()).collect();
    let title = if affected.is_empty() {
        format!(
            "kube-ca rotated? wrong kube-root-ca.crt in {} namespace(s): {}",
            ca.untrusted.len(),
            ca.untrusted.join(", ")
        )
    } else {
        format!(
            "kube-ca rotated? {} workload(s) crash-loop on credentials: {}",
            affected.len(),
            names.join(", ")
        )
    };
    let mut f = Finding::new(
        "kube-ca-mismatch",
        Severity::Critical,
        PaneId::Overview,
        None,
        title,
    );
    f.evidence = evidence;
    f.evidence.extend(ca.lines.iter().cloned());
    let d = detect(model);
    f.evidence
        .push(format!("distribution: {} ({})", d.platform.name(), d.why));
    f.fix.text = kube_ca_fix(
        d.platform,
        !ca.untrusted.is_empty(),
        &names,
        model.api.version.as_deref(),
    );
    f.details = json!({
        "workloads": affected.iter().map(|(w, _)| json!({
            "kind": w.kind, "namespace": w.namespace, "name": w.name
        })).collect::<Vec<_>>(),
        "distribution": d.platform.name(),
        "untrusting_namespaces": ca.untrusted,
        "api_server_ca": ca.served_issuer,
    });
    out.push(f);
}

/// The Kubernetes minor version from `gitVersion` (`v1.28.9+rke2r1` → 28).
fn minor(version: Option<&str>) -> Option<u32> {
    version?
        .trim_start_matches('v')
        .split('.')
        .nth(1)?
        .parse()
        .ok()
}

fn kube_ca_fix(
    platform: Platform,
    republish: bool,
    workloads: &[&str],
    version: Option<&str>,
) -> String {
    let first = match platform {
        Platform::Rke1 => {
            "RKE1: run `rke up` with the cluster.yml and the cluster.rkestate that holds the current \
             CA (a missing or old one makes `rke up` generate new certificates: the chapter's own \
             cause). The cluster keeps a copy as `full-cluster-state` in kube-system (a ConfigMap; newer RKE \
             releases keep a Secret of that name): `kubectl -n kube-system get configmap \
             full-cluster-state -o jsonpath='{.data.full-cluster-state}' > cluster.rkestate`."
        }
        Platform::Rke2 | Platform::K3s => {
            "RKE2/k3s: the servers load the CA from the datastore: restart the server service on each \
             server (`systemctl restart rke2-server` / `k3s`) so every one serves it. Never start with \
             `certificate rotate-ca`: it rotates the CA again and breaks every client once more."
        }
        Platform::Kubeadm | Platform::Unknown => {
            "Make sure every control-plane component runs with the current CA."
        }
    };
    let republish = if republish {
        " Every namespace's kube-root-ca.crt must hold the current CA: the controller-manager \
         republishes it when it runs with that CA (restart it on every server node after the \
         rotation)."
    } else {
        ""
    };
    let restart = if workloads.is_empty() {
        "Restart the pods of the namespaces named above".to_string()
    } else {
        format!("Restart the affected pods ({})", workloads.join(", "))
    };
    let tokens = match minor(version) {
        Some(m) if m < 24 => {
            " after deleting their old service-account token Secrets so the token controller \
             re-issues them under the current CA (Kubernetes before 1.24 mounts those Secrets)"
        }
        _ => {
            ": their projected service-account tokens are issued afresh at start (deleting token \
             Secrets only helped before Kubernetes 1.24)"
        }
    };
    format!("{first}{republish} {restart}{tokens}.")
}

fn agent_of(w: WorkloadRef<'_>) -> Option<&'static str> {
    if w.namespace != "cattle-system" {
        return None;
    }
    RANCHER_AGENTS.iter().find_map(|(name, kind)| {
        let exact = w.name == *name && w.kind == *kind;
        // the ReplicaSet before its owner is known: `<deployment>-<hash>`
        let rs = w.kind == "ReplicaSet"
            && w.name
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('-'));
        (exact || rs).then_some(*name)
    })
}

fn rancher_agents(model: &Model, out: &mut Vec<Finding>) {
    let top = &model.top;
    for (agent, kind) in RANCHER_AGENTS {
        let pods: Vec<&PodRow> = top
            .pods
            .with_prefix("cattle-system/")
            .filter(|p| agent_of(top.workload_ref(p)) == Some(*agent))
            .filter(|p| !p.evicted())
            .collect();
        let bad: Vec<&&PodRow> = pods.iter().filter(|p| !p.ready()).collect();
        if bad.is_empty() {
            continue;
        }
        let mut f = Finding::new(
            "rancher-agent-down",
            Severity::Warning,
            PaneId::Overview,
            Some(Subject {
                kind: (*kind).into(),
                namespace: Some("cattle-system".into()),
                name: (*agent).into(),
                part: None,
            }),
            format!(
                "Rancher {agent}: {} of {} pod(s) not ready",
                bad.len(),
                pods.len()
            ),
        );
        for p in &bad {
            let mut why = vec![format!("phase {}", p.phase)];
            for c in &p.containers {
                if let Some(reason) = c.waiting_reason.as_deref().filter(|r| !r.is_empty()) {
                    why.push(format!("{} {reason}", c.name));
                }
                if c.restarts > 0 {
                    why.push(format!("{} restarts", c.restarts));
                }
                if !c.last_message.is_empty() {
                    why.push(format!(
                        "last words: {}",
                        crate::text::truncate(
                            &crate::text::scrub(c.last_message.lines().last().unwrap_or("")),
                            120
                        )
                    ));
                }
            }
            f.evidence
                .push(format!("cattle-system/{}: {}", p.name, why.join(", ")));
            for e in model
                .events
                .store
                .iter()
                .filter(|e| e.namespace == "cattle-system" && e.warning && e.object == p.name)
                .take(3)
            {
                f.evidence.push(format!(
                    "event {} ×{}: {}",
                    e.reason,
                    e.count,
                    crate::text::truncate(&e.message, 120)
                ));
            }
        }
        f.fix.text = format!(
            "Rancher loses this cluster while {agent} is down (no UI, no kubectl through Rancher). \
             Read its log (`kubectl -n cattle-system logs deploy/cattle-cluster-agent --previous`): a \
             CA or token error points at kube-ca rotation; a connection error at the Rancher server \
             URL or its CA (`CATTLE_CA_CHECKSUM`)."
        );
        f.details = json!({"agent": agent, "not_ready": bad.len(), "pods": pods.len()});
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_ca_fix_by_distribution_and_version() {
        let rke1 = kube_ca_fix(
            Platform::Rke1,
            false,
            &["DaemonSet ingress-nginx/nginx-ingress-controller"],
            Some("v1.23.16"),
        );
        assert!(
            rke1.contains("`rke up`") && rke1.contains("full-cluster-state"),
            "{rke1}"
        );
        assert!(
            rke1.contains("deleting their old service-account token Secrets"),
            "before 1.24: {rke1}"
        );
        let rke2 = kube_ca_fix(Platform::Rke2, true, &[], Some("v1.28.9+rke2r1"));
        assert!(
            rke2.contains("Never start with `certificate rotate-ca`"),
            "{rke2}"
        );
        assert!(
            rke2.contains("projected service-account tokens"),
            "1.24 and later: {rke2}"
        );
        assert!(!rke2.contains("deleting their old"), "{rke2}");
        assert_eq!(minor(Some("v1.30.2+k3s1")), Some(30));
        assert_eq!(minor(None), None);
    }
}
