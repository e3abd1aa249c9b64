//! The `scale:NODES:PODS[:EVENTS[:NAMESPACES]]` generator: a large, compact, healthy-looking
//! cluster for load tests (every pod Running on some node, node leases, pod events, metrics).

use serde_json::{Value, json};

use super::SimError;
use super::scenario::{Loaded, base_objects};

fn bad(spec: &str, why: &str) -> SimError {
    SimError::InvalidScenario {
        path: format!("scale:{spec}"),
        line: None,
        message: format!("{why} (expected scale:NODES:PODS[:EVENTS[:NAMESPACES]])"),
    }
}

/// Builds the generated scenario from `NODES:PODS[:EVENTS[:NAMESPACES]]`.
pub fn generate(spec: &str) -> Result<Loaded, SimError> {
    let nums: Vec<usize> = spec
        .split(':')
        .map(|p| {
            p.parse::<usize>()
                .map_err(|_| bad(spec, &format!("{p:?} is not a number")))
        })
        .collect::<Result<_, _>>()?;
    let (nodes, pods) = match nums.as_slice() {
        [n, p, ..] => (*n, *p),
        _ => return Err(bad(spec, "NODES and PODS are required")),
    };
    if nodes == 0 || nums.len() > 4 {
        return Err(bad(spec, "need at least one node and at most four numbers"));
    }
    let events = nums.get(2).copied().unwrap_or(pods / 5);
    let nss = nums
        .get(3)
        .copied()
        .unwrap_or((pods / 25).clamp(1, 2000))
        .max(1);
    let now = chrono::Utc::now();
    let ts = |secs: i64| {
        (now - chrono::Duration::seconds(secs)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let created = ts(86400 * 20);
    let mut out = base_objects();
    out.reserve(nodes * 2 + pods + events + nss);
    for i in 0..nss {
        out.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("ns-{i:04}"), "creationTimestamp": created}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}));
    }
    let node_name = |i: usize| {
        if i < 3 {
            format!("cp-{i}")
        } else {
            format!("worker-{:05}", i - 3)
        }
    };
    for i in 0..nodes {
        let name = node_name(i);
        let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"});
        if i < 3 {
            labels["node-role.kubernetes.io/control-plane"] = json!("true");
            labels["node-role.kubernetes.io/etcd"] = json!("true");
        } else {
            labels["node-role.kubernetes.io/worker"] = json!("true");
        }
        out.push(json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "creationTimestamp": created, "labels": labels},
            "spec": {"podCIDR": format!("10.42.{}.0/24", i % 256)},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": ts(20), "lastTransitionTime": created}],
                "addresses": [{"type": "InternalIP", "address": format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256)}, {"type": "Hostname", "address": name}],
                "capacity": {"cpu": "8", "memory": "32869400Ki", "pods": "110"}, "allocatable": {"cpu": "8", "memory": "32767000Ki", "pods": "110"},
                "nodeInfo": {"kubeletVersion": "v1.28.9+rke2r1", "kubeProxyVersion": "v1.28.9+rke2r1", "osImage": "SUSE Linux Enterprise Server 15 SP5", "kernelVersion": "5.14.21-150500.55.52-default", "containerRuntimeVersion": "containerd://1.7.11-k3s2", "operatingSystem": "linux", "architecture": "amd64"}}}));
        out.push(json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name, "namespace": "kube-node-lease", "creationTimestamp": created},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": (now - chrono::Duration::seconds(5)).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}}));
    }
    for i in 0..pods {
        let ns = format!("ns-{:04}", i % nss);
        let app = format!("app-{}", (i / nss) % 50);
        let name = format!(
            "{app}-{:08x}",
            (i as u64).wrapping_mul(2654435761) & 0xffff_ffff
        );
        out.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "uid": pod_uid(i), "creationTimestamp": ts(3600 + (i as i64 % 86400)), "labels": {"app": app}},
            "spec": {"nodeName": node_name(i % nodes), "containers": [{"name": "main", "image": "registry.local/app:1.4.2", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]},
            "status": {"phase": "Running", "podIP": format!("10.42.{}.{}", (i / 250) % 256, 2 + i % 250), "startTime": created,
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "main", "ready": true, "restartCount": i % 7 / 6, "image": "registry.local/app:1.4.2", "started": true, "state": {"running": {"startedAt": created}}}]}}));
    }
    let reasons = [
        (
            "Normal",
            "Pulled",
            "Container image \"registry.local/app:1.4.2\" already present on machine",
        ),
        ("Normal", "Started", "Started container main"),
        (
            "Warning",
            "BackOff",
            "Back-off restarting failed container main in pod",
        ),
        (
            "Warning",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        ),
    ];
    for i in 0..events {
        let p = if pods == 0 { 0 } else { i % pods };
        let ns = format!("ns-{:04}", p % nss.max(1));
        let app = format!("app-{}", (p / nss) % 50);
        let pod = format!(
            "{app}-{:08x}",
            (p as u64).wrapping_mul(2654435761) & 0xffff_ffff
        );
        let (ty, reason, msg) = reasons[i % reasons.len()];
        let when = ts((i % 3600) as i64);
        out.push(json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": format!("{pod}.{:016x}", i), "namespace": ns, "creationTimestamp": when},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod, "apiVersion": "v1", "uid": pod_uid(p)},
            "reason": reason, "message": msg, "type": ty, "count": 1 + i % 5, "firstTimestamp": when, "lastTimestamp": when,
            "source": {"component": "kubelet", "host": node_name(p % nodes)}, "reportingComponent": "kubelet", "reportingInstance": node_name(p % nodes)}));
    }
    out.extend(metrics_server());
    Ok(Loaded {
        name: format!("scale:{spec}"),
        users: vec![],
        objects: out,
        logs: vec![],
        behaviours: vec![],
        etcd: Default::default(),
        stopped: vec![],
    })
}

/// Deterministic pod UIDs, so generated events can name their pod's uid.
fn pod_uid(i: usize) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", i, i)
}

fn metrics_server() -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "metrics-server", "namespace": "kube-system"}, "spec": {"type": "ClusterIP", "clusterIP": "10.43.50.10", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "metrics-server", "namespace": "kube-system"}, "subsets": [{"addresses": [{"ip": "10.42.0.20"}], "ports": [{"name": "https", "port": 10250, "protocol": "TCP"}]}]}),
        json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true, "groupPriorityMinimum": 100, "versionPriority": 100, "service": {"name": "metrics-server", "namespace": "kube-system", "port": 443}}}),
    ]
}
