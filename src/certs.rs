//! Certificate expiry: the API server's serving certificate (read from a TLS handshake: connect, read
//! the peer's leaf certificate, hang up; no request is sent) and the etcd client certificates ktriage
//! uses (the files `etcd::access` resolved). RKE certificates expiring after a year is a classic
//! outage; the `cert-expiring` rule reads what this module finds.
//!
//! The same handshake gives the chain the API server presents; [`chain`] says which CA bundles trust
//! it (the kubeconfig's CA here, every namespace's `kube-root-ca.crt` in the model): the kube-ca
//! evidence that needs no Secret.
//!
//! Only `notAfter` and names are needed, so a small DER reader walks `tbsCertificate` instead of
//! pulling in a full X.509 parser.

pub mod chain;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// One certificate ktriage depends on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertRow {
    /// What it is: `API server serving certificate (127.0.0.1:6443)`, `etcd client certificate`.
    pub what: String,
    /// Where it was read: the endpoint or the file path.
    pub source: String,
    pub not_after: DateTime<Utc>,
}

/// The certificates' state: `None` until the first probe answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CertsModel {
    pub rows: Vec<CertRow>,
    /// Probes that could not read a certificate (shown as evidence, never a finding by themselves).
    pub errors: Vec<String>,
    /// The chain the API server presented (when its URL is https and the handshake completed).
    pub served: Option<chain::ServedChain>,
}

pub(crate) fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, b.get(hdr..end)?, b.get(end..)?))
}

fn parse_time(tag: u8, v: &[u8]) -> Option<DateTime<Utc>> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        // UTCTime: YYMMDDHHMMSS
        0x17 => {
            let yy: i32 = s.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        // GeneralizedTime: YYYYMMDDHHMMSS
        0x18 => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let n = |r: std::ops::Range<usize>| rest.get(r).and_then(|x| x.parse::<u32>().ok());
    let d = NaiveDate::from_ymd_opt(year, n(0..2)?, n(2..4)?)?;
    let t = d.and_hms_opt(n(4..6)?, n(6..8)?, n(8..10).unwrap_or(0))?;
    Some(t.and_utc())
}

/// The parts of a DER certificate's `tbsCertificate` ktriage reads: issuer, validity and subject, each
/// the contents of its DER element.
pub(crate) struct Tbs<'a> {
    pub issuer: &'a [u8],
    pub validity: &'a [u8],
    pub subject: &'a [u8],
}

pub(crate) fn tbs(der: &[u8]) -> Option<Tbs<'_>> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version (optional)
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_, _, rest) = tlv(rest)?; // serialNumber
    let (_, _, rest) = tlv(rest)?; // signature algorithm
    let (_, issuer, rest) = tlv(rest)?;
    let (0x30, validity, rest) = tlv(rest)? else {
        return None;
    };
    let (_, subject, _) = tlv(rest)?;
    Some(Tbs {
        issuer,
        validity,
        subject,
    })
}

/// `notAfter` of a DER certificate.
pub fn not_after_der(der: &[u8]) -> Option<DateTime<Utc>> {
    let validity = tbs(der)?.validity;
    let (_, _, after) = tlv(validity)?; // notBefore
    let (tag, v, _) = tlv(after)?;
    parse_time(tag, v)
}

/// The DER blocks of every `CERTIFICATE` in a PEM text.
pub fn pem_certs(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            cur = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b) = cur.take()
                && let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b)
            {
                out.push(der);
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(line);
        }
    }
    out
}

/// The leaf (first) certificate of a PEM file.
pub fn read_file(what: &str, path: &Path) -> Result<CertRow, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    let der = pem_certs(&text)
        .into_iter()
        .next()
        .ok_or_else(|| format!("{what} {}: no PEM certificate", path.display()))?;
    let not_after = not_after_der(&der)
        .ok_or_else(|| format!("{what} {}: unreadable certificate", path.display()))?;
    Ok(CertRow {
        what: what.into(),
        source: path.display().to_string(),
        not_after,
    })
}

/// Accepts any certificate: the probe only reads what the server presents and sends nothing.
#[derive(Debug)]
struct ReadOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for ReadOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `host:port` of an `https://` URL (default port 443).
pub fn https_authority(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("https://")?;
    let auth = rest.split('/').next()?;
    if let Some(h) = auth.strip_prefix('[') {
        let (host, port) = h.split_once(']')?;
        let port = port
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(443);
        return Some((host.to_string(), port));
    }
    match auth.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((auth.to_string(), 443)),
    }
}

/// Connect to the `https://` server, complete the TLS handshake, and keep the certificates it
/// presented (leaf first); nothing is sent over the connection.
async fn handshake(url: &str, timeout: Duration) -> Result<(String, Vec<Vec<u8>>), String> {
    let (host, port) = https_authority(url).ok_or_else(|| format!("{url}: not an https URL"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReadOnly(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let work = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("{host}:{port}: {e}"))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("{host}:{port}: TLS handshake: {e}"))?;
        let (_, conn) = tls.get_ref();
        let chain: Vec<Vec<u8>> = conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect())
            .unwrap_or_default();
        if chain.is_empty() {
            return Err(format!("{host}:{port}: no certificate presented"));
        }
        Ok(chain)
    };
    let chain = tokio::time::timeout(timeout, work).await.map_err(|_| {
        format!(
            "{host}:{port}: no TLS answer within {} s",
            timeout.as_secs()
        )
    })??;
    Ok((format!("{host}:{port}"), chain))
}

fn serving_row(url: &str, endpoint: &str, leaf: &[u8]) -> Result<CertRow, String> {
    let not_after =
        not_after_der(leaf).ok_or_else(|| format!("{endpoint}: unreadable certificate"))?;
    Ok(CertRow {
        what: if proxied(url) {
            "Rancher proxy serving certificate".into()
        } else {
            "API server serving certificate".into()
        },
        source: endpoint.to_string(),
        not_after,
    })
}

fn proxied(url: &str) -> bool {
    url.contains("/k8s/clusters/")
}

/// Connect to the `https://` server, complete the TLS handshake, read the leaf certificate's notAfter.
pub async fn probe_serving(url: &str, timeout: Duration) -> Result<CertRow, String> {
    let (endpoint, chain) = handshake(url, timeout).await?;
    serving_row(url, &endpoint, &chain[0])
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The chain the server presented, with whether the kubeconfig's CA (`kubeconfig_ca`, DER; empty
/// when the kubeconfig names none) trusts it.
fn served_chain(
    url: &str,
    endpoint: String,
    chain: &[Vec<u8>],
    ca: &[Vec<u8>],
) -> chain::ServedChain {
    let leaf = chain[0].clone();
    let intermediates = chain[1..].to_vec();
    let kubeconfig_ca =
        (!ca.is_empty()).then(|| chain::trusts(ca, &leaf, &intermediates, now_secs()));
    chain::ServedChain {
        endpoint,
        issuer: chain::issuer_of(&leaf),
        leaf,
        intermediates,
        proxied: proxied(url),
        kubeconfig_ca,
    }
}

/// Read every certificate ktriage depends on: the API server's (when its URL is https; with the
/// chain it presents, checked against the kubeconfig's CA `kubeconfig_ca`) and the etcd client
/// certificate files.
pub async fn probe_all(
    server: Option<&str>,
    kubeconfig_ca: &[Vec<u8>],
    etcd_cert: Option<&Path>,
    timeout: Duration,
) -> CertsModel {
    let mut m = CertsModel::default();
    if let Some(url) = server.filter(|u| u.starts_with("https://")) {
        match handshake(url, timeout).await {
            Ok((endpoint, chain)) => {
                match serving_row(url, &endpoint, &chain[0]) {
                    Ok(r) => m.rows.push(r),
                    Err(e) => m.errors.push(e),
                }
                m.served = Some(served_chain(url, endpoint, &chain, kubeconfig_ca));
            }
            Err(e) => m.errors.push(e),
        }
    }
    if let Some(p) = etcd_cert {
        match read_file("etcd client certificate", p) {
            Ok(r) => m.rows.push(r),
            Err(e) => m.errors.push(e),
        }
    }
    m
}

/// What the certificate probe reads: the API server's URL and the kubeconfig's CA (DER), the etcd
/// client certificate file.
#[derive(Debug, Clone, Default)]
pub struct CertTargets {
    pub server: Option<String>,
    pub kubeconfig_ca: Vec<Vec<u8>>,
    pub etcd_cert: Option<std::path::PathBuf>,
}
