//! The etcd pane against real etcd 3.4 members started by each test on free loopback ports:
//! healthy, a stopped member, split brain (island and rejoin, three and five members), NOSPACE, TLS
//! with client certificates, u64 IDs above i64::MAX, and the `report` binary with no kubeconfig.
//! Each test skips visibly without etcd, and fails under CI (`support::under_ci`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use ktriage::diagnose::{Finding, Severity};
use ktriage::etcd::client::{ErrorKind, EtcdClient, Request};
use ktriage::etcd::logs::LogGroups;
use ktriage::etcd::tls::{TlsFiles, TlsProblem, client_config};
use ktriage::etcd::wire::{Status, hex};
use support::etcd::{Cluster, Opts, TIMEOUT, observe, until};

fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

#[tokio::test]
async fn healthy_three_members() {
    let Some(c) = Cluster::start(Opts {
        members: 3,
        ..Default::default()
    }) else {
        return;
    };
    let (round, m) = observe(&c).await;
    assert_eq!(round.endpoints.len(), 3);
    let statuses: Vec<&Status> = round
        .endpoints
        .iter()
        .map(|p| p.status.as_ref().unwrap())
        .collect();
    let cluster = statuses[0].header.cluster_id;
    assert!(statuses.iter().all(|s| s.header.cluster_id == cluster));
    // exactly one leader may be mid-election right after start: poll until one is settled
    let (round, m2) = until(&c, Duration::from_secs(10), |m| {
        m.etcd.round.as_ref().is_some_and(|r| {
            r.endpoints
                .iter()
                .filter(|p| p.status.as_ref().is_ok_and(|s| s.is_leader()))
                .count()
                == 1
        }) && m.findings.is_empty()
    })
    .await;
    let leaders = round
        .endpoints
        .iter()
        .filter(|p| p.status.as_ref().is_ok_and(|s| s.is_leader()))
        .count();
    assert_eq!(leaders, 1);
    for p in &round.endpoints {
        assert_eq!(p.members.as_ref().unwrap().members.len(), 3);
        assert!(p.health.is_ok(), "{:?}", p.health);
        assert!(p.alarms.as_ref().unwrap().alarms.is_empty());
    }
    // the hex IDs are etcdctl's
    let listed: Vec<String> = c.member_ids(0).into_iter().map(|(id, _)| id).collect();
    for p in &round.endpoints {
        let id = hex(p.status.as_ref().unwrap().header.member_id);
        assert!(listed.contains(&id), "{id} not in {listed:?}");
    }
    assert!(
        m.findings.is_empty() || m2.findings.is_empty(),
        "{:?}",
        ids(&m2.findings)
    );
    assert!(m2.findings.is_empty(), "{:#?}", m2.findings);
}

#[tokio::test]
async fn one_member_stopped_shows_the_rest_without_stalling() {
    let Some(mut c) = Cluster::start(Opts {
        members: 3,
        ..Default::default()
    }) else {
        return;
    };
    let down_id = c
        .member_ids(0)
        .into_iter()
        .find(|(_, url)| *url == c.client_url(2))
        .unwrap()
        .0;
    c.stop_member(2);
    let t = Instant::now();
    let (round, m) = observe(&c).await;
    assert!(
        t.elapsed() < TIMEOUT + Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert!(round.endpoints[0].status.is_ok() && round.endpoints[1].status.is_ok());
    let e = round.endpoints[2].status.as_ref().unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::Refused | ErrorKind::Timeout),
        "{e:?}"
    );
    // if the stopped member led, the other two elect a new leader first (their quorum reads fail
    // for a moment): wait for that, then the findings name the stopped member only
    let _ = m;
    let (_, m) = until(&c, Duration::from_secs(10), |m| {
        !ids(&m.findings).contains(&"etcd-quorum-lost")
            && m.findings
                .iter()
                .filter(|f| f.id == "etcd-member-down")
                .count()
                == 1
    })
    .await;
    let down: Vec<&Finding> = m
        .findings
        .iter()
        .filter(|f| f.id == "etcd-member-down")
        .collect();
    assert_eq!(down.len(), 1, "{:#?}", m.findings);
    assert_eq!(down[0].subject.as_ref().unwrap().name, down_id);
    // a 3-member cluster with one down: one more loss breaks quorum
    assert_eq!(down[0].severity, Severity::Critical);
    assert!(!ids(&m.findings).contains(&"etcd-split-brain"));
    assert!(!ids(&m.findings).contains(&"etcd-quorum-lost"));
}

/// Split member `island` off as its own cluster and check the finding names it.
async fn split_island(members: usize, island: usize) {
    let Some(mut c) = Cluster::start(Opts {
        members,
        ..Default::default()
    }) else {
        return;
    };
    let stale = c
        .member_ids(0)
        .into_iter()
        .find(|(_, url)| *url == c.client_url(island))
        .unwrap()
        .0;
    c.split_brain(island, true);
    let new_id = hex(c.answering_id(island));
    assert_ne!(new_id, stale);
    // etcdctl says every endpoint is healthy
    let health = c.settled_health();
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );
    // if the island led, the majority elects a new leader first (quorum reads fail for a moment)
    let (_, m) = until(&c, Duration::from_secs(10), |m| {
        ids(&m.findings).contains(&"etcd-split-brain")
            && !ids(&m.findings).contains(&"etcd-member-down")
            && m.etcd
                .round
                .as_ref()
                .is_some_and(|r| r.endpoints[island].status.is_ok())
    })
    .await;
    let sb: Vec<&Finding> = m
        .findings
        .iter()
        .filter(|f| f.id == "etcd-split-brain")
        .collect();
    assert_eq!(sb.len(), 1, "{:#?}", m.findings);
    let f = sb[0];
    assert_eq!(f.severity, Severity::Critical);
    let s = f.subject.as_ref().unwrap();
    assert_eq!(s.kind, "EtcdMember");
    assert_eq!(s.name, new_id);
    assert_eq!(s.part.as_deref(), Some(c.client_url(island).as_str()));
    assert_eq!(f.details["stale_member_id"], serde_json::json!(stale));
    assert_ne!(
        f.details["island_cluster_id"],
        f.details["majority_cluster_id"]
    );
    let first = &f.evidence[0];
    assert!(
        first.contains(&format!("the other {} with", members - 1)),
        "{first}"
    );
    assert!(
        f.fix
            .text
            .contains(&format!("etcdctl member remove {stale}")),
        "{}",
        f.fix.text
    );
    // the island is not also reported as down
    assert!(
        !ids(&m.findings).contains(&"etcd-member-down"),
        "{:#?}",
        m.findings
    );

    // the logs the split writes, through the parser and aggregator
    let deadline = Instant::now() + Duration::from_secs(15);
    let other = if island == 0 { 1 } else { 0 };
    loop {
        let (mut isl, mut maj) = (LogGroups::default(), LogGroups::default());
        for l in c.log_lines(island) {
            isl.ingest(&l, Utc::now());
        }
        for l in c.log_lines(other) {
            maj.ingest(&l, Utc::now());
        }
        let got_isl = isl.get("cluster-id-mismatch").map_or(0, |g| g.count);
        let got_maj = maj
            .get("cluster-id-mismatch-ignored")
            .map_or(0, |g| g.count);
        if got_isl > 0 && got_maj > 0 {
            let g = isl.get("cluster-id-mismatch").unwrap();
            assert!(g.first.is_some() && g.last >= g.first);
            // the same lines as a node's CRI pod log file, through the local tailer
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("var/log/pods/kube-system_etcd-m_1/etcd");
            std::fs::create_dir_all(&dir).unwrap();
            let cri: String = c
                .log_lines(island)
                .iter()
                .map(|l| format!("2026-11-29T10:00:00.000000001Z stderr F {l}\n"))
                .collect();
            std::fs::write(dir.join("0.log"), cri).unwrap();
            let found = ktriage::etcd::local_logs::find(root.path());
            assert_eq!(found.len(), 1);
            let mut off = None;
            let lines = ktriage::etcd::local_logs::read_new(&found[0].1, &mut off).unwrap();
            let mut node = LogGroups::default();
            for l in &lines {
                node.ingest(l, Utc::now());
            }
            assert!(
                node.get("cluster-id-mismatch").map_or(0, |g| g.count) >= got_isl.min(1),
                "{node:#?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no mismatch lines: island {got_isl}, majority {got_maj}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn split_brain_island_three_members() {
    split_island(3, 2).await;
}

#[tokio::test]
async fn split_brain_island_five_members_not_last() {
    split_island(5, 1).await;
}

#[tokio::test]
async fn split_brain_rejoin_read_from_the_peer_port() {
    let Some(mut c) = Cluster::start(Opts {
        members: 3,
        ..Default::default()
    }) else {
        return;
    };
    let stale = c
        .member_ids(1)
        .into_iter()
        .find(|(_, url)| *url == c.client_url(0))
        .unwrap()
        .0;
    c.split_brain(0, false);
    let (round, m) = until(&c, Duration::from_secs(20), |m| {
        ids(&m.findings).contains(&"etcd-split-brain")
    })
    .await;
    let p = &round.endpoints[0];
    assert!(
        p.status.is_err(),
        "the rejoined member should not serve clients: {round:#?}"
    );
    let peer = p.peer.as_ref().expect("peer probe");
    assert_eq!(peer.url, c.peer_url(0));
    let f = m
        .findings
        .iter()
        .find(|f| f.id == "etcd-split-brain")
        .unwrap_or_else(|| panic!("{:#?}", m.findings));
    let s = f.subject.as_ref().unwrap();
    assert_eq!(s.part.as_deref(), Some(c.client_url(0).as_str()));
    assert_ne!(s.name, stale);
    assert_ne!(s.name, "unknown");
    assert_eq!(f.details["stale_member_id"], serde_json::json!(stale));
    assert!(
        f.evidence.iter().any(|e| e.contains("X-Etcd-Cluster-Id")),
        "{:#?}",
        f.evidence
    );
    // once its peer port listens, a round does not wait out the silent client port's timeout
    let (round, m) = observe(&c).await;
    assert!(ids(&m.findings).contains(&"etcd-split-brain"));
    assert!(
        round.took_ms < 1500,
        "round took {} ms (timeout {TIMEOUT:?})",
        round.took_ms
    );
}

#[tokio::test]
async fn nospace_alarm() {
    let Some(c) = Cluster::start(Opts {
        members: 1,
        quota: Some(2 * 1024 * 1024),
        ..Default::default()
    }) else {
        return;
    };
    let err = c.fill_until_nospace();
    assert!(err.contains("database space exceeded"), "{err}");
    let (round, m) = observe(&c).await;
    let alarms = &round.endpoints[0].alarms.as_ref().unwrap().alarms;
    assert_eq!(alarms[0].alarm, "NOSPACE");
    let f = m.findings.iter().find(|f| f.id == "etcd-alarm").unwrap();
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.title.contains("NOSPACE"));
    assert!(f.fix.text.contains("etcdctl alarm disarm"));
    let mut logs = LogGroups::default();
    for l in c.log_lines(0) {
        logs.ingest(&l, Utc::now());
    }
    assert!(logs.get("database-space-exceeded").is_some(), "{logs:#?}");
}

#[tokio::test]
async fn tls_client_certificates_and_each_failure() {
    let Some(c) = Cluster::start(Opts {
        members: 1,
        tls: true,
        ..Default::default()
    }) else {
        return;
    };
    let p = c.pki.as_ref().unwrap();
    let url = c.client_url(0);
    let with =
        |files: TlsFiles| EtcdClient::new(Some(client_config(&files).unwrap()), None, TIMEOUT);
    let right = TlsFiles {
        cacert: Some(p.ca.clone()),
        cert: Some(p.client_crt.clone()),
        key: Some(p.client_key.clone()),
    };
    let ok = with(right.clone())
        .read::<Status>(&url, Request::Status)
        .await
        .unwrap();
    assert_ne!(ok.value.header.member_id, 0);
    let kind = |r: Result<_, ktriage::etcd::client::EtcdError>| match r {
        Ok(_) => panic!("expected a TLS failure"),
        Err(e) => (e.kind, e.message),
    };
    let no_cert = TlsFiles {
        cert: None,
        key: None,
        ..right.clone()
    };
    let (k, msg) = kind(with(no_cert).read::<Status>(&url, Request::Status).await);
    assert_eq!(k, ErrorKind::Tls(TlsProblem::NoClientCert), "{msg}");
    let wrong_ca = TlsFiles {
        cacert: Some(p.rogue_ca.clone()),
        ..right.clone()
    };
    let (k, msg) = kind(with(wrong_ca).read::<Status>(&url, Request::Status).await);
    assert_eq!(k, ErrorKind::Tls(TlsProblem::UnknownCa), "{msg}");
    assert!(
        msg.contains("UnknownIssuer"),
        "the TLS library's own text: {msg}"
    );
    let rogue = TlsFiles {
        cacert: Some(p.ca.clone()),
        cert: Some(p.rogue_crt.clone()),
        key: Some(p.rogue_key.clone()),
    };
    let (k, msg) = kind(with(rogue).read::<Status>(&url, Request::Status).await);
    assert_eq!(k, ErrorKind::Tls(TlsProblem::ClientCertRejected), "{msg}");
    let plain = url.replace("https://", "http://");
    let (k, msg) = kind(
        EtcdClient::new(None, None, TIMEOUT)
            .read::<Status>(&plain, Request::Status)
            .await,
    );
    assert_eq!(k, ErrorKind::Tls(TlsProblem::PlainHttpToTls), "{msg}");
    // the binary with the TLS flags; then without a client certificate
    let (ca, crt, key) = (
        p.ca.display().to_string(),
        p.client_crt.display().to_string(),
        p.client_key.display().to_string(),
    );
    let (code, doc) = support::etcd::report_json(&[
        "--etcd-endpoints",
        &url,
        "--etcd-cacert",
        &ca,
        "--etcd-cert",
        &crt,
        "--etcd-key",
        &key,
    ])
    .await;
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["sources"]["etcd"]["state"], "ok");
    assert!(
        doc["panes"]["etcd"]["access"]["origin"]
            .as_str()
            .unwrap()
            .contains("client TLS: flags")
    );
    let (code, doc) =
        support::etcd::report_json(&["--etcd-endpoints", &url, "--etcd-cacert", &ca]).await;
    assert_eq!(code, 1, "{doc:#}");
    let f = &doc["findings"][0];
    assert_eq!(f["id"], "etcd-unreachable");
    assert!(
        f["evidence"][0]
            .as_str()
            .unwrap()
            .contains("requires a client certificate"),
        "{f:#}"
    );
    // the peer port needs mutual TLS and HTTP/1.1; it answers with the cluster-ID header
    let peer = EtcdClient::new(None, Some(client_config(&right).unwrap()), TIMEOUT)
        .read::<serde_json::Value>(&c.peer_url(0), Request::PeerMembers)
        .await
        .unwrap();
    assert_eq!(
        peer.cluster_id_header.as_deref(),
        Some(hex(ok.value.header.cluster_id).as_str())
    );
}

#[tokio::test]
async fn u64_ids_above_i64_max_in_hex() {
    // member IDs are a hash of the peer URLs and the token: start one-member clusters until one
    // answers with an ID above i64::MAX (half of them do)
    for _ in 0..12 {
        let Some(c) = Cluster::start(Opts {
            members: 1,
            ..Default::default()
        }) else {
            return;
        };
        let id = c.answering_id(0);
        if id <= i64::MAX as u64 {
            continue;
        }
        let (round, _) = observe(&c).await;
        let s = round.endpoints[0].status.as_ref().unwrap();
        assert_eq!(s.header.member_id, id);
        let listed = c.member_ids(0);
        assert_eq!(listed[0].0, hex(id), "etcdctl's hex");
        return;
    }
    panic!("no member ID above i64::MAX in 12 clusters");
}

#[tokio::test]
async fn report_binary_names_the_island_with_no_kubeconfig() {
    let Some(mut c) = Cluster::start(Opts {
        members: 3,
        ..Default::default()
    }) else {
        return;
    };
    c.split_brain(2, true);
    let island = hex(c.answering_id(2));
    let health = c.settled_health();
    assert!(health.status.success());
    let text = String::from_utf8_lossy(&health.stdout).to_string()
        + &String::from_utf8_lossy(&health.stderr);
    assert_eq!(text.matches("is healthy").count(), 3, "{text}");
    let (code, doc) =
        support::etcd::report_json(&["--etcd-endpoints", &c.endpoints().join(",")]).await;
    assert_eq!(code, 1, "{doc:#}");
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "etcd-split-brain")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert_eq!(f["subject"]["kind"], "EtcdMember");
    assert_eq!(f["subject"]["name"], serde_json::json!(island));
    assert_eq!(f["subject"]["part"], serde_json::json!(c.client_url(2)));
    assert_eq!(doc["sources"]["etcd"]["state"], "ok");
    assert_eq!(doc["sources"]["api"]["state"], "not_configured");
}
