//! A keyed store fed by watch deltas. `Init … InitDone` is an atomic replace.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// Rows a store keeps: small structs with only the fields a pane shows.
pub trait Keyed {
    /// `namespace/name`, or `name` for cluster-scoped objects.
    fn key(&self) -> String;
}

/// What a watch source sends, already reduced to pane rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Delta<T> {
    /// A (re-)list starts: buffer until `InitDone`.
    Init,
    InitApply(T),
    InitDone,
    Apply(T),
    Delete(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Store<T> {
    items: BTreeMap<String, T>,
    pending: Option<BTreeMap<String, T>>,
    /// True once a first full list has been applied.
    pub synced: bool,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            items: BTreeMap::new(),
            pending: None,
            synced: false,
        }
    }
}

impl<T: Keyed> Store<T> {
    /// Apply a delta; returns true when the visible content changed.
    pub fn apply(&mut self, delta: Delta<T>) -> bool {
        match delta {
            Delta::Init => {
                self.pending = Some(BTreeMap::new());
                false
            }
            Delta::InitApply(t) => {
                // An InitApply without Init (should not happen) is applied directly.
                match self.pending.as_mut() {
                    Some(p) => {
                        p.insert(t.key(), t);
                        false
                    }
                    None => {
                        self.items.insert(t.key(), t);
                        true
                    }
                }
            }
            Delta::InitDone => {
                if let Some(p) = self.pending.take() {
                    self.items = p;
                }
                self.synced = true;
                true
            }
            Delta::Apply(t) => {
                self.items.insert(t.key(), t);
                true
            }
            Delta::Delete(k) => self.items.remove(&k).is_some(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.values()
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        self.items.get(key)
    }
}

/// Human age like kubectl: `45s`, `12m`, `3h`, `2d`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds().max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct R(&'static str, u32);
    impl Keyed for R {
        fn key(&self) -> String {
            self.0.to_string()
        }
    }

    #[test]
    fn relist_is_an_atomic_replace() {
        let mut s = Store::default();
        s.apply(Delta::Init);
        s.apply(Delta::InitApply(R("a", 1)));
        s.apply(Delta::InitApply(R("b", 1)));
        assert!(s.is_empty(), "nothing visible before InitDone");
        assert!(s.apply(Delta::InitDone));
        assert_eq!(s.len(), 2);
        // a re-list after a 410: the old rows stay visible until the new list is complete
        s.apply(Delta::Init);
        s.apply(Delta::InitApply(R("b", 2)));
        assert_eq!(s.len(), 2);
        s.apply(Delta::InitDone);
        assert_eq!(s.iter().cloned().collect::<Vec<_>>(), vec![R("b", 2)]);
        assert!(s.apply(Delta::Delete("b".into())));
        assert!(!s.apply(Delta::Delete("b".into())));
    }

    #[test]
    fn ages_like_kubectl() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let ago = |s| now - chrono::Duration::seconds(s);
        assert_eq!(age(now, ago(5)), "5s");
        assert_eq!(age(now, ago(600)), "10m");
        assert_eq!(age(now, ago(3 * 3600)), "3h");
        assert_eq!(age(now, ago(3 * 86400)), "3d");
        assert_eq!(age(now, now + chrono::Duration::seconds(5)), "0s");
    }
}
