//! Nodes, slim and shared: name, roles, kubelet version, Ready and pressure conditions with their
//! transition times, allocatable, internal IP. Used by the etcd pane (which nodes run etcd, which
//! distribution), Leaders (is the holder's node Ready?), Events (pressure, flapping) and Top
//! (allocatable for overcommit).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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
    /// The Ready condition's `status` (`True`, `False`, `Unknown`), `reason` and `message`
    /// (`NodeStatusUnknown`, `Kubelet stopped posting node status.`).
    pub ready_status: String,
    pub ready_reason: String,
    pub ready_message: String,
    /// Taints as `key:effect` (`node.kubernetes.io/unreachable:NoExecute`).
    pub taints: Vec<String>,
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
    /// RKE2/k3s: the server's `--etcd-snapshot-schedule-cron` from its node-args annotation.
    pub snapshot_cron: Option<String>,
}

impl NodeRow {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// A control-plane or etcd node (RKE1 labels `controlplane`, kubeadm and RKE2 `control-plane`,
    /// older clusters `master`).
    pub fn is_control_plane(&self) -> bool {
        self.roles.iter().any(|r| {
            matches!(
                r.as_str(),
                "control-plane" | "controlplane" | "master" | "etcd"
            )
        })
    }

    /// The roles as an operator reads them: `control-plane,etcd`, `worker` for a node without a
    /// control-plane role.
    pub fn roles_text(&self) -> String {
        let mut v: Vec<&str> = self
            .roles
            .iter()
            .map(|r| match r.as_str() {
                "controlplane" | "master" => "control-plane",
                r => r,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        if !self.is_control_plane() && !v.contains(&"worker") {
            v.push("worker");
        }
        v.join(",")
    }

    /// `Ready`, `NotReady` or `Unknown` (the kubelet stopped reporting), `-` when not reported.
    pub fn ready_text(&self) -> &str {
        match (self.ready, self.ready_status.as_str()) {
            (Some(true), _) => "Ready",
            (Some(false), "Unknown") => "Unknown",
            (Some(false), _) => "NotReady",
            (None, _) => "-",
        }
    }

    /// Cordoned (`spec.unschedulable`) or tainted so that pods leave (`NoExecute`).
    pub fn no_execute(&self) -> bool {
        self.taints.iter().any(|t| t.ends_with(":NoExecute"))
    }

    /// The kubelet (`v1.28.9+rke2r1`, `v1.30.2+k3s1`) or the instance type (`rke2`, `k3s`) names
    /// the node's distribution.
    pub fn names_distribution(&self) -> bool {
        let v = &self.kubelet_version;
        v.contains("+rke2")
            || v.contains("+k3s")
            || matches!(self.instance_type.as_deref(), Some("rke2" | "k3s"))
    }

    /// The node tells which distribution runs the cluster: it names it, or it carries RKE1's
    /// `controlplane` role label (the platform detection reads only such nodes).
    pub fn tells_platform(&self) -> bool {
        self.names_distribution() || self.has_role("controlplane")
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
    /// The Nodes pane's `/` filter (name, roles, Ready, version, taints) and sort.
    pub filter: super::filter::TableFilter,
    pub sort: NodeSort,
}

/// The Nodes pane's sort orders (`o` steps through them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NodeSort {
    /// NotReady first, then control-plane before workers, then by name.
    #[default]
    Health,
    Name,
    Pods,
    Cpu,
    Memory,
}

impl NodeSort {
    pub fn next(self) -> NodeSort {
        match self {
            NodeSort::Health => NodeSort::Name,
            NodeSort::Name => NodeSort::Pods,
            NodeSort::Pods => NodeSort::Cpu,
            NodeSort::Cpu => NodeSort::Memory,
            NodeSort::Memory => NodeSort::Health,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NodeSort::Health => "health",
            NodeSort::Name => "name",
            NodeSort::Pods => "pods",
            NodeSort::Cpu => "cpu",
            NodeSort::Memory => "memory",
        }
    }
}

/// A warning event about a node: reason, message, last seen.
pub type NodeWarning<'a> = (&'a str, &'a str, Option<DateTime<Utc>>);

/// A node as the Nodes pane shows it: the node and what other sources say about it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView<'a> {
    pub node: &'a NodeRow,
    /// Pods bound to the node that have not finished (phase neither Succeeded nor Failed).
    pub pods: usize,
    /// metrics.k8s.io's usage of the node, when served.
    pub usage: Option<super::top::Usage>,
    /// Warning events about the node (its own, kind Node), newest first.
    pub warnings: Vec<NodeWarning<'a>>,
    /// Seconds since the kubelet last renewed the node's Lease in `kube-node-lease`.
    pub lease_age: Option<i64>,
}

impl NodeView<'_> {
    /// Usage as a percentage of allocatable: (cpu, memory).
    pub fn pct(&self) -> (Option<u64>, Option<u64>) {
        let pct = |used: u64, alloc: Option<u64>| alloc.filter(|a| *a > 0).map(|a| used * 100 / a);
        match self.usage {
            Some(u) => (
                pct(u.cpu_m, self.node.alloc_cpu_m),
                pct(u.mem_b, self.node.alloc_mem_b),
            ),
            None => (None, None),
        }
    }
}

/// The cells the `/` filter reads: name, roles, Ready, kubelet version, taints.
fn cells(n: &NodeRow) -> [String; 5] {
    [
        n.name.clone(),
        n.roles_text(),
        n.ready_text().to_string(),
        n.kubelet_version.clone(),
        n.taints.join(" "),
    ]
}

/// The node Lease's renew age (seconds), from the leases the Leaders source watches.
pub fn lease_age(model: &super::Model, node: &str, now: DateTime<Utc>) -> Option<i64> {
    model
        .leaders
        .store
        .get(&format!("kube-node-lease/{node}"))
        .and_then(|l| l.renew_age(now))
}

/// Every node with its pods, usage, warning events and Lease: the Nodes pane's rows and the
/// `node-notready` rule's input, by name.
pub fn views(model: &super::Model, now: DateTime<Utc>) -> Vec<NodeView<'_>> {
    let mut pods: BTreeMap<&str, usize> = BTreeMap::new();
    for p in model.top.pods.iter() {
        if !p.node.is_empty() && p.phase != "Succeeded" && p.phase != "Failed" {
            *pods.entry(p.node.as_str()).or_default() += 1;
        }
    }
    let mut warnings: BTreeMap<&str, Vec<NodeWarning>> = BTreeMap::new();
    for e in model.events.store.iter() {
        if e.warning && e.kind == "Node" {
            warnings.entry(e.object.as_str()).or_default().push((
                e.reason.as_str(),
                e.message.as_str(),
                e.last,
            ));
        }
    }
    for v in warnings.values_mut() {
        v.sort_by_key(|w| std::cmp::Reverse(w.2));
    }
    let metrics = &model.top.metrics().nodes;
    model
        .nodes
        .store
        .iter()
        .map(|n| NodeView {
            node: n,
            pods: pods.get(n.name.as_str()).copied().unwrap_or(0),
            usage: metrics.get(&n.name).copied(),
            warnings: warnings.remove(n.name.as_str()).unwrap_or_default(),
            lease_age: lease_age(model, &n.name, now),
        })
        .collect()
}

/// The rows the Nodes pane shows: [`views`] through the `/` filter, in the chosen order.
pub fn shown(model: &super::Model, now: DateTime<Utc>) -> Vec<NodeView<'_>> {
    let nodes = &model.nodes;
    let matcher = nodes.filter.matcher();
    let mut v: Vec<NodeView> = views(model, now)
        .into_iter()
        .filter(|r| !nodes.filter.is_active() || matcher.keeps(&cells(r.node)))
        .collect();
    let name = |r: &NodeView| r.node.name.clone();
    match nodes.sort {
        NodeSort::Health => v.sort_by_key(|r| {
            (
                r.node.ready == Some(true),
                !r.node.is_control_plane(),
                name(r),
            )
        }),
        NodeSort::Name => v.sort_by_key(name),
        NodeSort::Pods => v.sort_by_key(|r| (std::cmp::Reverse(r.pods), name(r))),
        NodeSort::Cpu => v.sort_by_key(|r| (std::cmp::Reverse(r.pct().0), name(r))),
        NodeSort::Memory => v.sort_by_key(|r| (std::cmp::Reverse(r.pct().1), name(r))),
    }
    v
}

/// How many rows the Nodes pane shows (the filter reads only the node itself).
pub fn shown_count(model: &super::Model) -> usize {
    let nodes = &model.nodes;
    if !nodes.filter.is_active() {
        return nodes.store.len();
    }
    let matcher = nodes.filter.matcher();
    nodes
        .store
        .iter()
        .filter(|n| matcher.keeps(&cells(n)))
        .count()
}

impl NodesModel {
    pub fn new(state: SourceState) -> Self {
        NodesModel {
            state,
            store: Store::default().marking(NodeRow::tells_platform),
            flips: BTreeMap::new(),
            filter: Default::default(),
            sort: NodeSort::default(),
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
