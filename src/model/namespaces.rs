//! Namespaces pane state: a watched list of namespaces with phase and finalizers.

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};

/// Only what the pane shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsRow {
    pub name: String,
    pub phase: String,
    pub created: Option<DateTime<Utc>>,
    pub deleting_since: Option<DateTime<Utc>>,
    /// `spec.finalizers` (e.g. `kubernetes`).
    pub spec_finalizers: Vec<String>,
    /// `metadata.finalizers` (e.g. `controller.cattle.io/namespace-auth`).
    pub meta_finalizers: Vec<String>,
}

impl Keyed for NsRow {
    fn key(&self) -> String {
        self.name.clone()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NamespacesModel {
    pub state: SourceState,
    pub store: Store<NsRow>,
}

impl NamespacesModel {
    pub fn new(state: SourceState) -> Self {
        NamespacesModel {
            state,
            store: Store::default(),
        }
    }

    pub fn apply(&mut self, delta: Delta<NsRow>, now: DateTime<Utc>) -> bool {
        let changed = self.store.apply(delta);
        if self.store.synced {
            self.state = SourceState::Ok { at: now };
        }
        changed
    }

    pub fn terminating(&self) -> impl Iterator<Item = &NsRow> {
        self.store.iter().filter(|n| n.phase == "Terminating")
    }
}
