//! Reads, requests and re-reads of the pod, workload and node actions (rollout restart, pod delete,
//! bulk delete of Evicted/Failed pods, cordon, drain through the Eviction API). `steps` delegates here.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, Preconditions};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::steps::{Verified, dyn_api, get, is_not_found, params, reread_failed};
use super::{Step, step_err};
use crate::mutation::pods::{RESTARTED_AT_ANNOTATION, cordon_patch, eviction_body, restart_patch};
use crate::mutation::{Mutation, PodRef, Target};

fn pod_target(namespace: &str, name: &str) -> Target {
    Target {
        api_version: "v1".into(),
        kind: "Pod".into(),
        plural: "pods".into(),
        namespace: Some(namespace.into()),
        name: name.into(),
    }
}

fn s(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Why a drain leaves a pod where it is, or `None` when it is evicted.
fn drain_skip(p: &Value) -> Option<&'static str> {
    if p.pointer("/metadata/annotations/kubernetes.io~1config.mirror")
        .is_some()
    {
        return Some("mirror (static) pod");
    }
    let owners = p
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array);
    let controller = owners.and_then(|o| {
        o.iter()
            .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
    });
    match controller
        .and_then(|c| c.get("kind"))
        .and_then(Value::as_str)
    {
        Some("DaemonSet") => Some("DaemonSet pod"),
        Some(_) => None,
        None => Some("not managed by a controller (kubectl drain needs --force)"),
    }
}

fn pod_summary(p: &Value) -> Value {
    json!({
        "namespace": s(p, "/metadata/namespace"),
        "name": s(p, "/metadata/name"),
        "uid": s(p, "/metadata/uid"),
        "phase": s(p, "/status/phase"),
        "skip": drain_skip(p),
    })
}

async fn pods_on(client: &Client, node: &str) -> Result<Vec<Value>, kube::Error> {
    let api: Api<Pod> = Api::all(client.clone());
    let lp = ListParams::default().fields(&format!("spec.nodeName={node}"));
    let list = api.list(&lp).await?;
    Ok(list
        .items
        .iter()
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect())
}

/// `policy/v1` where the server serves it (1.21+), else `policy/v1beta1`.
async fn eviction_version(client: &Client) -> Result<String, kube::Error> {
    let req = http::Request::get("/apis/policy")
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    match client.request::<Value>(req).await {
        Ok(g) => {
            let v1 = g
                .get("versions")
                .and_then(Value::as_array)
                .is_some_and(|vs| vs.iter().any(|v| v.get("version") == Some(&json!("v1"))));
            Ok(if v1 { "v1" } else { "v1beta1" }.into())
        }
        Err(e) if is_not_found(&e) => Ok("v1beta1".into()),
        Err(e) => Err(e),
    }
}

/// `before` of the bulk actions; `None` for the mutations read generically.
pub(super) async fn read(client: &Client, m: &Mutation) -> Option<Result<Value, Step>> {
    Some(match m {
        Mutation::DeletePods { pods, .. } => {
            let mut found = Vec::new();
            for p in pods {
                match get(client, &pod_target(&p.namespace, &p.name)).await {
                    Ok(Some(o)) => found.push(pod_summary(&o)),
                    Ok(None) => {}
                    Err(e) => return Some(Err(step_err(e))),
                }
            }
            if found.is_empty() {
                return Some(Err(Step::Rejected(
                    "none of the listed pods exists any more: nothing to delete".into(),
                )));
            }
            Ok(json!({ "pods": found }))
        }
        Mutation::Drain { node } => {
            let t = Target::cluster("v1", "Node", "nodes", node);
            let n = match dyn_api(client, &t).get(node).await {
                Ok(n) => n,
                Err(e) => return Some(Err(step_err(e))),
            };
            let version = match eviction_version(client).await {
                Ok(v) => v,
                Err(e) => return Some(Err(step_err(e))),
            };
            match pods_on(client, node).await {
                Ok(pods) => Ok(json!({
                    "node": super::steps::plain(&n),
                    "eviction_version": version,
                    "pods": pods.iter().map(pod_summary).collect::<Vec<_>>(),
                })),
                Err(e) => Err(step_err(e)),
            }
        }
        _ => return None,
    })
}

async fn delete_pod(
    client: &Client,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
    dry_run: bool,
) -> Result<(), kube::Error> {
    let dp = DeleteParams {
        dry_run,
        preconditions: uid.filter(|u| !u.is_empty()).map(|u| Preconditions {
            uid: Some(u.to_string()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    api.delete(name, &dp).await.map(|_| ())
}

async fn evict(
    client: &Client,
    version: &str,
    namespace: &str,
    name: &str,
    dry_run: bool,
) -> Result<(), kube::Error> {
    let body = eviction_body(version, namespace, name, dry_run);
    let req = http::Request::post(format!(
        "/api/v1/namespaces/{namespace}/pods/{name}/eviction"
    ))
    .header(http::header::CONTENT_TYPE, "application/json")
    .body(body.to_string().into_bytes())
    .map_err(kube::Error::HttpError)?;
    client.request::<Value>(req).await.map(|_| ())
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
        other => crate::text::error_chain(other),
    }
}

/// The request(s); `Some(report lines)` for the mutations handled here.
pub(super) async fn send(
    client: &Client,
    m: &Mutation,
    before: &Value,
    dry_run: bool,
) -> Option<Result<Vec<String>, Step>> {
    let pp = params(dry_run);
    Some(match m {
        Mutation::RolloutRestart { at, .. } => {
            let t = m.target();
            dyn_api(client, &t)
                .patch(&t.name, &pp, &Patch::Strategic(restart_patch(at)))
                .await
                .map(|_| Vec::new())
                .map_err(step_err)
        }
        Mutation::Cordon { unschedulable, .. } => {
            let t = m.target();
            dyn_api(client, &t)
                .patch(
                    &t.name,
                    &pp,
                    &Patch::Strategic(cordon_patch(*unschedulable)),
                )
                .await
                .map(|_| Vec::new())
                .map_err(step_err)
        }
        Mutation::DeletePod {
            namespace,
            name,
            uid,
            ..
        } => delete_pod(client, namespace, name, uid.as_deref(), dry_run)
            .await
            .map(|_| Vec::new())
            .map_err(step_err),
        Mutation::DeletePods { .. } => delete_listed(client, before, dry_run).await,
        Mutation::Drain { node } => drain(client, node, before, dry_run).await,
        _ => return None,
    })
}

fn listed(before: &Value) -> Vec<Value> {
    before
        .get("pods")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

async fn delete_listed(
    client: &Client,
    before: &Value,
    dry_run: bool,
) -> Result<Vec<String>, Step> {
    let mut report = Vec::new();
    let mut failed = 0;
    let pods = listed(before);
    for p in &pods {
        let (ns, name, uid) = (s(p, "/namespace"), s(p, "/name"), s(p, "/uid"));
        match delete_pod(client, &ns, &name, Some(&uid), dry_run).await {
            Ok(()) => report.push(format!("deleted {ns}/{name}")),
            Err(e) if is_not_found(&e) => report.push(format!("gone already: {ns}/{name}")),
            Err(e) if dry_run => return Err(step_err(e)),
            Err(e) => {
                failed += 1;
                report.push(format!("not deleted: {ns}/{name}: {}", api_message(&e)));
            }
        }
    }
    if failed > 0 && failed == pods.len() {
        return Err(Step::Rejected(report.join("; ")));
    }
    Ok(if dry_run { Vec::new() } else { report })
}

async fn drain(
    client: &Client,
    node: &str,
    before: &Value,
    dry_run: bool,
) -> Result<Vec<String>, Step> {
    let t = Target::cluster("v1", "Node", "nodes", node);
    dyn_api(client, &t)
        .patch(
            node,
            &params(dry_run),
            &Patch::Strategic(cordon_patch(true)),
        )
        .await
        .map_err(step_err)?;
    let version = s(before, "/eviction_version");
    let mut report = vec![format!("cordoned {node}")];
    for p in listed(before) {
        let (ns, name) = (s(&p, "/namespace"), s(&p, "/name"));
        if let Some(why) = p.get("skip").and_then(Value::as_str) {
            report.push(format!("skipped {ns}/{name}: {why}"));
            continue;
        }
        match evict(client, &version, &ns, &name, dry_run).await {
            Ok(()) => report.push(format!("moved {ns}/{name}")),
            Err(kube::Error::Api(st)) if st.code == 429 => report.push(format!(
                "held by a PodDisruptionBudget: {ns}/{name}: {}",
                st.message
            )),
            Err(e) if is_not_found(&e) => report.push(format!("gone already: {ns}/{name}")),
            Err(e) if dry_run => return Err(step_err(e)),
            Err(e) => report.push(format!("not evicted: {ns}/{name}: {}", api_message(&e))),
        }
    }
    Ok(if dry_run { Vec::new() } else { report })
}

/// The re-read of the mutations handled here.
pub(super) async fn verify(client: &Client, m: &Mutation) -> Option<Verified> {
    Some(match m {
        Mutation::RolloutRestart { at, .. } => match get(client, &m.target()).await {
            Ok(o) => {
                let got = o.as_ref().and_then(|o| {
                    o.pointer("/spec/template/metadata/annotations")
                        .and_then(|a| a.get(RESTARTED_AT_ANNOTATION))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                Verified {
                    problem: (got.as_deref() != Some(at.as_str()))
                        .then(|| format!("re-read shows {RESTARTED_AT_ANNOTATION} {got:?}")),
                    after: o,
                }
            }
            Err(e) => reread_failed(&e),
        },
        Mutation::Cordon {
            unschedulable,
            node,
        } => node_check(client, node, *unschedulable).await,
        Mutation::DeletePod {
            namespace,
            name,
            uid,
            ..
        } => {
            let p = PodRef {
                namespace: namespace.clone(),
                name: name.clone(),
                uid: uid.clone(),
                reason: String::new(),
            };
            pods_gone(client, std::slice::from_ref(&p)).await
        }
        Mutation::DeletePods { pods, .. } => pods_gone(client, pods).await,
        Mutation::Drain { node } => {
            let mut v = node_check(client, node, true).await;
            if v.problem.is_some() {
                return Some(v);
            }
            match pods_on(client, node).await {
                Ok(pods) => {
                    let left: Vec<String> = pods
                        .iter()
                        .filter(|p| drain_skip(p).is_none())
                        .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
                        .map(|p| {
                            format!("{}/{}", s(p, "/metadata/namespace"), s(p, "/metadata/name"))
                        })
                        .collect();
                    v.after = Some(json!({"node": v.after, "pods_left": left}));
                    if !left.is_empty() {
                        v.problem = Some(format!(
                            "drain incomplete: {} pod(s) still on {node}: {}",
                            left.len(),
                            left.join(", ")
                        ));
                    }
                    v
                }
                Err(e) => reread_failed(&e),
            }
        }
        _ => return None,
    })
}

async fn node_check(client: &Client, node: &str, want: bool) -> Verified {
    match get(client, &Target::cluster("v1", "Node", "nodes", node)).await {
        Ok(o) => {
            let got = o
                .as_ref()
                .and_then(|o| o.pointer("/spec/unschedulable"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            Verified {
                problem: (got != want)
                    .then(|| format!("re-read shows spec.unschedulable {got}, expected {want}")),
                after: o,
            }
        }
        Err(e) => reread_failed(&e),
    }
}

/// Gone, re-created under a new uid, or terminating: each listed pod.
async fn pods_gone(client: &Client, pods: &[PodRef]) -> Verified {
    let mut left = Vec::new();
    for p in pods {
        match get(client, &pod_target(&p.namespace, &p.name)).await {
            Ok(None) => {}
            Ok(Some(o)) => {
                let same = p.uid.as_deref().is_none_or(|u| s(&o, "/metadata/uid") == u);
                if same && o.pointer("/metadata/deletionTimestamp").is_none() {
                    left.push(p.path());
                }
            }
            Err(e) => return reread_failed(&e),
        }
    }
    Verified {
        problem: (!left.is_empty()).then(|| format!("still there: {}", left.join(", "))),
        after: Some(json!({ "still_there": left })),
    }
}
