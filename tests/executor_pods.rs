//! The executor's exact requests for the pod, workload and node actions: rollout restart, pod delete,
//! bulk delete of Evicted pods, cordon/uncordon, and drain through the Eviction API (policy/v1, the
//! policy/v1beta1 fallback, a PodDisruptionBudget refusal), recorded by a fake API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
use ktriage::mutation::{Mutation, PodRef};
use serde_json::{Value, json};
use support::{FakeApi, Handler, Recorded};

const DEPLOY: &str = "/apis/apps/v1/namespaces/kube-system/deployments/coredns";
const NODE: &str = "/api/v1/nodes/worker-1";
const SSR: &str = "POST /apis/authentication.k8s.io/v1/selfsubjectreviews";
const PDB_MESSAGE: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

fn pod(ns: &str, name: &str, node: &str, owner: Option<&str>) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "resourceVersion": "3"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": "Running"}});
    if let Some(kind) = owner {
        p["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": kind, "name": "owner", "uid": "o", "controller": true}]);
    }
    p
}

fn pod_path(ns: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{ns}/pods/{name}")
}

fn objects(policy_versions: &[&str]) -> Value {
    let mut objects = json!({
        DEPLOY: {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "coredns", "namespace": "kube-system", "resourceVersion": "7"},
                 "spec": {"replicas": 2, "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}}}}},
        NODE: {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker-1", "resourceVersion": "4"},
               "spec": {}},
    });
    for p in [
        pod("shop", "api-1", "worker-1", Some("ReplicaSet")),
        pod("shop", "db-0", "worker-1", Some("StatefulSet")),
        pod("kube-system", "proxy-x", "worker-1", Some("DaemonSet")),
        pod("shop", "bare", "worker-1", None),
        pod("shop", "other", "worker-2", Some("ReplicaSet")),
        {
            let mut e = pod("shop", "api-old", "worker-2", Some("ReplicaSet"));
            e["status"] = json!({"phase": "Failed", "reason": "Evicted"});
            e
        },
    ] {
        let path = pod_path(
            p["metadata"]["namespace"].as_str().unwrap(),
            p["metadata"]["name"].as_str().unwrap(),
        );
        objects[path] = p;
    }
    let versions: Vec<Value> = policy_versions
        .iter()
        .map(|v| json!({"groupVersion": format!("policy/{v}"), "version": v}))
        .collect();
    // `db-0` is covered by a PodDisruptionBudget that allows no disruption
    json!({"objects": objects, "policy_versions": versions, "pdb_blocks": ["shop/db-0"]})
}

fn handler() -> Handler {
    Arc::new(|r: &Recorded, st: &mut Value| {
        let dry = r.query.contains("dryRun=All") || r.body.contains("\"All\"");
        let not_found = || (404, support::status_json(404, "NotFound", "not found"));
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", p) if p.ends_with("selfsubjectreviews") => (
                201,
                json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                       "status": {"userInfo": {"username": "alice@example"}}}),
            ),
            ("POST", p) if p.ends_with("/events") => {
                let mut ev: Value = serde_json::from_str(&r.body).unwrap();
                ev["metadata"]["name"] = json!("x.ktriage-1");
                (201, ev)
            }
            ("GET", "/apis/policy") => {
                let versions = st["policy_versions"].clone();
                if versions.as_array().unwrap().is_empty() {
                    return not_found();
                }
                (
                    200,
                    json!({"kind": "APIGroup", "apiVersion": "v1", "name": "policy", "versions": versions}),
                )
            }
            ("GET", "/api/v1/pods") => {
                let node = r
                    .query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("fieldSelector=spec.nodeName%3D"))
                    .unwrap_or_default()
                    .to_string();
                let items: Vec<Value> = st["objects"]
                    .as_object()
                    .unwrap()
                    .values()
                    .filter(|o| o["kind"] == "Pod" && o["spec"]["nodeName"] == node.as_str())
                    .cloned()
                    .collect();
                (
                    200,
                    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"}, "items": items}),
                )
            }
            ("GET", p) => match st["objects"].get(p) {
                Some(o) => (200, o.clone()),
                None => not_found(),
            },
            ("POST", p) if p.ends_with("/eviction") => {
                let body: Value = serde_json::from_str(&r.body).unwrap();
                let ns = body["metadata"]["namespace"].as_str().unwrap();
                let name = body["metadata"]["name"].as_str().unwrap();
                let path = pod_path(ns, name);
                if st["objects"].get(&path).is_none() {
                    return not_found();
                }
                let key = format!("{ns}/{name}");
                if st["pdb_blocks"].as_array().unwrap().contains(&json!(key)) {
                    let mut s = support::status_json(429, "TooManyRequests", PDB_MESSAGE);
                    s["details"] = json!({"causes": [{"reason": "DisruptionBudget",
                        "message": "The disruption budget db-pdb needs 1 healthy pods and has 1 currently"}]});
                    return (429, s);
                }
                if !dry {
                    st["objects"].as_object_mut().unwrap().remove(&path);
                }
                (
                    201,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}),
                )
            }
            ("PATCH", p) => {
                let Some(cur) = st["objects"].get(p).cloned() else {
                    return not_found();
                };
                let mut new = cur.clone();
                json_patch::merge(&mut new, &serde_json::from_str(&r.body).unwrap());
                if !dry {
                    st["objects"][p] = new.clone();
                }
                (200, new)
            }
            ("DELETE", p) => {
                let Some(cur) = st["objects"].get(p).cloned() else {
                    return not_found();
                };
                let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
                if let Some(uid) = body["preconditions"]["uid"].as_str()
                    && cur["metadata"]["uid"] != uid
                {
                    return (
                        409,
                        support::status_json(409, "Conflict", "uid precondition failed"),
                    );
                }
                if !dry {
                    st["objects"].as_object_mut().unwrap().remove(p);
                }
                (200, cur)
            }
            _ => not_found(),
        }
    })
}

async fn executor(api: &FakeApi, read_only: bool) -> (Executor, Journal, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let kc = support::write(dir.path(), "kc", &support::kubeconfig(&api.url(), "tok-9"));
    let ktriage::kube::KubeSetup::Ready(target) =
        ktriage::kube::resolve(Some(&kc), None, None).await.unwrap()
    else {
        panic!("not configured")
    };
    let client = ktriage::session::build_executor_client(target.config, read_only).unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let id = Identity {
        context: "test".into(),
        cluster: "http://fake".into(),
        kube_user: Some("alice".into()),
    };
    (
        Executor::new(client, read_only, journal.clone(), id),
        journal,
        dir,
    )
}

fn body(r: &Recorded) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

#[tokio::test]
async fn rollout_restart_sends_the_kubectl_annotation_as_a_strategic_merge_patch() {
    let api = FakeApi::start(objects(&["v1"]), handler()).await;
    let (exec, journal, _d) = executor(&api, false).await;
    let m = Mutation::RolloutRestart {
        kind: "Deployment".into(),
        namespace: "kube-system".into(),
        name: "coredns".into(),
        at: "2026-11-29T07:00:00Z".into(),
    };
    assert_eq!(
        m.kubectl(None),
        "kubectl -n kube-system rollout restart deployment/coredns"
    );
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {DEPLOY}"),
            SSR.to_string(),
            format!("PATCH {DEPLOY}?&dryRun=All&fieldManager=ktriage"),
            format!("PATCH {DEPLOY}?&fieldManager=ktriage"),
            format!("PATCH {DEPLOY}?&fieldManager=ktriage"),
            "POST /api/v1/namespaces/kube-system/events?&fieldManager=ktriage".to_string(),
            format!("GET {DEPLOY}"),
        ]
    );
    let rec = api.recorded();
    for r in &rec[2..4] {
        assert_eq!(r.content_type, "application/strategic-merge-patch+json");
        assert_eq!(
            body(r),
            json!({"spec": {"template": {"metadata": {"annotations":
                {"kubectl.kubernetes.io/restartedAt": "2026-11-29T07:00:00Z"}}}}})
        );
    }
    // the third patch is the ktriage.io/last-action annotation on the Deployment itself
    assert!(body(&rec[4])["metadata"]["annotations"]["ktriage.io/last-action"].is_string());
    let ev = body(&rec[5]);
    assert_eq!(ev["reason"], "KtriageAction");
    assert_eq!(ev["involvedObject"]["kind"], "Deployment");
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries[0]["mutation"]["type"], "rollout-restart");
    assert_eq!(entries[1]["result"], "applied");
}

#[tokio::test]
async fn delete_pod_is_guarded_by_its_uid() {
    let api = FakeApi::start(objects(&["v1"]), handler()).await;
    let (exec, _j, _d) = executor(&api, false).await;
    let path = pod_path("shop", "api-1");
    let m = Mutation::DeletePod {
        namespace: "shop".into(),
        name: "api-1".into(),
        uid: Some("uid-api-1".into()),
        owner: Some("ReplicaSet owner".into()),
    };
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {path}"),
            SSR.to_string(),
            format!("DELETE {path}"),
            format!("DELETE {path}"),
            "POST /api/v1/namespaces/shop/events?&fieldManager=ktriage".to_string(),
            format!("GET {path}"),
        ]
    );
    let rec = api.recorded();
    assert_eq!(body(&rec[2])["dryRun"], json!(["All"]));
    assert_eq!(body(&rec[3])["preconditions"], json!({"uid": "uid-api-1"}));
    assert!(body(&rec[3]).get("dryRun").is_none());
    // a namesake re-created under another uid is never deleted
    let m2 = Mutation::DeletePod {
        namespace: "shop".into(),
        name: "db-0".into(),
        uid: Some("uid-stale".into()),
        owner: None,
    };
    let out = exec.execute(&m2).await;
    assert_eq!(out.result, OutcomeResult::Rejected);
    assert!(out.summary().contains("409"), "{}", out.summary());
}

#[tokio::test]
async fn delete_evicted_pods_deletes_exactly_the_listed_pods() {
    let api = FakeApi::start(objects(&["v1"]), handler()).await;
    let (exec, _j, _d) = executor(&api, false).await;
    let m = Mutation::DeletePods {
        namespace: Some("shop".into()),
        pods: vec![PodRef {
            namespace: "shop".into(),
            name: "api-old".into(),
            uid: Some("uid-api-old".into()),
            reason: "Evicted".into(),
        }],
    };
    assert_eq!(m.kubectl(None), "kubectl -n shop delete pod api-old");
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    let path = pod_path("shop", "api-old");
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {path}"),
            SSR.to_string(),
            format!("DELETE {path}"),
            format!("DELETE {path}"),
            "POST /api/v1/namespaces/default/events?&fieldManager=ktriage".to_string(),
            format!("GET {path}"),
        ]
    );
    assert!(
        out.side_effects
            .contains(&"deleted shop/api-old".to_string())
    );
    assert!(out.summary().contains("deleted 1"), "{}", out.summary());
    assert!(api.state.lock().unwrap()["objects"].get(&path).is_none());
}

#[tokio::test]
async fn cordon_and_uncordon_patch_spec_unschedulable() {
    let api = FakeApi::start(objects(&["v1"]), handler()).await;
    let (exec, _j, _d) = executor(&api, false).await;
    for (want, expect) in [(true, json!(true)), (false, Value::Null)] {
        let before = api.recorded().len();
        let m = Mutation::Cordon {
            node: "worker-1".into(),
            unschedulable: want,
        };
        let out = exec.execute(&m).await;
        assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
        let rec = api.recorded()[before..].to_vec();
        let lines: Vec<String> = rec.iter().map(Recorded::line).collect();
        assert_eq!(
            lines,
            vec![
                format!("GET {NODE}"),
                SSR.to_string(),
                format!("PATCH {NODE}?&dryRun=All&fieldManager=ktriage"),
                format!("PATCH {NODE}?&fieldManager=ktriage"),
                format!("PATCH {NODE}?&fieldManager=ktriage"),
                "POST /api/v1/namespaces/default/events?&fieldManager=ktriage".to_string(),
                format!("GET {NODE}"),
            ]
        );
        assert_eq!(
            rec[3].content_type,
            "application/strategic-merge-patch+json"
        );
        assert_eq!(body(&rec[3]), json!({"spec": {"unschedulable": expect}}));
    }
}

async fn drain(versions: &[&str]) -> (FakeApi, ktriage::kube::executor::Outcome) {
    let api = FakeApi::start(objects(versions), handler()).await;
    let (exec, _j, d) = executor(&api, false).await;
    let out = exec
        .execute(&Mutation::Drain {
            node: "worker-1".into(),
        })
        .await;
    drop(d);
    (api, out)
}

#[tokio::test]
async fn drain_evicts_through_policy_v1_and_reports_what_a_pdb_held() {
    let (api, out) = drain(&["v1", "v1beta1"]).await;
    let lines = api.lines();
    assert_eq!(lines[0], format!("GET {NODE}"));
    assert_eq!(lines[1], "GET /apis/policy");
    assert_eq!(
        lines[2],
        "GET /api/v1/pods?&fieldSelector=spec.nodeName%3Dworker-1"
    );
    assert_eq!(lines[3], SSR);
    let evictions: Vec<Recorded> = api
        .recorded()
        .into_iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .collect();
    // dry run then real, for the two evictable pods only (DaemonSet and bare pods skipped)
    let paths: Vec<&str> = evictions.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    assert!(
        paths
            .iter()
            .all(|p| p.contains("api-1") || p.contains("db-0"))
    );
    let real: Vec<Value> = evictions
        .iter()
        .map(body)
        .filter(|b| b.get("deleteOptions").is_none())
        .collect();
    assert!(
        real.contains(&json!({"apiVersion": "policy/v1", "kind": "Eviction",
                                   "metadata": {"name": "api-1", "namespace": "shop"}}))
    );
    let dry: Vec<Value> = evictions
        .iter()
        .map(body)
        .filter(|b| b.get("deleteOptions").is_some())
        .collect();
    assert_eq!(dry.len(), 2);
    assert!(
        dry.iter()
            .all(|b| b["deleteOptions"] == json!({"dryRun": ["All"]}))
    );
    // the cordon came before any eviction
    let cordon = lines
        .iter()
        .position(|l| l == &format!("PATCH {NODE}?&fieldManager=ktriage"))
        .unwrap();
    let first_real_eviction = api
        .recorded()
        .iter()
        .position(|r| r.path.ends_with("/eviction") && !r.body.contains("dryRun"))
        .unwrap();
    assert!(cordon < first_real_eviction);
    // the report: what moved, what a PDB held, what was skipped and why
    let se = &out.side_effects;
    assert!(se.contains(&"moved shop/api-1".to_string()), "{se:?}");
    assert!(
        se.contains(&format!(
            "held by a PodDisruptionBudget: shop/db-0: {PDB_MESSAGE}"
        )),
        "{se:?}"
    );
    assert!(se.contains(&"skipped kube-system/proxy-x: DaemonSet pod".to_string()));
    assert!(
        se.iter()
            .any(|l| l.starts_with("skipped shop/bare: not managed"))
    );
    assert!(!se.iter().any(|l| l.contains("shop/other")));
    // held pods leave the drain incomplete: unverified, and said so
    assert_eq!(out.result, OutcomeResult::Unverified, "{out:?}");
    assert!(
        out.summary().contains("moved 1, held by a PDB 1"),
        "{}",
        out.summary()
    );
    assert!(out.error.as_deref().unwrap().contains("shop/db-0"));
    let st = api.state.lock().unwrap();
    assert_eq!(st["objects"][NODE]["spec"]["unschedulable"], true);
    assert!(st["objects"].get(pod_path("shop", "api-1")).is_none());
    assert!(st["objects"].get(pod_path("shop", "db-0")).is_some());
}

#[tokio::test]
async fn drain_falls_back_to_policy_v1beta1_on_old_servers() {
    let (api, out) = drain(&["v1beta1"]).await;
    let evictions: Vec<Value> = api
        .recorded()
        .iter()
        .filter(|r| r.path.ends_with("/eviction"))
        .map(body)
        .collect();
    assert!(!evictions.is_empty());
    assert!(
        evictions
            .iter()
            .all(|b| b["apiVersion"] == "policy/v1beta1")
    );
    assert!(out.side_effects.contains(&"moved shop/api-1".to_string()));
}

#[tokio::test]
async fn read_only_refuses_every_pod_and_node_action_and_sends_nothing() {
    let api = FakeApi::start(objects(&["v1"]), handler()).await;
    let (exec, journal, _d) = executor(&api, true).await;
    for m in [
        Mutation::Drain {
            node: "worker-1".into(),
        },
        Mutation::Cordon {
            node: "worker-1".into(),
            unschedulable: true,
        },
        Mutation::RolloutRestart {
            kind: "DaemonSet".into(),
            namespace: "kube-system".into(),
            name: "proxy".into(),
            at: "t".into(),
        },
    ] {
        let out = exec.execute(&m).await;
        assert_eq!(out.result, OutcomeResult::Refused);
    }
    assert!(api.recorded().is_empty(), "{:?}", api.lines());
    assert!(journal.read().map(|(e, _)| e.is_empty()).unwrap_or(true));
}
