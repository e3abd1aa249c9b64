//! The read-only proof and the executor's exact requests, recorded by the server that received them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use k8s_openapi::api::core::v1::{Event, Namespace};
use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
use ktriage::kube::gate::{allowed_read_only, is_refusal};
use ktriage::mutation::Mutation;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use support::mutations::every_mutation;
use support::{FakeApi, Handler, Recorded};

/// A fake API holding one deployment's replicas in `state.replicas`.
fn cluster_handler(reject_dry_run: Option<(u16, &'static str)>) -> Handler {
    Arc::new(move |r: &Recorded, st: &mut Value| {
        let scale = |n: &Value| {
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale",
                   "metadata": {"name": "api", "namespace": "shop", "resourceVersion": "7"},
                   "spec": {"replicas": n}, "status": {"replicas": n}})
        };
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/version") => (
                200,
                json!({"major": "1", "minor": "28", "gitVersion": "v1.28.9+rke2r1"}),
            ),
            ("GET", "/apis/apps/v1/namespaces/shop/deployments/api/scale") => {
                (200, scale(&st["replicas"]))
            }
            ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/api/scale") => {
                let dry = r.query.contains("dryRun=All");
                if dry && let Some((code, reason)) = reject_dry_run {
                    return (
                        code,
                        support::status_json(code, reason, "deployments.apps \"api\" is forbidden"),
                    );
                }
                let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
                let n = body["spec"]["replicas"].clone();
                if !dry {
                    st["replicas"] = n.clone();
                }
                (200, scale(&n))
            }
            ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/api") => (
                200,
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": "api", "namespace": "shop"}}),
            ),
            ("POST", "/api/v1/namespaces/shop/events") => {
                let mut ev: Value = serde_json::from_str(&r.body).unwrap_or_default();
                ev["metadata"]["name"] = json!("api.ktriage-x");
                (201, ev)
            }
            ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews") => (
                201,
                json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                       "status": {"userInfo": {"username": "alice@example"}}}),
            ),
            ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => (
                201,
                json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                       "spec": {}, "status": {"allowed": true}}),
            ),
            ("GET", "/api/v1/namespaces") => (
                200,
                json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": "1"}, "items": []}),
            ),
            _ => (
                404,
                support::status_json(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
            ),
        }
    })
}

async fn client_for(api: &FakeApi, read_only: bool) -> kube::Client {
    let dir = tempfile::tempdir().unwrap();
    let kc = support::write(
        dir.path(),
        "kc",
        &support::kubeconfig(&api.url(), "tok-123"),
    );
    let setup = ktriage::kube::resolve(Some(&kc), None, None).await.unwrap();
    let ktriage::kube::KubeSetup::Ready(target) = setup else {
        panic!("not configured")
    };
    ktriage::session::build_client(target.config, read_only).unwrap()
}

fn identity() -> Identity {
    Identity {
        context: "test".into(),
        cluster: "http://fake".into(),
        kube_user: Some("alice".into()),
    }
}

#[tokio::test]
async fn read_only_session_sends_nothing_for_every_mutation() {
    let api = FakeApi::start(json!({"replicas": 3}), cluster_handler(None)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    // read-only at both levels, as a real read-only session is
    let exec = Executor::new(
        client_for(&api, true).await,
        true,
        journal.clone(),
        identity(),
    );
    for m in every_mutation() {
        let out = exec.execute(&m).await;
        assert_eq!(out.result, OutcomeResult::Refused, "{m:?}");
        assert!(out.summary().contains("nothing was sent"));
    }
    // the executor refuses first; even with the executor's check bypassed, the gate refuses
    let unguarded = Executor::new(
        client_for(&api, true).await,
        false,
        journal.clone(),
        identity(),
    );
    for m in every_mutation() {
        let out = unguarded.execute(&m).await;
        assert_ne!(out.result, OutcomeResult::Applied, "{m:?}");
    }
    for r in api.recorded() {
        let method = http::Method::from_bytes(r.method.as_bytes()).unwrap();
        assert!(
            allowed_read_only(&method, &r.path),
            "read-only session sent {}",
            r.line()
        );
    }
    assert!(
        api.recorded()
            .iter()
            .all(|r| r.method == "GET" || r.path.ends_with("selfsubjectreviews")),
        "{:?}",
        api.lines()
    );
    assert_eq!(api.state.lock().unwrap()["replicas"], 3, "nothing changed");
    // a refusal by the executor writes no journal line; the unguarded run wrote an intent at most
    let (entries, _) = journal.read().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e["phase"] != "outcome" || e["result"] != "applied")
    );
}

#[tokio::test]
async fn read_only_gate_refuses_direct_writes_before_sending() {
    let api = FakeApi::start(json!({"replicas": 3}), cluster_handler(None)).await;
    let client = client_for(&api, true).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let pp = PatchParams::default();
    let err = deploys
        .patch_scale("api", &pp, &Patch::Merge(json!({"spec": {"replicas": 0}})))
        .await
        .unwrap_err();
    assert!(is_refusal(&err), "{err}");
    assert!(err.to_string().contains("read-only mode"), "{err}");
    let dry = PatchParams {
        dry_run: true,
        ..PatchParams::default()
    };
    assert!(is_refusal(
        &deploys
            .patch("api", &dry, &Patch::Merge(json!({})))
            .await
            .unwrap_err()
    ));
    assert!(is_refusal(
        &deploys
            .delete("api", &DeleteParams::default())
            .await
            .unwrap_err()
    ));
    let events: Api<Event> = Api::namespaced(client.clone(), "shop");
    assert!(is_refusal(
        &events
            .create(&PostParams::default(), &Event::default())
            .await
            .unwrap_err()
    ));
    // reads and self-reviews go through
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.list(&ListParams::default()).await.unwrap();
    let ssar: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    ssar.create(&PostParams::default(), &SelfSubjectAccessReview::default())
        .await
        .unwrap();
    assert_eq!(
        api.lines(),
        vec![
            "GET /api/v1/namespaces".to_string(),
            "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews".to_string()
        ]
    );
}

#[tokio::test]
async fn read_write_scale_sends_exactly_the_expected_requests() {
    let api = FakeApi::start(json!({"replicas": 3}), cluster_handler(None)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let exec = Executor::new(
        client_for(&api, false).await,
        false,
        journal.clone(),
        identity(),
    );
    let m = every_mutation().remove(0);
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    assert_eq!(out.before, Some(json!({"replicas": 3})));
    assert_eq!(out.after, Some(json!({"replicas": 0})));
    let scale = "/apis/apps/v1/namespaces/shop/deployments/api/scale";
    assert_eq!(
        api.lines(),
        vec![
            format!("GET {scale}"),
            "POST /apis/authentication.k8s.io/v1/selfsubjectreviews".to_string(),
            format!("PATCH {scale}?&dryRun=All&fieldManager=ktriage"),
            format!("PATCH {scale}?&fieldManager=ktriage"),
            "PATCH /apis/apps/v1/namespaces/shop/deployments/api?&fieldManager=ktriage".to_string(),
            "POST /api/v1/namespaces/shop/events?&fieldManager=ktriage".to_string(),
            format!("GET {scale}"),
        ]
    );
    let rec = api.recorded();
    for r in &rec[2..4] {
        assert_eq!(r.content_type, "application/merge-patch+json");
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap(),
            json!({"spec": {"replicas": 0}})
        );
    }
    let annotation: Value = serde_json::from_str(&rec[4].body).unwrap();
    let note: Value = serde_json::from_str(
        annotation["metadata"]["annotations"]["ktriage.io/last-action"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(note["who"], "alice@example");
    assert_eq!(note["why"], "scale deployment shop/api to 0 replicas");
    let event: Value = serde_json::from_str(&rec[5].body).unwrap();
    assert_eq!(event["reason"], "KtriageAction");
    assert_eq!(event["involvedObject"]["kind"], "Deployment");
    assert_eq!(event["involvedObject"]["name"], "api");
    // who did it, for the other consoles' dialogs (tests/war_room.rs reads it back)
    let message = event["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "scale deployment shop/api to 0 replicas by alice@example (ktriage action "
        ),
        "{message}"
    );
    // journal: intent (with before) then outcome
    let (entries, warnings) = journal.read().unwrap();
    assert!(warnings.is_empty());
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["phase"], "intent");
    assert_eq!(entries[0]["before"], json!({"replicas": 3}));
    assert_eq!(entries[0]["user"]["kubernetes"], "alice@example");
    assert_eq!(
        entries[0]["mutation"]["patch"],
        json!({"spec": {"replicas": 0}})
    );
    assert_eq!(entries[1]["phase"], "outcome");
    assert_eq!(entries[1]["id"], entries[0]["id"]);
    assert_eq!(entries[1]["result"], "applied");
    assert_eq!(entries[1]["after"], json!({"replicas": 0}));
    let text = std::fs::read_to_string(journal.path()).unwrap();
    assert!(
        !text.contains("tok-123"),
        "the token leaked into the journal"
    );
}

#[tokio::test]
async fn forbidden_dry_run_is_rejected_and_journaled() {
    let api = FakeApi::start(
        json!({"replicas": 3}),
        cluster_handler(Some((403, "Forbidden"))),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let exec = Executor::new(
        client_for(&api, false).await,
        false,
        journal.clone(),
        identity(),
    );
    let out = exec.execute(&every_mutation().remove(0)).await;
    assert_eq!(out.result, OutcomeResult::Rejected);
    assert_eq!(out.stage, "dry-run");
    assert!(out.summary().contains("403 Forbidden"), "{}", out.summary());
    assert!(
        api.lines()
            .iter()
            .all(|l| !l.contains("PATCH") || l.contains("dryRun=All")),
        "{:?}",
        api.lines()
    );
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["result"], "rejected");
    assert_eq!(entries[1]["stage"], "dry-run");
    assert_eq!(api.state.lock().unwrap()["replicas"], 3);
}

#[tokio::test]
async fn missing_deployment_is_rejected_without_a_journal_line() {
    let api = FakeApi::start(json!({"replicas": 3}), cluster_handler(None)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let exec = Executor::new(
        client_for(&api, false).await,
        false,
        journal.clone(),
        identity(),
    );
    let out = exec
        .execute(&Mutation::Scale {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "gone".into(),
            replicas: 1,
        })
        .await;
    assert_eq!(out.result, OutcomeResult::Rejected);
    assert_eq!(out.stage, "read");
    assert_eq!(api.lines().len(), 1);
    assert!(
        !journal.path().exists(),
        "nothing was attempted, nothing journaled"
    );
}

#[tokio::test]
async fn undo_sends_the_same_path_back_to_the_journal_before() {
    let api = FakeApi::start(json!({"replicas": 3}), cluster_handler(None)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let exec = Executor::new(
        client_for(&api, false).await,
        false,
        journal.clone(),
        identity(),
    );
    let out = exec.execute(&every_mutation().remove(0)).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{out:?}");
    let last = ktriage::model::LastAction {
        id: out.id.clone(),
        mutation: out.mutation.clone(),
        before: out.before.clone().unwrap(),
    };
    let undo = ktriage::update::panes::undo_of(&last).unwrap();
    assert_eq!(
        undo,
        Mutation::Scale {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "api".into(),
            replicas: 3
        }
    );
    let first = api.recorded().len();
    let back = exec.execute(&undo).await;
    assert_eq!(back.result, OutcomeResult::Applied, "{back:?}");
    assert_eq!(back.before, Some(json!({"replicas": 0})));
    assert_eq!(back.after, Some(json!({"replicas": 3})));
    let scale = "/apis/apps/v1/namespaces/shop/deployments/api/scale";
    assert_eq!(
        api.lines()[first..].to_vec(),
        vec![
            format!("GET {scale}"),
            "POST /apis/authentication.k8s.io/v1/selfsubjectreviews".to_string(),
            format!("PATCH {scale}?&dryRun=All&fieldManager=ktriage"),
            format!("PATCH {scale}?&fieldManager=ktriage"),
            "PATCH /apis/apps/v1/namespaces/shop/deployments/api?&fieldManager=ktriage".to_string(),
            "POST /api/v1/namespaces/shop/events?&fieldManager=ktriage".to_string(),
            format!("GET {scale}"),
        ]
    );
    let rec = api.recorded();
    for r in &rec[first + 2..first + 4] {
        assert_eq!(r.content_type, "application/merge-patch+json");
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap(),
            json!({"spec": {"replicas": 3}})
        );
    }
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[2]["phase"], "intent");
    assert_eq!(entries[2]["before"], json!({"replicas": 0}));
    assert_eq!(
        entries[2]["mutation"]["patch"],
        json!({"spec": {"replicas": 3}})
    );
    assert_eq!(entries[3]["result"], "applied");
}

#[tokio::test]
async fn read_only_executor_refuses_the_undo_too() {
    let api = FakeApi::start(json!({"replicas": 3}), cluster_handler(None)).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let exec = Executor::new(
        client_for(&api, true).await,
        true,
        journal.clone(),
        identity(),
    );
    let last = ktriage::model::LastAction {
        id: "x".into(),
        mutation: every_mutation().remove(0),
        before: json!({"replicas": 3}),
    };
    let undo = ktriage::update::panes::undo_of(&last).unwrap();
    let out = exec.execute(&undo).await;
    assert_eq!(out.result, OutcomeResult::Refused);
    assert!(api.lines().is_empty(), "{:?}", api.lines());
    assert!(!journal.path().exists() || journal.read().unwrap().0.is_empty());
}

#[tokio::test]
async fn conflict_is_rejected_loudly_with_an_outcome_line() {
    let api = FakeApi::start(
        json!({"replicas": 3}),
        cluster_handler(Some((409, "Conflict"))),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let exec = Executor::new(
        client_for(&api, false).await,
        false,
        journal.clone(),
        identity(),
    );
    let out = exec.execute(&every_mutation().remove(0)).await;
    assert_eq!(out.result, OutcomeResult::Rejected);
    assert!(
        out.summary().starts_with("REJECTED at dry-run") && out.summary().contains("409 Conflict"),
        "{}",
        out.summary()
    );
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["result"], "rejected");
    assert!(
        entries[1]["error"]
            .as_str()
            .unwrap()
            .contains("409 Conflict")
    );
}
