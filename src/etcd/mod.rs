//! etcd, probed directly: the v3 JSON gateway on every member's client port (no protoc, no gRPC),
//! plain or TLS with client certificates, plus the peer port's cluster-ID header.
//!
//! | module | role |
//! |---|---|
//! | [`client`] | the structurally read-only client: only [`client::Request`]'s read calls exist |
//! | [`tls`] | rustls configuration from PEM files; TLS failures classified |
//! | [`wire`] | the gateway's JSON (u64 IDs as decimal strings) and hex display |
//! | [`access`] | endpoints and certificates: flags, `ETCDCTL_*`, config, kubeconfig extension, discovery |
//! | [`probe`] | one concurrent round over every endpoint; the polling source |
//! | [`local_logs`] | etcd's log files on a control-plane node (RKE2/k3s pod logs, RKE1's Docker log), tailed |
//! | [`logs`] | log signatures (data in `assets/`), zap/capnslog parser, bounded aggregator |
//! | [`log_facts`] | what etcd log lines say about members and peers (the log rules' input) |
//!
//! The runbooks (the distribution, how etcdctl runs there, which runbook applies, and each
//! runbook's steps) sit beside the rules, in `diagnose::runbook` and `diagnose::recovery`;
//! [`runbook`] and [`recovery`] are re-exported here. This module itself is the etcd sources: the probe loop
//! ([`start`]) and etcd's local log files ([`local_logs`]).

pub mod access;
pub mod client;
pub mod local_logs;
pub mod log_facts;
pub mod logs;
pub mod probe;
pub mod tls;
pub mod wire;

pub use crate::diagnose::{recovery, runbook};

use std::time::{Duration, Instant};

use chrono::Utc;

use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;

use crate::model::etcd::{AccessInfo, EtcdMsg};
use crate::model::{Failure, FailureKind, SourceId};
use crate::msg::Msg;

/// Start the probe for `access`. A TLS setup error (unreadable certificate file) is reported as the
/// source's failure and the source does not start: it would not fix itself.
pub fn start(
    access: &access::EtcdAccess,
    timeout: Duration,
    every: Duration,
    tx: Sender<Msg>,
) -> Option<JoinHandle<()>> {
    let setup = || -> Result<client::EtcdClient, tls::TlsSetupError> {
        let https = access.endpoints.iter().any(|e| e.starts_with("https://"));
        let client_tls = if https || !access.client.is_empty() {
            Some(tls::client_config(&access.client)?)
        } else {
            None
        };
        let peer_tls = if access.peer.is_empty() {
            None
        } else {
            Some(tls::client_config(&access.peer)?)
        };
        Ok(client::EtcdClient::new(client_tls, peer_tls, timeout))
    };
    match setup() {
        Ok(client) => Some(tokio::spawn(run(
            client,
            access.endpoints.clone(),
            tx,
            every,
        ))),
        Err(e) => {
            let failure = Failure {
                kind: FailureKind::Error,
                message: e.to_string(),
            };
            let _ = tx.try_send(Msg::SourceFailed(SourceId::Etcd, failure));
            None
        }
    }
}

/// What the pane shows about the access.
pub fn info(access: &access::EtcdAccess) -> AccessInfo {
    AccessInfo {
        endpoints: access.endpoints.clone(),
        origin: access.origin.clone(),
        tls: access.endpoints.iter().any(|e| e.starts_with("https://")),
    }
}

/// The etcd source: a round every `every`, sent as `Msg::Etcd`.
async fn run(
    client: client::EtcdClient,
    configured: Vec<String>,
    tx: Sender<Msg>,
    every: Duration,
) {
    let mut hints = probe::Hints::new();
    loop {
        let started = Utc::now();
        let t = Instant::now();
        let endpoints = probe::probe_round(&client, &configured, &mut hints).await;
        let round = probe::Round {
            started,
            took_ms: t.elapsed().as_millis() as u64,
            endpoints,
        };
        if tx
            .send(Msg::Etcd(Box::new(EtcdMsg::Round(round))))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(every).await;
    }
}
