//! etcd health rules: `etcd-alarm`, `etcd-db-near-quota`, `etcd-leader-churn`, `etcd-slow`,
//! `etcd-follower-lag`.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::etcd::{View, subject};
use super::{Finding, Severity};
use crate::etcd::wire::hex;
use crate::model::{Model, PaneId};

/// Share of the quota at which the DB-size rule fires.
pub const QUOTA_SHARE: f64 = 0.8;
/// Elections within `CHURN_WINDOW` that count as churn.
pub const CHURN_ELECTIONS: u64 = 3;
pub const CHURN_WINDOW_MIN: i64 = 10;
/// What to do about churn (the probe's and the logs' finding say the same).
pub const CHURN_FIX: &str = "Repeated elections without reboots mean leader leases time out: check disk \
latency (fsync), CPU starvation and the network between the etcd nodes; the logs show `is starting a new \
election at term`.";
/// A quorum read slower than this is slow.
pub const SLOW_MS: u64 = 500;
/// Raft entries a follower (or the apply loop) may trail by.
pub const LAG_ENTRIES: u64 = 1000;

pub fn rules(model: &Model, view: &View, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    alarms(view, out);
    quota(model, view, out);
    churn(model, view, now, out);
    slow(view, out);
    lag(view, out);
}

fn url_of(view: &View, member: u64) -> String {
    view.list
        .and_then(|l| l.members.iter().find(|m| m.id == member))
        .and_then(|m| m.client_urls.first().cloned())
        .or_else(|| {
            view.probes
                .iter()
                .find(|p| p.member_id() == Some(member))
                .map(|p| p.endpoint.clone())
        })
        .unwrap_or_default()
}

fn alarms(view: &View, out: &mut Vec<Finding>) {
    let mut seen: BTreeSet<(u64, String)> = BTreeSet::new();
    let mut raised: Vec<(u64, String, String)> = Vec::new();
    for p in view.probes {
        if let Ok(list) = &p.alarms {
            for a in list.alarms.iter().filter(|a| a.alarm != "NONE") {
                if seen.insert((a.member_id, a.alarm.clone())) {
                    raised.push((
                        a.member_id,
                        a.alarm.clone(),
                        format!(
                            "alarm list via {}: memberID:{} alarm:{}",
                            p.endpoint, a.member_id, a.alarm
                        ),
                    ));
                }
            }
        }
        if let Ok(s) = &p.status {
            for e in &s.errors {
                // "memberID:7043420851810188903 alarm:NOSPACE "
                let member = e
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("memberID:"))
                    .and_then(|n| n.parse::<u64>().ok());
                let alarm = e
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("alarm:"))
                    .map(str::to_string);
                if let (Some(m), Some(a)) = (member, alarm)
                    && seen.insert((m, a.clone()))
                {
                    raised.push((
                        m,
                        a,
                        format!("status errors via {}: {}", p.endpoint, e.trim()),
                    ));
                }
            }
        }
    }
    let mut members: Vec<u64> = raised.iter().map(|r| r.0).collect();
    members.dedup();
    for member in members {
        let mine: Vec<&(u64, String, String)> = raised.iter().filter(|r| r.0 == member).collect();
        let names: Vec<&str> = mine.iter().map(|r| r.1.as_str()).collect();
        let url = url_of(view, member);
        let mut f = Finding::new(
            "etcd-alarm",
            Severity::Critical,
            PaneId::Etcd,
            Some(subject(Some(member), &url)),
            format!(
                "etcd alarm {} raised on member {}",
                names.join(", "),
                hex(member)
            ),
        );
        f.evidence.extend(mine.iter().map(|r| r.2.clone()));
        let mut fix = Vec::new();
        for alarm in &names {
            fix.push(match *alarm {
                "NOSPACE" => format!(
                    "NOSPACE: the database hit its quota and etcd refuses every write until space is freed. On a \
                     node with etcdctl: find the revision (`etcdctl endpoint status -w json`, read header.revision \
                     with a u64-safe parser), `etcdctl compact <revision>`, `etcdctl defrag` on every endpoint, \
                     then `etcdctl alarm disarm` and check that `etcdctl alarm list` is empty (member {}). \
                     ktriage never sends these writes.",
                    hex(member)
                ),
                "CORRUPT" => format!(
                    "CORRUPT: member {} failed the consistency check: stop it, remove it from the cluster \
                     (`etcdctl member remove {}`), clean its data directory and rejoin it, or restore from a \
                     snapshot.",
                    hex(member),
                    hex(member)
                ),
                other => format!("{other}: read the member's log for why the alarm was raised."),
            });
        }
        f.fix.text = fix.join(" ");
        f.details = json!({"member_id": hex(member), "alarms": names});
        out.push(f);
    }
}

fn quota(model: &Model, view: &View, out: &mut Vec<Finding>) {
    let (quota, source) = model.etcd.quota();
    let mut seen = BTreeSet::new();
    for p in view.probes {
        let Ok(s) = &p.status else { continue };
        if !seen.insert(s.header.member_id) || quota == 0 {
            continue;
        }
        let share = s.db_size as f64 / quota as f64;
        if share < QUOTA_SHARE {
            continue;
        }
        let mut f = Finding::new(
            "etcd-db-near-quota",
            Severity::Warning,
            PaneId::Etcd,
            Some(subject(Some(s.header.member_id), &p.endpoint)),
            format!(
                "etcd database of member {} is at {:.0}% of its quota",
                hex(s.header.member_id),
                share * 100.0
            ),
        );
        f.evidence.push(format!(
            "{}: DB size {} B ({} B in use), quota {quota} B from {source}",
            p.endpoint, s.db_size, s.db_size_in_use
        ));
        f.fix.text = "Compact and defragment before the NOSPACE alarm stops every write: `etcdctl compact \
                      <revision>`, then `etcdctl defrag` on each member (one at a time). If in-use is close to \
                      the size, the data itself is too big: find what fills it, or raise --quota-backend-bytes."
            .into();
        f.details =
            json!({"db_size": s.db_size, "db_size_in_use": s.db_size_in_use, "quota": quota});
        out.push(f);
    }
}

fn churn(model: &Model, view: &View, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let Some(maj) = view.majority else { return };
    let since = now - Duration::minutes(CHURN_WINDOW_MIN);
    let terms: Vec<_> = model
        .etcd
        .history
        .iter()
        .filter(|s| s.cluster_id == maj && s.at >= since && s.term > 0)
        .collect();
    let (Some(lo), Some(hi)) = (
        terms.iter().min_by_key(|s| s.term),
        terms.iter().max_by_key(|s| s.term),
    ) else {
        return;
    };
    let elections = hi.term - lo.term;
    if elections < CHURN_ELECTIONS {
        return;
    }
    let leaders: BTreeSet<u64> = terms.iter().map(|s| s.leader).filter(|l| *l != 0).collect();
    let mut f = Finding::new(
        "etcd-leader-churn",
        Severity::Warning,
        PaneId::Etcd,
        None,
        format!(
            "etcd leader churn: {elections} elections in {}",
            crate::text::age(hi.at, lo.at)
        ),
    );
    f.evidence.push(format!(
        "raft term went from {} ({}) to {} ({}) in cluster {}",
        lo.term,
        lo.at.format("%H:%M:%S"),
        hi.term,
        hi.at.format("%H:%M:%S"),
        hex(maj)
    ));
    if !leaders.is_empty() {
        // a leader by its member name (RKE2: the node's name and a suffix) where the list knows it
        let name = |id: u64| {
            view.list
                .and_then(|l| l.members.iter().find(|m| m.id == id))
                .filter(|m| !m.name.is_empty())
                .map_or_else(|| hex(id), |m| format!("{} ({})", m.name, hex(id)))
        };
        f.evidence.push(format!(
            "leaders seen: {}",
            leaders
                .iter()
                .map(|l| name(*l))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    f.fix.text = CHURN_FIX.into();
    f.details = json!({"from_term": lo.term, "to_term": hi.term, "elections": elections});
    out.push(f);
}

fn slow(view: &View, out: &mut Vec<Finding>) {
    let mut seen = BTreeSet::new();
    for p in view.probes {
        let Ok(ms) = p.health else { continue };
        if ms < SLOW_MS || !seen.insert(p.member_id()) {
            continue;
        }
        let mut f = Finding::new(
            "etcd-slow",
            Severity::Warning,
            PaneId::Etcd,
            Some(subject(p.member_id(), &p.endpoint)),
            format!(
                "etcd answers slowly via {}: quorum read took {ms} ms",
                p.endpoint
            ),
        );
        f.evidence.push(format!(
            "{}: quorum read {ms} ms (threshold {SLOW_MS} ms); status {} ms",
            p.endpoint,
            p.status_ms
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into())
        ));
        f.fix.text =
            "Check the disk under the etcd data directory (fsync latency), CPU and the network to \
                      the leader; a defrag blocks the member while it runs."
                .into();
        f.details = json!({"health_ms": ms, "threshold_ms": SLOW_MS});
        out.push(f);
    }
}

fn lag(view: &View, out: &mut Vec<Finding>) {
    let Some(maj) = view.majority else { return };
    let members: Vec<_> = view
        .probes
        .iter()
        .filter(|p| p.cluster_id() == Some(maj))
        .filter_map(|p| p.status.as_ref().ok().map(|s| (p, s)))
        .collect();
    let leader_index = members
        .iter()
        .find(|(_, s)| s.is_leader())
        .map(|(_, s)| s.raft_index);
    let mut seen = BTreeSet::new();
    for (p, s) in &members {
        if !seen.insert(s.header.member_id) {
            continue;
        }
        let behind_leader = leader_index.map_or(0, |l| l.saturating_sub(s.raft_index));
        let unapplied = s.raft_index.saturating_sub(s.raft_applied_index);
        if behind_leader < LAG_ENTRIES && unapplied < LAG_ENTRIES {
            continue;
        }
        let mut f = Finding::new(
            "etcd-follower-lag",
            Severity::Warning,
            PaneId::Etcd,
            Some(subject(Some(s.header.member_id), &p.endpoint)),
            format!(
                "etcd member {} lags: {behind_leader} entries behind the leader, {unapplied} committed but not applied",
                hex(s.header.member_id)
            ),
        );
        f.evidence.push(format!(
            "{}: raft index {}, applied {}, leader's index {}",
            p.endpoint,
            s.raft_index,
            s.raft_applied_index,
            leader_index
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".into())
        ));
        f.fix.text = "A lagging member has a slow disk or network, or is catching up after a restart; if it \
                      keeps falling behind, check its disk and the network to the leader."
            .into();
        f.details = json!({"behind_leader": behind_leader, "unapplied": unapplied});
        out.push(f);
    }
}
