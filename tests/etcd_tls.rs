//! TLS failures that a real etcd cannot easily produce: a server certificate for another name, and
//! `https://` to a plain-HTTP port. Each is reported as its own problem with the TLS library's words.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;
use std::time::Duration;

use ktriage::etcd::client::{ErrorKind, EtcdClient, Request};
use ktriage::etcd::tls::{TlsFiles, TlsProblem, client_config};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use support::{FakeApi, Recorded};
use tokio::net::TcpListener;

#[tokio::test]
async fn server_certificate_for_another_name() {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::from_params(&ca, &ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["etcd.wrong.example".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = acceptor.accept(s).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let ca_file = support::write(dir.path(), "ca.crt", &ca_pem);
    let client = EtcdClient::new(
        Some(
            client_config(&TlsFiles {
                cacert: Some(ca_file),
                ..TlsFiles::default()
            })
            .unwrap(),
        ),
        None,
        Duration::from_secs(2),
    );
    let e = client
        .read::<Value>(&format!("https://127.0.0.1:{port}"), Request::Status)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Tls(TlsProblem::BadServerCert), "{e}");
    assert!(e.message.contains("not valid for name"), "{}", e.message);
    task.abort();
}

#[tokio::test]
async fn https_to_a_plain_http_port() {
    let plain = FakeApi::start(
        json!({}),
        Arc::new(|_: &Recorded, _: &mut Value| (200, json!({}))),
    )
    .await;
    let url = plain.url().replace("http://", "https://");
    let e = EtcdClient::new(None, None, Duration::from_secs(2))
        .read::<Value>(&url, Request::Status)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Tls(TlsProblem::TlsToPlainHttp), "{e}");
    assert!(plain.recorded().is_empty(), "a TLS hello is not a request");
}
