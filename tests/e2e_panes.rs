//! End to end on the simulator through the real kube client, the real sources and the executor:
//! `stuck-namespaces` (each blocker named, the ordered fix empties every namespace, kubectl agrees)
//! and `gatekeeper-down` (pod creation fails, the toggle unblocks it, restore brings Fail back, backup
//! + delete + restore of the configuration), each also with every user-chosen name changed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use ktriage::action::Action;
use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
use ktriage::kube::sources::SourceCtx;
use ktriage::model::pane_actions::mutation_for;
use ktriage::model::{Model, PaneId};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::sim::{SimHandle, SimOptions};
use ktriage::update::update;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use support::kubectl::{Kubectl, kubectl_or_skip};
use tokio::sync::mpsc;

struct Rig {
    sim: SimHandle,
    client: kube::Client,
    model: Model,
    rx: mpsc::Receiver<Msg>,
    sources: Vec<tokio::task::JoinHandle<()>>,
    exec: Executor,
    journal: Journal,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(scenario: &str) -> Rig {
        let sim = ktriage::sim::start(SimOptions {
            scenario: scenario.to_string(),
            ..SimOptions::default()
        })
        .await
        .unwrap();
        let client = support::client(&sim).await;
        let (tx, rx) = mpsc::channel(1024);
        let ctx = SourceCtx {
            client: client.clone(),
            tx,
            namespace: None,
            api_probe: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            metrics_every: Duration::from_secs(10),
            crashing: ktriage::kube::sources::crash_logs::Wanted::default().subscribe(),
            acted: ktriage::kube::sources::Acted::default().subscribe(),
        };
        let sources = ktriage::kube::sources::start_all(&ctx);
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("journal.jsonl"));
        let exec = Executor::new(
            client.clone(),
            false,
            journal.clone(),
            Identity {
                context: "sim".into(),
                cluster: sim.base_url(),
                kube_user: Some("admin".into()),
            },
        );
        let mut model = support::model::model(false);
        model.started_at = chrono::Utc::now();
        Rig {
            sim,
            client,
            model,
            rx,
            sources,
            exec,
            journal,
            _dir: dir,
        }
    }

    /// Feed source messages into the model until `pred` holds (deadline 20 s).
    async fn until(&mut self, what: &str, pred: impl Fn(&Model) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if pred(&self.model) {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}: {:#?}",
                self.model.findings
            );
            if let Ok(Some(m)) =
                tokio::time::timeout(left.min(Duration::from_millis(200)), self.rx.recv()).await
            {
                update(&mut self.model, m, chrono::Utc::now());
            }
        }
    }

    fn select(&mut self, pane: PaneId, index: usize) {
        self.model.ui.active = pane;
        self.model.ui.selected[pane.index()] = index;
    }

    fn select_ns(&mut self, name: &str) {
        let i = self
            .model
            .namespaces
            .store
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no namespace {name}"));
        self.select(PaneId::Namespaces, i);
    }

    fn select_webhook(&mut self, config: &str, webhook: &str) {
        let i = self
            .model
            .webhooks
            .rows()
            .position(|(c, _, w)| c.name == config && w.name == webhook)
            .unwrap_or_else(|| panic!("no webhook {config}/{webhook}"));
        self.select(PaneId::Webhooks, i);
    }

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

    fn blocker(&self, ns: &str) -> Option<String> {
        self.model
            .findings
            .iter()
            .find(|f| f.id == "namespace-stuck" && f.subject.as_ref().is_some_and(|s| s.name == ns))
            .and_then(|f| f.details["blocker"].as_str().map(str::to_string))
    }

    fn has_ns(&self, ns: &str) -> bool {
        self.model.namespaces.store.get(ns).is_some()
    }

    async fn stop(self) {
        for s in self.sources {
            s.abort();
        }
        self.sim.shutdown().await;
    }
}

/// A built-in scenario with user-chosen names replaced, written to a file the simulator loads.
fn renamed(builtin: &str, pairs: &[(&str, &str)], dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(format!(
        "{}/assets/scenarios/{builtin}.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut out = text;
    for (a, b) in pairs {
        out = out.replace(a, b);
    }
    out = out.replace(
        &format!("name: {builtin}"),
        &format!("name: {builtin}-renamed"),
    );
    let p = dir.join(format!("{builtin}-renamed.yaml"));
    std::fs::write(&p, out).unwrap();
    p.display().to_string()
}

/// Names: [rancher-finalizer namespace, apiservice-blocked a, apiservice-blocked b, content namespace].
async fn stuck_namespaces_story(scenario: &str, names: [&str; 4]) {
    let [cattle, a, b, storage] = names;
    let apisvc = "v1beta1.custom.metrics.k8s.io";
    let mut rig = Rig::start(scenario).await;
    rig.until("every blocker named", |m| {
        m.namespaces.content.synced
            && names.iter().all(|n| {
                m.findings.iter().any(|f| {
                    f.id == "namespace-stuck" && f.subject.as_ref().is_some_and(|s| s.name == *n)
                })
            })
    })
    .await;
    assert_eq!(
        rig.blocker(cattle).as_deref(),
        Some("finalizer:controller.cattle.io/namespace-auth")
    );
    assert_eq!(rig.blocker(a), Some(format!("apiservice:{apisvc}")));
    assert_eq!(rig.blocker(b), Some(format!("apiservice:{apisvc}")));
    assert_eq!(rig.blocker(storage).as_deref(), Some("content:Volume"));
    let api_f = rig
        .model
        .findings
        .iter()
        .find(|f| f.id == "apiservice-unavailable")
        .unwrap()
        .clone();
    for n in names {
        assert!(
            api_f.details["blocks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == n)
        );
    }

    // 1. the APIService first (its YAML goes into the journal)
    rig.select_ns(a);
    let m = mutation_for(&rig.model, Action::Fix).unwrap();
    assert!(
        matches!(&m, Mutation::Delete { target } if target.name == apisvc),
        "{m:?}"
    );
    rig.run(&m).await;
    rig.until("the APIService gone and the namespaces it held", |m| {
        m.namespaces.unavailable().next().is_none()
            && m.namespaces.store.get(a).is_none()
            && m.namespaces.store.get(b).is_none()
    })
    .await;
    // 2. the Rancher finalizer
    rig.until(
        "the rancher namespace's kubernetes finalizer cleared",
        |m| {
            m.namespaces
                .store
                .get(cattle)
                .is_some_and(|n| n.spec_finalizers.is_empty())
        },
    )
    .await;
    rig.select_ns(cattle);
    let m = mutation_for(&rig.model, Action::Fix).unwrap();
    assert!(
        matches!(&m, Mutation::RemoveFinalizer { finalizer, .. } if finalizer == "controller.cattle.io/namespace-auth")
    );
    rig.run(&m).await;
    rig.until("the rancher namespace gone", |m| {
        m.namespaces.store.get(cattle).is_none()
    })
    .await;
    // 3. the leftover content's finalizers, one object at a time
    let mut steps = 0;
    while rig.has_ns(storage) {
        rig.select_ns(storage);
        let Ok(m) = mutation_for(&rig.model, Action::Fix) else {
            rig.until("the content namespace gone or a next step", |m| {
                m.namespaces.store.get(storage).is_none()
            })
            .await;
            break;
        };
        assert!(
            matches!(&m, Mutation::RemoveFinalizer { finalizer, .. } if finalizer == "longhorn.io"),
            "{m:?}"
        );
        rig.run(&m).await;
        steps += 1;
        assert!(steps <= 8, "more steps than objects");
        // the watch shows the namespace gone after the last one
        let before = steps;
        rig.until("the step to land", |m| {
            m.namespaces.store.get(storage).is_none() || before < 8
        })
        .await;
    }
    assert_eq!(steps, 8, "one step per Longhorn object with a finalizer");
    // the journal holds every step: intent and outcome each
    let (entries, _) = rig.journal.read().unwrap();
    assert_eq!(entries.len(), 2 * (2 + steps));
    assert_eq!(entries[0]["before"]["metadata"]["name"], apisvc);
    // kubectl agrees
    if let Some(bin) = kubectl_or_skip("stuck namespaces") {
        let k = Kubectl::new(bin, &rig.sim, "admin");
        let out = k.ok(&["get", "ns", "-o", "name"]).await;
        for n in names {
            assert!(
                !out.contains(&format!("namespace/{n}\n")),
                "{n} still listed: {out}"
            );
        }
        assert!(out.contains("namespace/default"));
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_namespaces_blockers_and_ordered_fix() {
    stuck_namespaces_story(
        "stuck-namespaces",
        [
            "cattle-monitoring-system",
            "shop-staging",
            "legacy-reports",
            "longhorn-system",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_namespaces_renamed_gives_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let path = renamed(
        "stuck-namespaces",
        &[
            ("cattle-monitoring-system", "observability-old"),
            ("shop-staging", "qa-archive"),
            ("legacy-reports", "billing-2019"),
            ("longhorn-system", "block-storage"),
            ("prometheus-adapter", "metrics-bridge"),
        ],
        dir.path(),
    );
    stuck_namespaces_story(
        &path,
        [
            "observability-old",
            "qa-archive",
            "billing-2019",
            "block-storage",
        ],
    )
    .await;
}

fn pod() -> Pod {
    serde_json::from_value(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "probe-"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}),
    )
    .unwrap()
}

async fn create_pod(c: &kube::Client, ns: &str) -> Result<(), String> {
    let pods: Api<Pod> = Api::namespaced(c.clone(), ns);
    pods.create(&PostParams::default(), &pod())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Names: [validating configuration, webhook, service, application namespace].
async fn gatekeeper_story(scenario: &str, names: [&str; 5]) {
    let [vwc, hook, svc, app, system] = names;
    let mut rig = Rig::start(scenario).await;
    rig.until("webhook-blocking with its events", |m| {
        m.namespaces.store.synced
            && m.webhooks.events.synced
            && !m.webhooks.events.is_empty()
            && m.findings.iter().any(|f| f.id == "webhook-blocking")
    })
    .await;
    // the pod-creation webhook (Gatekeeper's namespace-label webhook fails closed too: it blocks
    // changes to Namespaces, a finding of its own)
    let f = rig
        .model
        .findings
        .iter()
        .find(|f| {
            f.id == "webhook-blocking"
                && f.subject.as_ref().and_then(|s| s.part.as_deref()) == Some(hook)
        })
        .unwrap_or_else(|| panic!("{:#?}", rig.model.findings))
        .clone();
    assert_eq!(f.subject.as_ref().unwrap().name, vwc);
    assert_eq!(f.subject.as_ref().unwrap().part.as_deref(), Some(hook));
    let blocked: Vec<&str> = f.details["blocked_namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        blocked.contains(&app) && blocked.contains(&"default") && blocked.contains(&"kube-system"),
        "{blocked:?}"
    );
    assert!(
        !blocked.contains(&system) && !blocked.contains(&"kube-node-lease"),
        "{blocked:?}"
    );
    assert!(
        f.evidence.iter().any(|e| e.contains(svc)),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("failed calling webhook")),
        "{:?}",
        f.evidence
    );

    // pod creation fails
    let err = create_pod(&rig.client, app).await.unwrap_err();
    assert!(
        err.contains(&format!("failed calling webhook \"{hook}\"")),
        "{err}"
    );
    // toggle to Ignore with a reason
    rig.select_webhook(vwc, hook);
    let m = mutation_for(&rig.model, Action::ToggleFailurePolicy)
        .unwrap()
        .with_reason("e2e: unblock pods");
    rig.run(&m).await;
    create_pod(&rig.client, app).await.unwrap();
    let k = kubectl_or_skip("gatekeeper").map(|b| Kubectl::new(b, &rig.sim, "admin"));
    let policy_of = |yaml: &str| -> Vec<String> {
        yaml.lines()
            .filter(|l| l.trim_start().starts_with("failurePolicy:"))
            .map(|l| l.trim().to_string())
            .collect()
    };
    if let Some(k) = &k {
        let y = k
            .ok(&["get", "validatingwebhookconfigurations", vwc, "-o", "yaml"])
            .await;
        assert_eq!(
            policy_of(&y),
            vec!["failurePolicy: Ignore", "failurePolicy: Fail"],
            "{y}"
        );
        assert!(
            y.contains("ktriage.io/last-action") && y.contains(r#""why":"e2e:"#),
            "{y}"
        );
    }
    rig.until("the toggle seen by the watch", |m| {
        m.webhooks
            .rows()
            .any(|(c, _, w)| c.name == vwc && w.name == hook && w.failure_policy == "Ignore")
    })
    .await;
    assert!(
        !rig.model.findings.iter().any(|f| f.id == "webhook-blocking"
            && f.subject.as_ref().and_then(|s| s.part.as_deref()) == Some(hook))
    );
    // restore the saved policy: one action
    rig.select_webhook(vwc, hook);
    let m = mutation_for(&rig.model, Action::Restore).unwrap();
    assert!(
        matches!(&m, Mutation::SetFailurePolicy { policy, .. } if policy == "Fail"),
        "{m:?}"
    );
    rig.run(&m).await;
    assert!(create_pod(&rig.client, app).await.is_err());
    if let Some(k) = &k {
        let y = k
            .ok(&["get", "validatingwebhookconfigurations", "-o", "yaml"])
            .await;
        assert!(
            policy_of(&y).iter().all(|p| p == "failurePolicy: Fail"),
            "{y}"
        );
    }
    // back up and delete the configuration, then restore it from the backup
    rig.until("Fail again", |m| {
        m.findings.iter().any(|f| f.id == "webhook-blocking")
    })
    .await;
    rig.select_webhook(vwc, hook);
    let m = mutation_for(&rig.model, Action::BackupDelete).unwrap();
    rig.run(&m).await;
    create_pod(&rig.client, app).await.unwrap();
    rig.until("the configuration gone", |m| {
        !m.webhooks.configs().any(|c| c.name == vwc)
    })
    .await;
    let m = mutation_for(&rig.model, Action::Restore).unwrap();
    assert!(
        matches!(&m, Mutation::Restore { target, .. } if target.name == vwc),
        "{m:?}"
    );
    rig.run(&m).await;
    assert!(create_pod(&rig.client, app).await.is_err());
    if let Some(k) = &k {
        let y = k
            .ok(&["get", "validatingwebhookconfigurations", vwc, "-o", "yaml"])
            .await;
        assert_eq!(
            policy_of(&y),
            vec!["failurePolicy: Fail", "failurePolicy: Fail"],
            "{y}"
        );
    }
    let (entries, _) = rig.journal.read().unwrap();
    assert_eq!(entries.len(), 8, "four actions, each intent + outcome");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatekeeper_toggle_restore_delete_and_restore() {
    gatekeeper_story(
        "gatekeeper-down",
        [
            "gatekeeper-validating-webhook-configuration",
            "validation.gatekeeper.sh",
            "gatekeeper-webhook-service",
            "shop",
            "gatekeeper-system",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gatekeeper_renamed_gives_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let path = renamed(
        "gatekeeper-down",
        &[
            (
                "gatekeeper-validating-webhook-configuration",
                "guard-validating",
            ),
            (
                "gatekeeper-mutating-webhook-configuration",
                "guard-mutating",
            ),
            ("gatekeeper-webhook-service", "guard-svc"),
            ("gatekeeper-system", "policy-system"),
            ("validation.gatekeeper.sh", "validate.policy.example"),
            ("namespace: shop", "namespace: storefront"),
            ("name: shop\n", "name: storefront\n"),
        ],
        dir.path(),
    );
    gatekeeper_story(
        &path,
        [
            "guard-validating",
            "validate.policy.example",
            "guard-svc",
            "storefront",
            "policy-system",
        ],
    )
    .await;
}
