//! `etcdctl` inside a simulated etcd pod, answered from the members' state: `endpoint status
//! [--cluster]`, `endpoint health [--cluster]`, `member list` and `alarm list`, with `-w json` (u64
//! IDs as JSON numbers, in the field order etcdctl 3.4/3.5 prints; `../shared/REAL-SERVERS.md` §1 and
//! a real etcdctl 3.4.23), `-w table` (as etcdctl 3.4 lays it out, [`super::printer`]; `alarm list`
//! has no table, as in etcdctl) or `-w simple`. Flags or the `ETCDCTL_*` environment, directly or
//! through `sh -c "ETCDCTL_…=… etcdctl …"` as the Rancher guide's RKE2 loop runs it.
//!
//! The pod's client port is `https://127.0.0.1:2379` with client-certificate auth: the certificate
//! files must be the pod's own (RKE2's `server/tls/etcd/server-ca.crt`, `server-client.crt`,
//! `server-client.key`), else etcdctl fails as it does there. Failures answer at once where real
//! etcdctl would wait for its command timeout.

use super::printer::{self, Health};
use super::serve::{Answer, answer_of};
use super::{Cluster, MemberState, VERSION};
use crate::sim::exec::Run;

const TLS_DIR: &str = "/var/lib/rancher/rke2/server/tls/etcd";

/// `sh -c "A=1 B='2' etcdctl x"` → (env, words); a plain argv is its own words.
/// `VAR=value` assignments in front of a command.
type Env = Vec<(String, String)>;

fn words(argv: &[String]) -> Result<(Env, Vec<String>), String> {
    let script = match argv {
        [sh, c, script, ..] if sh.ends_with("sh") && c == "-c" => Some(script.clone()),
        _ => None,
    };
    let words = match script {
        Some(s) => split_shell(&s)?,
        None => argv.to_vec(),
    };
    let mut env = Vec::new();
    let mut rest = words.into_iter().peekable();
    while let Some(w) = rest.peek() {
        match w.split_once('=') {
            Some((k, v))
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                env.push((k.to_string(), v.to_string()));
                rest.next();
            }
            _ => break,
        }
    }
    Ok((env, rest.collect()))
}

/// Shell words with single and double quotes (no expansion: the guide's loop needs none).
fn split_shell(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, ';' | '|' | '&' | '$' | '`') => {
                return Err(format!(
                    "sh: the simulated shell runs one etcdctl command, not {c:?}"
                ));
            }
            (None, c) => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err("sh: unterminated quoted string".into());
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Opts {
    endpoints: Option<String>,
    cacert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    output: String,
    cluster: bool,
    command: Vec<String>,
}

fn parse(env: &[(String, String)], args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        output: "simple".into(),
        ..Opts::default()
    };
    for (k, v) in env {
        match k.as_str() {
            "ETCDCTL_ENDPOINTS" => o.endpoints = Some(v.clone()),
            "ETCDCTL_CACERT" => o.cacert = Some(v.clone()),
            "ETCDCTL_CERT" => o.cert = Some(v.clone()),
            "ETCDCTL_KEY" => o.key = Some(v.clone()),
            "ETCDCTL_WRITE_OUT" => o.output = v.clone(),
            "ETCDCTL_API" if v != "3" => return Err(format!("unsupported API version: {v}")),
            _ => {}
        }
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with('-') => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |inline: Option<String>| -> Result<String, String> {
            inline
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("flag needs an argument: {name}"))
        };
        match name {
            "--endpoints" => o.endpoints = Some(value(inline)?),
            "--cacert" => o.cacert = Some(value(inline)?),
            "--cert" => o.cert = Some(value(inline)?),
            "--key" => o.key = Some(value(inline)?),
            "-w" | "--write-out" => o.output = value(inline)?,
            "--cluster" => o.cluster = inline.is_none_or(|v| v == "true"),
            "--command-timeout" | "--dial-timeout" | "--keepalive-time" | "--keepalive-timeout" => {
                value(inline)?;
            }
            "--hex" | "--insecure-skip-tls-verify" | "--debug" => {}
            n if n.starts_with('-') => return Err(format!("unknown flag: {n}")),
            _ => o.command.push(a.clone()),
        }
    }
    Ok(o)
}

fn fail(stderr: impl Into<String>) -> Run {
    Run {
        stdout: String::new(),
        stderr: stderr.into(),
        code: 1,
    }
}

/// Run `argv` in the etcd container of the member on `node`.
pub fn run(cl: &Cluster, node: &str, argv: &[String]) -> Run {
    let (env, words) = match words(argv) {
        Ok(x) => x,
        Err(e) => {
            return Run {
                stderr: format!("{e}\n"),
                code: 2,
                ..Run::default()
            };
        }
    };
    match words.first().map(String::as_str) {
        Some(w) if w == "etcdctl" || w.ends_with("/etcdctl") => {}
        Some(w) => {
            return crate::sim::exec::Run {
                stderr: format!("sh: 1: {w}: not found\n"),
                code: 127,
                ..Run::default()
            };
        }
        None => return fail("nothing to run\n"),
    }
    let o = match parse(&env, &words[1..]) {
        Ok(o) => o,
        Err(e) => return fail(format!("Error: {e}\n")),
    };
    let Some(out) = Output::parse(&o.output) else {
        return fail(format!(
            "Error: the simulated etcdctl prints -w json, -w table and -w simple, not {}\n",
            o.output
        ));
    };
    for f in [&o.cacert, &o.cert, &o.key].into_iter().flatten() {
        let known = ["server-ca.crt", "server-client.crt", "server-client.key"]
            .iter()
            .any(|n| *f == format!("{TLS_DIR}/{n}"));
        if !known {
            return fail(format!("Error: open {f}: no such file or directory\n"));
        }
    }
    let Some(idx) = cl.members.iter().position(|m| m.node == node) else {
        return fail("Error: context deadline exceeded\n");
    };
    let local = o
        .endpoints
        .as_deref()
        .unwrap_or("127.0.0.1:2379")
        .split(',')
        .all(|e| {
            let e = e
                .trim()
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            e == "127.0.0.1:2379" || e == "localhost:2379"
        });
    // the pod's port needs its client certificate; a re-bootstrapped member never serves clients
    if !local || o.cert.is_none() || o.key.is_none() || cl.members[idx].state == MemberState::Rejoin
    {
        return fail("Error: context deadline exceeded\n");
    }
    let cmd: Vec<&str> = o.command.iter().map(String::as_str).collect();
    match cmd.as_slice() {
        ["endpoint", "status"] => status(cl, idx, o.cluster, out),
        ["endpoint", "health"] => health(cl, idx, o.cluster, out),
        ["member", "list"] => member_list(cl, idx, out),
        ["alarm", "list"] => alarm_list(cl, idx, out),
        _ => fail(format!(
            "Error: the simulated etcdctl answers endpoint status, endpoint health, member list and alarm list, not {:?}\n",
            o.command.join(" ")
        )),
    }
}

const LOCAL: &str = "https://127.0.0.1:2379";

/// The members an etcdctl `--cluster` in member `idx` reaches: (URL, member index answering there).
fn targets(cl: &Cluster, idx: usize, cluster: bool) -> Vec<(String, Option<usize>)> {
    if !cluster {
        return vec![(LOCAL.to_string(), Some(idx))];
    }
    let a = answer_of(cl, idx);
    a.id.members
        .iter()
        .map(|(_, _, _, client)| {
            let at = cl.members.iter().position(|m| m.client_url() == *client);
            (client.clone(), at)
        })
        .collect()
}

fn status_json(url: &str, a: &Answer) -> String {
    let mut s = format!(
        "{{\"Endpoint\":{},\"Status\":{{\"header\":{{\"cluster_id\":{},\"member_id\":{},\"revision\":{},\"raft_term\":{}}},\"version\":\"{VERSION}\",\"dbSize\":{}",
        serde_json::json!(url),
        a.id.cluster_id,
        a.id.member_id,
        a.id.revision,
        a.id.raft_term,
        a.db
    );
    if let Some(l) = a.id.leader.filter(|_| a.quorum) {
        s.push_str(&format!(",\"leader\":{l}"));
    }
    s.push_str(&format!(
        ",\"raftIndex\":{0},\"raftTerm\":{1},\"raftAppliedIndex\":{0}",
        a.id.raft_index, a.id.raft_term
    ));
    let mut errors: Vec<String> = a
        .alarms
        .iter()
        .map(|m| format!("memberID:{m} alarm:NOSPACE "))
        .collect();
    if !a.quorum {
        errors.insert(0, "etcdserver: no leader".into());
    }
    if !errors.is_empty() {
        s.push_str(&format!(",\"errors\":{}", serde_json::json!(errors)));
    }
    s.push_str(&format!(",\"dbSizeInUse\":{}}}}}", a.in_use));
    s
}

/// A member answers on its client port (not stopped, not re-bootstrapped).
fn answering(cl: &Cluster, at: Option<usize>) -> Option<usize> {
    at.filter(|&i| {
        !matches!(
            cl.members[i].state,
            MemberState::Stopped | MemberState::Rejoin
        )
    })
}

fn status(cl: &Cluster, idx: usize, cluster: bool, out: Output) -> Run {
    let mut items: Vec<(String, String)> = Vec::new();
    let mut stderr = String::new();
    for (url, at) in targets(cl, idx, cluster) {
        match answering(cl, at) {
            Some(i) => items.push((url.clone(), status_json(&url, &answer_of(cl, i)))),
            None => stderr.push_str(&format!(
                "Failed to get the status of endpoint {url} (context deadline exceeded)\n"
            )),
        }
    }
    let stdout = match out {
        Output::Json => {
            let docs: Vec<&str> = items.iter().map(|(_, j)| j.as_str()).collect();
            format!("[{}]\n", docs.join(","))
        }
        Output::Table | Output::Simple => {
            let parsed: Vec<(String, serde_json::Value)> = items
                .iter()
                .filter_map(|(url, j)| {
                    let v: serde_json::Value = serde_json::from_str(j).ok()?;
                    Some((url.clone(), v.get("Status")?.clone()))
                })
                .collect();
            let rows = printer::status_rows(&parsed);
            out.rows(&printer::STATUS_HEADERS, &rows)
        }
    };
    Run {
        code: i32::from(!stderr.is_empty()),
        stdout,
        stderr,
    }
}

fn health(cl: &Cluster, idx: usize, cluster: bool, out: Output) -> Run {
    let items: Vec<Health> = targets(cl, idx, cluster)
        .into_iter()
        .map(|(url, at)| {
            let ok = answering(cl, at).is_some_and(|i| answer_of(cl, i).quorum);
            Health {
                endpoint: url,
                health: ok,
                took: if ok { "1.2ms" } else { "5.000862s" }.into(),
                error: if ok {
                    String::new()
                } else {
                    "context deadline exceeded".into()
                },
            }
        })
        .collect();
    let bad = items.iter().any(|h| !h.health);
    let stdout = match out {
        Output::Json => {
            let docs: Vec<String> = items
                .iter()
                .map(|h| {
                    let mut v = serde_json::json!({"endpoint": h.endpoint, "health": h.health, "took": h.took});
                    if !h.health {
                        v["error"] = h.error.clone().into();
                    }
                    v.to_string()
                })
                .collect();
            format!("[{}]\n", docs.join(","))
        }
        Output::Simple => items
            .iter()
            .map(|h| match h.health {
                true => format!(
                    "{} is healthy: successfully committed proposal: took = {}\n",
                    h.endpoint, h.took
                ),
                false => format!(
                    "{} is unhealthy: failed to commit proposal: {}\n",
                    h.endpoint, h.error
                ),
            })
            .collect(),
        Output::Table => out.rows(&printer::HEALTH_HEADERS, &printer::health_rows(&items)),
    };
    Run {
        stdout,
        stderr: if bad {
            "Error: unhealthy cluster\n".into()
        } else {
            String::new()
        },
        code: i32::from(bad),
    }
}

fn member_list(cl: &Cluster, idx: usize, out: Output) -> Run {
    let a = answer_of(cl, idx);
    let members: Vec<String> =
        a.id.members
            .iter()
            .map(|(id, name, peer, client)| {
                format!(
                    "{{\"ID\":{id},\"name\":{},\"peerURLs\":[{}],\"clientURLs\":[{}]}}",
                    serde_json::json!(name),
                    serde_json::json!(peer),
                    serde_json::json!(client)
                )
            })
            .collect();
    let json = format!(
        "{{\"header\":{{\"cluster_id\":{},\"member_id\":{},\"raft_term\":{}}},\"members\":[{}]}}\n",
        a.id.cluster_id,
        a.id.member_id,
        a.id.raft_term,
        members.join(",")
    );
    let stdout = match out {
        Output::Json => json,
        Output::Table | Output::Simple => {
            let list: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
            let members = list["members"].as_array().cloned().unwrap_or_default();
            out.rows(&printer::MEMBER_HEADERS, &printer::member_rows(&members))
        }
    };
    Run {
        stdout,
        ..Run::default()
    }
}

fn alarm_list(cl: &Cluster, idx: usize, out: Output) -> Run {
    if out == Output::Table {
        return Run {
            stderr: "Error: table not supported as output format\n".into(),
            code: 4,
            ..Run::default()
        };
    }
    let a = answer_of(cl, idx);
    if !a.quorum {
        return fail(
            "{\"level\":\"warn\",\"msg\":\"retrying of unary invoker failed\"}\nError: etcdserver: request timed out\n",
        );
    }
    let stdout = match (out, a.alarms.is_empty()) {
        (Output::Json, true) => "{}\n".to_string(),
        (Output::Json, false) => format!(
            "{{\"alarms\":[{}]}}\n",
            a.alarms
                .iter()
                .map(|m| format!("{{\"memberID\":{m},\"alarm\":1}}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => a
            .alarms
            .iter()
            .map(|m| format!("memberID:{m} alarm:NOSPACE \n"))
            .collect(),
    };
    Run {
        stdout,
        ..Run::default()
    }
}

/// `-w json`, `-w table` or `-w simple`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Json,
    Table,
    Simple,
}

impl Output {
    fn parse(s: &str) -> Option<Output> {
        match s {
            "json" => Some(Output::Json),
            "table" => Some(Output::Table),
            "simple" => Some(Output::Simple),
            _ => None,
        }
    }

    /// Rows as a table or as simple lines.
    fn rows(self, headers: &[&str], rows: &[Vec<String>]) -> String {
        match self {
            Output::Table => printer::render(headers, rows),
            _ => printer::simple(rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn the_guides_rke2_loop_and_plain_flags() {
        let (env, w) = words(&s(&[
            "sh",
            "-c",
            "ETCDCTL_ENDPOINTS='https://127.0.0.1:2379' ETCDCTL_CACERT='/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt' ETCDCTL_API=3 etcdctl --write-out=json endpoint health",
        ]))
        .unwrap();
        assert_eq!(env.len(), 3);
        assert_eq!(
            env[1].1,
            "/var/lib/rancher/rke2/server/tls/etcd/server-ca.crt"
        );
        assert_eq!(w, s(&["etcdctl", "--write-out=json", "endpoint", "health"]));
        let o = parse(&env, &w[1..]).unwrap();
        assert_eq!(o.output, "json");
        assert_eq!(o.command, s(&["endpoint", "health"]));
        let o = parse(
            &[],
            &s(&["-w", "json", "--cluster", "endpoint", "status", "--cert=/a"]),
        )
        .unwrap();
        assert!(o.cluster);
        assert_eq!(o.cert.as_deref(), Some("/a"));
        assert!(parse(&[], &s(&["--bogus"])).is_err());
        assert!(words(&s(&["sh", "-c", "etcdctl member list; rm -rf /"])).is_err());
    }
}
