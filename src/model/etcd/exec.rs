//! What the exec source runs, and where: `etcdctl -w json` in every running etcd pod whose command
//! line names its certificates (the etcd pane's question shows the same plan). Pure: the etcd pods'
//! rows in, the pods and their etcdctl out.

use std::time::Duration;

use super::EtcdPodRow;

/// Between rounds: an exec is a process in every etcd container, so less often than the probe.
pub const EVERY: Duration = Duration::from_secs(15);

/// What each round runs in every pod (with `-w json` and the pod's certificates, [`Etcdctl::argv`]).
pub const COMMANDS: [&[&str]; 3] = [
    &["endpoint", "status", "--cluster"],
    &["member", "list"],
    &["alarm", "list"],
];

/// Where a round runs: the running etcd pods whose command line names their certificates, and the
/// running ones that do not (left out).
#[derive(Debug, Default)]
pub struct Targets {
    /// (pod, node, how etcdctl reaches its member there).
    pub pods: Vec<(String, Option<String>, Etcdctl)>,
    pub skipped: Vec<String>,
}

/// The targets among the etcd pods (the exec key's question shows the same list).
pub fn targets<'a>(rows: impl IntoIterator<Item = &'a EtcdPodRow>) -> Targets {
    let mut t = Targets::default();
    for row in rows.into_iter().filter(|r| r.phase == "Running") {
        match etcdctl_for(&row.args) {
            Some(ctl) => t.pods.push((row.name.clone(), row.node.clone(), ctl)),
            None => t.skipped.push(row.name.clone()),
        }
    }
    t
}

/// How etcdctl reaches its own member inside the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Etcdctl {
    pub endpoint: String,
    pub cacert: String,
    pub cert: String,
    pub key: String,
}

impl Etcdctl {
    /// The argv for `args` (`["endpoint", "status", "--cluster"]`).
    pub fn argv(&self, args: &[&str]) -> Vec<String> {
        let mut v = vec![
            "etcdctl".to_string(),
            format!("--endpoints={}", self.endpoint),
            format!("--cacert={}", self.cacert),
            format!("--cert={}", self.cert),
            format!("--key={}", self.key),
            "--command-timeout=3s".into(),
            "-w".into(),
            "json".into(),
        ];
        v.extend(args.iter().map(|a| a.to_string()));
        v
    }
}

/// The certificate paths from an etcd pod's command line: kubeadm names them
/// (`--trusted-ca-file`, `--cert-file`, `--key-file`); RKE2 and k3s keep them in their layout under
/// `/var/lib/rancher/<dist>/server/tls/etcd` (the pod points at `…/server/db/etcd`).
pub fn etcdctl_for(args: &[String]) -> Option<Etcdctl> {
    let local = flag(args, "--listen-client-urls")
        .and_then(|u| {
            u.split(',')
                .find(|x| x.contains("127.0.0.1") || x.contains("localhost"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "https://127.0.0.1:2379".into());
    if let (Some(ca), Some(cert), Some(key)) = (
        flag(args, "--trusted-ca-file"),
        flag(args, "--cert-file"),
        flag(args, "--key-file"),
    ) {
        return Some(Etcdctl {
            endpoint: local,
            cacert: ca,
            cert,
            key,
        });
    }
    let dist = args.iter().find_map(|a| {
        ["rke2", "k3s"]
            .into_iter()
            .find(|d| a.contains(&format!("/var/lib/rancher/{d}/server/")))
    })?;
    let dir = format!("/var/lib/rancher/{dist}/server/tls/etcd");
    Some(Etcdctl {
        endpoint: local,
        cacert: format!("{dir}/server-ca.crt"),
        cert: format!("{dir}/server-client.crt"),
        key: format!("{dir}/server-client.key"),
    })
}

/// A flag's value from a container command line (`--quota-backend-bytes=8589934592` or two words).
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v.to_string());
        }
        (a == name).then(|| args.get(i + 1).cloned()).flatten()
    })
}
