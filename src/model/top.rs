//! Top pane state: a slim pods watch (owner, node, phase, container resources, restarts), ReplicaSet
//! owners (to reach the Deployment), and the latest `metrics.k8s.io` poll.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRow {
    pub name: String,
    pub req_cpu_m: Option<u64>,
    pub req_mem_b: Option<u64>,
    pub lim_cpu_m: Option<u64>,
    pub lim_mem_b: Option<u64>,
    pub restarts: u32,
    /// The last termination was `OOMKilled`.
    pub oom_killed: bool,
    /// `state.waiting.reason` (`CrashLoopBackOff`, `ImagePullBackOff`), empty when not waiting.
    pub waiting_reason: String,
    /// `ready` from the container status.
    pub ready: bool,
    /// The last termination's `message` (bounded), empty when none: where a crashed process's
    /// final words (`x509: certificate signed by unknown authority`) are kept.
    pub last_message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRow {
    pub namespace: String,
    pub name: String,
    pub node: String,
    pub phase: String,
    /// `status.reason` (`Evicted` for evicted pods).
    pub reason: String,
    /// The controller owner: (kind, name).
    pub owner: Option<(String, String)>,
    pub containers: Vec<ContainerRow>,
}

impl Keyed for PodRow {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

impl PodRow {
    pub fn evicted(&self) -> bool {
        self.phase == "Failed" && self.reason == "Evicted"
    }

    pub fn running(&self) -> bool {
        self.phase == "Running"
    }

    pub fn restarts(&self) -> u32 {
        self.containers.iter().map(|c| c.restarts).sum()
    }

    /// Some container waits in `CrashLoopBackOff`.
    pub fn crash_looping(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.waiting_reason == "CrashLoopBackOff")
    }

    /// Running with every container ready.
    pub fn ready(&self) -> bool {
        self.running() && !self.containers.is_empty() && self.containers.iter().all(|c| c.ready)
    }

    /// Some container has no memory limit.
    pub fn lacks_mem_limit(&self) -> bool {
        self.containers.iter().any(|c| c.lim_mem_b.is_none())
    }

    pub fn lacks_any_limit(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.lim_mem_b.is_none() || c.lim_cpu_m.is_none())
    }

    fn sum(&self, f: impl Fn(&ContainerRow) -> Option<u64>) -> Option<u64> {
        let v: Vec<u64> = self.containers.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    }

    pub fn req_mem(&self) -> Option<u64> {
        self.sum(|c| c.req_mem_b)
    }
    pub fn req_cpu(&self) -> Option<u64> {
        self.sum(|c| c.req_cpu_m)
    }
    /// The pod's memory limit, only when every container has one.
    pub fn lim_mem(&self) -> Option<u64> {
        if self.containers.iter().all(|c| c.lim_mem_b.is_some()) {
            self.sum(|c| c.lim_mem_b)
        } else {
            None
        }
    }
}

/// A ReplicaSet and its controller (usually a Deployment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsRow {
    pub namespace: String,
    pub name: String,
    pub owner: Option<(String, String)>,
}

impl Keyed for RsRow {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_m: u64,
    pub mem_b: u64,
}

/// One metrics poll: pods by `namespace/name`, nodes by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub pods: BTreeMap<String, Usage>,
    pub nodes: BTreeMap<String, Usage>,
}

/// A workload: `(kind, namespace, name)`; a pod without a controller is its own workload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TopSort {
    #[default]
    Memory,
    Cpu,
    MemOfRequest,
    MemOfLimit,
    Restarts,
    Node,
    Owner,
    Name,
}

impl TopSort {
    pub const ALL: &'static [TopSort] = &[
        TopSort::Memory,
        TopSort::Cpu,
        TopSort::MemOfRequest,
        TopSort::MemOfLimit,
        TopSort::Restarts,
        TopSort::Node,
        TopSort::Owner,
        TopSort::Name,
    ];

    pub fn next(self) -> TopSort {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn name(self) -> &'static str {
        match self {
            TopSort::Memory => "memory",
            TopSort::Cpu => "cpu",
            TopSort::MemOfRequest => "mem % of request",
            TopSort::MemOfLimit => "mem % of limit",
            TopSort::Restarts => "restarts",
            TopSort::Node => "node",
            TopSort::Owner => "owner",
            TopSort::Name => "name",
        }
    }
}

/// A line of the pane: one pod, or one workload when grouped.
#[derive(Debug, Clone, PartialEq)]
pub struct TopRow {
    pub name: String,
    pub namespace: String,
    pub workload: Option<Workload>,
    pub node: String,
    pub pods: usize,
    pub cpu_m: Option<u64>,
    pub mem_b: Option<u64>,
    pub req_mem_b: Option<u64>,
    pub lim_mem_b: Option<u64>,
    pub restarts: u32,
    pub no_limits: bool,
}

impl TopRow {
    pub fn pct_of(&self, of: Option<u64>) -> Option<u64> {
        match (self.mem_b, of) {
            (Some(u), Some(d)) if d > 0 => Some(u * 100 / d),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopModel {
    pub state: SourceState,
    pub pods: Store<PodRow>,
    pub replicasets: Store<RsRow>,
    pub metrics: MetricsSnapshot,
    /// The metrics poll: Ok, or why there are no usage numbers (metrics-server missing).
    pub metrics_state: SourceState,
    pub sort: TopSort,
    pub grouped: bool,
    /// Previous-container log tails of crash-looping system pods, by `namespace/pod/container`
    /// (bounded: read for the `kube-ca-mismatch` rule).
    pub crash_logs: BTreeMap<String, Vec<String>>,
    /// Token Secrets' `ca.crt` against `kube-root-ca.crt`, where Secrets may be read.
    pub ca_bundles: Option<crate::kube::sources::ca_bundles::CaBundles>,
}

impl TopModel {
    pub fn new(state: SourceState) -> Self {
        TopModel {
            metrics_state: state.clone(),
            state,
            pods: Store::default(),
            replicasets: Store::default(),
            metrics: MetricsSnapshot::default(),
            sort: TopSort::default(),
            grouped: false,
            crash_logs: BTreeMap::new(),
            ca_bundles: None,
        }
    }

    pub fn apply_pods(&mut self, delta: Delta<PodRow>, now: DateTime<Utc>) -> bool {
        let changed = self.pods.apply(delta);
        if self.pods.synced {
            self.state = SourceState::Ok { at: now };
        }
        changed
    }

    pub fn apply_replicasets(&mut self, delta: Delta<RsRow>) -> bool {
        self.replicasets.apply(delta)
    }

    /// The workload owning a pod: its ReplicaSet's Deployment where there is one.
    pub fn workload(&self, pod: &PodRow) -> Workload {
        let own = |kind: &str, name: &str| Workload {
            kind: kind.to_string(),
            namespace: pod.namespace.clone(),
            name: name.to_string(),
        };
        match &pod.owner {
            Some((k, n)) if k == "ReplicaSet" => {
                match self
                    .replicasets
                    .get(&format!("{}/{n}", pod.namespace))
                    .and_then(|rs| rs.owner.as_ref())
                {
                    Some((dk, dn)) => own(dk, dn),
                    None => own(k, n),
                }
            }
            Some((k, n)) => own(k, n),
            None => own("Pod", &pod.name),
        }
    }

    pub fn usage(&self, pod: &PodRow) -> Option<Usage> {
        self.metrics.pods.get(&pod.key()).copied()
    }

    /// Rows after grouping and sorting (evicted pods are not consumers: they are left out).
    pub fn rows(&self) -> Vec<TopRow> {
        let has_metrics = self.metrics_state.is_ok();
        let pod_row = |p: &PodRow| {
            let u = self.usage(p);
            TopRow {
                name: p.name.clone(),
                namespace: p.namespace.clone(),
                workload: Some(self.workload(p)),
                node: p.node.clone(),
                pods: 1,
                cpu_m: u.map(|u| u.cpu_m).or(has_metrics.then_some(0)),
                mem_b: u.map(|u| u.mem_b).or(has_metrics.then_some(0)),
                req_mem_b: p.req_mem(),
                lim_mem_b: p.lim_mem(),
                restarts: p.restarts(),
                no_limits: p.lacks_any_limit(),
            }
        };
        let live = self.pods.iter().filter(|p| !p.evicted());
        let mut rows: Vec<TopRow> = if self.grouped {
            let mut by: BTreeMap<Workload, TopRow> = BTreeMap::new();
            for p in live {
                let r = pod_row(p);
                let w = self.workload(p);
                let g = by.entry(w.clone()).or_insert_with(|| TopRow {
                    name: w.name.clone(),
                    namespace: w.namespace.clone(),
                    workload: Some(w.clone()),
                    node: String::new(),
                    pods: 0,
                    cpu_m: None,
                    mem_b: None,
                    req_mem_b: None,
                    lim_mem_b: Some(0),
                    restarts: 0,
                    no_limits: false,
                });
                g.pods += 1;
                g.cpu_m = add(g.cpu_m, r.cpu_m);
                g.mem_b = add(g.mem_b, r.mem_b);
                g.req_mem_b = add(g.req_mem_b, r.req_mem_b);
                g.lim_mem_b = match (g.lim_mem_b, r.lim_mem_b) {
                    (Some(a), Some(b)) => Some(a + b),
                    _ => None,
                };
                g.restarts += r.restarts;
                g.no_limits |= r.no_limits;
                if g.node.is_empty() {
                    g.node = r.node;
                } else if g.node != r.node && !g.node.ends_with('…') {
                    g.node = format!("{} …", g.node);
                }
            }
            by.into_values().collect()
        } else {
            live.map(pod_row).collect()
        };
        let owner = |r: &TopRow| {
            r.workload
                .as_ref()
                .map(|w| format!("{}/{}/{}", w.namespace, w.kind, w.name))
                .unwrap_or_default()
        };
        match self.sort {
            TopSort::Memory => rows.sort_by_key(|b| std::cmp::Reverse(b.mem_b)),
            TopSort::Cpu => rows.sort_by_key(|b| std::cmp::Reverse(b.cpu_m)),
            TopSort::MemOfRequest => rows.sort_by_key(|b| std::cmp::Reverse(b.pct_of(b.req_mem_b))),
            TopSort::MemOfLimit => rows.sort_by_key(|b| std::cmp::Reverse(b.pct_of(b.lim_mem_b))),
            TopSort::Restarts => rows.sort_by_key(|b| std::cmp::Reverse(b.restarts)),
            TopSort::Node => rows.sort_by(|a, b| a.node.cmp(&b.node)),
            TopSort::Owner => rows.sort_by_key(owner),
            TopSort::Name => {
                rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)))
            }
        }
        rows
    }

    pub fn row_count(&self) -> usize {
        if self.grouped {
            let mut set = std::collections::BTreeSet::new();
            for p in self.pods.iter().filter(|p| !p.evicted()) {
                set.insert(self.workload(p));
            }
            set.len()
        } else {
            self.pods.iter().filter(|p| !p.evicted()).count()
        }
    }
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}
