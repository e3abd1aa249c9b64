//! `u` undoes the last action of the session from the journal's `before`, for every reversible
//! action, on the simulator: the action runs through the executor, its outcome reaches the model,
//! `u` `y` (and for the webhook toggle `u` `enter`) runs the undo through the same executor, and the
//! object is back as it was. Actions that cannot be reverted say why and open no dialog.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use crossterm::event::{KeyCode, KeyEvent};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
use ktriage::model::Model;
use ktriage::model::webhooks::WebhookKind;
use ktriage::msg::Msg;
use ktriage::mutation::{Mutation, Target};
use ktriage::update::{Effect, update};
use kube::Api;
use serde_json::Value;

struct Rig {
    sim: ktriage::sim::SimHandle,
    client: kube::Client,
    exec: Executor,
    model: Model,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(scenario: &str) -> Rig {
        let sim = support::sim(scenario).await;
        let client = support::client(&sim).await;
        let dir = tempfile::tempdir().unwrap();
        let exec = Executor::new(
            client.clone(),
            false,
            Journal::new(dir.path().join("journal.jsonl")),
            Identity {
                context: "sim".into(),
                cluster: sim.base_url(),
                kube_user: Some("admin".into()),
            },
        );
        Rig {
            sim,
            client,
            exec,
            model: support::model::model(false),
            _dir: dir,
        }
    }

    /// Run `m` through the executor and hand its outcome to the model, as the app loop does.
    async fn run(&mut self, m: &Mutation) {
        let out = self.exec.execute(m).await;
        assert_eq!(
            out.result,
            OutcomeResult::Applied,
            "{}: {out:?}",
            m.describe()
        );
        update(
            &mut self.model,
            Msg::ActionDone(Box::new(out)),
            chrono::Utc::now(),
        );
    }

    fn key(&mut self, code: KeyCode) -> Vec<Effect> {
        update(
            &mut self.model,
            Msg::Key(KeyEvent::from(code)),
            chrono::Utc::now(),
        )
    }

    /// `u`, then confirm: the undo the dialog proposed, run.
    async fn undo(&mut self) -> Mutation {
        assert!(self.key(KeyCode::Char('u')).is_empty());
        let d = self
            .model
            .dialog
            .as_ref()
            .unwrap_or_else(|| panic!("no undo dialog: {:?}", self.model.notice));
        assert!(
            d.current
                .as_deref()
                .unwrap_or("")
                .contains("journal's before"),
            "{d:?}"
        );
        let confirm = if d.mutation.wants_reason() {
            KeyCode::Enter
        } else {
            KeyCode::Char('y')
        };
        let Some(Effect::Execute(m)) = self.key(confirm).into_iter().next() else {
            panic!("no Execute effect for the undo")
        };
        self.run(&m).await;
        m
    }

    async fn get(&self, api_version: &str, plural: &str, name: &str) -> Option<Value> {
        let (code, _, text) = support::raw(
            &self.client,
            "GET",
            &format!(
                "/{}/{api_version}/{plural}/{name}",
                if api_version.contains('/') {
                    "apis"
                } else {
                    "api"
                }
            ),
            "",
            vec![],
        )
        .await;
        (code == 200).then(|| serde_json::from_str(&text).unwrap())
    }
}

fn policy_of(cfg: &Value, webhook: &str) -> String {
    cfg["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == webhook)
        .map(|w| w["failurePolicy"].as_str().unwrap_or("Fail").to_string())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_puts_back_a_webhook_failure_policy() {
    let mut rig = Rig::start("gatekeeper-down").await;
    let (cfg, hook) = (
        "gatekeeper-validating-webhook-configuration",
        "validation.gatekeeper.sh",
    );
    let path = (
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
    );
    let before = rig.get(path.0, path.1, cfg).await.unwrap();
    assert_eq!(policy_of(&before, hook), "Fail");
    rig.run(&Mutation::SetFailurePolicy {
        kind: WebhookKind::Validating,
        configuration: cfg.into(),
        webhook: hook.into(),
        index: 0,
        policy: "Ignore".into(),
        reason: "INC-7".into(),
    })
    .await;
    assert_eq!(
        policy_of(&rig.get(path.0, path.1, cfg).await.unwrap(), hook),
        "Ignore"
    );
    let undo = rig.undo().await;
    assert!(
        matches!(&undo, Mutation::SetFailurePolicy { policy, reason, .. } if policy == "Fail" && reason.starts_with("undo of action ")),
        "{undo:?}"
    );
    let after = rig.get(path.0, path.1, cfg).await.unwrap();
    assert_eq!(policy_of(&after, hook), "Fail");
    assert!(
        after["metadata"]["annotations"]["ktriage.io/last-action"]
            .as_str()
            .unwrap()
            .contains("undo of action"),
        "{after}"
    );
    rig.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_uncordons_after_a_cordon_and_after_a_drain() {
    let mut rig = Rig::start("runaway-app").await;
    let nodes: Api<Node> = Api::all(rig.client.clone());
    let cordoned = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
    rig.run(&Mutation::Cordon {
        node: "prod-worker-3".into(),
        unschedulable: true,
    })
    .await;
    assert!(cordoned(&nodes.get("prod-worker-3").await.unwrap()));
    let undo = rig.undo().await;
    assert_eq!(
        undo,
        Mutation::Cordon {
            node: "prod-worker-3".into(),
            unschedulable: false
        }
    );
    assert!(!cordoned(&nodes.get("prod-worker-3").await.unwrap()));
    // a drain cordons first; its undo uncordons (evicted pods stay where they went)
    let drained = rig
        .exec
        .execute(&Mutation::Drain {
            node: "prod-worker-1".into(),
        })
        .await;
    assert!(
        matches!(
            drained.result,
            OutcomeResult::Applied | OutcomeResult::Unverified
        ),
        "{drained:?}"
    );
    update(
        &mut rig.model,
        Msg::ActionDone(Box::new(drained)),
        chrono::Utc::now(),
    );
    assert!(cordoned(&nodes.get("prod-worker-1").await.unwrap()));
    let undo = rig.undo().await;
    assert_eq!(
        undo,
        Mutation::Cordon {
            node: "prod-worker-1".into(),
            unschedulable: false
        }
    );
    assert!(!cordoned(&nodes.get("prod-worker-1").await.unwrap()));
    rig.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_recreates_a_deleted_apiservice_and_deletes_a_restored_one() {
    let mut rig = Rig::start("stuck-namespaces").await;
    let name = "v1beta1.custom.metrics.k8s.io";
    let target = Target::cluster(
        "apiregistration.k8s.io/v1",
        "APIService",
        "apiservices",
        name,
    );
    let api: Api<APIService> = Api::all(rig.client.clone());
    let spec_before = api.get(name).await.unwrap().spec;
    rig.run(&Mutation::Delete {
        target: target.clone(),
    })
    .await;
    assert!(api.get_opt(name).await.unwrap().is_none());
    let undo = rig.undo().await;
    assert!(
        matches!(&undo, Mutation::Restore { target: t, .. } if t.name == name),
        "{undo:?}"
    );
    let back = api.get(name).await.unwrap();
    assert_eq!(back.spec, spec_before, "re-created from the saved YAML");
    // the undo was itself an action: undoing it deletes the object again
    let again = rig.undo().await;
    assert!(
        matches!(&again, Mutation::Delete { target: t } if t.name == name),
        "{again:?}"
    );
    assert!(api.get_opt(name).await.unwrap().is_none());
    rig.sim.shutdown().await;
}

/// What cannot be reverted says so, and nothing is proposed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irreversible_actions_say_why_undo_cannot_revert_them() {
    let mut rig = Rig::start("stuck-namespaces").await;
    let ns = rig
        .get("v1", "namespaces", "cattle-monitoring-system")
        .await
        .unwrap();
    let fin = ns["metadata"]["finalizers"][0]
        .as_str()
        .unwrap()
        .to_string();
    rig.run(&Mutation::RemoveFinalizer {
        target: Target::cluster("v1", "Namespace", "namespaces", "cattle-monitoring-system"),
        finalizer: fin,
        index: 0,
        resource_version: ns["metadata"]["resourceVersion"].as_str().unwrap().into(),
    })
    .await;
    assert!(rig.key(KeyCode::Char('u')).is_empty());
    assert!(rig.model.dialog.is_none());
    let text = rig.model.notice.as_ref().unwrap().text.clone();
    assert!(text.contains("cannot be put back"), "{text}");
    rig.sim.shutdown().await;
}
