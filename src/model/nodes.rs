//! Nodes, slim and shared: name, roles, kubelet version, Ready and pressure conditions with their
//! transition times, allocatable, internal IP. Used by the etcd pane (which nodes run etcd, which
//! distribution), Leaders (is the holder's node Ready?), Events (pressure, flapping) and Top
//! (allocatable for overcommit).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeRow {
    pub name: String,
    /// From `node-role.kubernetes.io/<role>` labels (`etcd`, `control-plane`, `controlplane`, `worker`).
    pub roles: Vec<String>,
    /// `v1.28.9+rke2r1`, `v1.30.2+k3s1`, `v1.20.15`.
    pub kubelet_version: String,
    /// `Ready` condition: `Some(true)` Ready, `Some(false)` NotReady/Unknown, `None` not reported.
    pub ready: Option<bool>,
    /// `lastTransitionTime` of the Ready condition.
    pub ready_since: Option<DateTime<Utc>>,
    /// Pressure conditions that are True (`MemoryPressure`, `DiskPressure`, `PIDPressure`).
    pub pressure: Vec<String>,
    /// When each pressure condition became True (from `lastTransitionTime`).
    pub pressure_since: Vec<(String, Option<DateTime<Utc>>)>,
    pub alloc_cpu_m: Option<u64>,
    pub alloc_mem_b: Option<u64>,
    pub internal_ip: Option<String>,
    /// `node.kubernetes.io/instance-type` (RKE2 and k3s set `rke2` / `k3s` on their nodes).
    pub instance_type: Option<String>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// RKE2/k3s: whether the server's `rke2.io/node-args` / `k3s.io/node-args` name a `--server` to
    /// join (`Some(false)`: a bootstrap server), `None` when not annotated.
    pub joins_server: Option<bool>,
}

impl NodeRow {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Roles from labels: `node-role.kubernetes.io/etcd: "true"` and friends.
    pub fn roles_from_labels(labels: &BTreeMap<String, String>) -> Vec<String> {
        let mut roles: Vec<String> = labels
            .iter()
            .filter_map(|(k, v)| {
                let role = k.strip_prefix("node-role.kubernetes.io/")?;
                (v != "false" && !role.is_empty()).then(|| role.to_string())
            })
            .collect();
        roles.sort();
        roles
    }
}

impl Keyed for NodeRow {
    fn key(&self) -> String {
        self.name.clone()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodesModel {
    pub state: SourceState,
    pub store: Store<NodeRow>,
    /// Ready ↔ NotReady flips seen while watching, per node (kept for one hour).
    pub flips: BTreeMap<String, Vec<DateTime<Utc>>>,
}

impl NodesModel {
    pub fn new(state: SourceState) -> Self {
        NodesModel {
            state,
            store: Store::default(),
            flips: BTreeMap::new(),
        }
    }

    pub fn apply(&mut self, delta: Delta<NodeRow>, now: DateTime<Utc>) -> bool {
        if let Delta::Apply(row) | Delta::InitApply(row) = &delta
            && let Some(old) = self.store.get(&row.name)
            && old.ready.is_some()
            && row.ready.is_some()
            && old.ready != row.ready
        {
            let v = self.flips.entry(row.name.clone()).or_default();
            v.push(now);
            v.retain(|t| (now - *t).num_seconds() < 3600);
        }
        let changed = self.store.apply(delta);
        if self.store.synced {
            self.state = SourceState::Ok { at: now };
        }
        changed
    }

    pub fn get(&self, name: &str) -> Option<&NodeRow> {
        self.store.get(name)
    }

    pub fn etcd_nodes(&self) -> impl Iterator<Item = &NodeRow> {
        self.store.iter().filter(|n| n.has_role("etcd"))
    }
}
