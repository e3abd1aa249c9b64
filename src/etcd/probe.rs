//! One probe round: every endpoint concurrently, each request under its own timeout; then, for every
//! endpoint whose client port did not give a status, its peer port's `GET /members` (the
//! `X-Etcd-Cluster-Id` header answers even when the member has no leader and never serves clients).
//!
//! The endpoints probed are the configured ones plus every client URL the answering members list
//! (like `etcdctl endpoint status --cluster`), so one endpoint is enough to see the whole cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::{Fuse, FusedFuture, FutureExt, join_all};

use super::client::{ErrorKind, EtcdClient, EtcdError, Request};
use super::wire::{AlarmList, MemberList, PeerMember, RangeResponse, Status, parse_hex, same_url};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PeerView {
    /// From the `X-Etcd-Cluster-Id` header.
    pub cluster_id: Option<u64>,
    /// That member's own view of the member list.
    pub members: Vec<PeerMember>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PeerProbe {
    pub url: String,
    pub result: Result<PeerView, EtcdError>,
}

impl PeerProbe {
    /// The member ID the peer answers as: the entry of its own list that has its peer URL.
    pub fn own_member_id(&self) -> Option<u64> {
        let v = self.result.as_ref().ok()?;
        v.members
            .iter()
            .find(|m| m.peer_urls.iter().any(|u| same_url(u, &self.url)))
            .map(|m| m.id)
    }
}

/// Which etcd inputs answered for an endpoint: the direct probe, `etcdctl` inside the etcd pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Via {
    pub probe: bool,
    pub exec: bool,
}

impl Via {
    pub const PROBE: Via = Via {
        probe: true,
        exec: false,
    };
    pub const EXEC: Via = Via {
        probe: false,
        exec: true,
    };

    /// `probe`, `exec`, in that order (the findings' `details.source`).
    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.probe {
            v.push("probe");
        }
        if self.exec {
            v.push("exec");
        }
        v
    }
}

impl Default for Via {
    fn default() -> Via {
        Via::PROBE
    }
}

/// What one endpoint answered in one round.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointProbe {
    pub endpoint: String,
    pub status: Result<Status, EtcdError>,
    pub status_ms: Option<u64>,
    pub members: Result<MemberList, EtcdError>,
    pub alarms: Result<AlarmList, EtcdError>,
    /// Milliseconds the quorum read took.
    pub health: Result<u64, EtcdError>,
    pub peer: Option<PeerProbe>,
    /// True when the endpoint was not configured but learned from a member list.
    pub learned: bool,
    /// Which input answered (both when the probe and exec agree on a member).
    pub via: Via,
}

impl EndpointProbe {
    /// The cluster ID it answers with: from its status, else from its peer port's header.
    pub fn cluster_id(&self) -> Option<u64> {
        match &self.status {
            Ok(s) if s.header.cluster_id != 0 => Some(s.header.cluster_id),
            _ => self
                .peer
                .as_ref()
                .and_then(|p| p.result.as_ref().ok())
                .and_then(|v| v.cluster_id),
        }
    }

    /// The member ID it answers as.
    pub fn member_id(&self) -> Option<u64> {
        match &self.status {
            Ok(s) if s.header.member_id != 0 => Some(s.header.member_id),
            _ => self.peer.as_ref().and_then(PeerProbe::own_member_id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Round {
    pub started: DateTime<Utc>,
    pub took_ms: u64,
    pub endpoints: Vec<EndpointProbe>,
}

async fn probe_endpoint(client: &EtcdClient, endpoint: &str, learned: bool) -> EndpointProbe {
    let (status, members, alarms, health) = tokio::join!(
        client.read::<Status>(endpoint, Request::Status),
        client.read::<MemberList>(endpoint, Request::MemberList),
        client.read::<AlarmList>(endpoint, Request::AlarmGet),
        client.read::<RangeResponse>(endpoint, Request::HealthRange),
    );
    EndpointProbe {
        endpoint: endpoint.to_string(),
        status_ms: status.as_ref().ok().map(|a| a.took.as_millis() as u64),
        status: status.map(|a| a.value),
        members: members.map(|a| a.value),
        alarms: alarms.map(|a| a.value),
        health: health.map(|a| a.took.as_millis() as u64),
        peer: None,
        learned,
        via: Via::PROBE,
    }
}

async fn probe_peer(client: &EtcdClient, url: String) -> PeerProbe {
    let result = client
        .read::<Vec<PeerMember>>(&url, Request::PeerMembers)
        .await
        .map(|a| PeerView {
            cluster_id: a.cluster_id_header.as_deref().and_then(parse_hex),
            members: a.value,
        });
    PeerProbe { url, result }
}

/// What a member list says about one client URL: its peer URL and the cluster that lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerHint {
    pub peer: String,
    pub cluster_id: u64,
}

/// Client URL → peer hint, from every member list seen (kept across rounds).
pub type Hints = BTreeMap<String, PeerHint>;

fn key(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// Learn client URL → peer URL from one endpoint's member list.
pub fn learn(p: &EndpointProbe, into: &mut Hints) {
    if let Ok(ml) = &p.members {
        for m in &ml.members {
            if let Some(peer) = m.peer_urls.first() {
                for c in &m.client_urls {
                    into.insert(
                        key(c),
                        PeerHint {
                            peer: peer.clone(),
                            cluster_id: ml.header.cluster_id,
                        },
                    );
                }
            }
        }
    }
}

/// How long a member whose peer port answers for another cluster gets to answer on its client port.
const GRACE: Duration = Duration::from_millis(300);

/// Probe one endpoint; meanwhile, as soon as another member's list names this endpoint, ask its peer
/// port. When the peer port answers for another cluster than the list that names it, stop waiting for
/// a client port that will never answer (a member re-bootstrapped into its own cluster serves no
/// clients): the split brain shows in milliseconds instead of after the timeout.
async fn probe_watching(
    client: &EtcdClient,
    endpoint: &str,
    learned: bool,
    mut hints: tokio::sync::watch::Receiver<Hints>,
    publish: &tokio::sync::watch::Sender<Hints>,
) -> EndpointProbe {
    let started = Instant::now();
    let k = key(endpoint);
    let full = probe_endpoint(client, endpoint, learned).fuse();
    let peer = Fuse::terminated();
    let grace = Fuse::terminated();
    tokio::pin!(full, peer, grace);
    let mut hint: Option<PeerHint> = None;
    let mut peer_answer: Option<PeerProbe> = None;
    let mut watching = true;
    loop {
        if hint.is_none()
            && let Some(h) = hints.borrow().get(&k).cloned()
        {
            peer.set(probe_peer(client, h.peer.clone()).fuse());
            hint = Some(h);
        }
        tokio::select! {
            mut p = &mut full => {
                publish.send_modify(|m| learn(&p, m));
                if p.status.is_err() {
                    p.peer = peer_answer;
                }
                return p;
            }
            answer = &mut peer, if !peer.is_terminated() => {
                let listed = hint.as_ref().map(|h| h.cluster_id);
                let foreign = answer
                    .result
                    .as_ref()
                    .ok()
                    .and_then(|v| v.cluster_id)
                    .is_some_and(|c| Some(c) != listed && listed != Some(0));
                if foreign {
                    // an island answers its clients at once; a re-bootstrapped member never will
                    grace.set(tokio::time::sleep(GRACE).fuse());
                }
                peer_answer = Some(answer);
            }
            _ = &mut grace, if !grace.is_terminated() => {
                let e = EtcdError {
                    kind: ErrorKind::Timeout,
                    message: format!(
                        "no answer after {} ms; its peer port answers for another cluster, so it never will",
                        started.elapsed().as_millis()
                    ),
                };
                return EndpointProbe {
                    endpoint: endpoint.to_string(),
                    status: Err(e.clone()),
                    status_ms: None,
                    members: Err(e.clone()),
                    alarms: Err(e.clone()),
                    health: Err(e),
                    peer: peer_answer,
                    learned,
                    via: Via::PROBE,
                };
            }
            changed = hints.changed(), if watching && hint.is_none() => {
                watching = changed.is_ok();
            }
        }
    }
}

/// Probe `configured` plus the client URLs the answering members list.
pub async fn probe_round(
    client: &EtcdClient,
    configured: &[String],
    hints: &mut Hints,
) -> Vec<EndpointProbe> {
    let (publish, watch) = tokio::sync::watch::channel(hints.clone());
    let mut probes = join_all(
        configured
            .iter()
            .map(|e| probe_watching(client, e, false, watch.clone(), &publish)),
    )
    .await;
    // endpoints the members list that were not configured (one pass, like `--cluster`)
    let mut learned: Vec<String> = Vec::new();
    for p in &probes {
        if let Ok(ml) = &p.members {
            for m in &ml.members {
                for c in &m.client_urls {
                    let known = configured.iter().any(|e| same_url(e, c))
                        || learned.iter().any(|e| same_url(e, c));
                    if !known {
                        learned.push(key(c));
                    }
                }
            }
        }
    }
    if !learned.is_empty() {
        probes.extend(
            join_all(
                learned
                    .iter()
                    .map(|e| probe_watching(client, e, true, watch.clone(), &publish)),
            )
            .await,
        );
    }
    *hints = publish.borrow().clone();
    // the client port failed and no peer answer yet: ask the peer port now
    let peers: Vec<(usize, String)> = probes
        .iter()
        .enumerate()
        .filter(|(_, p)| p.status.is_err() && p.peer.is_none())
        .filter_map(|(i, p)| hints.get(&key(&p.endpoint)).map(|h| (i, h.peer.clone())))
        .collect();
    let answers = join_all(peers.iter().map(|(_, u)| probe_peer(client, u.clone()))).await;
    for ((i, _), a) in peers.into_iter().zip(answers) {
        if let Some(p) = probes.get_mut(i) {
            p.peer = Some(a);
        }
    }
    probes
}
