//! The per-pod rules (Top's `pod-no-limits`, `pod-near-limit`, `node-overcommitted`; pod health's
//! `pod-crashloop`, `pod-pending`; the evicted pods the Events rules count; the pods whose last
//! words name a CA) kept as running totals of each pod's part. A pod change takes the part of the
//! row it replaced out (the pods store lists the rows its changes replaced) and the new row's in:
//! at 50,000 pods a change costs what one pod costs, not a pass over all of them. What every part
//! depends on (the ReplicaSets' owners, the usage numbers, the tuning), when it changes, and a
//! pods store that no longer knows what changed (a re-list), rebuild from every pod.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::pod_health::{self, CrashGroup, CrashPod};
use super::{Finding, cluster, top};
use crate::model::Model;
use crate::model::top::{PodRow, Workload, WorkloadRef};
use crate::tuning::TopTuning;

type Hashed<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What every pod's part was computed against: when one of these moved, parts taken out would not
/// be the parts that went in, so the index is rebuilt. (New usage numbers are not among them: they
/// move only the memory totals and `pod-near-limit`, made again by a pass that allocates nothing,
/// see [`PodIndex::usage_moved`].)
#[derive(Debug, Clone, PartialEq)]
struct Basis {
    replicasets: u64,
    metrics_ok: bool,
    tuning: TopTuning,
}

impl Basis {
    fn of(model: &Model) -> Basis {
        let (_, replicasets, _, metrics_ok) = model.top.data_rev();
        Basis {
            replicasets,
            metrics_ok,
            tuning: model.tuning.top,
        }
    }
}

/// The usage numbers' revision (a metrics poll).
fn metrics_rev(model: &Model) -> u64 {
    model.top.data_rev().2
}

/// A workload's `pod-no-limits` total: its pods, their memory, and its first pod by name (`None`:
/// that pod left, found again when the workload is reported).
#[derive(Debug, Default)]
struct NoLimits {
    pods: usize,
    mem: u64,
    first: Option<Arc<str>>,
}

/// A workload, owned or borrowed from the rows: the `pod-no-limits` totals, keyed by owned
/// workloads, are looked up with a borrowed one (a lookup per pod allocates nothing).
trait AsWorkload {
    fn parts(&self) -> WorkloadRef<'_>;
}

impl AsWorkload for Workload {
    fn parts(&self) -> WorkloadRef<'_> {
        self.as_ref()
    }
}

impl AsWorkload for WorkloadRef<'_> {
    fn parts(&self) -> WorkloadRef<'_> {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn AsWorkload + 'a> for Workload {
    fn borrow(&self) -> &(dyn AsWorkload + 'a) {
        self
    }
}

/// Hashes as `Workload` does (its fields in order; a `String` hashes as its `str`).
impl std::hash::Hash for dyn AsWorkload + '_ {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.parts().hash(h);
    }
}

impl PartialEq for dyn AsWorkload + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn AsWorkload + '_ {}

/// The per-pod pass, kept up to date with the pods store (see the module's documentation).
#[derive(Debug)]
pub(super) struct PodIndex {
    basis: Basis,
    /// The pods store's revision the parts are of.
    pods_rev: u64,
    /// The usage numbers' revision the memory totals and `pod-near-limit` are of.
    metrics: u64,
    /// The nodes store's revision the `node-overcommitted` findings are of.
    nodes_rev: u64,
    no_limits: Hashed<Workload, NoLimits>,
    /// The ranked workloads may have changed since the ranked findings were made.
    no_limits_moved: bool,
    /// The workloads ranked last, with their totals: a change to another workload that does not
    /// beat the last of them leaves the ranking as it is.
    ranked_of: Vec<(Workload, usize, u64)>,
    /// Running pods per node: (pods, memory limits, memory requests).
    per_node: Hashed<String, (usize, u64, u64)>,
    /// Nodes whose totals moved since their findings were made.
    nodes_moved: BTreeSet<String>,
    crash: BTreeMap<CrashGroup, BTreeMap<Arc<str>, CrashPod>>,
    crash_moved: BTreeSet<CrashGroup>,
    near: BTreeMap<Arc<str>, Finding>,
    pending: BTreeMap<Arc<str>, Finding>,
    evicted: BTreeMap<String, usize>,
    failing: BTreeSet<String>,
    /// The findings, kept by what they are about.
    ranked: Vec<Finding>,
    overcommitted: BTreeMap<String, Finding>,
    crashloop: BTreeMap<CrashGroup, Finding>,
}

impl PodIndex {
    /// The index of every pod in `model`.
    pub(super) fn build(model: &Model) -> PodIndex {
        let mut ix = PodIndex {
            basis: Basis::of(model),
            pods_rev: model.top.pods.rev(),
            metrics: metrics_rev(model),
            nodes_rev: model.nodes.store.rev(),
            no_limits: Hashed::default(),
            no_limits_moved: true,
            ranked_of: Vec::new(),
            per_node: Hashed::default(),
            nodes_moved: BTreeSet::new(),
            crash: BTreeMap::new(),
            crash_moved: BTreeSet::new(),
            near: BTreeMap::new(),
            pending: BTreeMap::new(),
            evicted: BTreeMap::new(),
            failing: BTreeSet::new(),
            ranked: Vec::new(),
            overcommitted: BTreeMap::new(),
            crashloop: BTreeMap::new(),
        };
        for (key, p) in model.top.pods.shared_entries() {
            ix.add(model, key, p);
        }
        ix.refresh(model);
        ix
    }

    /// Brought up to date with `model`: by the pods that changed when that is known and nothing
    /// every part depends on moved, else rebuilt.
    pub(super) fn follow(self, model: &Model) -> PodIndex {
        let rev = model.top.pods.rev();
        let changes = match model.top.pods.changed_since(self.pods_rev) {
            Some(c) if self.basis == Basis::of(model) => c,
            _ => return PodIndex::build(model),
        };
        let mut ix = self;
        // each pod's first change holds its row as the index knows it
        let mut seen: BTreeSet<&Arc<str>> = BTreeSet::new();
        for (key, old) in changes {
            if !seen.insert(key) {
                continue;
            }
            if let Some(old) = old {
                ix.remove(model, key, old);
            }
            if let Some(new) = model.top.pods.get(key) {
                ix.add(model, key, new);
            }
        }
        ix.pods_rev = rev;
        if ix.metrics != metrics_rev(model) {
            ix.usage_moved(model);
        }
        if ix.nodes_rev != model.nodes.store.rev() {
            // an allocatable may have moved: every node's finding is made again
            ix.nodes_moved = ix.per_node.keys().cloned().collect();
            ix.overcommitted.clear();
            ix.nodes_rev = model.nodes.store.rev();
        }
        ix.refresh(model);
        ix
    }

    /// Add one pod's part.
    fn add(&mut self, model: &Model, key: &Arc<str>, p: &PodRow) {
        let top = &model.top;
        let t = self.basis.tuning;
        if let Some(mem) = top::no_limits_mem(top, p) {
            let w = top.workload_ref(p);
            // looked up by reference first: a workload's names are allocated once, not per pod
            let e = match self.no_limits.get_mut(&w as &dyn AsWorkload) {
                Some(e) => e,
                None => self.no_limits.entry(w.to_owned()).or_default(),
            };
            e.first = match e.first.take() {
                Some(f) if *f < **key => Some(f),
                None if e.pods > 0 => None, // not known: found when reported
                _ => Some(key.clone()),
            };
            e.pods += 1;
            e.mem += mem;
            let now = (e.pods, e.mem);
            self.touch_rank(w, Some(now));
        }
        if let Some((node, lim, req)) = top::node_part(p) {
            // looked up before inserting: a node's name is allocated once, not once per pod
            let e = match self.per_node.get_mut(node) {
                Some(e) => e,
                None => self.per_node.entry(node.to_string()).or_default(),
            };
            e.0 += 1;
            e.1 += lim;
            e.2 += req;
            if !self.nodes_moved.contains(node) {
                self.nodes_moved.insert(node.to_string());
            }
        }
        if let Some((group, part)) = pod_health::crash_part(top, p) {
            self.crash
                .entry(group.clone())
                .or_default()
                .insert(key.clone(), part);
            self.crash_moved.insert(group);
        }
        if let Some(f) = top::near_limit(top, t, p) {
            self.near.insert(key.clone(), f);
        }
        if let Some(f) = pod_health::pending(p) {
            self.pending.insert(key.clone(), f);
        }
        if p.evicted() {
            *self.evicted.entry(p.namespace.clone()).or_default() += 1;
        }
        if cluster::says_ca_at_termination(p) {
            self.failing.insert(key.to_string());
        }
    }

    /// Take out the part `p` (the row the index knew) added.
    fn remove(&mut self, model: &Model, key: &Arc<str>, p: &PodRow) {
        let top = &model.top;
        if let Some(mem) = top::no_limits_mem(top, p) {
            let w = top.workload_ref(p);
            let w = &w as &dyn AsWorkload;
            if let Some(e) = self.no_limits.get_mut(w) {
                e.pods -= 1;
                // new usage numbers since it was added are made right by `usage_moved`
                e.mem = e.mem.saturating_sub(mem);
                if e.pods == 0 {
                    self.no_limits.remove(w);
                } else if e.first.as_deref() == Some(&**key) {
                    e.first = None;
                }
            }
            self.touch_rank(w.parts(), None);
        }
        if let Some((node, lim, req)) = top::node_part(p) {
            if let Some(e) = self.per_node.get_mut(node) {
                e.0 -= 1;
                e.1 -= lim;
                e.2 -= req;
                if e.0 == 0 {
                    self.per_node.remove(node);
                }
            }
            if !self.nodes_moved.contains(node) {
                self.nodes_moved.insert(node.to_string());
            }
        }
        if let Some((group, _)) = pod_health::crash_part(top, p) {
            if let Some(g) = self.crash.get_mut(&group) {
                g.remove(key);
                if g.is_empty() {
                    self.crash.remove(&group);
                }
            }
            self.crash_moved.insert(group);
        }
        self.near.remove(key);
        self.pending.remove(key);
        if p.evicted()
            && let Some(n) = self.evicted.get_mut(p.namespace.as_str())
        {
            *n -= 1;
            if *n == 0 {
                self.evicted.remove(p.namespace.as_str());
            }
        }
        self.failing.remove(&**key);
    }

    /// A workload's `pod-no-limits` totals moved (`now`; `None`: they went down or it left):
    /// the ranking is made again when it was ranked or now beats the last ranked.
    fn touch_rank(&mut self, w: WorkloadRef<'_>, now: Option<(usize, u64)>) {
        if self.no_limits_moved {
            return;
        }
        let ranked = self.ranked_of.iter().any(|(r, _, _)| r.as_ref() == w);
        let beats = now.is_some_and(|(pods, mem)| {
            self.ranked_of.len() < top::NO_LIMITS_MAX
                || self.ranked_of.last().is_none_or(|(l, lp, lm)| {
                    top::no_limits_order((w, pods, mem), (l.as_ref(), *lp, *lm)).is_lt()
                })
        });
        self.no_limits_moved = ranked || beats;
    }

    /// New usage numbers: the memory totals and `pod-near-limit` made again from every pod (a
    /// pass that allocates nothing; the rest of each pod's part does not read usage).
    fn usage_moved(&mut self, model: &Model) {
        let top = &model.top;
        for e in self.no_limits.values_mut() {
            e.mem = 0;
        }
        self.near.clear();
        for (key, p) in top.pods.shared_entries() {
            if let Some(mem) = top::no_limits_mem(top, p)
                && let Some(e) = self
                    .no_limits
                    .get_mut(&top.workload_ref(p) as &dyn AsWorkload)
            {
                e.mem += mem;
            }
            if let Some(f) = top::near_limit(top, self.basis.tuning, p) {
                self.near.insert(key.clone(), f);
            }
        }
        self.no_limits_moved = true;
        self.metrics = metrics_rev(model);
    }

    /// Make again the findings whose totals moved.
    fn refresh(&mut self, model: &Model) {
        if std::mem::take(&mut self.no_limits_moved) {
            self.rank_no_limits(model);
        }
        for node in std::mem::take(&mut self.nodes_moved) {
            match self
                .per_node
                .get(&node)
                .and_then(|&(_, lim, req)| top::overcommitted(model, &node, (lim, req)))
            {
                Some(f) => self.overcommitted.insert(node, f),
                None => self.overcommitted.remove(&node),
            };
        }
        for group in std::mem::take(&mut self.crash_moved) {
            match self
                .crash
                .get(&group)
                .and_then(|pods| pod_health::crashloop(&group, pods.values()))
            {
                Some(f) => self.crashloop.insert(group, f),
                None => self.crashloop.remove(&group),
            };
        }
    }

    /// `pod-no-limits` for the worst consumers (a partial selection: at 50,000 workloads without
    /// limits, sorting them all was most of the cost).
    fn rank_no_limits(&mut self, model: &Model) {
        let order = |a: &(&Workload, &NoLimits), b: &(&Workload, &NoLimits)| {
            top::no_limits_order(
                (a.0.as_ref(), a.1.pods, a.1.mem),
                (b.0.as_ref(), b.1.pods, b.1.mem),
            )
        };
        let mut all: Vec<(&Workload, &NoLimits)> = self.no_limits.iter().collect();
        if all.len() > top::NO_LIMITS_MAX {
            all.select_nth_unstable_by(top::NO_LIMITS_MAX - 1, order);
            all.truncate(top::NO_LIMITS_MAX);
        }
        all.sort_by(order);
        self.ranked_of = all
            .iter()
            .map(|(w, e)| ((*w).clone(), e.pods, e.mem))
            .collect();
        let worst: Vec<Workload> = all.into_iter().map(|(w, _)| w.clone()).collect();
        self.ranked.clear();
        for (rank, w) in worst.into_iter().enumerate() {
            let first = self.first_pod(model, &w);
            let Some(e) = self.no_limits.get(&w) else {
                continue;
            };
            let first_row = first.as_deref().and_then(|k| model.top.pods.get(k));
            self.ranked.push(top::no_limits(
                &model.top,
                rank + 1,
                &w,
                (e.pods, e.mem),
                first_row,
            ));
        }
    }

    /// A workload's first pod by name, found again among its namespace's pods when it left.
    fn first_pod(&mut self, model: &Model, w: &Workload) -> Option<Arc<str>> {
        let e = self.no_limits.get_mut(w)?;
        if e.first.is_none() {
            let prefix = format!("{}/", w.namespace);
            let top = &model.top;
            e.first = top
                .pods
                .entries_with_prefix(&prefix)
                .find(|(_, p)| top::no_limits_mem(top, p).is_some() && top.workload(p) == *w)
                .map(|(k, _)| k.clone());
        }
        e.first.clone()
    }

    /// The findings, in the order the rules made them (Top's, then pod health's).
    pub(super) fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.ranked
            .iter()
            .chain(self.near.values())
            .chain(self.overcommitted.values())
            .chain(self.crashloop.values())
            .chain(self.pending.values())
    }

    /// Evicted pods per namespace.
    pub(super) fn evicted(&self) -> &BTreeMap<String, usize> {
        &self.evicted
    }

    /// Pods (`namespace/name`) with a failing container whose termination message says CA.
    pub(super) fn failing(&self) -> impl Iterator<Item = &str> {
        self.failing.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workload_is_found_by_reference() {
        let mut m: Hashed<Workload, usize> = Hashed::default();
        let w = Workload {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
        };
        m.insert(w.clone(), 1);
        let r = WorkloadRef {
            kind: "Deployment",
            namespace: "shop",
            name: "web",
        };
        assert_eq!(m.get(&r as &dyn AsWorkload), Some(&1));
        let other = WorkloadRef { name: "api", ..r };
        assert_eq!(m.get(&other as &dyn AsWorkload), None);
        assert_eq!(m.remove(&r as &dyn AsWorkload), Some(1));
        assert!(m.is_empty());
    }
}
