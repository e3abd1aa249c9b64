//! The Top pane's rows: one per pod or per workload, sorted and filtered. The order of all of them
//! is a [`TopOrder`], a value the loop keeps beside the model and refreshes before it draws; a
//! frame builds only the rows on screen. Without an order for the current view (tests, the
//! report) the rows are ordered afresh.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{PodRow, TopModel, Workload, WorkloadRef};

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

/// What the ordered rows depend on: an order built for another key is out of date.
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

impl RowsKey {
    /// The same view (sort, grouping, filter, metrics or not): only the data moved.
    fn same_view(&self, other: &RowsKey) -> bool {
        (self.sort, self.grouped, &self.filter, self.metrics_ok)
            == (other.sort, other.grouped, &other.filter, other.metrics_ok)
    }
}

/// What a pod's row sorts by: the most first (usage, a share of a request or limit, restarts;
/// `None` last), or text in ascending order (node; owner; namespace and name).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortValue<'a> {
    Most(std::cmp::Reverse<Option<u64>>),
    Text(&'a str, &'a str, &'a str),
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

/// Pod changes are followed one pod at a time ([`TopModel::follow_order`]). When what orders every
/// row moved (new usage numbers, an owner, a re-list) but not the view (sort, grouping, filter), an
/// order that cost at least [`PACE_FROM`] to build is reused for `cost × ORDER_PACE` before it is
/// rebuilt: at 50,000 pods a rebuild (~15 ms) takes at most 1/9 of a core however often that
/// happens. The rows themselves are always read fresh; only their places wait (≤ ~120 ms, and the
/// clock's redraw every second catches up). Small tables are never paced.
const ORDER_PACE: u32 = 8;
const PACE_FROM: Duration = Duration::from_millis(2);

/// The Top pane's rows in display order, derived from a [`TopModel`]: owned by the loop beside the
/// model (not in it), refreshed before a frame ([`TopOrder::refresh`]) and after a key
/// ([`TopOrder::follow_view`]), read by the frame and the keys ([`TopModel::view_in`]). Neither
/// `Clone` nor `PartialEq`: it is no state.
#[derive(Debug, Default)]
pub struct TopOrder {
    built: Option<Built>,
}

/// One build of the order: for what, and (when the loop's clock measured it) when and at what cost.
#[derive(Debug)]
struct Built {
    key: RowsKey,
    rows: Ordered,
    paced: Option<(Instant, Duration)>,
}

impl TopOrder {
    /// Bring the order up to date with `top`, pacing rebuilds under data churn (see
    /// `ORDER_PACE`). `clock` is the loop's: the order reads no clock of its own.
    pub fn refresh(&mut self, top: &TopModel, clock: impl Fn() -> Instant) {
        let key = top.rows_key();
        if self.built.as_ref().is_some_and(|b| b.key == key) {
            return;
        }
        if let Some(b) = &mut self.built
            && b.key.same_view(&key)
            && (b.key.replicasets, b.key.metrics) == (key.replicasets, key.metrics)
            && let Ordered::Pods(keys) = &mut b.rows
            && let Some(changes) = top.pods.changed_since(b.key.pods)
        {
            // only pods changed: follow them, whatever the size of the table
            top.follow_order(keys, changes);
            b.key = key;
            return;
        }
        let now = clock();
        if let Some(b) = &self.built
            && b.key.same_view(&key)
            && b.paced.is_some_and(|(at, cost)| {
                cost >= PACE_FROM && now.saturating_duration_since(at) < cost * ORDER_PACE
            })
        {
            return;
        }
        let rows = top.build_ordered();
        let cost = clock().saturating_duration_since(now);
        self.built = Some(Built {
            key,
            rows,
            paced: Some((now, cost)),
        });
    }

    /// Order `top`'s rows now, without a clock (the next data change rebuilds unpaced).
    pub fn build(&mut self, top: &TopModel) {
        self.built = Some(Built {
            key: top.rows_key(),
            rows: top.build_ordered(),
            paced: None,
        });
    }

    /// After a key: when an order is kept and the view changed (sort, grouping, filter), rebuild it
    /// at once, so the keys and the next frame agree on the rows.
    pub fn follow_view(&mut self, top: &TopModel) {
        if self
            .built
            .as_ref()
            .is_some_and(|b| !b.key.same_view(&top.rows_key()))
        {
            self.build(top);
        }
    }

    /// The order, when it was built for `top`'s current view (its data may be paced).
    fn for_view(&self, top: &TopModel) -> Option<&Ordered> {
        let b = self.built.as_ref()?;
        b.key.same_view(&top.rows_key()).then_some(&b.rows)
    }
}

/// Grouped-row accumulator.
struct Group {
    row: TopRow,
    ready: usize,
}

impl TopModel {
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
            let mut kept = self.pod_filter();
            v.retain(|(_, p)| kept(p));
        }
        // sort keys computed once per row (`sort_by_cached_key` is stable: the rows come in key
        // order, so ties keep it: the order is by (sort value, key), what `follow_order` keeps)
        v.sort_by_cached_key(|(_, p)| self.sort_value(p));
        Ordered::Pods(v.into_iter().map(|(k, _)| k.clone()).collect())
    }

    /// What the `/` filter keeps, for one pod at a time (buffers reused between pods).
    fn pod_filter(&self) -> impl FnMut(&PodRow) -> bool + '_ {
        let m = self.filter.matcher();
        let (mut name, mut owner) = (String::new(), String::new());
        move |p: &PodRow| {
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
        }
    }

    /// What a pod's row is ordered by in the current sort (ties by key).
    fn sort_value<'a>(&'a self, p: &'a PodRow) -> SortValue<'a> {
        let has_metrics = self.metrics_state.is_ok();
        let mem = || self.usage(p).map(|u| u.mem_b).or(has_metrics.then_some(0));
        let pct = |of: Option<u64>| match (mem(), of) {
            (Some(u), Some(d)) if d > 0 => Some(u * 100 / d),
            _ => None,
        };
        let most = |v: Option<u64>| SortValue::Most(std::cmp::Reverse(v));
        match self.sort {
            TopSort::Memory => most(mem()),
            TopSort::Cpu => most(self.usage(p).map(|u| u.cpu_m).or(has_metrics.then_some(0))),
            TopSort::MemOfRequest => most(pct(p.req_mem())),
            TopSort::MemOfLimit => most(pct(p.lim_mem())),
            TopSort::Restarts => most(Some(u64::from(p.restarts()))),
            TopSort::Node => SortValue::Text(&p.node, "", ""),
            TopSort::Owner => {
                let w = self.workload_ref(p);
                SortValue::Text(w.namespace, w.kind, w.name)
            }
            TopSort::Name => SortValue::Text(&p.namespace, &p.name, ""),
        }
    }

    /// Follow the pods changed (`changes`, from the pods store) in an order of pod keys built for
    /// the current view and usage numbers: the changed pods leave it and, as they are now, go back
    /// in at their places. At 50,000 pods this costs a pass over the keys, not a sort of the rows.
    fn follow_order(&self, keys: &mut Vec<Arc<str>>, changes: &[(Arc<str>, Option<PodRow>)]) {
        if changes.is_empty() {
            return;
        }
        type Ptrs = std::collections::HashSet<usize, foldhash::fast::RandomState>;
        // the store keeps a key while its row is replaced, and logs the one it drops: the keys
        // of the changed rows are the very keys the order holds
        let ptr = |k: &Arc<str>| Arc::as_ptr(k).cast::<u8>() as usize;
        let gone: Ptrs = changes.iter().map(|(k, _)| ptr(k)).collect();
        keys.retain(|k| !gone.contains(&ptr(k)));
        let mut kept = self.filter.is_active().then(|| self.pod_filter());
        let mut seen = std::collections::BTreeSet::new();
        let back: Vec<(&Arc<str>, &PodRow)> = changes
            .iter()
            .filter(|(k, _)| seen.insert(&**k))
            .filter_map(|(k, _)| self.pods.get_shared(k))
            .filter(|(_, p)| !p.evicted() && kept.as_mut().is_none_or(|f| f(p)))
            .collect();
        // each pod's place: its sort value (made once) and its key
        let mut back: Vec<_> = back
            .into_iter()
            .map(|(k, p)| (self.sort_value(p), k))
            .collect();
        back.sort();
        let mut at = Vec::with_capacity(back.len());
        let mut from = 0;
        for place in &back {
            from += keys[from..].partition_point(|o| {
                self.pods
                    .get_shared(o)
                    .is_some_and(|(o, p)| (&self.sort_value(p), o) < (&place.0, place.1))
            });
            at.push(from);
        }
        // the kept keys move into the new order (no reference count touched for them)
        let mut out = Vec::with_capacity(keys.len() + back.len());
        let mut kept = keys.drain(..);
        let mut taken = 0;
        for ((_, k), at) in back.iter().zip(at) {
            out.extend(kept.by_ref().take(at - taken));
            taken = at;
            out.push(Arc::clone(k));
        }
        out.extend(kept);
        *keys = out;
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
    /// left out), ordered afresh. A frame asks for [`TopModel::view_in`] instead.
    pub fn rows(&self) -> Vec<TopRow> {
        self.rows_window(0, usize::MAX)
    }

    /// Every row in display order, ordered afresh and made a few hundred at a time (a report of
    /// 50,000 pods never holds them all).
    pub fn rows_iter(&self) -> impl Iterator<Item = TopRow> + '_ {
        const CHUNK: usize = 256;
        let order = self.build_ordered();
        let mut offset = 0;
        let mut made = Vec::new().into_iter();
        std::iter::from_fn(move || {
            loop {
                if let Some(r) = made.next() {
                    return Some(r);
                }
                if offset >= order.len() {
                    return None;
                }
                made = self.window(&order, offset, CHUNK).1.into_iter();
                offset += CHUNK;
            }
        })
    }

    /// The rows `offset .. offset + n` in display order, ordered afresh.
    pub fn rows_window(&self, offset: usize, n: usize) -> Vec<TopRow> {
        self.view(offset, n).1
    }

    /// The number of rows, and the rows `offset .. offset + n`, ordered afresh.
    pub fn view(&self, offset: usize, n: usize) -> (usize, Vec<TopRow>) {
        self.window(&self.build_ordered(), offset, n)
    }

    /// What one frame shows: the number of rows, and the rows `offset .. offset + n`, from `order`
    /// when it is for this view (only these rows are built), else ordered afresh.
    pub fn view_in(&self, order: &TopOrder, offset: usize, n: usize) -> (usize, Vec<TopRow>) {
        match order.for_view(self) {
            Some(o) => self.window(o, offset, n),
            None => self.view(offset, n),
        }
    }

    fn window(&self, order: &Ordered, offset: usize, n: usize) -> (usize, Vec<TopRow>) {
        let rows = match order {
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

    /// The row at `index` in display order, ordered afresh.
    pub fn row(&self, index: usize) -> Option<TopRow> {
        self.rows_window(index, 1).into_iter().next()
    }

    /// The row at `index` of `order` (what the screen shows), or ordered afresh.
    pub fn row_in(&self, order: &TopOrder, index: usize) -> Option<TopRow> {
        self.view_in(order, index, 1).1.into_iter().next()
    }

    /// The number of rows.
    pub fn row_count(&self) -> usize {
        if !self.grouped && !self.filter.is_active() {
            // no need to order the rows to count them
            return self.pods.iter().filter(|p| !p.evicted()).count();
        }
        self.build_ordered().len()
    }

    /// The number of rows, from `order` when it is for this view.
    pub fn count_in(&self, order: &TopOrder) -> usize {
        order
            .for_view(self)
            .map_or_else(|| self.row_count(), Ordered::len)
    }
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}
