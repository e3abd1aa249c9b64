//! One probe round: every endpoint concurrently, each request under its own timeout; then, for every
//! endpoint whose client port did not give a status, its peer port's `GET /members` (the
//! `X-Etcd-Cluster-Id` header answers even when the member has no leader and never serves clients).
//!
//! The endpoints probed are the configured ones plus every client URL the answering members list
//! (like `etcdctl endpoint status --cluster`), so one endpoint is enough to see the whole cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use tokio::sync::mpsc::Sender;

use super::client::{EtcdClient, EtcdError, Request};
use super::wire::{AlarmList, MemberList, PeerMember, RangeResponse, Status, parse_hex, same_url};
use crate::msg::Msg;

#[derive(Debug, Clone, PartialEq)]
pub struct PeerView {
    /// From the `X-Etcd-Cluster-Id` header.
    pub cluster_id: Option<u64>,
    /// That member's own view of the member list.
    pub members: Vec<PeerMember>,
}

#[derive(Debug, Clone, PartialEq)]
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

/// What one endpoint answered in one round.
#[derive(Debug, Clone, PartialEq)]
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

#[derive(Debug, Clone, PartialEq)]
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

/// Client URL → peer URL, from every member list seen.
pub fn peer_urls(probes: &[EndpointProbe], into: &mut BTreeMap<String, String>) {
    for p in probes {
        if let Ok(ml) = &p.members {
            for m in &ml.members {
                if let Some(peer) = m.peer_urls.first() {
                    for c in &m.client_urls {
                        into.insert(c.trim_end_matches('/').to_string(), peer.clone());
                    }
                }
            }
        }
    }
}

/// Probe `configured` plus the client URLs the answering members list.
pub async fn probe_round(
    client: &EtcdClient,
    configured: &[String],
    hints: &mut BTreeMap<String, String>,
) -> Vec<EndpointProbe> {
    let mut probes = join_all(configured.iter().map(|e| probe_endpoint(client, e, false))).await;
    // endpoints the members list that were not configured (one pass, like `--cluster`)
    let mut learned: Vec<String> = Vec::new();
    for p in &probes {
        if let Ok(ml) = &p.members {
            for m in &ml.members {
                for c in &m.client_urls {
                    let known = configured.iter().any(|e| same_url(e, c))
                        || learned.iter().any(|e| same_url(e, c));
                    if !known {
                        learned.push(c.trim_end_matches('/').to_string());
                    }
                }
            }
        }
    }
    if !learned.is_empty() {
        probes.extend(join_all(learned.iter().map(|e| probe_endpoint(client, e, true))).await);
    }
    peer_urls(&probes, hints);
    let peers: Vec<(usize, String)> = probes
        .iter()
        .enumerate()
        .filter(|(_, p)| p.status.is_err())
        .filter_map(|(i, p)| {
            hints
                .get(p.endpoint.trim_end_matches('/'))
                .map(|u| (i, u.clone()))
        })
        .collect();
    let answers = join_all(peers.iter().map(|(_, u)| probe_peer(client, u.clone()))).await;
    for ((i, _), a) in peers.into_iter().zip(answers) {
        if let Some(p) = probes.get_mut(i) {
            p.peer = Some(a);
        }
    }
    probes
}

/// The etcd source: a round every `every`, sent as `Msg::Etcd`.
pub async fn run(client: EtcdClient, configured: Vec<String>, tx: Sender<Msg>, every: Duration) {
    let mut hints = BTreeMap::new();
    loop {
        let started = Utc::now();
        let t = Instant::now();
        let endpoints = probe_round(&client, &configured, &mut hints).await;
        let round = Round {
            started,
            took_ms: t.elapsed().as_millis() as u64,
            endpoints,
        };
        if tx
            .send(Msg::Etcd(Box::new(crate::model::etcd::EtcdMsg::Round(
                round,
            ))))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(every).await;
    }
}
