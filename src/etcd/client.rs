//! The etcd client: structurally read-only. It can send exactly the requests named by [`Request`]
//! (the v3 JSON gateway's status, member list, alarm GET and a quorum read, and the peer port's
//! `GET /members`); there is no method that takes a path, a method or a body from its caller, so no
//! code path can send an etcd write (alarm disarm, defrag, compact, member changes, put, delete).
//!
//! Every request opens its own connection (HTTP/1.1, plain or TLS with a client certificate) and runs
//! under its own timeout, so one member that accepts TCP but never answers costs one timeout, not a
//! stalled round.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::tls::{TlsProblem, classify, find_rustls};

/// The only requests ktriage sends to etcd. All are reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    /// `POST /v3/maintenance/status {}`
    Status,
    /// `POST /v3/cluster/member/list {}`
    MemberList,
    /// `POST /v3/maintenance/alarm {"action":"GET"}` (never ACTIVATE or DEACTIVATE)
    AlarmGet,
    /// `POST /v3/kv/range {"key":"health"}`: a linearizable read, which needs a quorum (etcdctl's
    /// `endpoint health` does the same).
    HealthRange,
    /// Peer port `GET /members`: answers with the `X-Etcd-Cluster-Id` header even without quorum.
    PeerMembers,
}

impl Request {
    pub const ALL: [Request; 5] = [
        Request::Status,
        Request::MemberList,
        Request::AlarmGet,
        Request::HealthRange,
        Request::PeerMembers,
    ];

    pub fn method(self) -> &'static str {
        match self {
            Request::PeerMembers => "GET",
            _ => "POST",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Request::Status => "/v3/maintenance/status",
            Request::MemberList => "/v3/cluster/member/list",
            Request::AlarmGet => "/v3/maintenance/alarm",
            Request::HealthRange => "/v3/kv/range",
            Request::PeerMembers => "/members",
        }
    }

    pub fn body(self) -> &'static str {
        match self {
            Request::AlarmGet => r#"{"action":"GET"}"#,
            // base64("health")
            Request::HealthRange => r#"{"key":"aGVhbHRo"}"#,
            Request::PeerMembers => "",
            _ => "{}",
        }
    }
}

/// Why a request failed, classified for the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "tls")]
pub enum ErrorKind {
    /// Connected (or not) but no answer within the timeout.
    Timeout,
    /// Nothing listens there (connection refused, unreachable host).
    Refused,
    Tls(TlsProblem),
    /// The server answered with an error (`etcdserver: no leader`, 5xx).
    Server,
    /// An answer we could not read.
    Protocol,
    /// A bad endpoint URL.
    Config,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{message}")]
pub struct EtcdError {
    pub kind: ErrorKind,
    /// One line for humans: for TLS the headline plus the TLS library's own text.
    pub message: String,
}

impl EtcdError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> EtcdError {
        EtcdError {
            kind,
            message: message.into(),
        }
    }
}

/// A successful answer: the decoded body, how long it took, and the peer port's cluster-ID header.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub value: T,
    pub took: Duration,
    pub cluster_id_header: Option<String>,
}

/// TLS settings per port and the per-request timeout.
#[derive(Clone)]
pub struct EtcdClient {
    client_tls: Option<Arc<ClientConfig>>,
    peer_tls: Option<Arc<ClientConfig>>,
    timeout: Duration,
}

const MAX_BODY: usize = 4 << 20;

impl EtcdClient {
    pub fn new(
        client_tls: Option<Arc<ClientConfig>>,
        peer_tls: Option<Arc<ClientConfig>>,
        timeout: Duration,
    ) -> EtcdClient {
        EtcdClient {
            client_tls,
            peer_tls,
            timeout,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Send one of the read requests to `base` (`https://10.0.0.1:2379`) and decode the answer.
    pub async fn read<T: DeserializeOwned>(
        &self,
        base: &str,
        req: Request,
    ) -> Result<Answer<T>, EtcdError> {
        let start = Instant::now();
        let tls = match req {
            Request::PeerMembers => self.peer_tls.clone().or_else(|| self.client_tls.clone()),
            _ => self.client_tls.clone(),
        };
        let fut = send(base, req, tls);
        let (status, header, body) = match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(EtcdError::new(
                    ErrorKind::Timeout,
                    format!("no answer within {} ms", self.timeout.as_millis()),
                ));
            }
        };
        let took = start.elapsed();
        let text = String::from_utf8_lossy(&body);
        if !(200..300).contains(&status) {
            return Err(server_error(base, status, &text));
        }
        let value = serde_json::from_slice(&body).map_err(|e| {
            EtcdError::new(
                ErrorKind::Protocol,
                format!("unreadable answer to {}: {e}", req.path()),
            )
        })?;
        Ok(Answer {
            value,
            took,
            cluster_id_header: header,
        })
    }
}

fn server_error(base: &str, status: u16, body: &str) -> EtcdError {
    if body.contains("HTTP request to an HTTPS server") && base.starts_with("http://") {
        return EtcdError::new(
            ErrorKind::Tls(TlsProblem::PlainHttpToTls),
            format!(
                "{}: the server answered {status}: {}",
                TlsProblem::PlainHttpToTls.headline(),
                body.trim()
            ),
        );
    }
    // the gateway's error shape: {"error":"etcdserver: no leader","code":14,"message":"…"}
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let msg = v
        .get("message")
        .or_else(|| v.get("error"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| crate::text::truncate(body.trim(), 200));
    EtcdError::new(ErrorKind::Server, format!("HTTP {status}: {msg}"))
}

type Raw = (u16, Option<String>, Bytes);

async fn send(base: &str, req: Request, tls: Option<Arc<ClientConfig>>) -> Result<Raw, EtcdError> {
    let uri: http::Uri = base
        .trim_end_matches('/')
        .parse()
        .map_err(|e| EtcdError::new(ErrorKind::Config, format!("bad endpoint {base:?}: {e}")))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(EtcdError::new(
                ErrorKind::Config,
                format!("endpoint {base:?} needs http:// or https://"),
            ));
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| EtcdError::new(ErrorKind::Config, format!("no host in {base:?}")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| EtcdError::new(ErrorKind::Refused, format!("tcp connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let authority = uri
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| host.clone());
    let request = http::Request::builder()
        .method(req.method())
        .uri(req.path())
        .header(http::header::HOST, authority)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "ktriage")
        .body(Full::new(Bytes::from_static(req.body().as_bytes())))
        .map_err(|e| EtcdError::new(ErrorKind::Config, e.to_string()))?;
    if https {
        let config = match tls {
            Some(c) => c,
            None => super::tls::client_config(&Default::default())
                .map_err(|e| EtcdError::new(ErrorKind::Config, e.to_string()))?,
        };
        let with_cert = config.client_auth_cert_resolver.has_certs();
        let name = ServerName::try_from(host.clone())
            .map_err(|e| EtcdError::new(ErrorKind::Config, format!("bad host {host:?}: {e}")))?;
        let stream = TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| tls_error(&e, with_cert))?;
        exchange(stream, request, with_cert).await
    } else {
        exchange(tcp, request, false).await.map_err(|e| {
            // a TLS listener closes a plain-HTTP connection without a word (etcd logs "first record
            // does not look like a TLS handshake")
            if e.message.contains("closed before message completed") {
                EtcdError::new(
                    ErrorKind::Tls(TlsProblem::PlainHttpToTls),
                    format!(
                        "{} (the server closed the connection without an answer: {})",
                        TlsProblem::PlainHttpToTls.headline(),
                        e.message
                    ),
                )
            } else {
                e
            }
        })
    }
}

async fn exchange<S>(
    stream: S,
    request: http::Request<Full<Bytes>>,
    with_cert: bool,
) -> Result<Raw, EtcdError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| transport_error(&e, with_cert))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| transport_error(&e, with_cert))?;
        let status = resp.status().as_u16();
        let header = resp
            .headers()
            .get("x-etcd-cluster-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| EtcdError::new(ErrorKind::Protocol, format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, header, body))
    }
    .await;
    driver.abort();
    result
}

fn tls_error(e: &(dyn std::error::Error + 'static), with_cert: bool) -> EtcdError {
    match find_rustls(e) {
        Some(r) => {
            let p = classify(&r, with_cert);
            EtcdError::new(ErrorKind::Tls(p), format!("{} ({r})", p.headline()))
        }
        None => EtcdError::new(ErrorKind::Refused, crate::text::error_chain(e).to_string()),
    }
}

/// A failure after connecting: TLS alerts from the server often surface here (TLS 1.3 sends the
/// client-certificate verdict after the client considers the handshake done).
fn transport_error(e: &hyper::Error, with_cert: bool) -> EtcdError {
    if find_rustls(e).is_some() {
        return tls_error(e, with_cert);
    }
    let chain = crate::text::error_chain(e);
    if chain.contains("connection reset") || chain.contains("closed before") {
        EtcdError::new(ErrorKind::Refused, chain)
    } else {
        EtcdError::new(ErrorKind::Protocol, chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_set_is_reads_only() {
        for r in Request::ALL {
            let line = format!("{} {} {}", r.method(), r.path(), r.body());
            assert!(
                !line.contains("DEACTIVATE")
                    && !line.contains("ACTIVATE\"")
                    && !line.contains("defragment")
                    && !line.contains("compact")
                    && !line.contains("/put")
                    && !line.contains("deleterange")
                    && !line.contains("member/remove")
                    && !line.contains("member/add"),
                "{line}"
            );
        }
    }

    #[test]
    fn plain_http_to_tls_is_named() {
        let e = server_error(
            "http://127.0.0.1:2379",
            400,
            "Client sent an HTTP request to an HTTPS server.\n",
        );
        assert_eq!(e.kind, ErrorKind::Tls(TlsProblem::PlainHttpToTls));
        let e = server_error(
            "http://x",
            503,
            r#"{"error":"etcdserver: no leader","code":14}"#,
        );
        assert_eq!(e.kind, ErrorKind::Server);
        assert_eq!(e.message, "HTTP 503: etcdserver: no leader");
    }

    #[tokio::test]
    async fn refused_and_bad_urls() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = EtcdClient::new(None, None, Duration::from_secs(2));
        let e = c
            .read::<serde_json::Value>(&format!("http://127.0.0.1:{port}"), Request::Status)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused, "{e}");
        let e = c
            .read::<serde_json::Value>("127.0.0.1:2379", Request::Status)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config, "{e}");
    }
}
