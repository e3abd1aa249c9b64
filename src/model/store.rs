//! A keyed store fed by watch deltas. `Init … InitDone` is an atomic replace.

use std::collections::BTreeMap;
use std::sync::Arc;

/// Rows a store keeps: small structs with only the fields a pane shows.
pub trait Keyed {
    /// `namespace/name`, or `name` for cluster-scoped objects.
    fn key(&self) -> String;
}

/// What a watch source sends, already reduced to pane rows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Delta<T> {
    /// A (re-)list starts: buffer until `InitDone`.
    Init,
    InitApply(T),
    InitDone,
    Apply(T),
    Delete(String),
}

#[derive(Debug, Clone)]
pub struct Store<T> {
    /// Keys are shared (`Arc<str>`): a cached order of 50,000 rows clones keys by reference count.
    items: BTreeMap<Arc<str>, T>,
    pending: Option<BTreeMap<Arc<str>, T>>,
    /// True once a first full list has been applied.
    pub synced: bool,
    /// Bumped on every visible change: what caches of derived data (sorted rows, rule results)
    /// compare to know they are current.
    rev: u64,
}

/// Two stores are equal when they hold the same rows; the revision is bookkeeping.
impl<T: PartialEq> PartialEq for Store<T> {
    fn eq(&self, other: &Self) -> bool {
        self.items == other.items && self.pending == other.pending && self.synced == other.synced
    }
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store {
            items: BTreeMap::new(),
            pending: None,
            synced: false,
            rev: 0,
        }
    }
}

impl<T: Keyed> Store<T> {
    /// Apply a delta; returns true when the visible content changed.
    pub fn apply(&mut self, delta: Delta<T>) -> bool {
        let changed = self.apply_inner(delta);
        if changed {
            self.rev += 1;
        }
        changed
    }

    /// The revision: changes whenever [`Store::apply`] changed the visible rows.
    pub fn rev(&self) -> u64 {
        self.rev
    }

    fn apply_inner(&mut self, delta: Delta<T>) -> bool {
        match delta {
            Delta::Init => {
                self.pending = Some(BTreeMap::new());
                false
            }
            Delta::InitApply(t) => {
                // An InitApply without Init (should not happen) is applied directly.
                match self.pending.as_mut() {
                    Some(p) => {
                        p.insert(t.key().into(), t);
                        false
                    }
                    None => {
                        self.items.insert(t.key().into(), t);
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
                self.items.insert(t.key().into(), t);
                true
            }
            Delta::Delete(k) => self.items.remove(k.as_str()).is_some(),
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

    /// The rows of a (re-)list in progress (after `Init`, before `InitDone`), if one is.
    pub fn pending(&self) -> Option<impl Iterator<Item = &T>> {
        self.pending.as_ref().map(|p| p.values())
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        self.items.get(key)
    }

    /// The row keyed `namespace/name`, without allocating the key.
    pub fn get_in(&self, namespace: &str, name: &str) -> Option<&T> {
        with_key(namespace, name, |k| self.items.get(k))
    }

    /// Rows whose key starts with `prefix` (`kube-system/`, `cattle-`), in key order, found by a range
    /// scan: a rule about system pods need not walk 50,000 application pods.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a T> + 'a {
        use std::ops::Bound;
        self.items
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
    }

    /// Rows with their shared keys, in key order.
    pub fn shared_entries(&self) -> impl Iterator<Item = (&Arc<str>, &T)> {
        self.items.iter()
    }
}

/// Call `f` with `namespace/name` built in a reused per-thread buffer: lookups in maps keyed that way
/// run once per pod per evaluation, and a `format!` each was most of the rules' cost at 50k pods.
pub fn with_key<R>(namespace: &str, name: &str, f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    KEY.with(|cell| match cell.try_borrow_mut() {
        Ok(mut k) => {
            k.clear();
            k.push_str(namespace);
            k.push('/');
            k.push_str(name);
            f(&k)
        }
        // re-entered from inside `f`: fall back to a fresh key
        Err(_) => f(&format!("{namespace}/{name}")),
    })
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
    fn revision_moves_only_on_visible_change() {
        let mut s = Store::default();
        s.apply(Delta::Init);
        s.apply(Delta::InitApply(R("a", 1)));
        assert_eq!(s.rev(), 0, "a buffered list is not visible yet");
        s.apply(Delta::InitDone);
        let r = s.rev();
        assert!(r > 0);
        assert!(!s.apply(Delta::Delete("zz".into())));
        assert_eq!(s.rev(), r, "deleting nothing changes nothing");
        s.apply(Delta::Apply(R("a", 2)));
        assert!(s.rev() > r);
        // equality is about rows, not bookkeeping
        let mut t = Store::default();
        t.apply(Delta::Apply(R("a", 2)));
        t.synced = true;
        assert_eq!(s, t);
    }

    #[test]
    fn keyed_lookups_and_prefix_scans() {
        let mut s = Store::default();
        for k in [
            "cattle-system/agent",
            "cattle-x/y",
            "default/web",
            "kube-system/dns",
            "kube-systemx/z",
        ] {
            s.apply(Delta::Apply(R(k, 1)));
        }
        assert_eq!(
            s.get_in("kube-system", "dns"),
            Some(&R("kube-system/dns", 1))
        );
        assert_eq!(s.get_in("kube-system", "nope"), None);
        let keys = |p| s.with_prefix(p).map(|r| r.0).collect::<Vec<_>>();
        assert_eq!(keys("cattle-"), ["cattle-system/agent", "cattle-x/y"]);
        assert_eq!(keys("kube-system/"), ["kube-system/dns"]);
        assert_eq!(keys("zzz"), Vec::<&str>::new());
        // a lookup inside a lookup (the per-thread key buffer is busy) still finds the row
        let nested = with_key("default", "web", |outer| {
            (outer.to_string(), s.get_in("cattle-x", "y").cloned())
        });
        assert_eq!(
            nested,
            ("default/web".to_string(), Some(R("cattle-x/y", 1)))
        );
    }
}
