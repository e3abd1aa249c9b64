//! End to end on the simulator through the real kube client and the one executor: the `crashloop`
//! story found by `pod-crashloop` and fixed by a rollout restart; Evicted pods cleaned after
//! `runaway-app`; a node cordoned and drained (what moved, what a PodDisruptionBudget held).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chrono::Utc;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use ktriage::journal::Journal;
use ktriage::kube::executor::{Executor, Identity, OutcomeResult};
use ktriage::model::Delta;
use ktriage::mutation::{Mutation, PodRef};
use ktriage::sim::SimHandle;
use kube::Api;
use kube::api::ListParams;

async fn executor(h: &SimHandle, read_only: bool) -> (Executor, Journal, tempfile::TempDir) {
    let cfg = h.kube_config("admin").await.unwrap();
    let client = ktriage::session::build_executor_client(cfg, read_only).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::new(dir.path().join("journal.jsonl"));
    let id = Identity {
        context: "sim".into(),
        cluster: "sim".into(),
        kube_user: Some("admin".into()),
    };
    (
        Executor::new(client, read_only, journal.clone(), id),
        journal,
        dir,
    )
}

async fn pods(c: &kube::Client) -> Vec<Pod> {
    Api::<Pod>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

fn name(p: &Pod) -> String {
    format!(
        "{}/{}",
        p.metadata.namespace.clone().unwrap_or_default(),
        p.metadata.name.clone().unwrap_or_default()
    )
}

fn crashlooping(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
            })
        })
}

/// The Top pane's model fed with the simulator's pods and ReplicaSets (through the source's own
/// row functions), evaluated by the rules.
async fn findings(c: &kube::Client) -> Vec<ktriage::diagnose::Finding> {
    let list = pods(c).await;
    let mut m = support::model::model(false);
    let now = Utc::now();
    m.top.apply_replicasets(Delta::Init);
    for rs in Api::<ReplicaSet>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
    {
        m.top
            .apply_replicasets(Delta::InitApply(ktriage::kube::sources::top::rs_row(rs)));
    }
    m.top.apply_replicasets(Delta::InitDone);
    m.top.apply_pods(Delta::Init, now);
    for p in list {
        m.top.apply_pods(
            Delta::InitApply(ktriage::kube::sources::top::pod_row(p)),
            now,
        );
    }
    m.top.apply_pods(Delta::InitDone, now);
    ktriage::diagnose::evaluate(&m, now)
}

#[tokio::test]
async fn crash_looping_system_deployment_is_found_and_restarted_with_journal_and_event() {
    let h = support::sim("crashloop").await;
    let c = support::client(&h).await;
    // found: one pod-crashloop finding for the owning Deployment, with the last termination
    let f = findings(&c).await;
    let crash: Vec<_> = f.iter().filter(|f| f.id == "pod-crashloop").collect();
    assert_eq!(crash.len(), 1, "{crash:?}");
    let subject = crash[0].subject.clone().unwrap();
    assert_eq!(subject.kind, "Deployment");
    assert_eq!(crash[0].fix.action.as_deref(), Some("rollout_restart"));
    assert!(
        crash[0]
            .evidence
            .iter()
            .all(|e| e.contains("CrashLoopBackOff") && e.contains("Error (exit 1)")),
        "{:?}",
        crash[0].evidence
    );
    // the previous container's logs say why
    let ns = subject.namespace.clone().unwrap();
    let crashed = pods(&c)
        .await
        .into_iter()
        .find(crashlooping)
        .expect("a crash-looping pod");
    let logs = Api::<Pod>::namespaced(c.clone(), &ns)
        .logs(
            crashed.metadata.name.as_deref().unwrap(),
            &kube::api::LogParams {
                previous: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        logs.contains("x509: certificate signed by unknown authority"),
        "{logs}"
    );
    // restart it through the executor
    let (exec, journal, _d) = executor(&h, false).await;
    let m = Mutation::RolloutRestart {
        kind: subject.kind.clone(),
        namespace: ns.clone(),
        name: subject.name.clone(),
        at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let out = exec.execute(&m).await;
    assert_eq!(out.result, OutcomeResult::Applied, "{}", out.summary());
    // new pods replace the crash-looping ones
    support::eventually("no crash-looping pods", || {
        let c = c.clone();
        async move {
            let all = pods(&c).await;
            (!all.iter().any(crashlooping)).then_some(())
        }
    })
    .await;
    assert!(!findings(&c).await.iter().any(|f| f.id == "pod-crashloop"));
    // the journal and the Event
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries[0]["phase"], "intent");
    assert_eq!(entries[0]["mutation"]["type"], "rollout-restart");
    assert_eq!(entries[1]["result"], "applied");
    let events = Api::<Event>::namespaced(c.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(events.items.iter().any(|e| {
        e.reason.as_deref() == Some("KtriageAction")
            && e.involved_object.name.as_deref() == Some(subject.name.as_str())
    }));
}

#[tokio::test]
async fn evicted_pods_left_by_the_runaway_app_are_cleaned_cluster_wide() {
    let h = support::sim("runaway-app").await;
    let c = support::client(&h).await;
    let failed: Vec<PodRef> = pods(&c)
        .await
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
        .map(|p| PodRef {
            namespace: p.metadata.namespace.clone().unwrap(),
            name: p.metadata.name.clone().unwrap(),
            uid: p.metadata.uid.clone(),
            reason: p
                .status
                .as_ref()
                .and_then(|s| s.reason.clone())
                .unwrap_or_default(),
        })
        .collect();
    assert!(failed.len() >= 2, "{failed:?}");
    let (exec, _j, _d) = executor(&h, false).await;
    let out = exec
        .execute(&Mutation::DeletePods {
            namespace: None,
            pods: failed.clone(),
        })
        .await;
    assert_eq!(out.result, OutcomeResult::Applied, "{}", out.summary());
    assert!(
        out.summary().contains(&format!("deleted {}", failed.len())),
        "{}",
        out.summary()
    );
    let left: Vec<String> = pods(&c).await.iter().map(name).collect();
    for p in &failed {
        assert!(!left.contains(&p.path()), "{} still there", p.path());
    }
}

async fn node(c: &kube::Client, n: &str) -> Node {
    Api::<Node>::all(c.clone()).get(n).await.unwrap()
}

#[tokio::test]
async fn drain_reports_what_moved_and_what_a_pdb_held_then_uncordon() {
    let h = support::sim("crashloop").await;
    let c = support::client(&h).await;
    // the node with the PDB-covered pod: pick it from the cluster, not by name
    let all = pods(&c).await;
    let covered = all
        .iter()
        .find(|p| {
            p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.get("app").map(String::as_str) == Some("api"))
        })
        .unwrap();
    let target = covered.spec.as_ref().unwrap().node_name.clone().unwrap();
    let on_node: Vec<&Pod> = all
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&target))
        .collect();
    let (exec, journal, _d) = executor(&h, false).await;
    let out = exec
        .execute(&Mutation::Drain {
            node: target.clone(),
        })
        .await;
    let se = out.side_effects.clone();
    // held by the PodDisruptionBudget: exactly the covered pod, with the server's message
    let held: Vec<&String> = se.iter().filter(|l| l.starts_with("held by")).collect();
    assert_eq!(held.len(), 1, "{se:?}");
    assert!(held[0].contains(&name(covered)), "{held:?}");
    assert!(held[0].contains("disruption budget"), "{held:?}");
    // moved: every other controller-managed, non-DaemonSet pod that was on the node
    let moved: Vec<String> = se
        .iter()
        .filter_map(|l| l.strip_prefix("moved "))
        .map(str::to_string)
        .collect();
    assert!(!moved.is_empty());
    for p in &on_node {
        let owner = p
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.first())
            .map(|o| o.kind.clone());
        let n = name(p);
        match owner.as_deref() {
            Some("ReplicaSet") if n != name(covered) => assert!(moved.contains(&n), "{n}: {se:?}"),
            Some("DaemonSet") => assert!(se.contains(&format!("skipped {n}: DaemonSet pod"))),
            _ => assert!(!moved.contains(&n)),
        }
    }
    // the drain is incomplete while the PDB holds: said so, not "applied"
    assert_eq!(out.result, OutcomeResult::Unverified, "{}", out.summary());
    assert!(
        out.summary().contains("held by a PDB 1"),
        "{}",
        out.summary()
    );
    assert_eq!(
        node(&c, &target).await.spec.unwrap().unschedulable,
        Some(true)
    );
    // the moved pods' replacements were scheduled elsewhere
    for p in pods(&c).await {
        let n = name(&p);
        if p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&target) {
            assert!(!moved.contains(&n));
        }
    }
    let (entries, _) = journal.read().unwrap();
    assert_eq!(entries[1]["result"], "unverified");
    assert!(
        entries[1]["side_effects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("held by"))
    );
    // uncordon
    let out = exec
        .execute(&Mutation::Cordon {
            node: target.clone(),
            unschedulable: false,
        })
        .await;
    assert_eq!(out.result, OutcomeResult::Applied, "{}", out.summary());
    assert_ne!(
        node(&c, &target).await.spec.unwrap().unschedulable,
        Some(true)
    );
}

#[tokio::test]
async fn read_only_refuses_every_inspect_action_on_the_simulator() {
    let h = support::sim("crashloop").await;
    let c = support::client(&h).await;
    let before: Vec<String> = pods(&c).await.iter().map(name).collect();
    let (exec, journal, _d) = executor(&h, true).await;
    for m in [
        Mutation::RolloutRestart {
            kind: "Deployment".into(),
            namespace: "kube-system".into(),
            name: "rke2-snapshot-controller".into(),
            at: "t".into(),
        },
        Mutation::DeletePod {
            namespace: "shop".into(),
            name: "shop-api-7c8d9e6f5a-x7k2p".into(),
            uid: None,
            owner: None,
        },
        Mutation::Cordon {
            node: "prod-worker-1".into(),
            unschedulable: true,
        },
        Mutation::Drain {
            node: "prod-worker-1".into(),
        },
    ] {
        assert_eq!(exec.execute(&m).await.result, OutcomeResult::Refused);
    }
    assert_eq!(pods(&c).await.iter().map(name).collect::<Vec<_>>(), before);
    assert!(journal.read().map(|(e, _)| e.is_empty()).unwrap_or(true));
}

/// Rules never match names a scenario chose: the crashloop story with its workload, namespace-local
/// names and nodes renamed gives the same `pod-crashloop` finding for the renamed Deployment.
#[tokio::test]
async fn crashloop_renamed_gives_the_same_finding() {
    let loaded = ktriage::sim::scenario::load("crashloop").unwrap();
    let mut text = serde_json::to_string(&serde_json::Value::Array(loaded.objects)).unwrap();
    for (a, b) in [
        ("rke2-snapshot-controller", "blob-sync"),
        ("snapshot-controller", "blobber"),
        ("prod-worker-", "zz-node-"),
        ("shop", "store"),
    ] {
        text = text.replace(a, b);
    }
    let objs: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut y = "name: renamed\nobjects:\n".to_string();
    for o in objs {
        y.push_str(&format!("  - {o}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("renamed.yaml");
    std::fs::write(&p, y).unwrap();
    let h = support::sim(&p.display().to_string()).await;
    let c = support::client(&h).await;
    let f = findings(&c).await;
    let crash: Vec<&str> = f
        .iter()
        .filter(|f| f.id == "pod-crashloop")
        .map(|f| f.key.as_str())
        .collect();
    assert_eq!(crash, ["pod-crashloop/Deployment/kube-system/blob-sync"]);
}
