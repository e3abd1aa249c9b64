//! The executor's exact requests for the Namespaces and Webhooks actions, recorded by a fake API that
//! keeps objects by path and applies patches like a server (JSON patch `test` failures answer 422).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
use ktriage::model::webhooks::WebhookKind;
use ktriage::mutation::{Mutation, Target};
use serde_json::{Value, json};
use support::{FakeApi, Handler, Recorded};

const VWC: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/policy";
const APISVC: &str = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.custom.metrics.k8s.io";
const NS: &str = "/api/v1/namespaces/mon";
const VOL: &str = "/apis/longhorn.io/v1beta2/namespaces/storage/volumes/pvc-1";

fn bump(o: &mut Value) {
    let rv: u64 = o["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    o["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
}

fn invalid() -> (u16, Value) {
    (
        422,
        support::status_json(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        ),
    )
}

/// Objects live in `state.objects[path]`.
fn handler() -> Handler {
    Arc::new(|r: &Recorded, st: &mut Value| {
        let dry = r.query.contains("dryRun=All") || r.body.contains("\"All\"");
        let not_found = || (404, support::status_json(404, "NotFound", "not found"));
        match r.method.as_str() {
            "POST" if r.path.ends_with("selfsubjectreviews") => (
                201,
                json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                       "status": {"userInfo": {"username": "alice@example"}}}),
            ),
            "POST" if r.path.ends_with("/events") => {
                let mut ev: Value = serde_json::from_str(&r.body).unwrap();
                ev["metadata"]["name"] = json!("x.ktriage-1");
                (201, ev)
            }
            "GET" => match st["objects"].get(&r.path) {
                Some(o) => (200, o.clone()),
                None => not_found(),
            },
            "POST" => {
                let obj: Value = serde_json::from_str(&r.body).unwrap();
                let path = format!("{}/{}", r.path, obj["metadata"]["name"].as_str().unwrap());
                if st["objects"].get(&path).is_some() {
                    return (409, support::status_json(409, "AlreadyExists", "exists"));
                }
                let mut stored = obj.clone();
                stored["metadata"]["resourceVersion"] = json!("100");
                if !dry {
                    st["objects"][&path] = stored.clone();
                }
                (201, stored)
            }
            "PATCH" => {
                let Some(cur) = st["objects"].get(&r.path).cloned() else {
                    return not_found();
                };
                let mut new = cur.clone();
                let body: Value = serde_json::from_str(&r.body).unwrap();
                if r.content_type == "application/json-patch+json" {
                    let p: json_patch::Patch = serde_json::from_value(body).unwrap();
                    if json_patch::patch(&mut new, &p).is_err() {
                        return invalid();
                    }
                } else {
                    json_patch::merge(&mut new, &body);
                }
                bump(&mut new);
                let gone = new["metadata"]["deletionTimestamp"].is_string()
                    && new["metadata"]["finalizers"]
                        .as_array()
                        .is_none_or(|a| a.is_empty());
                if !dry {
                    if gone {
                        st["objects"].as_object_mut().unwrap().remove(&r.path);
                    } else {
                        st["objects"][&r.path] = new.clone();
                    }
                }
                (200, new)
            }
            "PUT" if r.path.ends_with("/finalize") => {
                let path = r.path.trim_end_matches("/finalize").to_string();
                let Some(cur) = st["objects"].get(&path).cloned() else {
                    return not_found();
                };
                let body: Value = serde_json::from_str(&r.body).unwrap();
                if body["metadata"]["resourceVersion"] != cur["metadata"]["resourceVersion"] {
                    return (
                        409,
                        support::status_json(409, "Conflict", "the object has been modified"),
                    );
                }
                let mut new = cur.clone();
                new["spec"]["finalizers"] = body["spec"]["finalizers"].clone();
                bump(&mut new);
                if !dry {
                    st["objects"][&path] = new.clone();
                }
                (200, new)
            }
            "DELETE" => {
                let Some(cur) = st["objects"].get(&r.path).cloned() else {
                    return not_found();
                };
                let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
                if let Some(rv) = body["preconditions"]["resourceVersion"].as_str()
                    && cur["metadata"]["resourceVersion"] != rv
                {
                    return (
                        409,
                        support::status_json(409, "Conflict", "precondition failed"),
                    );
                }
                if !dry {
                    st["objects"].as_object_mut().unwrap().remove(&r.path);
                }
                (200, cur)
            }
            _ => not_found(),
        }
    })
}

fn objects() -> Value {
    json!({"objects": {
        VWC: {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
              "metadata": {"name": "policy", "resourceVersion": "5", "uid": "u-1", "labels": {"team": "sec"}},
              "webhooks": [
                {"name": "labels.policy.example", "failurePolicy": "Fail", "sideEffects": "None",
                 "admissionReviewVersions": ["v1"], "clientConfig": {"service": {"namespace": "guard", "name": "svc"}}},
                {"name": "check.policy.example", "failurePolicy": "Fail", "sideEffects": "None", "timeoutSeconds": 3,
                 "admissionReviewVersions": ["v1"], "clientConfig": {"service": {"namespace": "guard", "name": "svc"}}}
              ]},
        APISVC: {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                 "metadata": {"name": "v1beta1.custom.metrics.k8s.io", "resourceVersion": "9", "uid": "u-2",
                              "creationTimestamp": "2026-10-01T00:00:00Z", "managedFields": [{"manager": "helm"}]},
                 "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta1", "groupPriorityMinimum": 100, "versionPriority": 100,
                          "service": {"namespace": "monitoring", "name": "adapter", "port": 443}},
                 "status": {"conditions": [{"type": "Available", "status": "False", "reason": "ServiceNotFound"}]}},
        NS: {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "mon", "resourceVersion": "41", "deletionTimestamp": "2026-11-26T00:00:00Z",
                          "finalizers": ["controller.cattle.io/namespace-auth"]},
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}},
        VOL: {"apiVersion": "longhorn.io/v1beta2", "kind": "Volume",
              "metadata": {"name": "pvc-1", "namespace": "storage", "resourceVersion": "77",
                           "deletionTimestamp": "2026-11-28T00:00:00Z", "finalizers": ["longhorn.io"]}},
    }})
}

async fn executor(api: &FakeApi) -> (Executor, Journal, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let kc = support::write(dir.path(), "kc", &support::kubeconfig(&api.url(), "tok-9"));
    let ktriage::kube::KubeSetup::Ready(target) =
        ktriage::kube::resolve(Some(&kc), None, None).await.unwrap()
    else {
        panic!("not configured")
    };
    let client = ktriage::session::build_client(target.config, false).unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let id = Identity {
        context: "test".into(),
        cluster: "http://fake".into(),
        kube_user: Some("alice".into()),
    };
    (
        Executor::new(client, false, journal.clone(), id),
        journal,
        dir,
    )
}

fn body(r: &Recorded) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

const SSR: &str = "POST /apis/authentication.k8s.io/v1/selfsubjectreviews";
const EVENT_DEFAULT: &str = "POST /api/v1/namespaces/default/events?&fieldManager=ktriage";

#[tokio::test]
async fn failure_policy_toggle_patches_only_the_named_webhook_and_the_annotation() {
    let api = FakeApi::start(objects(), handler()).await;
    let (exec, journal, _d) = executor(&api).await;
    let m = Mutation::SetFailurePolicy {
        kind: WebhookKind::Validating,
        configuration: "policy".into(),
        webhook: "check.policy.example".into(),
        index: 1,
        policy: "Ignore".into(),
        reason: "INC-42: gatekeeper down, unblock pod creation".into(),
    };
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {VWC}"),
            SSR.to_string(),
            format!("PATCH {VWC}?&dryRun=All&fieldManager=ktriage"),
            format!("PATCH {VWC}?&fieldManager=ktriage"),
            EVENT_DEFAULT.to_string(),
            format!("GET {VWC}"),
        ]
    );
    let rec = api.recorded();
    for r in &rec[2..4] {
        assert_eq!(r.content_type, "application/json-patch+json");
        let ops = body(r);
        assert_eq!(ops.as_array().unwrap().len(), 3, "{ops}");
        assert_eq!(
            ops[0],
            json!({"op": "test", "path": "/webhooks/1/name", "value": "check.policy.example"})
        );
        assert_eq!(
            ops[1],
            json!({"op": "replace", "path": "/webhooks/1/failurePolicy", "value": "Ignore"})
        );
        assert_eq!(ops[2]["op"], "add");
        assert_eq!(ops[2]["path"], "/metadata/annotations");
        let note: Value =
            serde_json::from_str(ops[2]["value"]["ktriage.io/last-action"].as_str().unwrap())
                .unwrap();
        assert_eq!(note["who"], "alice@example");
        assert_eq!(note["why"], "INC-42: gatekeeper down, unblock pod creation");
        assert!(note["when"].is_string());
    }
    // only that webhook's policy and the annotation changed
    let now = api.state.lock().unwrap()["objects"][VWC].clone();
    let mut expect = objects()["objects"][VWC].clone();
    expect["webhooks"][1]["failurePolicy"] = json!("Ignore");
    expect["metadata"]["annotations"] = now["metadata"]["annotations"].clone();
    expect["metadata"]["resourceVersion"] = now["metadata"]["resourceVersion"].clone();
    assert_eq!(now, expect);
    // the whole configuration was backed up into the journal before the first request
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries[0]["phase"], "intent");
    assert_eq!(entries[0]["before"], objects()["objects"][VWC]);
    assert_eq!(entries[0]["mutation"]["type"], "set-failure-policy");
    assert_eq!(entries[1]["result"], "applied");
    assert_eq!(
        entries[1]["after"]["webhooks"][1]["failurePolicy"],
        "Ignore"
    );
    assert_eq!(
        entries[1]["side_effects"][0],
        "annotated ktriage.io/last-action (in the same patch)"
    );
}

#[tokio::test]
async fn a_webhook_moved_to_another_index_fails_the_test_op_and_nothing_changes() {
    let api = FakeApi::start(objects(), handler()).await;
    let (exec, journal, _d) = executor(&api).await;
    let m = Mutation::SetFailurePolicy {
        kind: WebhookKind::Validating,
        configuration: "policy".into(),
        webhook: "check.policy.example".into(),
        index: 0,
        policy: "Ignore".into(),
        reason: String::new(),
    };
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Rejected);
    assert_eq!(out.stage, "dry-run");
    assert!(out.summary().contains("422"), "{}", out.summary());
    assert!(
        !api.lines()
            .iter()
            .any(|l| l.starts_with("PATCH") && !l.contains("dryRun"))
    );
    assert_eq!(
        api.state.lock().unwrap()["objects"][VWC],
        objects()["objects"][VWC]
    );
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries[1]["result"], "rejected");
}

#[tokio::test]
async fn remove_finalizer_is_guarded_by_resource_version_and_index() {
    let api = FakeApi::start(objects(), handler()).await;
    let (exec, _journal, _d) = executor(&api).await;
    let target = Target {
        api_version: "longhorn.io/v1beta2".into(),
        kind: "Volume".into(),
        plural: "volumes".into(),
        namespace: Some("storage".into()),
        name: "pvc-1".into(),
    };
    // a stale resourceVersion (someone changed the object since it was shown): 422, nothing sent
    let stale = Mutation::RemoveFinalizer {
        target: target.clone(),
        finalizer: "longhorn.io".into(),
        index: 0,
        resource_version: "76".into(),
    };
    let out = exec.execute(&stale).await;
    assert_eq!(out.result, OutcomeResult::Rejected);
    assert!(
        out.error.as_deref().unwrap().starts_with("422 Invalid"),
        "{out:?}"
    );
    assert!(api.state.lock().unwrap()["objects"].get(VOL).is_some());
    api.requests.lock().unwrap().clear();
    let m = Mutation::RemoveFinalizer {
        target,
        finalizer: "longhorn.io".into(),
        index: 0,
        resource_version: "77".into(),
    };
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {VOL}"),
            SSR.to_string(),
            format!("PATCH {VOL}?&dryRun=All&fieldManager=ktriage"),
            format!("PATCH {VOL}?&fieldManager=ktriage"),
            format!("PATCH {VOL}?&fieldManager=ktriage"),
            "POST /api/v1/namespaces/storage/events?&fieldManager=ktriage".to_string(),
            format!("GET {VOL}"),
        ]
    );
    let rec = api.recorded();
    assert_eq!(
        body(&rec[3]),
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "77"},
            {"op": "test", "path": "/metadata/finalizers/0", "value": "longhorn.io"},
            {"op": "remove", "path": "/metadata/finalizers/0"},
        ])
    );
    // the object went away with its last finalizer: the annotation could not land, the re-read agrees
    assert_eq!(out.side_effects[0], "no annotation: the object is gone");
    assert_eq!(out.after, Some(Value::Null));
}

#[tokio::test]
async fn delete_apiservice_saves_its_yaml_and_restore_brings_it_back() {
    let api = FakeApi::start(objects(), handler()).await;
    let (exec, journal, _d) = executor(&api).await;
    let target = Target::cluster(
        "apiregistration.k8s.io/v1",
        "APIService",
        "apiservices",
        "v1beta1.custom.metrics.k8s.io",
    );
    let out = exec
        .execute(&Mutation::Delete {
            target: target.clone(),
        })
        .await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {APISVC}"),
            SSR.to_string(),
            format!("DELETE {APISVC}?"),
            format!("DELETE {APISVC}?"),
            EVENT_DEFAULT.to_string(),
            format!("GET {APISVC}"),
        ]
        .into_iter()
        .map(|l| l.trim_end_matches('?').to_string())
        .collect::<Vec<_>>()
    );
    let rec = api.recorded();
    let dry = body(&rec[2]);
    assert_eq!(dry["dryRun"], json!(["All"]), "{dry}");
    assert_eq!(dry["preconditions"], json!({"resourceVersion": "9"}));
    let real = body(&rec[3]);
    assert!(real.get("dryRun").is_none(), "{real}");
    let (entries, _) = journal.read().unwrap();
    let saved = entries[0]["before"].clone();
    assert_eq!(saved["spec"]["service"]["name"], "adapter");
    assert!(saved["metadata"].get("managedFields").is_none());
    assert!(api.state.lock().unwrap()["objects"].get(APISVC).is_none());

    // restore from the journal's copy
    api.requests.lock().unwrap().clear();
    let restore = Mutation::Restore {
        target,
        manifest: saved,
    };
    let out = exec.execute(&restore).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    let coll = "/apis/apiregistration.k8s.io/v1/apiservices";
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {APISVC}"),
            SSR.to_string(),
            format!("POST {coll}?&dryRun=All&fieldManager=ktriage"),
            format!("POST {coll}?&fieldManager=ktriage"),
            EVENT_DEFAULT.to_string(),
            format!("GET {APISVC}"),
        ]
    );
    let created = body(&api.recorded()[3]);
    for k in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "managedFields",
    ] {
        assert!(created["metadata"].get(k).is_none(), "{k} in {created}");
    }
    assert!(created.get("status").is_none());
    assert!(created["metadata"]["annotations"]["ktriage.io/last-action"].is_string());
    assert_eq!(created["spec"]["group"], "custom.metrics.k8s.io");
    // restoring again: it exists, nothing is sent beyond the read
    api.requests.lock().unwrap().clear();
    let again = exec.execute(&restore).await;
    assert_eq!(again.result, OutcomeResult::Rejected);
    assert_eq!(api.lines(), vec![format!("GET {APISVC}")]);
}

#[tokio::test]
async fn finalize_puts_empty_spec_finalizers_and_reports_what_still_holds_it() {
    let api = FakeApi::start(objects(), handler()).await;
    let (exec, _journal, _d) = executor(&api).await;
    let out = exec
        .execute(&Mutation::Finalize {
            namespace: "mon".into(),
        })
        .await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {NS}"),
            SSR.to_string(),
            format!("PUT {NS}/finalize?dryRun=All&fieldManager=ktriage"),
            format!("PUT {NS}/finalize?fieldManager=ktriage"),
            format!("PATCH {NS}?&fieldManager=ktriage"),
            EVENT_DEFAULT.to_string(),
            format!("GET {NS}"),
        ]
    );
    let put = body(&api.recorded()[3]);
    assert_eq!(put["spec"]["finalizers"], json!([]));
    assert_eq!(put["metadata"]["resourceVersion"], "41");
    let after = out.after.unwrap();
    assert_eq!(after["spec"]["finalizers"], json!([]));
    assert_eq!(
        after["metadata"]["finalizers"],
        json!(["controller.cattle.io/namespace-auth"]),
        "the namespace's own finalizer still holds it: the next step is shown, not success on a 2xx"
    );
}
