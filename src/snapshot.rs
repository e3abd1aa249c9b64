//! The incident snapshot: one markdown document a war room pastes into its ticket. Every finding
//! (grouped under its probable cause, as the Overview shows them) with its evidence and fix, the pane
//! tables trimmed to what matters (sources, nodes that are not Ready, failing pods), and this run's
//! journal entries. `ktriage report --format markdown` prints the same document; the TUI's snapshot
//! key writes it to a timestamped file (mode 0600).
//!
//! No secret ever: the model holds no Secret data, and the whole document is scrubbed of anything
//! shaped like a credential (bearer tokens, JWTs, `token=`/`password=` values, long opaque strings)
//! before it leaves. `redact` also replaces node names and IPv4 addresses.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::diagnose::Severity;
use crate::diagnose::links::grouped;
use crate::model::Model;
pub use crate::text::scrub;

/// At most this many failing pods in the pods table.
const PODS_MAX: usize = 20;

fn counts(model: &Model) -> String {
    let n = |s| model.findings.iter().filter(|f| f.severity == s).count();
    format!(
        "{} critical, {} warning, {} info",
        n(Severity::Critical),
        n(Severity::Warning),
        n(Severity::Info)
    )
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// This run's journal entries (time at or after `since`), reduced to what a reader needs: no
/// `before`/`after` object bodies.
pub fn run_entries(entries: &[Value], since: DateTime<Utc>) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| {
            e["time"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t.with_timezone(&Utc) >= since)
        })
        .cloned()
        .collect()
}

fn journal_row(e: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let what = if e["phase"] == "intent" {
        let o = &e["object"];
        format!(
            "{} {}/{}: {}",
            s(&o["kind"]),
            s(&o["namespace"]),
            s(&o["name"]),
            s(&e["mutation"]["describe"])
        )
    } else {
        let mut w = format!("{} at {}", s(&e["result"]), s(&e["stage"]));
        if let Some(err) = e["error"].as_str() {
            w.push_str(&format!(": {err}"));
        }
        w
    };
    format!(
        "| {} | {} | {} | {} |\n",
        cell(&s(&e["time"])),
        cell(&s(&e["id"])),
        cell(&s(&e["phase"])),
        cell(&what)
    )
}

/// The markdown document (already scrubbed; redacted when asked).
pub fn document(model: &Model, now: DateTime<Utc>, journal: &[Value], redact: bool) -> String {
    let s = with_journal(body(model, now), journal);
    if redact { redact_hosts(model, &s) } else { s }
}

/// The document's part that comes from the model: the header, the findings, the sources, the
/// nodes and the failing pods (not scrubbed yet: [`with_journal`] finishes it).
pub fn body(model: &Model, now: DateTime<Utc>) -> String {
    let ctx = model.cluster.context.as_deref().unwrap_or("-");
    let server = model.cluster.server.as_deref().unwrap_or("-");
    let mut s = format!(
        "# ktriage report\n\ncontext {ctx}, cluster {server}, generated {}\n\n{}\n",
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
        crate::ui::panes::overview::summary_line(model)
    );
    findings_section(model, &mut s);
    runbook_section(model, now, &mut s);
    sources_section(model, now, &mut s);
    nodes_section(model, &mut s);
    pods_section(model, &mut s);
    s.push('\n');
    s.push_str(&crate::model::timeline::markdown(model.timeline.entries()));
    s
}

/// The whole document: `body`, then this run's journal entries, scrubbed of credentials.
pub fn with_journal(body: String, journal: &[Value]) -> String {
    let mut s = body;
    s.push_str(&format!("\n## Actions this run ({})\n", journal.len()));
    if journal.is_empty() {
        s.push_str("\nNone.\n");
    } else {
        s.push_str("\n| time | id | phase | what |\n|---|---|---|---|\n");
        for e in journal {
            s.push_str(&journal_row(e));
        }
    }
    scrub(&s)
}

fn findings_section(model: &Model, s: &mut String) {
    s.push_str(&format!("\n## Findings ({})\n", counts(model)));
    if model.findings.is_empty() {
        s.push_str("\nNone.\n");
    }
    for (i, depth) in grouped(&model.findings) {
        let f = &model.findings[i];
        let marker = if depth == 0 { "###" } else { "####" };
        s.push_str(&format!(
            "\n{marker} {} — {}\n\n`{}`",
            f.severity.name(),
            f.title,
            f.key
        ));
        if let Some(c) = &f.cause {
            s.push_str(&format!(" — explained by `{c}`"));
        }
        s.push_str("\n\n");
        for e in &f.evidence {
            s.push_str(&format!("- {e}\n"));
        }
        if !f.fix.text.is_empty() {
            s.push_str(&format!("\n**Fix:** {}\n", f.fix.text));
        }
    }
}

/// The etcd recovery runbook, when one applies: its steps in order, each command as a code block.
fn runbook_section(model: &Model, now: DateTime<Utc>, s: &mut String) {
    if let Some(rb) = crate::diagnose::runbook::build(model, now) {
        s.push_str(&format!("\n## Runbook: {}\n\n", rb.title));
        for (i, step) in rb.steps.iter().enumerate() {
            s.push_str(&format!("{}. {}\n", i + 1, step.text));
            if let Some(c) = &step.command {
                s.push_str(&format!("\n   ```sh\n   {c}\n   ```\n\n"));
            }
        }
    }
}

fn sources_section(model: &Model, now: DateTime<Utc>, s: &mut String) {
    s.push_str("\n## Sources\n\n| source | state | detail |\n|---|---|---|\n");
    for (id, st) in model.sources() {
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            id.name(),
            st.label(now),
            cell(st.error_text().unwrap_or(""))
        ));
    }
}

fn nodes_section(model: &Model, s: &mut String) {
    let nodes: Vec<_> = model.nodes.store.iter().collect();
    let bad: Vec<_> = nodes
        .iter()
        .filter(|n| n.ready != Some(true) || !n.pressure.is_empty())
        .collect();
    s.push_str(&format!(
        "\n## Nodes ({} of {} not Ready or under pressure)\n",
        bad.len(),
        nodes.len()
    ));
    if bad.is_empty() {
        return;
    }
    s.push_str("\n| node | ready | roles | pressure | kubelet |\n|---|---|---|---|---|\n");
    for n in bad {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            n.name,
            match n.ready {
                Some(true) => "Ready",
                Some(false) => "NotReady",
                None => "unknown",
            },
            n.roles.join(","),
            n.pressure.join(","),
            n.kubelet_version
        ));
    }
}

fn pods_section(model: &Model, s: &mut String) {
    let failing: Vec<_> = model
        .top
        .pods
        .iter()
        .filter(|p| !p.evicted() && p.phase != "Succeeded" && (p.crash_looping() || !p.ready()))
        .collect();
    s.push_str(&format!("\n## Failing pods ({})\n", failing.len()));
    if failing.is_empty() {
        return;
    }
    s.push_str("\n| pod | node | phase | waiting | restarts |\n|---|---|---|---|---|\n");
    for p in failing.iter().take(PODS_MAX) {
        let waiting: Vec<&str> = p
            .containers
            .iter()
            .filter_map(|c| c.waiting_reason.as_deref())
            .filter(|r| !r.is_empty())
            .collect();
        s.push_str(&format!(
            "| {}/{} | {} | {} | {} | {} |\n",
            p.namespace,
            p.name,
            p.node,
            p.phase,
            waiting.join(","),
            p.restarts()
        ));
    }
    if failing.len() > PODS_MAX {
        s.push_str(&format!(
            "\n({} more not shown)\n",
            failing.len() - PODS_MAX
        ));
    }
}

/// Replace node names (longest first) with `node-N` and IPv4 addresses with `x.x.x.x`.
pub fn redact_hosts(model: &Model, text: &str) -> String {
    let mut names: Vec<String> = model.nodes.store.iter().map(|n| n.name.clone()).collect();
    for p in model.top.pods.iter() {
        if !p.node.is_empty() && !names.contains(&p.node) {
            names.push(p.node.clone());
        }
    }
    names.sort();
    let numbered: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), format!("node-{}", i + 1)))
        .collect();
    let mut by_len = numbered;
    by_len.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut s = text.to_string();
    for (n, r) in by_len.iter().filter(|(n, _)| !n.is_empty()) {
        s = s.replace(n.as_str(), r);
    }
    redact_ipv4(&s)
}

fn redact_ipv4(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            // try d{1,3}(.d{1,3}){3}
            let mut j = i;
            let mut groups = 0;
            loop {
                let start = j;
                while j < b.len() && b[j].is_ascii_digit() && j - start < 3 {
                    j += 1;
                }
                if j == start {
                    break;
                }
                groups += 1;
                if groups == 4 || j >= b.len() || b[j] != b'.' {
                    break;
                }
                j += 1;
            }
            let ends_clean = j >= b.len() || !(b[j].is_ascii_alphanumeric());
            if groups == 4 && ends_clean {
                out.push_str("x.x.x.x");
                i = j;
                continue;
            }
        }
        // copy one char (UTF-8 safe)
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// Where the TUI writes a snapshot: next to the journal, `ktriage-snapshot-<context>-<UTC time>.md`.
pub fn path_for(dir: &Path, context: Option<&str>, now: DateTime<Utc>) -> PathBuf {
    let ctx: String = context
        .unwrap_or("no-context")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!(
        "ktriage-snapshot-{ctx}-{}.md",
        now.format("%Y%m%dT%H%M%SZ")
    ))
}

/// Write `text` to `path` with mode 0600 (created new; never follows an existing file's mode).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
