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
    pub ready: bool,
    /// `state.waiting.reason` (`CrashLoopBackOff`, `ImagePullBackOff`, `ContainerCreating`, …).
    pub waiting_reason: Option<String>,
    pub waiting_message: Option<String>,
    /// `lastState.terminated`: reason and exit code of the previous run.
    pub last_term_reason: Option<String>,
    pub last_exit_code: Option<i32>,
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
    pub uid: String,
    /// Why the scheduler has not placed it: the `PodScheduled=False` condition's reason and message.
    pub unschedulable: Option<String>,
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

    /// `ready/total` containers, as `kubectl get pods` shows it.
    pub fn ready_text(&self) -> String {
        let n = self.containers.iter().filter(|c| c.ready).count();
        format!("{n}/{}", self.containers.len())
    }

    /// The container in `CrashLoopBackOff`, if any.
    pub fn crashlooping(&self) -> Option<&ContainerRow> {
        self.containers
            .iter()
            .find(|c| c.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
    }

    /// The one-word health `kubectl get pods` shows in STATUS: a waiting reason, `Evicted`, or the phase.
    pub fn status(&self) -> String {
        if !self.reason.is_empty() {
            return self.reason.clone();
        }
        if let Some(w) = self
            .containers
            .iter()
            .find_map(|c| c.waiting_reason.clone())
        {
            return w;
        }
        if self.phase == "Pending" && self.unschedulable.is_some() {
            return "Unschedulable".into();
        }
        self.phase.clone()
    }

    /// Why a `Pending` pod is not running: the scheduler's message, else a container's waiting reason.
    pub fn pending_reason(&self) -> Option<String> {
        if self.phase != "Pending" {
            return None;
        }
        if let Some(u) = &self.unschedulable {
            return Some(u.clone());
        }
        self.containers.iter().find_map(|c| {
            c.waiting_reason.as_ref().map(|r| match &c.waiting_message {
                Some(m) if !m.is_empty() => format!("container {}: {r}: {m}", c.name),
                _ => format!("container {}: {r}", c.name),
            })
        })
    }

    /// The last termination of the first container that has one: `Error (exit 1)`.
    pub fn last_termination(&self) -> Option<String> {
        self.containers.iter().find_map(|c| {
            c.last_term_reason.as_ref().map(|r| match c.last_exit_code {
                Some(code) => format!("{r} (exit {code})"),
                None => r.clone(),
            })
        })
    }

    pub fn restarts(&self) -> u32 {
        self.containers.iter().map(|c| c.restarts).sum()
    }

    /// Some container waits in `CrashLoopBackOff`.
    pub fn crash_looping(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
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
    /// Health as `kubectl get pods` shows it: STATUS (`CrashLoopBackOff`, `Running`, …) and READY
    /// (`1/2`); grouped rows show the worst status and `ready pods/pods`.
    pub status: String,
    pub ready: String,
    /// The last termination (`Error (exit 1)`), if any.
    pub last_termination: Option<String>,
}

impl TopRow {
    /// Whether the row is unhealthy (not Running and ready, nor Succeeded).
    pub fn unhealthy(&self) -> bool {
        !(self.status == "Running" || self.status == "Succeeded")
            || self.ready.split_once('/').is_some_and(|(a, b)| a != b)
    }

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
    /// The `/` filter over the rows (name, status, node, owner).
    pub filter: super::filter::TableFilter,
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
            filter: Default::default(),
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
                status: p.status(),
                ready: p.ready_text(),
                last_termination: p.last_termination(),
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
                    status: String::new(),
                    ready: "0/0".into(),
                    last_termination: None,
                });
                let pod_ready = r.ready.split_once('/').is_some_and(|(a, b)| a == b);
                let (ready, total) = g
                    .ready
                    .split_once('/')
                    .map(|(a, b)| {
                        (
                            a.parse::<usize>().unwrap_or(0),
                            b.parse::<usize>().unwrap_or(0),
                        )
                    })
                    .unwrap_or((0, 0));
                g.ready = format!("{}/{}", ready + usize::from(pod_ready), total + 1);
                if g.status.is_empty() || (g.status == "Running" && r.status != "Running") {
                    g.status = r.status.clone();
                }
                if g.last_termination.is_none() {
                    g.last_termination = r.last_termination.clone();
                }
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
        if self.filter.is_active() {
            rows.retain(|r| {
                let owner = r
                    .workload
                    .as_ref()
                    .map(|w| format!("{}/{}", w.kind, w.name))
                    .unwrap_or_default();
                self.filter.keeps(&[
                    format!("{}/{}", r.namespace, r.name),
                    r.status.clone(),
                    r.node.clone(),
                    owner,
                ])
            });
        }
        rows
    }

    pub fn row_count(&self) -> usize {
        if self.filter.is_active() {
            return self.rows().len();
        }
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
