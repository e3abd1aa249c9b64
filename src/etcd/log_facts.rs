//! Facts read out of etcd log lines, for the rules: who sends raft traffic to which member of which
//! cluster (a split brain), which peers a member cannot reach (a member down), elections (churn) and
//! members a member does not know (a stale member). Both formats etcd writes are read: zap JSON
//! fields (`local-member-id`, `remote-peer-id`, `remote-peer-cluster-id`, …) and capnslog text
//! (`request sent was ignored (cluster ID mismatch: remote[ID]=CID, local=CID)`).
//!
//! Kept per pod in fixed memory: at most [`MAX_FACTS`] distinct facts, each with a count, first and
//! last time; the oldest is forgotten first.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::wire::parse_hex;

/// What one line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FactKind {
    /// `request cluster ID mismatch`: this member (of `local_cluster`) received raft traffic from
    /// member `remote` of `remote_cluster`.
    MismatchReceived,
    /// `request sent was ignored … cluster ID mismatch`: this member (of `local_cluster`) sends to
    /// member `remote`, which answers for `remote_cluster`. `remote` is the ID this member's list
    /// holds for that peer: the one `etcdctl member remove` needs.
    MismatchIgnored,
    /// `connection refused` / `i/o timeout` reaching peer `remote` (or `addr`).
    PeerUnreachable,
    /// `<member> is starting a new election at term <term>`.
    Election,
    /// `failed to find member <remote> in cluster …`: traffic from a member this one does not know.
    MemberNotFound,
}

/// One fact, without its counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FactKey {
    pub kind: FactKind,
    pub local: Option<u64>,
    pub local_cluster: Option<u64>,
    pub remote: Option<u64>,
    pub remote_cluster: Option<u64>,
    /// A peer address (`10.0.0.13:2380`), when the line names one.
    pub addr: Option<String>,
    /// `refused` / `timeout` for [`FactKind::PeerUnreachable`]; the raft term for elections.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub key: FactKey,
    pub count: u64,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
}

pub const MAX_FACTS: usize = 64;

/// The facts of one pod's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub facts: Vec<Fact>,
}

impl Facts {
    pub fn add(&mut self, key: FactKey, at: DateTime<Utc>) {
        if let Some(f) = self.facts.iter_mut().find(|f| f.key == key) {
            f.count += 1;
            f.first = f.first.min(at);
            f.last = f.last.max(at);
            return;
        }
        if self.facts.len() >= MAX_FACTS
            && let Some(oldest) = self
                .facts
                .iter()
                .enumerate()
                .min_by_key(|(_, f)| f.last)
                .map(|(i, _)| i)
        {
            self.facts.swap_remove(oldest);
        }
        self.facts.push(Fact {
            key,
            count: 1,
            first: at,
            last: at,
        });
    }

    /// Facts of one kind seen at or after `since`.
    pub fn recent(&self, kind: FactKind, since: DateTime<Utc>) -> impl Iterator<Item = &Fact> {
        self.facts
            .iter()
            .filter(move |f| f.key.kind == kind && f.last >= since)
    }
}

fn hex_field(v: &Value, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_str).and_then(parse_hex))
}

/// The hex word after `marker` (`remote[` → `f0c66c6ed1ce18cc`).
fn hex_after(s: &str, marker: &str) -> Option<u64> {
    let rest = &s[s.find(marker)? + marker.len()..];
    let word: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    (word.len() >= 4).then(|| parse_hex(&word)).flatten()
}

/// `dial tcp 10.0.0.13:2380` → `10.0.0.13:2380`.
fn dial_addr(s: &str) -> Option<String> {
    let rest = &s[s.find("dial tcp ")? + 9..];
    let addr: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != ',')
        .collect();
    let addr = addr.trim_end_matches(':').to_string();
    (!addr.is_empty()).then_some(addr)
}

fn unreachable_detail(s: &str) -> Option<&'static str> {
    if s.contains("connection refused") {
        Some("refused")
    } else if s.contains("i/o timeout") {
        Some("timeout")
    } else {
        None
    }
}

/// The fact a line states, if any. `raw` is the line without a Kubernetes timestamp prefix.
pub fn read(raw: &str) -> Option<FactKey> {
    const NEEDLES: [&str; 5] = [
        "cluster ID mismatch",
        "a new election at term",
        "failed to find",
        "connection refused",
        "i/o timeout",
    ];
    if !NEEDLES.iter().any(|n| raw.contains(n)) {
        return None;
    }
    let json = raw
        .starts_with('{')
        .then(|| serde_json::from_str::<Value>(raw).ok())
        .flatten();
    let msg = json
        .as_ref()
        .and_then(|v| v.get("msg"))
        .and_then(Value::as_str)
        .unwrap_or(raw);
    let key = |kind| FactKey {
        kind,
        local: None,
        local_cluster: None,
        remote: None,
        remote_cluster: None,
        addr: None,
        detail: None,
    };
    if msg.contains("request sent was ignored") && raw.contains("cluster ID mismatch") {
        let mut k = key(FactKind::MismatchIgnored);
        match &json {
            Some(v) => {
                k.local = hex_field(v, &["local-member-id"]);
                k.local_cluster = hex_field(v, &["local-member-cluster-id"]);
                k.remote = hex_field(v, &["remote-peer-id"]);
                k.remote_cluster = hex_field(v, &["remote-peer-cluster-id"]);
            }
            None => {
                // (cluster ID mismatch: remote[f0c6…]=ca86…, local=9461…) — older: peer[…]
                k.remote = hex_after(raw, "remote[").or_else(|| hex_after(raw, "peer["));
                k.remote_cluster = hex_after(raw, "]=");
                k.local_cluster = hex_after(raw, "local=");
            }
        }
        return Some(k);
    }
    if msg.contains("request cluster ID mismatch") {
        let mut k = key(FactKind::MismatchReceived);
        match &json {
            Some(v) => {
                k.local = hex_field(v, &["local-member-id"]);
                k.local_cluster = hex_field(v, &["local-member-cluster-id"]);
                k.remote = hex_field(v, &["remote-peer-server-name", "remote-peer-id"]);
                k.remote_cluster = hex_field(v, &["remote-peer-cluster-id"]);
            }
            None => {
                // request cluster ID mismatch (got ecdd18d533c7bdc3 want a0b4701215acdc84)
                k.remote_cluster = hex_after(raw, "got ");
                k.local_cluster = hex_after(raw, "want ");
            }
        }
        return Some(k);
    }
    if let Some(i) = msg.find(" is starting a new election at term ") {
        let mut k = key(FactKind::Election);
        let member = msg[..i].rsplit(' ').next().unwrap_or("");
        k.local = parse_hex(member);
        let term: String = msg[i + 36..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        k.detail = (!term.is_empty()).then_some(term);
        return Some(k);
    }
    if msg.contains("failed to find member") || msg.contains("failed to find remote peer") {
        let mut k = key(FactKind::MemberNotFound);
        k.remote = match &json {
            Some(v) => hex_field(v, &["remote-peer-id-from", "remote-peer-id"]),
            None => hex_after(raw, "failed to find member "),
        };
        k.local = json
            .as_ref()
            .and_then(|v| hex_field(v, &["local-member-id"]));
        return Some(k);
    }
    let detail = unreachable_detail(raw)?;
    let mut k = key(FactKind::PeerUnreachable);
    k.detail = Some(detail.to_string());
    k.addr = dial_addr(raw);
    k.remote = match &json {
        Some(v) => hex_field(v, &["remote-peer-id", "remote-member-id", "peer-id"]),
        None => hex_after(raw, "for peer ").or_else(|| hex_after(raw, "of member ")),
    };
    // a client connection failing is not a peer: keep lines that name a peer or a peer port
    let peer_port = k.addr.as_deref().is_some_and(|a| a.ends_with(":2380"));
    (k.remote.is_some() || peer_port).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zap_lines_as_etcd_3_4_and_3_5_write_them() {
        let k = read(r#"{"level":"warn","ts":"2026-11-24T17:19:20.259Z","caller":"rafthttp/http.go:547","msg":"request cluster ID mismatch","local-member-id":"21519d96c5d7af22","local-member-cluster-id":"ca864bb6058b7511","local-member-server-version":"3.4.23","remote-peer-server-name":"48b837955d57e5ee","remote-peer-cluster-id":"9461247d77cadc24"}"#).unwrap();
        assert_eq!(k.kind, FactKind::MismatchReceived);
        assert_eq!(k.local, Some(0x21519d96c5d7af22));
        assert_eq!(k.local_cluster, Some(0xca864bb6058b7511));
        assert_eq!(k.remote, Some(0x48b837955d57e5ee));
        assert_eq!(k.remote_cluster, Some(0x9461247d77cadc24));
        let k = read(r#"{"level":"warn","caller":"rafthttp/stream.go:682","msg":"request sent was ignored by remote peer due to cluster ID mismatch","remote-peer-id":"f0c66c6ed1ce18cc","remote-peer-cluster-id":"ca864bb6058b7511","local-member-id":"48b837955d57e5ee","local-member-cluster-id":"9461247d77cadc24","error":"cluster ID mismatch"}"#).unwrap();
        assert_eq!(k.kind, FactKind::MismatchIgnored);
        assert_eq!(k.remote, Some(0xf0c66c6ed1ce18cc));
        assert_eq!(k.local_cluster, Some(0x9461247d77cadc24));
        let k = read(r#"{"level":"warn","msg":"prober detected unhealthy status","remote-peer-id":"f0c66c6ed1ce18cc","error":"dial tcp 127.0.0.1:32400: connect: connection refused"}"#).unwrap();
        assert_eq!(k.kind, FactKind::PeerUnreachable);
        assert_eq!(k.remote, Some(0xf0c66c6ed1ce18cc));
        assert_eq!(k.addr.as_deref(), Some("127.0.0.1:32400"));
        assert_eq!(k.detail.as_deref(), Some("refused"));
        let k = read(
            r#"{"level":"info","msg":"8e9e05c52164694d is starting a new election at term 17"}"#,
        )
        .unwrap();
        assert_eq!(k.kind, FactKind::Election);
        assert_eq!(k.local, Some(0x8e9e05c52164694d));
        assert_eq!(k.detail.as_deref(), Some("17"));
        let k = read(r#"{"level":"warn","msg":"failed to find remote peer in cluster","local-member-id":"48b837955d57e5ee","remote-peer-id-stream-handler":"48b837955d57e5ee","remote-peer-id-from":"a1b2c3d4e5f60718","cluster-id":"9461247d77cadc24"}"#).unwrap();
        assert_eq!(k.kind, FactKind::MemberNotFound);
        assert_eq!(k.remote, Some(0xa1b2c3d4e5f60718));
    }

    #[test]
    fn capnslog_text_as_rke1_writes_it() {
        let k = read("2021-05-04 07:50:10.142212 E | rafthttp: request sent was ignored (cluster ID mismatch: peer[fa573fde1c0b9eb9]=ecdd18d533c7bdc3, local=a0b4701215acdc84)").unwrap();
        assert_eq!(k.kind, FactKind::MismatchIgnored);
        assert_eq!(k.remote, Some(0xfa573fde1c0b9eb9));
        assert_eq!(k.remote_cluster, Some(0xecdd18d533c7bdc3));
        assert_eq!(k.local_cluster, Some(0xa0b4701215acdc84));
        let k = read("2026-11-24 17:19:20.259464 E | rafthttp: request sent was ignored (cluster ID mismatch: remote[f0c66c6ed1ce18cc]=ca864bb6058b7511, local=9461247d77cadc24)").unwrap();
        assert_eq!(k.remote, Some(0xf0c66c6ed1ce18cc));
        let k = read("2021-05-04 07:50:10.140405 E | rafthttp: request cluster ID mismatch (got ecdd18d533c7bdc3 want a0b4701215acdc84)").unwrap();
        assert_eq!(k.kind, FactKind::MismatchReceived);
        assert_eq!(k.remote_cluster, Some(0xecdd18d533c7bdc3));
        assert_eq!(k.local_cluster, Some(0xa0b4701215acdc84));
        let k = read("2021-05-04 07:50:10.1 W | rafthttp: health check for peer 8e9e05c52164694d could not connect: dial tcp 10.0.0.3:2380: i/o timeout").unwrap();
        assert_eq!(k.kind, FactKind::PeerUnreachable);
        assert_eq!(k.remote, Some(0x8e9e05c52164694d));
        assert_eq!(k.detail.as_deref(), Some("timeout"));
        let k = read("2021-05-04 07:50:10.1 E | rafthttp: failed to find member 8e9e05c52164694d in cluster cdf818194e3a8c32").unwrap();
        assert_eq!(k.kind, FactKind::MemberNotFound);
        assert_eq!(k.remote, Some(0x8e9e05c52164694d));
        // a client's refused connection is no peer fact
        assert_eq!(
            read(
                "2021-05-04 07:50:10.1 W | grpc: dial tcp 127.0.0.1:2379: connect: connection refused"
            ),
            None
        );
        assert_eq!(read("all good"), None);
    }

    #[test]
    fn facts_are_bounded_and_counted() {
        let t = Utc::now();
        let mut f = Facts::default();
        for i in 0..(MAX_FACTS as u64 * 3) {
            let mut k = read(r#"{"msg":"1 is starting a new election at term 1"}"#).unwrap();
            k.detail = Some(i.to_string());
            f.add(k, t + chrono::Duration::seconds(i as i64));
        }
        assert_eq!(f.facts.len(), MAX_FACTS);
        // the newest are kept
        assert!(
            f.facts
                .iter()
                .all(|x| x.last >= t + chrono::Duration::seconds(128))
        );
        let k = read(r#"{"msg":"request cluster ID mismatch","local-member-id":"aa11"}"#).unwrap();
        f.add(k.clone(), t);
        f.add(k, t + chrono::Duration::seconds(5));
        let m = f.recent(FactKind::MismatchReceived, t).next().unwrap();
        assert_eq!(m.count, 2);
        assert_eq!(m.last - m.first, chrono::Duration::seconds(5));
    }
}
