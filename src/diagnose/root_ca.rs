//! The CA side of `kube-ca-mismatch`, read without any Secret: the certificate the API server
//! presents (TLS handshake), whether the kubeconfig's CA trusts it, and whether each namespace's
//! `kube-root-ca.crt` (the bundle pods mount to trust the API server) does.
//!
//! A finding on its own only when some namespaces' bundle trusts the API server's certificate and
//! others' does not: the cluster CA changed and part of the cluster still holds the old one. When no
//! bundle trusts it, a TLS-terminating proxy in front of the API server looks the same, so that is
//! evidence beside crash-looping pods, never a finding by itself.

use crate::certs::chain::Trust;
use crate::model::Model;
use crate::model::root_ca::BundleGroup;

/// What the CA evidence says.
#[derive(Debug, Default)]
pub struct CaEvidence {
    /// Some namespaces' `kube-root-ca.crt` trusts the API server's certificate and others' does not.
    pub mismatch: bool,
    /// Namespaces whose `kube-root-ca.crt` does not trust it (sorted).
    pub untrusted: Vec<String>,
    /// Who issued the API server's certificate (`CN=…`), when it was read directly.
    pub served_issuer: Option<String>,
    /// Lines for the finding's evidence.
    pub lines: Vec<String>,
}

/// At most five names, then how many more.
fn some(names: &[String]) -> String {
    let mut s = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 5 {
        s.push_str(&format!(" and {} more", names.len() - 5));
    }
    s
}

fn holds(g: &BundleGroup) -> String {
    format!(
        "kube-root-ca.crt in {} namespace(s) ({}) holds {}",
        g.namespaces.len(),
        some(&g.namespaces),
        g.bundle.describe()
    )
}

pub fn evidence(model: &Model) -> CaEvidence {
    let mut ev = CaEvidence::default();
    let groups = model.root_ca.groups();
    let served = model.certs.as_ref().and_then(|c| c.served.as_ref());
    let Some(chain) = served else {
        if groups.len() > 1 {
            let each: Vec<String> = groups.iter().map(holds).collect();
            ev.lines.push(format!(
                "kube-root-ca.crt differs between namespaces: {}",
                each.join("; ")
            ));
        }
        return ev;
    };
    if chain.proxied {
        ev.lines.push(format!(
            "the API server is reached through Rancher's proxy ({}): the certificate it presents is Rancher's, so kube-root-ca.crt is not compared with it",
            chain.endpoint
        ));
        return ev;
    }
    ev.served_issuer = Some(chain.issuer.clone());
    let kc = match &chain.kubeconfig_ca {
        Some(Trust::Trusted) => "; the kubeconfig's CA trusts it",
        Some(Trust::Untrusted(_)) => "; the kubeconfig's CA does not trust it",
        Some(Trust::Unknown(_)) | None => "",
    };
    let served_line = format!(
        "the API server ({}) presents a certificate issued by {}{kc}",
        chain.endpoint, chain.issuer
    );
    let trusted: Vec<&BundleGroup> = groups
        .iter()
        .filter(|g| g.trust == Some(Trust::Trusted))
        .collect();
    let untrusted: Vec<&BundleGroup> = groups
        .iter()
        .filter(|g| matches!(g.trust, Some(Trust::Untrusted(_))))
        .collect();
    if untrusted.is_empty() {
        return ev;
    }
    ev.lines.push(served_line);
    for g in &untrusted {
        ev.lines.push(format!(
            "{}, which did not issue it: pods there fail with `x509: certificate signed by unknown authority`",
            holds(g)
        ));
        ev.untrusted.extend(g.namespaces.iter().cloned());
    }
    ev.untrusted.sort();
    for g in &trusted {
        ev.lines.push(format!("{}, which issued it", holds(g)));
    }
    if trusted.is_empty() {
        ev.lines.push(
            "no namespace's kube-root-ca.crt trusts the API server's certificate: expected behind a TLS-terminating proxy; otherwise the cluster CA changed and was not republished"
                .into(),
        );
    }
    ev.mismatch = !trusted.is_empty();
    ev
}
