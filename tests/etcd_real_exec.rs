//! Real etcd 3.4 (Debian's `etcd-server` / `etcd-client`, started by each test on free loopback
//! ports, as in `tests/etcd_real.rs`) against what ktriage prints and parses without etcd access:
//! - the split-brain runbook's `etcdctl member remove <id>`, for a real island, runs as printed (the
//!   unknown-distribution form on a majority member; the RKE2 form inside a majority member's pod,
//!   with RKE2's certificate paths standing for this cluster's) and the majority forgets the island;
//! - a real etcdctl's `endpoint status --cluster`, `member list` and `alarm list` (`-w json`, NOSPACE
//!   raised), run with the exact argv the exec source builds, through the exec source's parser, give
//!   the model the direct probe gives for the same cluster;
//! - the simulated etcdctl's `-w table` is a real etcdctl 3.4's, byte for byte.
//!
//! Each test skips visibly without etcd, and fails under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use ktriage::config::Config;
use ktriage::diagnose::Finding;
use ktriage::etcd::runbook;
use ktriage::etcd::wire::{MemberList, Status};
use ktriage::kube::sources::etcd_exec::{COMMANDS, Etcdctl, PodAnswer, Printed, round};
use ktriage::model::etcd::{EtcdMsg, EtcdPodRow};
use ktriage::model::{ClusterInfo, Delta, Model};
use ktriage::msg::Msg;
use ktriage::sim::etcd::printer;
use ktriage::update::update;
use serde_json::Value;
use support::etcd::{Cluster, Opts, observe, until};

fn split_brain(m: &Model) -> Option<&Finding> {
    m.findings.iter().find(|f| f.id == "etcd-split-brain")
}

/// A three-member cluster whose third member is an island, observed until the probe names it
/// (and no longer reports a member down while the majority elects a new leader).
async fn island(tls: bool) -> Option<(Cluster, Model, String)> {
    let mut c = Cluster::start(Opts {
        members: 3,
        tls,
        ..Default::default()
    })?;
    c.split_brain(2, true);
    assert!(c.settled_health().status.success());
    let (_, m) = until(&c, Duration::from_secs(15), |m| {
        split_brain(m).is_some() && !m.findings.iter().any(|f| f.id == "etcd-member-down")
    })
    .await;
    let f = split_brain(&m).unwrap_or_else(|| panic!("{:#?}", m.findings));
    let stale = f.details["stale_member_id"].as_str().unwrap().to_string();
    assert!(
        c.member_ids(0).iter().any(|(id, _)| *id == stale),
        "the majority lists {stale} before"
    );
    Some((c, m, stale))
}

fn member_remove(m: &Model) -> String {
    let rb = runbook::build(m, Utc::now()).unwrap();
    rb.steps
        .iter()
        .filter_map(|s| s.command.clone())
        .find(|c| c.contains("member remove"))
        .unwrap_or_else(|| panic!("{rb:#?}"))
}

fn sh(cmd: &str, env: &[(&str, String)]) -> std::process::Output {
    let mut c = Command::new("sh");
    c.arg("-c").arg(cmd).env_remove("ETCDCTL_ENDPOINTS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn removed(c: &Cluster, stale: &str, out: &std::process::Output) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // etcdctl prints `Member %16x removed from cluster %16x`: an ID with a leading zero nibble is
    // padded with a space, so compare words, not a fixed string.
    let words: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(
        words.get(..3),
        Some(&["Member", stale, "removed"][..]),
        "{text}"
    );
    let left: Vec<String> = c.member_ids(0).into_iter().map(|(id, _)| id).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.contains(&stale.to_string()), "{left:?}");
    assert_eq!(c.member_ids(1).len(), 2, "the other majority member agrees");
}

/// Unknown distribution: the runbook says to run `etcdctl member remove <id>` on a majority
/// member's node, where etcdctl reaches its member at its default endpoint; here that member's
/// client URL stands for it.
#[tokio::test]
async fn member_remove_runs_as_printed_on_a_majority_member() {
    let Some((c, m, stale)) = island(false).await else {
        return;
    };
    let cmd = member_remove(&m);
    assert_eq!(cmd, format!("etcdctl member remove {stale}"));
    let out = sh(&cmd, &[("ETCDCTL_ENDPOINTS", c.client_url(0))]);
    removed(&c, &stale, &out);
}

/// RKE2 from a jump host: the runbook's `kubectl -n kube-system exec etcd-<node> -- etcdctl …` into
/// a majority member's pod. What runs in the pod runs here, with RKE2's certificate paths and the
/// pod's local endpoint mapped to this TLS cluster's.
#[tokio::test]
async fn member_remove_runs_as_printed_in_a_majority_pod_with_rke2_flags() {
    let Some((c, mut m, stale)) = island(true).await else {
        return;
    };
    m.api.version = Some("v1.28.9+rke2r1".into());
    let t = Utc::now();
    update(&mut m, Msg::Etcd(Box::new(EtcdMsg::Pods(Delta::Init))), t);
    for node in ["m1", "m2"] {
        let row = EtcdPodRow {
            namespace: "kube-system".into(),
            name: format!("etcd-{node}"),
            node: Some(node.into()),
            phase: "Running".into(),
            ready: true,
            ..Default::default()
        };
        update(
            &mut m,
            Msg::Etcd(Box::new(EtcdMsg::Pods(Delta::InitApply(row)))),
            t,
        );
    }
    update(
        &mut m,
        Msg::Etcd(Box::new(EtcdMsg::Pods(Delta::InitDone))),
        t,
    );
    let cmd = member_remove(&m);
    let tls = "/var/lib/rancher/rke2/server/tls/etcd";
    assert_eq!(
        cmd,
        format!(
            "kubectl -n kube-system exec etcd-m1 -- etcdctl --endpoints=https://127.0.0.1:2379 --cacert={tls}/server-ca.crt --cert={tls}/server-client.crt --key={tls}/server-client.key member remove {stale}"
        )
    );
    let in_pod = on_member(
        &c,
        cmd.split_once(" -- ").unwrap().1,
        tls,
        ["server-ca.crt", "server-client.crt", "server-client.key"],
    );
    removed(&c, &stale, &sh(&in_pod, &[]));
}

/// `cmd` as it runs against this TLS cluster's first member: the distribution's certificate files
/// in `dir` (CA, client certificate, key) and the member's local endpoint mapped to the test's.
fn on_member(c: &Cluster, cmd: &str, dir: &str, files: [&str; 3]) -> String {
    let p = c.pki.as_ref().unwrap();
    let ours = [&p.ca, &p.client_crt, &p.client_key];
    files.iter().zip(ours).fold(
        cmd.replace("https://127.0.0.1:2379", &c.client_url(0)),
        |cmd, (f, o)| cmd.replace(&format!("{dir}/{f}"), &o.display().to_string()),
    )
}

/// What the exec source runs in member `i`'s pod, run here with this cluster's certificates.
fn exec_in(c: &Cluster, i: usize) -> PodAnswer {
    let p = c.pki.as_ref().unwrap();
    let ctl = Etcdctl {
        endpoint: c.client_url(i),
        cacert: p.ca.display().to_string(),
        cert: p.client_crt.display().to_string(),
        key: p.client_key.display().to_string(),
    };
    let run = |args: &[&str]| {
        let argv = ctl.argv(args);
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        Printed {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            failure: (!out.status.success()).then(|| format!("exit {:?}", out.status.code())),
        }
    };
    let [status, members, alarms] = COMMANDS;
    PodAnswer {
        pod: format!("etcd-m{}", i + 1),
        status: run(status),
        members: run(members),
        alarms: run(alarms),
    }
}

/// The raft index of each member, by endpoint.
type Indexes = BTreeMap<String, u64>;

/// A model as compared: members table rows by endpoint, findings (key, severity, title), raft indexes.
type Comparable = (
    BTreeMap<String, Value>,
    Vec<(String, String, String)>,
    Indexes,
);

/// The members table and the findings, without what only says how they were learnt (the probe's
/// quorum-read time, the evidence's wording of the input); the raft indexes apart: etcd 3.4 puts
/// every alarm read through raft, so each round's `alarm list` moves the index on.
fn comparable(m: &Model) -> Comparable {
    let mut indexes = Indexes::new();
    let rows = m
        .etcd
        .rows_json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let url = r["endpoint"].as_str().unwrap().to_string();
            let o = r.as_object_mut().unwrap();
            o.remove("health_ms");
            indexes.insert(url.clone(), o["raft_index"].as_u64().unwrap());
            for k in ["raft_index", "raft_applied_index"] {
                o.remove(k);
            }
            (url, r)
        })
        .collect();
    let mut findings: Vec<_> = m
        .findings
        .iter()
        .map(|f| {
            (
                f.key.clone(),
                f.severity.name().to_string(),
                f.title.clone(),
            )
        })
        .collect();
    findings.sort();
    (rows, findings, indexes)
}

/// A real etcdctl's JSON through the exec source's parser equals the direct probe's model: every
/// member (ID, cluster, leader, raft index, DB size, name) and every finding (the NOSPACE alarm).
#[tokio::test]
async fn real_etcdctl_json_through_the_exec_parser_equals_the_probe() {
    let Some(c) = Cluster::start(Opts {
        members: 3,
        tls: true,
        quota: Some(2 * 1024 * 1024),
    }) else {
        return;
    };
    let err = c.fill_until_nospace();
    assert!(err.contains("database space exceeded"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let started = Utc::now();
        let t = Instant::now();
        let answers: Vec<PodAnswer> = (0..3).map(|i| exec_in(&c, i)).collect();
        let alarms = answers[0].alarms.stdout.clone();
        let exec = round(answers, started, t.elapsed());
        let mut via_exec = Model::new(
            ClusterInfo::default(),
            Config::defaults().unwrap().keymap,
            started,
        );
        update(
            &mut via_exec,
            Msg::Etcd(Box::new(EtcdMsg::ExecRound(exec.clone()))),
            Utc::now(),
        );
        let (_, probed) = observe(&c).await;
        let (a, b) = (comparable(&via_exec), comparable(&probed));
        // the probe ran after exec: ahead by the alarm reads in between (3 of exec's, 3 of its own)
        let close =
            a.2.iter()
                .all(|(url, ix)| b.2.get(url).is_some_and(|p| (*ix..=ix + 6).contains(p)));
        if (&a.0, &a.1) == (&b.0, &b.1) && close {
            assert_eq!(a.0.len(), 3, "{a:#?}");
            assert!(
                a.1.iter().any(|(k, _, _)| k.starts_with("etcd-alarm")),
                "{a:#?}"
            );
            assert!(
                alarms.contains("\"alarm\":1"),
                "the enum as a number: {alarms}"
            );
            for p in &exec.endpoints {
                let listed = &p.alarms.as_ref().unwrap().alarms;
                assert!(listed.iter().all(|x| x.alarm == "NOSPACE"), "{listed:?}");
                assert!(!listed.is_empty());
                assert_eq!(p.members.as_ref().unwrap().members.len(), 3);
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "exec and probe disagree:\n{a:#?}\n{b:#?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // the same cluster's tables: the simulator's printer lays out a real etcdctl's rows exactly
    let ep = [c.client_url(0)];
    let json_and_table = |args: &[&str]| {
        let mut j = args.to_vec();
        j.extend(["-w", "json"]);
        let mut t = args.to_vec();
        t.extend(["-w", "table"]);
        let json = String::from_utf8(c.etcdctl(&ep, &j).stdout).unwrap();
        let table = String::from_utf8(c.etcdctl(&ep, &t).stdout).unwrap();
        (json, table)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (json, table) = json_and_table(&["endpoint", "status", "--cluster"]);
        let items: Vec<Value> = serde_json::from_str(&json).unwrap();
        let parsed: Vec<(String, Status)> = items
            .iter()
            .map(|i| {
                (
                    i["Endpoint"].as_str().unwrap().to_string(),
                    serde_json::from_value(i["Status"].clone()).unwrap(),
                )
            })
            .collect();
        let ours = printer::render(&printer::STATUS_HEADERS, &printer::status_rows(&parsed));
        if ours == table {
            // three NOSPACE errors in one cell: wrapped over several lines
            assert!(table.lines().count() > 7, "{table}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ours:\n{ours}\netcdctl:\n{table}"
        );
    }
    let (json, table) = json_and_table(&["member", "list"]);
    let list: MemberList = serde_json::from_str(&json).unwrap();
    assert_eq!(
        printer::render(
            &printer::MEMBER_HEADERS,
            &printer::member_rows(&list.members)
        ),
        table
    );
    // health's TOOK differs per call: the real table's own cells, laid out again
    let (_, table) = json_and_table(&["endpoint", "health", "--cluster"]);
    let cells: Vec<printer::Health> = table
        .lines()
        .filter(|l| l.starts_with("| http"))
        .map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            printer::Health {
                endpoint: c[1].into(),
                health: c[2] == "true",
                took: c[3].into(),
                error: c[4].into(),
            }
        })
        .collect();
    assert_eq!(cells.len(), 3, "{table}");
    assert_eq!(
        printer::render(&printer::HEALTH_HEADERS, &printer::health_rows(&cells)),
        table
    );
}

/// k3s's etcdctl install step, run as printed on a "server" whose member is a real TLS etcd (k3s's
/// certificate paths and `127.0.0.1:2379` stand for this member's, /usr/local/bin for a temporary
/// directory, and etcd's release site for a local directory holding an archive laid out as etcd's
/// releases are): it reads the member's version from `/version` and installs that etcdctl.
#[tokio::test]
async fn k3s_install_step_installs_the_members_etcdctl_version() {
    let Some(c) = Cluster::start(Opts {
        members: 1,
        tls: true,
        ..Default::default()
    }) else {
        return;
    };
    let etcd = String::from_utf8(
        Command::new("etcd")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let version = etcd
        .lines()
        .find_map(|l| l.strip_prefix("etcd Version: "))
        .unwrap()
        .trim()
        .to_string();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let dir = tempfile::tempdir().unwrap();
    let name = format!("etcd-v{version}-linux-{arch}");
    let staging = dir.path().join("staging").join(&name);
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::copy(
        support::require_tool("etcdctl").unwrap(),
        staging.join("etcdctl"),
    )
    .unwrap();
    std::fs::write(staging.join("README.md"), "etcd\n").unwrap();
    let releases = dir.path().join("releases").join(format!("v{version}"));
    std::fs::create_dir_all(&releases).unwrap();
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(releases.join(format!("{name}.tar.gz")))
        .arg("-C")
        .arg(dir.path().join("staging"))
        .arg(&name)
        .status()
        .unwrap();
    assert!(tar.success());
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cmd = on_member(
        &c,
        &runbook::k3s_etcdctl_install(),
        "/var/lib/rancher/k3s/server/tls/etcd",
        ["server-ca.crt", "client.crt", "client.key"],
    )
    .replace(
        runbook::ETCD_RELEASES,
        &format!("file://{}", dir.path().join("releases").display()),
    )
    .replace("/usr/local/bin", &bin.display().to_string());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = sh(&cmd, &[("PATH", path)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{cmd}\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("etcdctl version: {version}")),
        "{text}"
    );
    assert!(bin.join("etcdctl").is_file());
    assert!(!bin.join("README.md").exists(), "only etcdctl is installed");
}
