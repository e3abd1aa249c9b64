//! Namespaces pane state: namespaces (full objects reduced to rows), APIServices (an unavailable one
//! blocks every namespace deletion) and what remains inside Terminating namespaces.

pub mod blockers;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Delta, Keyed, SourceId, SourceState, Store};

/// Only what the pane shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NsRow {
    pub name: String,
    pub phase: String,
    pub created: Option<DateTime<Utc>>,
    pub deleting_since: Option<DateTime<Utc>>,
    /// `spec.finalizers` (e.g. `kubernetes`).
    pub spec_finalizers: Vec<String>,
    /// `metadata.finalizers` (e.g. `controller.cattle.io/namespace-auth`).
    pub meta_finalizers: Vec<String>,
    /// Labels (webhook namespaceSelectors are evaluated against them).
    pub labels: BTreeMap<String, String>,
    /// `status.conditions` (the namespace controller's `Namespace…` conditions).
    pub conditions: Vec<Condition>,
    pub resource_version: String,
}

impl NsRow {
    pub fn terminating(&self) -> bool {
        self.phase == "Terminating" || self.deleting_since.is_some()
    }

    /// A condition of the given type whose status is `True`.
    pub fn condition_true(&self, type_: &str) -> Option<&Condition> {
        self.conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
    }

    /// Labels as a real server sets them (`kubernetes.io/metadata.name` is always present since 1.21).
    pub fn effective_labels(&self) -> BTreeMap<String, String> {
        let mut l = self.labels.clone();
        l.entry("kubernetes.io/metadata.name".into())
            .or_insert_with(|| self.name.clone());
        l
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl Keyed for NsRow {
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// An APIService (`apiregistration.k8s.io/v1`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApiServiceRow {
    pub name: String,
    pub group: String,
    pub version: String,
    /// `namespace/name` of the backing Service; `None` for a local (built-in) group.
    pub service: Option<String>,
    /// The `Available` condition: `Some(false)` is unavailable, `None` not reported yet.
    pub available: Option<bool>,
    pub reason: String,
    pub message: String,
}

impl Keyed for ApiServiceRow {
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// One resource kind remaining in a namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemainingKind {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
    pub count: usize,
    /// Objects that carry finalizers: (name, finalizers, resourceVersion).
    pub held: Vec<HeldObject>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HeldObject {
    pub name: String,
    pub finalizers: Vec<String>,
    pub resource_version: String,
}

/// What a content scan found inside one namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NsContent {
    pub namespace: String,
    pub scanned_at: Option<DateTime<Utc>>,
    pub kinds: Vec<RemainingKind>,
    /// API groups whose discovery or list failed (the scan went on without them).
    pub broken: Vec<String>,
}

impl Keyed for NsContent {
    fn key(&self) -> String {
        self.namespace.clone()
    }
}

/// Inputs of the Namespaces pane besides the namespace watch itself.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum NsMsg {
    ApiServices(Delta<ApiServiceRow>),
    Content(Delta<NsContent>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NamespacesModel {
    pub state: SourceState,
    pub store: Store<NsRow>,
    pub apiservices_state: SourceState,
    pub apiservices: Store<ApiServiceRow>,
    pub content_state: SourceState,
    pub content: Store<NsContent>,
    /// Objects deleted by ktriage in this session, by `kind/name`, with their saved manifest.
    pub backups: BTreeMap<String, Value>,
    /// The `/` filter of the table (display and selection only; rules read `store`).
    pub filter: super::filter::TableFilter,
}

impl NamespacesModel {
    pub fn new(state: SourceState) -> Self {
        NamespacesModel {
            apiservices_state: state.clone(),
            content_state: state.clone(),
            state,
            store: Store::default(),
            apiservices: Store::default(),
            content: Store::default(),
            backups: BTreeMap::new(),
            filter: Default::default(),
        }
    }

    pub fn apply(&mut self, delta: Delta<NsRow>, now: DateTime<Utc>) -> bool {
        let changed = self.store.apply(delta);
        if self.store.synced {
            self.state = SourceState::Ok { at: now };
        }
        changed
    }

    pub fn on_msg(&mut self, msg: NsMsg, now: DateTime<Utc>) -> bool {
        match msg {
            NsMsg::ApiServices(d) => {
                let c = self.apiservices.apply(d);
                if self.apiservices.synced {
                    self.apiservices_state = SourceState::Ok { at: now };
                }
                c
            }
            NsMsg::Content(d) => {
                let c = self.content.apply(d);
                if self.content.synced {
                    self.content_state = SourceState::Ok { at: now };
                }
                c
            }
        }
    }

    pub fn state_mut(&mut self, id: SourceId) -> Option<&mut SourceState> {
        match id {
            SourceId::Namespaces => Some(&mut self.state),
            SourceId::ApiServices => Some(&mut self.apiservices_state),
            SourceId::NsContent => Some(&mut self.content_state),
            _ => None,
        }
    }

    pub fn terminating(&self) -> impl Iterator<Item = &NsRow> {
        self.store.iter().filter(|n| n.terminating())
    }

    /// APIServices whose `Available` condition is `False`.
    pub fn unavailable(&self) -> impl Iterator<Item = &ApiServiceRow> {
        self.apiservices
            .iter()
            .filter(|a| a.available == Some(false))
    }

    /// The namespace at a row index (rows are in store order).
    pub fn at(&self, index: usize) -> Option<&NsRow> {
        self.shown().into_iter().nth(index)
    }

    /// The rows the table shows: every namespace through the `/` filter (name, phase).
    pub fn shown(&self) -> Vec<&NsRow> {
        self.store
            .iter()
            .filter(|n| self.filter.keeps(&[n.name.as_str(), n.phase.as_str()]))
            .collect()
    }
}
