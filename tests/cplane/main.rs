//! The real control plane tier (kube-apiserver, kube-controller-manager, kube-scheduler and
//! kubemark hollow nodes v1.20.2, in a network namespace of their own: `scripts/real-apiserver.sh
//! start DIR --control-plane`) and the chapter's stories on it, each also run on the simulator and
//! compared (simulator conformance on behaviour); the tier's network isolation; read-only proof
//! with every request recorded; the console in a real pty.
//!
//! Without the built binaries the real half of each test skips visibly, and fails under CI.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "../support/mod.rs"]
mod support;

mod console;
mod nodes;
mod safety;
mod stories;
mod tier;

use stories::{Checkpoints, assert_same, renamed_all};
use tier::{Names, Tier};

#[derive(Debug, Clone, Copy)]
enum Story {
    Leaders,
    Webhook,
    ApiService,
    Runaway,
    Nodes,
}

/// Runs a story; answers its checkpoints and a summary of any action's outcome.
async fn run(story: Story, t: &Tier) -> (Checkpoints, String) {
    let dir = tempfile::tempdir().unwrap();
    match story {
        Story::Leaders => (stories::leaders(t).await, String::new()),
        Story::Webhook => (stories::webhook(t, dir.path()).await, String::new()),
        Story::ApiService => (stories::apiservice(t, dir.path()).await, String::new()),
        Story::Runaway => stories::runaway(t, dir.path()).await,
        Story::Nodes => (nodes::nodes(t).await, String::new()),
    }
}

/// The story on the simulator under both sets of names (which must agree once renamed), then on
/// the real control plane under `real` names, which the simulator must match finding for finding.
async fn conformance(story: Story, real: Names) {
    let (a, b) = (Names::a(), Names::b());
    let sim_a = run(story, &Tier::sim(&a).await).await;
    let sim_b = run(story, &Tier::sim(&b).await).await;
    assert_same(
        &format!("{story:?}: simulator, names a vs b"),
        &renamed_all(&sim_a.0, &a, &b),
        &sim_b.0,
    );
    assert_eq!(sim_a.1, sim_b.1, "{story:?}: outcome, names a vs b");
    let Some(tier) = Tier::real(&real).await else {
        return;
    };
    let got = run(story, &tier).await;
    for (at, k) in &got.0 {
        eprintln!("{story:?} on the real control plane, {at}: {k:?}");
    }
    let want = if real.app_ns == a.app_ns {
        sim_a
    } else {
        sim_b
    };
    assert_same(
        &format!("{story:?}: real control plane (first) vs simulator (second)"),
        &got.0,
        &want.0,
    );
    assert_eq!(got.1, want.1, "{story:?}: outcome, real vs simulator");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leaders_stopped_go_missing_and_come_back() {
    conformance(Story::Leaders, Names::a()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fail_webhook_blocks_the_replicaset_and_the_toggle_unblocks() {
    conformance(Story::Webhook, Names::b()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unavailable_apiservice_holds_a_namespace_and_the_ordered_fix_empties_it() {
    conformance(Story::ApiService, Names::a()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runaway_scaled_to_zero_and_a_drain_held_by_the_budget() {
    conformance(Story::Runaway, Names::b()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_worker_and_control_plane_nodes_go_notready() {
    conformance(Story::Nodes, Names::a()).await;
}

/// The simulator's process control answers a clear error for a name it does not know, and
/// `running` is required.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_component_control_rejects_what_it_does_not_know() {
    let t = Tier::sim(&Names::a()).await;
    for (body, want) in [
        (
            serde_json::json!({"name": "kube-proxy", "running": false}),
            "unknown process \"kube-proxy\"",
        ),
        (
            serde_json::json!({"name": "kube-scheduler"}),
            "\"running\": true or false is required",
        ),
    ] {
        let (code, _, text) = support::raw(
            &t.client,
            "POST",
            "/_sim/component",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(code, 400, "{text}");
        let status: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            status["message"].as_str().unwrap_or("").contains(want),
            "{text}"
        );
    }
}

/// A process started again is a candidate: it takes its Lease only after watching it go unrenewed
/// for the lease duration (15 s), as client-go's leader election does, and nobody renews the old
/// holder's Lease meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_leader_takes_over_after_the_lease_duration() {
    use k8s_openapi::api::coordination::v1::Lease;
    let t = Tier::sim(&Names::a()).await;
    let leases: kube::Api<Lease> = kube::Api::namespaced(t.client.clone(), "kube-system");
    let holder = |l: Lease| l.spec.unwrap().holder_identity.unwrap_or_default();
    let old = holder(leases.get("kube-scheduler").await.unwrap());
    let component = |running: bool, ago: &str| serde_json::json!({"name": "kube-scheduler", "running": running, "ago": ago});
    support::control(&t.client, "component", component(false, "60s")).await;
    let started = support::control(&t.client, "component", component(true, "13s")).await;
    assert_eq!(started["leader"], false, "{started}");
    let before = leases.get("kube-scheduler").await.unwrap();
    let trigger = serde_json::json!({"name": "renew-leases", "namespace": "kube-system"});
    support::control(&t.client, "trigger", trigger.clone()).await;
    let after = leases.get("kube-scheduler").await.unwrap();
    assert_eq!(holder(after.clone()), old, "still the old holder's");
    assert_eq!(
        after.spec.unwrap().renew_time,
        before.spec.unwrap().renew_time,
        "nobody renews the old holder's Lease"
    );
    // the candidate's 15 s end within about 2 s; renewals come every 2 s (here: on demand)
    let new = support::eventually("the candidate takes the Lease", || async {
        support::control(&t.client, "trigger", trigger.clone()).await;
        let h = holder(leases.get("kube-scheduler").await.ok()?);
        (h != old).then_some(h)
    })
    .await;
    assert!(new.starts_with("tier-host_"), "{new}");
    let l = leases.get("kube-scheduler").await.unwrap().spec.unwrap();
    assert_eq!(l.lease_transitions, Some(1));
}
