//! The etcd pods' logs as rule inputs (they come through the Kubernetes API: read-only mode and no
//! etcd access are enough). What the lines say ([`crate::etcd::log_facts`]) becomes
//! `etcd-split-brain` (cluster-ID mismatches: the member the majority still sends to is the island),
//! `etcd-member-down` (a peer refusing or timing out on its peer port), `etcd-quorum-lost` (a survivor
//! that reaches too few peers and keeps electing), `etcd-leader-churn` (elections at a rate) and
//! `etcd-member-stale` (`failed to find member`).
//!
//! One problem is one finding: where the probe or exec already reported it (same member or cluster
//! ID), the log evidence is added to that finding and `details.source` lists both.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::etcd::{SPLIT_BRAIN_FIX, add_source, member_down_fix, subject_of};
use super::{Finding, Severity};
use crate::etcd::log_facts::{Fact, FactKind, Facts};
use crate::etcd::wire::hex;
use crate::model::{Model, PaneId};
use crate::text::age;

/// Lines older than this no longer count (the problem may be fixed).
pub const RECENT_MIN: i64 = 5;
/// A peer is down while refusals keep arriving: the last one within this.
pub const DOWN_SECS: i64 = 90;
/// Fewer mismatch lines than this are noise.
pub const MIN_LINES: u64 = 3;

/// One etcd pod's log, as the rules read it.
struct PodLog<'a> {
    pod: &'a str,
    node: Option<String>,
    client_url: Option<String>,
    facts: &'a Facts,
    /// The cluster and member this pod's etcd answers as (from its own lines).
    own_cluster: Option<u64>,
    own_member: Option<u64>,
}

fn pods(model: &Model, since: DateTime<Utc>) -> Vec<PodLog<'_>> {
    model
        .etcd
        .logs
        .iter()
        .map(|(pod, groups)| {
            let row = model.etcd.pods.iter().find(|p| p.key() == *pod);
            let mut clusters: BTreeMap<u64, u64> = BTreeMap::new();
            let mut members: BTreeMap<u64, u64> = BTreeMap::new();
            for f in groups.facts.facts.iter().filter(|f| f.last >= since) {
                if matches!(
                    f.key.kind,
                    FactKind::MismatchIgnored | FactKind::MismatchReceived
                ) {
                    if let Some(c) = f.key.local_cluster {
                        *clusters.entry(c).or_default() += f.count;
                    }
                    if let Some(m) = f.key.local {
                        *members.entry(m).or_default() += f.count;
                    }
                }
            }
            let top = |m: &BTreeMap<u64, u64>| m.iter().max_by_key(|(_, n)| **n).map(|(k, _)| *k);
            PodLog {
                pod,
                node: row.and_then(|r| r.node.clone()),
                client_url: row.and_then(|r| r.client_url()),
                facts: &groups.facts,
                own_cluster: top(&clusters),
                own_member: top(&members),
            }
        })
        .collect()
}

use crate::model::Keyed as _;

fn lines(f: &Fact) -> String {
    format!(
        "{} line{} in {} (last {})",
        f.count,
        if f.count == 1 { "" } else { "s" },
        age(f.last, f.first),
        f.last.format("%H:%M:%S")
    )
}

pub fn rules(model: &Model, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    if model.etcd.logs.is_empty() {
        return;
    }
    let since = now - Duration::minutes(RECENT_MIN);
    let logs = pods(model, since);
    split_brain(&logs, since, out);
    peers_down(model, &logs, now, out);
    churn(&logs, now, out);
    stale(&logs, since, out);
}

/// Cluster IDs and who claims them: the majority is the cluster most pods answer as; ties go to the
/// side that still sends to the other (its member list holds the other's member).
fn majority(logs: &[PodLog], since: DateTime<Utc>) -> Option<u64> {
    let mut score: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    for l in logs {
        if let Some(c) = l.own_cluster {
            score.entry(c).or_default().0 += 1;
        }
        for f in l.facts.recent(FactKind::MismatchIgnored, since) {
            if let Some(c) = f.key.local_cluster {
                score.entry(c).or_default().1 += f.count;
            }
            if let Some(c) = f.key.remote_cluster {
                score.entry(c).or_default();
            }
        }
    }
    score
        .iter()
        .max_by_key(|(c, s)| (s.0, s.1, std::cmp::Reverse(**c)))
        .map(|(c, _)| *c)
}

fn split_brain(logs: &[PodLog], since: DateTime<Utc>, out: &mut Vec<Finding>) {
    let total: u64 = logs
        .iter()
        .flat_map(|l| {
            l.facts
                .recent(FactKind::MismatchIgnored, since)
                .chain(l.facts.recent(FactKind::MismatchReceived, since))
        })
        .map(|f| f.count)
        .sum();
    if total < MIN_LINES {
        return;
    }
    let Some(maj) = majority(logs, since) else {
        return;
    };
    // every other cluster ID a line names is an island
    let mut islands: BTreeSet<u64> = BTreeSet::new();
    for l in logs {
        islands.extend(l.own_cluster);
        for f in l
            .facts
            .recent(FactKind::MismatchIgnored, since)
            .chain(l.facts.recent(FactKind::MismatchReceived, since))
        {
            islands.extend(f.key.remote_cluster);
            islands.extend(f.key.local_cluster);
        }
    }
    islands.remove(&maj);
    for island in islands {
        island_finding(logs, since, maj, island, out);
    }
}

/// What the logs say about one island: the majority's members sending to it (and the stale IDs
/// they send to), the island's own pods answering for another cluster.
fn island_evidence(
    logs: &[PodLog],
    since: DateTime<Utc>,
    maj: u64,
    island: u64,
) -> (Vec<String>, BTreeSet<u64>) {
    let mut evidence = Vec::new();
    let mut stale: BTreeSet<u64> = BTreeSet::new();
    for l in logs {
        // one line per pod and stale ID, over both log formats
        let mut sent: BTreeMap<Option<u64>, (u64, DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
        for f in l.facts.recent(FactKind::MismatchIgnored, since) {
            let to_island = f.key.remote_cluster == Some(island)
                || (f.key.remote_cluster.is_none() && f.key.local_cluster == Some(maj));
            if f.key.local_cluster == Some(maj) && to_island {
                stale.extend(f.key.remote);
                let e = sent.entry(f.key.remote).or_insert((0, f.first, f.last));
                e.0 += f.count;
                e.1 = e.1.min(f.first);
                e.2 = e.2.max(f.last);
            }
        }
        for (remote, (n, first, last)) in sent {
            evidence.push(format!(
                "logs of {}: {n} lines in {} (last {}): `request sent was ignored … cluster ID mismatch`: it sends to member {}, which answers for cluster {} (this member's cluster: {})",
                l.pod,
                age(last, first),
                last.format("%H:%M:%S"),
                remote.map(hex).unwrap_or_else(|| "?".into()),
                hex(island),
                hex(maj)
            ));
        }
    }
    for l in logs.iter().filter(|l| l.own_cluster == Some(island)) {
        let got: Vec<&Fact> = l
            .facts
            .recent(FactKind::MismatchReceived, since)
            .filter(|f| f.key.local_cluster == Some(island))
            .collect();
        let n: u64 = got.iter().map(|f| f.count).sum();
        if let (Some(first), Some(last)) = (
            got.iter().map(|f| f.first).min(),
            got.iter().map(|f| f.last).max(),
        ) {
            evidence.push(format!(
                "logs of {}: {n} lines in {} (last {}): `request cluster ID mismatch`: it answers as member {} of cluster {} while members of cluster {} send to it",
                l.pod,
                age(last, first),
                last.format("%H:%M:%S"),
                l.own_member.map(hex).unwrap_or_else(|| "?".into()),
                hex(island),
                hex(maj)
            ));
        }
    }
    (evidence, stale)
}

fn island_finding(
    logs: &[PodLog],
    since: DateTime<Utc>,
    maj: u64,
    island: u64,
    out: &mut Vec<Finding>,
) {
    let (evidence, stale) = island_evidence(logs, since, maj, island);
    let island_pods: Vec<&PodLog> = logs
        .iter()
        .filter(|l| l.own_cluster == Some(island))
        .collect();
    let island_member = island_pods.iter().find_map(|l| l.own_member);
    let stale_id = stale.iter().next().copied();
    let island_node = island_pods.iter().find_map(|l| l.node.clone());
    if let Some(f) = out.iter_mut().find(|f| {
        f.id == "etcd-split-brain"
            && [stale_id.map(hex), island_member.map(hex), Some(hex(island))]
                .iter()
                .flatten()
                .any(|id| {
                    ["stale_member_id", "island_member_id", "island_cluster_id"]
                        .iter()
                        .any(|k| f.details.get(*k).and_then(|v| v.as_str()) == Some(id.as_str()))
                })
    }) {
        f.evidence.extend(evidence);
        if f.details.get("stale_member_id").is_none_or(|v| v.is_null())
            && let Some(s) = stale_id
        {
            f.details["stale_member_id"] = json!(hex(s));
            f.fix.text = SPLIT_BRAIN_FIX.replace("<stale member ID>", &hex(s));
        }
        add_source(f, "logs");
        return;
    }
    let name = island_member.or(stale_id);
    let url = island_pods.iter().find_map(|l| l.client_url.clone());
    let mut f = Finding::new(
        "etcd-split-brain",
        Severity::Critical,
        PaneId::Etcd,
        Some(subject_of(name, url.as_deref())),
        format!(
            "etcd split brain: {} answers for cluster {}, not the majority's {} (from the etcd pods' logs)",
            match (&island_node, name) {
                (Some(n), Some(id)) => format!("the member on {n} ({})", hex(id)),
                (None, Some(id)) => format!("member {}", hex(id)),
                (Some(n), None) => format!("the member on {n}"),
                (None, None) => "a member".into(),
            },
            hex(island),
            hex(maj)
        ),
    );
    f.evidence = evidence;
    f.fix.text = SPLIT_BRAIN_FIX.replace(
        "<stale member ID>",
        &stale_id
            .map(hex)
            .unwrap_or_else(|| "<stale member ID>".into()),
    );
    f.details = json!({
        "stale_member_id": stale_id.map(hex),
        "island_member_id": island_member.map(hex),
        "island_cluster_id": hex(island),
        "majority_cluster_id": hex(maj),
        "island_node": island_node,
        "endpoint": url,
    });
    add_source(&mut f, "logs");
    out.push(f);
}

/// A peer by member ID, or by address when the line names none.
type PeerKey = (Option<u64>, Option<String>);

/// Peers the members cannot reach on their peer port, by member ID (or address).
fn peers_down(model: &Model, logs: &[PodLog], now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let since = now - Duration::seconds(DOWN_SECS);
    let down = unreachable_peers(logs, since);
    if down.is_empty() {
        return;
    }
    let size = logs.len().max(model.etcd.pods.iter().count());
    let need = size / 2 + 1;
    let healthy = size.saturating_sub(down.len());
    for ((id, addr), seen) in &down {
        let mut evidence: Vec<String> =
            seen.iter().map(|(pod, f)| peer_line(pod, *id, f)).collect();
        let key_id = id.map(hex).or_else(|| addr.clone());
        if let Some(f) = out.iter_mut().find(|f| {
            f.id == "etcd-member-down"
                && f.subject.as_ref().map(|s| Some(s.name.clone())) == Some(key_id.clone())
        }) {
            f.evidence.append(&mut evidence);
            add_source(f, "logs");
            continue;
        }
        let critical = healthy.saturating_sub(1) < need;
        let node_exists = addr_node(model, seen.iter().find_map(|(_, f)| f.key.addr.as_deref()));
        let mut f = Finding::new(
            "etcd-member-down",
            if critical {
                Severity::Critical
            } else {
                Severity::Warning
            },
            PaneId::Etcd,
            Some(subject_of(*id, None)),
            format!(
                "etcd member {} is down: its peers cannot reach it (from the etcd pods' logs)",
                key_id.clone().unwrap_or_else(|| "?".into())
            ),
        );
        f.evidence = evidence;
        f.evidence.push(format!(
            "{healthy} of {size} etcd pods' members reachable; quorum needs {need}"
        ));
        f.fix.text = member_down_fix(node_exists.as_deref(), key_id.as_deref());
        f.details = json!({"member_id": id.map(hex), "peer_address": seen.iter().find_map(|(_, f)| f.key.addr.clone()),
                           "healthy": healthy, "size": size, "node": node_exists.filter(|n| !n.is_empty())});
        add_source(&mut f, "logs");
        out.push(f);
    }
    let electing = logs
        .iter()
        .any(|l| l.facts.recent(FactKind::Election, since).next().is_some());
    quorum_from_logs(down.len(), (healthy, size, need), electing, out);
}

/// The peers some member's log says it cannot reach, with who says so; a member whose own pod still
/// logs is an island, not down.
fn unreachable_peers<'a>(
    logs: &'a [PodLog],
    since: DateTime<Utc>,
) -> BTreeMap<PeerKey, Vec<(&'a str, &'a Fact)>> {
    let mut down: BTreeMap<PeerKey, Vec<(&str, &Fact)>> = BTreeMap::new();
    for l in logs {
        for f in l.facts.recent(FactKind::PeerUnreachable, since) {
            let addr = if f.key.remote.is_some() {
                None
            } else {
                f.key.addr.clone()
            };
            down.entry((f.key.remote, addr))
                .or_default()
                .push((l.pod, f));
        }
    }
    let answering: BTreeSet<u64> = logs.iter().filter_map(|l| l.own_member).collect();
    down.retain(|(id, _), _| id.is_none_or(|i| !answering.contains(&i)));
    down
}

fn peer_line(pod: &str, id: Option<u64>, f: &Fact) -> String {
    format!(
        "logs of {pod}: {}: cannot reach {} on its peer port{} ({})",
        lines(f),
        id.map(|i| format!("member {}", hex(i)))
            .unwrap_or_else(|| "a peer".into()),
        f.key
            .addr
            .as_deref()
            .map(|a| format!(" {a}"))
            .unwrap_or_default(),
        if f.key.detail.as_deref() == Some("timeout") {
            "i/o timeout"
        } else {
            "connection refused"
        }
    )
}

/// `etcd-quorum-lost` from the logs: too few members reachable while the survivors keep electing;
/// else the logs back a quorum loss the probe already found.
fn quorum_from_logs(
    down: usize,
    (healthy, size, need): (usize, usize, usize),
    electing: bool,
    out: &mut Vec<Finding>,
) {
    if healthy < need && electing && !out.iter().any(|f| f.id == "etcd-quorum-lost") {
        let mut f = Finding::new(
            "etcd-quorum-lost",
            Severity::Critical,
            PaneId::Etcd,
            None,
            format!(
                "etcd has lost quorum: {healthy} of {size} members reachable, {need} needed (from the etcd pods' logs)"
            ),
        );
        f.evidence.push(format!(
            "{down} peer(s) refuse or time out on their peer port and the survivors keep starting elections"
        ));
        f.fix.text = super::etcd::QUORUM_FIX.into();
        f.details = json!({"healthy": healthy, "size": size, "needed": need});
        add_source(&mut f, "logs");
        out.push(f);
    } else if let Some(f) = out.iter_mut().find(|f| f.id == "etcd-quorum-lost") {
        add_source(f, "logs");
    }
}

/// The node a peer address belongs to (by InternalIP), when the nodes are known: `Some(name)`, or
/// `Some("")` when nodes are listed and none has that address.
fn addr_node(model: &Model, addr: Option<&str>) -> Option<String> {
    let host = addr?.rsplit_once(':').map(|(h, _)| h)?;
    if !model.nodes.store.synced || host.starts_with("127.") {
        return None;
    }
    Some(
        model
            .nodes
            .store
            .iter()
            .find(|n| n.internal_ip.as_deref() == Some(host))
            .map(|n| n.name.clone())
            .unwrap_or_default(),
    )
}

fn churn(logs: &[PodLog], now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let since = now - Duration::minutes(super::etcd_health::CHURN_WINDOW_MIN);
    let mut terms: BTreeSet<u64> = BTreeSet::new();
    let mut who: BTreeSet<&str> = BTreeSet::new();
    for l in logs {
        for f in l.facts.recent(FactKind::Election, since) {
            if let Some(t) = f.key.detail.as_deref().and_then(|t| t.parse().ok()) {
                terms.insert(t);
                who.insert(l.pod);
            }
        }
    }
    let (Some(lo), Some(hi)) = (terms.first(), terms.last()) else {
        return;
    };
    if (terms.len() as u64) < super::etcd_health::CHURN_ELECTIONS {
        return;
    }
    let ev = format!(
        "logs of {}: `is starting a new election at term` for {} terms ({lo} to {hi}) in {} min",
        who.into_iter().collect::<Vec<_>>().join(", "),
        terms.len(),
        super::etcd_health::CHURN_WINDOW_MIN
    );
    if let Some(f) = out.iter_mut().find(|f| f.id == "etcd-leader-churn") {
        f.evidence.push(ev);
        add_source(f, "logs");
        return;
    }
    let mut f = Finding::new(
        "etcd-leader-churn",
        Severity::Warning,
        PaneId::Etcd,
        None,
        format!(
            "etcd leader churn: {} elections in {} min (from the etcd pods' logs)",
            terms.len(),
            super::etcd_health::CHURN_WINDOW_MIN
        ),
    );
    f.evidence.push(ev);
    f.fix.text = super::etcd_health::CHURN_FIX.into();
    f.details = json!({"from_term": lo, "to_term": hi, "elections": terms.len()});
    add_source(&mut f, "logs");
    out.push(f);
}

fn stale(logs: &[PodLog], since: DateTime<Utc>, out: &mut Vec<Finding>) {
    let mut by_member: BTreeMap<u64, Vec<(&str, &Fact)>> = BTreeMap::new();
    for l in logs {
        for f in l.facts.recent(FactKind::MemberNotFound, since) {
            if let Some(m) = f.key.remote {
                by_member.entry(m).or_default().push((l.pod, f));
            }
        }
    }
    for (member, seen) in by_member {
        let evidence: Vec<String> = seen
            .iter()
            .map(|(pod, f)| {
                format!(
                    "logs of {pod}: {}: `failed to find member {}`: raft traffic from a member this cluster does not list",
                    lines(f),
                    hex(member)
                )
            })
            .collect();
        if let Some(f) = out.iter_mut().find(|f| {
            f.id == "etcd-member-stale" && f.subject.as_ref().is_some_and(|s| s.name == hex(member))
        }) {
            f.evidence.extend(evidence);
            add_source(f, "logs");
            continue;
        }
        let mut f = Finding::new(
            "etcd-member-stale",
            Severity::Warning,
            PaneId::Etcd,
            Some(subject_of(Some(member), None)),
            format!(
                "etcd member {} is stale: it sends raft traffic but the cluster does not list it (from the etcd pods' logs)",
                hex(member)
            ),
        );
        f.evidence = evidence;
        f.fix.text = format!(
            "The member's data directory is from an old membership (see \"General troubleshooting for RKE clusters\" \
             in the Rancher troubleshooting guide): on its node stop etcd, move its data directory aside, and \
             add it back (`etcdctl member add`, or on RKE2/k3s start the server again so it joins as a new \
             member). If `etcdctl member list` still shows {}, remove it first: `etcdctl member remove {}`.",
            hex(member),
            hex(member)
        );
        f.details = json!({"member_id": hex(member), "reason": "unknown to the cluster"});
        add_source(&mut f, "logs");
        out.push(f);
    }
}
