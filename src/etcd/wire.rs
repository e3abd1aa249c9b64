//! What the v3 JSON gateway answers, reduced to what the pane and the rules read.
//!
//! 64-bit IDs arrive as decimal strings (the gateway) or JSON numbers (etcdctl's `-w json`); both are
//! parsed as `u64` (they routinely exceed `i64::MAX`) and shown in hex, as etcdctl's table does.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A member or cluster ID in etcdctl's hex form (`61bf41f273b9be67`).
pub fn hex(id: u64) -> String {
    format!("{id:x}")
}

/// A u64 from a decimal string or a JSON number; absent or empty is 0 (the gateway omits zero fields).
fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s.parse::<u64>().map_err(serde::de::Error::custom),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom(format!("not a u64: {n}"))),
        Some(other) => Err(serde::de::Error::custom(format!("not an ID: {other}"))),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Header {
    #[serde(default, deserialize_with = "de_u64")]
    pub cluster_id: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub member_id: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub revision: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub raft_term: u64,
}

/// `POST /v3/maintenance/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub version: String,
    #[serde(default, deserialize_with = "de_u64")]
    pub db_size: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub db_size_in_use: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub leader: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub raft_index: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub raft_term: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub raft_applied_index: u64,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default)]
    pub is_learner: bool,
}

impl Status {
    pub fn is_leader(&self) -> bool {
        self.leader != 0 && self.leader == self.header.member_id
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(rename = "ID", default, deserialize_with = "de_u64")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
    #[serde(default)]
    pub is_learner: bool,
}

/// `POST /v3/cluster/member/list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct MemberList {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Alarm {
    #[serde(rename = "memberID", default, deserialize_with = "de_u64")]
    pub member_id: u64,
    /// `NOSPACE`, `CORRUPT` (the gateway spells the enum by name, `etcdctl -w json` by number:
    /// `"alarm":1`; absent means NONE).
    #[serde(default = "none_alarm", deserialize_with = "de_alarm")]
    pub alarm: String,
}

fn none_alarm() -> String {
    "NONE".into()
}

fn de_alarm<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => "NONE".into(),
            Some(1) => "NOSPACE".into(),
            Some(2) => "CORRUPT".into(),
            _ => format!("alarm {n}"),
        },
        _ => none_alarm(),
    })
}

/// `POST /v3/maintenance/alarm` with `{"action":"GET"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct AlarmList {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub alarms: Vec<Alarm>,
}

/// `POST /v3/kv/range` (the quorum read): only the header matters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct RangeResponse {
    #[serde(default)]
    pub header: Header,
}

/// The peer port's `GET /members`: a JSON array of that member's own view (`id` is a JSON number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct PeerMember {
    #[serde(default, deserialize_with = "de_u64")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "peerURLs", default)]
    pub peer_urls: Vec<String>,
    #[serde(rename = "clientURLs", default)]
    pub client_urls: Vec<String>,
}

/// Parse a hex ID as the peer API and the headers print it.
pub fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim(), 16).ok()
}

/// Two URLs name the same listener (ignoring a trailing slash and case of the scheme/host).
pub fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// The simulator's etcdctl prints the parsed answers as a real etcdctl does (its tables are
/// compared with a real one's).
impl crate::sim::etcd::printer::StatusView for Status {
    fn member_id(&self) -> u64 {
        self.header.member_id
    }
    fn version(&self) -> String {
        self.version.clone()
    }
    fn db_size(&self) -> u64 {
        self.db_size
    }
    fn leader(&self) -> u64 {
        self.leader
    }
    fn is_learner(&self) -> bool {
        self.is_learner
    }
    fn raft_term(&self) -> u64 {
        self.raft_term
    }
    fn raft_index(&self) -> u64 {
        self.raft_index
    }
    fn raft_applied_index(&self) -> u64 {
        self.raft_applied_index
    }
    fn errors(&self) -> Vec<String> {
        self.errors.clone()
    }
}

impl crate::sim::etcd::printer::MemberView for Member {
    fn id(&self) -> u64 {
        self.id
    }
    fn name(&self) -> String {
        self.name.clone()
    }
    fn peer_urls(&self) -> Vec<String> {
        self.peer_urls.clone()
    }
    fn client_urls(&self) -> Vec<String> {
        self.client_urls.clone()
    }
    fn is_learner(&self) -> bool {
        self.is_learner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_status_with_ids_above_i64_max() {
        let s: Status = serde_json::from_str(
            r#"{"header":{"cluster_id":"2644539209586356732","member_id":"12738816028371759900","revision":"1","raft_term":"2"},
            "version":"3.4.23","dbSize":"20480","leader":"5028186948713435211","raftIndex":"8","raftTerm":"2",
            "raftAppliedIndex":"8","dbSizeInUse":"20480"}"#,
        )
        .unwrap();
        assert!(s.header.member_id > i64::MAX as u64);
        assert_eq!(hex(s.header.member_id), "b0c95daf4626b31c");
        assert_eq!(s.db_size, 20480);
        assert!(!s.is_leader());
        assert_eq!(s.raft_applied_index, 8);
    }

    #[test]
    fn etcdctl_json_numbers_too() {
        let s: Status = serde_json::from_str(
            r#"{"header":{"cluster_id":10691867111653563428,"member_id":7043420851810188903,"revision":1,"raft_term":2},
            "version":"3.4.23","dbSize":20480,"leader":7043420851810188903,"raftIndex":9,"raftTerm":2}"#,
        )
        .unwrap();
        assert_eq!(hex(s.header.cluster_id), "9461247d77cadc24");
        assert_eq!(hex(s.header.member_id), "61bf41f273b9be67");
        assert!(s.is_leader());
        assert_eq!(s.raft_applied_index, 0);
    }

    #[test]
    fn member_list_and_alarms() {
        let m: MemberList = serde_json::from_str(
            r#"{"header":{"cluster_id":"1"},"members":[{"ID":"17349673837713561804","name":"m3",
            "peerURLs":["http://127.0.0.1:45400"],"clientURLs":["http://127.0.0.1:45399"]},{"ID":"5","peerURLs":["x"]}]}"#,
        )
        .unwrap();
        assert_eq!(m.members.len(), 2);
        assert_eq!(hex(m.members[0].id), "f0c66c6ed1ce18cc");
        assert!(m.members[1].client_urls.is_empty());
        let a: AlarmList = serde_json::from_str(
            r#"{"header":{},"alarms":[{"memberID":"7043420851810188903","alarm":"NOSPACE"},{"memberID":"1"}]}"#,
        )
        .unwrap();
        assert_eq!(a.alarms[0].alarm, "NOSPACE");
        assert_eq!(a.alarms[1].alarm, "NONE");
        let empty: AlarmList = serde_json::from_str("{}").unwrap();
        assert!(empty.alarms.is_empty());
        // etcdctl 3.4.23 `alarm list -w json`, measured: the enum as a number, no header
        let ctl: AlarmList =
            serde_json::from_str(r#"{"alarms":[{"memberID":17227010664766480024,"alarm":1}]}"#)
                .unwrap();
        assert_eq!(ctl.alarms[0].alarm, "NOSPACE");
        assert_eq!(ctl.alarms[0].member_id, 17227010664766480024);
    }

    #[test]
    fn peer_members_as_etcd_3_4_writes_them() {
        let v: Vec<PeerMember> = serde_json::from_str(
            r#"[{"id":16883675510784217241,"peerURLs":["http://127.0.0.1:41241"],"name":"m1","clientURLs":["http://127.0.0.1:41240"]}]"#,
        )
        .unwrap();
        assert_eq!(hex(v[0].id), "ea4edd6c6b415099");
        assert_eq!(v[0].peer_urls, vec!["http://127.0.0.1:41241"]);
    }

    #[test]
    fn urls_and_hex() {
        assert!(same_url(
            "https://127.0.0.1:2379/",
            "HTTPS://127.0.0.1:2379"
        ));
        assert_eq!(parse_hex("da0995cb829ad6e6"), Some(0xda0995cb829ad6e6));
        assert_eq!(parse_hex("zz"), None);
    }
}
