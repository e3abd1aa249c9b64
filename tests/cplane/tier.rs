//! One story, two clusters: the real control plane (`scripts/real-apiserver.sh start DIR
//! --control-plane`: kube-apiserver, kube-controller-manager, kube-scheduler, hollow nodes) and the
//! simulator started from a scenario shaped like it at rest (the same namespaces, nodes and Leases,
//! kept alive by the same renewals). A story runs the same steps on both through the API, and
//! ktriage reads each through `ktriage report --format json`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::support;
use crate::support::real::{Options, RealServer};

/// The names a story's user chooses; every story runs with two sets (`a`, `b`).
#[derive(Debug, Clone)]
pub struct Names {
    pub workers: Vec<String>,
    pub cp_nodes: Vec<String>,
    /// The application namespace, its runaway Deployment (no limits) and its guarded one (a PDB).
    pub app_ns: String,
    pub runaway: String,
    pub guarded: String,
    /// The policy webhook: configuration, webhook, its Service's namespace and name.
    pub hook_cfg: String,
    pub hook: String,
    pub hook_ns: String,
    pub hook_svc: String,
    /// The namespace deleted in the APIService story, and the APIService's missing Service.
    pub doomed_ns: String,
    pub adapter_ns: String,
    pub adapter_svc: String,
}

impl Names {
    pub fn a() -> Names {
        Names {
            workers: vec!["worker-1".into(), "worker-2".into()],
            cp_nodes: vec!["cp-1".into()],
            app_ns: "shop".into(),
            runaway: "report-builder".into(),
            guarded: "ledger".into(),
            hook_cfg: "policy-hooks".into(),
            hook: "validation.policy.example.com".into(),
            hook_ns: "policy-system".into(),
            hook_svc: "policy-webhook".into(),
            doomed_ns: "old-reports".into(),
            adapter_ns: "cattle-monitoring-system".into(),
            adapter_svc: "prometheus-adapter".into(),
        }
    }

    pub fn b() -> Names {
        Names {
            workers: vec!["edge-a".into(), "edge-b".into()],
            cp_nodes: vec!["ctl-a".into()],
            app_ns: "storefront".into(),
            runaway: "burner".into(),
            guarded: "vault".into(),
            hook_cfg: "guard-hooks".into(),
            hook: "check.guard.example.org".into(),
            hook_ns: "guard-system".into(),
            hook_svc: "guard-svc".into(),
            doomed_ns: "stale-ns".into(),
            adapter_ns: "metrics-system".into(),
            adapter_svc: "adapter".into(),
        }
    }

    fn all(&self) -> Vec<&String> {
        let mut v: Vec<&String> = self.workers.iter().chain(&self.cp_nodes).collect();
        v.extend([
            &self.app_ns,
            &self.runaway,
            &self.guarded,
            &self.hook_cfg,
            &self.hook,
            &self.hook_ns,
            &self.hook_svc,
            &self.doomed_ns,
            &self.adapter_ns,
            &self.adapter_svc,
        ]);
        v
    }

    /// `s` with each of `self`'s names replaced by the same name of `to` (whole values only).
    pub fn rename(&self, to: &Names, s: &str) -> String {
        self.all()
            .into_iter()
            .zip(to.all())
            .find(|(from, _)| from.as_str() == s)
            .map(|(_, to)| to.clone())
            .unwrap_or_else(|| s.to_string())
    }
}

/// What a finding is compared by: id, severity and subject (kind, namespace, name, part).
pub type Key = (String, String, String, String, String, String);

pub fn keys(doc: &Value) -> BTreeSet<Key> {
    let s = |f: &Value, p: &str| {
        f.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    doc["findings"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        s(f, "/id"),
                        s(f, "/severity"),
                        s(f, "/subject/kind"),
                        s(f, "/subject/namespace"),
                        s(f, "/subject/name"),
                        s(f, "/subject/part"),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `keys` of one name set expressed in another's names.
pub fn renamed(keys: &BTreeSet<Key>, from: &Names, to: &Names) -> BTreeSet<Key> {
    keys.iter()
        .map(|k| {
            (
                k.0.clone(),
                k.1.clone(),
                k.2.clone(),
                from.rename(to, &k.3),
                from.rename(to, &k.4),
                from.rename(to, &k.5),
            )
        })
        .collect()
}

pub enum Cluster {
    Real(RealServer),
    Sim {
        _handle: ktriage::sim::SimHandle,
        kubeconfig: PathBuf,
    },
}

pub struct Tier {
    pub cluster: Cluster,
    pub names: Names,
    pub client: kube::Client,
    home: tempfile::TempDir,
}

/// How long the real control plane may take for what the simulator does at once (a Lease
/// expiring after 15 s, a takeover after 15 s of observation, a controller's backoff).
const REAL_WAIT: Duration = Duration::from_secs(90);
const SIM_WAIT: Duration = Duration::from_secs(15);

impl Tier {
    /// The real control plane with `names`' nodes; `None` when it is not built (outside CI).
    pub async fn real(names: &Names) -> Option<Tier> {
        let w: Vec<&str> = names.workers.iter().map(String::as_str).collect();
        let c: Vec<&str> = names.cp_nodes.iter().map(String::as_str).collect();
        let opts = Options::control_plane(&w, &c);
        let server = tokio::task::spawn_blocking(move || RealServer::start_with(&opts))
            .await
            .unwrap()?;
        Some(Tier::from_server(server, names).await)
    }

    /// A real tier started by the caller.
    pub async fn from_server(server: RealServer, names: &Names) -> Tier {
        let client = support::real::client_from(&server.admin_kubeconfig()).await;
        Tier {
            cluster: Cluster::Real(server),
            names: names.clone(),
            client,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// The simulator, started from a scenario shaped like the real control plane at rest.
    pub async fn sim(names: &Names) -> Tier {
        let home = tempfile::tempdir().unwrap();
        let scenario = home.path().join("tier.yaml");
        std::fs::write(&scenario, scenario_for(names).to_string()).unwrap();
        let handle = ktriage::sim::start(ktriage::sim::SimOptions {
            scenario: scenario.display().to_string(),
            ..ktriage::sim::SimOptions::default()
        })
        .await
        .expect("sim starts");
        let kubeconfig = home.path().join("sim.kubeconfig");
        handle.write_kubeconfig_for(&kubeconfig, "admin").unwrap();
        let client = support::client(&handle).await;
        Tier {
            cluster: Cluster::Sim {
                _handle: handle,
                kubeconfig,
            },
            names: names.clone(),
            client,
            home,
        }
    }

    pub fn is_real(&self) -> bool {
        matches!(self.cluster, Cluster::Real(_))
    }

    pub fn label(&self) -> &'static str {
        if self.is_real() { "real" } else { "simulator" }
    }

    pub fn server(&self) -> Option<&RealServer> {
        match &self.cluster {
            Cluster::Real(s) => Some(s),
            Cluster::Sim { .. } => None,
        }
    }

    /// The kubeconfig ktriage runs with (on the real tier its own user, `ktriage-under-test`).
    pub fn kubeconfig(&self) -> PathBuf {
        match &self.cluster {
            Cluster::Real(s) => s.ktriage_kubeconfig(),
            Cluster::Sim { kubeconfig, .. } => kubeconfig.clone(),
        }
    }

    /// `ktriage report --format json --observe 0` against this cluster (the simulator serves from
    /// this process: the report runs on a blocking thread).
    pub async fn report(&self) -> Value {
        let (kc, home, label) = (
            self.kubeconfig(),
            self.home.path().to_path_buf(),
            self.label(),
        );
        tokio::task::spawn_blocking(move || {
            let out = support::ktriage(
                &home,
                &[
                    "--kubeconfig",
                    kc.to_str().unwrap(),
                    "report",
                    "--format",
                    "json",
                    "--observe",
                    "0",
                ],
            );
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!(
                    "{label}: no JSON report ({e}): {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
        })
        .await
        .unwrap()
    }

    /// Reports until `want` holds for one (the real control plane acts on its own clock).
    pub async fn report_until(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let limit = if self.is_real() { REAL_WAIT } else { SIM_WAIT };
        let t0 = tokio::time::Instant::now();
        loop {
            let doc = self.report().await;
            if want(&doc) {
                return doc;
            }
            assert!(
                t0.elapsed() < limit,
                "{}: timed out after {limit:?} waiting for {what}; last report: {doc:#}",
                self.label()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Polls `f` until it answers (longer on the real control plane).
    pub async fn until<T, F, Fut>(&self, what: &str, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let limit = if self.is_real() { REAL_WAIT } else { SIM_WAIT };
        let t0 = tokio::time::Instant::now();
        loop {
            if let Some(v) = f().await {
                return v;
            }
            assert!(
                t0.elapsed() < limit,
                "{}: timed out after {limit:?} waiting for {what}",
                self.label()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops a process of the control plane (`kube-scheduler`, `kube-controller-manager`, a node).
    /// The simulator's stops as if a minute ago (its Lease already expired); the real one stops now.
    pub async fn stop(&self, process: &str) {
        match &self.cluster {
            Cluster::Real(s) => s.stop_one(process),
            Cluster::Sim { .. } => {
                support::control(
                    &self.client,
                    "component",
                    json!({"name": process, "running": false, "ago": "60s"}),
                )
                .await;
            }
        }
    }

    /// Starts it again (the simulator's as if 20 s ago: past the 15 s a new candidate observes an
    /// expired Lease before taking it).
    pub async fn start(&self, process: &str) {
        match &self.cluster {
            Cluster::Real(s) => s.start_one(process),
            Cluster::Sim { .. } => {
                support::control(
                    &self.client,
                    "component",
                    json!({"name": process, "running": true, "ago": "20s"}),
                )
                .await;
            }
        }
    }

    /// The PodDisruptionBudget version this cluster serves (v1.20: policy/v1beta1 only; the
    /// simulator, a v1.28 cluster: policy/v1).
    pub fn pdb_version(&self) -> &'static str {
        if self.is_real() {
            "policy/v1beta1"
        } else {
            "policy/v1"
        }
    }

    /// Creates `obj` (a manifest) as the admin.
    pub async fn create(&self, obj: Value) {
        let api = self.api_for(&obj);
        let o: DynamicObject = serde_json::from_value(obj.clone()).unwrap();
        api.create(&PostParams::default(), &o)
            .await
            .unwrap_or_else(|e| panic!("{}: create {obj}: {e}", self.label()));
    }

    pub fn api_for(&self, obj: &Value) -> Api<DynamicObject> {
        let av = obj["apiVersion"].as_str().unwrap();
        let kind = obj["kind"].as_str().unwrap();
        let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
        let plural = match kind {
            "PodDisruptionBudget" => "poddisruptionbudgets".to_string(),
            "APIService" => "apiservices".to_string(),
            k => format!("{}s", k.to_lowercase()),
        };
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, kind),
            &plural,
        );
        match obj.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        }
    }
}

/// Waits for `want` on a console's screen, as long as the real control plane may take.
pub fn on_screen(t: &crate::support::tmux::Tmux, want: &str) -> String {
    t.wait_up_to(want, REAL_WAIT, |s| s.contains(want))
}

/// A hollow node as kubemark v1.20.2 registers it (see `scripts/real-apiserver.sh`): loopback
/// address, fake runtime, 1 CPU and 3840Mi; control-plane nodes labelled and tainted NoSchedule.
fn node(name: &str, cp: bool) -> Vec<Value> {
    let mut labels = json!({"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
    let mut spec = json!({"providerID": format!("kubemark://{name}")});
    if cp {
        for r in ["control-plane", "etcd", "master"] {
            labels[format!("node-role.kubernetes.io/{r}")] = json!("true");
        }
        spec["taints"] = json!([{"key": "node-role.kubernetes.io/control-plane", "value": "true", "effect": "NoSchedule"}]);
    } else {
        labels["node-role.kubernetes.io/worker"] = json!("true");
    }
    let cond = |t: &str, s: &str, r: &str, m: &str| {
        json!({"type": t, "status": s, "reason": r, "message": m,
               "lastHeartbeatTime": "$now", "lastTransitionTime": "$now-1m"})
    };
    let capacity = json!({"cpu": "1", "ephemeral-storage": "0", "memory": "3840Mi", "pods": "110"});
    vec![
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels, "creationTimestamp": "-1m"},
            "spec": spec,
            "status": {
                "conditions": [
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
                "capacity": capacity, "allocatable": capacity,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"kubeletVersion": "v1.20.2", "kubeProxyVersion": "v1.20.2", "containerRuntimeVersion": "fakeRuntime://0.1.0",
                    "osImage": "Debian GNU/Linux 7 (wheezy)", "kernelVersion": "3.16.0-0.bpo.4-amd64", "operatingSystem": "linux",
                    "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": ""}}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease", "creationTimestamp": "-1m"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": "$now"}}),
    ]
}

/// The real control plane at rest, as a scenario: the four namespaces, the nodes and their Leases,
/// both leaders' Leases, and the renewals that keep them (every 2 s, as leader election's retry period; nodes every 10 s).
pub fn scenario_for(names: &Names) -> Value {
    let mut objects = Vec::new();
    // kube-root-ca.crt and the default ServiceAccount are the simulator's to publish, as the
    // controller-manager publishes them on the real tier
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "creationTimestamp": "-1m"},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    for w in &names.workers {
        objects.extend(node(w, false));
    }
    for c in &names.cp_nodes {
        objects.extend(node(c, true));
    }
    for (lease, id) in [
        (
            "kube-controller-manager",
            "a1b2c3d4-0000-4000-8000-000000000001",
        ),
        ("kube-scheduler", "a1b2c3d4-0000-4000-8000-000000000002"),
    ] {
        objects.push(
            json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": lease, "namespace": "kube-system", "creationTimestamp": "-1m"},
            "spec": {"holderIdentity": format!("tier-host_{id}"), "leaseDurationSeconds": 15,
                     "acquireTime": "$now-1m", "renewTime": "$now", "leaseTransitions": 0}}),
        );
    }
    json!({
        "name": "control-plane-tier",
        "description": "The real test tier's control plane at rest (hollow nodes, leaders elected).",
        "objects": objects,
        "behaviours": [
            {"name": "renew-leases", "every": "2s", "namespace": "kube-system"},
            {"name": "renew-leases", "every": "10s", "namespace": "kube-node-lease"},
        ],
    })
}
