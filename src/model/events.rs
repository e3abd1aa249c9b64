//! Events pane state: a bounded ring of events (the newest `cap` by last seen), aggregated by
//! (reason, involved kind, namespace, node) with counts, first/last seen and rate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};

/// Reasons that mean a pod was pushed off its node.
pub const EVICTION_REASONS: &[&str] = &["Evicted", "Evicting", "Preempted", "TaintManagerEviction"];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventRow {
    /// `namespace/name` of the Event object.
    pub id: String,
    pub namespace: String,
    pub reason: String,
    pub warning: bool,
    pub kind: String,
    /// The involved object's name.
    pub object: String,
    /// Node: the reporting kubelet's host, or the object itself when it is a Node.
    pub node: String,
    pub message: String,
    pub count: u32,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
}

impl Keyed for EventRow {
    fn key(&self) -> String {
        self.id.clone()
    }
}

impl EventRow {
    pub fn is_eviction(&self) -> bool {
        EVICTION_REASONS.contains(&self.reason.as_str())
    }
}

/// One aggregated line of the pane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    pub reason: String,
    pub kind: String,
    pub namespace: String,
    pub node: String,
    pub warning: bool,
    pub count: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub message: String,
}

impl EventGroup {
    /// Events per minute between first and last seen (at least one minute).
    pub fn rate_per_min(&self) -> f64 {
        let span = match (self.first, self.last) {
            (Some(f), Some(l)) => (l - f).num_seconds().max(60),
            _ => 60,
        };
        self.count as f64 * 60.0 / span as f64
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EventSort {
    /// Most recent first.
    #[default]
    Last,
    Count,
    Reason,
}

impl EventSort {
    pub fn next(self) -> EventSort {
        match self {
            EventSort::Last => EventSort::Count,
            EventSort::Count => EventSort::Reason,
            EventSort::Reason => EventSort::Last,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            EventSort::Last => "last seen",
            EventSort::Count => "count",
            EventSort::Reason => "reason",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventsModel {
    pub state: SourceState,
    pub store: Store<EventRow>,
    /// Ring size: beyond it the oldest events (by last seen) are dropped.
    pub cap: usize,
    pub warnings_only: bool,
    pub sort: EventSort,
    /// `events.k8s.io/v1` or `v1` (core), once the source knows.
    pub api: Option<String>,
    /// Filter terms (all must match): `ns:NAME`, `reason:NAME`, or free text matched against reason,
    /// kind, namespace, node and message (case-insensitive).
    pub filter: String,
    /// The filter line has the keyboard.
    pub editing: bool,
}

impl EventsModel {
    pub fn new(state: SourceState, cap: usize) -> Self {
        EventsModel {
            state,
            store: Store::default().marking(EventRow::is_eviction),
            cap: cap.max(1),
            warnings_only: true,
            sort: EventSort::default(),
            api: None,
            filter: String::new(),
            editing: false,
        }
    }

    pub fn apply(&mut self, delta: Delta<EventRow>, now: DateTime<Utc>) -> bool {
        let changed = self.store.apply(delta);
        if self.store.synced {
            self.state = SourceState::Ok { at: now };
            // trim in batches so a stream at the cap does not sort on every event
            if self.store.len() > self.cap + self.cap / 10 {
                let mut by_age: Vec<(Option<DateTime<Utc>>, String)> =
                    self.store.iter().map(|e| (e.last, e.id.clone())).collect();
                by_age.sort();
                let drop = self.store.len() - self.cap;
                for (_, id) in by_age.into_iter().take(drop) {
                    self.store.apply(Delta::Delete(id));
                }
            }
        }
        changed
    }

    /// Aggregated groups after the filters, in the chosen order.
    pub fn groups(&self) -> Vec<EventGroup> {
        let mut map: BTreeMap<(String, String, String, String), EventGroup> = BTreeMap::new();
        let terms: Vec<String> = self
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        for e in self.store.iter() {
            if self.warnings_only && !e.warning {
                continue;
            }
            if !terms.iter().all(|t| matches(e, t)) {
                continue;
            }
            let g = map
                .entry((
                    e.reason.clone(),
                    e.kind.clone(),
                    e.namespace.clone(),
                    e.node.clone(),
                ))
                .or_insert_with(|| EventGroup {
                    reason: e.reason.clone(),
                    kind: e.kind.clone(),
                    namespace: e.namespace.clone(),
                    node: e.node.clone(),
                    warning: e.warning,
                    count: 0,
                    first: e.first,
                    last: e.last,
                    message: e.message.clone(),
                });
            g.count += u64::from(e.count.max(1));
            g.first = min_opt(g.first, e.first);
            if e.last >= g.last {
                g.last = e.last;
                g.message.clone_from(&e.message);
            }
        }
        let mut v: Vec<EventGroup> = map.into_values().collect();
        match self.sort {
            EventSort::Last => v.sort_by_key(|b| std::cmp::Reverse(b.last)),
            EventSort::Count => v.sort_by_key(|b| std::cmp::Reverse(b.count)),
            EventSort::Reason => v.sort_by(|a, b| a.reason.cmp(&b.reason)),
        }
        v
    }

    /// How many groups `groups()` yields, without building them (for selection bounds).
    pub fn group_count(&self) -> usize {
        let terms: Vec<String> = self
            .filter
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let mut seen = std::collections::HashSet::new();
        for e in self.store.iter() {
            if (self.warnings_only && !e.warning) || !terms.iter().all(|t| matches(e, t)) {
                continue;
            }
            seen.insert((
                e.reason.as_str(),
                e.kind.as_str(),
                e.namespace.as_str(),
                e.node.as_str(),
            ));
        }
        seen.len()
    }

    /// Eviction events whose last sighting is within `window_s` of `now`.
    pub fn recent_evictions(
        &self,
        now: DateTime<Utc>,
        window_s: i64,
    ) -> impl Iterator<Item = &EventRow> {
        // the store keeps which Events are evictions: no pass over every Event
        self.store
            .marked()
            .filter(move |e| e.last.is_some_and(|t| (now - t).num_seconds() <= window_s))
    }
}

/// One filter term against one event.
fn matches(e: &EventRow, term: &str) -> bool {
    if let Some(ns) = term.strip_prefix("ns:") {
        return e.namespace.to_lowercase() == ns;
    }
    if let Some(r) = term.strip_prefix("reason:") {
        return e.reason.to_lowercase() == r;
    }
    [
        &e.reason,
        &e.kind,
        &e.namespace,
        &e.node,
        &e.message,
        &e.object,
    ]
    .iter()
    .any(|f| f.to_lowercase().contains(term))
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An action another ktriage console recorded as a `KtriageAction` Event
/// (`<what> by <who> (ktriage action <id>)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherAction {
    pub who: String,
    pub what: String,
    pub id: String,
    pub kind: String,
    /// The Event's namespace: the object's, or `default` for a cluster-scoped object.
    pub namespace: String,
    pub object: String,
    pub at: Option<DateTime<Utc>>,
}

impl OtherAction {
    /// Read from a `KtriageAction` Event; `None` for any other Event.
    pub fn of(e: &EventRow) -> Option<OtherAction> {
        if e.reason != "KtriageAction" {
            return None;
        }
        let (head, id) = e.message.rsplit_once(" (ktriage action ")?;
        let id = id.strip_suffix(')')?;
        let (what, who) = head
            .rsplit_once(" by ")
            .unwrap_or((head, "another ktriage user"));
        Some(OtherAction {
            who: who.to_string(),
            what: what.to_string(),
            id: id.to_string(),
            kind: e.kind.clone(),
            namespace: e.namespace.clone(),
            object: e.object.clone(),
            at: e.last.or(e.first),
        })
    }

    /// Whether it is about this object (cluster-scoped objects' Events live in `default`).
    pub fn about(&self, o: &crate::mutation::ObjectRef) -> bool {
        self.kind == o.kind
            && self.object == o.name
            && self.namespace == o.namespace.as_deref().unwrap_or("default")
    }
}

impl EventsModel {
    /// `KtriageAction`s other consoles took within `within_s` seconds before `now`, newest first:
    /// not this session's own (`own` ids, `acting`: objects of its actions still running).
    pub fn others_actions(
        &self,
        own: &std::collections::BTreeSet<String>,
        acting: &[crate::mutation::ObjectRef],
        now: DateTime<Utc>,
        within_s: i64,
    ) -> Vec<OtherAction> {
        let mut v: Vec<OtherAction> = self
            .store
            .iter()
            .filter_map(OtherAction::of)
            .filter(|a| !own.contains(&a.id) && !acting.iter().any(|o| a.about(o)))
            .filter(|a| a.at.is_some_and(|t| (now - t).num_seconds() <= within_s))
            .collect();
        v.sort_by_key(|a| std::cmp::Reverse(a.at));
        v
    }
}
