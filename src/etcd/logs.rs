//! etcd log signatures (data: `assets/etcd-log-signatures.toml`), a parser for both log formats etcd
//! writes (zap JSON lines and capnslog text lines, optionally behind a Kubernetes log timestamp), and
//! an aggregator with counts, first/last seen and a one-minute rate in fixed memory: a split brain
//! writes 25–120 mismatch lines per second and the pane must show groups, not a flood.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

pub const SIGNATURES_TOML: &str = include_str!("../../assets/etcd-log-signatures.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Signature {
    pub id: String,
    #[serde(default)]
    pub all: Vec<String>,
    #[serde(default)]
    pub any: Vec<String>,
    pub title: String,
    pub meaning: String,
    /// The section of the Rancher troubleshooting guide the meaning comes from.
    pub section: String,
}

impl Signature {
    pub fn matches(&self, line: &str) -> bool {
        self.all.iter().all(|s| line.contains(s.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|s| line.contains(s.as_str())))
            && !(self.all.is_empty() && self.any.is_empty())
    }
}

#[derive(Deserialize)]
struct File {
    signature: Vec<Signature>,
}

pub fn parse_signatures(text: &str) -> Result<Vec<Signature>, String> {
    toml::from_str::<File>(text)
        .map(|f| f.signature)
        .map_err(|e| e.to_string())
}

/// The embedded signatures (an unreadable asset yields none, and a unit test fails).
pub fn signatures() -> &'static [Signature] {
    static SIGS: OnceLock<Vec<Signature>> = OnceLock::new();
    SIGS.get_or_init(|| parse_signatures(SIGNATURES_TOML).unwrap_or_default())
}

/// One log line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub ts: Option<DateTime<Utc>>,
    pub level: Option<String>,
    pub msg: String,
    /// The line without a Kubernetes timestamp prefix.
    pub raw: &'a str,
}

/// Parse a zap JSON line, a capnslog text line, or anything else (kept raw).
pub fn parse_line(line: &str) -> LogLine<'_> {
    let mut line = line.trim_end();
    let mut kube_ts = None;
    // `kubectl logs --timestamps` / the log API with timestamps=true: "2026-11-24T17:19:20.1Z <line>"
    if let Some((first, rest)) = line.split_once(' ')
        && first.len() >= 20
        && first.as_bytes().get(4) == Some(&b'-')
        && first.contains('T')
        && let Ok(t) = DateTime::parse_from_rfc3339(first)
    {
        kube_ts = Some(t.with_timezone(&Utc));
        line = rest;
    }
    if line.starts_with('{')
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
    {
        let ts = match v.get("ts") {
            Some(serde_json::Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            Some(serde_json::Value::Number(n)) => n
                .as_f64()
                .and_then(|f| DateTime::from_timestamp(f.trunc() as i64, (f.fract() * 1e9) as u32)),
            _ => None,
        };
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        return LogLine {
            ts: ts.or(kube_ts),
            level: s("level"),
            msg: s("msg").unwrap_or_default(),
            raw: line,
        };
    }
    // capnslog: "2021-05-04 07:50:10.140405 E | rafthttp: request sent was ignored (…)"
    // (the stamp is cut at byte 26: only where that is a character boundary — log text is arbitrary)
    if line.len() > 29 && line.as_bytes().get(4) == Some(&b'-') && line.is_char_boundary(26) {
        let (stamp, rest) = line.split_at(26.min(line.len()));
        if let Ok(t) = NaiveDateTime::parse_from_str(stamp.trim(), "%Y-%m-%d %H:%M:%S%.f")
            && let Some((lvl, msg)) = rest.trim_start().split_once(" | ")
        {
            let level = match lvl.trim() {
                "E" => "error",
                "W" => "warn",
                "I" => "info",
                "N" => "notice",
                "D" => "debug",
                "C" => "critical",
                other => other,
            };
            return LogLine {
                ts: Some(t.and_utc()),
                level: Some(level.to_string()),
                msg: msg.to_string(),
                raw: line,
            };
        }
    }
    LogLine {
        ts: kube_ts,
        level: None,
        msg: line.to_string(),
        raw: line,
    }
}

/// Index of the first signature the line matches.
pub fn classify(line: &str, sigs: &[Signature]) -> Option<usize> {
    sigs.iter().position(|s| s.matches(line))
}

const WINDOW: usize = 60;
const SAMPLE: usize = 300;

/// Counts for one signature in one member's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub count: u64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// The latest matching line, shortened.
    pub sample: String,
    secs: [i64; WINDOW],
    counts: [u32; WINDOW],
}

impl Group {
    fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            count: 0,
            first: None,
            last: None,
            sample: String::new(),
            secs: [i64::MIN; WINDOW],
            counts: [0; WINDOW],
        }
    }

    fn add(&mut self, at: DateTime<Utc>, raw: &str) {
        self.count += 1;
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
        if self.last == Some(at) {
            // the newest line is the sample
            self.sample = crate::text::truncate(raw, SAMPLE);
        }
        let s = at.timestamp();
        let i = s.rem_euclid(WINDOW as i64) as usize;
        if self.secs[i] != s {
            self.secs[i] = s;
            self.counts[i] = 0;
        }
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// Lines per second over the minute before `now`.
    pub fn rate(&self, now: DateTime<Utc>) -> f64 {
        let n = now.timestamp();
        let total: u64 = self
            .secs
            .iter()
            .zip(self.counts.iter())
            .filter(|(s, _)| **s > n - WINDOW as i64 && **s <= n)
            .map(|(_, c)| u64::from(*c))
            .sum();
        total as f64 / WINDOW as f64
    }
}

/// One member's log, aggregated: fixed memory whatever the line rate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogGroups {
    /// One per signature that matched at least once, in signature order.
    pub groups: Vec<Group>,
    pub lines: u64,
    pub unmatched: u64,
    /// The newest timestamp seen (the log source fetches only lines after it).
    pub newest: Option<DateTime<Utc>>,
    /// What the lines say about members and peers (the rules' input).
    pub facts: super::log_facts::Facts,
}

impl LogGroups {
    /// Add one line; `now` stands in for lines without a timestamp.
    pub fn ingest(&mut self, line: &str, now: DateTime<Utc>) {
        let sigs = signatures();
        self.lines += 1;
        let parsed = parse_line(line);
        let at = parsed.ts.unwrap_or(now);
        self.newest = Some(self.newest.map_or(at, |n| n.max(at)));
        if let Some(k) = super::log_facts::read(parsed.raw) {
            self.facts.add(k, at);
        }
        match classify(parsed.raw, sigs) {
            Some(i) => {
                let id = &sigs[i].id;
                let g = match self.groups.iter().position(|g| &g.id == id) {
                    Some(p) => &mut self.groups[p],
                    None => {
                        self.groups.push(Group::new(id));
                        self.groups.sort_by_key(|g| {
                            sigs.iter().position(|s| s.id == g.id).unwrap_or(usize::MAX)
                        });
                        let p = self.groups.iter().position(|g| &g.id == id).unwrap_or(0);
                        &mut self.groups[p]
                    }
                };
                g.add(at, parsed.raw);
            }
            None => self.unmatched += 1,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_asset_parses_and_cites_the_guide() {
        let sigs = parse_signatures(SIGNATURES_TOML).unwrap();
        assert_eq!(sigs.len(), 8);
        assert_eq!(signatures().len(), 8);
        for s in &sigs {
            assert!(!s.meaning.is_empty() && !s.section.is_empty(), "{}", s.id);
        }
    }

    #[test]
    fn both_formats() {
        let zap = r#"{"level":"warn","ts":"2026-11-24T17:19:20.259Z","caller":"rafthttp/http.go:547","msg":"request cluster ID mismatch","local-member-id":"21519d96c5d7af22"}"#;
        let p = parse_line(zap);
        assert_eq!(p.msg, "request cluster ID mismatch");
        assert_eq!(p.level.as_deref(), Some("warn"));
        assert!(p.ts.is_some());
        assert_eq!(
            sig_of(zap),
            Some("cluster-id-mismatch"),
            "zap mismatch line"
        );
        let text = "2026-11-24 17:19:20.259464 E | rafthttp: request sent was ignored (cluster ID mismatch: remote[f0c66c6ed1ce18cc]=ca864bb6058b7511, local=9461247d77cadc24)";
        let p = parse_line(text);
        assert_eq!(p.level.as_deref(), Some("error"));
        assert!(p.msg.starts_with("rafthttp: request sent was ignored"));
        assert_eq!(sig_of(text), Some("cluster-id-mismatch-ignored"));
        let kube = format!("2026-11-24T17:19:21.000000001Z {text}");
        let p = parse_line(&kube);
        assert_eq!(p.raw, text);
        assert_eq!(
            sig_of(
                "2021-05-04 07:50:10.1 W | health check for peer a could not connect: dial tcp 10.0.0.3:2380: getsockopt: connection refused"
            ),
            Some("peer-connection-refused")
        );
        assert_eq!(
            sig_of("raft2021/05/04 a1b2 is starting a new election at term 7"),
            Some("new-election")
        );
        assert_eq!(
            sig_of(r#"{"msg":"lost TCP streaming connection with remote peer","error":"EOF"}"#),
            Some("lost-tcp-stream")
        );
        assert_eq!(
            sig_of("Error: etcdserver: mvcc: database space exceeded"),
            Some("database-space-exceeded")
        );
        assert_eq!(sig_of("all good"), None);
    }

    fn sig_of(line: &str) -> Option<&'static str> {
        let sigs = signatures();
        classify(parse_line(line).raw, sigs).map(|i| sigs[i].id.as_str())
    }

    #[test]
    fn aggregation_is_bounded_and_rated() {
        let t = DateTime::parse_from_rfc3339("2026-11-24T17:19:20Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut g = LogGroups::default();
        for i in 0..100_000 {
            let at = t + chrono::Duration::milliseconds(i * 10); // 100 lines/s for 1000 s
            let line = format!(
                r#"{{"level":"warn","ts":"{}","msg":"request cluster ID mismatch"}}"#,
                at.to_rfc3339()
            );
            g.ingest(&line, t);
        }
        g.ingest("unrelated", t);
        assert_eq!(g.groups.len(), 1);
        let m = g.get("cluster-id-mismatch").unwrap();
        assert_eq!(m.count, 100_000);
        assert_eq!(m.first, Some(t));
        let end = m.last.unwrap();
        assert!((m.rate(end) - 100.0).abs() < 2.0, "{}", m.rate(end));
        assert_eq!(m.rate(end + chrono::Duration::seconds(120)), 0.0);
        assert_eq!(g.unmatched, 1);
        assert!(m.sample.len() <= SAMPLE * 4);
    }
}
