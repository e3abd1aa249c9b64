//! The simulator's etcd members through ktriage's own etcd client, probe and rules: the same model
//! as against real etcd (`tests/etcd_real.rs`) for healthy, island, rejoin, stopped and NOSPACE;
//! changes through the control channel `/_sim/etcd` show at the next probe round; the members' pod
//! logs; the same findings with the nodes renamed. No test sleeps waiting for behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use k8s_openapi::api::core::v1::Pod;
use ktriage::config::Config;
use ktriage::diagnose::{Finding, Severity};
use ktriage::etcd::client::{ErrorKind, EtcdClient, Request};
use ktriage::etcd::logs::LogGroups;
use ktriage::etcd::probe::{Round, probe_round};
use ktriage::etcd::wire::{Status, hex};
use ktriage::model::etcd::{AccessInfo, EtcdMsg};
use ktriage::model::{ClusterInfo, Model};
use ktriage::msg::Msg;
use ktriage::sim::SimHandle;
use ktriage::update::update;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(2);

/// One probe round through the model and the rules, as the TUI and the report do it.
async fn observe(endpoints: &[String]) -> (Round, Model) {
    let cl = EtcdClient::new(None, None, TIMEOUT);
    let started = Utc::now();
    let t = Instant::now();
    let eps = probe_round(&cl, endpoints, &mut BTreeMap::new()).await;
    let round = Round {
        started,
        took_ms: t.elapsed().as_millis() as u64,
        endpoints: eps,
    };
    let mut m = Model::new(
        ClusterInfo::default(),
        Config::defaults().unwrap().keymap,
        started,
    );
    m.etcd.configure(
        AccessInfo {
            endpoints: endpoints.to_vec(),
            origin: "test".into(),
            tls: false,
        },
        started,
    );
    update(
        &mut m,
        Msg::Etcd(Box::new(EtcdMsg::Round(round.clone()))),
        Utc::now(),
    );
    (round, m)
}

fn ids(findings: &[Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.id.as_str()).collect()
}

fn etcd_ids(findings: &[Finding]) -> Vec<&str> {
    ids(findings)
        .into_iter()
        .filter(|i| i.starts_with("etcd"))
        .collect()
}

/// `GET /_sim/etcd`'s entry for member `i`.
fn member(h: &SimHandle, i: usize) -> Value {
    h.etcd().unwrap().describe()["members"][i].clone()
}

async fn change(h: &SimHandle, body: Value) -> Value {
    let c = support::client(h).await;
    support::control(&c, "etcd", body).await
}

async fn pod_log(h: &SimHandle, pod: &str) -> LogGroups {
    let c = support::client(h).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(c, "kube-system");
    let lp = kube::api::LogParams {
        container: Some("etcd".into()),
        tail_lines: Some(2000),
        ..Default::default()
    };
    let text = pods.logs(pod, &lp).await.unwrap();
    let mut g = LogGroups::default();
    for l in text.lines() {
        g.ingest(l, Utc::now());
    }
    g
}

#[tokio::test]
async fn healthy_members_answer_like_real_etcd() {
    let h = support::sim("healthy").await;
    let eps = h.etcd_endpoints();
    assert_eq!(eps.len(), 3);
    let (round, m) = observe(&eps).await;
    assert_eq!(round.endpoints.len(), 3, "members list no other URL");
    let statuses: Vec<&Status> = round
        .endpoints
        .iter()
        .map(|p| p.status.as_ref().unwrap())
        .collect();
    let cluster = statuses[0].header.cluster_id;
    assert!(statuses.iter().all(|s| s.header.cluster_id == cluster));
    assert_eq!(statuses.iter().filter(|s| s.is_leader()).count(), 1);
    assert!(
        statuses
            .iter()
            .all(|s| s.raft_index == s.raft_applied_index)
    );
    let listed: Vec<u64> = round.endpoints[0]
        .members
        .as_ref()
        .unwrap()
        .members
        .iter()
        .map(|m| m.id)
        .collect();
    for p in &round.endpoints {
        assert_eq!(p.members.as_ref().unwrap().members.len(), 3);
        assert!(p.health.is_ok(), "{:?}", p.health);
        assert!(p.alarms.as_ref().unwrap().alarms.is_empty());
        let id = p.status.as_ref().unwrap().header.member_id;
        assert!(listed.contains(&id), "{} not in the list", hex(id));
    }
    assert!(m.findings.is_empty(), "{:#?}", m.findings);
    // the wire: IDs as decimal strings on the gateway, a number and the header on the peer port
    let c = EtcdClient::new(None, None, TIMEOUT);
    let raw = c.read::<Value>(&eps[0], Request::Status).await.unwrap();
    assert!(
        raw.value["header"]["member_id"].is_string(),
        "{}",
        raw.value
    );
    assert_eq!(raw.value["version"], "3.5.9");
    let peer = member(&h, 0)["peer_url"].as_str().unwrap().to_string();
    let raw = c.read::<Value>(&peer, Request::PeerMembers).await.unwrap();
    assert_eq!(raw.cluster_id_header, Some(hex(cluster)));
    assert!(raw.value[0]["id"].is_u64(), "{}", raw.value);
    // the kubeconfig names them in the ktriage/etcd extension
    let kc = h.kubeconfig_yaml("admin");
    assert!(kc.contains("name: ktriage/etcd"), "{kc}");
    assert!(eps.iter().all(|e| kc.contains(e.as_str())), "{kc}");
    // the static pods carry the member's etcd command line
    let c = support::client(&h).await;
    let pods: kube::Api<Pod> = kube::Api::namespaced(c, "kube-system");
    let p = pods.get("etcd-prod-cp-1").await.unwrap();
    let row = ktriage::kube::sources::etcd::pod_row(p);
    assert_eq!(row.quota_bytes, Some(2 * 1024 * 1024 * 1024));
    assert!(row.data_dir.is_some());
    h.shutdown().await;
}

#[tokio::test]
async fn island_split_through_the_control_channel_shows_at_the_next_round() {
    let h = support::sim("healthy").await;
    let eps = h.etcd_endpoints();
    let (_, m) = observe(&eps).await;
    assert!(m.findings.is_empty(), "{:#?}", m.findings);
    // the leader, and not the last member
    let before = member(&h, 0);
    assert_eq!(h.etcd().unwrap().describe()["leader"], "prod-cp-1");
    let stale = before["member_id"].as_str().unwrap().to_string();
    let after = change(&h, json!({"member": "prod-cp-1", "state": "island"})).await;
    let island = after["members"][0]["answers_as"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(island, stale);
    let (round, m) = observe(&eps).await;
    // every quorum read succeeds: `etcdctl endpoint health` would say healthy three times
    assert!(round.endpoints.iter().all(|p| p.health.is_ok()));
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
    assert_eq!(s.name, island);
    assert_eq!(s.part.as_deref(), Some(eps[0].as_str()));
    assert_eq!(f.details["stale_member_id"], json!(stale));
    assert_ne!(
        f.details["island_cluster_id"],
        f.details["majority_cluster_id"]
    );
    assert!(f.evidence[0].contains("the other 2 with"), "{f:#?}");
    assert!(
        f.evidence.iter().any(|e| e.contains("two leaders")),
        "{f:#?}"
    );
    assert!(
        f.fix
            .text
            .contains(&format!("etcdctl member remove {stale}"))
    );
    assert!(!ids(&m.findings).contains(&"etcd-member-down"));
    // the logs both sides write, at once
    let isl = pod_log(&h, "etcd-prod-cp-1").await;
    assert!(isl.get("cluster-id-mismatch").map_or(0, |g| g.count) >= 20);
    let maj = pod_log(&h, "etcd-prod-cp-2").await;
    assert!(
        maj.get("cluster-id-mismatch-ignored")
            .map_or(0, |g| g.count)
            >= 10
    );
    // and healing it clears the finding at the next round
    change(&h, json!({"member": "prod-cp-1", "state": "healthy"})).await;
    let (_, m) = observe(&eps).await;
    assert!(etcd_ids(&m.findings).is_empty(), "{:#?}", m.findings);
    h.shutdown().await;
}

#[tokio::test]
async fn rejoin_is_read_from_the_peer_port() {
    let h = support::sim("healthy").await;
    let eps = h.etcd_endpoints();
    let stale = member(&h, 0)["member_id"].as_str().unwrap().to_string();
    change(&h, json!({"member": "prod-cp-1", "state": "rejoin"})).await;
    let (round, m) = observe(&eps).await;
    let p = &round.endpoints[0];
    assert!(p.status.is_err(), "a rejoined member serves no client");
    let peer = p.peer.as_ref().expect("peer probe");
    assert_eq!(peer.url, member(&h, 0)["peer_url"].as_str().unwrap());
    let f = m
        .findings
        .iter()
        .find(|f| f.id == "etcd-split-brain")
        .unwrap_or_else(|| panic!("{:#?}", m.findings));
    let s = f.subject.as_ref().unwrap();
    assert_eq!(s.part.as_deref(), Some(eps[0].as_str()));
    assert_ne!(s.name, stale);
    assert_ne!(s.name, "unknown");
    assert_eq!(f.details["stale_member_id"], json!(stale));
    assert!(f.evidence.iter().any(|e| e.contains("X-Etcd-Cluster-Id")));
    assert!(round.took_ms < 1500, "round took {} ms", round.took_ms);
    let (round, _) = observe(&eps).await;
    assert!(round.took_ms < 1500, "round took {} ms", round.took_ms);
    let log = pod_log(&h, "etcd-prod-cp-1").await;
    assert!(log.get("cluster-id-mismatch").is_some(), "{log:#?}");
    h.shutdown().await;
}

#[tokio::test]
async fn stopped_member_refuses_and_the_rest_answer_without_stalling() {
    let h = support::sim("healthy").await;
    let eps = h.etcd_endpoints();
    let down = member(&h, 2)["member_id"].as_str().unwrap().to_string();
    change(&h, json!({"member": "prod-cp-3", "state": "stopped"})).await;
    let t = Instant::now();
    let (round, m) = observe(&eps).await;
    assert!(t.elapsed() < TIMEOUT, "{:?}", t.elapsed());
    assert!(round.endpoints[0].status.is_ok() && round.endpoints[1].status.is_ok());
    let e = round.endpoints[2].status.as_ref().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused, "{e:?}");
    let d: Vec<&Finding> = m
        .findings
        .iter()
        .filter(|f| f.id == "etcd-member-down")
        .collect();
    assert_eq!(d.len(), 1, "{:#?}", m.findings);
    assert_eq!(d[0].subject.as_ref().unwrap().name, down);
    assert_eq!(d[0].severity, Severity::Critical);
    assert!(!ids(&m.findings).contains(&"etcd-split-brain"));
    assert!(!ids(&m.findings).contains(&"etcd-quorum-lost"));
    let log = pod_log(&h, "etcd-prod-cp-1").await;
    assert!(log.get("lost-tcp-stream").is_some(), "{log:#?}");
    let pods: kube::Api<Pod> = kube::Api::namespaced(support::client(&h).await, "kube-system");
    let ready = |p: Pod| ktriage::kube::sources::etcd::pod_row(p).ready;
    assert!(!ready(pods.get("etcd-prod-cp-3").await.unwrap()));
    // started again on the same ports
    change(&h, json!({"member": "prod-cp-3", "state": "healthy"})).await;
    let (_, m) = observe(&eps).await;
    assert!(etcd_ids(&m.findings).is_empty(), "{:#?}", m.findings);
    assert!(ready(pods.get("etcd-prod-cp-3").await.unwrap()));
    h.shutdown().await;
}

#[tokio::test]
async fn nospace_alarm_on_a_member() {
    let h = support::sim("healthy").await;
    let eps = h.etcd_endpoints();
    let id = member(&h, 1)["member_id"].as_str().unwrap().to_string();
    change(&h, json!({"member": "prod-cp-2", "nospace": true})).await;
    let (round, m) = observe(&eps).await;
    for p in &round.endpoints {
        let alarms = &p.alarms.as_ref().unwrap().alarms;
        assert_eq!(alarms.len(), 1);
        assert_eq!(alarms[0].alarm, "NOSPACE");
        assert_eq!(hex(alarms[0].member_id), id);
        let errors = &p.status.as_ref().unwrap().errors;
        assert!(errors[0].ends_with("alarm:NOSPACE "), "{errors:?}");
    }
    let f = m.findings.iter().find(|f| f.id == "etcd-alarm").unwrap();
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.title.contains("NOSPACE"));
    assert!(f.fix.text.contains("etcdctl alarm disarm"));
    let log = pod_log(&h, "etcd-prod-cp-2").await;
    assert!(log.get("database-space-exceeded").is_some(), "{log:#?}");
    change(&h, json!({"member": "prod-cp-2", "nospace": false})).await;
    let (_, m) = observe(&eps).await;
    assert!(!ids(&m.findings).contains(&"etcd-alarm"));
    h.shutdown().await;
}

#[tokio::test]
async fn quorum_lost_survivor_has_no_leader() {
    let h = support::sim("etcd-quorum-lost").await;
    let eps = h.etcd_endpoints();
    let (round, m) = observe(&eps).await;
    let s = round.endpoints[0].status.as_ref().unwrap();
    assert_eq!(s.leader, 0);
    assert!(
        s.errors.iter().any(|e| e == "etcdserver: no leader"),
        "{s:?}"
    );
    assert!(round.endpoints[0].health.is_err());
    for p in &round.endpoints[1..] {
        assert_eq!(p.status.as_ref().unwrap_err().kind, ErrorKind::Refused);
    }
    assert!(
        ids(&m.findings).contains(&"etcd-quorum-lost"),
        "{:#?}",
        m.findings
    );
    let log = pod_log(&h, "etcd-prod-cp-1").await;
    assert!(log.get("new-election").is_some(), "{log:#?}");
    assert!(log.get("peer-connection-refused").is_some(), "{log:#?}");
    h.shutdown().await;
}

/// The split-brain scenario with every node renamed gives the same findings.
#[tokio::test]
async fn renamed_nodes_give_the_same_findings() {
    let dir = tempfile::tempdir().unwrap();
    let base = include_str!("../assets/scenarios/healthy.yaml").replace("prod-cp-", "ctl-");
    let split = include_str!("../assets/scenarios/etcd-split-brain.yaml")
        .replace("prod-cp-", "ctl-")
        .replace("include: [healthy]", "include: [base.yaml]");
    assert!(!base.contains("prod-cp-") && !split.contains("prod-cp-"));
    support::write(dir.path(), "base.yaml", &base);
    let path = support::write(dir.path(), "split.yaml", &split);
    let mut found = Vec::new();
    for scenario in ["etcd-split-brain", path.to_str().unwrap()] {
        let h = support::sim(scenario).await;
        let eps = h.etcd_endpoints();
        let (_, m) = observe(&eps).await;
        let f = m
            .findings
            .iter()
            .find(|f| f.id == "etcd-split-brain")
            .unwrap_or_else(|| panic!("{scenario}: {:#?}", m.findings));
        assert_eq!(
            f.subject.as_ref().unwrap().part.as_deref(),
            Some(eps[1].as_str())
        );
        let mut got: Vec<String> = etcd_ids(&m.findings)
            .iter()
            .map(|s| s.to_string())
            .collect();
        got.sort();
        found.push(got);
        let c = support::client(&h).await;
        let pods: kube::Api<Pod> = kube::Api::namespaced(c, "kube-system");
        let node = member(&h, 1)["node"].as_str().unwrap().to_string();
        assert!(pods.get(&format!("etcd-{node}")).await.is_ok());
        h.shutdown().await;
    }
    assert_eq!(found[0], found[1]);
    assert_eq!(found[0], vec!["etcd-split-brain".to_string()]);
}
