//! Top pane state: a slim pods watch (owner, node, phase, container resources, restarts), ReplicaSet
//! owners (to reach the Deployment), and the latest `metrics.k8s.io` poll. The pod rows are in
//! `top/pod.rs`; the pane's rows (sorting, grouping, the order the loop keeps) in `top/rows.rs`.

pub mod actions;
mod pod;
mod rows;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

pub use pod::{ContainerRow, PodRow};
pub use rows::{TopOrder, TopRow, TopSort};

use super::store::with_key;
use super::{Delta, Keyed, SourceState, Store};

/// A ReplicaSet and its controller (usually a Deployment).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub cpu_m: u64,
    pub mem_b: u64,
}

/// Pods' usage by `namespace/name`: hashed (foldhash), because the rules and the Top pane look every
/// pod up in it.
pub type PodUsage = HashMap<String, Usage, foldhash::fast::RandomState>;

/// One metrics poll: pods by `namespace/name`, nodes by name.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// The pod changes remembered with the rows they replaced, for what follows them one pod at a
/// time (the per-pod rules, Top's order): at 100 changes a second, ten seconds of them; a burst
/// beyond that (a re-list, a rollout of thousands) rebuilds from every pod once.
const POD_CHANGES: usize = 1024;

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
    /// The `/` filter over the rows (name, status, node, owner).
    pub filter: super::filter::TableFilter,
}

impl TopModel {
    pub fn new(state: SourceState) -> Self {
        TopModel {
            metrics_state: state.clone(),
            state,
            pods: Store::with_changes(POD_CHANGES),
            replicasets: Store::default(),
            metrics: MetricsSnapshot::default(),
            metrics_rev: 0,
            sort: TopSort::default(),
            grouped: false,
            crash_logs: BTreeMap::new(),
            filter: Default::default(),
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

    /// Every crash-looping container, `namespace/pod/container`, in every namespace: waiting in
    /// CrashLoopBackOff, or restarted, not ready and last ended with a non-zero exit code (whose
    /// previous log the crash-log source reads).
    /// With each its restart count (its previous log changes only when that does).
    pub fn crash_looping(&self) -> Vec<(String, u32)> {
        self.pods.iter().flat_map(TopModel::looping).collect()
    }

    /// [`TopModel::crash_looping`] of one pod.
    pub fn looping(p: &PodRow) -> Vec<(String, u32)> {
        p.containers
            .iter()
            .filter(|c| {
                c.waiting_reason.as_deref() == Some("CrashLoopBackOff")
                    || (c.restarts > 0 && !c.ready && c.last_exit_code.is_some_and(|e| e != 0))
            })
            .map(|c| (format!("{}/{}/{}", p.namespace, p.name, c.name), c.restarts))
            .collect()
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
}
