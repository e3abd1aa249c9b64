//! kubectl as an independent client against the simulator (a fixed kubectl, its own HOME and
//! `--cache-dir` per test). Without kubectl these tests print `SKIP: kubectl not found` and pass,
//! unless under CI (`support::under_ci`), where they fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::kubectl::{Kubectl, kubectl_or_skip, wait_line};
use support::sim;

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n  namespace: default\ndata:\n  a: \"1\"\n";

fn terminating(out: &str, ns: &str) -> bool {
    out.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.first() == Some(&ns) && f.get(1) == Some(&"Terminating")
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kubectl_get_everything() {
    let Some(bin) = kubectl_or_skip("sim_kubectl_get_everything") else {
        return;
    };
    let h = sim("incident").await;
    let k = Kubectl::new(bin, &h, "admin");
    let o = k
        .run(&["get", "ns,nodes,pods,events,leases", "-A"], None)
        .await;
    assert!(o.ok, "{}", o.stderr);
    for want in [
        "namespace/kube-system",
        "node/prod-cp-1",
        "pod/etcd-prod-cp-2",
        "lease.coordination.k8s.io/kube-scheduler",
        "FailedCreate",
    ] {
        assert!(o.stdout.contains(want), "{want} missing:\n{}", o.stdout);
    }
    assert!(
        o.stdout.contains("control-plane,etcd,master") && o.stdout.contains("v1.28.9+rke2r1"),
        "{}",
        o.stdout
    );
    // kubectl reports the unavailable aggregated API on stderr, like against a real server (whose
    // aggregator answers a missing Service with a 404 page: tests/conformance.rs)
    assert!(
        o.stderr.contains(
            "couldn't get resource list for custom.metrics.k8s.io/v1beta1: the server could not find the requested resource"
        ),
        "{}",
        o.stderr
    );
    let o = k
        .ok(&["get", "validatingwebhookconfigurations,apiservices"])
        .await;
    assert!(o.contains("validatingwebhookconfiguration.admissionregistration.k8s.io/gatekeeper-validating-webhook-configuration"), "{o}");
    let line = o
        .lines()
        .find(|l| l.contains("v1beta1.custom.metrics.k8s.io"))
        .unwrap();
    assert!(
        line.contains("cattle-monitoring-system/prometheus-adapter")
            && line.contains("False (ServiceNotFound)"),
        "{line}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kubectl_create_apply_scale_dry_run_delete() {
    let Some(bin) = kubectl_or_skip("sim_kubectl_create_apply_scale_dry_run_delete") else {
        return;
    };
    let h = sim("healthy").await;
    let k = Kubectl::new(bin, &h, "admin");
    let o = k.run(&["create", "-f", "-"], Some(CM)).await;
    assert!(o.ok && o.stdout.contains("configmap/c1 created"), "{o:?}");
    let o = k
        .run(&["apply", "-f", "-"], Some(&CM.replace("\"1\"", "\"2\"")))
        .await;
    assert!(
        o.ok && o.stdout.contains("configmap/c1 configured"),
        "{o:?}"
    );
    assert_eq!(
        k.ok(&["get", "cm", "c1", "-o", "jsonpath={.data.a}"]).await,
        "2"
    );
    let o = k
        .run(
            &["apply", "--server-side", "-f", "-"],
            Some(&CM.replace("\"1\"", "\"3\"")),
        )
        .await;
    assert!(o.ok && o.stdout.contains("serverside-applied"), "{o:?}");
    assert_eq!(
        k.ok(&["get", "cm", "c1", "-o", "jsonpath={.data.a}"]).await,
        "3"
    );
    let o = k
        .run(
            &["create", "-f", "-", "--dry-run=server"],
            Some(&CM.replace("c1", "c2")),
        )
        .await;
    assert!(
        o.ok && o.stdout.contains("configmap/c2 created (server dry run)"),
        "{o:?}"
    );
    assert!(!k.run(&["get", "cm", "c2"], None).await.ok);
    let out = k
        .ok(&["scale", "deploy", "shop-web", "-n", "shop", "--replicas=5"])
        .await;
    assert!(out.contains("deployment.apps/shop-web scaled"), "{out}");
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "shop-web",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}/{.status.replicas}"
        ])
        .await,
        "5/5"
    );
    let out = k.ok(&["delete", "cm", "c1"]).await;
    assert!(out.contains("configmap \"c1\" deleted"), "{out}");
    let o = k.run(&["get", "cm", "c1"], None).await;
    assert!(
        !o.ok && o.stderr.contains("configmaps \"c1\" not found"),
        "{o:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kubectl_patch_finalizers_and_finalize() {
    let Some(bin) = kubectl_or_skip("sim_kubectl_patch_finalizers_and_finalize") else {
        return;
    };
    let h = sim("healthy").await;
    let k = Kubectl::new(bin, &h, "admin");
    k.run(
        &["create", "-f", "-"],
        Some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: t1\n"),
    )
    .await;
    let fins = || k.ok(&["get", "ns", "t1", "-o", "jsonpath={.metadata.finalizers}"]);
    k.ok(&[
        "patch",
        "ns",
        "t1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["a.example/x"]}}"#,
    ])
    .await;
    assert_eq!(fins().await, r#"["a.example/x"]"#);
    k.ok(&[
        "patch",
        "ns",
        "t1",
        "--type=strategic",
        "-p",
        r#"{"metadata":{"finalizers":["b.example/y"]}}"#,
    ])
    .await;
    // the patch's items first, as the real server orders a strategic merge of this list
    assert_eq!(fins().await, r#"["b.example/y","a.example/x"]"#);
    k.ok(&["patch", "ns", "t1", "--type=json", "-p", r#"[{"op":"test","path":"/metadata/finalizers/1","value":"a.example/x"},{"op":"remove","path":"/metadata/finalizers/1"}]"#]).await;
    assert_eq!(fins().await, r#"["b.example/y"]"#);
    let o = k.run(&["patch", "ns", "t1", "--type=json", "-p", r#"[{"op":"test","path":"/metadata/finalizers/0","value":"stale"},{"op":"remove","path":"/metadata/finalizers"}]"#], None).await;
    assert!(
        !o.ok && o.stderr.contains("The request is invalid"),
        "{o:?}"
    );
    assert_eq!(fins().await, r#"["b.example/y"]"#);
    k.ok(&["delete", "ns", "t1", "--wait=false"]).await;
    assert!(terminating(&k.ok(&["get", "ns"]).await, "t1"));
    // spec.finalizers cleared via /finalize; the metadata finalizer still holds it
    let ns_json = k.ok(&["get", "ns", "t1", "-o", "json"]).await;
    let mut v: serde_json::Value = serde_json::from_str(&ns_json).unwrap();
    v["spec"]["finalizers"] = serde_json::json!([]);
    let o = k
        .run(
            &[
                "replace",
                "--raw",
                "/api/v1/namespaces/t1/finalize",
                "-f",
                "-",
            ],
            Some(&v.to_string()),
        )
        .await;
    assert!(o.ok, "{o:?}");
    assert!(terminating(&k.ok(&["get", "ns"]).await, "t1"));
    k.ok(&[
        "patch",
        "ns",
        "t1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .await;
    let o = k.run(&["get", "ns", "t1"], None).await;
    assert!(
        !o.ok && o.stderr.contains("namespaces \"t1\" not found"),
        "{o:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kubectl_get_watch_receives_a_change() {
    let Some(bin) = kubectl_or_skip("sim_kubectl_get_watch_receives_a_change") else {
        return;
    };
    let h = sim("healthy").await;
    let k = Kubectl::new(bin, &h, "admin");
    let (mut child, rx) = k.spawn_lines(&["get", "cm", "-n", "default", "--watch"]);
    // the simulator's request log shows when kubectl's watch is open
    let c = support::client(&h).await;
    support::eventually("kubectl's watch request", || {
        let c = c.clone();
        async move {
            let (_, _, log) = support::raw(&c, "GET", "/_sim/requests", "", vec![]).await;
            log.lines()
                .any(|l| {
                    l.contains("\"/api/v1/namespaces/default/configmaps\"")
                        && l.contains("watch=true")
                })
                .then_some(())
        }
    })
    .await;
    let o = k.run(&["create", "-f", "-"], Some(CM)).await;
    assert!(o.ok, "{o:?}");
    let (line, _rx) = wait_line(rx, "c1", 20).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.is_some(), "the watch did not show c1");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kubectl_gatekeeper_down_done_when() {
    let Some(bin) = kubectl_or_skip("sim_kubectl_gatekeeper_down_done_when") else {
        return;
    };
    let h = sim("gatekeeper-down").await;
    let k = Kubectl::new(bin, &h, "admin");
    let o = k.run(&["run", "x", "--image=nginx"], None).await;
    assert!(!o.ok);
    assert!(
        o.stderr.contains("Error from server (InternalError): Internal error occurred: failed calling webhook \"validation.gatekeeper.sh\": failed to call webhook: Post \"https://gatekeeper-webhook-service.gatekeeper-system.svc:443/v1/admit?timeout=3s\": no endpoints available for service \"gatekeeper-webhook-service\""),
        "{}",
        o.stderr
    );
    let out = k
        .ok(&[
            "patch",
            "validatingwebhookconfiguration",
            "gatekeeper-validating-webhook-configuration",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    let out = k.ok(&["run", "x", "--image=nginx"]).await;
    assert!(out.contains("pod/x created"), "{out}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kubectl_stuck_namespaces_done_when() {
    let Some(bin) = kubectl_or_skip("sim_kubectl_stuck_namespaces_done_when") else {
        return;
    };
    let h = sim("stuck-namespaces").await;
    let k = Kubectl::new(bin, &h, "admin");
    let out = k.ok(&["get", "ns"]).await;
    for ns in [
        "cattle-monitoring-system",
        "shop-staging",
        "legacy-reports",
        "longhorn-system",
    ] {
        assert!(terminating(&out, ns), "{ns} not Terminating:\n{out}");
    }
    assert!(!terminating(&out, "kube-system"));
    let out = k.ok(&["get", "apiservices"]).await;
    let line = out
        .lines()
        .find(|l| l.starts_with("v1beta1.custom.metrics.k8s.io"))
        .unwrap();
    assert!(line.contains("False (ServiceNotFound)"), "{line}");
    let out = k
        .ok(&[
            "get",
            "ns",
            "cattle-monitoring-system",
            "-o",
            "jsonpath={.metadata.finalizers}",
        ])
        .await;
    assert_eq!(out, r#"["controller.cattle.io/namespace-auth"]"#);
    let out = k
        .ok(&["get", "volumes.longhorn.io", "-n", "longhorn-system"])
        .await;
    assert!(
        out.contains("pvc-3f1c2a9e-8b7d-4c6e-9f01-2a3b4c5d6e7f"),
        "{out}"
    );
    // a user without rights sees the real Forbidden text
    let jane = Kubectl::new(k.path().to_path_buf(), &h, "jane");
    let o = jane.run(&["get", "ns"], None).await;
    assert!(o.stderr.contains("Error from server (Forbidden): namespaces is forbidden: User \"jane\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"), "{}", o.stderr);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_kubectl_typed_creates_in_protobuf_and_drain() {
    let Some(bin) = kubectl_or_skip("sim_kubectl_typed_creates_in_protobuf_and_drain") else {
        return;
    };
    let h = sim("healthy").await;
    let k = Kubectl::new(bin, &h, "admin");
    assert!(
        k.ok(&["create", "namespace", "t2"])
            .await
            .contains("namespace/t2 created")
    );
    assert!(
        k.ok(&["create", "configmap", "c", "-n", "t2", "--from-literal=a=b"])
            .await
            .contains("configmap/c created")
    );
    assert_eq!(
        k.ok(&["get", "cm", "c", "-n", "t2", "-o", "jsonpath={.data.a}"])
            .await,
        "b"
    );
    assert!(
        k.ok(&[
            "create",
            "deployment",
            "d",
            "-n",
            "t2",
            "--image=nginx",
            "--replicas=2"
        ])
        .await
        .contains("deployment.apps/d created")
    );
    assert_eq!(
        k.ok(&[
            "get",
            "deploy",
            "d",
            "-n",
            "t2",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}"
        ])
        .await,
        "nginx"
    );
    let out = k
        .ok(&[
            "drain",
            "prod-worker-1",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=20s",
        ])
        .await;
    assert!(out.contains("node/prod-worker-1 drained"), "{out}");
    let pods = k
        .ok(&[
            "get",
            "pods",
            "-A",
            "--field-selector",
            "spec.nodeName=prod-worker-1",
            "-o",
            "name",
        ])
        .await;
    assert!(!pods.contains("shop-web"), "{pods}");
    h.shutdown().await;
}
