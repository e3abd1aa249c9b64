//! etcd pane state: where the access came from, the latest round of each etcd input (the direct
//! probe and `etcdctl` in the etcd pods, merged into one round the rules and the pane read), raft-term
//! history for churn, the etcd static pods and their aggregated logs (the third input: the rules read
//! their facts), and the API server's `/readyz` etcd check.

pub mod exec;

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

use super::{Delta, Failure, FailureKind, Keyed, SourceState, Store};
use crate::etcd::logs::LogGroups;
use crate::etcd::probe::Round;

/// Messages of the etcd sources (boxed in `Msg::Etcd`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum EtcdMsg {
    /// One probe round over every endpoint.
    Round(Round),
    /// One round of `etcdctl … -w json` inside the etcd pods (endpoints are the members' client URLs).
    ExecRound(Round),
    /// The exec input starts (what it runs and why), or is refused / falls back (why not).
    Exec(Result<String, Failure>),
    /// An etcd pod's log stream is open (the logs input answers).
    LogsRound,
    /// The etcd static pods (`kube-system/etcd-<node>`), watched.
    Pods(Delta<EtcdPodRow>),
    /// New log lines of one etcd pod (`namespace/name`).
    Logs { pod: String, lines: Vec<String> },
    /// A log fetch failed (best effort: shown, not fatal).
    LogsFailed { pod: String, failure: Failure },
    /// RKE2 / k3s snapshot records (newest first), or why they could not be read.
    Snapshots(Result<Vec<SnapshotRow>, Failure>),
    /// The API server's `/readyz?verbose` lines about etcd (`[+]etcd ok`), or why it could not be read.
    Readyz(Result<Vec<String>, Failure>),
}

/// An etcd static pod, with what the pane and rules read from its spec.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct EtcdPodRow {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub host_ip: Option<String>,
    pub phase: String,
    pub ready: bool,
    pub restarts: i32,
    /// `--quota-backend-bytes` from the container's command line, when set.
    pub quota_bytes: Option<u64>,
    /// `--data-dir` from the command line.
    pub data_dir: Option<String>,
    pub image: Option<String>,
    /// kubeadm's `kubeadm.kubernetes.io/etcd.advertise-client-urls` annotation.
    pub advertise_client_url: Option<String>,
    /// The container's command line (the exec input reads the certificate paths from it).
    pub args: Vec<String>,
}

impl EtcdPodRow {
    /// The member's client URL as the pod says it: kubeadm's advertise annotation, else the default
    /// port on the pod's host IP (RKE2 and k3s listen there).
    pub fn client_url(&self) -> Option<String> {
        self.advertise_client_url
            .clone()
            .or_else(|| self.host_ip.as_ref().map(|ip| format!("https://{ip}:2379")))
    }
}

impl Keyed for EtcdPodRow {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One etcd snapshot record (RKE2 / k3s keep them in a ConfigMap).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SnapshotRow {
    pub name: String,
    pub node: Option<String>,
    /// `file:///var/lib/rancher/rke2/server/db/snapshots/…` or an S3 location.
    pub location: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub size: Option<u64>,
    pub ok: bool,
}

/// A raft term as one member reported it, kept for the churn rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSample {
    pub at: DateTime<Utc>,
    pub cluster_id: u64,
    pub member_id: u64,
    pub term: u64,
    pub leader: u64,
}

/// The question the etcd pane's exec key asks, open until answered: what would run, where, and
/// every how often (built from the etcd pods' command lines; see `update::exec_ask`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecAsk {
    pub context: String,
    /// The running etcd pods it would run in: (pod, node).
    pub pods: Vec<(String, Option<String>)>,
    /// Running etcd pods whose command line names no certificates (left out).
    pub skipped: Vec<String>,
    /// What runs, short: `endpoint status --cluster`, `member list`, `alarm list`.
    pub runs: Vec<String>,
    /// The commands as the first pod would run them.
    pub commands: Vec<String>,
    /// The client certificate the first pod's command line names.
    pub cert: String,
    /// The first command as `kubectl exec` (what `c` copies).
    pub kubectl: String,
    pub every_secs: u64,
}

/// How the etcd probe was configured (shown in the pane and the report).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccessInfo {
    pub endpoints: Vec<String>,
    pub origin: String,
    pub tls: bool,
}

/// The etcd lines of `/readyz?verbose`, or why they could not be read.
pub type Readyz = Result<Vec<String>, Failure>;

const HISTORY: usize = 2048;
const MAX_LOG_SOURCES: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub struct EtcdModel {
    pub access: Option<AccessInfo>,
    /// The probe source.
    pub state: SourceState,
    /// The probe and exec rounds merged (one entry per endpoint; see [`merge`]): what rules and pane read.
    pub round: Option<Round>,
    pub probe_round: Option<Round>,
    pub exec_round: Option<Round>,
    /// `etcdctl` in the etcd pods (opt-in): its state, and what the pane says about it.
    pub exec_state: SourceState,
    pub exec_note: Option<String>,
    /// The exec key's question, while it is open.
    pub exec_ask: Option<ExecAsk>,
    /// The etcd pods' logs: `Ok` after the first pass over every pod.
    pub logs_state: SourceState,
    pub history: VecDeque<TermSample>,
    /// The etcd pods source (Kubernetes API).
    pub pods_state: SourceState,
    pub pods: Store<EtcdPodRow>,
    pub logs: BTreeMap<String, LogGroups>,
    pub log_errors: BTreeMap<String, Failure>,
    pub readyz: Option<(DateTime<Utc>, Readyz)>,
    /// Snapshot records, newest first (`None`: not read yet).
    pub snapshots: Option<Result<Vec<SnapshotRow>, Failure>>,
    /// The `/` filter over the members table (endpoint, member and cluster ID, health).
    pub filter: super::filter::TableFilter,
}

impl EtcdModel {
    /// Not configured: the pane says what it needs.
    pub fn new(why: &str, pods_state: SourceState) -> EtcdModel {
        EtcdModel {
            access: None,
            state: SourceState::NotConfigured { why: why.into() },
            round: None,
            probe_round: None,
            exec_round: None,
            exec_state: SourceState::NotConfigured {
                why: "etcdctl in the etcd pods is off (--etcd-via exec turns it on)".into(),
            },
            exec_note: None,
            exec_ask: None,
            logs_state: pods_state.clone(),
            history: VecDeque::new(),
            pods_state,
            pods: Store::default(),
            logs: BTreeMap::new(),
            log_errors: BTreeMap::new(),
            readyz: None,
            snapshots: None,
            filter: Default::default(),
        }
    }

    /// The members table's endpoints that the `/` filter keeps, in probe order.
    pub fn shown(&self) -> Vec<&crate::etcd::probe::EndpointProbe> {
        let Some(round) = &self.round else {
            return Vec::new();
        };
        round
            .endpoints
            .iter()
            .filter(|p| {
                let hex = |v: Option<u64>| v.map(crate::etcd::wire::hex).unwrap_or_default();
                let health = match &p.health {
                    Ok(_) => "healthy".to_string(),
                    Err(e) => e.to_string(),
                };
                self.filter.keeps(&[
                    p.endpoint.clone(),
                    hex(p.member_id()),
                    hex(p.cluster_id()),
                    health,
                ])
            })
            .collect()
    }

    /// The probe starts: the pane shows where the access came from while it loads.
    pub fn configure(&mut self, access: AccessInfo, now: DateTime<Utc>) {
        self.access = Some(access);
        self.state = SourceState::Loading { since: now };
    }

    pub fn apply(&mut self, msg: EtcdMsg, now: DateTime<Utc>) -> bool {
        match msg {
            EtcdMsg::Round(round) => {
                self.history_from(&round);
                self.state = round_state(&self.state, &round, now);
                self.probe_round = Some(round);
                self.round = merge(self.probe_round.as_ref(), self.exec_round.as_ref());
                true
            }
            EtcdMsg::ExecRound(round) => {
                self.history_from(&round);
                self.exec_state = round_state(&self.exec_state, &round, now);
                self.exec_round = Some(round);
                self.round = merge(self.probe_round.as_ref(), self.exec_round.as_ref());
                true
            }
            EtcdMsg::Exec(Ok(note)) => {
                self.exec_note = Some(note);
                if !self.exec_state.is_ok() {
                    self.exec_state = SourceState::Loading { since: now };
                }
                true
            }
            EtcdMsg::Exec(Err(failure)) => {
                self.exec_note = Some(failure.message.clone());
                self.exec_state = self.exec_state.fail(failure, now);
                true
            }
            EtcdMsg::LogsRound => {
                let changed = !self.logs_state.is_ok();
                self.logs_state = SourceState::Ok { at: now };
                changed
            }
            EtcdMsg::Pods(delta) => {
                let changed = self.pods.apply(delta);
                if self.pods.synced {
                    self.pods_state = SourceState::Ok { at: now };
                }
                changed
            }
            EtcdMsg::Logs { pod, lines } => {
                if !self.logs.contains_key(&pod) && self.logs.len() >= MAX_LOG_SOURCES {
                    return false;
                }
                let groups = self.logs.entry(pod.clone()).or_default();
                for l in &lines {
                    groups.ingest(l, now);
                }
                // an empty batch says the log is readable again
                let cleared = self.log_errors.remove(&pod).is_some();
                !lines.is_empty() || cleared
            }
            EtcdMsg::LogsFailed { pod, failure } => {
                self.log_errors.insert(pod, failure);
                true
            }
            EtcdMsg::Snapshots(r) => {
                let changed = self.snapshots.as_ref() != Some(&r);
                self.snapshots = Some(r);
                changed
            }
            EtcdMsg::Readyz(r) => {
                self.readyz = Some((now, r));
                true
            }
        }
    }

    fn history_from(&mut self, round: &Round) {
        for p in &round.endpoints {
            if let Ok(s) = &p.status {
                let sample = TermSample {
                    at: round.started,
                    cluster_id: s.header.cluster_id,
                    member_id: s.header.member_id,
                    term: s.raft_term,
                    leader: s.leader,
                };
                if self.history.back() != Some(&sample) {
                    self.history.push_back(sample);
                }
            }
        }
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    /// The state the pane shows: the probe's, else exec's, else the logs' (a jump host without etcd
    /// access still sees what the logs say).
    pub fn pane_state(&self) -> &SourceState {
        if !matches!(self.state, SourceState::NotConfigured { .. }) {
            return &self.state;
        }
        if !matches!(self.exec_state, SourceState::NotConfigured { .. }) {
            return &self.exec_state;
        }
        if self.logs_state.is_ok() && !self.logs.is_empty() {
            return &self.logs_state;
        }
        &self.state
    }

    /// Rows of the members table.
    pub fn row_count(&self) -> usize {
        self.shown().len()
    }

    /// The members table for the report (`panes.etcd.rows`): one object per endpoint, IDs in hex.
    pub fn rows_json(&self) -> serde_json::Value {
        use crate::etcd::wire::hex;
        let Some(round) = &self.round else {
            return serde_json::Value::Array(Vec::new());
        };
        round
            .endpoints
            .iter()
            .map(|p| {
                let s = p.status.as_ref().ok();
                let name = p.members.as_ref().ok().and_then(|l| {
                    let id = p.member_id()?;
                    l.members
                        .iter()
                        .find(|m| m.id == id)
                        .map(|m| m.name.clone())
                });
                serde_json::json!({
                    "endpoint": p.endpoint,
                    "member_id": p.member_id().map(hex),
                    "name": name,
                    "cluster_id": p.cluster_id().map(hex),
                    "leader": s.map(|s| s.is_leader()),
                    "raft_term": s.map(|s| s.raft_term),
                    "raft_index": s.map(|s| s.raft_index),
                    "raft_applied_index": s.map(|s| s.raft_applied_index),
                    "db_size": s.map(|s| s.db_size),
                    "db_size_in_use": s.map(|s| s.db_size_in_use),
                    "version": s.map(|s| s.version.clone()),
                    "health_ms": p.health.as_ref().ok(),
                    "error": p.status.as_ref().err().map(|e| e.message.clone())
                        .or_else(|| p.health.as_ref().err().map(|e| e.message.clone())),
                    "peer_cluster_id": p.peer.as_ref().and_then(|x| x.result.as_ref().ok())
                        .and_then(|v| v.cluster_id).map(hex),
                })
            })
            .collect()
    }

    /// The quota for the DB-size rule: the pods' `--quota-backend-bytes`, else etcd's default 2 GiB.
    pub fn quota(&self) -> (u64, &'static str) {
        match self.pods.iter().filter_map(|p| p.quota_bytes).min() {
            Some(q) => (q, "--quota-backend-bytes of the etcd pod"),
            None => (2 * 1024 * 1024 * 1024, "etcd's default quota (2 GiB)"),
        }
    }
}

/// A source's state after a round: ok when any endpoint answered, else failed with the first reason.
fn round_state(was: &SourceState, round: &Round, now: DateTime<Utc>) -> SourceState {
    if round.endpoints.iter().any(|p| p.status.is_ok()) {
        return SourceState::Ok { at: now };
    }
    let msg = round
        .endpoints
        .iter()
        .find_map(|p| p.status.as_ref().err())
        .map(|e| e.message.clone())
        .unwrap_or_else(|| "no endpoint to probe".into());
    was.fail(
        Failure {
            kind: FailureKind::Unreachable,
            message: format!("no etcd endpoint answered: {msg}"),
        },
        now,
    )
}

/// One round from the probe's and exec's: one entry per endpoint URL (probe order first). Where both
/// have an answer for a URL and they agree on the member, the entry says so (`via` both); an answer
/// beats a failure; the probe's answer is kept when both answered differently (it is direct).
pub fn merge(probe: Option<&Round>, exec: Option<&Round>) -> Option<Round> {
    use crate::etcd::wire::same_url;
    let (probe, exec) = match (probe, exec) {
        (None, None) => return None,
        (Some(p), None) => return Some(p.clone()),
        (None, Some(e)) => return Some(e.clone()),
        (Some(p), Some(e)) => (p, e),
    };
    let mut out = probe.clone();
    for x in &exec.endpoints {
        match out
            .endpoints
            .iter_mut()
            .find(|p| same_url(&p.endpoint, &x.endpoint))
        {
            Some(p) => {
                if p.status.is_err() && x.status.is_ok() {
                    let learned = p.learned;
                    *p = x.clone();
                    p.learned = learned;
                } else if p.status.is_ok() && p.member_id() == x.member_id() {
                    p.via.exec = true;
                }
            }
            None => out.endpoints.push(x.clone()),
        }
    }
    out.started = out.started.max(exec.started);
    Some(out)
}
