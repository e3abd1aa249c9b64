//! A keyed store fed by watch deltas. `Init … InitDone` is an atomic replace.

use std::collections::{BTreeMap, BTreeSet};
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
    /// The last changes, one per revision since `log_from`: each row's key and the row it
    /// replaced or deleted (`None`: it was added). What lets a cache follow the rows that changed
    /// instead of rebuilding from all of them (see [`Store::changed_since`]). Kept only by a store
    /// made [`Store::with_changes`], at most `log_max` of them (the older half is dropped when it is
    /// full).
    log: Vec<(Arc<str>, Option<T>)>,
    log_from: u64,
    log_max: usize,
    /// The keys of the rows a store made [`Store::marking`] marks, kept as rows change: what a
    /// rule that looks at a few rows of many (the eviction Events, the nodes that name their
    /// distribution) reads at every evaluation without a pass over every row.
    marked: Option<Marked<T>>,
}

#[derive(Debug, Clone)]
struct Marked<T> {
    marks: fn(&T) -> bool,
    keys: BTreeSet<Arc<str>>,
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
            log: Vec::new(),
            log_from: 0,
            log_max: 0,
            marked: None,
        }
    }
}

impl<T> Store<T> {
    /// A store that remembers its last `max` changes with the rows they replaced (see
    /// [`Store::changed_since`]).
    pub fn with_changes(max: usize) -> Self {
        Store {
            log_max: max,
            ..Store::default()
        }
    }
}

impl<T> Store<T> {
    /// This store, keeping the keys of the rows `marks` holds for (see [`Store::marked`]).
    pub fn marking(self, marks: fn(&T) -> bool) -> Self {
        let keys = self
            .items
            .iter()
            .filter(|(_, t)| marks(t))
            .map(|(k, _)| k.clone())
            .collect();
        Store {
            marked: Some(Marked { marks, keys }),
            ..self
        }
    }

    /// The rows the store's mark holds for, by key (none when the store marks nothing).
    pub fn marked(&self) -> impl Iterator<Item = &T> {
        self.marked
            .iter()
            .flat_map(|m| m.keys.iter())
            .filter_map(|k| self.items.get(k))
    }

    /// Keep the marked keys as the row at `key` changed (`None`: every row may have).
    fn remark(&mut self, key: Option<&Arc<str>>) {
        let Some(m) = self.marked.as_mut() else {
            return;
        };
        match key {
            Some(k) => match self.items.get(k) {
                Some(t) if (m.marks)(t) => {
                    m.keys.insert(k.clone());
                }
                _ => {
                    m.keys.remove(k);
                }
            },
            None => {
                let marks = m.marks;
                m.keys = self
                    .items
                    .iter()
                    .filter(|(_, t)| marks(t))
                    .map(|(k, _)| k.clone())
                    .collect();
            }
        }
    }
}

impl<T: Keyed> Store<T> {
    /// Apply a delta; returns true when the visible content changed.
    pub fn apply(&mut self, delta: Delta<T>) -> bool
    where
        T: PartialEq,
    {
        match self.apply_inner(delta) {
            Change::None => false,
            Change::Row(key, old) => {
                self.rev += 1;
                self.remark(Some(&key));
                if self.log_max == 0 {
                    self.log_from = self.rev;
                } else {
                    if self.log.len() >= self.log_max {
                        // the older half goes: a cache that far behind rebuilds
                        let gone = self.log.len() - self.log_max / 2;
                        self.log.drain(..gone);
                        self.log_from += gone as u64;
                    }
                    self.log.push((key, old));
                }
                true
            }
            Change::All => {
                self.rev += 1;
                self.remark(None);
                self.log.clear();
                self.log_from = self.rev;
                true
            }
        }
    }

    /// The revision: changes whenever [`Store::apply`] changed the visible rows.
    pub fn rev(&self) -> u64 {
        self.rev
    }

    /// The rows changed (added, replaced or deleted) since revision `rev`, in the order they
    /// changed: each key with the row the change replaced (`None`: added); a key changed twice is
    /// listed twice, its first entry holding its row at `rev`. `None` when that is not known (a
    /// re-list replaced every row since, more changes than are remembered, or a store that keeps
    /// none): then every row may have changed.
    pub fn changed_since(&self, rev: u64) -> Option<&[(Arc<str>, Option<T>)]> {
        if rev < self.log_from || rev > self.rev {
            return None;
        }
        self.log.get((rev - self.log_from) as usize..)
    }

    fn apply_inner(&mut self, delta: Delta<T>) -> Change<T>
    where
        T: PartialEq,
    {
        match delta {
            Delta::Init => {
                self.pending = Some(BTreeMap::new());
                Change::None
            }
            Delta::InitApply(t) => {
                // An InitApply without Init (should not happen) is applied directly.
                match self.pending.as_mut() {
                    Some(p) => {
                        p.insert(t.key().into(), t);
                        Change::None
                    }
                    None => self.put(t),
                }
            }
            Delta::InitDone => {
                if let Some(p) = self.pending.take() {
                    self.items = p;
                }
                self.synced = true;
                Change::All
            }
            Delta::Apply(t) => self.put(t),
            Delta::Delete(k) => match self.items.remove_entry(k.as_str()) {
                Some((key, old)) => Change::Row(key, Some(old)),
                None => Change::None,
            },
        }
    }

    /// Insert or replace a row; a row equal to the one kept changes nothing (a watch resends an
    /// object whose other fields moved: the slim row is the same).
    fn put(&mut self, t: T) -> Change<T>
    where
        T: PartialEq,
    {
        let key = t.key();
        match self.items.get_key_value(key.as_str()) {
            Some((_, old)) if *old == t => Change::None,
            Some((k, _)) => {
                // the map keeps its key: caches holding it still find the row by pointer
                let k = k.clone();
                let old = self.items.insert(k.clone(), t);
                Change::Row(k, old)
            }
            None => {
                let k: Arc<str> = key.into();
                self.items.insert(k.clone(), t);
                Change::Row(k, None)
            }
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

    /// The row and its shared key.
    pub fn get_shared(&self, key: &str) -> Option<(&Arc<str>, &T)> {
        self.items.get_key_value(key)
    }

    /// The row keyed `namespace/name`, without allocating the key.
    pub fn get_in(&self, namespace: &str, name: &str) -> Option<&T> {
        with_key(namespace, name, |k| self.items.get(k))
    }

    /// Rows whose key starts with `prefix` (`kube-system/`, `cattle-`), in key order, found by a range
    /// scan: a rule about system pods need not walk 50,000 application pods.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a T> + 'a {
        self.entries_with_prefix(prefix).map(|(_, v)| v)
    }

    /// [`Store::with_prefix`], with the rows' shared keys.
    pub fn entries_with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a Arc<str>, &'a T)> + 'a {
        use std::ops::Bound;
        self.items
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Rows with their shared keys, in key order.
    pub fn shared_entries(&self) -> impl Iterator<Item = (&Arc<str>, &T)> {
        self.items.iter()
    }
}

/// What one delta did to the visible rows.
enum Change<T> {
    None,
    /// The row with this key was added, replaced or deleted: the row it replaced, if any.
    Row(Arc<str>, Option<T>),
    /// Every row may have changed (a list replaced them).
    All,
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

    /// The marked rows follow every way a row changes: added, replaced (marked or no longer),
    /// deleted, a re-list, and a row applied directly; they equal a filter over every row.
    #[test]
    fn marked_rows_follow_every_change() {
        let odd = |r: &R| r.1 % 2 == 1;
        let mut s = Store::default().marking(odd);
        let check = |s: &Store<R>| {
            let want: Vec<&R> = s.iter().filter(|r| odd(r)).collect();
            assert_eq!(s.marked().collect::<Vec<_>>(), want);
        };
        s.apply(Delta::Init);
        for r in [R("a", 1), R("b", 2), R("c", 3)] {
            s.apply(Delta::InitApply(r));
        }
        check(&s);
        s.apply(Delta::InitDone);
        check(&s);
        assert_eq!(s.marked().count(), 2);
        for d in [
            Delta::Apply(R("a", 2)),   // no longer marked
            Delta::Apply(R("b", 5)),   // now marked
            Delta::Apply(R("d", 7)),   // added, marked
            Delta::Delete("c".into()), // a marked row goes
            Delta::Apply(R("d", 7)),   // the same row again
            Delta::Init,               // a re-list
            Delta::InitApply(R("e", 9)),
            Delta::InitApply(R("a", 4)),
            Delta::InitDone,
        ] {
            s.apply(d);
            check(&s);
        }
        assert_eq!(s.marked().collect::<Vec<_>>(), [&R("e", 9)]);
        // a store made marking after rows arrived marks them
        let mut plain = Store::default();
        plain.apply(Delta::Apply(R("x", 1)));
        assert_eq!(plain.marked().count(), 0);
        let s = plain.marking(odd);
        assert_eq!(s.marked().collect::<Vec<_>>(), [&R("x", 1)]);
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
    fn changes_are_listed_with_the_rows_they_replaced() {
        let keys = |c: &[(Arc<str>, Option<R>)]| {
            c.iter()
                .map(|(k, old)| (k.to_string(), old.as_ref().map(|r| r.1)))
                .collect::<Vec<_>>()
        };
        let mut s = Store::with_changes(4);
        s.apply(Delta::Init);
        s.apply(Delta::InitApply(R("a", 1)));
        s.apply(Delta::InitDone);
        let synced = s.rev();
        assert_eq!(s.changed_since(synced).map(keys), Some(vec![]));
        assert_eq!(s.changed_since(0), None, "a list replaced every row");
        assert!(
            !s.apply(Delta::Apply(R("a", 1))),
            "the same row again is no change"
        );
        assert_eq!(s.rev(), synced);
        s.apply(Delta::Apply(R("a", 2)));
        s.apply(Delta::Apply(R("b", 1)));
        s.apply(Delta::Delete("a".into()));
        assert_eq!(
            s.changed_since(synced).map(keys),
            Some(vec![
                ("a".into(), Some(1)),
                ("b".into(), None),
                ("a".into(), Some(2))
            ])
        );
        assert_eq!(
            s.changed_since(synced + 2).map(keys),
            Some(vec![("a".into(), Some(2))])
        );
        // a replaced row keeps its key: a cache holding the key finds it by pointer
        let b = s.shared_entries().next().map(|(k, _)| k.clone()).unwrap();
        s.apply(Delta::Apply(R("b", 2)));
        assert!(Arc::ptr_eq(&b, &s.changed_since(s.rev() - 1).unwrap()[0].0));
        // more changes than are remembered: the older half is forgotten (unknown: rebuild from
        // every row), the newer still listed
        assert_eq!(s.changed_since(synced).map(|c| c.len()), Some(4));
        s.apply(Delta::Apply(R("b", 3)));
        assert_eq!(s.changed_since(synced), None);
        assert_eq!(s.changed_since(synced + 1), None);
        assert_eq!(
            s.changed_since(synced + 2).map(keys),
            Some(vec![
                ("a".into(), Some(2)),
                ("b".into(), Some(1)),
                ("b".into(), Some(2))
            ])
        );
        assert_eq!(s.changed_since(s.rev()).map(keys), Some(vec![]));
        for n in 4..100 {
            s.apply(Delta::Apply(R("c", n)));
        }
        assert_eq!(s.changed_since(s.rev() - 2).map(|c| c.len()), Some(2));
        assert_eq!(s.changed_since(synced + 2), None);
        // a store that keeps none never answers for the past
        let mut plain = Store::default();
        plain.apply(Delta::Apply(R("a", 1)));
        assert_eq!(plain.changed_since(0), None);
        assert_eq!(plain.changed_since(plain.rev()).map(keys), Some(vec![]));
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
