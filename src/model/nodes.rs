//! Nodes, slim: name, roles, kubelet version, Ready and pressure conditions, internal IP. Shared by the
//! etcd pane (which nodes run etcd, which distribution) and later panes (Overview, Events).

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
    /// The `Ready` condition (`None`: not reported).
    pub ready: Option<bool>,
    /// Pressure conditions that are True (`MemoryPressure`, `DiskPressure`, `PIDPressure`).
    pub pressure: Vec<String>,
    pub internal_ip: Option<String>,
    /// `node.kubernetes.io/instance-type` (RKE2 and k3s set `rke2` / `k3s` on their nodes).
    pub instance_type: Option<String>,
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
}

impl NodesModel {
    pub fn new(state: SourceState) -> Self {
        NodesModel {
            state,
            store: Store::default(),
        }
    }

    pub fn apply(&mut self, delta: Delta<NodeRow>, now: DateTime<Utc>) -> bool {
        let changed = self.store.apply(delta);
        if self.store.synced {
            self.state = SourceState::Ok { at: now };
        }
        changed
    }

    pub fn etcd_nodes(&self) -> impl Iterator<Item = &NodeRow> {
        self.store.iter().filter(|n| n.has_role("etcd"))
    }
}
