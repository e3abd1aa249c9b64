//! Nothing lost (issue 12): a real child process appending to the journal is killed with SIGKILL at
//! random points; every line is whole or absent, every append the child reported as done is there,
//! the journal stays readable and appendable, and it is private (0600).
//!
//! The child is this same binary started with `KTRIAGE_JOURNAL_CHILD` set, so the file has its own
//! `main` (`harness = false` in Cargo.toml): the child is a helper, not a test that passes by doing
//! nothing. `main` understands what cargo test and nextest pass: name filters, `--exact`, `--list`
//! (`--format terse`), `--ignored`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ktriage::journal::Journal;
use serde_json::json;

const CHILD_ENV: &str = "KTRIAGE_JOURNAL_CHILD";

const TEST: &str = "kill_9_leaves_every_line_whole_or_absent_and_loses_no_reported_append";

fn main() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        journal_child(path.into());
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let filters: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && !matches!(a.as_str(), "terse" | "pretty" | "json"))
        .collect();
    let selected = !flag("--ignored")
        && (filters.is_empty()
            || filters.iter().any(|f| {
                if flag("--exact") {
                    f.as_str() == TEST
                } else {
                    TEST.contains(f.as_str())
                }
            }));
    if flag("--list") {
        if selected {
            println!("{TEST}: test");
        }
        return;
    }
    if !selected {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 1 filtered out\n");
        return;
    }
    println!("\nrunning 1 test");
    kill_9_leaves_every_line_whole_or_absent_and_loses_no_reported_append();
    println!("test {TEST} ... ok\n\ntest result: ok. 1 passed; 0 failed\n");
}

/// The child: appends forever and reports each append after it returned (i.e. after the fsync).
fn journal_child(path: std::path::PathBuf) {
    let j = Journal::new(path);
    let round = std::env::var("KTRIAGE_JOURNAL_ROUND").unwrap_or_default();
    let pad = "x".repeat(16 * 1024);
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let id = format!("{round}-{i}");
        j.append(&json!({"phase": "intent", "id": id, "pad": pad}))
            .unwrap();
        writeln!(out, "done {id}").unwrap();
        out.flush().unwrap();
    }
}

fn kill_9_leaves_every_line_whole_or_absent_and_loses_no_reported_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/journal.jsonl");
    let mut reported = Vec::new();
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, &path)
            .env("KTRIAGE_JOURNAL_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        // kill after a different number of appends each round (1, 4, 9, …), mid-stream
        let want = 1 + round * round;
        let mut seen = 0;
        for l in lines.by_ref() {
            let l = l.unwrap();
            if let Some(id) = l.strip_prefix("done ") {
                reported.push(id.to_string());
                seen += 1;
                if seen >= want {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        for l in lines {
            if let Some(id) = l.unwrap().strip_prefix("done ") {
                reported.push(id.to_string());
            }
        }
        let j = Journal::new(path.clone());
        let (entries, warnings) = j.read().unwrap();
        // whole or absent: at most the last line is torn, and it is skipped with a warning
        assert!(warnings.len() <= round + 1, "{warnings:?}");
        for e in &entries {
            assert_eq!(e["pad"].as_str().unwrap().len(), 16 * 1024);
        }
        let ids: std::collections::HashSet<&str> =
            entries.iter().filter_map(|e| e["id"].as_str()).collect();
        for r in &reported {
            assert!(
                ids.contains(r.as_str()),
                "append {r} was reported done but is gone"
            );
        }
    }
    // still appendable after the crashes, and the new entry is whole
    let j = Journal::new(path.clone());
    j.append(&json!({"phase": "intent", "id": "after"}))
        .unwrap();
    let (entries, _) = j.read().unwrap();
    assert_eq!(entries.last().unwrap()["id"], "after");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "journal mode {mode:o}");
    }
}
