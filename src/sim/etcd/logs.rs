//! What each member writes to its log, served as the `kube-system/etcd-<node>` pod's `etcd`
//! container log (with each line's own time, so `timestamps=true` and `sinceSeconds` behave).
//!
//! Formats and rates follow `../shared/REAL-SERVERS.md` §1: zap JSON lines, plus the capnslog text
//! line the majority's leader writes for a split brain; an island receives ~25 `request cluster ID
//! mismatch` lines a second, each majority member sends ~12 `request sent was ignored … cluster ID
//! mismatch` (a re-bootstrapped member logs both, ~60/s); survivors of a stopped member log `failed
//! to reach the peer URL … connection refused` every 4 s; a member without quorum starts a new
//! election every ~1.5 s. A member keeps its last lines only (bounded memory).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Cluster, EtcdSim, MemberState};
use crate::sim::server::Signal;

const TICK: Duration = Duration::from_secs(1);
const ISLAND_RATE: usize = 25;
const IGNORED_RATE: usize = 12;
const LEADER_TEXT_RATE: usize = 5;
const REJOIN_RATE: usize = 60;

fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A zap JSON line with its fields in etcd's order.
fn zap(t: DateTime<Utc>, level: &str, caller: &str, msg: &str, fields: &[(&str, Value)]) -> String {
    let mut s = format!(
        "{{\"level\":\"{level}\",\"ts\":\"{}\",\"caller\":\"{caller}\",\"msg\":{}",
        ts(t),
        json!(msg)
    );
    for (k, v) in fields {
        s.push_str(&format!(",\"{k}\":{v}"));
    }
    s.push('}');
    s
}

fn hex(v: u64) -> Value {
    json!(format!("{v:x}"))
}

/// Lines to write: (member index, line, time).
type Out = Vec<(usize, String, DateTime<Utc>)>;

/// `n` times spread over the second before `now`.
fn spread(now: DateTime<Utc>, n: usize) -> impl Iterator<Item = DateTime<Utc>> {
    (0..n)
        .map(move |k| now - chrono::Duration::microseconds(((n - k) * 1_000_000 / n.max(1)) as i64))
}

/// One second of steady-state lines for every member.
fn tick_lines(cl: &Cluster, now: DateTime<Utc>, tick: u64) -> Out {
    let mut out = Out::new();
    let majority: Vec<usize> = (0..cl.members.len())
        .filter(|&i| cl.members[i].state == MemberState::Healthy)
        .collect();
    for (i, m) in cl.members.iter().enumerate() {
        match m.state {
            MemberState::Stopped => {}
            MemberState::Island | MemberState::Rejoin => {
                let rate = if m.state == MemberState::Island {
                    ISLAND_RATE
                } else {
                    REJOIN_RATE
                };
                if majority.is_empty() {
                    continue;
                }
                for (k, t) in spread(now, rate).enumerate() {
                    let from = &cl.members[majority[k % majority.len()]];
                    out.push((
                        i,
                        zap(
                            t,
                            "warn",
                            "rafthttp/http.go:500",
                            "request cluster ID mismatch",
                            &[
                                ("local-member-id", hex(m.own_id())),
                                ("local-member-cluster-id", hex(m.own_cluster_id())),
                                ("local-member-server-version", json!(super::VERSION)),
                                (
                                    "local-member-server-minimum-cluster-version",
                                    json!("3.0.0"),
                                ),
                                ("remote-peer-server-name", hex(from.id)),
                                ("remote-peer-server-version", json!(super::VERSION)),
                                ("remote-peer-server-minimum-cluster-version", json!("3.0.0")),
                                ("remote-peer-cluster-id", hex(cl.cluster_id)),
                            ],
                        ),
                        t,
                    ));
                }
                if m.state == MemberState::Rejoin {
                    for (k, t) in spread(now, IGNORED_RATE).enumerate() {
                        let to = &cl.members[majority[k % majority.len()]];
                        out.push((
                            i,
                            ignored(
                                t,
                                m.rejoin_id_of(to),
                                cl.cluster_id,
                                m.own_id(),
                                m.own_cluster_id(),
                            ),
                            t,
                        ));
                    }
                }
            }
            MemberState::Healthy => {
                let leads = cl.leader == Some(i);
                for x in cl
                    .members
                    .iter()
                    .filter(|x| matches!(x.state, MemberState::Island | MemberState::Rejoin))
                {
                    for t in spread(now, IGNORED_RATE) {
                        out.push((
                            i,
                            ignored(t, x.id, x.own_cluster_id(), m.id, cl.cluster_id),
                            t,
                        ));
                    }
                    if leads {
                        for t in spread(now, LEADER_TEXT_RATE) {
                            out.push((i, format!(
                                "{} E | rafthttp: request sent was ignored (cluster ID mismatch: remote[{:x}]={:x}, local={:x})",
                                t.format("%Y-%m-%d %H:%M:%S%.6f"),
                                x.id,
                                x.own_cluster_id(),
                                cl.cluster_id
                            ), t));
                        }
                    }
                }
                if tick.is_multiple_of(4) {
                    for x in cl
                        .members
                        .iter()
                        .filter(|x| x.state == MemberState::Stopped)
                    {
                        out.push((
                            i,
                            zap(
                                now,
                                "warn",
                                "rafthttp/probing_status.go:68",
                                "prober detected unhealthy status",
                                &[
                                    ("round-tripper-name", json!("ROUND_TRIPPER_RAFT_MESSAGE")),
                                    ("remote-peer-id", hex(x.id)),
                                    ("rtt", json!("0s")),
                                    (
                                        "error",
                                        json!(format!(
                                            "dial tcp {}: connect: connection refused",
                                            x.peer
                                        )),
                                    ),
                                ],
                            ),
                            now,
                        ));
                        out.push((i, zap(now, "warn", "etcdserver/cluster_util.go:294", "failed to reach the peer URL", &[
                            ("address", json!(format!("{}/version", x.peer_url()))),
                            ("remote-member-id", hex(x.id)),
                            ("error", json!(format!("Get \"{}/version\": dial tcp {}: connect: connection refused", x.peer_url(), x.peer))),
                        ]), now));
                    }
                }
                if !cl.has_quorum() && tick % 3 != 2 {
                    let term = cl.term();
                    out.push((
                        i,
                        zap(
                            now,
                            "info",
                            "raft/raft.go:923",
                            &format!("{:x} is starting a new election at term {term}", m.id),
                            &[],
                        ),
                        now,
                    ));
                    out.push((
                        i,
                        zap(
                            now,
                            "info",
                            "raft/raft.go:713",
                            &format!("{:x} became candidate at term {}", m.id, term + 1),
                            &[],
                        ),
                        now,
                    ));
                }
            }
        }
    }
    out
}

fn ignored(
    t: DateTime<Utc>,
    remote: u64,
    remote_cluster: u64,
    local: u64,
    local_cluster: u64,
) -> String {
    zap(
        t,
        "warn",
        "rafthttp/stream.go:653",
        "request sent was ignored by remote peer due to cluster ID mismatch",
        &[
            ("remote-peer-id", hex(remote)),
            ("remote-peer-cluster-id", hex(remote_cluster)),
            ("local-member-id", hex(local)),
            ("local-member-cluster-id", hex(local_cluster)),
            ("error", json!("cluster ID mismatch")),
        ],
    )
}

/// The lines a change writes once: a member stopping, re-bootstrapping, coming back, raising NOSPACE.
fn change_lines(
    cl: &Cluster,
    idx: usize,
    before: MemberState,
    nospace: bool,
    t: DateTime<Utc>,
) -> Out {
    let mut out = Out::new();
    let m = &cl.members[idx];
    let others =
        (0..cl.members.len()).filter(|&i| i != idx && cl.members[i].state == MemberState::Healthy);
    if m.state != before {
        match m.state {
            MemberState::Stopped => {
                out.push((
                    idx,
                    zap(
                        t,
                        "info",
                        "osutil/interrupt_unix.go:64",
                        "received signal; shutting down",
                        &[("signal", json!("terminated"))],
                    ),
                    t,
                ));
                for o in others {
                    out.push((
                        o,
                        zap(
                            t,
                            "warn",
                            "rafthttp/stream.go:436",
                            "lost TCP streaming connection with remote peer",
                            &[
                                ("stream-reader-type", json!("stream MsgApp v2")),
                                ("local-member-id", hex(cl.members[o].id)),
                                ("remote-peer-id", hex(m.id)),
                                ("error", json!("EOF")),
                            ],
                        ),
                        t,
                    ));
                    out.push((
                        o,
                        zap(
                            t,
                            "warn",
                            "rafthttp/peer_status.go:66",
                            "peer became inactive (message send to peer failed)",
                            &[
                                ("peer-id", hex(m.id)),
                                (
                                    "error",
                                    json!(format!(
                                        "failed to dial {:x} on stream Message (EOF)",
                                        m.id
                                    )),
                                ),
                            ],
                        ),
                        t,
                    ));
                }
            }
            MemberState::Island | MemberState::Rejoin => {
                let (id, cid) = (m.own_id(), m.own_cluster_id());
                out.push((
                    idx,
                    zap(
                        t,
                        "info",
                        "embed/etcd.go:117",
                        "configuring peer listeners",
                        &[("listen-peer-urls", json!([m.peer_url()]))],
                    ),
                    t,
                ));
                out.push((
                    idx,
                    zap(
                        t,
                        "info",
                        "membership/cluster.go:392",
                        "added member",
                        &[
                            ("cluster-id", hex(cid)),
                            ("local-member-id", hex(id)),
                            ("added-peer-id", hex(id)),
                            ("added-peer-peer-urls", json!([m.peer_url()])),
                        ],
                    ),
                    t,
                ));
                if m.state == MemberState::Island {
                    out.push((
                        idx,
                        zap(
                            t,
                            "info",
                            "raft/raft.go:765",
                            &format!("{id:x} became leader at term 2"),
                            &[],
                        ),
                        t,
                    ));
                    out.push((
                        idx,
                        zap(
                            t,
                            "info",
                            "etcdserver/server.go:2037",
                            "published local member to cluster through raft",
                            &[
                                ("local-member-id", hex(id)),
                                ("cluster-id", hex(cid)),
                                ("publish-timeout", json!("7s")),
                            ],
                        ),
                        t,
                    ));
                }
                for o in others {
                    out.push((o, zap(t, "warn", "rafthttp/peer_status.go:66", "peer became inactive (message send to peer failed)", &[
                        ("peer-id", hex(m.id)),
                        ("error", json!(format!("failed to dial {:x} on stream Message (cluster ID mismatch)", m.id))),
                    ]), t));
                }
            }
            MemberState::Healthy => {
                out.push((
                    idx,
                    zap(
                        t,
                        "info",
                        "etcdserver/server.go:2037",
                        "published local member to cluster through raft",
                        &[
                            ("local-member-id", hex(m.id)),
                            ("cluster-id", hex(cl.cluster_id)),
                            ("publish-timeout", json!("7s")),
                        ],
                    ),
                    t,
                ));
                for o in others {
                    out.push((
                        o,
                        zap(
                            t,
                            "info",
                            "rafthttp/peer_status.go:53",
                            "peer became active",
                            &[("peer-id", hex(m.id))],
                        ),
                        t,
                    ));
                }
            }
        }
    }
    if nospace {
        out.push((
            idx,
            zap(
                t,
                "warn",
                "etcdserver/server.go:1050",
                "message exceeded backend quota; raising alarm",
                &[
                    ("quota-size-bytes", json!(cl.quota)),
                    (
                        "quota-size",
                        json!(format!("{:.1} GB", cl.quota as f64 / 1e9)),
                    ),
                    ("quota-maximum-size", json!("8.6 GB")),
                ],
            ),
            t,
        ));
        out.push((
            idx,
            zap(
                t,
                "warn",
                "etcdserver/server.go:2246",
                "alarm raised",
                &[("alarm", json!("NOSPACE")), ("from", hex(m.id))],
            ),
            t,
        ));
        out.push((idx, zap(t, "warn", "etcdserver/util.go:166", "apply request took too long", &[
            ("took", json!("1.2ms")), ("expected-duration", json!("100ms")), ("prefix", json!("")),
            ("request", json!("header:<ID:7587875310453870602 > put:<key:\"/registry/events/default/x\" value_size:312 >")),
            ("error", json!("etcdserver: mvcc: database space exceeded")),
        ]), t));
    }
    out
}

fn write(etcd: &EtcdSim, lines: Out) {
    let Some(sim) = etcd.sim.upgrade() else {
        return;
    };
    if lines.is_empty() {
        return;
    }
    let pods: Vec<String> = etcd
        .cluster()
        .members
        .iter()
        .map(|m| format!("etcd-{}", m.node))
        .collect();
    let mut st = sim.state();
    for (i, line, t) in lines {
        let Some(pod) = pods.get(i) else { continue };
        st.logs
            .append_at("kube-system", pod, "etcd", line.clone(), t);
        let _ = sim.signals.send(Signal::Log {
            ns: "kube-system".into(),
            pod: pod.clone(),
            container: "etcd".into(),
            line,
            at: t,
        });
    }
}

/// Write the scenario's initial states as if they happened a little before start, then one line
/// batch a second from a background task.
pub fn start(etcd: &Arc<EtcdSim>) {
    let t0 = Utc::now() - chrono::Duration::seconds(30);
    let lines: Out = {
        let cl = etcd.cluster();
        let mut out = Out::new();
        for (i, m) in cl.members.iter().enumerate() {
            out.push((
                i,
                zap(
                    t0 - chrono::Duration::seconds(60),
                    "info",
                    "etcdserver/server.go:2037",
                    "published local member to cluster through raft",
                    &[
                        ("local-member-id", hex(m.id)),
                        ("cluster-id", hex(cl.cluster_id)),
                        ("publish-timeout", json!("7s")),
                    ],
                ),
                t0 - chrono::Duration::seconds(60),
            ));
            out.extend(change_lines(
                &cl,
                i,
                MemberState::Healthy,
                cl.alarms.contains(&m.id),
                t0,
            ));
        }
        out
    };
    write(etcd, lines);
    let weak = Arc::downgrade(etcd);
    let task = tokio::spawn(async move {
        let mut every = tokio::time::interval(TICK);
        let mut n: u64 = 0;
        loop {
            every.tick().await;
            let Some(etcd) = weak.upgrade() else { return };
            let lines = tick_lines(&etcd.cluster(), Utc::now(), n);
            write(&etcd, lines);
            n += 1;
        }
    });
    if let Ok(mut l) = etcd.listeners.lock() {
        l.ticker = Some(task);
    }
}

/// A control change: its one-off lines and a second of the new steady state, at once.
pub fn on_change(etcd: &EtcdSim, idx: usize, before: MemberState, nospace: bool) {
    let now = Utc::now();
    let lines = {
        let cl = etcd.cluster();
        let mut out = change_lines(&cl, idx, before, nospace, now);
        out.extend(tick_lines(&cl, now, 0));
        out
    };
    write(etcd, lines);
}
