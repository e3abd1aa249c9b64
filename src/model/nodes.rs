//! Nodes, shared by Leaders (is the holder's node Ready?), Events (pressure, flapping) and Top
//! (allocatable for overcommit): only conditions, allocatable and Ready transitions.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    /// `Ready` condition: `Some(true)` Ready, `Some(false)` NotReady/Unknown, `None` not reported.
    pub ready: Option<bool>,
    /// Conditions other than Ready whose status is True: `MemoryPressure`, `DiskPressure`, `PIDPressure`.
    pub pressure: Vec<String>,
    /// When each pressure condition became True (from `lastTransitionTime`).
    pub pressure_since: Vec<(String, Option<DateTime<Utc>>)>,
    /// `lastTransitionTime` of the Ready condition.
    pub ready_since: Option<DateTime<Utc>>,
    pub alloc_cpu_m: Option<u64>,
    pub alloc_mem_b: Option<u64>,
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
}
