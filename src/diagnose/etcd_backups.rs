//! etcd snapshots before you need them: `etcd-backup-stale`, from RKE2's / k3s's snapshot records
//! (the `rke2-etcd-snapshots` / `k3s-etcd-snapshots` ConfigMap). The chapter's rebuild story ("Rebuilding
//! from an etcd backup") starts with a snapshot that exists; this rule says, before the incident,
//! when it would not: the newest good snapshot older than two runs of its schedule, snapshots that
//! failed, snapshots kept only on the node that took them (lost with that node). A warning;
//! critical when no usable snapshot exists while etcd is unhealthy.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::runbook::{Platform, detect};
use super::{Finding, Severity, Subject};
use crate::model::etcd::SnapshotRow;
use crate::model::{Model, PaneId};
use crate::text::age;

/// RKE2's and k3s's default `etcd-snapshot-schedule-cron` (`0 */12 * * *`).
const DEFAULT_EVERY_H: i64 = 12;

/// The etcd findings that mean etcd is unhealthy now.
const UNHEALTHY: &[&str] = &[
    "etcd-quorum-lost",
    "etcd-split-brain",
    "etcd-member-down",
    "etcd-unreachable",
];

/// Hours between runs of a cron schedule in the forms RKE2 and k3s document: `0 */N * * *` (every N
/// hours), `M H1,H2,… * * *` (so many times a day), `M H * * *` (daily); `None` for other forms.
pub fn every_hours(cron: &str) -> Option<i64> {
    let f: Vec<&str> = cron.split_whitespace().collect();
    let [_, hour, "*", "*", "*"] = f.as_slice() else {
        return None;
    };
    if let Some(n) = hour.strip_prefix("*/") {
        return n.parse().ok().filter(|n| *n > 0);
    }
    let times = hour.split(',').count() as i64;
    hour.split(',')
        .all(|h| h.parse::<u32>().is_ok_and(|h| h < 24))
        .then_some(24 / times.max(1))
}

pub fn rules(model: &Model, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    // no records: not RKE2/k3s (the source reads a missing ConfigMap as none), or they could not
    // be read (the source's state says why)
    let Some(Ok(rows)) = model.etcd.snapshots.as_ref() else {
        return;
    };
    if rows.is_empty() {
        return;
    }
    let cron = model
        .nodes
        .store
        .iter()
        .find_map(|n| n.snapshot_cron.clone());
    let every = cron
        .as_deref()
        .and_then(every_hours)
        .unwrap_or(DEFAULT_EVERY_H);
    let good: Vec<&SnapshotRow> = rows.iter().filter(|s| s.ok).collect();
    let failed: Vec<&SnapshotRow> = rows.iter().filter(|s| !s.ok).collect();
    let newest = good.first().copied();
    let newest_age = newest
        .and_then(|s| s.created)
        .map(|t| (now - t).num_hours());
    let stale = newest_age.is_some_and(|h| h >= 2 * every);
    let off_node = |s: &&SnapshotRow| {
        s.location
            .as_deref()
            .is_some_and(|l| !l.starts_with("file://"))
    };
    let local_only = !good.is_empty() && !good.iter().any(off_node);
    if !(newest.is_none() || stale || !failed.is_empty() || local_only) {
        return;
    }
    let etcd_unhealthy = out.iter().any(|f| UNHEALTHY.contains(&f.id.as_str()));
    let severity = if newest.is_none() && etcd_unhealthy {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let schedule = match &cron {
        Some(c) => format!("schedule `{c}`"),
        None => "the default schedule".to_string(),
    };
    let title = match (newest, newest.and_then(|s| s.created)) {
        (None, _) => "etcd snapshots: none usable".to_string(),
        (Some(_), Some(t)) if stale => format!(
            "etcd snapshots: the newest good one is {} old (one is due every {every}h)",
            age(now, t)
        ),
        _ if !failed.is_empty() => format!("etcd snapshots: {} failed", failed.len()),
        _ => "etcd snapshots: kept only on the nodes that took them (no S3 copy)".to_string(),
    };
    let mut f = Finding::new(
        "etcd-backup-stale",
        severity,
        PaneId::Etcd,
        Some(Subject {
            kind: "ConfigMap".into(),
            namespace: Some("kube-system".into()),
            name: config_map(model).into(),
            part: None,
        }),
        title,
    );
    f.evidence = evidence(rows, newest, &failed, local_only, &schedule, every, now);
    if newest.is_none() && etcd_unhealthy {
        f.evidence
            .push("etcd is unhealthy now and no good snapshot exists to restore".into());
    }
    f.fix.text = fix(detect(model).platform);
    f.details = json!({
        "newest": newest.map(|s| s.name.clone()),
        "newest_age_h": newest_age,
        "every_h": every,
        "failed": failed.len(),
        "local_only": local_only,
        "records": rows.len(),
    });
    out.push(f);
}

fn evidence(
    rows: &[SnapshotRow],
    newest: Option<&SnapshotRow>,
    failed: &[&SnapshotRow],
    local_only: bool,
    schedule: &str,
    every: i64,
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut e = Vec::new();
    match newest {
        Some(s) => e.push(format!(
            "newest good snapshot {}; {schedule}: one is due every {every}h",
            where_when(s, now, |a| format!(", taken {a} ago")),
        )),
        None => e.push(format!(
            "{} snapshot record(s), none successful",
            rows.len()
        )),
    }
    for s in failed.iter().take(3) {
        e.push(format!(
            "failed: {}",
            where_when(s, now, |a| format!(" ({a} ago)"))
        ));
    }
    if local_only {
        e.push(
            "every good snapshot is a file on the node that took it (file://…): losing that node loses it"
                .into(),
        );
    }
    e
}

/// `NAME on NODE` and, when its time is recorded, its age as `when` words it.
fn where_when(s: &SnapshotRow, now: DateTime<Utc>, when: impl Fn(String) -> String) -> String {
    format!(
        "{} on {}{}",
        s.name,
        s.node.as_deref().unwrap_or("?"),
        s.created.map(|t| when(age(now, t))).unwrap_or_default()
    )
}

/// The ConfigMap the records come from (RKE2's unless the cluster is k3s).
fn config_map(model: &Model) -> &'static str {
    if detect(model).platform == Platform::K3s {
        "k3s-etcd-snapshots"
    } else {
        "rke2-etcd-snapshots"
    }
}

fn fix(p: Platform) -> String {
    let (d, unit) = if p == Platform::K3s {
        ("k3s", "k3s")
    } else {
        ("rke2", "rke2-server")
    };
    format!(
        "On a server, read why snapshots are late or fail (`journalctl -u {unit} | grep -i snapshot`), take one now \
         (`{d} etcd-snapshot save`) and keep copies off the nodes: S3 in /etc/rancher/{d}/config.yaml \
         (`etcd-s3: true` with its bucket settings). A restore (\"Rebuilding from an etcd backup\") is \
         only as good as the newest snapshot: it loses every write since."
    )
}

#[cfg(test)]
mod tests {
    use super::every_hours;

    #[test]
    fn schedules() {
        assert_eq!(every_hours("0 */12 * * *"), Some(12));
        assert_eq!(every_hours("0 */6 * * *"), Some(6));
        assert_eq!(every_hours("30 2 * * *"), Some(24));
        assert_eq!(every_hours("0 0,12 * * *"), Some(12));
        assert_eq!(every_hours("0 0 * * 1"), None);
        assert_eq!(every_hours("nonsense"), None);
    }
}
