//! `kube-root-ca.crt`: the CA bundle the controller-manager publishes into every namespace, which
//! every pod mounts to trust the API server. One row per namespace (equal bundles share one
//! [`CaBundle`]), and for each distinct bundle whether it trusts the certificate the API server
//! presents (the certificate probe's chain): the kube-ca evidence that needs no Secret.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Delta, Keyed, SourceState, Store};
use crate::certs::chain::{CaBundle, ServedChain, Trust};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RootCaRow {
    pub namespace: String,
    pub bundle: Arc<CaBundle>,
}

impl Keyed for RootCaRow {
    fn key(&self) -> String {
        self.namespace.clone()
    }
}

/// Namespaces holding one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleGroup {
    pub bundle: Arc<CaBundle>,
    pub namespaces: Vec<String>,
    /// Whether it trusts the API server's certificate (`None`: no chain to check against).
    pub trust: Option<Trust>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RootCaModel {
    pub state: SourceState,
    pub store: Store<RootCaRow>,
    /// Verdict of each distinct bundle (by digest) on `checked_leaf`.
    verdicts: BTreeMap<u64, Trust>,
    /// The served leaf the verdicts are for.
    checked_leaf: Option<Vec<u8>>,
}

impl RootCaModel {
    pub fn new(state: SourceState) -> Self {
        RootCaModel {
            state,
            store: Store::default(),
            verdicts: BTreeMap::new(),
            checked_leaf: None,
        }
    }

    /// Apply a watch delta; a verdict is computed for a bundle not seen before (one per distinct
    /// bundle, not per namespace).
    pub fn apply(
        &mut self,
        delta: Delta<RootCaRow>,
        served: Option<&ServedChain>,
        now: DateTime<Utc>,
    ) -> bool {
        let applied = match &delta {
            Delta::Apply(r) => Some(r.bundle.clone()),
            _ => None,
        };
        let full = matches!(delta, Delta::InitDone);
        let changed = self.store.apply(delta);
        if self.store.synced {
            self.state = SourceState::Ok { at: now };
        }
        let unseen = applied.is_some_and(|b| !self.verdicts.contains_key(&b.digest));
        if full || unseen {
            self.verify(served, now);
        }
        changed
    }

    /// Bring the verdicts up to date with the served chain (after the certificate probe answered).
    /// Returns true when a verdict changed.
    pub fn verify(&mut self, served: Option<&ServedChain>, now: DateTime<Utc>) -> bool {
        let Some(chain) = served.filter(|c| !c.proxied) else {
            let had = !self.verdicts.is_empty();
            self.verdicts.clear();
            self.checked_leaf = None;
            return had;
        };
        let mut changed = false;
        if self.checked_leaf.as_deref() != Some(chain.leaf.as_slice()) {
            changed = !self.verdicts.is_empty();
            self.verdicts.clear();
            self.checked_leaf = Some(chain.leaf.clone());
        }
        let secs = u64::try_from(now.timestamp()).unwrap_or(0);
        for row in self.store.iter() {
            if let std::collections::btree_map::Entry::Vacant(e) =
                self.verdicts.entry(row.bundle.digest)
            {
                e.insert(row.bundle.trusts(chain, secs));
                changed = true;
            }
        }
        changed
    }

    /// The distinct bundles, each with its namespaces (sorted) and verdict; the bundle most
    /// namespaces hold first.
    pub fn groups(&self) -> Vec<BundleGroup> {
        let mut by: BTreeMap<u64, BundleGroup> = BTreeMap::new();
        for row in self.store.iter() {
            by.entry(row.bundle.digest)
                .or_insert_with(|| BundleGroup {
                    bundle: row.bundle.clone(),
                    namespaces: Vec::new(),
                    trust: self.verdicts.get(&row.bundle.digest).cloned(),
                })
                .namespaces
                .push(row.namespace.clone());
        }
        let mut groups: Vec<BundleGroup> = by.into_values().collect();
        groups.sort_by(|a, b| {
            b.namespaces
                .len()
                .cmp(&a.namespaces.len())
                .then_with(|| a.namespaces.cmp(&b.namespaces))
        });
        groups
    }
}
