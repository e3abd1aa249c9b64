//! Certificate expiry with certificates generated here (rcgen) with a short validity: notAfter read
//! from PEM files and from a real TLS handshake against a loopback listener, and the `cert-expiring`
//! rule's severities (warning under 30 days, critical under 7, nothing beyond).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Utc};
use ktriage::certs::{CertRow, CertsModel, not_after_der, probe_serving, read_file};
use ktriage::diagnose::Severity;
use ktriage::msg::Msg;
use ktriage::update::update;
use rcgen::{CertificateParams, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::model::t0;

/// A self-signed certificate valid until `days` from now (UTC midnight).
fn cert(days: i64) -> (rcgen::Certificate, KeyPair, chrono::NaiveDate) {
    let end = (Utc::now() + chrono::Duration::days(days)).date_naive();
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
    let key = KeyPair::generate().unwrap();
    let c = p.self_signed(&key).unwrap();
    (c, key, end)
}

#[test]
fn not_after_from_pem_files() {
    let (c, _, end) = cert(5);
    assert_eq!(not_after_der(c.der()).unwrap().date_naive(), end);
    let dir = tempfile::tempdir().unwrap();
    let p = support::write(dir.path(), "client.crt", &c.pem());
    let row = read_file("etcd client certificate", &p).unwrap();
    assert_eq!(row.not_after.date_naive(), end);
    assert_eq!(row.source, p.display().to_string());
    let bad = support::write(dir.path(), "bad.crt", "not a certificate");
    assert!(read_file("etcd client certificate", &bad).is_err());
    // GeneralizedTime (after 2049) parses too
    let mut p2 = CertificateParams::new(vec!["x".to_string()]).unwrap();
    p2.not_after = rcgen::date_time_ymd(2051, 3, 4);
    let c2 = p2.self_signed(&KeyPair::generate().unwrap()).unwrap();
    assert_eq!(
        not_after_der(c2.der()).unwrap().date_naive(),
        chrono::NaiveDate::from_ymd_opt(2051, 3, 4).unwrap()
    );
}

#[tokio::test]
async fn serving_certificate_from_the_tls_handshake() {
    let (c, key, end) = cert(3);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(c.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let a = acceptor.clone();
            tokio::spawn(async move {
                let _ = a.accept(tcp).await;
            });
        }
    });
    let row = probe_serving(
        &format!("https://127.0.0.1:{port}/k8s/clusters/c-m-1"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(row.not_after.date_naive(), end);
    assert_eq!(row.source, format!("127.0.0.1:{port}"));
    assert!(row.what.contains("Rancher proxy"), "{row:?}");
    // refused: an error, quickly
    let refused = support::refused_port();
    let e = probe_serving(
        &format!("https://127.0.0.1:{refused}"),
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(e.contains(&format!("127.0.0.1:{refused}")), "{e}");
}

fn model_with(days: &[i64]) -> ktriage::model::Model {
    let mut m = support::model::model(true);
    let rows = days
        .iter()
        .enumerate()
        .map(|(i, d)| CertRow {
            what: "API server serving certificate".into(),
            source: format!("10.0.0.{i}:6443"),
            not_after: t0() + chrono::Duration::days(*d) + chrono::Duration::hours(1),
        })
        .collect();
    update(
        &mut m,
        Msg::Certs(CertsModel {
            rows,
            ..CertsModel::default()
        }),
        t0(),
    );
    m
}

#[test]
fn cert_expiring_severities() {
    let m = model_with(&[3, 20, 90, -2]);
    let f: Vec<_> = m
        .findings
        .iter()
        .filter(|f| f.id == "cert-expiring")
        .collect();
    assert_eq!(f.len(), 3, "{f:#?}");
    let sev = |src: &str| {
        f.iter()
            .find(|x| x.subject.as_ref().unwrap().name == src)
            .map(|x| x.severity)
    };
    assert_eq!(sev("10.0.0.0:6443"), Some(Severity::Critical));
    assert_eq!(sev("10.0.0.1:6443"), Some(Severity::Warning));
    assert_eq!(sev("10.0.0.2:6443"), None);
    assert_eq!(sev("10.0.0.3:6443"), Some(Severity::Critical));
    let expired = f
        .iter()
        .find(|x| x.subject.as_ref().unwrap().name == "10.0.0.3:6443")
        .unwrap();
    assert!(expired.title.contains("expired"), "{}", expired.title);
    assert!(
        f.iter()
            .any(|x| x.title.contains("expires in 3 day(s)") && x.details["days_left"] == 3)
    );
}
