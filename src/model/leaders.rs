//! Leaders pane state: leader-election Leases (and the older `control-plane.alpha.kubernetes.io/leader`
//! annotation), with the holder changes seen while watching.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};

/// Where a leader record was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LeaderSource {
    Lease,
    /// `control-plane.alpha.kubernetes.io/leader` on an Endpoints or ConfigMap (older RKE1).
    Annotation,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeaseRow {
    pub namespace: String,
    pub name: String,
    /// `spec.holderIdentity` (empty: nobody holds it).
    pub holder: String,
    pub duration_s: Option<i64>,
    pub acquire: Option<DateTime<Utc>>,
    pub renew: Option<DateTime<Utc>>,
    pub transitions: Option<i64>,
    pub source: LeaderSource,
}

impl Keyed for LeaseRow {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl LeaseRow {
    /// The node a holder identity maps to: kube-scheduler and kube-controller-manager write
    /// `<hostname>_<uuid>`; RKE2's own leases hold the node name itself.
    pub fn holder_node(&self) -> Option<&str> {
        if self.holder.is_empty() {
            return None;
        }
        Some(self.holder.split('_').next().unwrap_or(&self.holder))
    }

    /// Seconds since the last renewal.
    pub fn renew_age(&self, now: DateTime<Utc>) -> Option<i64> {
        self.renew.map(|t| (now - t).num_seconds().max(0))
    }

    /// One of the control plane's own elections, named by a Kubernetes, RKE2/k3s or Rancher
    /// contract: kube-system's kube-scheduler, kube-controller-manager and cloud-controller-manager,
    /// RKE2's and k3s's own (`rke2`, `rke2-etcd`, `k3s`, `k3s-etcd`, …), and `cattle-controllers`.
    /// Losing one stalls the cluster; losing another lease stalls one add-on.
    pub fn well_known(&self) -> bool {
        let dist = |p: &str| self.name == p || self.name.starts_with(&format!("{p}-"));
        (self.namespace == "kube-system"
            && (matches!(
                self.name.as_str(),
                "kube-scheduler" | "kube-controller-manager" | "cloud-controller-manager"
            ) || dist("rke2")
                || dist("k3s")))
            || self.name == "cattle-controllers"
    }

    /// A lease nobody has renewed for an hour that is not a control-plane election: most likely left
    /// behind by an uninstalled controller, not a leader that went missing.
    pub fn abandoned(&self, now: DateTime<Utc>) -> bool {
        !self.well_known() && self.renew_age(now).is_none_or(|a| a > 3600)
    }

    /// Is this an election lease (not a node heartbeat)? Node leases live in `kube-node-lease`.
    pub fn is_election(&self) -> bool {
        self.namespace != "kube-node-lease"
    }
}

/// A holder change observed while watching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderChange {
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadersModel {
    pub state: SourceState,
    pub store: Store<LeaseRow>,
    /// Holder changes per lease key (`namespace/name`), the last hour.
    pub changes: BTreeMap<String, Vec<HolderChange>>,
    /// Records from the older leader annotation (kept apart: a lease re-list must not drop them).
    pub annotated: BTreeMap<String, LeaseRow>,
    /// The `/` filter of the table (display only: rules read `rows()`).
    pub filter: super::filter::TableFilter,
}

impl LeadersModel {
    pub fn new(state: SourceState) -> Self {
        LeadersModel {
            state,
            store: Store::default(),
            changes: BTreeMap::new(),
            annotated: BTreeMap::new(),
            filter: Default::default(),
        }
    }

    pub fn apply(&mut self, delta: Delta<LeaseRow>, now: DateTime<Utc>) -> bool {
        if let Delta::Apply(row) = &delta
            && row.source == LeaderSource::Annotation
        {
            self.annotated.insert(row.key(), row.clone());
            return true;
        }
        if let Delta::Apply(row) | Delta::InitApply(row) = &delta
            && let Some(old) = self.store.get(&row.key())
            && old.holder != row.holder
        {
            let v = self.changes.entry(row.key()).or_default();
            v.push(HolderChange {
                at: now,
                from: old.holder.clone(),
                to: row.holder.clone(),
            });
            v.retain(|c| (now - c.at).num_seconds() < 3600);
        }
        // a kubelet's heartbeat renewing its node Lease: kept (the Nodes pane reads its age at
        // the next evaluation) but nothing on screen changes with it
        let heartbeat = matches!(&delta, Delta::Apply(row) if !row.is_election()
            && self.store.get(&row.key()).is_some_and(|old| old.holder == row.holder));
        let changed = self.store.apply(delta);
        if self.store.synced {
            self.state = SourceState::Ok { at: now };
        }
        changed && !heartbeat
    }

    /// Holder changes of one lease within `window_s` seconds before `now`.
    pub fn changes_within(&self, key: &str, now: DateTime<Utc>, window_s: i64) -> usize {
        self.changes
            .get(key)
            .map(|v| {
                v.iter()
                    .filter(|c| (now - c.at).num_seconds() <= window_s)
                    .count()
            })
            .unwrap_or(0)
    }

    /// The rows the table shows: `rows()` through the `/` filter (namespace/name, holder).
    pub fn shown(&self) -> Vec<&LeaseRow> {
        let mut v = self.rows();
        if self.filter.is_active() {
            v.retain(|l| {
                self.filter
                    .keeps(&[format!("{}/{}", l.namespace, l.name), l.holder.clone()])
            });
        }
        v
    }

    /// Election leases in display order.
    pub fn rows(&self) -> Vec<&LeaseRow> {
        let mut v: Vec<&LeaseRow> = self.store.iter().filter(|l| l.is_election()).collect();
        v.extend(
            self.annotated
                .values()
                .filter(|a| self.store.get(&a.key()).is_none()),
        );
        v
    }
}
