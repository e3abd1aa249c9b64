//! etcdctl 3.4's `-w table` and `-w simple` printers, for the simulated etcdctl: the same rows
//! (`etcdctl/ctlv3/command/printer.go`: `makeEndpointStatusTable`, `makeMemberListTable`,
//! `makeEndpointHealthTable`) laid out the way the table library etcdctl 3.4 vendors does it
//! (right-aligned cells, centred upper-case headers, a cell wider than 30 columns wrapped at word
//! boundaries with minimal raggedness, each cell wrapped at its column's width when its row is
//! added). `tests/etcd_real_exec.rs` compares these with a real etcdctl 3.4.23, byte for byte.

use serde_json::Value;

/// Cells wider than this are wrapped.
const MAX_CELL: usize = 30;

/// A table as etcdctl prints it.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers
        .iter()
        .map(|h| h.chars().count().min(MAX_CELL))
        .collect();
    let mut lines: Vec<Vec<Vec<String>>> = Vec::new();
    for row in rows {
        let mut cells = Vec::new();
        for (i, cell) in row.iter().enumerate() {
            if i >= widths.len() {
                widths.push(0);
            }
            widths[i] = widths[i].max(cell.chars().count().min(MAX_CELL));
            let wrapped = wrap(cell, widths[i]);
            let widest = wrapped.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            widths[i] = widths[i].max(widest);
            cells.push(wrapped);
        }
        lines.push(cells);
    }
    let rule = {
        let mut s = String::from("+");
        for w in &widths {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
        }
        s.push('\n');
        s
    };
    let mut out = rule.clone();
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        let h = headers.get(i).map_or(String::new(), |h| title(h));
        let gap = w.saturating_sub(h.chars().count());
        let left = gap / 2;
        out.push_str(&format!(
            " {}{h}{} |",
            " ".repeat(left),
            " ".repeat(gap - left)
        ));
    }
    out.push('\n');
    out.push_str(&rule);
    for cells in &lines {
        let height = cells.iter().map(Vec::len).max().unwrap_or(1);
        for y in 0..height {
            out.push('|');
            for (i, w) in widths.iter().enumerate() {
                // a shorter cell's missing lines are two spaces, right-aligned like the rest
                let text = cells.get(i).and_then(|c| c.get(y)).map_or("  ", |s| s);
                out.push_str(&format!(" {text:>w$} |"));
            }
            out.push('\n');
        }
    }
    out.push_str(&rule);
    out
}

/// `endpoint` → `ENDPOINT`, `db size` → `DB SIZE`.
fn title(h: &str) -> String {
    h.replace(['_', '.'], " ").trim().to_uppercase()
}

/// Split on single spaces (empty words kept) and break into lines of at most `lim` columns with
/// minimal raggedness (a word longer than `lim` widens the limit).
fn wrap(s: &str, lim: usize) -> Vec<String> {
    let words: Vec<&str> = s.split(' ').collect();
    let lim = words
        .iter()
        .map(|w| w.chars().count())
        .fold(lim, usize::max) as i64;
    let n = words.len();
    let len = |i: usize, j: usize| -> i64 {
        words[i..=j]
            .iter()
            .map(|w| w.chars().count() as i64)
            .sum::<i64>()
            + (j - i) as i64
    };
    let mut next = vec![n; n];
    let mut cost = vec![i64::from(i32::MAX); n];
    for i in (0..n).rev() {
        if len(i, n - 1) <= lim {
            cost[i] = 0;
            next[i] = n;
            continue;
        }
        for j in i + 1..n {
            let d = lim - len(i, j - 1);
            let mut c = d * d + cost[j];
            if len(i, j - 1) > lim {
                c += 100_000;
            }
            if c < cost[i] {
                cost[i] = c;
                next[i] = j;
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        out.push(words[i..next[i]].join(" "));
        i = next[i];
    }
    out
}

/// Bytes as etcdctl prints a DB size (SI units: `20 kB`, `2.4 MB`).
pub fn bytes(n: u64) -> String {
    if n < 10 {
        return format!("{n} B");
    }
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((n as f64).ln() / 1000f64.ln()).floor() as usize;
    let e = e.min(UNITS.len() - 1);
    let val = ((n as f64) / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[e])
    } else {
        format!("{val:.0} {}", UNITS[e])
    }
}

/// What an `endpoint status` row shows of one member's status: the simulator's own JSON, or the
/// etcd client's parsed answer (`etcd::wire::Status`, which implements it there: the simulator uses
/// nothing else of the crate).
pub trait StatusView {
    fn member_id(&self) -> u64;
    fn version(&self) -> String;
    fn db_size(&self) -> u64;
    fn leader(&self) -> u64;
    fn is_learner(&self) -> bool;
    fn raft_term(&self) -> u64;
    fn raft_index(&self) -> u64;
    fn raft_applied_index(&self) -> u64;
    fn errors(&self) -> Vec<String>;
}

/// What a `member list` row shows of one member.
pub trait MemberView {
    fn id(&self) -> u64;
    fn name(&self) -> String;
    fn peer_urls(&self) -> Vec<String>;
    fn client_urls(&self) -> Vec<String>;
    fn is_learner(&self) -> bool;
}

/// A u64 of etcd's JSON at `pointer`: a number, or a decimal string (the gateway's form); 0 when
/// absent.
fn u(v: &Value, pointer: &str) -> u64 {
    match v.pointer(pointer) {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A status as etcdctl's `-w json` prints it (`Status` of an `endpoint status` item).
impl StatusView for Value {
    fn member_id(&self) -> u64 {
        u(self, "/header/member_id")
    }
    fn version(&self) -> String {
        text(self, "/version")
    }
    fn db_size(&self) -> u64 {
        u(self, "/dbSize")
    }
    fn leader(&self) -> u64 {
        u(self, "/leader")
    }
    fn is_learner(&self) -> bool {
        self.pointer("/isLearner")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    fn raft_term(&self) -> u64 {
        u(self, "/raftTerm")
    }
    fn raft_index(&self) -> u64 {
        u(self, "/raftIndex")
    }
    fn raft_applied_index(&self) -> u64 {
        u(self, "/raftAppliedIndex")
    }
    fn errors(&self) -> Vec<String> {
        strings(self, "/errors")
    }
}

/// A member as etcdctl's `-w json` prints it (an item of `members`).
impl MemberView for Value {
    fn id(&self) -> u64 {
        u(self, "/ID")
    }
    fn name(&self) -> String {
        text(self, "/name")
    }
    fn peer_urls(&self) -> Vec<String> {
        strings(self, "/peerURLs")
    }
    fn client_urls(&self) -> Vec<String> {
        strings(self, "/clientURLs")
    }
    fn is_learner(&self) -> bool {
        self.pointer("/isLearner")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

/// `endpoint status` rows.
pub fn status_rows<S: StatusView>(items: &[(String, S)]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|(url, s)| {
            vec![
                url.clone(),
                format!("{:x}", s.member_id()),
                s.version(),
                bytes(s.db_size()),
                (s.leader() == s.member_id()).to_string(),
                s.is_learner().to_string(),
                s.raft_term().to_string(),
                s.raft_index().to_string(),
                s.raft_applied_index().to_string(),
                s.errors().join(", "),
            ]
        })
        .collect()
}

pub const STATUS_HEADERS: [&str; 10] = [
    "endpoint",
    "ID",
    "version",
    "db size",
    "is leader",
    "is learner",
    "raft term",
    "raft index",
    "raft applied index",
    "errors",
];

/// `member list` rows (a member without a name has not started).
pub fn member_rows<M: MemberView>(members: &[M]) -> Vec<Vec<String>> {
    members
        .iter()
        .map(|m| {
            let name = m.name();
            vec![
                format!("{:x}", m.id()),
                if name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_string(),
                name,
                m.peer_urls().join(","),
                m.client_urls().join(","),
                m.is_learner().to_string(),
            ]
        })
        .collect()
}

pub const MEMBER_HEADERS: [&str; 6] = [
    "ID",
    "Status",
    "Name",
    "Peer Addrs",
    "Client Addrs",
    "Is Learner",
];

/// One `endpoint health` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub endpoint: String,
    pub health: bool,
    pub took: String,
    pub error: String,
}

pub fn health_rows(items: &[Health]) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|h| {
            vec![
                h.endpoint.clone(),
                h.health.to_string(),
                h.took.clone(),
                h.error.clone(),
            ]
        })
        .collect()
}

pub const HEALTH_HEADERS: [&str; 4] = ["endpoint", "health", "took", "error"];

/// `-w simple`: each row's cells joined by `, `.
pub fn simple(rows: &[Vec<String>]) -> String {
    rows.iter().map(|r| format!("{}\n", r.join(", "))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_etcdctl_prints_them() {
        assert_eq!(bytes(7), "7 B");
        assert_eq!(bytes(20480), "20 kB");
        assert_eq!(bytes(2441216), "2.4 MB");
        assert_eq!(bytes(2147000000), "2.1 GB");
        assert_eq!(bytes(999), "999 B");
    }

    #[test]
    fn a_long_cell_wraps_at_thirty_columns() {
        // measured: etcdctl 3.4.23 `endpoint status -w table` with the NOSPACE alarm raised
        let t = render(
            &["errors"],
            &[vec!["memberID:2840297463485123307 alarm:NOSPACE ".into()]],
        );
        assert_eq!(
            t,
            "+--------------------------------+\n\
             |             ERRORS             |\n\
             +--------------------------------+\n\
             |   memberID:2840297463485123307 |\n\
             |                 alarm:NOSPACE  |\n\
             +--------------------------------+\n"
        );
        assert_eq!(wrap("a b c", 3), vec!["a b", "c"]);
        assert_eq!(wrap("", 5), vec![""]);
    }
}
