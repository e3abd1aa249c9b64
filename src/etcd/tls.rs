//! TLS for etcd's client and peer ports: a rustls client configuration from PEM files (CA bundle,
//! client certificate and key), and the classification of TLS failures into what an operator checks
//! first (no client certificate, unknown CA, bad server certificate, plain HTTP to a TLS port).
//!
//! Key material is read into memory and handed to rustls; it is never logged or shown. Messages name
//! files, never their contents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{AlertDescription, CertificateError, ClientConfig, RootCertStore};

/// Certificate files for one port (client or peer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.cacert.is_none() && self.cert.is_none() && self.key.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{what} {path} holds no PEM {expected}")]
    NoPem {
        what: &'static str,
        path: PathBuf,
        expected: &'static str,
    },
    #[error("a client certificate needs both --etcd-cert and --etcd-key (only {given} given)")]
    HalfPair { given: &'static str },
    #[error("the client certificate and key do not fit together: {0}")]
    BadPair(String),
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|e| TlsSetupError::Read {
        what,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read(what, path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsSetupError::NoPem {
            what,
            path: path.to_path_buf(),
            expected: "certificate",
        });
    }
    Ok(certs)
}

/// A rustls client configuration speaking HTTP/1.1 only (the peer port needs it; the client port's
/// JSON gateway accepts it).
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    if let Some(ca) = &files.cacert {
        for c in certs("CA file", ca)? {
            // a CA bundle may hold certificates rustls cannot use; the usable ones are enough
            let _ = roots.add(c);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::BadPair(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = certs("client certificate", cert)?;
            let pem = read("client key", key)?;
            let key_der =
                PrivateKeyDer::from_pem_slice(&pem).map_err(|_| TlsSetupError::NoPem {
                    what: "client key",
                    path: key.clone(),
                    expected: "private key",
                })?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| TlsSetupError::BadPair(e.to_string()))?
        }
        (Some(_), None) => {
            return Err(TlsSetupError::HalfPair {
                given: "--etcd-cert",
            });
        }
        (None, Some(_)) => {
            return Err(TlsSetupError::HalfPair {
                given: "--etcd-key",
            });
        }
        (None, None) => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What went wrong in a TLS handshake, in the order an operator would check it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsProblem {
    /// The server wants a client certificate and none was sent.
    NoClientCert,
    /// The server's certificate is not signed by the CA we trust (or no CA was given).
    UnknownCa,
    /// The server's certificate is wrong for this address, expired or malformed.
    BadServerCert,
    /// The server rejected our client certificate (signed by a CA it does not trust).
    ClientCertRejected,
    /// `http://` to a port that speaks TLS.
    PlainHttpToTls,
    /// `https://` to a port that speaks plain HTTP.
    TlsToPlainHttp,
    Other,
}

impl TlsProblem {
    pub fn headline(self) -> &'static str {
        match self {
            TlsProblem::NoClientCert => {
                "TLS: the server requires a client certificate (give --etcd-cert and --etcd-key)"
            }
            TlsProblem::UnknownCa => {
                "TLS: unknown CA: the server's certificate is not signed by --etcd-cacert"
            }
            TlsProblem::BadServerCert => "TLS: bad server certificate",
            TlsProblem::ClientCertRejected => {
                "TLS: the server rejected the client certificate (not signed by its CA)"
            }
            TlsProblem::PlainHttpToTls => "TLS: plain HTTP sent to a TLS port (use https://)",
            TlsProblem::TlsToPlainHttp => "TLS: TLS sent to a plain-HTTP port (use http://)",
            TlsProblem::Other => "TLS handshake failed",
        }
    }
}

/// Classify a rustls error found in an error chain; the library's own text is kept by the caller.
/// `with_cert`: whether we offered a client certificate (Go answers a missing one with the same
/// `bad_certificate` alert as a rejected one, so only we can tell them apart).
pub fn classify(e: &rustls::Error, with_cert: bool) -> TlsProblem {
    use rustls::Error as E;
    match e {
        E::AlertReceived(AlertDescription::CertificateRequired) => TlsProblem::NoClientCert,
        E::AlertReceived(
            AlertDescription::HandshakeFailure
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown,
        ) if !with_cert => TlsProblem::NoClientCert,
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate,
        ) => TlsProblem::ClientCertRejected,
        E::InvalidCertificate(CertificateError::UnknownIssuer) => TlsProblem::UnknownCa,
        E::InvalidCertificate(_) => TlsProblem::BadServerCert,
        E::InvalidMessage(_) => TlsProblem::TlsToPlainHttp,
        _ => TlsProblem::Other,
    }
}

/// Find a rustls error in an error's source chain (hyper and tokio-rustls wrap it in `io::Error`).
pub fn find_rustls(e: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r.clone());
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(r) = inner.downcast_ref::<rustls::Error>()
        {
            return Some(r.clone());
        }
        cur = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_usual_failures() {
        use rustls::Error as E;
        assert_eq!(
            classify(
                &E::AlertReceived(AlertDescription::CertificateRequired),
                false
            ),
            TlsProblem::NoClientCert
        );
        assert_eq!(
            classify(&E::AlertReceived(AlertDescription::BadCertificate), false),
            TlsProblem::NoClientCert
        );
        assert_eq!(
            classify(
                &E::InvalidCertificate(CertificateError::UnknownIssuer),
                true
            ),
            TlsProblem::UnknownCa
        );
        assert_eq!(
            classify(
                &E::InvalidCertificate(CertificateError::NotValidForName),
                true
            ),
            TlsProblem::BadServerCert
        );
        assert_eq!(
            classify(&E::AlertReceived(AlertDescription::BadCertificate), true),
            TlsProblem::ClientCertRejected
        );
    }

    #[test]
    fn setup_errors_name_files_not_contents() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        std::fs::write(&key, "not a key").unwrap();
        let files = TlsFiles {
            cacert: None,
            cert: None,
            key: Some(key),
        };
        let err = client_config(&files).unwrap_err().to_string();
        assert!(err.contains("--etcd-key"), "{err}");
        let files = TlsFiles {
            cacert: Some(dir.path().join("missing.crt")),
            ..TlsFiles::default()
        };
        let err = client_config(&files).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read CA file") && err.contains("missing.crt"),
            "{err}"
        );
    }
}
