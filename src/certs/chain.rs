//! Which CA signed the API server's certificate, and which CA bundles trust it: the evidence of a
//! rotated kube-ca that needs no Secret. The chain comes from a TLS handshake (what the server
//! presents); a bundle is PEM text (the kubeconfig's CA, the `kube-root-ca.crt` ConfigMap every
//! namespace carries). Verification is rustls' own path building (webpki), without the host-name
//! check: pods reach the API server under another name than the one ktriage dials.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{CertificateError, RootCertStore};

/// What the API server presented in the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServedChain {
    /// `host:port` dialled.
    pub endpoint: String,
    /// The leaf certificate (DER) and the intermediates the server sent after it.
    pub leaf: Vec<u8>,
    pub intermediates: Vec<Vec<u8>>,
    /// The leaf's issuer, for people (`CN=…`, or the whole name when it has no common name).
    pub issuer: String,
    /// Behind Rancher's proxy (`/k8s/clusters/…`): the chain is Rancher's, not the cluster's.
    pub proxied: bool,
    /// Whether the kubeconfig's CA trusts it (`None`: the kubeconfig names no CA of its own).
    pub kubeconfig_ca: Option<Trust>,
}

/// Whether a CA bundle trusts a chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Trust {
    /// A certificate in the bundle signed the chain.
    Trusted,
    /// No certificate in the bundle signed it (`UnknownIssuer`, `BadSignature`): a client holding
    /// only this bundle fails with `x509: certificate signed by unknown authority`.
    Untrusted(String),
    /// Could not tell (an expired or unreadable certificate, an empty bundle): not evidence.
    Unknown(String),
}

/// A CA bundle read from PEM text, with a digest of its certificates for grouping equal bundles.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CaBundle {
    /// Equal for bundles holding the same certificates, in the same order.
    pub digest: u64,
    /// The certificates (DER).
    pub certs: Vec<Vec<u8>>,
    /// Their subjects, for people (`CN=kube-ca`).
    pub subjects: Vec<String>,
}

impl PartialEq for CaBundle {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest && self.certs == other.certs
    }
}

impl Eq for CaBundle {}

fn fnv(bytes: impl Iterator<Item = u8>, seed: u64) -> u64 {
    let mut h = seed;
    for b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl CaBundle {
    /// The bundle of a PEM text (certificates only; anything else is ignored).
    pub fn from_pem(pem: &str) -> CaBundle {
        CaBundle::from_der(super::pem_certs(pem))
    }

    pub fn from_der(certs: Vec<Vec<u8>>) -> CaBundle {
        let digest = certs
            .iter()
            .fold(0xcbf2_9ce4_8422_2325, |h, c| fnv(c.iter().copied(), h));
        let subjects = certs.iter().map(|c| name_of(c, Field::Subject)).collect();
        CaBundle {
            digest,
            certs,
            subjects,
        }
    }

    /// `CN=a, CN=b` (at most three, then `…`); `no certificate` when empty.
    pub fn describe(&self) -> String {
        if self.subjects.is_empty() {
            return "no certificate".into();
        }
        let mut s = self
            .subjects
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if self.subjects.len() > 3 {
            s.push_str(", …");
        }
        s
    }

    /// Whether this bundle trusts `chain` at `now` (seconds since the epoch).
    pub fn trusts(&self, chain: &ServedChain, now_secs: u64) -> Trust {
        trusts(&self.certs, &chain.leaf, &chain.intermediates, now_secs)
    }
}

/// Whether any certificate of `bundle` signs the chain `leaf` + `intermediates` (path building and
/// signatures only, no host name, no revocation).
pub fn trusts(bundle: &[Vec<u8>], leaf: &[u8], intermediates: &[Vec<u8>], now_secs: u64) -> Trust {
    let mut roots = RootCertStore::empty();
    let (added, _ignored) =
        roots.add_parsable_certificates(bundle.iter().map(|c| CertificateDer::from(c.clone())));
    if added == 0 {
        return Trust::Unknown("the bundle holds no usable certificate".into());
    }
    let leaf_der = CertificateDer::from(leaf.to_vec());
    let Ok(parsed) = rustls::server::ParsedCertificate::try_from(&leaf_der) else {
        return Trust::Unknown("the server's certificate is unreadable".into());
    };
    let inter: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now_secs));
    match rustls::client::verify_server_cert_signed_by_trust_anchor(
        &parsed,
        &roots,
        &inter,
        now,
        provider.signature_verification_algorithms.all,
    ) {
        Ok(()) => Trust::Trusted,
        Err(rustls::Error::InvalidCertificate(
            e @ (CertificateError::UnknownIssuer | CertificateError::BadSignature),
        )) => Trust::Untrusted(format!("{e:?}")),
        Err(e) => Trust::Unknown(e.to_string()),
    }
}

#[derive(Clone, Copy)]
enum Field {
    Issuer,
    Subject,
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// The issuer or subject of a DER certificate as `CN=…` (or `unnamed` when it has no common name).
fn name_of(der: &[u8], which: Field) -> String {
    let cn = name_der(der, which).and_then(common_name);
    match cn {
        Some(cn) => format!("CN={cn}"),
        None => "unnamed".into(),
    }
}

/// The issuer's common name of a DER certificate, for people.
pub fn issuer_of(der: &[u8]) -> String {
    name_of(der, Field::Issuer)
}

fn name_der(der: &[u8], which: Field) -> Option<&[u8]> {
    let t = super::tbs(der)?;
    Some(match which {
        Field::Issuer => t.issuer,
        Field::Subject => t.subject,
    })
}

/// The first common name in a DER `Name` (SEQUENCE OF SET OF SEQUENCE {OID, value}).
fn common_name(mut name: &[u8]) -> Option<String> {
    use super::tlv;
    while !name.is_empty() {
        let (_, set, rest) = tlv(name)?;
        name = rest;
        let (_, atv, _) = tlv(set)?;
        let (_, oid, value) = tlv(atv)?;
        if oid == OID_CN {
            let (_, v, _) = tlv(value)?;
            return Some(String::from_utf8_lossy(v).chars().take(128).collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

    fn ca(cn: &str) -> (rcgen::CertifiedIssuer<'static, KeyPair>, String) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        let issuer = rcgen::CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let pem = issuer.pem();
        (issuer, pem)
    }

    fn leaf(issuer: &rcgen::CertifiedIssuer<'static, KeyPair>) -> Vec<u8> {
        let mut p = CertificateParams::new(vec!["kubernetes.default.svc".to_string()]).unwrap();
        p.distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        p.signed_by(&key, issuer).unwrap().der().to_vec()
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn a_bundle_trusts_what_its_ca_signed_and_nothing_else() {
        let (new, new_pem) = ca("kube-ca-new");
        let (_old, old_pem) = ca("kube-ca-old");
        let served = leaf(&new);
        assert_eq!(issuer_of(&served), "CN=kube-ca-new");
        let chain = ServedChain {
            endpoint: "127.0.0.1:6443".into(),
            leaf: served,
            intermediates: vec![],
            issuer: "CN=kube-ca-new".into(),
            proxied: false,
            kubeconfig_ca: None,
        };
        let new_b = CaBundle::from_pem(&new_pem);
        let old_b = CaBundle::from_pem(&old_pem);
        let both = CaBundle::from_pem(&format!("{old_pem}{new_pem}"));
        assert_eq!(new_b.subjects, vec!["CN=kube-ca-new".to_string()]);
        assert_eq!(both.describe(), "CN=kube-ca-old, CN=kube-ca-new");
        assert_eq!(new_b.trusts(&chain, now()), Trust::Trusted);
        assert_eq!(both.trusts(&chain, now()), Trust::Trusted);
        assert!(matches!(old_b.trusts(&chain, now()), Trust::Untrusted(_)));
        // the same certificates with other line endings are the same bundle
        assert_eq!(new_b, CaBundle::from_pem(&new_pem.replace('\n', "\r\n")));
        assert_ne!(new_b.digest, old_b.digest);
        // no certificate, or garbage: no verdict either way
        let empty = CaBundle::from_pem("not a certificate");
        assert!(matches!(empty.trusts(&chain, now()), Trust::Unknown(_)));
        assert_eq!(empty.describe(), "no certificate");
    }
}
