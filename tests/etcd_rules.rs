//! etcd rules on fixtures (fixed clock): split brain in each of its forms, quorum, a down member,
//! alarms, DB quota, leader churn, slowness, follower lag; and the runbook and copy action.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent};
use ktriage::diagnose::{Finding, Severity};
use ktriage::etcd::client::ErrorKind;
use ktriage::etcd::probe::Round;
use ktriage::etcd::runbook::{self, Platform};
use ktriage::model::etcd::{EtcdMsg, EtcdPodRow};
use ktriage::model::{Delta, PaneId};
use ktriage::msg::Msg;
use ktriage::update::{Effect, update};
use support::etcd_model::*;
use support::model::t0;

fn by_id<'a>(fs: &'a [Finding], id: &str) -> Vec<&'a Finding> {
    fs.iter().filter(|f| f.id == id).collect()
}

#[test]
fn island_names_itself_and_the_stale_id() {
    let m = etcd_model(three(island()));
    let sb = by_id(&m.findings, "etcd-split-brain");
    assert_eq!(sb.len(), 1, "{:#?}", m.findings);
    let f = sb[0];
    assert_eq!(f.severity, Severity::Critical);
    let s = f.subject.as_ref().unwrap();
    assert_eq!(
        (s.kind.as_str(), s.name.as_str()),
        ("EtcdMember", "21519d96c5d7af22")
    );
    assert_eq!(s.part.as_deref(), Some("https://10.0.0.13:2379"));
    assert_eq!(
        f.key,
        "etcd-split-brain/EtcdMember//21519d96c5d7af22#https://10.0.0.13:2379"
    );
    assert_eq!(f.details["stale_member_id"], "f0c66c6ed1ce18cc");
    assert_eq!(f.details["island_cluster_id"], "ca864bb6058b7511");
    assert_eq!(f.details["majority_cluster_id"], "9461247d77cadc24");
    assert_eq!(
        f.evidence[0],
        "https://10.0.0.13:2379 answers with cluster ID ca864bb6058b7511, the other 2 with 9461247d77cadc24"
    );
    assert!(
        f.evidence.iter().any(|e| e.contains("two leaders")),
        "{:#?}",
        f.evidence
    );
    assert!(
        f.fix
            .text
            .contains("etcdctl member remove f0c66c6ed1ce18cc")
    );
    assert!(by_id(&m.findings, "etcd-member-down").is_empty());
    assert!(by_id(&m.findings, "etcd-quorum-lost").is_empty());
}

#[test]
fn names_are_not_what_the_rule_reads() {
    // the same split with every member renamed: the finding is the same
    let mut eps = three(island());
    for p in &mut eps {
        if let Ok(l) = &mut p.members {
            for mb in &mut l.members {
                mb.name = format!("renamed-{}", mb.id % 97);
            }
        }
    }
    let a = etcd_model(three(island()));
    let b = etcd_model(eps);
    assert_eq!(
        by_id(&a.findings, "etcd-split-brain")[0].key,
        by_id(&b.findings, "etcd-split-brain")[0].key
    );
}

#[test]
fn rejoined_member_found_through_its_peer_port() {
    let m = etcd_model(three(rejoined(3)));
    let f = by_id(&m.findings, "etcd-split-brain")[0];
    assert_eq!(f.subject.as_ref().unwrap().name, "21519d96c5d7af22");
    assert_eq!(f.details["stale_member_id"], "f0c66c6ed1ce18cc");
    assert_eq!(f.details["island_cluster_id"], "da0995cb829ad6e6");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("X-Etcd-Cluster-Id da0995cb829ad6e6"))
    );
    assert!(by_id(&m.findings, "etcd-member-down").is_empty());
}

#[test]
fn member_lists_that_disagree() {
    let mut eps = three(ok(
        3,
        Ans::new(M3_STALE, MAJORITY, M1),
        majority_list(M3_STALE),
    ));
    // cp-2 still lists a member the others removed
    let mut l = majority_list(M2);
    l.members.push(member(0x1234, 4));
    eps[1].members = Ok(l);
    let m = etcd_model(eps);
    let sb = by_id(&m.findings, "etcd-split-brain");
    assert_eq!(sb.len(), 1, "{:#?}", m.findings);
    assert!(sb[0].title.contains("member lists disagree"));
    assert_eq!(sb[0].subject.as_ref().unwrap().name, "48b837955d57e5ee");
}

#[test]
fn one_down_of_three_is_critical_two_down_is_quorum_lost() {
    let m = etcd_model(three(down(
        3,
        ErrorKind::Refused,
        "tcp connect: Connection refused",
    )));
    let d = by_id(&m.findings, "etcd-member-down");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Critical);
    assert_eq!(d[0].subject.as_ref().unwrap().name, "f0c66c6ed1ce18cc");
    assert!(by_id(&m.findings, "etcd-quorum-lost").is_empty());

    let mut eps = three(down(3, ErrorKind::Refused, "refused"));
    eps[1] = down(2, ErrorKind::Timeout, "no answer within 2000 ms");
    eps[0].health = Err(support::etcd_model::err(
        ErrorKind::Server,
        "HTTP 503: etcdserver: no leader",
    ));
    let m = etcd_model(eps);
    let q = by_id(&m.findings, "etcd-quorum-lost");
    assert_eq!(q.len(), 1, "{:#?}", m.findings);
    assert!(
        q[0].title.contains("0 of 3 members healthy, 2 needed"),
        "{}",
        q[0].title
    );
}

#[test]
fn five_members_one_down_is_a_warning() {
    let five = |from| {
        list(
            MAJORITY,
            from,
            (1..=5).map(|i| member(i as u64 * 1000, i)).collect(),
        )
    };
    let mut eps: Vec<_> = (1..=4)
        .map(|i| {
            ok(
                i,
                Ans::new(i as u64 * 1000, MAJORITY, 1000),
                five(i as u64 * 1000),
            )
        })
        .collect();
    eps.push(down(5, ErrorKind::Refused, "refused"));
    let m = etcd_model(eps);
    let d = by_id(&m.findings, "etcd-member-down");
    assert_eq!(d[0].severity, Severity::Warning, "{:#?}", d);
}

#[test]
fn tls_failures_do_not_look_like_a_dead_cluster() {
    let eps = (1..=3)
        .map(|i| {
            down(
                i,
                ErrorKind::Tls(ktriage::etcd::tls::TlsProblem::UnknownCa),
                "TLS: unknown CA",
            )
        })
        .collect();
    let m = etcd_model(eps);
    assert!(
        by_id(&m.findings, "etcd-quorum-lost").is_empty(),
        "{:#?}",
        m.findings
    );
}

#[test]
fn alarms_quota_slow_lag() {
    let mut a3 = Ans::new(M3_STALE, MAJORITY, M1);
    a3.index = 9000;
    a3.applied = 7000;
    a3.health_ms = 900;
    a3.db = 1_900_000_000;
    let third = with_alarm(ok(3, a3, majority_list(M3_STALE)), M3_STALE, "NOSPACE");
    let mut eps = three(third);
    for p in &mut eps[..2] {
        if let Ok(s) = &mut p.status {
            s.raft_index = 12000;
            s.raft_applied_index = 12000;
        }
    }
    let m = etcd_model(eps);
    let a = by_id(&m.findings, "etcd-alarm");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].severity, Severity::Critical);
    assert_eq!(
        a[0].subject.as_ref().unwrap().part.as_deref(),
        Some("https://10.0.0.13:2379")
    );
    assert!(a[0].fix.text.contains("etcdctl alarm disarm"));
    assert_eq!(by_id(&m.findings, "etcd-db-near-quota").len(), 1);
    assert_eq!(by_id(&m.findings, "etcd-slow").len(), 1);
    let lag = by_id(&m.findings, "etcd-follower-lag");
    assert_eq!(lag.len(), 1);
    assert!(
        lag[0].title.contains("3000 entries behind"),
        "{}",
        lag[0].title
    );
}

#[test]
fn quota_comes_from_the_pod_flag() {
    let mut a = Ans::new(M3_STALE, MAJORITY, M1);
    a.db = 1_800_000;
    let mut m = etcd_model(three(ok(3, a, majority_list(M3_STALE))));
    assert!(by_id(&m.findings, "etcd-db-near-quota").is_empty());
    let row = EtcdPodRow {
        namespace: "kube-system".into(),
        name: "etcd-cp-3".into(),
        quota_bytes: Some(2 * 1024 * 1024),
        ..Default::default()
    };
    update(
        &mut m,
        Msg::Etcd(Box::new(EtcdMsg::Pods(Delta::Apply(row)))),
        t0(),
    );
    let q = by_id(&m.findings, "etcd-db-near-quota");
    assert_eq!(q.len(), 1);
    assert!(q[0].evidence[0].contains("--quota-backend-bytes"));
}

#[test]
fn leader_churn_across_polls() {
    let mut m = etcd_model(three(ok(
        3,
        Ans::new(M3_STALE, MAJORITY, M1),
        majority_list(M3_STALE),
    )));
    assert!(by_id(&m.findings, "etcd-leader-churn").is_empty());
    for (k, term) in [(1, 3), (2, 4), (3, 5)] {
        let leader = if term % 2 == 0 { M2 } else { M1 };
        let mut eps = three(ok(
            3,
            Ans::new(M3_STALE, MAJORITY, leader),
            majority_list(M3_STALE),
        ));
        for p in &mut eps {
            if let Ok(s) = &mut p.status {
                s.raft_term = term;
                s.leader = leader;
            }
        }
        let at = t0() + Duration::seconds(5 * k);
        update(
            &mut m,
            Msg::Etcd(Box::new(EtcdMsg::Round(Round {
                started: at,
                took_ms: 3,
                endpoints: eps,
            }))),
            at,
        );
    }
    let c = by_id(&m.findings, "etcd-leader-churn");
    assert_eq!(c.len(), 1, "{:#?}", m.findings);
    assert!(c[0].evidence[0].contains("from 2"), "{:?}", c[0].evidence);
    // the leaders by the names the member list gives them (the node's name), ID beside
    assert_eq!(
        c[0].evidence[1],
        format!("leaders seen: cp-2 ({M2:x}), cp-1 ({M1:x})"),
        "{:?}",
        c[0].evidence
    );
}

#[test]
fn healthy_cluster_has_no_findings() {
    let m = etcd_model(three(ok(
        3,
        Ans::new(M3_STALE, MAJORITY, M1),
        majority_list(M3_STALE),
    )));
    let etcd: Vec<_> = m.findings.iter().filter(|f| f.pane == "etcd").collect();
    assert!(etcd.is_empty(), "{etcd:#?}");
    assert!(runbook::build(&m, t0()).is_none());
}

#[test]
fn runbook_for_rke2_and_rke1_with_ids_filled_in() {
    let m = etcd_model(three(island()));
    let d = runbook::detect(&m);
    assert_eq!(d.platform, Platform::Rke2);
    let rb = runbook::build(&m, t0()).unwrap();
    let cmds = rb.commands();
    assert!(cmds.contains("member remove f0c66c6ed1ce18cc"), "{cmds}");
    assert!(cmds.contains("systemctl stop rke2-server"));
    assert!(cmds.contains("mv /var/lib/rancher/rke2/server/db/etcd "));
    assert!(cmds.contains("/var/lib/rancher/rke2/server/tls/etcd/server-client.crt"));

    // RKE1: `controlplane` role label, kubelet without suffix, no etcd pods
    let mut m = etcd_model(three(island()));
    m.api.version = Some("v1.20.15".into());
    update(&mut m, Msg::Nodes(ktriage::model::Delta::Init), t0());
    let mut n = node(1, "v1.20.15");
    n.roles = vec!["controlplane".into(), "etcd".into()];
    update(
        &mut m,
        Msg::Nodes(ktriage::model::Delta::InitApply(n)),
        t0(),
    );
    update(&mut m, Msg::Nodes(ktriage::model::Delta::InitDone), t0());
    assert_eq!(runbook::detect(&m).platform, Platform::Rke1);
    let cmds = runbook::build(&m, t0()).unwrap().commands();
    assert!(cmds.contains("docker exec etcd etcdctl member remove f0c66c6ed1ce18cc"));
    assert!(cmds.contains("rke up --config cluster.yml"));

    // no distribution known: plain etcd, the member is added back by hand
    let mut m = etcd_model(three(island()));
    m.api.version = Some("v1.30.1".into());
    update(&mut m, Msg::Nodes(ktriage::model::Delta::Init), t0());
    update(&mut m, Msg::Nodes(ktriage::model::Delta::InitDone), t0());
    assert_eq!(runbook::detect(&m).platform, Platform::Unknown);
    let cmds = runbook::build(&m, t0()).unwrap().commands();
    assert!(
        cmds.contains("etcdctl member remove f0c66c6ed1ce18cc"),
        "{cmds}"
    );
    assert!(
        cmds.contains("etcdctl member add cp-3 --peer-urls=https://10.0.0.13:2380"),
        "{cmds}"
    );
    assert!(!cmds.contains("rke2"), "{cmds}");

    // quorum lost on RKE2: the snapshot restore path
    let mut eps = three(down(3, ErrorKind::Refused, "refused"));
    eps[1] = down(2, ErrorKind::Refused, "refused");
    eps[0].health = Err(support::etcd_model::err(ErrorKind::Timeout, "no answer"));
    let m = etcd_model(eps);
    let cmds = runbook::build(&m, t0()).unwrap().commands();
    assert!(
        cmds.contains("rke2 server --cluster-reset --cluster-reset-restore-path="),
        "{cmds}"
    );
}

#[test]
fn y_copies_the_runbook_and_runs_nothing() {
    let mut m = etcd_model(three(island()));
    m.ui.active = PaneId::Etcd;
    let fx = update(&mut m, Msg::Key(KeyEvent::from(KeyCode::Char('y'))), t0());
    match fx.as_slice() {
        [Effect::Copy(text)] => assert!(text.contains("member remove f0c66c6ed1ce18cc")),
        other => panic!("{other:?}"),
    }
    assert!(
        m.notice
            .as_ref()
            .unwrap()
            .text
            .contains("ktriage runs nothing")
    );
    let seq = ktriage::app::osc52("abc");
    assert_eq!(seq, "\x1b]52;c;YWJj\x07");
}

#[test]
fn slash_filters_the_members_table() {
    use crossterm::event::{KeyCode, KeyEvent};
    use ktriage::msg::Msg;
    use ktriage::update::update;
    let mut m = etcd_model(three(island()));
    let key = |c: KeyCode| Msg::Key(KeyEvent::from(c));
    update(&mut m, key(KeyCode::Char('2')), t0());
    assert_eq!(m.row_count(ktriage::model::PaneId::Etcd), 3);
    update(&mut m, key(KeyCode::Char('/')), t0());
    // the island's own member ID, as the table shows it
    for c in format!("{M3_ISLAND:x}").chars() {
        update(&mut m, key(KeyCode::Char(c)), t0());
    }
    update(&mut m, key(KeyCode::Enter), t0());
    let shown: Vec<&str> = m.etcd.shown().iter().map(|p| p.endpoint.as_str()).collect();
    assert_eq!(shown, vec![url(3).as_str()]);
    assert_eq!(m.row_count(ktriage::model::PaneId::Etcd), 1);
    // `!` negates; Esc while editing clears
    m.etcd.filter.text = format!("!{M3_ISLAND:x}");
    assert_eq!(m.etcd.shown().len(), 2);
    update(&mut m, key(KeyCode::Char('/')), t0());
    update(&mut m, key(KeyCode::Esc), t0());
    assert_eq!(m.etcd.shown().len(), 3);
    // the findings do not depend on what the table shows
    assert!(m.findings.iter().any(|f| f.id == "etcd-split-brain"));
}
