//! The chapter's stories on the real control plane and on the simulator. Each story runs the same
//! steps through the API on both and returns ktriage's findings (id, severity, subject) at each
//! checkpoint; `conformance` then requires the simulator to agree with the real control plane, and
//! with itself under the other set of names.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};
use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, Outcome, OutcomeResult};
use ktriage::model::webhooks::WebhookKind;
use ktriage::mutation::{Mutation, Target};
use kube::api::{Api, DeleteParams, ListParams};
use serde_json::{Value, json};

use crate::tier::{Key, Names, Tier, keys, renamed};

pub type Checkpoints = Vec<(&'static str, BTreeSet<Key>)>;

fn find<'a>(doc: &'a Value, id: &str, name: &str) -> Option<&'a Value> {
    doc["findings"]
        .as_array()?
        .iter()
        .find(|f| f["id"] == id && f["subject"]["name"] == name)
}

fn has_id(doc: &Value, id: &str) -> bool {
    doc["findings"]
        .as_array()
        .is_some_and(|fs| fs.iter().any(|f| f["id"] == id))
}

fn executor(t: &Tier, dir: &std::path::Path) -> (Executor, Journal) {
    let journal = Journal::new(dir.join("journal.jsonl"));
    let id = Identity {
        context: format!("admin@{}", t.label()),
        cluster: t.label().into(),
        kube_user: Some("admin".into()),
    };
    (
        Executor::new(t.client.clone(), false, journal.clone(), id),
        journal,
    )
}

async fn apply(t: &Tier, objs: Vec<Value>) {
    for o in objs {
        t.create(o).await;
    }
}

fn ns(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

fn deployment(ns: &str, name: &str, replicas: i32, limits: bool) -> Value {
    let mut c = json!({"name": "app", "image": "registry.example.internal/app:1.0"});
    if limits {
        c["resources"] = json!({"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}});
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [c]}}}})
}

/// A Deployment with limits whose replicas must run on different nodes (required pod
/// anti-affinity per node), so where they run does not depend on the scheduler's scoring.
fn guarded(ns: &str, name: &str, replicas: i32) -> Value {
    let mut d = deployment(ns, name, replicas, true);
    d["spec"]["template"]["spec"]["affinity"] = json!({"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname",
            "labelSelector": {"matchLabels": {"app": name}}}]}});
    d
}

/// Pods of a Deployment (by its `app` label) that run and are not being deleted.
async fn running(t: &Tier, ns: &str, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), ns);
    let lp = ListParams::default().labels(&format!("app={app}"));
    pods.list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect()
}

pub async fn wait_running(t: &Tier, ns: &str, app: &str, n: usize) -> Vec<Pod> {
    t.until(&format!("{n} running pod(s) of {ns}/{app}"), || async {
        let p = running(t, ns, app).await;
        (p.len() == n).then_some(p)
    })
    .await
}

/// Leaders: the scheduler and the controller-manager stopped → `leader-missing` on their real
/// Leases (kept holder, no renewal); started again → a new holder takes each Lease, resolved.
pub async fn leaders(t: &Tier) -> Checkpoints {
    let mut cps = Checkpoints::new();
    let doc = t.report().await;
    cps.push(("at rest", keys(&doc)));
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(t.client.clone(), "kube-system");
    let before = leases.get("kube-scheduler").await.unwrap();
    for p in ["kube-scheduler", "kube-controller-manager"] {
        t.stop(p).await;
    }
    let doc = t
        .report_until("leader-missing for both leaders", |d| {
            find(d, "leader-missing", "kube-scheduler").is_some()
                && find(d, "leader-missing", "kube-controller-manager").is_some()
        })
        .await;
    for p in ["kube-scheduler", "kube-controller-manager"] {
        let f = find(&doc, "leader-missing", p).unwrap();
        assert_eq!(f["severity"], "critical", "{}: {f:#}", t.label());
        assert_eq!(f["subject"]["kind"], "Lease");
        assert_eq!(f["subject"]["namespace"], "kube-system");
        // the holder is kept: a stopped leader does not release its Lease
        assert_ne!(f["details"]["holder"], "", "{}: {f:#}", t.label());
    }
    cps.push(("leaders stopped", keys(&doc)));
    for p in ["kube-scheduler", "kube-controller-manager"] {
        t.start(p).await;
    }
    let doc = t
        .report_until("the leaders back", |d| !has_id(d, "leader-missing"))
        .await;
    let after = leases.get("kube-scheduler").await.unwrap();
    let (b, a) = (before.spec.unwrap(), after.spec.unwrap());
    assert_ne!(
        a.holder_identity,
        b.holder_identity,
        "{}: a new holder",
        t.label()
    );
    assert_eq!(
        a.lease_transitions.unwrap_or(0),
        b.lease_transitions.unwrap_or(0) + 1,
        "{}",
        t.label()
    );
    cps.push(("leaders started", keys(&doc)));
    cps
}

/// The policy webhook (Fail, pod CREATE outside its own namespace and kube-system) whose Service
/// selects no pod, so it has no endpoints; returns once pod creation in the app namespace (which
/// must exist) is refused: the API server learns of configurations through an informer.
pub async fn fail_webhook(t: &Tier) {
    let n = &t.names;
    apply(t, vec![ns(&n.hook_ns),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": n.hook_svc, "namespace": n.hook_ns},
               "spec": {"selector": {"app": n.hook_svc}, "ports": [{"port": 443, "targetPort": 8443}]}}),
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": n.hook_cfg},
            "webhooks": [{"name": n.hook, "failurePolicy": "Fail", "sideEffects": "None",
                "admissionReviewVersions": ["v1"], "timeoutSeconds": 3,
                "clientConfig": {"service": {"namespace": n.hook_ns, "name": n.hook_svc, "path": "/v1/admit"}},
                "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                    "values": [n.hook_ns, "kube-system"]}]},
                "rules": [{"apiGroups": [""], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["pods"]}]}]}),
    ]).await;
    let pods: Api<Pod> = Api::namespaced(t.client.clone(), &n.app_ns);
    let probe: Pod = serde_json::from_value(json!({"metadata": {"name": "probe"},
        "spec": {"automountServiceAccountToken": false, "containers": [{"name": "c", "image": "x"}]}}))
    .unwrap();
    t.until("pod creation refused by the webhook", || async {
        match pods.create(&Default::default(), &probe).await {
            Ok(_) => {
                let _ = pods
                    .delete("probe", &DeleteParams::default().grace_period(0))
                    .await;
                None
            }
            Err(e) => Some(e),
        }
    })
    .await;
}

/// An unavailable APIService (its Service missing) and a deleted namespace with content.
async fn apiservice_holding(t: &Tier, api_name: &str) {
    let n = &t.names;
    apply(t, vec![
        json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": api_name},
            "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100,
                     "versionPriority": 100, "insecureSkipTLSVerify": true,
                     "service": {"namespace": n.adapter_ns, "name": n.adapter_svc}}}),
        ns(&n.doomed_ns),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": n.doomed_ns}, "data": {"k": "v"}}),
    ]).await;
    let nss: Api<Namespace> = Api::all(t.client.clone());
    nss.delete(&n.doomed_ns, &DeleteParams::default())
        .await
        .unwrap();
}

/// Every kind of action on offer at once, for the read-only proof: a running Deployment without
/// limits (scale, restart, delete, cordon, drain), the Fail webhook (toggle, delete), the
/// unavailable APIService holding a Terminating namespace (delete, finalize).
pub async fn every_action_offered(t: &Tier) {
    let n = &t.names;
    apply(
        t,
        vec![ns(&n.app_ns), deployment(&n.app_ns, &n.runaway, 1, false)],
    )
    .await;
    wait_running(t, &n.app_ns, &n.runaway, 1).await;
    fail_webhook(t).await;
    apiservice_holding(t, "v1beta1.custom.metrics.k8s.io").await;
}

/// The app namespace, the Fail webhook, and a Deployment (two replicas, with limits) whose pods it
/// refuses; answers the ReplicaSet controller's `FailedCreate` event.
pub async fn blocked_deployment(t: &Tier) -> Event {
    let n = &t.names;
    apply(t, vec![ns(&n.app_ns)]).await;
    fail_webhook(t).await;
    apply(t, vec![guarded(&n.app_ns, &n.guarded, 2)]).await;
    let events: Api<Event> = Api::namespaced(t.client.clone(), &n.app_ns);
    t.until("the ReplicaSet controller's FailedCreate event", || async {
        let l = events.list(&ListParams::default()).await.ok()?;
        l.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("FailedCreate")
                && e.involved_object.kind.as_deref() == Some("ReplicaSet")
        })
    })
    .await
}

/// A Fail webhook on pod creation whose Service has no endpoints: the ReplicaSet controller's
/// `FailedCreate` events and `webhook-blocking`; the toggle to Ignore, and the pods appear.
pub async fn webhook(t: &Tier, dir: &std::path::Path) -> Checkpoints {
    let n = &t.names;
    let mut cps = Checkpoints::new();
    let ev = blocked_deployment(t).await;
    let msg = ev.message.unwrap_or_default();
    assert!(
        msg.contains(&format!("failed calling webhook \"{}\"", n.hook))
            && msg.contains(&format!(
                "no endpoints available for service \"{}\"",
                n.hook_svc
            )),
        "{}: {msg}",
        t.label()
    );
    assert_eq!(
        ev.source.and_then(|s| s.component).as_deref(),
        Some("replicaset-controller")
    );
    let doc = t
        .report_until("webhook-blocking", |d| {
            find(d, "webhook-blocking", &n.hook_cfg).is_some()
        })
        .await;
    let f = find(&doc, "webhook-blocking", &n.hook_cfg).unwrap();
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["subject"]["part"], n.hook.as_str());
    assert!(
        f.to_string().contains(&n.app_ns),
        "{}: blocked namespaces: {f:#}",
        t.label()
    );
    cps.push(("webhook blocking", keys(&doc)));
    let (exec, _) = executor(t, dir);
    let toggle = Mutation::SetFailurePolicy {
        kind: WebhookKind::Validating,
        configuration: n.hook_cfg.clone(),
        webhook: n.hook.clone(),
        index: 0,
        policy: "Ignore".into(),
        reason: "policy webhook down, unblocking pod creation".into(),
    };
    let out = exec.execute(&toggle).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{}: {out:?}", t.label());
    wait_running(t, &n.app_ns, &n.guarded, 2).await;
    let doc = t
        .report_until("webhook-blocking resolved", |d| {
            !has_id(d, "webhook-blocking")
        })
        .await;
    cps.push(("webhook toggled", keys(&doc)));
    cps
}

/// An unavailable APIService: the namespace controller's `NamespaceDeletionDiscoveryFailure` on a
/// deleted namespace, `apiservice-unavailable` and `namespace-stuck`; the fix in its order (the
/// APIService first) empties the namespace and it goes.
pub async fn apiservice(t: &Tier, dir: &std::path::Path) -> Checkpoints {
    let n = &t.names;
    let api_name = "v1beta1.custom.metrics.k8s.io";
    let mut cps = Checkpoints::new();
    apiservice_holding(t, api_name).await;
    let nss: Api<Namespace> = Api::all(t.client.clone());
    let cond = t
        .until("the namespace controller's discovery failure", || async {
            let ns = nss.get(&n.doomed_ns).await.ok()?;
            ns.status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "NamespaceDeletionDiscoveryFailure" && c.status == "True")
        })
        .await;
    assert_eq!(
        cond.reason.as_deref(),
        Some("DiscoveryFailed"),
        "{}",
        t.label()
    );
    assert!(
        cond.message
            .as_deref()
            .unwrap_or("")
            .contains("custom.metrics.k8s.io/v1beta1"),
        "{}: {cond:?}",
        t.label()
    );
    // what can be discovered is deleted meanwhile
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(t.client.clone(), &n.doomed_ns);
    t.until("the namespace's content deleted", || async {
        cms.get_opt("settings").await.ok()?.is_none().then_some(())
    })
    .await;
    let doc = t
        .report_until("namespace-stuck", |d| {
            find(d, "namespace-stuck", &n.doomed_ns).is_some()
                && find(d, "apiservice-unavailable", api_name).is_some()
        })
        .await;
    let stuck = find(&doc, "namespace-stuck", &n.doomed_ns).unwrap();
    assert_eq!(
        stuck["details"]["blocker"],
        format!("apiservice:{api_name}"),
        "{stuck:#}"
    );
    cps.push(("namespace stuck", keys(&doc)));
    let (exec, journal) = executor(t, dir);
    let fix = Mutation::Delete {
        target: Target::cluster(
            "apiregistration.k8s.io/v1",
            "APIService",
            "apiservices",
            api_name,
        ),
    };
    let out = exec.execute(&fix).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{}: {out:?}", t.label());
    t.until("the namespace gone", || async {
        nss.get_opt(&n.doomed_ns)
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    let doc = t.report().await;
    assert!(
        !has_id(&doc, "namespace-stuck") && !has_id(&doc, "apiservice-unavailable"),
        "{doc:#}"
    );
    // the APIService's YAML is in the journal, so it can be restored
    let (entries, _) = journal.read().unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e["phase"] == "intent" && e.to_string().contains(api_name))
    );
    cps.push(("apiservice deleted", keys(&doc)));
    cps
}

/// A Deployment without limits beside one guarded by a PodDisruptionBudget (minAvailable = its
/// replicas): `pod-no-limits`; scaled to 0; then a drain of a node through the Eviction API, which
/// the budget's `disruptionsAllowed` (0, kept by the disruption controller) holds.
pub async fn runaway(t: &Tier, dir: &std::path::Path) -> (Checkpoints, String) {
    let n = &t.names;
    let mut cps = Checkpoints::new();
    apply(t, vec![
        ns(&n.app_ns),
        deployment(&n.app_ns, &n.runaway, 2, false),
        guarded(&n.app_ns, &n.guarded, 2),
        json!({"apiVersion": t.pdb_version(), "kind": "PodDisruptionBudget", "metadata": {"name": n.guarded, "namespace": n.app_ns},
               "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": n.guarded}}}}),
    ]).await;
    wait_running(t, &n.app_ns, &n.runaway, 2).await;
    let guarded = wait_running(t, &n.app_ns, &n.guarded, 2).await;
    let pdb_api = t.api_for(
        &json!({"apiVersion": t.pdb_version(), "kind": "PodDisruptionBudget",
        "metadata": {"namespace": n.app_ns}}),
    );
    let status = t
        .until("the budget's status", || async {
            let p = pdb_api.get(&n.guarded).await.ok()?;
            let s = p.data.get("status").cloned()?;
            (s["currentHealthy"] == 2).then_some(s)
        })
        .await;
    assert_eq!(status["disruptionsAllowed"], 0, "{}: {status}", t.label());
    assert_eq!(status["desiredHealthy"], 2, "{}: {status}", t.label());
    let doc = t
        .report_until("pod-no-limits", |d| {
            find(d, "pod-no-limits", &n.runaway).is_some()
        })
        .await;
    let f = find(&doc, "pod-no-limits", &n.runaway).unwrap();
    assert_eq!(f["subject"]["kind"], "Deployment", "{f:#}");
    cps.push(("runaway running", keys(&doc)));
    let (exec, _) = executor(t, dir);
    let scale = Mutation::Scale {
        kind: "Deployment".into(),
        namespace: n.app_ns.clone(),
        name: n.runaway.clone(),
        replicas: 0,
    };
    let out = exec.execute(&scale).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{}: {out:?}", t.label());
    wait_running(t, &n.app_ns, &n.runaway, 0).await;
    let doc = t
        .report_until("pod-no-limits resolved", |d| !has_id(d, "pod-no-limits"))
        .await;
    cps.push(("runaway scaled to 0", keys(&doc)));
    // drain a node that runs a guarded pod: the budget holds it
    let node = guarded[0].spec.as_ref().unwrap().node_name.clone().unwrap();
    let out: Outcome = exec.execute(&Mutation::Drain { node: node.clone() }).await;
    let tally = out.tally().unwrap_or_default();
    let held = guarded
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.as_str()))
        .map(|p| p.metadata.name.clone().unwrap())
        .collect::<Vec<_>>();
    for p in &held {
        assert!(
            out.side_effects
                .iter()
                .any(|l| l.starts_with("held by a PodDisruptionBudget") && l.contains(p.as_str())),
            "{}: {p} held: {out:#?}",
            t.label()
        );
    }
    // the budget's own words, from the Eviction API
    let status = evict(t, &n.app_ns, &held[0]).await;
    assert_eq!(status["code"], 429, "{}: {status}", t.label());
    assert_eq!(
        status["details"]["causes"][0]["message"],
        format!(
            "The disruption budget {} needs 2 healthy pods and has 2 currently",
            n.guarded
        ),
        "{}: {status}",
        t.label()
    );
    let nodes: Api<Node> = Api::all(t.client.clone());
    let cordoned = nodes.get(&node).await.unwrap().spec.unwrap().unschedulable;
    assert_eq!(cordoned, Some(true), "{}: {node} cordoned", t.label());
    assert_eq!(
        running(t, &n.app_ns, &n.guarded).await.len(),
        2,
        "{}",
        t.label()
    );
    let doc = t.report().await;
    cps.push(("node drained", keys(&doc)));
    (cps, format!("{:?}: {tally}", out.result))
}

/// `POST …/pods/NAME/eviction` (policy/v1beta1, which both serve); answers the Status.
async fn evict(t: &Tier, ns: &str, pod: &str) -> Value {
    let body = json!({"apiVersion": "policy/v1beta1", "kind": "Eviction",
        "metadata": {"name": pod, "namespace": ns}});
    let (_, _, text) = crate::support::raw(
        &t.client,
        "POST",
        &format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction"),
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text}))
}

/// Requires each tier's checkpoints to agree: the simulator with itself under other names, and
/// with the real control plane.
pub fn assert_same(label: &str, want: &Checkpoints, got: &Checkpoints) {
    assert_eq!(want.len(), got.len(), "{label}: checkpoints");
    for ((at, w), (_, g)) in want.iter().zip(got) {
        let only_want: Vec<&Key> = w.difference(g).collect();
        let only_got: Vec<&Key> = g.difference(w).collect();
        assert!(
            only_want.is_empty() && only_got.is_empty(),
            "{label}, {at}: findings differ\n  only in the first: {only_want:#?}\n  only in the second: {only_got:#?}"
        );
    }
}

pub fn renamed_all(cps: &Checkpoints, from: &Names, to: &Names) -> Checkpoints {
    cps.iter()
        .map(|(at, k)| (*at, renamed(k, from, to)))
        .collect()
}
