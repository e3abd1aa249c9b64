//! The steps of each runbook, per distribution (see [`super::runbook`]): split brain (the operator
//! chooses the side to keep, with each side's revision, raft index and DB size shown), lost quorum
//! (reset from the member with the newest data first, a snapshot restore last and what it loses),
//! NOSPACE, a stale member, a down member.

use chrono::{DateTime, Utc};

use super::Finding;
use super::runbook::{Detected, Platform, Runbook, Step, step};
use crate::etcd::probe::EndpointProbe;
use crate::etcd::wire::{Status, hex, same_url};
use crate::model::Model;

fn detail(f: &Finding, k: &str) -> Option<String> {
    f.details
        .get(k)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// A running etcd pod on a node other than `avoid` (a majority member while the API serves).
fn pod_besides(model: &Model, avoid: Option<&str>) -> Option<String> {
    model
        .etcd
        .pods
        .iter()
        .filter(|p| p.ready && p.node.as_deref() != avoid)
        .map(|p| p.name.clone())
        .next()
}

/// How to run etcdctl on the majority: through the API where it serves and etcd runs in pods,
/// else on a node.
fn majority_etcdctl(model: &Model, p: Platform, avoid: Option<&str>) -> (String, String) {
    match pod_besides(model, avoid).and_then(|pod| p.etcdctl_via_api(&pod).map(|c| (pod, c))) {
        Some((pod, cmd)) => (format!("From here, in {pod} (a majority member)"), cmd),
        None => ("On a majority member's node".into(), p.etcdctl_on_node()),
    }
}

/// k3s: before the first etcdctl step, the step that installs etcdctl on the server (k3s ships
/// none and runs etcd inside its own process: no pod to exec into).
fn with_etcdctl_install(p: Platform, model: &Model, mut steps: Vec<Step>) -> Vec<Step> {
    if p != Platform::K3s {
        return steps;
    }
    let Some(i) = steps.iter().position(|s| {
        s.command
            .as_deref()
            .is_some_and(|c| c.starts_with("etcdctl "))
    }) else {
        return steps;
    };
    let seen = probes(model)
        .iter()
        .find_map(|x| x.status.as_ref().ok().map(|s| s.version.clone()))
        .map(|v| format!(" (ktriage sees etcd {v})"))
        .unwrap_or_default();
    steps.insert(
        i,
        step(
            format!(
                "k3s ships no etcdctl and runs etcd inside the k3s process (no pod to exec into; `k3s etcd-snapshot` handles snapshots only): on that server, install the etcdctl of the version its member runs{seen}, as k3s's documentation does"
            ),
            Some(super::runbook::k3s_etcdctl_install()),
        ),
    );
    steps
}

/// Rancher's etcd-tools for RKE1 (`restore-etcd-single.sh`, `etcd-join.sh`): removed from the
/// support-tools repository in September 2023 as no longer maintained, so pinned to their last
/// version. They run the `rancher/etcd-tools` image and restart `kubelet` and `kube-apiserver`.
pub const ETCD_TOOLS: &str = "https://github.com/rancherlabs/support-tools/raw/a85b05182794db17d50f41a79222ea85946e6c8c/etcd-tools";

fn etcd_tool(script: &str, args: &str) -> String {
    format!("curl -LO {ETCD_TOOLS}/{script} && bash ./{script} {args}")
}

fn node_ip(model: &Model, node: &str) -> String {
    model
        .nodes
        .store
        .iter()
        .find(|n| n.name == node)
        .and_then(|n| n.internal_ip.clone())
        .unwrap_or_else(|| format!("<{node}'s address>"))
}

fn servers(model: &Model) -> Vec<String> {
    model.nodes.etcd_nodes().map(|n| n.name.clone()).collect()
}

fn moved(p: Platform) -> String {
    format!("mv {0} {0}-old-$(date +%Y%m%d%H%M)", p.db_dir())
}

/// RKE2/k3s: a server whose config has no `server:` line bootstraps a new cluster when its etcd data
/// is gone. Unless its node args show `--server`, point it at `join` first.
fn bootstrap_caveat(model: &Model, p: Platform, node: &str, join: &str) -> Option<Step> {
    if !matches!(p, Platform::Rke2 | Platform::K3s) {
        return None;
    }
    let known = model
        .nodes
        .store
        .iter()
        .find(|n| n.name == node)
        .and_then(|n| n.joins_server);
    if known == Some(true) {
        return None;
    }
    let why = if known == Some(false) {
        format!(
            "{node} is a bootstrap server (its {}.io/node-args has no --server)",
            p.dist()
        )
    } else {
        format!("ktriage cannot see whether {node} has a server: line")
    };
    Some(step(
        format!(
            "{why}: with its etcd data moved aside it would create a new cluster again. On {node}, point it at {join} before starting it (keep its token: line)"
        ),
        Some(format!(
            "grep -q '^server:' /etc/rancher/{0}/config.yaml || echo 'server: {1}' >> /etc/rancher/{0}/config.yaml",
            p.dist(),
            p.join_url(&node_ip(model, join))
        )),
    ))
}

/// One side of a split brain as the operator compares them.
fn side(s: Option<&Status>) -> String {
    match s {
        Some(s) => format!(
            "revision {}, raft index {}, DB size {}",
            s.header.revision, s.raft_index, s.db_size
        ),
        None => "revision, raft index and DB size not seen (run `endpoint status -w table` there)"
            .into(),
    }
}

fn probes(model: &Model) -> &[EndpointProbe] {
    model
        .etcd
        .round
        .as_ref()
        .map_or(&[], |r| r.endpoints.as_slice())
}

pub fn split_brain(model: &Model, f: &Finding, d: Detected) -> Runbook {
    let p = d.platform;
    let stale = detail(f, "stale_member_id").unwrap_or_else(|| "<stale member ID>".into());
    let island_url = detail(f, "endpoint");
    let island_node = detail(f, "island_node").or_else(|| {
        detail(f, "stale_member_name").and_then(|n| {
            model
                .nodes
                .store
                .iter()
                .find(|x| n.starts_with(&x.name))
                .map(|x| x.name.clone())
        })
    });
    let island = island_node
        .clone()
        .unwrap_or_else(|| island_url.clone().unwrap_or_else(|| "the island".into()));
    let maj = detail(f, "majority_cluster_id").unwrap_or_default();
    let island_status = probes(model)
        .iter()
        .find(|x| {
            island_url
                .as_deref()
                .is_some_and(|u| same_url(&x.endpoint, u))
        })
        .and_then(|x| x.status.as_ref().ok());
    let majority_status = probes(model)
        .iter()
        .filter_map(|x| x.status.as_ref().ok())
        .filter(|s| hex(s.header.cluster_id) == maj)
        .max_by_key(|s| s.is_leader());
    let (where_, ctl) = majority_etcdctl(model, p, island_node.as_deref());
    let join: String = model
        .etcd
        .pods
        .iter()
        .filter(|x| x.ready && x.node != island_node)
        .find_map(|x| x.node.clone())
        .unwrap_or_else(|| "<a majority server>".into());
    let mut steps = vec![step(
        format!(
            "Choose the side to keep. Majority (cluster {maj}): {}. Island {island} (cluster {}): {}. Keep the majority unless the island holds the data you need (a restore that failed half-way can leave the newer data there); then follow the steps for the island below instead.",
            side(majority_status),
            detail(f, "island_cluster_id").unwrap_or_default(),
            side(island_status)
        ),
        None,
    )];
    let side = Sides {
        stale,
        island,
        island_node,
        where_,
        ctl,
        join,
    };
    steps.extend(keep_majority(model, f, p, &side));
    if matches!(p, Platform::Rke2 | Platform::K3s) {
        steps.extend(keep_island(model, p, &side));
    }
    steps.push(step(
        "Check: every member answers with one cluster ID",
        Some(format!("{} endpoint status --cluster -w table", side.ctl)),
    ));
    Runbook {
        title: format!(
            "etcd split brain: choose a side, then remove and rejoin the other ({})",
            p.name()
        ),
        detected: d,
        steps: with_etcdctl_install(p, model, steps),
    }
}

/// The two sides of a split brain as the steps name them.
struct Sides {
    /// The majority's entry for the island (the ID to remove).
    stale: String,
    /// The island, by node where known.
    island: String,
    island_node: Option<String>,
    /// Where etcdctl runs on the majority, and how.
    where_: String,
    ctl: String,
    /// A majority server the island rejoins.
    join: String,
}

/// Keep the majority: remove the island's entry, wipe the island and rejoin it.
fn keep_majority(model: &Model, f: &Finding, p: Platform, side: &Sides) -> Vec<Step> {
    let Sides {
        stale,
        island,
        where_,
        ctl,
        join,
        ..
    } = side;
    let mut steps = Vec::new();
    if p == Platform::Rke1 {
        steps.push(step("Keep the majority: let RKE reconcile etcd (Rancher-managed: edit and save the cluster)", Some("rke up --config cluster.yml".into())));
        steps.push(step(
            format!(
                "If rke up fails, rebuild by hand with Rancher's etcd-tools (pinned: removed from support-tools in 2023). {where_}, remove the stale entry {stale}"
            ),
            Some(format!("{ctl} member remove {stale}")),
        ));
        steps.push(step(
            format!("On {island}: rejoin the majority (etcd-join.sh moves its etcd data aside and adds it back as a new member; MANUAL_MODE asks you to run one command on a majority node and paste its output)"),
            Some(etcd_tool("etcd-join.sh", "MANUAL_MODE")),
        ));
        steps.push(step(
            format!("On {island}: restart the components that talk to etcd"),
            Some("docker restart kubelet kube-apiserver".into()),
        ));
        steps.push(step("Only if etcd cannot be rebuilt: restore a snapshot (loses every write since it was taken; names in /opt/rke/etcd-snapshots on an etcd node, or the S3 bucket)", Some("rke etcd snapshot-restore --config cluster.yml --name <snapshot>".into())));
    } else {
        steps.push(step(format!("Keep the majority: {where_}, remove the stale entry {stale} the majority keeps for {island}"), Some(format!("{ctl} member remove {stale}"))));
        match p {
            Platform::Rke2 | Platform::K3s => {
                steps.push(step(
                    format!("On {island}, stop the server"),
                    Some(format!("systemctl stop {}", p.service())),
                ));
                steps.push(step("Move its etcd data directory aside", Some(moved(p))));
                steps.extend(bootstrap_caveat(model, p, island, join));
                steps.push(step(
                    format!("Start it: it joins {join}'s cluster as a new member"),
                    Some(format!("systemctl start {}", p.service())),
                ));
            }
            Platform::Kubeadm => {
                steps.push(step(format!("On {island}, stop its etcd static pod and move its data aside"), Some(format!("mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.off && {}", moved(p)))));
                steps.push(step("Rejoin it as a control-plane node (kubeadm adds the etcd member)", Some("kubeadm reset -f && kubeadm join <API endpoint> --control-plane --token <token> --discovery-token-ca-cert-hash <hash> --certificate-key <key>".into())));
            }
            _ => {
                let name = detail(f, "stale_member_name").unwrap_or_else(|| "<name>".into());
                let peer = detail(f, "island_peer_url").unwrap_or_else(|| "<peer URL>".into());
                steps.push(step(
                    format!("On {island}, stop etcd and move its --data-dir aside"),
                    Some(
                        "systemctl stop etcd && mv <data-dir> <data-dir>-old-$(date +%Y%m%d%H%M)"
                            .into(),
                    ),
                ));
                steps.push(step(
                    "On a majority member, add it back as a new member",
                    Some(format!("{ctl} member add {name} --peer-urls={peer}")),
                ));
                steps.push(step("Start it with the settings `member add` printed (--initial-cluster-state existing)", Some("systemctl start etcd".into())));
            }
        }
    }
    steps
}

/// Keep the island instead (RKE2/k3s): stop the others, reset etcd on the island, rejoin the rest.
fn keep_island(model: &Model, p: Platform, side: &Sides) -> Vec<Step> {
    let (island, island_node) = (&side.island, &side.island_node);
    let mut steps = Vec::new();
    steps.push(step(
        format!(
            "Keep the island instead: stop the server on every other server ({})",
            servers(model)
                .into_iter()
                .filter(|s| Some(s) != island_node.as_ref())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(format!("systemctl stop {}", p.service())),
    ));
    steps.push(step(format!("then on {island}: reset etcd to a one-member cluster that keeps all its data (no restore path)"), Some(format!("systemctl stop {1} && {0} server --cluster-reset && systemctl start {1}", p.dist(), p.service()))));
    steps.push(step(
        format!("then on every other server: move its etcd data aside, point it at {island} (its server: line replaced, its token: line kept) and start it"),
        Some(format!(
            "{moved} && sed -i '/^server:/d' /etc/rancher/{dist}/config.yaml && echo 'server: {url}' >> /etc/rancher/{dist}/config.yaml && systemctl start {svc}",
            moved = moved(p),
            dist = p.dist(),
            url = p.join_url(&island_node.as_deref().map(|n| node_ip(model, n)).unwrap_or_else(|| format!("<{island}'s address>"))),
            svc = p.service()
        )),
    ));
    steps
}

/// The member with the newest data among those that answer: highest raft index.
fn newest(model: &Model) -> Option<(String, &Status)> {
    let p = probes(model)
        .iter()
        .filter_map(|x| x.status.as_ref().ok().map(|s| (x, s)))
        .max_by_key(|(_, s)| (s.raft_index, s.header.revision))?;
    let name =
        p.0.members
            .as_ref()
            .ok()
            .and_then(|l| l.members.iter().find(|m| m.id == p.1.header.member_id));
    let node = name
        .and_then(|m| {
            model
                .nodes
                .store
                .iter()
                .find(|n| m.name == n.name || m.name.starts_with(&format!("{}-", n.name)))
        })
        .map(|n| n.name.clone())
        .unwrap_or_else(|| p.0.endpoint.clone());
    Some((node, p.1))
}

/// The newest good snapshot record: its path, when, and on which node.
fn newest_snapshot(model: &Model, now: DateTime<Utc>) -> Option<(String, String)> {
    let rows = model.etcd.snapshots.as_ref()?.as_ref().ok()?;
    let s = rows.iter().find(|s| s.ok)?;
    let path = s
        .location
        .as_deref()
        .and_then(|l| l.strip_prefix("file://"))?
        .to_string();
    let loses = match s.created {
        Some(t) => format!(
            "taken {} ago ({}) on {}: restoring it loses every write of the last {}",
            crate::text::age(now, t),
            t.format("%Y-%m-%d %H:%M UTC"),
            s.node.as_deref().unwrap_or("?"),
            crate::text::age(now, t)
        ),
        None => {
            "its time is not recorded: restoring it loses every write since it was taken".into()
        }
    };
    Some((path, loses))
}

pub fn quorum_lost(model: &Model, d: Detected, now: DateTime<Utc>) -> Runbook {
    let p = d.platform;
    let all = servers(model);
    let (first, data) = match newest(model) {
        Some((n, s)) => (
            n,
            format!(
                "raft index {}, revision {}, DB size {}",
                s.raft_index, s.header.revision, s.db_size
            ),
        ),
        None => (
            "<the server with the newest data>".into(),
            "no member answered: compare `etcdctl endpoint status` on each node".into(),
        ),
    };
    let snapshot = newest_snapshot(model, now);
    let mut steps = vec![step(
        format!(
            "Start the stopped etcd members first and read their logs: quorum comes back by itself when a majority runs. Only if a majority is gone for good, continue. Newest data ktriage sees: {first} ({data}); members that do not answer may hold newer data: check on their nodes before choosing."
        ),
        None,
    )];
    match p {
        Platform::Rke2 | Platform::K3s => {
            steps.push(step(
                format!("Stop the server on every server ({})", all.join(", ")),
                Some(format!("systemctl stop {}", p.service())),
            ));
            steps.push(step(format!("On {first} (newest data): reset etcd to a one-member cluster that keeps everything it holds (no restore path, nothing lost)"), Some(format!("{} server --cluster-reset", p.dist()))));
            steps.push(step(
                format!("Start {first}"),
                Some(format!("systemctl start {}", p.service())),
            ));
            steps.push(step(
                "On every other server: move its old etcd data aside",
                Some(moved(p)),
            ));
            for n in all.iter().filter(|n| **n != first) {
                steps.extend(bootstrap_caveat(model, p, n, &first));
            }
            steps.push(step(
                "Then start the other servers, one at a time: they join as new members",
                Some(format!("systemctl start {}", p.service())),
            ));
            let (path, loses) = snapshot.unwrap_or_else(|| (format!("/var/lib/rancher/{}/server/db/snapshots/<snapshot>", p.dist()), "no snapshot record visible: a restore loses every write since the snapshot you pick".into()));
            steps.push(step(format!("Last resort, only if no member's data survives: restore a snapshot on one server instead of the reset above. Newest snapshot {loses}"), Some(format!("{} server --cluster-reset --cluster-reset-restore-path={path}", p.dist()))));
        }
        Platform::Rke1 => {
            steps.push(step("Let RKE rebuild etcd from the members that still have their data (Rancher-managed: edit and save the cluster)", Some("rke up --config cluster.yml".into())));
            steps.push(step(format!("If rke up fails, rebuild by hand from {first} with Rancher's etcd-tools (pinned: removed from support-tools in 2023). First, on every etcd node except {first}: stop etcd and keep it stopped"), Some("docker update --restart=no etcd && docker stop etcd".into())));
            steps.push(step(format!("On {first} (newest data): make it a one-member cluster from its own data (FORCE_NEW_CLUSTER: no snapshot, nothing lost; the script copies the data directory aside first)"), Some(etcd_tool("restore-etcd-single.sh", "FORCE_NEW_CLUSTER"))));
            steps.push(step(format!("On every other etcd node, one at a time: rejoin {first}'s cluster (MANUAL_MODE asks you to run one command on {first} and paste its output)"), Some(etcd_tool("etcd-join.sh", "MANUAL_MODE"))));
            steps.push(step("On every control-plane node the scripts did not restart: restart the components that talk to etcd", Some("docker restart kubelet kube-apiserver".into())));
            steps.push(step("Only if no member's data survives: restore a snapshot (loses every write since it was taken; RKE keeps them in /opt/rke/etcd-snapshots or S3)", Some("rke etcd snapshot-restore --config cluster.yml --name <snapshot>".into())));
        }
        Platform::Kubeadm => {
            steps.push(step(
                format!("On every control-plane node except {first}: stop etcd"),
                Some("mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.off".into()),
            ));
            steps.push(step(format!("On {first} (newest data): restart etcd as a one-member cluster that keeps its data (--force-new-cluster)"), Some("sed -i 's/^    - etcd$/    - etcd\\n    - --force-new-cluster/' /etc/kubernetes/manifests/etcd.yaml".into())));
            steps.push(step(
                "Once it serves, take the flag out again (the kubelet restarts it)",
                Some("sed -i '/--force-new-cluster/d' /etc/kubernetes/manifests/etcd.yaml".into()),
            ));
            steps.push(step("Rejoin every other control-plane node: move its etcd data aside, reset it and join it again", Some(format!("{} && kubeadm reset -f && kubeadm join <API endpoint> --control-plane --token <token> --discovery-token-ca-cert-hash <hash> --certificate-key <key>", moved(p)))));
            steps.push(step("Last resort, only if no member's data survives: restore a snapshot (loses every write since it was taken)", Some("etcdutl snapshot restore <snapshot.db> --data-dir /var/lib/etcd-restored".into())));
        }
        Platform::Unknown => {
            steps.push(step(
                format!("On every member except {first}: stop etcd"),
                Some("systemctl stop etcd".into()),
            ));
            steps.push(step(format!("On {first} (newest data): start etcd once with --force-new-cluster (keeps its data), then without it"), Some("etcd --force-new-cluster <its usual flags>".into())));
            steps.push(step("Re-add the others one at a time: `member add`, move their data directories aside, start them with --initial-cluster-state existing", Some("etcdctl member add <name> --peer-urls=<peer URL>".into())));
            steps.push(step("Last resort, only if no member's data survives: restore a snapshot on every member (loses every write since it was taken)", Some("etcdutl snapshot restore <snapshot.db> --name <name> --initial-cluster <name=peer-url,…> --initial-advertise-peer-urls <peer-url> --data-dir <new-data-dir>".into())));
        }
    }
    Runbook {
        title: format!(
            "etcd quorum lost: reset from the newest member, restore only as a last resort ({})",
            p.name()
        ),
        detected: d,
        steps,
    }
}

pub fn nospace(model: &Model, f: &Finding, d: Detected) -> Runbook {
    let (where_, ctl) = majority_etcdctl(model, d.platform, None);
    let member = f
        .subject
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    Runbook {
        title: format!("etcd alarm on member {member}: free space, then disarm"),
        steps: with_etcdctl_install(
            d.platform,
            model,
            vec![
                step(
                    format!(
                        "{where_}: read the current revision (header.revision; parse it as u64)"
                    ),
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
        ),
        detected: d,
    }
}

pub fn remove_member(model: &Model, f: &Finding, d: Detected) -> Runbook {
    let id = f
        .subject
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let (where_, ctl) = majority_etcdctl(model, d.platform, None);
    Runbook {
        title: format!("etcd member {id} is stale: remove it"),
        steps: with_etcdctl_install(
            d.platform,
            model,
            vec![
                step(
                    format!("{where_}: remove member {id}"),
                    Some(format!("{ctl} member remove {id}")),
                ),
                step(
                    "Check the member list",
                    Some(format!("{ctl} member list -w table")),
                ),
            ],
        ),
        detected: d,
    }
}

pub fn member_down(model: &Model, f: &Finding, d: Detected) -> Runbook {
    let p = d.platform;
    let id = f
        .subject
        .as_ref()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let (where_, ctl) = majority_etcdctl(model, p, None);
    let gone = f.fix.text.starts_with("No node has");
    let steps = if gone {
        vec![
            step(
                format!("Its node no longer exists: {where_}, remove member {id}"),
                Some(format!("{ctl} member remove {id}")),
            ),
            step(
                "Check the member list",
                Some(format!("{ctl} member list -w table")),
            ),
        ]
    } else {
        let cmd = match p {
            Platform::Rke1 => "docker start etcd && docker logs --tail 100 etcd".to_string(),
            Platform::Unknown => "systemctl restart etcd && journalctl -u etcd -n 100".into(),
            Platform::Kubeadm => "crictl logs --tail 100 $(crictl ps -a --label io.kubernetes.container.name=etcd --quiet | head -1) && systemctl restart kubelet".into(),
            _ => format!("tail -n 100 /var/log/pods/kube-system_etcd-*/etcd/*.log; systemctl restart {}", p.service()),
        };
        vec![
            step(
                format!("On member {id}'s node: read the etcd log, then start etcd again"),
                Some(cmd),
            ),
            step(
                format!("{where_}: check that every endpoint answers again"),
                Some(format!("{ctl} endpoint health --cluster")),
            ),
        ]
    };
    Runbook {
        title: format!("etcd member {id} down"),
        steps: with_etcdctl_install(p, model, steps),
        detected: d,
    }
}
