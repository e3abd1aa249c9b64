//! kubectl as an independent client of the simulator's Inspect behaviour: `rollout restart`,
//! `cordon`/`uncordon`, and `drain` refused by a PodDisruptionBudget with the message kubectl knows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::kubectl::{Kubectl, kubectl_or_skip};
use support::sim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_restart_cordon_and_drain_against_the_crashloop_story() {
    let Some(bin) = kubectl_or_skip("kubectl_restart_cordon_and_drain_against_the_crashloop_story")
    else {
        return;
    };
    let h = sim("crashloop").await;
    let k = Kubectl::new(bin, &h, "admin");
    let o = k
        .run(
            &[
                "-n",
                "kube-system",
                "rollout",
                "restart",
                "deployment/rke2-snapshot-controller",
            ],
            None,
        )
        .await;
    assert!(o.ok, "{}", o.stderr);
    assert!(o.stdout.contains("restarted"), "{}", o.stdout);
    let o = k.run(&["cordon", "prod-worker-1"], None).await;
    assert!(
        o.ok && o.stdout.contains("cordoned"),
        "{} {}",
        o.stdout,
        o.stderr
    );
    let o = k
        .run(
            &[
                "get",
                "node",
                "prod-worker-1",
                "-o",
                "jsonpath={.spec.unschedulable}",
            ],
            None,
        )
        .await;
    assert_eq!(o.stdout.trim(), "true", "{}", o.stderr);
    let o = k.run(&["uncordon", "prod-worker-1"], None).await;
    assert!(
        o.ok && o.stdout.contains("uncordoned"),
        "{} {}",
        o.stdout,
        o.stderr
    );
    // the node holding a shop-api pod: its PDB (minAvailable 2 of 2) refuses the eviction
    let o = k
        .run(
            &[
                "get",
                "pods",
                "-n",
                "shop",
                "-l",
                "app=api",
                "-o",
                "jsonpath={.items[0].spec.nodeName}",
            ],
            None,
        )
        .await;
    let node = o.stdout.trim().to_string();
    assert!(!node.is_empty(), "{}", o.stderr);
    let o = k
        .run(
            &[
                "drain",
                &node,
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--force",
                "--timeout=2s",
            ],
            None,
        )
        .await;
    assert!(!o.ok, "the PDB must hold the drain: {}", o.stdout);
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(
        all.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{all}"
    );
}
