//! etcd fixtures with a fixed clock: probe answers shaped like etcd 3.4's (IDs from REAL-SERVERS.md's
//! split-brain run), an RKE2 control plane, and etcd pod logs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
#![allow(dead_code)]

use chrono::Duration;
use ktriage::etcd::client::{ErrorKind, EtcdError};
use ktriage::etcd::probe::{EndpointProbe, PeerProbe, PeerView, Round};
use ktriage::etcd::wire::{Alarm, AlarmList, Header, Member, MemberList, PeerMember, Status};
use ktriage::model::etcd::{AccessInfo, EtcdMsg, EtcdPodRow};
use ktriage::model::nodes::NodeRow;
use ktriage::model::{Delta, Model};
use ktriage::msg::Msg;
use ktriage::update::update;

use super::model::{model, t0};

pub const MAJORITY: u64 = 0x9461247d77cadc24;
pub const ISLAND_CLUSTER: u64 = 0xca864bb6058b7511;
pub const M1: u64 = 0x61bf41f273b9be67;
pub const M2: u64 = 0x48b837955d57e5ee;
pub const M3_STALE: u64 = 0xf0c66c6ed1ce18cc;
pub const M3_ISLAND: u64 = 0x21519d96c5d7af22;

pub fn url(i: usize) -> String {
    format!("https://10.0.0.1{i}:2379")
}

pub fn peer(i: usize) -> String {
    format!("https://10.0.0.1{i}:2380")
}

pub fn member(id: u64, i: usize) -> Member {
    Member {
        id,
        name: format!("cp-{i}"),
        peer_urls: vec![peer(i)],
        client_urls: vec![url(i)],
        is_learner: false,
    }
}

pub fn list(cluster: u64, from: u64, members: Vec<Member>) -> MemberList {
    MemberList {
        header: Header {
            cluster_id: cluster,
            member_id: from,
            revision: 5,
            raft_term: 2,
        },
        members,
    }
}

pub fn majority_list(from: u64) -> MemberList {
    list(
        MAJORITY,
        from,
        vec![member(M1, 1), member(M2, 2), member(M3_STALE, 3)],
    )
}

pub struct Ans {
    pub id: u64,
    pub cluster: u64,
    pub leader: u64,
    pub term: u64,
    pub index: u64,
    pub applied: u64,
    pub db: u64,
    pub health_ms: u64,
}

impl Ans {
    pub fn new(id: u64, cluster: u64, leader: u64) -> Ans {
        Ans {
            id,
            cluster,
            leader,
            term: 2,
            index: 13,
            applied: 13,
            db: 20480,
            health_ms: 2,
        }
    }
}

pub fn ok(i: usize, a: Ans, members: MemberList) -> EndpointProbe {
    EndpointProbe {
        endpoint: url(i),
        status: Ok(Status {
            header: Header {
                cluster_id: a.cluster,
                member_id: a.id,
                revision: 5,
                raft_term: a.term,
            },
            version: "3.5.9".into(),
            db_size: a.db,
            db_size_in_use: a.db / 2,
            leader: a.leader,
            raft_index: a.index,
            raft_term: a.term,
            raft_applied_index: a.applied,
            errors: Vec::new(),
            is_learner: false,
        }),
        status_ms: Some(a.health_ms),
        members: Ok(members),
        alarms: Ok(AlarmList::default()),
        health: Ok(a.health_ms),
        peer: None,
        learned: false,
        via: Default::default(),
    }
}

pub fn err(kind: ErrorKind, message: &str) -> EtcdError {
    EtcdError {
        kind,
        message: message.into(),
    }
}

pub fn down(i: usize, kind: ErrorKind, message: &str) -> EndpointProbe {
    EndpointProbe {
        endpoint: url(i),
        status: Err(err(kind, message)),
        status_ms: None,
        members: Err(err(kind, message)),
        alarms: Err(err(kind, message)),
        health: Err(err(kind, message)),
        peer: None,
        learned: false,
        via: Default::default(),
    }
}

/// A rejoined member: client port silent, peer port answering with its own cluster ID.
pub fn rejoined(i: usize) -> EndpointProbe {
    let mut p = down(i, ErrorKind::Timeout, "no answer within 2000 ms");
    p.peer = Some(PeerProbe {
        url: peer(i),
        result: Ok(PeerView {
            cluster_id: Some(0xda0995cb829ad6e6),
            members: vec![PeerMember {
                id: M3_ISLAND,
                name: format!("cp-{i}"),
                peer_urls: vec![peer(i)],
                client_urls: vec![],
            }],
        }),
    });
    p
}

pub fn with_alarm(mut p: EndpointProbe, member: u64, alarm: &str) -> EndpointProbe {
    p.alarms = Ok(AlarmList {
        header: Header::default(),
        alarms: vec![Alarm {
            member_id: member,
            alarm: alarm.into(),
        }],
    });
    p
}

/// The healthy majority (cp-1 leads, cp-2 follows) plus `third`.
pub fn three(third: EndpointProbe) -> Vec<EndpointProbe> {
    vec![
        ok(1, Ans::new(M1, MAJORITY, M1), majority_list(M1)),
        ok(2, Ans::new(M2, MAJORITY, M1), majority_list(M2)),
        third,
    ]
}

pub fn island() -> EndpointProbe {
    let mut a = Ans::new(M3_ISLAND, ISLAND_CLUSTER, M3_ISLAND);
    a.index = 4;
    a.applied = 4;
    ok(
        3,
        a,
        list(ISLAND_CLUSTER, M3_ISLAND, vec![member(M3_ISLAND, 3)]),
    )
}

pub fn node(i: usize, version: &str) -> NodeRow {
    NodeRow {
        name: format!("cp-{i}"),
        roles: vec!["control-plane".into(), "etcd".into(), "master".into()],
        kubelet_version: version.into(),
        ready: Some(true),
        pressure: Vec::new(),
        internal_ip: Some(format!("10.0.0.1{i}")),
        instance_type: None,
        ..Default::default()
    }
}

/// A model whose etcd pane got one round of `endpoints` at t0 - 2 s, on an RKE2 cluster.
pub fn etcd_model(endpoints: Vec<EndpointProbe>) -> Model {
    let mut m = model(false);
    let t = t0() - Duration::seconds(2);
    m.etcd.configure(
        AccessInfo {
            endpoints: (1..=3).map(url).collect(),
            origin: "discovered RKE2 certificates in /var/lib/rancher/rke2/server/tls/etcd".into(),
            tls: true,
        },
        t - Duration::seconds(5),
    );
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t,
    );
    update(&mut m, Msg::Nodes(Delta::Init), t);
    for i in 1..=3 {
        update(
            &mut m,
            Msg::Nodes(Delta::InitApply(node(i, "v1.28.9+rke2r1"))),
            t,
        );
    }
    update(&mut m, Msg::Nodes(Delta::InitDone), t);
    update(
        &mut m,
        Msg::Etcd(Box::new(EtcdMsg::Round(Round {
            started: t,
            took_ms: 14,
            endpoints,
        }))),
        t,
    );
    m
}

/// Pods and the island's mismatch lines in its log.
pub fn with_pods_and_logs(mut m: Model) -> Model {
    let t = t0() - Duration::seconds(1);
    let msg = |e: EtcdMsg| Msg::Etcd(Box::new(e));
    let rows = (1..=3).map(|i| EtcdPodRow {
        data_dir: Some("/var/lib/rancher/rke2/server/db/etcd".into()),
        ..etcd_pod(i, Vec::new())
    });
    set_pods(&mut m, rows, t);
    let mut lines = Vec::new();
    for k in 0..300 {
        let at = t0() - Duration::milliseconds(30_000 - k * 100);
        lines.push(format!(
            "{} {{\"level\":\"warn\",\"ts\":\"{}\",\"msg\":\"request cluster ID mismatch\",\"remote-peer-cluster-id\":\"9461247d77cadc24\"}}",
            at.to_rfc3339(),
            at.to_rfc3339()
        ));
    }
    update(
        &mut m,
        msg(EtcdMsg::Logs {
            pod: "kube-system/etcd-cp-3".into(),
            lines,
        }),
        t,
    );
    let text = (0..120)
        .map(|k| {
            let at = t0() - Duration::milliseconds(30_000 - k * 250);
            format!(
                "{} {} E | rafthttp: request sent was ignored (cluster ID mismatch: remote[f0c66c6ed1ce18cc]=ca864bb6058b7511, local=9461247d77cadc24)",
                at.to_rfc3339(),
                at.format("%Y-%m-%d %H:%M:%S%.6f")
            )
        })
        .collect();
    update(
        &mut m,
        msg(EtcdMsg::Logs {
            pod: "kube-system/etcd-cp-1".into(),
            lines: text,
        }),
        t,
    );
    update(
        &mut m,
        msg(EtcdMsg::Readyz(Ok(vec!["[+]etcd ok".into()]))),
        t,
    );
    update(
        &mut m,
        msg(EtcdMsg::Snapshots(Ok(
            vec![ktriage::model::etcd::SnapshotRow {
            name: "etcd-snapshot-cp-1-1764374400".into(),
            node: Some("cp-1".into()),
            location: Some(
                "file:///var/lib/rancher/rke2/server/db/snapshots/etcd-snapshot-cp-1-1764374400"
                    .into(),
            ),
            created: Some(t0() - Duration::hours(10)),
            size: Some(4_124_704),
            ok: true,
        }],
        ))),
        t,
    );
    update(&mut m, Msg::Tick, t0());
    m
}

/// A jump host's model on the etcd pane: the API serves, no etcd access, exec off, three running
/// RKE2 etcd pods whose command lines name RKE2's layout and a fourth that names no certificates.
pub fn jump_host(read_only: bool) -> Model {
    let mut m = super::model::model(read_only);
    let t = t0() - Duration::seconds(2);
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t,
    );
    let rows = (1..=4).map(|i| {
        let flag = if i < 4 {
            "--config-file=/var/lib/rancher/rke2/server/db/etcd/config"
        } else {
            "--data-dir=/var/lib/etcd"
        };
        etcd_pod(i, vec!["etcd".to_string(), flag.to_string()])
    });
    set_pods(&mut m, rows, t);
    m.ui.active = ktriage::model::PaneId::Etcd;
    m
}

/// The running, ready etcd pod of node `cp-i` with this command line.
pub fn etcd_pod(i: usize, args: Vec<String>) -> EtcdPodRow {
    EtcdPodRow {
        namespace: "kube-system".into(),
        name: format!("etcd-cp-{i}"),
        node: Some(format!("cp-{i}")),
        host_ip: Some(format!("10.0.0.1{i}")),
        phase: "Running".into(),
        ready: true,
        args,
        ..Default::default()
    }
}

/// The etcd pods source's first list: exactly `rows`.
pub fn set_pods(
    m: &mut Model,
    rows: impl IntoIterator<Item = EtcdPodRow>,
    t: chrono::DateTime<chrono::Utc>,
) {
    let msg = |e: EtcdMsg| Msg::Etcd(Box::new(e));
    update(m, msg(EtcdMsg::Pods(Delta::Init)), t);
    for row in rows {
        update(m, msg(EtcdMsg::Pods(Delta::InitApply(row))), t);
    }
    update(m, msg(EtcdMsg::Pods(Delta::InitDone)), t);
}
