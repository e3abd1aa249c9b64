//! The sources a session starts: the Kubernetes ones (`kube::sources`), etcd's probe and local
//! log files, and the certificates probe.

use std::time::Duration;

use tokio::sync::mpsc::Sender;

use super::Session;
use crate::kube::sources::SourceCtx;
use crate::msg::Msg;

impl Session {
    /// Start every configured source: the Kubernetes ones and the etcd probe.
    pub fn start_sources(&self, tx: &Sender<Msg>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut handles = self
            .source_ctx(tx.clone())
            .map(|ctx| crate::kube::sources::start_all(&ctx))
            .unwrap_or_default();
        handles.extend(self.start_exec(tx));
        // on a control-plane node: etcd's own log files, with or without Kubernetes
        let root = super::etcd_access::discovery_root();
        if !crate::etcd::local_logs::find(&root).is_empty() {
            handles.push(tokio::spawn(crate::etcd::local_logs::run(root, tx.clone())));
        }
        let etcd_cert = self.etcd.as_ref().and_then(|a| a.client.cert.clone());
        if self.cluster.server.is_some() || etcd_cert.is_some() {
            let targets = crate::certs::CertTargets {
                server: self.cluster.server.clone(),
                kubeconfig_ca: self.kubeconfig_ca.clone(),
                etcd_cert,
            };
            handles.push(tokio::spawn(certs(
                targets,
                Duration::from_secs(self.config.intervals.request_timeout_secs),
                CERTS_EVERY,
                tx.clone(),
            )));
        }
        if let Some(a) = &self.etcd {
            let i = &self.config.intervals;
            handles.extend(crate::etcd::start(
                a,
                Duration::from_secs(i.etcd_timeout_secs),
                Duration::from_secs(i.etcd_poll_secs),
                tx.clone(),
            ));
        }
        handles
    }

    /// The exec source, when exec is on and the session may write.
    pub fn start_exec(&self, tx: &Sender<Msg>) -> Option<tokio::task::JoinHandle<()>> {
        match (
            &self.etcd_exec,
            self.source_ctx(tx.clone()),
            self.cluster.read_only,
        ) {
            (crate::etcd::access::ExecMode::On(_), Some(ctx), false) => {
                Some(tokio::spawn(crate::kube::sources::etcd_exec::run(ctx)))
            }
            _ => None,
        }
    }

    /// The context sources start from.
    pub fn source_ctx(&self, tx: Sender<Msg>) -> Option<SourceCtx> {
        let i = &self.config.intervals;
        self.client.as_ref().map(|client| SourceCtx {
            client: client.clone(),
            tx,
            namespace: self.cluster.namespace.clone(),
            api_probe: Duration::from_secs(i.api_probe_secs),
            backoff_cap: Duration::from_secs(i.backoff_cap_secs),
            request_timeout: Duration::from_secs(i.request_timeout_secs),
            metrics_every: Duration::from_secs(self.config.tuning.top.metrics_secs.max(1)),
            crashing: self.crashing.subscribe(),
            acted: self.acted.subscribe(),
        })
    }
}

/// How often the certificates are read again: one TLS handshake with the API server (no request is
/// sent over it) and the etcd client certificate file. Often enough that a CA rotated during the
/// session shows within minutes; the days left are recomputed on every evaluation.
pub const CERTS_EVERY: Duration = Duration::from_secs(300);

/// The certificates probe as a source: every `every`, send what it found.
async fn certs(
    targets: crate::certs::CertTargets,
    timeout: Duration,
    every: Duration,
    tx: Sender<Msg>,
) {
    loop {
        let m = crate::certs::probe_all(
            targets.server.as_deref(),
            &targets.kubeconfig_ca,
            targets.etcd_cert.as_deref(),
            timeout,
        )
        .await;
        if tx.send(Msg::Certs(m)).await.is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}
