//! etcd membership rules: `etcd-split-brain`, `etcd-quorum-lost`, `etcd-member-down`, and
//! `etcd-unreachable` (no endpoint accepts our access). The health rules
//! (alarms, quota, churn, latency, lag) are in `etcd_health.rs`; both read one [`View`] of the round.
//!
//! A split brain hides behind green health checks: every member may answer `endpoint health` while one
//! belongs to another cluster ID. The evidence is in the answers themselves: different
//! `header.cluster_id` between endpoints, a second leader, a member ID the majority's member list does
//! not hold for that URL, member lists that disagree, and (when the island never serves clients) the
//! peer port's `X-Etcd-Cluster-Id` header.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{Finding, Severity, Subject};
use crate::etcd::client::ErrorKind;
use crate::etcd::probe::EndpointProbe;
use crate::etcd::wire::{Member, MemberList, hex, same_url};
use crate::model::{Model, PaneId};

/// The round as the rules read it: which cluster ID is the majority and what its member list says.
pub struct View<'a> {
    pub probes: &'a [EndpointProbe],
    pub majority: Option<u64>,
    /// The member list of the majority (from its leader when it answered).
    pub list: Option<&'a MemberList>,
    /// Which endpoint that list came from.
    pub list_via: Option<&'a str>,
}

impl<'a> View<'a> {
    pub fn new(probes: &'a [EndpointProbe]) -> View<'a> {
        // distinct (cluster, member) pairs, so one member reached by two URLs counts once
        let mut by_cluster: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for p in probes {
            if let Some(c) = p.cluster_id() {
                by_cluster
                    .entry(c)
                    .or_default()
                    .insert(p.member_id().unwrap_or(0));
            }
        }
        let list_len = |c: u64| {
            probes
                .iter()
                .filter(|p| p.cluster_id() == Some(c))
                .filter_map(|p| p.members.as_ref().ok())
                .map(|l| l.members.len())
                .max()
                .unwrap_or(0)
        };
        let majority = by_cluster
            .iter()
            .max_by(|a, b| {
                (a.1.len(), list_len(*a.0), std::cmp::Reverse(*a.0)).cmp(&(
                    b.1.len(),
                    list_len(*b.0),
                    std::cmp::Reverse(*b.0),
                ))
            })
            .map(|(c, _)| *c);
        let in_majority = |p: &&EndpointProbe| majority.is_some() && p.cluster_id() == majority;
        let source = probes
            .iter()
            .filter(in_majority)
            .filter(|p| p.members.is_ok())
            .max_by_key(|p| p.status.as_ref().is_ok_and(|s| s.is_leader()));
        View {
            probes,
            majority,
            list: source.and_then(|p| p.members.as_ref().ok()),
            list_via: source.map(|p| p.endpoint.as_str()),
        }
    }

    /// The majority's entry for a client URL (or the peer URL the endpoint's peer probe used).
    pub fn listed_for(&self, p: &EndpointProbe) -> Option<&'a Member> {
        let list = self.list?;
        list.members
            .iter()
            .find(|m| m.client_urls.iter().any(|u| same_url(u, &p.endpoint)))
            .or_else(|| {
                let peer = p.peer.as_ref()?;
                list.members
                    .iter()
                    .find(|m| m.peer_urls.iter().any(|u| same_url(u, &peer.url)))
            })
    }

    pub fn in_list(&self, id: u64) -> bool {
        self.list
            .is_some_and(|l| l.members.iter().any(|m| m.id == id))
    }

    /// Endpoints that answer as a member outside the majority (other cluster ID, or an ID the
    /// majority's list does not hold). One per island member.
    pub fn islands(&self) -> Vec<&'a EndpointProbe> {
        let Some(maj) = self.majority else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        self.probes
            .iter()
            .filter(|p| match (p.cluster_id(), p.member_id()) {
                (Some(c), _) if c != maj => true,
                (Some(_), Some(m)) => self.list.is_some() && !self.in_list(m),
                _ => false,
            })
            .filter(|p| seen.insert((p.cluster_id(), p.member_id())))
            .collect()
    }

    /// Distinct majority members whose quorum read succeeded.
    pub fn healthy(&self) -> BTreeSet<u64> {
        self.probes
            .iter()
            .filter(|p| p.cluster_id() == self.majority && p.health.is_ok())
            .filter_map(EndpointProbe::member_id)
            .collect()
    }

    /// The cluster size: the majority's list, else the distinct endpoints configured.
    pub fn size(&self) -> usize {
        match self.list {
            Some(l) => l.members.len(),
            None => self.probes.iter().filter(|p| !p.learned).count(),
        }
    }
}

pub fn subject(member: Option<u64>, url: &str) -> Subject {
    Subject {
        kind: "EtcdMember".into(),
        namespace: None,
        name: member.map(hex).unwrap_or_else(|| "unknown".into()),
        part: Some(url.to_string()),
    }
}

fn ids(list: &MemberList) -> String {
    let mut v: Vec<String> = list.members.iter().map(|m| hex(m.id)).collect();
    v.sort();
    v.join(", ")
}

/// Is this failure about our access (TLS, a bad URL) rather than the member?
pub fn access_problem(e: &crate::etcd::client::EtcdError) -> bool {
    matches!(e.kind, ErrorKind::Tls(_) | ErrorKind::Config)
}

pub fn rules(cx: &super::Rules, out: &mut Vec<Finding>) {
    let (model, now) = (cx.model, cx.now);
    if let Some(round) = &model.etcd.round {
        let start = out.len();
        let view = View::new(&round.endpoints);
        split_brain(model, &view, out);
        quorum(model, &view, out);
        super::etcd_members::rules(model, &view, out);
        super::etcd_health::rules(model, &view, now, out);
        for f in &mut out[start..] {
            let via = f
                .subject
                .as_ref()
                .and_then(|s| s.part.as_deref())
                .and_then(|u| view.probes.iter().find(|p| same_url(&p.endpoint, u)))
                .map(|p| p.via)
                .unwrap_or_else(|| round_via(view.probes));
            for name in via.names() {
                add_source(f, name);
            }
        }
    }
    super::etcd_logs::rules(model, now, out);
    super::etcd_backups::rules(model, now, out);
}

/// Every input that answered in the round.
fn round_via(probes: &[EndpointProbe]) -> crate::etcd::probe::Via {
    let mut v = crate::etcd::probe::Via {
        probe: false,
        exec: false,
    };
    for p in probes {
        v.probe |= p.via.probe;
        v.exec |= p.via.exec;
    }
    v
}

/// Add an input to a finding's `details.source`: one name, or a list (`probe`, `exec`, `logs` order)
/// when several saw the same problem.
pub fn add_source(f: &mut Finding, source: &str) {
    const ORDER: [&str; 3] = ["probe", "exec", "logs"];
    let mut have: Vec<String> = match f.details.get("source") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !have.iter().any(|h| h == source) {
        have.push(source.to_string());
    }
    have.sort_by_key(|h| ORDER.iter().position(|o| o == h).unwrap_or(ORDER.len()));
    let value = if have.len() == 1 {
        json!(have[0])
    } else {
        json!(have)
    };
    if !f.details.is_object() {
        f.details = json!({});
    }
    f.details["source"] = value;
}

/// A member's subject; `part` is its client URL when known.
pub fn subject_of(member: Option<u64>, url: Option<&str>) -> Subject {
    Subject {
        kind: "EtcdMember".into(),
        namespace: None,
        name: member.map(hex).unwrap_or_else(|| "unknown".into()),
        part: url.map(str::to_string),
    }
}

/// What to do about a down member: start it again where its node exists; where no node has it any
/// more (`node` is `Some("")`), remove it instead.
pub fn member_down_fix(node: Option<&str>, member: Option<&str>) -> String {
    let id = member.unwrap_or("<member ID>");
    match node {
        Some("") => format!(
            "No node has this member's address or name any more: it belongs to a node that was removed, so do not try to start it. Remove it from the cluster on a healthy member: `etcdctl member remove {id}` (the runbook has the command for this distribution), then check that the remaining members keep quorum."
        ),
        Some(n) => format!(
            "Check the etcd container or pod on node {n} and read its log (RKE2: /var/log/pods/kube-system_etcd-*; RKE1: `docker logs etcd`), then start it again. If the node is gone for good, remove the member instead: `etcdctl member remove {id}`."
        ),
        None => format!(
            "Check the etcd container or pod on that member's node and read its log (RKE2: /var/log/pods/kube-system_etcd-*; RKE1: `docker logs etcd`), then start it again. If that node no longer exists, remove the member instead: `etcdctl member remove {id}`."
        ),
    }
}

/// The lossless order for a lost quorum (the runbook has the commands for the distribution).
pub const QUORUM_FIX: &str = "Bring members back until a majority answers: start the stopped etcd members and read their logs. If a majority is gone for good, reset the cluster from the member with the newest data, which keeps everything it holds (RKE2/k3s: `--cluster-reset` without a restore path; RKE1: `rke up`, then etcd-tools). Restore a snapshot only when no member's data survives: it loses every write since the snapshot (see \"Rebuilding from an etcd backup\" in the Rancher troubleshooting guide).";

pub const SPLIT_BRAIN_FIX: &str = "Choose the side to keep (see \"Recovering an RKE cluster from an \
etcd split brain\" in the Rancher troubleshooting guide): the majority, unless the island holds the \
data you need (a restore that failed half-way can leave the newer data there). To keep the majority: \
1. from a majority member, `etcdctl member remove <stale member ID>` (RKE2, k3s: inside its etcd \
pod with the distribution's certificates, as the runbook prints it); \
2. stop etcd on the island's node; 3. move its data directory aside; 4. start it again so it rejoins. \
To keep the island, reset etcd on it to one member that keeps its data, then rejoin the others clean. \
The runbook (etcd pane, and `ktriage report`) has each command as it runs on this distribution, and \
each side's revision, raft index and DB size. If that fails, rebuild etcd with etcd-tools, and if \
that fails, restore from an etcd snapshot.";

fn split_brain(model: &Model, view: &View, out: &mut Vec<Finding>) {
    let Some(maj) = view.majority else {
        return;
    };
    let mut reported = BTreeSet::new();
    for p in view.islands() {
        reported.insert(p.endpoint.clone());
        out.push(island(model, view, p, maj));
    }
    disagreements(view, maj, &mut reported, out);
}

/// An endpoint that answers as a member of another cluster (or as a member the majority does not
/// list): the island, with the evidence in the answers themselves.
fn island(model: &Model, view: &View, p: &EndpointProbe, maj: u64) -> Finding {
    let majority_n = view
        .probes
        .iter()
        .filter(|p| p.cluster_id() == Some(maj))
        .filter_map(EndpointProbe::member_id)
        .collect::<BTreeSet<_>>()
        .len();
    let island_id = p.member_id();
    let island_cluster = p.cluster_id().unwrap_or(0);
    let listed = view.listed_for(p);
    let stale = listed.map(|m| m.id);
    // the member by the node it runs on, as operators know it (the majority's entry for the URL,
    // else the island's own entry for itself)
    let own = p
        .members
        .as_ref()
        .ok()
        .and_then(|l| l.members.iter().find(|m| Some(m.id) == island_id));
    let node = listed
        .or(own)
        .and_then(|m| super::etcd_members::member_node(model, m))
        .filter(|n| !n.is_empty());
    let id = island_id.map(hex).unwrap_or_else(|| "?".into());
    let who = match &node {
        Some(n) => format!("the member on {n} ({id})"),
        None => format!("{} (member {id})", p.endpoint),
    };
    let mut f = Finding::new(
        "etcd-split-brain",
        Severity::Critical,
        PaneId::Etcd,
        Some(subject(island_id, &p.endpoint)),
        format!(
            "etcd split brain: {who} answers for cluster {}, not the majority's {}",
            hex(island_cluster),
            hex(maj)
        ),
    );
    if island_cluster != maj {
        f.evidence.push(format!(
            "{} answers with cluster ID {}, the other {} with {}",
            p.endpoint,
            hex(island_cluster),
            majority_n,
            hex(maj)
        ));
    }
    if p.status.is_err()
        && let Some(peer) = &p.peer
    {
        f.evidence.push(format!(
            "its client port does not answer ({}); its peer port {} answers with X-Etcd-Cluster-Id {}",
            p.status.as_ref().err().map(|e| e.message.as_str()).unwrap_or(""),
            peer.url,
            hex(island_cluster)
        ));
    }
    match (stale, view.list_via) {
        (Some(s), Some(via)) => f.evidence.push(format!(
            "the majority's member list (via {via}) holds {} for {}, but that URL answers as {}",
            hex(s),
            p.endpoint,
            island_id
                .map(hex)
                .unwrap_or_else(|| "an unknown member".into())
        )),
        (None, Some(via)) => f.evidence.push(format!(
            "the majority's member list (via {via}) holds no member for {}",
            p.endpoint
        )),
        _ => {}
    }
    f.evidence.extend(island_answers(view, p, maj));
    f.fix.text = SPLIT_BRAIN_FIX.replace(
        "<stale member ID>",
        &stale.map(hex).unwrap_or_else(|| "<stale member ID>".into()),
    );
    f.details = json!({
        "stale_member_id": stale.map(hex),
        "stale_member_name": listed.map(|m| m.name.clone()),
        "island_peer_url": listed.and_then(|m| m.peer_urls.first().cloned()),
        "island_member_id": island_id.map(hex),
        "island_cluster_id": hex(island_cluster),
        "majority_cluster_id": hex(maj),
        "endpoint": p.endpoint,
    });
    f
}

/// What the island itself says: a second leader, its own member list, a healthy quorum read.
fn island_answers(view: &View, p: &EndpointProbe, maj: u64) -> Vec<String> {
    let leader = view
        .probes
        .iter()
        .filter(|p| p.cluster_id() == Some(maj))
        .find_map(|p| p.status.as_ref().ok().filter(|s| s.leader != 0))
        .map(|s| s.leader);
    let mut evidence = Vec::new();
    if let Ok(s) = &p.status {
        if s.is_leader() {
            evidence.push(format!(
                "{} claims to lead (raft term {}, index {}) while {} leads the majority: two leaders",
                p.endpoint,
                s.raft_term,
                s.raft_index,
                leader.map(hex).unwrap_or_else(|| "another member".into())
            ));
        }
        if let (Ok(own), Some(list)) = (&p.members, view.list) {
            evidence.push(format!(
                "member list via {}: [{}]; via the majority: [{}]",
                p.endpoint,
                ids(own),
                ids(list)
            ));
        }
    }
    if p.health.is_ok() {
        evidence.push(format!(
            "its quorum read succeeds: `etcdctl endpoint health` calls {} healthy",
            p.endpoint
        ));
    }
    evidence
}

/// Inside the majority: member lists that disagree, and two leaders in one term.
fn disagreements(view: &View, maj: u64, reported: &mut BTreeSet<String>, out: &mut Vec<Finding>) {
    let Some(list) = view.list else { return };
    let want: BTreeSet<u64> = list.members.iter().map(|m| m.id).collect();
    let mut leaders: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for p in view.probes.iter().filter(|p| p.cluster_id() == Some(maj)) {
        if let Ok(s) = &p.status
            && s.is_leader()
        {
            leaders
                .entry(s.raft_term)
                .or_default()
                .insert(s.header.member_id);
        }
        if reported.contains(&p.endpoint) {
            continue;
        }
        let Ok(own) = &p.members else { continue };
        let got: BTreeSet<u64> = own.members.iter().map(|m| m.id).collect();
        if got != want && reported.insert(p.endpoint.clone()) {
            let mut f = Finding::new(
                "etcd-split-brain",
                Severity::Critical,
                PaneId::Etcd,
                Some(subject(p.member_id(), &p.endpoint)),
                format!(
                    "etcd member lists disagree: {} sees other members",
                    p.endpoint
                ),
            );
            f.evidence.push(format!(
                "member list via {}: [{}]; via {}: [{}]",
                p.endpoint,
                ids(own),
                view.list_via.unwrap_or("the majority"),
                ids(list)
            ));
            f.fix.text = SPLIT_BRAIN_FIX.into();
            f.details = json!({"stale_member_id": null, "island_cluster_id": hex(maj),
                               "majority_cluster_id": hex(maj), "endpoint": p.endpoint});
            out.push(f);
        }
    }
    for (term, ls) in leaders.iter().filter(|(_, l)| l.len() > 1) {
        let names: Vec<String> = ls.iter().map(|l| hex(*l)).collect();
        let mut f = Finding::new(
            "etcd-split-brain",
            Severity::Critical,
            PaneId::Etcd,
            None,
            format!("etcd has {} leaders in raft term {term}", ls.len()),
        );
        f.evidence.push(format!(
            "members {} each claim to lead cluster {} in term {term}",
            names.join(", "),
            hex(maj)
        ));
        f.fix.text = SPLIT_BRAIN_FIX.into();
        f.details = json!({"stale_member_id": null, "island_cluster_id": null,
                           "majority_cluster_id": hex(maj)});
        out.push(f);
    }
}

/// `etcd-unreachable`: no endpoint answered and at least one refused our access (TLS, URL), so the
/// cluster's state is unknown. Critical, like `api-unreachable`: triage is blind until it is fixed.
fn unreachable(view: &View, out: &mut Vec<Finding>) {
    let mut f = Finding::new(
        "etcd-unreachable",
        Severity::Critical,
        PaneId::Etcd,
        None,
        "no etcd endpoint accepts ktriage's access: etcd's state is unknown".into(),
    );
    for p in view.probes {
        if let Err(e) = &p.status {
            f.evidence.push(format!("{}: {}", p.endpoint, e.message));
        }
    }
    f.fix.text = "Check the etcd access ktriage uses (the pane's first line says where it came from): https:// endpoints need --etcd-cacert (the CA that signs the servers) and a client certificate the servers trust (--etcd-cert/--etcd-key; RKE2: /var/lib/rancher/rke2/server/tls/etcd/server-client.crt and .key with server-ca.crt)."
        .into();
    f.details =
        json!({"endpoints": view.probes.iter().map(|p| p.endpoint.clone()).collect::<Vec<_>>()});
    out.push(f);
}

fn quorum(model: &Model, view: &View, out: &mut Vec<Finding>) {
    let size = view.size();
    if size == 0 {
        return;
    }
    // a failure of our own access (certificates, URLs) says nothing about the members
    if view
        .probes
        .iter()
        .any(|p| p.health.as_ref().is_err_and(access_problem))
    {
        if view.probes.iter().all(|p| p.status.is_err()) {
            unreachable(view, out);
        }
        return;
    }
    let healthy = view.healthy();
    let need = size / 2 + 1;
    let islands: Vec<&str> = view.islands().iter().map(|p| p.endpoint.as_str()).collect();
    if healthy.len() < need {
        let mut f = Finding::new(
            "etcd-quorum-lost",
            Severity::Critical,
            PaneId::Etcd,
            None,
            format!(
                "etcd has lost quorum: {} of {size} members healthy, {need} needed",
                healthy.len()
            ),
        );
        for p in view.probes {
            let what = match &p.health {
                Ok(ms) => format!("quorum read ok in {ms} ms"),
                Err(e) => format!("quorum read failed: {}", e.message),
            };
            f.evidence.push(format!("{}: {what}", p.endpoint));
        }
        if let Some((_, Ok(lines))) = &model.etcd.readyz {
            f.evidence
                .extend(lines.iter().map(|l| format!("API server /readyz: {l}")));
        }
        f.fix.text = QUORUM_FIX.into();
        f.details = json!({"healthy": healthy.len(), "size": size, "needed": need});
        out.push(f);
    }
    let Some(list) = view.list else { return };
    for m in &list.members {
        if healthy.contains(&m.id) {
            continue; // it answers, whatever URL it was reached by
        }
        let probe = view.probes.iter().find(|p| {
            m.client_urls.iter().any(|u| same_url(u, &p.endpoint))
                && !islands.contains(&p.endpoint.as_str())
        });
        let url = m.client_urls.first().cloned().unwrap_or_default();
        let down = match probe {
            Some(p) => match &p.health {
                Ok(_) => None,
                Err(e) => Some(format!("{}: quorum read failed: {}", p.endpoint, e.message)),
            },
            None if m.client_urls.is_empty() => Some(format!(
                "member {} ({}) has no client URL: it never started or never published itself",
                hex(m.id),
                m.name
            )),
            None => continue, // its URL answers as an island: the split-brain finding covers it
        };
        let Some(why) = down else { continue };
        let remaining = healthy.len();
        let severity = if remaining.saturating_sub(1) < need {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let mut f = Finding::new(
            "etcd-member-down",
            severity,
            PaneId::Etcd,
            Some(subject(Some(m.id), &url)),
            match super::etcd_members::member_node(model, m).filter(|n| !n.is_empty()) {
                Some(node) => format!("etcd member on {node} ({}) is down", hex(m.id)),
                None => format!("etcd member {} ({}) is down", hex(m.id), m.name),
            },
        );
        f.evidence.push(why);
        f.evidence.push(format!(
            "{remaining} of {size} members healthy; quorum needs {need}{}",
            if severity == Severity::Critical {
                ": one more loss stops every write"
            } else {
                ""
            }
        ));
        let node = super::etcd_members::member_node(model, m);
        f.fix.text = member_down_fix(node.as_deref(), Some(&hex(m.id)));
        f.details = json!({"member_id": hex(m.id), "name": m.name, "healthy": remaining, "size": size,
                           "node": node});
        out.push(f);
    }
}
