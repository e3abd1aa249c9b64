//! Storage: objects as JSON values keyed by resource, namespace and name, a global resourceVersion
//! counter, a bounded history of changes for watches, and a broadcast of new changes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

/// A stored object.
pub type Obj = Arc<Value>;

/// One change, as sent to watchers.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    /// Resource key (`group/plural`).
    pub res: String,
    pub ns: String,
    /// ADDED, MODIFIED or DELETED.
    pub kind: &'static str,
    pub obj: Obj,
    /// The previous state (for MODIFIED), so filtered watches can tell an object entering or
    /// leaving their selection.
    pub old: Option<Obj>,
}

/// The object store.
pub struct Store {
    rv: u64,
    data: HashMap<String, BTreeMap<(String, String), Obj>>,
    history: VecDeque<Arc<Change>>,
    history_cap: usize,
    /// Changes at or below this resourceVersion are no longer retained.
    compacted: u64,
    tx: broadcast::Sender<Arc<Change>>,
}

impl Store {
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(16384);
        Store {
            rv: 1,
            data: HashMap::new(),
            history: VecDeque::new(),
            history_cap,
            compacted: 1,
            tx,
        }
    }

    /// The current (latest) resourceVersion.
    pub fn rv(&self) -> u64 {
        self.rv
    }

    /// The oldest resourceVersion a watch may start from.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }

    pub fn get(&self, res: &str, ns: &str, name: &str) -> Option<&Obj> {
        self.data
            .get(res)
            .and_then(|m| m.get(&(ns.to_string(), name.to_string())))
    }

    /// Objects of a resource, optionally in one namespace, in (namespace, name) order.
    pub fn list<'a>(
        &'a self,
        res: &str,
        ns: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Obj> + 'a> {
        match self.data.get(res) {
            None => Box::new(std::iter::empty()),
            Some(m) => match ns {
                None => Box::new(m.values()),
                Some(ns) => Box::new(
                    m.range((ns.to_string(), String::new())..)
                        .take_while(move |((n, _), _)| n == ns)
                        .map(|(_, v)| v),
                ),
            },
        }
    }

    /// Objects after the given (namespace, name) key, for pagination.
    pub fn list_after<'a>(
        &'a self,
        res: &str,
        after: (String, String),
    ) -> Box<dyn Iterator<Item = &'a Obj> + 'a> {
        use std::ops::Bound;
        match self.data.get(res) {
            None => Box::new(std::iter::empty()),
            Some(m) => Box::new(
                m.range((Bound::Excluded(after), Bound::Unbounded))
                    .map(|(_, v)| v),
            ),
        }
    }

    pub fn count(&self, res: &str) -> usize {
        self.data.get(res).map(BTreeMap::len).unwrap_or(0)
    }

    /// Resource keys with at least one object.
    pub fn resources(&self) -> Vec<String> {
        self.data
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn record(&mut self, change: Change) {
        let c = Arc::new(change);
        self.history.push_back(c.clone());
        while self.history.len() > self.history_cap {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        let _ = self.tx.send(c);
    }

    /// Stores an object (setting metadata.resourceVersion) and records ADDED or MODIFIED.
    pub fn put(&mut self, res: &str, ns: &str, name: &str, mut obj: Value) -> Obj {
        self.rv += 1;
        let rv = self.rv;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let obj = Arc::new(obj);
        let prev = self
            .data
            .entry(res.to_string())
            .or_default()
            .insert((ns.to_string(), name.to_string()), obj.clone());
        self.record(Change {
            rv,
            res: res.to_string(),
            ns: ns.to_string(),
            kind: if prev.is_some() { "MODIFIED" } else { "ADDED" },
            obj: obj.clone(),
            old: prev,
        });
        obj
    }

    /// Stores without recording history (bulk loading at start).
    pub fn load(&mut self, res: &str, ns: &str, name: &str, mut obj: Value) {
        self.rv += 1;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), Value::String(self.rv.to_string()));
        }
        self.data
            .entry(res.to_string())
            .or_default()
            .insert((ns.to_string(), name.to_string()), Arc::new(obj));
        self.compacted = self.rv;
    }

    /// Removes an object and records DELETED (with a new resourceVersion on the final state).
    pub fn remove(&mut self, res: &str, ns: &str, name: &str) -> Option<Obj> {
        let old = self
            .data
            .get_mut(res)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let rv = self.rv;
        let mut v = (*old).clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
        let obj = Arc::new(v);
        self.record(Change {
            rv,
            res: res.to_string(),
            ns: ns.to_string(),
            kind: "DELETED",
            obj: obj.clone(),
            old: None,
        });
        Some(obj)
    }

    /// Changes after `rv` for one resource (oldest first).
    pub fn changes_since(&self, res: &str, rv: u64) -> Vec<Arc<Change>> {
        self.history
            .iter()
            .filter(|c| c.rv > rv && c.res == res)
            .cloned()
            .collect()
    }

    /// Changes after `rv` for every resource (oldest first).
    pub fn changes_since_any(&self, rv: u64) -> Vec<Arc<Change>> {
        let start = self.history.partition_point(|c| c.rv <= rv);
        self.history.range(start..).cloned().collect()
    }

    /// Forgets all history: every watch from an older resourceVersion gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.compacted = self.rv;
    }
}

/// Reads `metadata.<field>` as a string.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `metadata.finalizers` (empty when absent).
pub fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.labels` as pairs.
pub fn labels(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}
