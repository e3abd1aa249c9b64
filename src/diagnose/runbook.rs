//! Recovery runbooks: the seed's steps for the situation the findings describe (split brain, lost
//! quorum, NOSPACE, a down member), for the distribution detected from the API (node labels, the
//! kubelet version suffix, etcd static pods), with the concrete member IDs and URLs filled in.
//! ktriage shows and copies these commands (OSC 52); it never runs them.

use crate::diagnose::Finding;
use crate::model::Model;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Rke2,
    K3s,
    Rke1,
    Unknown,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::Rke2 => "RKE2",
            Platform::K3s => "k3s",
            Platform::Rke1 => "RKE1",
            Platform::Unknown => "unknown distribution",
        }
    }

    fn service(self) -> &'static str {
        match self {
            Platform::K3s => "k3s",
            _ => "rke2-server",
        }
    }

    fn db_dir(self) -> &'static str {
        match self {
            Platform::Rke2 => "/var/lib/rancher/rke2/server/db/etcd",
            Platform::K3s => "/var/lib/rancher/k3s/server/db/etcd",
            _ => "/var/lib/etcd",
        }
    }

    /// How etcdctl is run on a node of this distribution.
    fn etcdctl(self) -> String {
        match self {
            Platform::Rke2 | Platform::K3s => {
                let d = if self == Platform::Rke2 {
                    "rke2"
                } else {
                    "k3s"
                };
                let t = format!("/var/lib/rancher/{d}/server/tls/etcd");
                format!(
                    "ETCDCTL_API=3 ETCDCTL_ENDPOINTS=https://127.0.0.1:2379 ETCDCTL_CACERT={t}/server-ca.crt \
                     ETCDCTL_CERT={t}/server-client.crt ETCDCTL_KEY={t}/server-client.key etcdctl"
                )
            }
            Platform::Rke1 => "docker exec etcd etcdctl".into(),
            Platform::Unknown => "etcdctl".into(),
        }
    }
}

/// The distribution and why ktriage thinks so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub platform: Platform,
    pub why: String,
}

pub fn detect(model: &Model) -> Detected {
    let nodes: Vec<_> = model.nodes.store.iter().collect();
    for n in &nodes {
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
    // RKE1 labels control-plane nodes `controlplane` and runs etcd as a Docker container, not a pod
    let rke1 = nodes.iter().find(|n| n.has_role("controlplane"));
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
        why: if nodes.is_empty() {
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

fn step(text: impl Into<String>, command: Option<String>) -> Step {
    Step {
        text: text.into(),
        command,
    }
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

fn servers(model: &Model) -> String {
    let names: Vec<&str> = model.nodes.etcd_nodes().map(|n| n.name.as_str()).collect();
    if names.is_empty() {
        "every etcd/server node".into()
    } else {
        names.join(", ")
    }
}

/// The runbook for the worst etcd situation, if any.
pub fn build(model: &Model) -> Option<Runbook> {
    let d = detect(model);
    let find = |id: &str| model.findings.iter().find(|f| f.id == id);
    if let Some(f) = find("etcd-split-brain") {
        return Some(split_brain(f, d));
    }
    if find("etcd-quorum-lost").is_some() {
        return Some(restore(model, d));
    }
    if let Some(f) = find("etcd-alarm") {
        return Some(nospace(f, d));
    }
    if let Some(f) = find("etcd-member-down") {
        let url = f
            .subject
            .as_ref()
            .and_then(|s| s.part.clone())
            .unwrap_or_default();
        let p = d.platform;
        let cmd = match p {
            Platform::Rke1 => "docker start etcd && docker logs --tail 100 etcd".to_string(),
            Platform::Unknown => "systemctl status etcd".into(),
            _ => format!(
                "systemctl restart {} && tail -n 100 /var/log/pods/kube-system_etcd-*/etcd/*.log",
                p.service()
            ),
        };
        return Some(Runbook {
            title: format!("etcd member down ({url})"),
            steps: vec![
                step(
                    format!("On the node of {url}: read the etcd log, then start etcd again"),
                    Some(cmd),
                ),
                step(
                    "Check that every endpoint answers again",
                    Some(format!("{} endpoint health --cluster", p.etcdctl())),
                ),
            ],
            detected: d,
        });
    }
    None
}

fn split_brain(f: &Finding, d: Detected) -> Runbook {
    let p = d.platform;
    let detail = |k: &str| {
        f.details
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let stale = detail("stale_member_id").unwrap_or_else(|| "<stale member ID>".into());
    let url = f
        .subject
        .as_ref()
        .and_then(|s| s.part.clone())
        .unwrap_or_else(|| "<island URL>".into());
    let island = f
        .subject
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let mut steps = vec![step(
        format!(
            "On a majority member, remove the stale entry {stale} the majority keeps for {url}"
        ),
        Some(format!("{} member remove {stale}", p.etcdctl())),
    )];
    match p {
        Platform::Rke1 => {
            steps.push(step(
                format!("On the island node ({url}, answering as {island}): stop etcd and move its data aside"),
                Some(format!(
                    "docker stop etcd && mv {0} {0}-old-$(date +%Y%m%d%H%M)",
                    p.db_dir()
                )),
            ));
            steps.push(step(
                "Rejoin it: run rke up (Rancher-managed RKE1: change the cluster settings instead)",
                Some("rke up --config cluster.yml".into()),
            ));
            steps.push(step(
                "If rke up fails, rebuild etcd with etcd-tools (rancherlabs/support-tools), then restore from a snapshot",
                None,
            ));
        }
        Platform::Unknown => {
            // plain etcd: the member must be added back before it starts with its old name
            let name = detail("stale_member_name").unwrap_or_else(|| "<name>".into());
            let peer = detail("island_peer_url").unwrap_or_else(|| "<peer URL>".into());
            steps.push(step(
                format!("On the island node ({url}, answering as {island}): stop etcd"),
                Some("systemctl stop etcd".into()),
            ));
            steps.push(step(
                "Move its data directory (etcd's --data-dir) aside",
                Some("mv <data-dir> <data-dir>-old-$(date +%Y%m%d%H%M)".into()),
            ));
            steps.push(step(
                "On a majority member, add it back as a new member",
                Some(format!(
                    "{} member add {name} --peer-urls={peer}",
                    p.etcdctl()
                )),
            ));
            steps.push(step(
                "Start it with the settings `member add` printed (--initial-cluster-state existing)",
                Some("systemctl start etcd".into()),
            ));
        }
        _ => {
            steps.push(step(
                format!("On the island node ({url}, answering as {island}): stop the server"),
                Some(format!("systemctl stop {}", p.service())),
            ));
            steps.push(step(
                "Move its etcd data directory aside",
                Some(format!("mv {0} {0}-old-$(date +%Y%m%d%H%M)", p.db_dir())),
            ));
            steps.push(step(
                "Start it again: it rejoins the majority as a new member",
                Some(format!("systemctl start {}", p.service())),
            ));
        }
    }
    steps.push(step(
        "Check: every endpoint answers with one cluster ID",
        Some(format!(
            "{} endpoint status --cluster -w table",
            p.etcdctl()
        )),
    ));
    Runbook {
        title: format!("etcd split brain: remove and rejoin {url} ({})", p.name()),
        detected: d,
        steps,
    }
}

/// The newest good snapshot's local path (RKE2/k3s records), for the restore command.
fn newest_snapshot(model: &Model) -> Option<(String, String)> {
    let rows = model.etcd.snapshots.as_ref()?.as_ref().ok()?;
    let s = rows.iter().find(|s| s.ok)?;
    let path = s
        .location
        .as_deref()
        .and_then(|l| l.strip_prefix("file://"))
        .map(str::to_string)?;
    let when = s
        .created
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    Some((
        path,
        format!(
            "newest snapshot record: {} on {} ({when})",
            s.name,
            s.node.as_deref().unwrap_or("?")
        ),
    ))
}

fn restore(model: &Model, d: Detected) -> Runbook {
    let p = d.platform;
    let servers = servers(model);
    let snapshot = newest_snapshot(model);
    let steps = match p {
        Platform::Rke1 => vec![step(
            "Restore the cluster from an etcd snapshot (RKE keeps them in /opt/rke/etcd-snapshots or S3)",
            Some("rke etcd snapshot-restore --config cluster.yml --name <snapshot>".into()),
        )],
        Platform::Unknown => vec![
            step(
                "Stop etcd on every member",
                Some("systemctl stop etcd".into()),
            ),
            step(
                "On every member, restore the same snapshot into a new data directory (its own --name and peer URL, the full --initial-cluster)",
                Some(
                    "etcdctl snapshot restore <snapshot.db> --name <name> --initial-cluster <name=peer-url,…> \
                     --initial-advertise-peer-urls <peer-url> --data-dir <new-data-dir>"
                        .into(),
                ),
            ),
            step(
                "Point etcd at the new data directory and start every member",
                Some("systemctl start etcd".into()),
            ),
        ],
        _ => {
            let d2 = if p == Platform::K3s { "k3s" } else { "rke2" };
            vec![
                step(
                    format!("Stop the server on all servers ({servers})"),
                    Some(format!("systemctl stop {}", p.service())),
                ),
                match &snapshot {
                    Some((path, what)) => step(
                        format!(
                            "On ONE server (the snapshot's node): reset the cluster from it; {what}"
                        ),
                        Some(format!(
                            "{d2} server --cluster-reset --cluster-reset-restore-path={path}"
                        )),
                    ),
                    None => step(
                        format!(
                            "On ONE server: reset the cluster from a snapshot (/var/lib/rancher/{d2}/server/db/snapshots)"
                        ),
                        Some(format!(
                            "{d2} server --cluster-reset --cluster-reset-restore-path=/var/lib/rancher/{d2}/server/db/snapshots/<snapshot>"
                        )),
                    ),
                },
                step(
                    "On the other servers: move the old etcd data aside",
                    Some(format!("mv {0} {0}-old-$(date +%Y%m%d)", p.db_dir())),
                ),
                step(
                    "Start the first server, then the others",
                    Some(format!("systemctl start {}", p.service())),
                ),
            ]
        }
    };
    Runbook {
        title: format!("etcd quorum lost: rebuild from a snapshot ({})", p.name()),
        detected: d,
        steps,
    }
}

fn nospace(f: &Finding, d: Detected) -> Runbook {
    let ctl = d.platform.etcdctl();
    let member = f
        .subject
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    Runbook {
        title: format!("etcd alarm on member {member}: free space, then disarm"),
        steps: vec![
            step(
                "Read the current revision (header.revision; parse it as u64)",
                Some(format!("{ctl} endpoint status -w json")),
            ),
            step(
                "Compact the history up to it",
                Some(format!("{ctl} compact <revision>")),
            ),
            step(
                "Defragment every member, one at a time",
                Some(format!("{ctl} defrag --cluster")),
            ),
            step("Disarm the alarm", Some(format!("{ctl} alarm disarm"))),
            step("Check no alarm is left", Some(format!("{ctl} alarm list"))),
        ],
        detected: d,
    }
}
