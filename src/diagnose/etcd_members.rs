//! Member hygiene: the majority's member list against the Nodes. `etcd-member-stale` for a member
//! whose name and peer URL match no Node (the chapter's "a node that should have been removed"), two
//! members with one name or one peer URL, and a member that was added but never started; each with
//! the exact `member remove` step.
//!
//! A member matches a node when its name is the node's (kubeadm), the node's followed by `-<suffix>`
//! (RKE2/k3s: `<node>-<8 hex>`), or `etcd-<node>` (RKE1), or when its peer URL's host is the node's
//! InternalIP. These are the distributions' naming contracts, not names a scenario chose.

use std::collections::BTreeMap;

use serde_json::json;

use super::etcd::{View, subject_of};
use super::{Finding, Severity};
use crate::etcd::wire::{Member, hex};
use crate::model::{Model, PaneId};

/// The node a member belongs to: `Some(name)`, `Some("")` when the nodes are known and none matches,
/// `None` when the nodes are not known (no Kubernetes, not synced yet).
pub fn member_node(model: &Model, m: &Member) -> Option<String> {
    let nodes = &model.nodes.store;
    if !nodes.synced || nodes.is_empty() {
        return None;
    }
    let host = |u: &str| {
        let rest = u.split_once("://").map_or(u, |(_, r)| r);
        let hostport = rest.split('/').next().unwrap_or(rest);
        hostport
            .rsplit_once(':')
            .map_or(hostport, |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_string()
    };
    let found = nodes.iter().find(|n| {
        let by_name = !m.name.is_empty()
            && (m.name == n.name
                || m.name.strip_prefix(n.name.as_str()).is_some_and(|r| {
                    r.strip_prefix('-')
                        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
                })
                || m.name.strip_prefix("etcd-") == Some(n.name.as_str()));
        let by_ip = n
            .internal_ip
            .as_deref()
            .is_some_and(|ip| !ip.starts_with("127.") && m.peer_urls.iter().any(|u| host(u) == ip));
        by_name || by_ip
    });
    Some(found.map(|n| n.name.clone()).unwrap_or_default())
}

fn stale(m: &Member, why: String, evidence: Vec<String>, reason: &str) -> Finding {
    let mut f = Finding::new(
        "etcd-member-stale",
        Severity::Warning,
        PaneId::Etcd,
        Some(subject_of(
            Some(m.id),
            m.client_urls.first().map(String::as_str),
        )),
        format!("etcd member {} ({}) {why}", hex(m.id), display_name(m)),
    );
    f.evidence = evidence;
    f.fix.text = format!(
        "Remove it from the cluster on a healthy member: `etcdctl member remove {}` (the runbook has the \
         command for this distribution, run where etcdctl and the certificates are); the member list then \
         holds only the members that run. A node that should still run etcd rejoins as a new member (RKE2/k3s: \
         move its etcd data directory aside and start the server; RKE1: `rke up`).",
        hex(m.id)
    );
    f.details =
        json!({"member_id": hex(m.id), "name": m.name, "peer_urls": m.peer_urls, "reason": reason});
    f
}

fn display_name(m: &Member) -> String {
    if m.name.is_empty() {
        "unstarted".into()
    } else {
        m.name.clone()
    }
}

pub fn rules(model: &Model, view: &View, out: &mut Vec<Finding>) {
    let Some(list) = view.list else { return };
    let via = view.list_via.unwrap_or("the majority");
    let mut by_name: BTreeMap<&str, Vec<&Member>> = BTreeMap::new();
    let mut by_peer: BTreeMap<String, Vec<&Member>> = BTreeMap::new();
    for m in &list.members {
        if !m.name.is_empty() {
            by_name.entry(m.name.as_str()).or_default().push(m);
        }
        for u in &m.peer_urls {
            by_peer
                .entry(u.trim_end_matches('/').to_ascii_lowercase())
                .or_default()
                .push(m);
        }
    }
    let mut reported: Vec<u64> = Vec::new();
    for m in &list.members {
        let line = format!(
            "member list via {via}: {}, {}, peer {}, client {}",
            hex(m.id),
            display_name(m),
            m.peer_urls.join(","),
            m.client_urls.join(",")
        );
        let finding = if m.name.is_empty() || m.client_urls.is_empty() {
            Some(stale(
                m,
                "was added but never started".into(),
                vec![
                    line,
                    "no name and no client URL: `member add` ran, the member never joined".into(),
                ],
                "unstarted",
            ))
        } else if let Some(twins) = twins(&by_name, &by_peer, m) {
            duplicate(view, m, twins, line)
        } else if member_node(model, m).as_deref() == Some("") {
            Some(stale(
                m,
                "belongs to no node".into(),
                vec![
                    line,
                    format!(
                        "no Node matches its name {} (as <node>, <node>-<suffix> or etcd-<node>) or the address in {}",
                        m.name,
                        m.peer_urls.join(",")
                    ),
                ],
                "no-node",
            ))
        } else {
            None
        };
        if let Some(f) = finding {
            reported.push(m.id);
            out.push(f);
        }
    }
    // a down member that is also stale: the stale finding explains it
    for f in out.iter_mut().filter(|f| f.id == "etcd-member-down") {
        let id = f.subject.as_ref().map(|s| s.name.clone());
        if let Some(m) = reported.iter().find(|r| Some(hex(**r)) == id) {
            let key = format!("etcd-member-stale/EtcdMember//{}", hex(*m));
            let part = list
                .members
                .iter()
                .find(|x| x.id == *m)
                .and_then(|x| x.client_urls.first())
                .map(|u| format!("#{u}"))
                .unwrap_or_default();
            f.cause = Some(format!("{key}{part}"));
        }
    }
}

/// The other entries with this member's name or one of its peer URLs.
fn twins<'a, 'm>(
    by_name: &'a BTreeMap<&str, Vec<&'m Member>>,
    by_peer: &'a BTreeMap<String, Vec<&'m Member>>,
    m: &Member,
) -> Option<&'a Vec<&'m Member>> {
    by_name
        .get(m.name.as_str())
        .filter(|v| v.len() > 1)
        .or_else(|| {
            m.peer_urls
                .iter()
                .find_map(|u| by_peer.get(&u.trim_end_matches('/').to_ascii_lowercase()))
                .filter(|v| v.len() > 1)
        })
}

/// Of two entries for one member, the one that does not answer is the stale one.
fn duplicate(view: &View, m: &Member, twins: &[&Member], line: String) -> Option<Finding> {
    let answering = view.healthy();
    let keep = twins
        .iter()
        .find(|t| answering.contains(&t.id))
        .map(|t| t.id);
    (keep != Some(m.id)).then(|| {
        let ids: Vec<String> = twins.iter().map(|t| hex(t.id)).collect();
        stale(
            m,
            "duplicates another member's name or peer URL".into(),
            vec![
                line,
                format!(
                    "members {} share the name {} or a peer URL{}",
                    ids.join(", "),
                    m.name,
                    keep.map(|k| format!("; {} answers, {} does not", hex(k), hex(m.id)))
                        .unwrap_or_default()
                ),
            ],
            "duplicate",
        )
    })
}
