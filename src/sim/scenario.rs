//! Scenarios: what the simulated cluster contains at start.
//!
//! # Scenario format
//!
//! A scenario is a YAML file. Built-in ones live in `assets/scenarios/NAME.yaml` and are embedded
//! in the binary; `ktriage sim --scenario PATH` loads a file instead.
//!
//! ```yaml
//! name: my-story                 # optional; defaults to the file name
//! description: One line shown by `ktriage sim --list`.
//! include: [healthy]             # built-in names, or paths relative to this file; loaded first
//! users:                         # bearer-token users besides the admin (whose token is generated)
//!   - name: jane
//!     token: jane-token          # optional; defaults to "<name>-token"
//!     rules:                     # allow rules; anything else is 403 Forbidden
//!       - verbs: [get, list, watch]
//!         apiGroups: [""]        # "" is the core group; "*" matches any
//!         resources: [pods, pods/log]
//!         namespaces: [default]  # omitted: every namespace and the cluster scope
//! objects:                       # ordinary Kubernetes objects (apiVersion, kind, metadata, ...)
//!   - apiVersion: v1
//!     kind: Namespace
//!     metadata: {name: shop, creationTimestamp: -30d}
//!   - apiVersion: v1
//!     kind: Pod
//!     metadata: {name: web-1, namespace: shop, creationTimestamp: "$now-2h"}
//!     spec: {nodeName: worker-1, containers: [{name: web, image: nginx}]}
//!     status: {phase: Running}
//! logs:                          # pod logs; pods without logs print two generated lines
//!   - namespace: shop
//!     pod: web-1
//!     container: web             # optional when the pod has one container
//!     previous: false            # true: the lines of the previous (crashed) container
//!     lines: ["GET / 200", "GET /health 200"]
//! behaviours:                    # actions run every `every` (or via POST /_sim/trigger)
//!   - {name: renew-leases, every: 5s, namespace: kube-system}
//! stopped: [prod-worker-3]       # processes stopped at start: a node's kubelet (by node name),
//!                                # kube-scheduler, kube-controller-manager (see components.rs)
//! etcd:                          # simulated etcd members (none: no etcd), see src/sim/etcd/
//!   quota: 2147483648            # --quota-backend-bytes of every member (default 2 GiB)
//!   members:                     # one per control-plane node; same node in a later file replaces
//!     - {node: cp-1}             # state: healthy (default) | island | rejoin | stopped
//!     - {node: cp-2, state: island}
//!     - {node: cp-3, nospace: true, db_size: 2147000000}   # NOSPACE alarm raised by this member
//! ```
//!
//! Rules:
//! - Objects are stored as given, without admission (a scenario may contain what admission would
//!   now refuse). Missing `uid`, `resourceVersion` and `creationTimestamp` are filled in; a
//!   namespaced object without a namespace goes to `default`; a missing namespace is created.
//! - A later object with the same apiVersion, kind, namespace and name replaces an earlier one
//!   (so a scenario can override what it includes).
//! - Times are wall-clock: any string value `$now`, `$now-90s`, `$now+5m`, `$now-1h30m`, and for
//!   fields whose name ends in `Timestamp`, `Time` or `At` also the short form `-2h`, `-30d`, become
//!   RFC 3339 times relative to start (micro-seconds for `renewTime`, `acquireTime`, `eventTime`).
//! - `CustomResourceDefinition` objects register their resources, so custom resources can follow.
//! - Namespaces with `metadata.deletionTimestamp` are Terminating; the namespace controller runs at
//!   start (content without finalizers is removed; the `kubernetes` finalizer stays while any
//!   APIService is unavailable).
//! - Webhook configurations take effect for API requests only, never for scenario objects.
//! - A small Deployment/ReplicaSet controller runs after writes and every 10 s (or on
//!   `POST /_sim/resync`): ReplicaSets follow their Deployment, pods are created (through admission)
//!   or deleted to match, owners' deletion collects their ReplicaSets and pods. At start the
//!   scenario is left exactly as written until something changes or the first resync.
//! - Behaviours: see `src/sim/behaviours.rs` for the known names and their settings.
//! - `scale:NODES:PODS[:EVENTS[:NAMESPACES]]` is a generated scenario for load tests.
//! - etcd: each member serves the v3 JSON gateway on its own loopback client port and `GET /members`
//!   on its own peer port (plain HTTP, free ports); the kubeconfig the simulator writes names the
//!   client URLs in the context extension `ktriage/etcd`. The `kube-system/etcd-<node>` pods get an
//!   etcd command line (quota, data dir) and the members' log lines; missing pods are created.
//!   `POST /_sim/etcd` changes a member at run time (see `src/sim/etcd/mod.rs`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SimError;
use super::auth::User;
use super::behaviours::{self as bh, Behaviour};
use super::logs::LogSpec;

/// Built-in scenarios: (name, YAML).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "healthy",
        include_str!("../../assets/scenarios/healthy.yaml"),
    ),
    (
        "gatekeeper-down",
        include_str!("../../assets/scenarios/gatekeeper-down.yaml"),
    ),
    (
        "stuck-namespaces",
        include_str!("../../assets/scenarios/stuck-namespaces.yaml"),
    ),
    (
        "incident",
        include_str!("../../assets/scenarios/incident.yaml"),
    ),
    (
        "runaway-app",
        include_str!("../../assets/scenarios/runaway-app.yaml"),
    ),
    (
        "crashloop",
        include_str!("../../assets/scenarios/crashloop.yaml"),
    ),
    (
        "leader-flapping",
        include_str!("../../assets/scenarios/leader-flapping.yaml"),
    ),
    (
        "etcd-split-brain",
        include_str!("../../assets/scenarios/etcd-split-brain.yaml"),
    ),
    (
        "etcd-quorum-lost",
        include_str!("../../assets/scenarios/etcd-quorum-lost.yaml"),
    ),
    (
        "etcd-nospace",
        include_str!("../../assets/scenarios/etcd-nospace.yaml"),
    ),
    (
        "kube-ca-rotated",
        include_str!("../../assets/scenarios/kube-ca-rotated.yaml"),
    ),
    (
        "runaway-statefulset",
        include_str!("../../assets/scenarios/runaway-statefulset.yaml"),
    ),
    (
        "webhook-cabundle",
        include_str!("../../assets/scenarios/webhook-cabundle.yaml"),
    ),
    (
        "nodes-notready",
        include_str!("../../assets/scenarios/nodes-notready.yaml"),
    ),
];

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    objects: Vec<Value>,
    #[serde(default)]
    logs: Vec<LogSpec>,
    #[serde(default)]
    behaviours: Vec<Behaviour>,
    #[serde(default)]
    etcd: Option<super::etcd::EtcdSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    stopped: Vec<String>,
}

/// A loaded scenario.
#[derive(Debug, Default)]
pub struct Loaded {
    pub name: String,
    pub users: Vec<User>,
    pub objects: Vec<Value>,
    pub logs: Vec<LogSpec>,
    pub behaviours: Vec<Behaviour>,
    /// The `etcd:` section merged over includes (no members: no simulated etcd).
    pub etcd: super::etcd::EtcdSpec,
    /// Processes stopped at start (`stopped:`): a node's kubelet by the node's name,
    /// `kube-scheduler`, `kube-controller-manager` (see `sim::components`).
    pub stopped: Vec<String>,
}

/// The description line of a built-in scenario.
pub fn description(name: &str) -> Option<String> {
    let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name)?;
    let f: ScenarioFile = super::yaml::from_str(text).ok()?;
    f.description
}

/// One scenario file as the YAML parser reads it (typed, before includes and relative times), as
/// JSON: what `tests/scenario_yaml.rs` compares with the parse recorded in `tests/fixtures/`.
pub fn parse_file(text: &str) -> Result<Value, super::yaml::Error> {
    let f: ScenarioFile = super::yaml::from_str(text)?;
    serde_json::to_value(f).map_err(|e| super::yaml::Error {
        line: None,
        message: e.to_string(),
    })
}

/// Loads a built-in scenario, a file, or the `scale:` generator.
pub fn load(spec: &str) -> Result<Loaded, SimError> {
    if let Some(rest) = spec.strip_prefix("scale:") {
        return super::generator::generate(rest);
    }
    let mut acc = Acc::default();
    let mut seen = HashSet::new();
    let name = load_into(spec, None, &mut acc, &mut seen)?;
    let mut objects = base_objects();
    objects.extend(acc.objects);
    let mut objects = dedupe(objects);
    let first_new = objects.len();
    super::etcd::prepare_pods(&acc.etcd, &mut objects);
    // the pods it created carry short times (`-41d`) like any scenario object
    let now = chrono::Utc::now();
    for o in objects.iter_mut().skip(first_new) {
        resolve_times(o, "", now);
    }
    Ok(Loaded {
        name,
        users: acc.users,
        objects,
        logs: acc.logs,
        behaviours: acc.behaviours,
        etcd: acc.etcd,
        stopped: acc.stopped,
    })
}

#[derive(Default)]
struct Acc {
    users: Vec<User>,
    objects: Vec<Value>,
    logs: Vec<LogSpec>,
    behaviours: Vec<Behaviour>,
    etcd: super::etcd::EtcdSpec,
    stopped: Vec<String>,
}

fn load_into(
    spec: &str,
    base: Option<&Path>,
    acc: &mut Acc,
    seen: &mut HashSet<String>,
) -> Result<String, SimError> {
    let (label, text, dir) = scenario_text(spec, base)?;
    if !seen.insert(label.clone()) {
        return Ok(label);
    }
    let file: ScenarioFile =
        super::yaml::from_str(&text).map_err(|e| SimError::InvalidScenario {
            path: label.clone(),
            line: e.line,
            message: e.message,
        })?;
    for inc in &file.include {
        load_into(inc, dir.as_deref(), acc, seen)?;
    }
    for (i, o) in file.objects.iter().enumerate() {
        let ok = o.get("apiVersion").and_then(Value::as_str).is_some()
            && o.get("kind").and_then(Value::as_str).is_some()
            && o.pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_some();
        if !ok {
            return Err(SimError::InvalidScenario {
                path: label,
                line: None,
                message: format!("objects[{i}] needs apiVersion, kind and metadata.name"),
            });
        }
    }
    let now = chrono::Utc::now();
    acc.objects.extend(file.objects.into_iter().map(|mut o| {
        resolve_times(&mut o, "", now);
        o
    }));
    for u in file.users {
        acc.users.retain(|x| x.name != u.name);
        acc.users.push(u);
    }
    acc.logs.extend(file.logs);
    acc.stopped.extend(file.stopped);
    if let Some(e) = file.etcd {
        acc.etcd.merge(e);
    }
    for b in file.behaviours {
        check_behaviour(&b, &label)?;
        acc.behaviours
            .retain(|x| x.name != b.name || x.args != b.args);
        acc.behaviours.push(b);
    }
    Ok(file.name.unwrap_or_else(|| {
        Path::new(spec)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| spec.to_string())
    }))
}

/// A scenario's label, text and directory (for its includes): a built-in one by name, else a file.
fn scenario_text(
    spec: &str,
    base: Option<&Path>,
) -> Result<(String, String, Option<PathBuf>), SimError> {
    Ok(match BUILTIN.iter().find(|(n, _)| *n == spec) {
        Some((n, t)) => (format!("built-in scenario {n}"), (*t).to_string(), None),
        None => {
            let p = match base {
                Some(b) if Path::new(spec).is_relative() => b.join(spec),
                _ => PathBuf::from(spec),
            };
            if !p.exists()
                && !spec.contains('/')
                && !spec.ends_with(".yaml")
                && !spec.ends_with(".yml")
            {
                return Err(SimError::UnknownScenario {
                    name: spec.to_string(),
                    known: super::list_scenarios().join(", "),
                });
            }
            let text = std::fs::read_to_string(&p).map_err(|source| SimError::ReadScenario {
                path: p.display().to_string(),
                source,
            })?;
            (
                p.display().to_string(),
                text,
                p.parent().map(Path::to_path_buf),
            )
        }
    })
}

/// A behaviour must be known, and its `every` a duration.
fn check_behaviour(b: &Behaviour, label: &str) -> Result<(), SimError> {
    if !bh::KNOWN.contains(&b.name.as_str()) {
        return Err(SimError::InvalidScenario {
            path: label.to_string(),
            line: None,
            message: format!(
                "unknown behaviour {:?}; known: {}",
                b.name,
                bh::KNOWN.join(", ")
            ),
        });
    }
    if b.every.is_some() && bh::period(b).is_none() {
        return Err(SimError::InvalidScenario {
            path: label.to_string(),
            line: None,
            message: format!(
                "behaviour {}: invalid every {:?} (use e.g. 5s, 1m)",
                b.name, b.every
            ),
        });
    }
    Ok(())
}

fn key(o: &Value) -> (String, String, String, String) {
    let s = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        s("/apiVersion"),
        s("/kind"),
        s("/metadata/namespace"),
        s("/metadata/name"),
    )
}

fn dedupe(objects: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(objects.len());
    let mut idx: HashMap<(String, String, String, String), usize> = HashMap::new();
    for o in objects {
        let k = key(&o);
        match idx.get(&k) {
            Some(&i) => out[i] = o,
            None => {
                idx.insert(k, out.len());
                out.push(o);
            }
        }
    }
    out
}

/// Parses `90s`, `1h30m`, `2d` (with an optional sign) into seconds.
pub fn parse_offset(s: &str) -> Option<i64> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0i64;
    let mut num = String::new();
    for ch in rest.chars() {
        if ch.is_ascii_digit() {
            num.push(ch);
            continue;
        }
        let n: i64 = num.parse().ok()?;
        num.clear();
        total += n * match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    Some(sign * total)
}

fn format_time(t: chrono::DateTime<chrono::Utc>, key: &str) -> String {
    if matches!(key, "renewTime" | "acquireTime" | "eventTime") {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }
}

/// Replaces relative times (see the module docs) in place.
pub fn resolve_times(v: &mut Value, key: &str, now: chrono::DateTime<chrono::Utc>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                resolve_times(x, k, now);
            }
        }
        Value::Array(a) => {
            for x in a {
                resolve_times(x, key, now);
            }
        }
        Value::String(s) => {
            let offset = if let Some(rest) = s.strip_prefix("$now") {
                if rest.is_empty() {
                    Some(0)
                } else {
                    parse_offset(rest)
                }
            } else if (key.ends_with("Timestamp") || key.ends_with("Time") || key.ends_with("At"))
                && (s.starts_with('-') || s.starts_with('+'))
            {
                parse_offset(s)
            } else {
                None
            };
            if let Some(secs) = offset {
                *s = format_time(now + chrono::Duration::seconds(secs), key);
            } else if s.starts_with('{')
                && s.contains("\"$now")
                && let Ok(mut inner) = serde_json::from_str::<Value>(s)
            {
                // a JSON document in a string (ConfigMap data such as RKE2's snapshot records)
                resolve_times(&mut inner, key, now);
                *s = inner.to_string();
            }
        }
        _ => {}
    }
}

/// Objects every cluster has: the four standard namespaces, the `kubernetes` service and the local
/// APIServices of the served groups.
pub fn base_objects() -> Vec<Value> {
    let created = (chrono::Utc::now() - chrono::Duration::days(41))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = Vec::new();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "creationTimestamp": created}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    out.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default", "creationTimestamp": created, "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"], "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}));
    out.push(json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes", "namespace": "default", "creationTimestamp": created},
        "subsets": [{"addresses": [{"ip": "10.0.0.11"}, {"ip": "10.0.0.12"}, {"ip": "10.0.0.13"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]}));
    for (g, v) in [
        ("", "v1"),
        ("apps", "v1"),
        ("events.k8s.io", "v1"),
        ("coordination.k8s.io", "v1"),
        ("admissionregistration.k8s.io", "v1"),
        ("apiregistration.k8s.io", "v1"),
        ("apiextensions.k8s.io", "v1"),
    ] {
        let name = if g.is_empty() {
            format!("{v}.")
        } else {
            format!("{v}.{g}")
        };
        out.push(json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": {"name": name, "creationTimestamp": created, "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}},
            "spec": {"group": g, "version": v, "groupPriorityMinimum": 18000, "versionPriority": 1, "service": null}}));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sim_relative_times() {
        assert_eq!(parse_offset("-1h30m"), Some(-5400));
        assert_eq!(parse_offset("90s"), Some(90));
        assert_eq!(parse_offset("-2x"), None);
        let now = chrono::Utc::now();
        let mut v = json!({"metadata": {"creationTimestamp": "-2h"}, "spec": {"renewTime": "$now-10s", "note": "-2h"}});
        resolve_times(&mut v, "", now);
        assert_ne!(v["metadata"]["creationTimestamp"], "-2h");
        assert_eq!(v["spec"]["note"], "-2h");
        assert!(
            v["spec"]["renewTime"]
                .as_str()
                .is_some_and(|s| s.contains('.'))
        );
    }

    #[test]
    fn sim_builtin_scenarios_parse() {
        for name in crate::sim::list_scenarios() {
            let l = load(name).unwrap();
            assert!(l.objects.len() > 10, "{name}");
        }
    }
}
