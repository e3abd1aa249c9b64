//! Two proofs on the real control plane: nothing in the tier can send a packet off loopback, and a
//! read-only ktriage sends no write and no request for Secrets, by the API server's own record of
//! every request (its audit log), with the controller-manager publishing `kube-root-ca.crt` in
//! every namespace.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use crate::support::audit;
use crate::support::real::{Options, RealServer};
use crate::support::tmux::Tmux;
use crate::tier::on_screen;

fn net_ns(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Every PID the start script recorded in `dir` (`NAME.pid`, `etcdI/pid`), by name.
fn recorded_pids(dir: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.extend(
        std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("etcd"))
            .map(|e| e.path().join("pid")),
    );
    for f in files {
        let name = match f.file_name().and_then(|n| n.to_str()) {
            Some("pid") => f
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string(),
            Some(n) if n.ends_with(".pid") => n.trim_end_matches(".pid").to_string(),
            _ => continue,
        };
        if let Ok(p) = std::fs::read_to_string(&f) {
            out.push((name, p.trim().parse().unwrap()));
        }
    }
    out
}

/// The address in a `/proc/net/{tcp,udp}[6]` column (`0100007F:1F90`).
fn proc_addr(col: &str) -> IpAddr {
    let hex = col.split(':').next().unwrap();
    let words: Vec<[u8; 4]> = (0..hex.len() / 8)
        .map(|i| {
            u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16)
                .unwrap()
                .to_le_bytes()
        })
        .collect();
    if words.len() == 1 {
        IpAddr::V4(Ipv4Addr::from(words[0]))
    } else {
        let b: Vec<u8> = words.concat();
        IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap()))
    }
}

fn loopback_or_unset(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    ip.is_loopback() || ip.is_unspecified()
}

/// `(local, remote, inode)` of every socket in the tables of the network namespace `/proc/PID/net`
/// (`self` for this process's).
fn sockets(pid: &str) -> Vec<(IpAddr, IpAddr, String)> {
    let mut out = Vec::new();
    for t in ["tcp", "tcp6", "udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{t}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            out.push((proc_addr(f[1]), proc_addr(f[2]), f[9].to_string()));
        }
    }
    out
}

/// Nothing in the tier can reach anything but its own loopback: every process the script started
/// runs in the tier's network namespace, whose only interface is `lo` and which has no route; every
/// socket in it is on loopback; the hollow nodes report 127.0.0.1; the forwarder's sockets on the
/// machine's side are on 127.0.0.1. Then the API server is made to dial a webhook backend off
/// loopback (192.0.2.10, a documentation address) and the kernel refuses at once — checked only
/// after the isolation itself, so a broken isolation fails before anything is dialled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_tier_sends_nothing_off_loopback() {
    let opts = Options::control_plane(&["worker-1"], &["cp-1"]);
    let Some(s) = tokio::task::spawn_blocking(move || RealServer::start_with(&opts))
        .await
        .unwrap()
    else {
        return;
    };
    let fwd = s.pid("netns").unwrap();
    let tier_ns = net_ns(fwd);
    assert_ne!(
        tier_ns,
        net_ns(std::process::id()),
        "the tier shares the machine's network"
    );
    let pids = recorded_pids(s.dir.path());
    let names: BTreeSet<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "worker-1",
        "cp-1",
        "etcd1",
    ] {
        assert!(names.contains(want), "no {want} in {names:?}");
    }
    for (name, pid) in &pids {
        assert_eq!(
            net_ns(*pid),
            tier_ns,
            "{name} (pid {pid}) runs outside the tier's namespace"
        );
    }
    let dev = std::fs::read_to_string(format!("/proc/{fwd}/net/dev")).unwrap();
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{dev}");
    let routes = std::fs::read_to_string(format!("/proc/{fwd}/net/route")).unwrap();
    assert_eq!(routes.lines().count(), 1, "routes in the tier: {routes}");
    let inside = sockets(&fwd.to_string());
    assert!(
        inside.len() > 10,
        "the tier's own connections are listed: {inside:?}"
    );
    for (l, r, _) in &inside {
        assert!(
            loopback_or_unset(*l) && loopback_or_unset(*r),
            "socket {l} -> {r} in the tier"
        );
    }
    let c = crate::support::real::client_from(&s.admin_kubeconfig()).await;
    let nodes: Api<Node> = Api::all(c.clone());
    for n in nodes.list(&ListParams::default()).await.unwrap() {
        for a in n.status.unwrap().addresses.unwrap() {
            if a.type_ == "InternalIP" {
                assert_eq!(a.address, "127.0.0.1", "{:?}", n.metadata.name);
            }
        }
    }
    // the kubelets keep their files in the tier's directory (removed with it), not in /tmp
    for node in ["worker-1", "cp-1"] {
        let log = std::fs::read_to_string(s.dir.path().join(format!("{node}.log"))).unwrap();
        let root = log
            .lines()
            .find_map(|l| l.split("Using ").nth(1)?.split(" as root dir").next())
            .unwrap_or_else(|| panic!("{node}: no root dir in its log"));
        assert!(
            Path::new(root).starts_with(s.dir.path()),
            "{node}: root dir {root}"
        );
    }
    forwarder_host_side(fwd);
    webhook_dial_is_refused(&c).await;
}

/// The forwarder's sockets in the machine's own namespace (its listeners and their accepted
/// connections) are on 127.0.0.1.
fn forwarder_host_side(fwd: u32) {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{fwd}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_string_lossy()
                .strip_prefix("socket:[")
                .map(|s| s.trim_end_matches(']').to_string())
        })
        .collect();
    let host: Vec<_> = sockets("self")
        .into_iter()
        .filter(|(_, _, i)| inodes.contains(i))
        .collect();
    assert!(
        !host.is_empty(),
        "the forwarder's listeners are on the machine's side"
    );
    for (l, r, _) in &host {
        assert!(
            loopback_or_unset(*l) && loopback_or_unset(*r),
            "forwarder socket {l} -> {r}"
        );
    }
}

/// A Fail webhook whose only endpoint is 192.0.2.10: the API server's call fails with the kernel's
/// "network is unreachable" (no interface, no route: nothing is sent).
async fn webhook_dial_is_refused(c: &kube::Client) {
    let ns = "dial-probe";
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": ns, "labels": {"dial-probe": "yes"}}}))
            .unwrap(),
    )
    .await
    .unwrap();
    let objs = [
        (
            "/api/v1/namespaces/dial-probe/services",
            json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "backend"}, "spec": {"ports": [{"port": 443}]}}),
        ),
        (
            "/api/v1/namespaces/dial-probe/endpoints",
            json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "backend"}, "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 443}]}]}),
        ),
        (
            "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
            json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "dial-probe"},
            "webhooks": [{"name": "dial.probe.example.com", "failurePolicy": "Fail", "sideEffects": "None",
                "admissionReviewVersions": ["v1"], "timeoutSeconds": 5,
                "clientConfig": {"service": {"namespace": ns, "name": "backend"}},
                "namespaceSelector": {"matchLabels": {"dial-probe": "yes"}},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}]}]}),
        ),
    ];
    for (path, body) in objs {
        let (code, _, text) = crate::support::raw(
            c,
            "POST",
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
        assert_eq!(code, 201, "{path}: {text}");
    }
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), ns);
    let t0 = std::time::Instant::now();
    let err = loop {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"generateName": "probe-"}})).unwrap();
        match cms.create(&PostParams::default(), &cm).await {
            Err(e) => break e.to_string(),
            Ok(_) => {
                assert!(
                    t0.elapsed() < Duration::from_secs(15),
                    "the webhook never applied"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    assert!(
        err.contains("dial tcp 192.0.2.10:443") && err.contains("network is unreachable"),
        "{err}"
    );
}

/// Keys a person may press, on every pane: every printable character but `q`, and the named keys.
fn key_storm(t: &Tmux) {
    for pane in ["1", "2", "3", "4", "5", "6", "7"] {
        t.keys(&[pane]);
        for c in (' '..='~').filter(|c| *c != 'q') {
            t.literal(&c.to_string());
        }
        t.keys(&["Enter", "Tab", "Down", "Up", "Escape", "Escape", "Escape"]);
    }
}

/// A read-only console and a report on the real control plane, with stories that offer every kind
/// of action (a Deployment without limits, a Fail webhook, an unavailable APIService holding a
/// Terminating namespace): the API server's audit log of the `ktriage-under-test` user holds reads
/// only (the who-am-I reviews aside) and no Secret; the same log shows kube-system's Secrets were
/// read by the controller-manager, so the log would show ktriage's too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_only_console_sends_no_write_and_asks_for_no_secret() {
    let mut opts = Options::control_plane(&["worker-1"], &[]);
    opts.audit = true;
    let Some(s) = tokio::task::spawn_blocking(move || RealServer::start_with(&opts))
        .await
        .unwrap()
    else {
        return;
    };
    let names = crate::tier::Names::a();
    let tier = crate::tier::Tier::from_server(s, &names).await;
    crate::stories::every_action_offered(&tier).await;
    let s = tier.server().unwrap();
    // kube-root-ca.crt in every namespace: the controller-manager runs
    let nss: Api<Namespace> = Api::all(tier.client.clone());
    let cms: Api<ConfigMap> = Api::all(tier.client.clone());
    let lp = ListParams::default().fields("metadata.name=kube-root-ca.crt");
    let active: BTreeSet<String> = nss
        .list(&ListParams::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Active"))
        .filter_map(|n| n.metadata.name)
        .collect();
    let published: BTreeSet<String> = cms
        .list(&lp)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|c| c.metadata.namespace)
        .collect();
    assert!(
        active.is_subset(&published),
        "kube-root-ca.crt missing: {active:?} vs {published:?}"
    );
    let kc = s.ktriage_kubeconfig().display().to_string();
    let tui_home = tempfile::tempdir().unwrap();
    let journal = tui_home.path().join("journal.jsonl").display().to_string();
    let Some(t) = Tmux::ktriage(
        "cplane-read-only",
        tui_home.path(),
        &["--kubeconfig", &kc, "--read-only", "--journal", &journal],
    ) else {
        return;
    };
    on_screen(&t, "API ok v1.20.2");
    on_screen(&t, "fails closed");
    key_storm(&t);
    t.keys(&["?"]);
    on_screen(&t, "read-only: actions that change the cluster are hidden");
    t.keys(&["Escape"]);
    let home = tempfile::tempdir().unwrap();
    let out = crate::support::ktriage(
        home.path(),
        &[
            "--kubeconfig",
            &kc,
            "report",
            "--format",
            "json",
            "--observe",
            "2",
        ],
    );
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !Path::new(&journal).exists() || std::fs::read_to_string(&journal).unwrap().is_empty(),
        "journal written"
    );
    let all = audit::read(&s.audit_log());
    let mine = audit::by(&all, audit::UNDER_TEST);
    for want in [
        "/api/v1/pods",
        "/apis/coordination.k8s.io/v1/leases",
        "/api/v1/nodes",
        "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
    ] {
        assert!(
            mine.iter().any(|r| r.uri.starts_with(want)),
            "ktriage never read {want}: the log is not ktriage's"
        );
    }
    assert!(
        !audit::secret_reads(&all).is_empty(),
        "the audit log records Secret requests (the controller-manager's), so it would record ktriage's"
    );
    audit::assert_read_only_without_secrets(&mine);
}
