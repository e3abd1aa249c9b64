//! The recovery runbooks per distribution (RKE2, k3s, RKE1, kubeadm): the exact commands, in order,
//! with the IDs, nodes and paths filled in; lossless paths before snapshot restores; the split-brain
//! sides shown for the operator to choose; the RKE2 bootstrap-server caveat; a down member whose node
//! is gone is removed, not started. Where a command can run here, it runs (GNU sed on a kubeadm
//! manifest).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chrono::Duration;
use ktriage::etcd::client::ErrorKind;
use ktriage::etcd::recovery;
use ktriage::etcd::runbook::{self, Platform, Runbook};
use ktriage::model::etcd::{EtcdMsg, EtcdPodRow, SnapshotRow};
use ktriage::model::{Delta, Model};
use ktriage::msg::Msg;
use ktriage::update::update;
use support::etcd_model::*;
use support::model::t0;

fn set_nodes(m: &mut Model, version: &str, f: impl Fn(&mut ktriage::model::nodes::NodeRow)) {
    update(m, Msg::Nodes(Delta::Init), t0());
    for i in 1..=3 {
        let mut n = node(i, version);
        f(&mut n);
        update(m, Msg::Nodes(Delta::InitApply(n)), t0());
    }
    update(m, Msg::Nodes(Delta::InitDone), t0());
}

fn pods(m: &mut Model, args: Vec<String>, annotated: bool) {
    let rows = (1..=3).map(|i| EtcdPodRow {
        advertise_client_url: annotated.then(|| url(i)),
        ..etcd_pod(i, args.clone())
    });
    set_pods(m, rows, t0());
}

fn rke2_pods(m: &mut Model) {
    pods(
        m,
        vec![
            "etcd".into(),
            "--config-file=/var/lib/rancher/rke2/server/db/etcd/config".into(),
        ],
        false,
    );
}

fn commands(rb: &Runbook) -> Vec<String> {
    rb.steps.iter().filter_map(|s| s.command.clone()).collect()
}

fn pos(cmds: &[String], needle: &str) -> usize {
    cmds.iter()
        .position(|c| c.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {cmds:#?}"))
}

const RKE2_CTL: &str = "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt --cert=/var/lib/rancher/rke2/server/tls/etcd/server-client.crt --key=/var/lib/rancher/rke2/server/tls/etcd/server-client.key";

/// Quorum lost with cp-2 and cp-3 down: cp-1 answers, holds the newest data ktriage sees.
fn quorum_lost() -> Model {
    let mut eps = three(down(3, ErrorKind::Refused, "refused"));
    eps[1] = down(2, ErrorKind::Refused, "refused");
    eps[0].health = Err(err(ErrorKind::Timeout, "no answer"));
    etcd_model(eps)
}

#[test]
fn rke2_quorum_lost_resets_from_the_newest_member_before_any_restore() {
    let mut m = quorum_lost();
    update(
        &mut m,
        Msg::Etcd(Box::new(EtcdMsg::Snapshots(Ok(vec![SnapshotRow {
            name: "etcd-snapshot-cp-1-1733000000".into(),
            node: Some("cp-1".into()),
            location: Some(
                "file:///var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp-1-1733000000"
                    .into(),
            ),
            created: Some(t0() - Duration::hours(5)),
            size: Some(1),
            ok: true,
        }])))),
        t0(),
    );
    let rb = runbook::build(&m, t0()).unwrap();
    let cmds = commands(&rb);
    assert_eq!(
        cmds,
        vec![
            "systemctl stop rke2-server".to_string(),
            "rke2 server --cluster-reset".into(),
            "systemctl start rke2-server".into(),
            "mv /var/lib/rancher/rke2/server/db/etcd /var/lib/rancher/rke2/server/db/etcd-old-$(date +%Y%m%d%H%M)".into(),
            "grep -q '^server:' /etc/rancher/rke2/config.yaml || echo 'server: https://10.0.0.11:9345' >> /etc/rancher/rke2/config.yaml".into(),
            "grep -q '^server:' /etc/rancher/rke2/config.yaml || echo 'server: https://10.0.0.11:9345' >> /etc/rancher/rke2/config.yaml".into(),
            "systemctl start rke2-server".into(),
            "rke2 server --cluster-reset --cluster-reset-restore-path=/var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp-1-1733000000".into(),
        ]
    );
    let reset = rb
        .steps
        .iter()
        .find(|s| s.command.as_deref() == Some("rke2 server --cluster-reset"))
        .unwrap();
    assert!(
        reset.text.starts_with("On cp-1 (newest data)"),
        "{}",
        reset.text
    );
    let restore = rb.steps.last().unwrap();
    assert!(restore.text.contains("Last resort"), "{}", restore.text);
    assert!(
        restore.text.contains("loses every write of the last 5h"),
        "{}",
        restore.text
    );
    assert!(
        rb.steps[0].text.contains("raft index"),
        "{}",
        rb.steps[0].text
    );
}

#[test]
fn rke2_split_brain_from_a_jump_host_with_both_sides_and_the_bootstrap_caveat() {
    let mut m = etcd_model(three(island()));
    rke2_pods(&mut m);
    // cp-3 (the island) bootstraps: its node args name no --server
    set_nodes(&mut m, "v1.28.9+rke2r1", |n| {
        n.joins_server = Some(n.name != "cp-3");
    });
    update(&mut m, Msg::Tick, t0());
    assert_eq!(runbook::detect(&m).platform, Platform::Rke2);
    let rb = runbook::build(&m, t0()).unwrap();
    let cmds = commands(&rb);
    assert_eq!(
        cmds[..4],
        [
            format!("kubectl -n kube-system exec etcd-cp-1 -- {RKE2_CTL} member remove f0c66c6ed1ce18cc"),
            "systemctl stop rke2-server".into(),
            "mv /var/lib/rancher/rke2/server/db/etcd /var/lib/rancher/rke2/server/db/etcd-old-$(date +%Y%m%d%H%M)".into(),
            "grep -q '^server:' /etc/rancher/rke2/config.yaml || echo 'server: https://10.0.0.11:9345' >> /etc/rancher/rke2/config.yaml".into(),
        ]
    );
    let caveat = rb
        .steps
        .iter()
        .find(|s| s.text.contains("bootstrap server"))
        .unwrap();
    assert!(
        caveat.text.contains("cp-3 is a bootstrap server"),
        "{}",
        caveat.text
    );
    // the operator sees both sides' revision, raft index and size, and may keep the island
    let choose = &rb.steps[0].text;
    assert!(
        choose.contains("Majority (cluster 9461247d77cadc24): revision 5, raft index 13"),
        "{choose}"
    );
    assert!(
        choose.contains("Island cp-3 (cluster ca864bb6058b7511): revision 5, raft index 4"),
        "{choose}"
    );
    assert!(cmds.contains(&"systemctl stop rke2-server && rke2 server --cluster-reset && systemctl start rke2-server".to_string()), "{cmds:#?}");
    // keeping the island, every other server joins it: its server: line points at the island
    assert_eq!(
        cmds[cmds.len() - 2],
        "mv /var/lib/rancher/rke2/server/db/etcd /var/lib/rancher/rke2/server/db/etcd-old-$(date +%Y%m%d%H%M) && sed -i '/^server:/d' /etc/rancher/rke2/config.yaml && echo 'server: https://10.0.0.13:9345' >> /etc/rancher/rke2/config.yaml && systemctl start rke2-server",
        "{cmds:#?}"
    );
    assert!(
        !cmds.iter().any(|c| c.contains("restore-path")),
        "no restore for a split brain: {cmds:#?}"
    );
    // a joining server needs no caveat
    set_nodes(&mut m, "v1.28.9+rke2r1", |n| n.joins_server = Some(true));
    update(&mut m, Msg::Tick, t0());
    let rb = runbook::build(&m, t0()).unwrap();
    assert!(
        !rb.steps.iter().any(|s| s.text.contains("bootstrap")),
        "{rb:#?}"
    );
}

const K3S_CTL: &str = "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/var/lib/rancher/k3s/server/tls/etcd/server-ca.crt --cert=/var/lib/rancher/k3s/server/tls/etcd/client.crt --key=/var/lib/rancher/k3s/server/tls/etcd/client.key";

fn k3s(mut m: Model) -> Model {
    m.api.version = Some("v1.30.2+k3s1".into());
    set_nodes(&mut m, "v1.30.2+k3s1", |_| {});
    update(&mut m, Msg::Tick, t0());
    assert_eq!(runbook::detect(&m).platform, Platform::K3s);
    m
}

/// k3s ships no etcdctl and has no etcd pod: the runbook first installs the etcdctl of the
/// member's own version (`tests/etcd_real_exec.rs` runs that step), then runs it with k3s's
/// certificates as k3s's documentation names them.
#[test]
fn k3s_split_brain_installs_etcdctl_then_runs_it_with_k3s_certificates() {
    let m = k3s(etcd_model(three(island())));
    let rb = runbook::build(&m, t0()).unwrap();
    let cmds = commands(&rb);
    assert_eq!(cmds[0], runbook::k3s_etcdctl_install());
    assert!(
        cmds[0].contains("https://127.0.0.1:2379/version")
            && cmds[0].contains("/var/lib/rancher/k3s/server/tls/etcd/client.key"),
        "{}",
        cmds[0]
    );
    let install = rb
        .steps
        .iter()
        .find(|s| s.command.as_ref() == Some(&cmds[0]))
        .unwrap();
    assert!(
        install.text.contains("k3s ships no etcdctl")
            && install.text.contains("ktriage sees etcd 3.5.9"),
        "{}",
        install.text
    );
    assert_eq!(cmds[1], format!("{K3S_CTL} member remove f0c66c6ed1ce18cc"));
    assert_eq!(cmds[2], "systemctl stop k3s");
    assert!(cmds[3].starts_with(
        "mv /var/lib/rancher/k3s/server/db/etcd /var/lib/rancher/k3s/server/db/etcd-old-"
    ));
    assert!(cmds.iter().all(|c| !c.contains("rke2")), "{cmds:#?}");
    // k3s servers join on the API port (6443); 9345 is RKE2's supervisor
    assert!(
        cmds.iter()
            .any(|c| c.contains("echo 'server: https://10.0.0.13:6443'")),
        "{cmds:#?}"
    );
    assert!(cmds.iter().all(|c| !c.contains(":9345")), "{cmds:#?}");
    assert_eq!(
        cmds.iter()
            .filter(|c| c.contains("releases/download"))
            .count(),
        1,
        "installed once: {cmds:#?}"
    );
}

/// Every k3s runbook that runs etcdctl installs it first: NOSPACE, a stale member, a down member
/// whose node is gone. Quorum lost runs none (`k3s server --cluster-reset`).
#[test]
fn k3s_installs_etcdctl_before_every_etcdctl_step() {
    let nospace = k3s(etcd_model(three(with_alarm(
        ok(3, Ans::new(M3_STALE, MAJORITY, M1), majority_list(M1)),
        M3_STALE,
        "NOSPACE",
    ))));
    let mut gone = etcd_model(three(down(3, ErrorKind::Refused, "refused")));
    update(&mut gone, Msg::Nodes(Delta::Delete("cp-3".into())), t0());
    let gone = k3s(gone);
    for m in [nospace, gone] {
        let cmds = commands(&runbook::build(&m, t0()).unwrap());
        let install = pos(&cmds, "releases/download");
        let first = cmds.iter().position(|c| c.starts_with("etcdctl ")).unwrap();
        assert_eq!(install + 1, first, "{cmds:#?}");
        assert!(cmds[first].starts_with(K3S_CTL), "{cmds:#?}");
    }
    let lost = k3s(quorum_lost());
    let cmds = commands(&runbook::build(&lost, t0()).unwrap());
    assert!(!cmds.iter().any(|c| c.contains("etcdctl")), "{cmds:#?}");
}

fn rke1(mut m: Model) -> Model {
    m.api.version = Some("v1.20.15".into());
    set_nodes(&mut m, "v1.20.15", |n| {
        n.roles = vec!["controlplane".into(), "etcd".into()]
    });
    update(&mut m, Msg::Tick, t0());
    m
}

const TOOLS: &str = "https://github.com/rancherlabs/support-tools/raw/a85b05182794db17d50f41a79222ea85946e6c8c/etcd-tools";

/// The guide's RKE1 order: `rke up`, then etcd-tools (its real scripts, pinned to their last
/// version, with their real arguments), then a snapshot restore.
#[test]
fn rke1_follows_the_guides_order() {
    let m = rke1(quorum_lost());
    assert_eq!(runbook::detect(&m).platform, Platform::Rke1);
    let rb = runbook::build(&m, t0()).unwrap();
    let cmds = commands(&rb);
    assert_eq!(
        cmds,
        vec![
            "rke up --config cluster.yml".to_string(),
            "docker update --restart=no etcd && docker stop etcd".into(),
            format!(
                "curl -LO {TOOLS}/restore-etcd-single.sh && bash ./restore-etcd-single.sh FORCE_NEW_CLUSTER"
            ),
            format!("curl -LO {TOOLS}/etcd-join.sh && bash ./etcd-join.sh MANUAL_MODE"),
            "docker restart kubelet kube-apiserver".into(),
            "rke etcd snapshot-restore --config cluster.yml --name <snapshot>".into()
        ]
    );
    let single = rb
        .steps
        .iter()
        .find(|s| s.command.as_deref() == Some(cmds[2].as_str()))
        .unwrap();
    assert!(
        single.text.starts_with("On cp-1 (newest data)") && single.text.contains("nothing lost"),
        "{}",
        single.text
    );
    let stop = rb
        .steps
        .iter()
        .find(|s| s.command.as_deref() == Some(cmds[1].as_str()))
        .unwrap();
    assert!(stop.text.contains("except cp-1"), "{}", stop.text);
    assert!(
        rb.steps
            .last()
            .unwrap()
            .text
            .starts_with("Only if no member")
    );
    let m = rke1(etcd_model(three(island())));
    let cmds = commands(&runbook::build(&m, t0()).unwrap());
    assert_eq!(
        cmds[..5],
        [
            "rke up --config cluster.yml".to_string(),
            "docker exec etcd etcdctl member remove f0c66c6ed1ce18cc".into(),
            format!("curl -LO {TOOLS}/etcd-join.sh && bash ./etcd-join.sh MANUAL_MODE"),
            "docker restart kubelet kube-apiserver".into(),
            "rke etcd snapshot-restore --config cluster.yml --name <snapshot>".into(),
        ]
    );
}

const KUBEADM_MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: etcd\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - etcd\n    - --advertise-client-urls=https://10.0.0.11:2379\n    - --cert-file=/etc/kubernetes/pki/etcd/server.crt\n    image: registry.k8s.io/etcd:3.5.15-0\n    name: etcd\n";

#[test]
fn kubeadm_quorum_lost_forces_a_new_cluster_from_the_newest_member() {
    let mut m = quorum_lost();
    m.api.version = Some("v1.30.1".into());
    set_nodes(&mut m, "v1.30.1", |_| {});
    pods(
        &mut m,
        vec![
            "etcd".into(),
            "--cert-file=/etc/kubernetes/pki/etcd/server.crt".into(),
            "--key-file=/etc/kubernetes/pki/etcd/server.key".into(),
            "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt".into(),
        ],
        true,
    );
    update(&mut m, Msg::Tick, t0());
    assert_eq!(runbook::detect(&m).platform, Platform::Kubeadm);
    let rb = runbook::build(&m, t0()).unwrap();
    let cmds = commands(&rb);
    let force = pos(&cmds, "--force-new-cluster/'");
    let unforce = pos(&cmds, "/--force-new-cluster/d");
    let restore = pos(&cmds, "snapshot restore");
    assert!(force < unforce && unforce < restore, "{cmds:#?}");
    let step = rb
        .steps
        .iter()
        .find(|s| s.command.as_deref() == Some(cmds[force].as_str()))
        .unwrap();
    assert!(
        step.text.starts_with("On cp-1 (newest data)"),
        "{}",
        step.text
    );
    // both sed commands run as printed on a kubeadm manifest
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("etcd.yaml");
    std::fs::write(&f, KUBEADM_MANIFEST).unwrap();
    let run = |cmd: &str| {
        let cmd = cmd.replace("/etc/kubernetes/manifests/etcd.yaml", f.to_str().unwrap());
        assert!(
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .status()
                .unwrap()
                .success(),
            "{cmd}"
        );
        std::fs::read_to_string(&f).unwrap()
    };
    let forced = run(&cmds[force]);
    assert!(
        forced.contains("    - etcd\n    - --force-new-cluster\n    - --advertise-client-urls"),
        "{forced}"
    );
    let back = run(&cmds[unforce]);
    assert_eq!(back, KUBEADM_MANIFEST);
    // split brain on kubeadm: etcdctl through the API with kubeadm's certificates
    let mut m = etcd_model(three(island()));
    set_nodes(&mut m, "v1.30.1", |_| {});
    m.api.version = Some("v1.30.1".into());
    pods(
        &mut m,
        vec![
            "etcd".into(),
            "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt".into(),
        ],
        true,
    );
    update(&mut m, Msg::Tick, t0());
    let cmds = commands(&runbook::build(&m, t0()).unwrap());
    assert_eq!(
        cmds[0],
        "kubectl -n kube-system exec etcd-cp-1 -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/server.key member remove f0c66c6ed1ce18cc"
    );
}

#[test]
fn a_down_member_whose_node_is_gone_is_removed_not_started() {
    // cp-3 is down and no Node is cp-3 any more
    let mut m = etcd_model(three(down(3, ErrorKind::Refused, "refused")));
    update(&mut m, Msg::Nodes(Delta::Delete("cp-3".into())), t0());
    update(&mut m, Msg::Tick, t0());
    let gone: Vec<_> = m
        .findings
        .iter()
        .filter(|f| f.id == "etcd-member-down")
        .collect();
    assert_eq!(gone.len(), 1, "{:#?}", m.findings);
    assert!(
        !gone[0].fix.text.contains("start it again"),
        "{}",
        gone[0].fix.text
    );
    assert!(
        gone[0].fix.text.contains("member remove f0c66c6ed1ce18cc"),
        "{}",
        gone[0].fix.text
    );
    let stale: Vec<_> = m
        .findings
        .iter()
        .filter(|f| f.id == "etcd-member-stale")
        .collect();
    assert_eq!(stale.len(), 1, "{:#?}", m.findings);
    assert_eq!(gone[0].cause.as_deref(), Some(stale[0].key.as_str()));
    let rb = runbook::build(&m, t0()).unwrap();
    assert!(
        commands(&rb)[0].ends_with("member remove f0c66c6ed1ce18cc"),
        "{rb:#?}"
    );
    // the member-down runbook on its own (the stale member's comes first above) removes it too
    let own = recovery::member_down(&m, gone[0], runbook::detect(&m));
    let cmds = commands(&own);
    assert!(
        cmds[0].ends_with("member remove f0c66c6ed1ce18cc"),
        "{own:#?}"
    );
    assert!(!cmds.iter().any(|c| c.contains("restart")), "{own:#?}");
    // with its node still there it is started again
    let m = etcd_model(three(down(3, ErrorKind::Refused, "refused")));
    let d = m
        .findings
        .iter()
        .find(|f| f.id == "etcd-member-down")
        .unwrap();
    assert!(d.fix.text.contains("start it again"), "{}", d.fix.text);
    assert!(d.fix.text.contains("node cp-3"), "{}", d.fix.text);
    let cmds = commands(&runbook::build(&m, t0()).unwrap());
    assert!(
        cmds[0].ends_with("systemctl restart rke2-server"),
        "{cmds:#?}"
    );
    assert!(
        !cmds.iter().any(|c| c.contains("member remove")),
        "{cmds:#?}"
    );
}

#[test]
fn member_hygiene_duplicates_and_unstarted_members() {
    let mut list = majority_list(M1);
    // an unstarted member (added, never started) and a second entry for cp-2's peer URL
    list.members.push(ktriage::etcd::wire::Member {
        id: 0xaaaa,
        name: String::new(),
        peer_urls: vec![peer(4)],
        client_urls: vec![],
        is_learner: false,
    });
    list.members.push(ktriage::etcd::wire::Member {
        id: 0xbbbb,
        name: "cp-2".into(),
        peer_urls: vec![peer(2)],
        client_urls: vec![url(2)],
        is_learner: false,
    });
    let eps: Vec<_> = (1..=3)
        .map(|i| {
            let id = [M1, M2, M3_STALE][i - 1];
            ok(i, Ans::new(id, MAJORITY, M1), list.clone())
        })
        .collect();
    let m = etcd_model(eps);
    let stale: Vec<(String, String)> = m
        .findings
        .iter()
        .filter(|f| f.id == "etcd-member-stale")
        .map(|f| {
            (
                f.subject.as_ref().unwrap().name.clone(),
                f.details["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        stale,
        vec![
            ("aaaa".to_string(), "unstarted".to_string()),
            ("bbbb".into(), "duplicate".into())
        ],
        "{:#?}",
        m.findings
    );
    let rb = runbook::build(&m, t0()).unwrap();
    assert!(commands(&rb)[0].ends_with("member remove aaaa"), "{rb:#?}");
}
