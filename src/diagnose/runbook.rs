//! Recovery runbooks: the Rancher troubleshooting guide's steps for the situation the findings
//! describe (split brain, lost quorum, NOSPACE, a down or stale member), for the distribution
//! detected from the API (node labels, the kubelet version suffix, the etcd static pods' command
//! line), with the member IDs, nodes and paths filled in. Every command runs as printed where the
//! step says (`etcdctl` through `kubectl exec` into a majority member's etcd pod while the API serves,
//! through `crictl exec` / `docker exec` on a node otherwise: RKE2 and RKE1 hosts ship no etcdctl;
//! on k3s, which has neither etcdctl nor an etcd pod, the runbook first installs the etcdctl of the
//! member's own version, as k3s's documentation does). Lossless paths come before snapshot
//! restores. ktriage shows and copies these commands (OSC 52); it never runs them. The steps
//! themselves are in [`super::recovery`].

use crate::model::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Rke2,
    K3s,
    Rke1,
    Kubeadm,
    Unknown,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Rke2 => "RKE2",
            Platform::K3s => "k3s",
            Platform::Rke1 => "RKE1",
            Platform::Kubeadm => "kubeadm",
            Platform::Unknown => "unknown distribution",
        }
    }

    pub fn service(self) -> &'static str {
        match self {
            Platform::K3s => "k3s",
            Platform::Kubeadm => "kubelet",
            Platform::Unknown => "etcd",
            _ => "rke2-server",
        }
    }

    pub fn db_dir(self) -> &'static str {
        match self {
            Platform::Rke2 => "/var/lib/rancher/rke2/server/db/etcd",
            Platform::K3s => "/var/lib/rancher/k3s/server/db/etcd",
            _ => "/var/lib/etcd",
        }
    }

    /// The `server:` URL another server joins through: RKE2's supervisor port 9345; k3s serves
    /// joins on its API port 6443.
    pub fn join_url(self, ip: &str) -> String {
        let port = if self == Platform::K3s { 6443 } else { 9345 };
        format!("https://{ip}:{port}")
    }

    /// `rke2` / `k3s`: the binary and the directory name.
    pub fn dist(self) -> &'static str {
        if self == Platform::K3s { "k3s" } else { "rke2" }
    }

    /// etcdctl's flags for the member's own client port with this distribution's certificates
    /// (RKE2's as the Rancher guide's loop names them; k3s's as k3s's own documentation does).
    pub fn etcdctl_flags(self) -> String {
        let (ca, cert, key) = match self {
            Platform::Rke2 => {
                let t = "/var/lib/rancher/rke2/server/tls/etcd";
                (
                    format!("{t}/server-ca.crt"),
                    format!("{t}/server-client.crt"),
                    format!("{t}/server-client.key"),
                )
            }
            Platform::K3s => (
                format!("{K3S_TLS}/server-ca.crt"),
                format!("{K3S_TLS}/client.crt"),
                format!("{K3S_TLS}/client.key"),
            ),
            Platform::Kubeadm => (
                "/etc/kubernetes/pki/etcd/ca.crt".into(),
                "/etc/kubernetes/pki/etcd/server.crt".into(),
                "/etc/kubernetes/pki/etcd/server.key".into(),
            ),
            _ => return String::new(),
        };
        format!("--endpoints=https://127.0.0.1:2379 --cacert={ca} --cert={cert} --key={key}")
    }

    /// etcdctl run on a node of this distribution (inside the etcd container: the hosts ship none).
    pub fn etcdctl_on_node(self) -> String {
        let flags = self.etcdctl_flags();
        match self {
            Platform::Rke2 => {
                let crictl = "CRI_CONFIG_FILE=/var/lib/rancher/rke2/agent/etc/crictl.yaml /var/lib/rancher/rke2/bin/crictl";
                format!(
                    "{crictl} exec $({crictl} ps --label io.kubernetes.container.name=etcd --quiet) etcdctl {flags}"
                )
            }
            // k3s runs etcd inside its own process and ships no etcdctl: see `k3s_etcdctl_install`
            Platform::K3s => format!("etcdctl {flags}"),
            Platform::Kubeadm => format!(
                "crictl exec $(crictl ps --label io.kubernetes.container.name=etcd --quiet) etcdctl {flags}"
            ),
            // RKE1's etcd container sets ETCDCTL_* itself
            Platform::Rke1 => "docker exec etcd etcdctl".into(),
            Platform::Unknown => "etcdctl".into(),
        }
    }

    /// etcdctl from a jump host through the API, inside `pod` (RKE2 and kubeadm run etcd as pods).
    pub fn etcdctl_via_api(self, pod: &str) -> Option<String> {
        matches!(self, Platform::Rke2 | Platform::Kubeadm).then(|| {
            format!(
                "kubectl -n kube-system exec {pod} -- etcdctl {}",
                self.etcdctl_flags()
            )
        })
    }
}

/// k3s's etcd certificates.
const K3S_TLS: &str = "/var/lib/rancher/k3s/server/tls/etcd";

/// Where etcd's release archives are published (k3s's documentation installs etcdctl from there).
pub const ETCD_RELEASES: &str = "https://github.com/etcd-io/etcd/releases/download";

/// On a k3s server: install the etcdctl of the version the local member runs (its `/version`,
/// read with k3s's certificates) for this machine's architecture into /usr/local/bin. k3s has no
/// etcdctl and no etcd pod to exec into (etcd runs inside the k3s process), and its own commands
/// handle snapshots only (`k3s etcd-snapshot save|ls|delete|prune`), so k3s's documentation
/// ("Advanced Options", "Using etcdctl") installs etcd's release build.
pub fn k3s_etcdctl_install() -> String {
    format!(
        "V=$(curl -s --cacert {K3S_TLS}/server-ca.crt --cert {K3S_TLS}/client.crt --key {K3S_TLS}/client.key https://127.0.0.1:2379/version | sed 's/.*\"etcdserver\":\"\\([^\"]*\\)\".*/\\1/') && A=$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/') && curl -sL {ETCD_RELEASES}/v$V/etcd-v$V-linux-$A.tar.gz | tar -xz -C /usr/local/bin --strip-components=1 etcd-v$V-linux-$A/etcdctl && etcdctl version"
    )
}

/// The distribution and why ktriage thinks so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub platform: Platform,
    pub why: String,
}

pub fn detect(model: &Model) -> Detected {
    // the nodes store keeps the few nodes that tell (see `NodeRow::tells_platform`)
    let telling = || model.nodes.store.marked();
    if let Some(n) = telling().find(|n| n.names_distribution()) {
        let v = &n.kubelet_version;
        if v.contains("+rke2") || n.instance_type.as_deref() == Some("rke2") {
            return Detected {
                platform: Platform::Rke2,
                why: format!("node {} runs kubelet {v}", n.name),
            };
        }
        if v.contains("+k3s") || n.instance_type.as_deref() == Some("k3s") {
            return Detected {
                platform: Platform::K3s,
                why: format!("node {} runs kubelet {v}", n.name),
            };
        }
    }
    if let Some(v) = &model.api.version {
        if v.contains("+rke2") {
            return Detected {
                platform: Platform::Rke2,
                why: format!("the API server is {v}"),
            };
        }
        if v.contains("+k3s") {
            return Detected {
                platform: Platform::K3s,
                why: format!("the API server is {v}"),
            };
        }
    }
    // kubeadm's etcd static pods name their certificates under /etc/kubernetes/pki/etcd
    if let Some(p) = model.etcd.pods.iter().find(|p| {
        p.advertise_client_url.is_some()
            || p.args
                .iter()
                .any(|a| a.contains("/etc/kubernetes/pki/etcd/"))
    }) {
        return Detected {
            platform: Platform::Kubeadm,
            why: format!("etcd pod {} runs with kubeadm's certificates", p.name),
        };
    }
    // RKE1 labels control-plane nodes `controlplane` and runs etcd as a Docker container, not a pod
    let rke1 = telling().find(|n| n.has_role("controlplane"));
    if let Some(n) = rke1
        && model.etcd.pods.is_empty()
    {
        return Detected {
            platform: Platform::Rke1,
            why: format!(
                "node {} carries node-role.kubernetes.io/controlplane and no etcd pod runs",
                n.name
            ),
        };
    }
    Detected {
        platform: Platform::Unknown,
        why: if model.nodes.store.is_empty() {
            "no node list (Kubernetes not configured or not synced)".into()
        } else {
            "no RKE2/k3s version suffix and no RKE1 labels".into()
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub text: String,
    pub command: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runbook {
    pub title: String,
    pub detected: Detected,
    pub steps: Vec<Step>,
}

impl Runbook {
    /// The commands, one per line, as copied to the clipboard.
    pub fn commands(&self) -> String {
        self.steps
            .iter()
            .filter_map(|s| s.command.as_deref())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The runbook for the worst etcd situation, if any (`now` dates the snapshot a restore would use).
/// The distribution is detected only when a runbook applies (it reads every node: the rules run
/// this after every evaluation).
pub fn build(model: &Model, now: chrono::DateTime<chrono::Utc>) -> Option<Runbook> {
    let find = |id: &str| model.findings.iter().find(|f| f.id == id);
    if let Some(f) = find("etcd-split-brain") {
        return Some(super::recovery::split_brain(model, f, detect(model)));
    }
    if find("etcd-quorum-lost").is_some() {
        return Some(super::recovery::quorum_lost(model, detect(model), now));
    }
    if let Some(f) = find("etcd-alarm") {
        return Some(super::recovery::nospace(model, f, detect(model)));
    }
    if let Some(f) = find("etcd-member-stale") {
        return Some(super::recovery::remove_member(model, f, detect(model)));
    }
    if let Some(f) = find("etcd-member-down") {
        return Some(super::recovery::member_down(model, f, detect(model)));
    }
    None
}

pub(crate) fn step(text: impl Into<String>, command: Option<String>) -> Step {
    Step {
        text: text.into(),
        command,
    }
}
