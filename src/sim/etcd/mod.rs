//! Simulated etcd members: each on its own two loopback ports (client, peer), plain HTTP, answering
//! the v3 JSON gateway and the peer port's `GET /members` the way a real etcd 3.4/3.5 does
//! (`../shared/REAL-SERVERS.md` §1), so the etcd pane probes them exactly as it probes real etcd.
//!
//! | module | role |
//! |---|---|
//! | [`serve`] | the listeners and the HTTP answers of every state |
//! | [`logs`] | the zap-JSON / capnslog lines each state writes into the `etcd-<node>` pod logs |
//! | [`etcdctl`] | `etcdctl … -w json` inside the `etcd-<node>` pods (through pods/exec, [`super::exec`]) |
//! | [`printer`] | etcdctl 3.4's `-w table` and `-w simple` layouts |
//!
//! Member states: `healthy`; `island` (re-bootstrapped as its own one-member cluster on the same
//! ports: own cluster and member ID, its own leader, its list names only itself, while the majority
//! still lists the old ID for that URL); `rejoin` (re-bootstrapped with the full member list and a
//! wrong token: the client port accepts TCP and never answers, the peer port answers for the other
//! cluster ID); `stopped` (connections refused). Any member may carry the `NOSPACE` alarm. Without a
//! majority of healthy members there is no leader: status says `etcdserver: no leader`, the quorum
//! read and the alarm read answer `etcdserver: request timed out` after 7 s (as etcd 3.4.23 does).
//!
//! Control: `POST /_sim/etcd` `{"member":"<node>","state":"island|rejoin|stopped|healthy","nospace":true}`
//! (either field optional) takes effect at once; `GET /_sim/etcd` describes the members.

pub mod etcdctl;
pub mod logs;
pub mod printer;
pub mod serve;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SimError;
use super::server::Sim;

/// The scenario's `etcd:` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdSpec {
    /// `--quota-backend-bytes` of every member (default 2 GiB, etcd's default).
    #[serde(default)]
    pub quota: Option<u64>,
    /// Members, one per control-plane node. A later scenario's entry replaces the one with the same
    /// node name; new nodes are appended.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
}

/// One member as a scenario declares it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    /// The node: the member is named after it and its logs are the `kube-system/etcd-<node>` pod's.
    pub node: String,
    #[serde(default)]
    pub state: MemberState,
    /// This member raised the NOSPACE alarm.
    #[serde(default)]
    pub nospace: bool,
    /// Backend database size in bytes (default: a few dozen MB; with `nospace`, the quota).
    #[serde(default)]
    pub db_size: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    #[default]
    Healthy,
    Island,
    Rejoin,
    Stopped,
}

impl EtcdSpec {
    /// Merge a later scenario's section into this one (includes load first).
    pub fn merge(&mut self, later: EtcdSpec) {
        if later.quota.is_some() {
            self.quota = later.quota;
        }
        for m in later.members {
            match self.members.iter_mut().find(|x| x.node == m.node) {
                Some(x) => *x = m,
                None => self.members.push(m),
            }
        }
    }
}

pub const DEFAULT_QUOTA: u64 = 2 * 1024 * 1024 * 1024;
pub const VERSION: &str = "3.5.9";

/// A deterministic, well-mixed 64-bit ID from a name (many land above `i64::MAX`, as real IDs do).
pub fn id_of(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // splitmix64 finaliser
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (h ^ (h >> 31)).max(1)
}

/// One member at run time.
#[derive(Debug, Clone)]
pub struct Member {
    pub node: String,
    /// The ID the majority knows it by.
    pub id: u64,
    pub client: SocketAddr,
    pub peer: SocketAddr,
    pub state: MemberState,
    pub db_size: u64,
    /// When the current state began (island indexes, log rates).
    pub since: Instant,
    /// Bumped on every re-bootstrap so IDs differ between splits.
    pub generation: u32,
}

impl Member {
    pub fn client_url(&self) -> String {
        format!("http://{}", self.client)
    }
    pub fn peer_url(&self) -> String {
        format!("http://{}", self.peer)
    }
    /// Its own cluster ID after a re-bootstrap (island or rejoin).
    pub fn own_cluster_id(&self) -> u64 {
        id_of(&["cluster", &self.node, &self.generation.to_string()])
    }
    /// The member ID it answers with after a re-bootstrap.
    pub fn own_id(&self) -> u64 {
        id_of(&["member", &self.node, &self.generation.to_string()])
    }
    /// Another member's ID as a rejoined member's wrong token makes it.
    pub fn rejoin_id_of(&self, other: &Member) -> u64 {
        if other.node == self.node {
            self.own_id()
        } else {
            id_of(&[
                "member",
                &other.node,
                &self.node,
                &self.generation.to_string(),
            ])
        }
    }
}

/// The simulated cluster.
#[derive(Debug)]
pub struct Cluster {
    pub cluster_id: u64,
    pub quota: u64,
    pub members: Vec<Member>,
    /// Member IDs with the NOSPACE alarm (replicated: every majority member lists them all).
    pub alarms: Vec<u64>,
    pub raft_term: u64,
    /// Index into `members` of the majority's leader, if it has one.
    pub leader: Option<usize>,
    pub started: Instant,
    /// When the majority lost quorum (elections start).
    pub quorum_lost: Option<Instant>,
}

impl Cluster {
    pub fn healthy(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.state == MemberState::Healthy)
            .count()
    }

    pub fn has_quorum(&self) -> bool {
        self.healthy() > self.members.len() / 2
    }

    /// Raft index and revision of the majority: they advance with time, as writes arrive.
    pub fn raft_index(&self) -> u64 {
        if !self.has_quorum() {
            return 1_204_311 + secs(self.quorum_lost.unwrap_or(self.started), self.started) * 7;
        }
        1_204_311 + self.started.elapsed().as_secs() * 7
    }

    pub fn revision(&self) -> u64 {
        1_041_177 + self.raft_index().saturating_sub(1_204_311) / 2
    }

    /// The term: steady with a leader, one more per ~1.5 s election without quorum.
    pub fn term(&self) -> u64 {
        match self.quorum_lost {
            Some(t) if !self.has_quorum() => self.raft_term + t.elapsed().as_millis() as u64 / 1500,
            _ => self.raft_term,
        }
    }

    /// After a state change: re-elect if the leader is gone, note a loss of quorum.
    fn settle(&mut self) {
        if !self.has_quorum() {
            if self.quorum_lost.is_none() {
                self.quorum_lost = Some(Instant::now());
            }
            self.leader = None;
            return;
        }
        if let Some(t) = self.quorum_lost.take() {
            self.raft_term += t.elapsed().as_millis() as u64 / 1500 + 1;
        }
        let ok = |i: usize| {
            self.members
                .get(i)
                .is_some_and(|m| m.state == MemberState::Healthy)
        };
        if !self.leader.is_some_and(ok) {
            self.leader = (0..self.members.len()).find(|&i| ok(i));
            self.raft_term += 1;
        }
    }

    fn describe(&self) -> Value {
        json!({
            "cluster_id": format!("{:x}", self.cluster_id),
            "quorum": self.has_quorum(),
            "leader": self.leader.and_then(|i| self.members.get(i)).map(|m| m.node.clone()),
            "raft_term": self.term(),
            "members": self.members.iter().map(|m| json!({
                "node": m.node,
                "state": m.state,
                "member_id": format!("{:x}", m.id),
                "answers_as": match m.state {
                    MemberState::Island | MemberState::Rejoin => format!("{:x}", m.own_id()),
                    _ => format!("{:x}", m.id),
                },
                "client_url": m.client_url(),
                "peer_url": m.peer_url(),
                "nospace": self.alarms.contains(&m.id),
            })).collect::<Vec<_>>(),
        })
    }
}

fn secs(later: Instant, earlier: Instant) -> u64 {
    later.saturating_duration_since(earlier).as_secs()
}

/// The running members: shared by the listeners, the log writer and the control channel.
pub struct EtcdSim {
    cluster: Mutex<Cluster>,
    listeners: Mutex<serve::Listeners>,
    pub(crate) sim: Weak<Sim>,
}

/// A member's change as posted to `/_sim/etcd`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Node name (or the member's hex ID).
    pub member: String,
    #[serde(default)]
    pub state: Option<MemberState>,
    #[serde(default)]
    pub nospace: Option<bool>,
}

impl EtcdSim {
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The members' client URLs, in scenario order.
    pub fn client_urls(&self) -> Vec<String> {
        self.cluster()
            .members
            .iter()
            .map(Member::client_url)
            .collect()
    }

    pub fn describe(&self) -> Value {
        self.cluster().describe()
    }

    /// Apply a control change now: listeners close or open before this returns.
    pub async fn apply(self: &Arc<Self>, c: &Change) -> Result<Value, String> {
        let (idx, before) = {
            let mut cl = self.cluster();
            let idx = cl
                .members
                .iter()
                .position(|m| m.node == c.member || format!("{:x}", m.id) == c.member)
                .ok_or_else(|| {
                    format!(
                        "no etcd member {:?}; members: {}",
                        c.member,
                        cl.members
                            .iter()
                            .map(|m| m.node.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            let before = cl.members[idx].state;
            if let Some(s) = c.state
                && s != before
            {
                let m = &mut cl.members[idx];
                m.state = s;
                m.since = Instant::now();
                if matches!(s, MemberState::Island | MemberState::Rejoin) {
                    m.generation += 1;
                }
                cl.settle();
            }
            if let Some(n) = c.nospace {
                let id = cl.members[idx].id;
                cl.alarms.retain(|a| *a != id);
                if n {
                    cl.alarms.push(id);
                    let q = cl.quota;
                    cl.members[idx].db_size = q.saturating_sub(65_536);
                }
            }
            (idx, before)
        };
        let after = self.cluster().members[idx].state;
        if before != after {
            serve::restart(self, idx).await.map_err(|e| e.to_string())?;
        }
        if (before == MemberState::Stopped) != (after == MemberState::Stopped)
            && let Some(sim) = self.sim.upgrade()
        {
            let node = self.cluster().members[idx].node.clone();
            update_pod(&sim, &node, after != MemberState::Stopped);
        }
        logs::on_change(self, idx, before, c.nospace == Some(true));
        Ok(self.describe())
    }

    /// Stop every listener and the log writer.
    pub fn shutdown(&self) {
        serve::stop_all(self);
    }
}

/// Bind every member's ports and start serving; `None` when the scenario has no `etcd:` section.
pub async fn start(spec: &EtcdSpec, sim: &Arc<Sim>) -> Result<Option<Arc<EtcdSim>>, SimError> {
    if spec.members.is_empty() {
        return Ok(None);
    }
    let quota = spec.quota.unwrap_or(DEFAULT_QUOTA);
    let mut members = Vec::new();
    let mut alarms = Vec::new();
    let mut bound = Vec::new();
    for (i, m) in spec.members.iter().enumerate() {
        let (client, peer) = serve::bind_pair().await?;
        let id = id_of(&["member", &m.node]);
        if m.nospace {
            alarms.push(id);
        }
        let default_db = 38_000_000 + (id % 9_000_000) / 4096 * 4096;
        members.push(Member {
            node: m.node.clone(),
            id,
            client: client.local_addr().map_err(bind_err)?,
            peer: peer.local_addr().map_err(bind_err)?,
            state: m.state,
            db_size: m.db_size.unwrap_or(if m.nospace {
                quota.saturating_sub(65_536)
            } else {
                default_db
            }),
            since: Instant::now(),
            generation: u32::from(matches!(m.state, MemberState::Island | MemberState::Rejoin)),
        });
        bound.push((i, client, peer));
    }
    let node_names: Vec<&str> = spec.members.iter().map(|m| m.node.as_str()).collect();
    let mut cluster = Cluster {
        cluster_id: id_of(&["cluster", &node_names.join(",")]),
        quota,
        members,
        alarms,
        raft_term: 5,
        leader: None,
        started: Instant::now(),
        quorum_lost: None,
    };
    cluster.leader =
        (0..cluster.members.len()).find(|&i| cluster.members[i].state == MemberState::Healthy);
    if !cluster.has_quorum() {
        cluster.leader = None;
        cluster.quorum_lost = Some(Instant::now());
    }
    let etcd = Arc::new(EtcdSim {
        cluster: Mutex::new(cluster),
        listeners: Mutex::new(serve::Listeners::default()),
        sim: Arc::downgrade(sim),
    });
    for (i, client, peer) in bound {
        serve::spawn(&etcd, i, Some(client), Some(peer));
    }
    logs::start(&etcd);
    Ok(Some(etcd))
}

fn bind_err(source: std::io::Error) -> SimError {
    SimError::Bind {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        source,
    }
}

/// Give the scenario's `kube-system/etcd-<node>` static pods the etcd command line a real RKE2 pod
/// has (quota, data dir, name), creating the pods that are missing; stopped members' pods are not
/// ready.
pub fn prepare_pods(spec: &EtcdSpec, objects: &mut Vec<Value>) {
    let quota = spec.quota.unwrap_or(DEFAULT_QUOTA);
    for m in &spec.members {
        let name = format!("etcd-{}", m.node);
        let args = json!([
            format!(
                "--name={}-{:08x}",
                m.node,
                id_of(&["member", &m.node]) >> 32
            ),
            "--data-dir=/var/lib/rancher/rke2/server/db/etcd",
            format!("--quota-backend-bytes={quota}"),
            "--listen-client-urls=https://127.0.0.1:2379",
            "--listen-peer-urls=https://127.0.0.1:2380",
            "--client-cert-auth=true",
        ]);
        let pos = objects.iter().position(|o| {
            o.get("kind").and_then(Value::as_str) == Some("Pod")
                && o.pointer("/metadata/namespace").and_then(Value::as_str) == Some("kube-system")
                && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name.as_str())
        });
        let pod = match pos {
            Some(i) => &mut objects[i],
            None => {
                objects.push(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "namespace": "kube-system", "creationTimestamp": "-41d",
                                 "labels": {"component": "etcd", "tier": "control-plane"},
                                 "annotations": {"kubernetes.io/config.source": "file"}},
                    "spec": {"nodeName": m.node, "priorityClassName": "system-node-critical",
                             "containers": [{"name": "etcd", "image": "rancher/hardened-etcd:v3.5.9-k3s1-build20240418"}]},
                    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                               "containerStatuses": [{"name": "etcd", "image": "rancher/hardened-etcd:v3.5.9-k3s1-build20240418",
                                                      "ready": true, "started": true, "restartCount": 0}]}}));
                let last = objects.len() - 1;
                &mut objects[last]
            }
        };
        if let Some(c) = pod
            .pointer_mut("/spec/containers")
            .and_then(Value::as_array_mut)
            .and_then(|a| a.iter_mut().find(|c| c["name"] == "etcd"))
        {
            c["command"] = json!(["etcd"]);
            c["args"] = args;
        }
        if m.state == MemberState::Stopped {
            set_running(pod, false);
        }
    }
}

/// A stopped member's etcd container is not ready (crash-looping); a started one runs again.
fn set_running(pod: &mut Value, running: bool) {
    let Some(s) = pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
        .and_then(|a| a.iter_mut().find(|c| c["name"] == "etcd"))
    else {
        return;
    };
    s["ready"] = json!(running);
    s["started"] = json!(running);
    if running {
        let restarts = s["restartCount"].as_u64().unwrap_or(0);
        s["restartCount"] = json!(restarts + 1);
        s["state"] = json!({"running": {"startedAt": super::api::now_rfc3339()}});
    } else {
        s["state"] = json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=etcd"}});
    }
    if let Some(c) = pod
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        for c in c
            .iter_mut()
            .filter(|c| c["type"] == "Ready" || c["type"] == "ContainersReady")
        {
            c["status"] = json!(if running { "True" } else { "False" });
        }
    }
}

/// Reflect a member stopping or starting in its `etcd-<node>` pod (a watch event, like the kubelet's).
fn update_pod(sim: &Sim, node: &str, running: bool) {
    let mut st = sim.state();
    let Some(pod) = st
        .store
        .get("/pods", "kube-system", &format!("etcd-{node}"))
        .map(|p| (**p).clone())
    else {
        return;
    };
    let mut pod = pod;
    set_running(&mut pod, running);
    let _ = super::load::apply_direct(&mut st, pod);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sim_etcd_ids_are_stable_and_spread() {
        assert_eq!(id_of(&["member", "cp-1"]), id_of(&["member", "cp-1"]));
        assert_ne!(id_of(&["member", "cp-1"]), id_of(&["member", "cp-2"]));
        let high = (0..20)
            .filter(|i| id_of(&["member", &i.to_string()]) > i64::MAX as u64)
            .count();
        assert!((3..=17).contains(&high), "{high} of 20 above i64::MAX");
    }

    #[test]
    fn sim_etcd_spec_merges_by_node_and_pods_get_the_command_line() {
        let mut a: EtcdSpec =
            crate::sim::yaml::from_str("members: [{node: a}, {node: b}, {node: c}]").unwrap();
        let b: EtcdSpec = crate::sim::yaml::from_str(
            "quota: 1024\nmembers: [{node: b, state: island}, {node: d}]",
        )
        .unwrap();
        a.merge(b);
        let states: Vec<(&str, MemberState)> = a
            .members
            .iter()
            .map(|m| (m.node.as_str(), m.state))
            .collect();
        assert_eq!(
            states,
            vec![
                ("a", MemberState::Healthy),
                ("b", MemberState::Island),
                ("c", MemberState::Healthy),
                ("d", MemberState::Healthy)
            ]
        );
        assert!(
            crate::sim::yaml::from_str::<EtcdSpec>("members: [{node: a, state: gone}]").is_err()
        );
        let mut objects = Vec::new();
        a.members[3].state = MemberState::Stopped;
        prepare_pods(&a, &mut objects);
        assert_eq!(objects.len(), 4);
        let args = objects[0]["spec"]["containers"][0]["args"].to_string();
        assert!(args.contains("--quota-backend-bytes=1024"), "{args}");
        assert_eq!(
            objects[3]["status"]["containerStatuses"][0]["ready"],
            json!(false)
        );
    }
}
