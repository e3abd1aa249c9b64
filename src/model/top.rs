//! Top pane state: a slim pods watch (owner, node, phase, container resources, restarts), ReplicaSet
//! owners (to reach the Deployment), and the latest `metrics.k8s.io` poll.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::store::with_key;
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
        self.status_str().to_string()
    }

    /// [`PodRow::status`] without allocating.
    pub fn status_str(&self) -> &str {
        if !self.reason.is_empty() {
            return &self.reason;
        }
        if let Some(w) = self
            .containers
            .iter()
            .find_map(|c| c.waiting_reason.as_deref())
        {
            return w;
        }
        if self.phase == "Pending" && self.unschedulable.is_some() {
            return "Unschedulable";
        }
        &self.phase
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

    /// The sum over the containers that have a value; None when none has (no allocation: the
    /// rules call this for every pod).
    fn sum(&self, f: impl Fn(&ContainerRow) -> Option<u64>) -> Option<u64> {
        self.containers
            .iter()
            .filter_map(f)
            .fold(None, |acc, v| Some(acc.unwrap_or(0) + v))
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

/// Pods' usage by `namespace/name`: hashed (foldhash), because the rules and the Top pane look every
/// pod up in it.
pub type PodUsage = HashMap<String, Usage, foldhash::fast::RandomState>;

/// One metrics poll: pods by `namespace/name`, nodes by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    pub pods: PodUsage,
    pub nodes: BTreeMap<String, Usage>,
}

/// A workload: `(kind, namespace, name)`; a pod without a controller is its own workload.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Workload {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl Workload {
    pub fn as_ref(&self) -> WorkloadRef<'_> {
        WorkloadRef {
            kind: &self.kind,
            namespace: &self.namespace,
            name: &self.name,
        }
    }
}

/// A [`Workload`] borrowed from the rows: what the rules group 50,000 pods by without allocating.
/// Orders like `Workload` (kind, namespace, name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadRef<'a> {
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

impl WorkloadRef<'_> {
    pub fn to_owned(self) -> Workload {
        Workload {
            kind: self.kind.to_string(),
            namespace: self.namespace.to_string(),
            name: self.name.to_string(),
        }
    }
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
    /// The latest poll (set through [`TopModel::set_metrics`], which bumps `metrics_rev`).
    metrics: MetricsSnapshot,
    metrics_rev: u64,
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
    /// The rows in display order, rebuilt only when an input changed (see [`RowsKey`]).
    cache: RowsCache,
}

/// What the ordered rows depend on: a frame whose key matches the cache's draws from it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowsKey {
    pods: u64,
    replicasets: u64,
    metrics: u64,
    metrics_ok: bool,
    sort: TopSort,
    grouped: bool,
    filter: String,
}

/// The rows in display order: pod keys (a row is built only when shown), or the grouped rows.
#[derive(Debug)]
enum Ordered {
    Pods(Vec<Arc<str>>),
    Groups(Vec<TopRow>),
}

impl Ordered {
    fn len(&self) -> usize {
        match self {
            Ordered::Pods(v) => v.len(),
            Ordered::Groups(v) => v.len(),
        }
    }
}

/// Interior cache of the ordered rows: drawing takes `&Model`. A clone starts empty; two caches are
/// always equal (derived data, not state).
#[derive(Default)]
struct RowsCache(Mutex<Option<Built>>);

/// One build of the order: for what, when, and what it cost.
struct Built {
    key: RowsKey,
    rows: Arc<Ordered>,
    at: std::time::Instant,
    cost: std::time::Duration,
}

/// While only the data moved (not the sort, grouping or filter), an order that cost at least
/// [`PACE_FROM`] to build is reused for `cost × ORDER_PACE` before it is rebuilt: under steady pod
/// churn at 50,000 pods a rebuild (~12 ms) then takes at most 1/9 of a core instead of running every
/// frame. The rows themselves are always read fresh; only a new pod's place waits (≤ ~100 ms, and
/// the clock's redraw every second catches up when the churn stops). Small tables are never paced.
const ORDER_PACE: u32 = 8;
const PACE_FROM: std::time::Duration = std::time::Duration::from_millis(2);

impl RowsKey {
    fn same_view(&self, other: &RowsKey) -> bool {
        (self.sort, self.grouped, &self.filter, self.metrics_ok)
            == (other.sort, other.grouped, &other.filter, other.metrics_ok)
    }
}

impl Clone for RowsCache {
    fn clone(&self) -> Self {
        RowsCache::default()
    }
}

impl PartialEq for RowsCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for RowsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowsCache")
    }
}

/// Grouped-row accumulator.
struct Group {
    row: TopRow,
    ready: usize,
}

impl TopModel {
    pub fn new(state: SourceState) -> Self {
        TopModel {
            metrics_state: state.clone(),
            state,
            pods: Store::default(),
            replicasets: Store::default(),
            metrics: MetricsSnapshot::default(),
            metrics_rev: 0,
            sort: TopSort::default(),
            grouped: false,
            crash_logs: BTreeMap::new(),
            ca_bundles: None,
            filter: Default::default(),
            cache: RowsCache::default(),
        }
    }

    pub fn metrics(&self) -> &MetricsSnapshot {
        &self.metrics
    }

    /// A new metrics poll arrived.
    pub fn set_metrics(&mut self, snap: MetricsSnapshot, now: DateTime<Utc>) {
        self.metrics = snap;
        self.metrics_rev += 1;
        self.metrics_state = SourceState::Ok { at: now };
    }

    /// Changes whenever the pods, their owners or the usage numbers change: rule results derived
    /// from them stay valid while it does not.
    pub fn data_rev(&self) -> (u64, u64, u64, bool) {
        (
            self.pods.rev(),
            self.replicasets.rev(),
            self.metrics_rev,
            self.metrics_state.is_ok(),
        )
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
        self.workload_ref(pod).to_owned()
    }

    /// [`TopModel::workload`] without allocating.
    pub fn workload_ref<'a>(&'a self, pod: &'a PodRow) -> WorkloadRef<'a> {
        let own = |kind: &'a str, name: &'a str| WorkloadRef {
            kind,
            namespace: &pod.namespace,
            name,
        };
        match &pod.owner {
            Some((k, n)) if k == "ReplicaSet" => match self
                .replicasets
                .get_in(&pod.namespace, n)
                .and_then(|rs| rs.owner.as_ref())
            {
                Some((dk, dn)) => own(dk, dn),
                None => own(k, n),
            },
            Some((k, n)) => own(k, n),
            None => own("Pod", &pod.name),
        }
    }

    pub fn usage(&self, pod: &PodRow) -> Option<Usage> {
        with_key(&pod.namespace, &pod.name, |k| {
            self.metrics.pods.get(k).copied()
        })
    }

    /// One pod's row.
    fn pod_row(&self, p: &PodRow) -> TopRow {
        let has_metrics = self.metrics_state.is_ok();
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
    }

    fn rows_key(&self) -> RowsKey {
        RowsKey {
            pods: self.pods.rev(),
            replicasets: self.replicasets.rev(),
            metrics: self.metrics_rev,
            metrics_ok: self.metrics_state.is_ok(),
            sort: self.sort,
            grouped: self.grouped,
            filter: if self.filter.is_active() {
                self.filter.text.clone()
            } else {
                String::new()
            },
        }
    }

    /// The rows in display order, from the cache when nothing they depend on changed.
    fn ordered(&self) -> Arc<Ordered> {
        let key = self.rows_key();
        let mut cache = self
            .cache
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(b) = cache.as_ref()
            && (b.key == key
                || (b.key.same_view(&key)
                    && b.cost >= PACE_FROM
                    && b.at.elapsed() < b.cost * ORDER_PACE))
        {
            return b.rows.clone();
        }
        let at = std::time::Instant::now();
        let rows = Arc::new(self.build_ordered());
        *cache = Some(Built {
            key,
            rows: rows.clone(),
            at,
            cost: at.elapsed(),
        });
        rows
    }

    fn build_ordered(&self) -> Ordered {
        if self.grouped {
            let mut rows = self.grouped_rows();
            self.sort_rows(&mut rows);
            if self.filter.is_active() {
                rows.retain(|r| self.keeps(r));
            }
            return Ordered::Groups(rows);
        }
        let mut v: Vec<(&Arc<str>, &PodRow)> = self
            .pods
            .shared_entries()
            .filter(|(_, p)| !p.evicted())
            .collect();
        if self.filter.is_active() {
            let m = self.filter.matcher();
            let (mut name, mut owner) = (String::new(), String::new());
            v.retain(|(_, p)| {
                let w = self.workload_ref(p);
                name.clear();
                name.push_str(&p.namespace);
                name.push('/');
                name.push_str(&p.name);
                owner.clear();
                owner.push_str(w.kind);
                owner.push('/');
                owner.push_str(w.name);
                m.keeps(&[
                    name.as_str(),
                    p.status_str(),
                    p.node.as_str(),
                    owner.as_str(),
                ])
            });
        }
        // sort keys computed once per row (`sort_by_cached_key` is stable: ties keep name order)
        let has_metrics = self.metrics_state.is_ok();
        let mem = |p: &PodRow| self.usage(p).map(|u| u.mem_b).or(has_metrics.then_some(0));
        let pct = |p: &PodRow, of: Option<u64>| match (mem(p), of) {
            (Some(u), Some(d)) if d > 0 => Some(u * 100 / d),
            _ => None,
        };
        match self.sort {
            TopSort::Memory => v.sort_by_cached_key(|(_, p)| std::cmp::Reverse(mem(p))),
            TopSort::Cpu => v.sort_by_cached_key(|(_, p)| {
                std::cmp::Reverse(self.usage(p).map(|u| u.cpu_m).or(has_metrics.then_some(0)))
            }),
            TopSort::MemOfRequest => {
                v.sort_by_cached_key(|(_, p)| std::cmp::Reverse(pct(p, p.req_mem())))
            }
            TopSort::MemOfLimit => {
                v.sort_by_cached_key(|(_, p)| std::cmp::Reverse(pct(p, p.lim_mem())))
            }
            TopSort::Restarts => v.sort_by_cached_key(|(_, p)| std::cmp::Reverse(p.restarts())),
            TopSort::Node => v.sort_by(|a, b| a.1.node.cmp(&b.1.node)),
            TopSort::Owner => v.sort_by_cached_key(|(_, p)| {
                let w = self.workload_ref(p);
                (w.namespace, w.kind, w.name)
            }),
            TopSort::Name => {
                v.sort_by(|a, b| (&a.1.namespace, &a.1.name).cmp(&(&b.1.namespace, &b.1.name)))
            }
        }
        Ordered::Pods(v.into_iter().map(|(k, _)| k.clone()).collect())
    }

    /// One row per workload (evicted pods are not consumers: they are left out).
    fn grouped_rows(&self) -> Vec<TopRow> {
        let mut by: BTreeMap<WorkloadRef<'_>, Group> = BTreeMap::new();
        for p in self.pods.iter().filter(|p| !p.evicted()) {
            let r = self.pod_row(p);
            let w = self.workload_ref(p);
            let g = by.entry(w).or_insert_with(|| Group {
                row: TopRow {
                    name: w.name.to_string(),
                    namespace: w.namespace.to_string(),
                    workload: Some(w.to_owned()),
                    node: String::new(),
                    pods: 0,
                    cpu_m: None,
                    mem_b: None,
                    req_mem_b: None,
                    lim_mem_b: Some(0),
                    restarts: 0,
                    no_limits: false,
                    status: String::new(),
                    ready: String::new(),
                    last_termination: None,
                },
                ready: 0,
            });
            let pod_ready = r.ready.split_once('/').is_some_and(|(a, b)| a == b);
            g.ready += usize::from(pod_ready);
            let g_row = &mut g.row;
            if g_row.status.is_empty() || (g_row.status == "Running" && r.status != "Running") {
                g_row.status = r.status.clone();
            }
            if g_row.last_termination.is_none() {
                g_row.last_termination = r.last_termination.clone();
            }
            g_row.pods += 1;
            g_row.cpu_m = add(g_row.cpu_m, r.cpu_m);
            g_row.mem_b = add(g_row.mem_b, r.mem_b);
            g_row.req_mem_b = add(g_row.req_mem_b, r.req_mem_b);
            g_row.lim_mem_b = match (g_row.lim_mem_b, r.lim_mem_b) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            g_row.restarts += r.restarts;
            g_row.no_limits |= r.no_limits;
            if g_row.node.is_empty() {
                g_row.node = r.node;
            } else if g_row.node != r.node && !g_row.node.ends_with('…') {
                g_row.node = format!("{} …", g_row.node);
            }
        }
        by.into_values()
            .map(|mut g| {
                g.row.ready = format!("{}/{}", g.ready, g.row.pods);
                g.row
            })
            .collect()
    }

    fn sort_rows(&self, rows: &mut [TopRow]) {
        let owner = |r: &TopRow| {
            r.workload
                .as_ref()
                .map(|w| (w.namespace.clone(), w.kind.clone(), w.name.clone()))
                .unwrap_or_default()
        };
        match self.sort {
            TopSort::Memory => rows.sort_by_key(|b| std::cmp::Reverse(b.mem_b)),
            TopSort::Cpu => rows.sort_by_key(|b| std::cmp::Reverse(b.cpu_m)),
            TopSort::MemOfRequest => rows.sort_by_key(|b| std::cmp::Reverse(b.pct_of(b.req_mem_b))),
            TopSort::MemOfLimit => rows.sort_by_key(|b| std::cmp::Reverse(b.pct_of(b.lim_mem_b))),
            TopSort::Restarts => rows.sort_by_key(|b| std::cmp::Reverse(b.restarts)),
            TopSort::Node => rows.sort_by(|a, b| a.node.cmp(&b.node)),
            TopSort::Owner => rows.sort_by_cached_key(owner),
            TopSort::Name => {
                rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)))
            }
        }
    }

    fn keeps(&self, r: &TopRow) -> bool {
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
    }

    /// Every row after grouping, sorting and the filter (evicted pods are not consumers: they are
    /// left out). Builds all of them: a frame asks for [`TopModel::rows_window`] instead.
    pub fn rows(&self) -> Vec<TopRow> {
        self.rows_window(0, usize::MAX)
    }

    /// The rows `offset .. offset + n` in display order: what one frame shows. Only these rows are
    /// built; the order is cached until the pods, owners, metrics, sort, grouping or filter change.
    pub fn rows_window(&self, offset: usize, n: usize) -> Vec<TopRow> {
        self.view(offset, n).1
    }

    /// What one frame shows: the number of rows, and the rows `offset .. offset + n` (one look at the
    /// cached order for both).
    pub fn view(&self, offset: usize, n: usize) -> (usize, Vec<TopRow>) {
        let order = self.ordered();
        let rows = match order.as_ref() {
            Ordered::Pods(keys) => keys
                .iter()
                .skip(offset)
                .take(n)
                .filter_map(|k| self.pods.get(k))
                .map(|p| self.pod_row(p))
                .collect(),
            Ordered::Groups(rows) => rows.iter().skip(offset).take(n).cloned().collect(),
        };
        (order.len(), rows)
    }

    /// The row at `index` in display order.
    pub fn row(&self, index: usize) -> Option<TopRow> {
        self.rows_window(index, 1).into_iter().next()
    }

    pub fn row_count(&self) -> usize {
        if !self.grouped && !self.filter.is_active() {
            // no need to order the rows to count them
            return self.pods.iter().filter(|p| !p.evicted()).count();
        }
        self.ordered().len()
    }
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}
