//! Scenario behaviours: named actions that make the cluster look alive, run periodically when a
//! scenario lists them (`behaviours: [{name: renew-leases, every: 5s}]`) or at once through
//! `POST /_sim/trigger {"name": "..."}`. Later issues add theirs (eviction bursts, leader changes,
//! etcd member faults) to [`run`].
//!
//! Built in (`eviction-burst` and `flip-leader`: see `behaviours/stories.rs`):
//! - `renew-leases`: every Lease's holder renews it (`spec.renewTime` = now) through admission, so
//!   a failing webhook keeps the lease stale, as it keeps kube-scheduler's in the Gatekeeper story.
//!   Optional `namespace` and `lease` (a name) restrict it to some leases. The Lease of a process
//!   stopped through `POST /_sim/component` is left alone (see `components`).

mod stories;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::ApiError;
use super::server::State;
use super::store::meta_str;
use super::write::Op;

/// One behaviour entry of a scenario.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Behaviour {
    pub name: String,
    /// How often to run it (`5s`, `1m`); absent: only when triggered.
    #[serde(default)]
    pub every: Option<String>,
    /// Behaviour-specific settings.
    #[serde(default, flatten)]
    pub args: serde_json::Map<String, Value>,
}

/// The names [`run`] knows.
pub const KNOWN: &[&str] = &["renew-leases", "eviction-burst", "flip-leader"];

/// Runs a behaviour once; answers a short summary.
pub fn run(st: &mut State, name: &str, args: &Value) -> Result<Value, ApiError> {
    match name {
        "renew-leases" => Ok(renew_leases(st, args)),
        "eviction-burst" => Ok(stories::eviction_burst(st, args)),
        "flip-leader" => Ok(stories::flip_leader(st, args)),
        other => Err(ApiError::bad_request(format!(
            "unknown behaviour {other:?}; known: {}",
            KNOWN.join(", ")
        ))),
    }
}

fn renew_leases(st: &mut State, args: &Value) -> Value {
    super::components::elect(st);
    let want_ns = args.get("namespace").and_then(Value::as_str);
    let want_name = args.get("lease").and_then(Value::as_str);
    let Some(def) = st.reg.find("coordination.k8s.io", "v1", "leases").cloned() else {
        return json!({"renewed": 0, "rejected": 0});
    };
    let leases: Vec<Value> = st
        .store
        .list(&def.key(), want_ns)
        .filter(|l| want_name.is_none_or(|n| meta_str(l, "name") == n))
        .filter(|l| {
            !super::components::lease_orphaned(st, meta_str(l, "namespace"), meta_str(l, "name"))
        })
        .filter(|l| {
            l.pointer("/spec/holderIdentity")
                .and_then(Value::as_str)
                .is_some_and(|h| !h.is_empty())
        })
        .map(|l| (**l).clone())
        .collect();
    let now = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let (mut renewed, mut rejected) = (0, Vec::new());
    for old in leases {
        let ns = meta_str(&old, "namespace").to_string();
        let name = meta_str(&old, "name").to_string();
        let mut new = old.clone();
        new["spec"]["renewTime"] = json!(now);
        match super::admission::admit(st, &def, Op::Update, None, &ns, &name, &new, Some(&old)) {
            Ok(()) => {
                st.store.put(&def.key(), &ns, &name, new);
                renewed += 1;
            }
            Err(e) => rejected.push(json!({"namespace": ns, "name": name, "error": e.message})),
        }
    }
    json!({"renewed": renewed, "rejected": rejected})
}

/// The period of a behaviour entry, if it has a valid `every`.
pub fn period(b: &Behaviour) -> Option<std::time::Duration> {
    let secs = super::scenario::parse_offset(b.every.as_deref()?)?;
    (secs > 0).then(|| std::time::Duration::from_secs(secs as u64))
}
