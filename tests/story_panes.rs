//! End to end on the simulator through the real kube client: the runaway-app story (eviction storm →
//! Top → scale to 0 → evictions stop → undo), leader-flapping, watch faults on the Events pane, and
//! both scenarios with every user-chosen name changed. Behaviour is triggered through `/_sim/trigger`;
//! nothing sleeps waiting for it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent};
use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
use ktriage::kube::sources::{SourceCtx, start_all};
use ktriage::model::{ClusterInfo, Model, PaneId};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::update::{Effect, update};
use serde_json::{Value, json};
use support::{client, control, sim};
use tokio::sync::mpsc;

/// A model fed by the real sources, as the app loop feeds it.
struct Live {
    model: Model,
    rx: mpsc::Receiver<Msg>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Live {
    async fn start(c: &kube::Client) -> Live {
        let cfg = ktriage::config::Config::defaults().unwrap();
        let cluster = ClusterInfo {
            context: Some("ktriage-sim".into()),
            server: Some("https://sim".into()),
            ..ClusterInfo::default()
        };
        let model = Model::new(cluster, cfg.keymap, chrono::Utc::now()).with_tuning(cfg.tuning);
        let (tx, rx) = mpsc::channel(1024);
        let ctx = SourceCtx {
            client: c.clone(),
            tx,
            namespace: None,
            api_probe: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(1),
            request_timeout: Duration::from_secs(5),
            metrics_every: Duration::from_millis(200),
            crashing: ktriage::kube::sources::crash_logs::Wanted::default().subscribe(),
            acted: ktriage::kube::sources::Acted::default().subscribe(),
        };
        Live {
            model,
            rx,
            tasks: start_all(&ctx),
        }
    }

    /// Feed messages until `pred` holds (10 s deadline).
    async fn until(&mut self, what: &str, pred: impl Fn(&Model) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !pred(&self.model) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(m)) => {
                    update(&mut self.model, m, chrono::Utc::now());
                }
                _ => panic!(
                    "timed out waiting for {what}; findings: {:?}",
                    self.model
                        .findings
                        .iter()
                        .map(|f| &f.key)
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    fn key(&mut self, c: char) -> Vec<Effect> {
        update(
            &mut self.model,
            Msg::Key(KeyEvent::from(KeyCode::Char(c))),
            chrono::Utc::now(),
        )
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn has(m: &Model, key: &str) -> bool {
    m.findings.iter().any(|f| f.key == key)
}

fn evictions(m: &Model) -> usize {
    m.events.store.iter().filter(|e| e.is_eviction()).count()
}

async fn replicas(c: &kube::Client, kind: &str, ns: &str, name: &str) -> i32 {
    let scale = match kind {
        "StatefulSet" => {
            let api: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
                kube::Api::namespaced(c.clone(), ns);
            api.get_scale(name).await
        }
        _ => {
            let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
                kube::Api::namespaced(c.clone(), ns);
            api.get_scale(name).await
        }
    };
    scale.unwrap().spec.unwrap().replicas.unwrap_or(0) // omitempty in autoscaling/v1: 0 is an absent field
}

/// The runaway story on `scenario`, whose runaway is the `kind` `ns/deploy`.
async fn runaway_story(scenario: &str, kind: &str, ns: &str, deploy: &str) {
    let h = sim(scenario).await;
    let c = client(&h).await;
    let mut live = Live::start(&c).await;
    let storm = format!("eviction-storm/{kind}/{ns}/{deploy}");
    live.until("the eviction storm with its culprit", |m| has(m, &storm))
        .await;
    // the burst puts the runaway's nodes under MemoryPressure and evicts more pods
    let out = control(&c, "trigger", json!({"name": "eviction-burst"})).await;
    assert!(out["evicted"].as_u64().unwrap() >= 1, "{out}");
    let n0 = evictions(&live.model);
    live.until("the new evictions", |m| evictions(m) > n0).await;
    live.until("node pressure", |m| {
        m.findings.iter().any(|f| f.id == "node-pressure")
    })
    .await;

    // operator: Events pane, jump to the culprit in Top, scale, confirm (4 t s y)
    live.key('4');
    assert_eq!(live.model.ui.active, PaneId::Events);
    live.key('t');
    assert_eq!(live.model.ui.active, PaneId::Top);
    live.key('s');
    let d = live.model.dialog.as_ref().expect("the confirm dialog");
    assert_eq!(
        d.mutation,
        Mutation::Scale {
            kind: kind.into(),
            namespace: ns.into(),
            name: deploy.into(),
            replicas: 0
        }
    );
    let effects = live.key('y');
    let Some(Effect::Execute(m)) = effects.into_iter().next() else {
        panic!("no Execute effect")
    };
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let identity = Identity {
        context: "ktriage-sim".into(),
        cluster: "sim".into(),
        kube_user: Some("admin".into()),
    };
    let exec = Executor::new(c.clone(), false, journal.clone(), identity);
    let outcome = exec.execute(&m).await;
    assert_eq!(outcome.result, OutcomeResult::Applied, "{outcome:?}");
    assert_eq!(outcome.before, Some(json!({"replicas": 4})));
    assert_eq!(replicas(&c, kind, ns, deploy).await, 0);
    update(
        &mut live.model,
        Msg::ActionDone(Box::new(outcome)),
        chrono::Utc::now(),
    );

    // the stream stops: a burst now evicts nothing and clears the pressure
    let out = control(&c, "trigger", json!({"name": "eviction-burst"})).await;
    assert_eq!(out["evicted"], 0, "{out}");
    assert_eq!(out["pressured"], json!([]), "{out}");
    live.until("pressure cleared", |m| {
        m.findings.iter().all(|f| f.id != "node-pressure")
    })
    .await;
    let n1 = evictions(&live.model);
    let out = control(&c, "trigger", json!({"name": "eviction-burst"})).await;
    assert_eq!(out["evicted"], 0, "{out}");
    assert_eq!(evictions(&live.model), n1);

    // undo: scale back to the journal's before
    let effects = live.key('u');
    assert!(effects.is_empty());
    let d = live.model.dialog.as_ref().expect("the undo dialog");
    assert_eq!(
        d.mutation,
        Mutation::Scale {
            kind: kind.into(),
            namespace: ns.into(),
            name: deploy.into(),
            replicas: 4
        }
    );
    let Some(Effect::Execute(undo)) = live.key('y').into_iter().next() else {
        panic!("no Execute effect for undo")
    };
    let outcome = exec.execute(&undo).await;
    assert_eq!(outcome.result, OutcomeResult::Applied, "{outcome:?}");
    assert_eq!(outcome.before, Some(json!({"replicas": 0})));
    assert_eq!(replicas(&c, kind, ns, deploy).await, 4);
    // both actions in the journal, intent and outcome each
    let (entries, _) = journal.read().unwrap();
    let phases: Vec<&str> = entries
        .iter()
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["intent", "outcome", "intent", "outcome"]);
    assert_eq!(
        entries[0]["mutation"]["patch"],
        json!({"spec": {"replicas": 0}})
    );
    assert_eq!(
        entries[2]["mutation"]["patch"],
        json!({"spec": {"replicas": 4}})
    );
    assert!(journal.unfinished().unwrap().is_empty());
    // kubectl agrees, where it is installed
    if let Some(bin) = support::kubectl::kubectl_or_skip("runaway_story") {
        let k = support::kubectl::Kubectl::new(bin, &h, "admin");
        let out = k
            .ok(&[
                "get",
                &kind.to_lowercase(),
                "-n",
                ns,
                deploy,
                "-o",
                "jsonpath={.spec.replicas}",
            ])
            .await;
        assert_eq!(out.trim(), "4");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_app_storm_scale_to_zero_and_undo() {
    runaway_story("runaway-app", "Deployment", "reports", "report-builder").await;
}

/// The same story when the runaway is a StatefulSet: `s` from Top scales it to 0 through its
/// `scale` subresource (dry run, journal, verify), the storm stops, `u` scales it back to 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_statefulset_storm_scale_to_zero_and_undo() {
    runaway_story(
        "runaway-statefulset",
        "StatefulSet",
        "analytics",
        "ingest-buffer",
    )
    .await;
}

/// A scenario file with every user-chosen name replaced.
fn renamed(
    scenario: &str,
    pairs: &[(&str, &str)],
    behaviours: &str,
) -> (tempfile::TempDir, String) {
    let loaded = ktriage::sim::scenario::load(scenario).unwrap();
    let mut text = serde_json::to_string(&Value::Array(loaded.objects)).unwrap();
    for (a, b) in pairs {
        text = text.replace(a, b);
    }
    let objs: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut y = "name: renamed\nobjects:\n".to_string();
    for o in objs {
        y.push_str(&format!("  - {o}\n"));
    }
    y.push_str(behaviours);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("renamed.yaml");
    std::fs::write(&p, y).unwrap();
    (dir, p.display().to_string())
}

const RENAMES: &[(&str, &str)] = &[
    ("report-builder", "crunch"),
    ("reports", "analytics-x"),
    ("payments", "billing-y"),
    ("ledger", "tally"),
    ("prod-worker-", "zz-node-"),
    ("prod-cp-", "ctl-"),
    ("shop", "store"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_app_renamed_gives_the_same_story() {
    let (_dir, path) = renamed("runaway-app", RENAMES, "behaviours: []\n");
    runaway_story(&path, "Deployment", "analytics-x", "crunch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_statefulset_renamed_gives_the_same_story() {
    let pairs: &[(&str, &str)] = &[
        ("ingest-buffer", "spool"),
        ("analytics", "etl-prod"),
        ("payments", "billing-y"),
        ("ledger", "tally"),
        ("prod-worker-", "zz-node-"),
        ("prod-cp-", "ctl-"),
        ("shop", "store"),
    ];
    let (_dir, path) = renamed("runaway-statefulset", pairs, "behaviours: []\n");
    runaway_story(&path, "StatefulSet", "etl-prod", "spool").await;
}

async fn flapping(scenario: &str) {
    let h = sim(scenario).await;
    let c = client(&h).await;
    let mut live = Live::start(&c).await;
    live.until("leases listed", |m| m.leaders.store.synced)
        .await;
    for _ in 0..3 {
        let out = control(
            &c,
            "trigger",
            json!({"name": "flip-leader", "namespace": "kube-system", "lease": "kube-controller-manager"}),
        )
        .await;
        assert!(out["to"].is_string(), "{out}");
    }
    let key = "leader-flapping/Lease/kube-system/kube-controller-manager";
    live.until("leader-flapping", |m| has(m, key)).await;
    let f = live.model.findings.iter().find(|f| f.key == key).unwrap();
    assert!(
        f.evidence.iter().any(|e| e.contains('→')),
        "{:?}",
        f.evidence
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_flapping_is_found() {
    flapping("leader-flapping").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_flapping_renamed() {
    let (_dir, path) = renamed("leader-flapping", RENAMES, "behaviours: []\n");
    flapping(&path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pane_survives_a_dropped_watch_and_410() {
    let h = sim("runaway-app").await;
    let c = client(&h).await;
    let mut live = Live::start(&c).await;
    live.until("events listed", |m| {
        m.events.store.synced && evictions(m) > 0
    })
    .await;
    // a dropped watch: the watcher reconnects and sees what happened meanwhile
    control(&c, "fault", json!({"drop_watches": true})).await;
    let n0 = evictions(&live.model);
    assert!(n0 > 0);
    control(&c, "trigger", json!({"name": "eviction-burst"})).await;
    live.until("events after the drop", |m| evictions(m) > n0)
        .await;
    // move the resourceVersion on where the events watch does not look, forget the history and
    // drop the watches: the events watch comes back with a version older than the history (410
    // Expired) and re-lists; the pane keeps its rows throughout
    let mark = h.sim().requests().len();
    control(
        &c,
        "fault",
        // enough forced 410s for every watcher that reconnects after the drop (the Events watch is
        // one of ~15), so the Events watch is certain to get one
        json!({"gone_watches": 48, "drop_watches": true}),
    )
    .await;
    let n1 = evictions(&live.model);
    // the events watch reports the 410, re-lists, and swaps the store only when the list is complete
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut gone, mut relisted_done) = (false, false);
    while !(gone && relisted_done) {
        assert!(evictions(&live.model) >= n1, "the pane lost its rows");
        let m = tokio::time::timeout_at(deadline, live.rx.recv())
            .await
            .expect("the 410 and the re-list")
            .unwrap();
        match &m {
            Msg::SourceFailed(ktriage::model::SourceId::Events, f) => {
                assert!(f.message.contains("410"), "{f:?}");
                gone = true;
            }
            Msg::Events(ktriage::model::Delta::InitDone) if gone => relisted_done = true,
            _ => {}
        }
        update(&mut live.model, m, chrono::Utc::now());
    }
    assert!(evictions(&live.model) >= n1);
    control(&c, "trigger", json!({"name": "eviction-burst"})).await;
    live.until("events after the re-list", |m| evictions(m) > n1)
        .await;
    let relisted = h.sim().requests()[mark..].iter().any(|r| {
        r["path"] == "/apis/events.k8s.io/v1/events"
            && r["status"] == 200
            && !r["query"].as_str().unwrap_or("").contains("watch=true")
    });
    assert!(
        relisted,
        "no re-list of events after the 410: {:?}",
        h.sim().requests()[mark..]
            .iter()
            .filter(|r| !r["path"].as_str().unwrap_or("").contains("metrics"))
            .map(|r| format!("{} {} {}", r["path"], r["query"], r["status"]))
            .collect::<Vec<_>>()
    );
    assert!(!live.model.events.store.is_empty());
}

#[test]
fn report_names_the_storm_with_the_deployment() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args([
            "report",
            "--demo",
            "runaway-app",
            "--format",
            "json",
            "--observe",
            "1s",
        ])
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("KUBECONFIG")
        .env_remove("KTRIAGE_CONFIG")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let storm = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "eviction-storm")
        .expect("eviction-storm");
    assert_eq!(storm["severity"], "critical");
    assert_eq!(
        storm["subject"],
        json!({"kind": "Deployment", "namespace": "reports", "name": "report-builder"})
    );
    assert_eq!(storm["pane"], "events");
    assert!(
        doc["panes"]["events"]["rows"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(
        doc["panes"]["top"]["rows"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    assert!(
        doc["panes"]["leaders"]["rows"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
}

/// The report observes for a window: holder changes the scenario makes every 2 s within it are
/// flapping (the window is the product's `--observe`, not a test sleep).
#[test]
fn report_names_leader_flapping_with_the_lease() {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args([
            "report",
            "--demo",
            "leader-flapping",
            "--format",
            "json",
            "--observe",
            "9s",
        ])
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env_remove("KUBECONFIG")
        .env_remove("KTRIAGE_CONFIG")
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "leader-flapping")
        .unwrap_or_else(|| panic!("no leader-flapping in {}", doc["findings"]));
    assert_eq!(
        f["subject"],
        json!({"kind": "Lease", "namespace": "kube-system", "name": "kube-controller-manager"})
    );
    assert_eq!(f["severity"], "warning");
    let rows = doc["panes"]["leaders"]["rows"].as_array().unwrap();
    let kcm = rows
        .iter()
        .find(|r| r["name"] == "kube-controller-manager")
        .unwrap();
    assert!(kcm["changes_seen"].as_u64().unwrap() >= 3, "{kcm}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_without_metrics_server_says_so_and_keeps_requests() {
    let h = sim("runaway-app").await;
    let c = client(&h).await;
    control(
        &c,
        "delete",
        json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "name": "v1beta1.metrics.k8s.io"}),
    )
    .await;
    let mut live = Live::start(&c).await;
    live.until("metrics reported unavailable and pods listed", |m| {
        m.top.pods.synced
            && m.top
                .metrics_state
                .error_text()
                .is_some_and(|e| e.contains("metrics-server unavailable"))
    })
    .await;
    let rows = live.model.top.rows();
    let rb = rows
        .iter()
        .find(|r| r.name.starts_with("report-builder"))
        .unwrap();
    assert_eq!(rb.mem_b, None);
    assert_eq!(rb.req_mem_b, Some(512 << 20));
    // without usage the storm still names the culprit, by requests and replicas
    live.until("the storm", |m| {
        has(m, "eviction-storm/Deployment/reports/report-builder")
    })
    .await;
}

async fn settled_findings(scenario: &str) -> Vec<(String, String, String)> {
    let h = sim(scenario).await;
    let c = client(&h).await;
    let mut live = Live::start(&c).await;
    live.until("every source synced", |m| {
        m.nodes.store.synced
            && m.leaders.store.synced
            && m.events.store.synced
            && m.top.pods.synced
            && m.top.replicasets.synced
            && m.top.metrics_state.is_ok()
    })
    .await;
    let mut v: Vec<(String, String, String)> = live
        .model
        .findings
        .iter()
        .map(|f| {
            (
                f.id.clone(),
                f.severity.name().to_string(),
                f.subject
                    .as_ref()
                    .map(|s| s.kind.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renamed_scenarios_give_the_same_findings() {
    for scenario in ["runaway-app", "leader-flapping"] {
        // both without periodic behaviours, so wall-clock timing cannot make them differ
        let (_d1, same) = renamed(scenario, &[], "behaviours: []\n");
        let (_d2, path) = renamed(scenario, RENAMES, "behaviours: []\n");
        let a = settled_findings(&same).await;
        let b = settled_findings(&path).await;
        assert!(!a.is_empty(), "{scenario}: no findings");
        assert_eq!(a, b, "{scenario}");
    }
}
