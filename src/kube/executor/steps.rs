//! What each mutation reads, sends, annotates and verifies. `Executor::run` calls these in order;
//! adding a mutation means one arm in each function here.

use kube::api::{
    ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions,
};
use kube::{Api, Client};
use serde_json::{Value, json};

use super::{FIELD_MANAGER, LAST_ACTION_ANNOTATION, Step, step_err};
use crate::mutation::{Mutation, Target, failure_policy_ops};

/// The re-read after a write.
pub(super) struct Verified {
    pub after: Option<Value>,
    /// `None` when the re-read shows the intended change.
    pub problem: Option<String>,
}

pub(super) fn dyn_api(client: &Client, t: &Target) -> Api<DynamicObject> {
    let (group, version) = match t.api_version.rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), t.api_version.clone()),
    };
    let ar = ApiResource {
        group,
        version,
        api_version: t.api_version.clone(),
        kind: t.kind.clone(),
        plural: t.plural.clone(),
    };
    match &t.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

pub(super) fn params(dry_run: bool) -> PatchParams {
    PatchParams {
        dry_run,
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// The object as JSON without `managedFields` (noise in the journal).
pub(super) fn plain(o: &DynamicObject) -> Value {
    let mut v = serde_json::to_value(o).unwrap_or(Value::Null);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

pub(super) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

pub(super) async fn get(client: &Client, t: &Target) -> Result<Option<Value>, kube::Error> {
    match dyn_api(client, t).get(&t.name).await {
        Ok(o) => Ok(Some(plain(&o))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A saved manifest made creatable again: server-set fields dropped, ktriage's note added.
pub fn restorable(manifest: &Value, note: &str) -> Value {
    let mut v = manifest.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in [
            "resourceVersion",
            "uid",
            "creationTimestamp",
            "managedFields",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(k);
        }
        let ann = m.entry("annotations").or_insert_with(|| json!({}));
        if let Some(a) = ann.as_object_mut() {
            a.insert(LAST_ACTION_ANNOTATION.into(), json!(note));
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

/// `before`: what the object looks like now (for a restore: nothing, and it must not exist).
pub(super) async fn read(client: &Client, m: &Mutation) -> Result<Value, Step> {
    if let Some(r) = super::pods::read(client, m).await {
        return r;
    }
    match m {
        Mutation::Scale { name, .. } => {
            let s = dyn_api(client, &m.target())
                .get_scale(name)
                .await
                .map_err(step_err)?;
            Ok(json!({ "replicas": s.spec.and_then(|s| s.replicas).unwrap_or(0) }))
        }
        Mutation::Restore { target, .. } => match get(client, target).await {
            Ok(None) => Ok(Value::Null),
            Ok(Some(_)) => Err(Step::Rejected(format!(
                "{} {} exists already: nothing to restore",
                target.kind, target.name
            ))),
            Err(e) => Err(step_err(e)),
        },
        other => {
            let t = other.target();
            dyn_api(client, &t)
                .get(&t.name)
                .await
                .map(|o| plain(&o))
                .map_err(step_err)
        }
    }
}

/// The request itself, as a server-side dry run or for real; returns the report lines of a bulk
/// action (what moved, what a PodDisruptionBudget held).
pub(super) async fn send(
    client: &Client,
    m: &Mutation,
    before: &Value,
    note: &str,
    dry_run: bool,
) -> Result<Vec<String>, Step> {
    if let Some(r) = super::pods::send(client, m, before, dry_run).await {
        return r;
    }
    send_one(client, m, before, note, dry_run)
        .await
        .map(|()| Vec::new())
}

async fn send_one(
    client: &Client,
    m: &Mutation,
    before: &Value,
    note: &str,
    dry_run: bool,
) -> Result<(), Step> {
    let pp = params(dry_run);
    match m {
        Mutation::Scale { name, replicas, .. } => {
            let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
            dyn_api(client, &m.target())
                .patch_scale(name, &pp, &patch)
                .await
                .map(|_| ())
        }
        Mutation::Delete { target } => {
            let dp = DeleteParams {
                dry_run,
                preconditions: Some(Preconditions {
                    resource_version: before
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            dyn_api(client, target)
                .delete(&target.name, &dp)
                .await
                .map(|_| ())
        }
        Mutation::Restore { target, manifest } => {
            let obj: DynamicObject = serde_json::from_value(restorable(manifest, note))
                .map_err(|e| Step::Rejected(format!("the saved manifest is unusable: {e}")))?;
            let post = PostParams {
                dry_run,
                field_manager: Some(FIELD_MANAGER.into()),
            };
            dyn_api(client, target)
                .create(&post, &obj)
                .await
                .map(|_| ())
        }
        Mutation::RemoveFinalizer { target, .. } => {
            let ops: json_patch::Patch = serde_json::from_value(m.patch())
                .map_err(|e| Step::Rejected(format!("bad patch: {e}")))?;
            dyn_api(client, target)
                .patch(&target.name, &pp, &Patch::Json::<()>(ops))
                .await
                .map(|_| ())
        }
        Mutation::Finalize { namespace } => {
            let mut body = before.clone();
            body["spec"]["finalizers"] = json!([]);
            let mut uri = format!("/api/v1/namespaces/{namespace}/finalize?");
            if dry_run {
                uri.push_str("dryRun=All&");
            }
            uri.push_str("fieldManager=");
            uri.push_str(FIELD_MANAGER);
            let req = http::Request::put(uri)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_string().into_bytes())
                .map_err(|e| Step::Failed(e.to_string()))?;
            client.request::<Value>(req).await.map(|_| ())
        }
        Mutation::SetFailurePolicy {
            webhook,
            index,
            policy,
            ..
        } => {
            let has = before
                .pointer("/metadata/annotations")
                .is_some_and(Value::is_object);
            let ops: json_patch::Patch =
                serde_json::from_value(failure_policy_ops(*index, webhook, policy, note, has))
                    .map_err(|e| Step::Rejected(format!("bad patch: {e}")))?;
            let t = m.target();
            dyn_api(client, &t)
                .patch(&t.name, &pp, &Patch::Json::<()>(ops))
                .await
                .map(|_| ())
        }
        // handled in `pods::send`
        Mutation::RolloutRestart { .. }
        | Mutation::DeletePod { .. }
        | Mutation::DeletePods { .. }
        | Mutation::Cordon { .. }
        | Mutation::Drain { .. } => Ok(()),
    }
    .map_err(step_err)
}

/// `ktriage.io/last-action` where the write did not carry it; returns the `side_effects` line.
pub(super) async fn annotate(client: &Client, m: &Mutation, note: &str) -> String {
    let body = Patch::Merge(json!({"metadata": {"annotations": {LAST_ACTION_ANNOTATION: note}}}));
    let pp = params(false);
    let result = match m {
        Mutation::SetFailurePolicy { .. } => {
            return format!("annotated {LAST_ACTION_ANNOTATION} (in the same patch)");
        }
        Mutation::Restore { .. } => {
            return format!("annotated {LAST_ACTION_ANNOTATION} (in the restored object)");
        }
        Mutation::DeletePod { .. } | Mutation::DeletePods { .. } => {
            return "no annotation: the pods are deleted".into();
        }
        Mutation::Delete { .. } => {
            return "no annotation: the object is deleted (its YAML is in the journal's intent line)"
                .into();
        }
        other => {
            let t = other.target();
            dyn_api(client, &t)
                .patch(&t.name, &pp, &body)
                .await
                .map(|_| ())
        }
    };
    match result {
        Ok(()) => format!("annotated {LAST_ACTION_ANNOTATION}"),
        Err(e) if is_not_found(&e) => "no annotation: the object is gone".into(),
        Err(e) => format!("annotation failed: {}", crate::text::error_chain(&e)),
    }
}

pub(super) fn reread_failed(e: &kube::Error) -> Verified {
    Verified {
        after: None,
        problem: Some(format!("re-read failed: {}", crate::text::error_chain(e))),
    }
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Re-read and check that the change is there: never success on a 2xx alone.
pub(super) async fn verify(client: &Client, m: &Mutation) -> Verified {
    if let Some(v) = super::pods::verify(client, m).await {
        return v;
    }
    if let Mutation::Scale { name, replicas, .. } = m {
        return match dyn_api(client, &m.target()).get_scale(name).await {
            Ok(s) => {
                let got = s.spec.and_then(|s| s.replicas).unwrap_or(0);
                Verified {
                    after: Some(json!({ "replicas": got })),
                    problem: (got != *replicas)
                        .then(|| format!("re-read shows {got} replicas, expected {replicas}")),
                }
            }
            Err(e) => reread_failed(&e),
        };
    }
    let t = m.target();
    let now = match get(client, &t).await {
        Ok(v) => v,
        Err(e) => return reread_failed(&e),
    };
    let problem = match (m, &now) {
        (Mutation::Delete { .. }, None) => None,
        (Mutation::Delete { .. }, Some(o)) => Some(format!(
            "{} {} is still there (finalizers {:?})",
            t.kind,
            t.name,
            strs(o.pointer("/metadata/finalizers"))
        )),
        (Mutation::Restore { .. }, Some(_)) => None,
        (Mutation::Restore { .. }, None) => Some("the restored object is not there".into()),
        (_, None) => None, // a finalizer or finalize write that let the object go: it is gone
        (Mutation::RemoveFinalizer { finalizer, .. }, Some(o)) => {
            strs(o.pointer("/metadata/finalizers"))
                .contains(finalizer)
                .then(|| format!("finalizer {finalizer} is still present"))
        }
        (Mutation::Finalize { .. }, Some(o)) => {
            let spec = strs(o.pointer("/spec/finalizers"));
            (!spec.is_empty()).then(|| format!("spec.finalizers still {spec:?}"))
        }
        (
            Mutation::SetFailurePolicy {
                webhook,
                index,
                policy,
                ..
            },
            Some(o),
        ) => {
            let w = o.pointer(&format!("/webhooks/{index}"));
            let name = w.and_then(|w| w.get("name")).and_then(Value::as_str);
            let got = w
                .and_then(|w| w.get("failurePolicy"))
                .and_then(Value::as_str);
            (name != Some(webhook.as_str()) || got != Some(policy.as_str()))
                .then(|| format!("re-read shows failurePolicy {got:?} on {name:?}"))
        }
        (Mutation::Scale { .. }, Some(_)) => None,
        // verified in `pods::verify`
        (
            Mutation::RolloutRestart { .. }
            | Mutation::DeletePod { .. }
            | Mutation::DeletePods { .. }
            | Mutation::Cordon { .. }
            | Mutation::Drain { .. },
            Some(_),
        ) => None,
    };
    Verified {
        after: Some(now.unwrap_or(Value::Null)),
        problem,
    }
}
