//! The Nodes pane in the real binary in tmux, against `--demo nodes-notready`: the NotReady nodes
//! first, then cordon → drain → uncordon of a worker from the pane, each confirmed, seen in the
//! table as the watch brings the node back, and journaled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::tmux::Tmux;

/// The row of `node` in the Nodes table.
fn row<'a>(screen: &'a str, node: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.starts_with(&format!("│{node} ")))
        .unwrap_or("")
}

#[test]
fn cordon_drain_uncordon_from_the_nodes_pane() {
    let home = tempfile::tempdir().unwrap();
    let journal = home.path().join("journal.jsonl");
    let log = home.path().join("k.log");
    let Some(t) = Tmux::ktriage(
        "nodes",
        home.path(),
        &[
            "--demo",
            "nodes-notready",
            "--journal",
            journal.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
    ) else {
        return; // tmux missing outside CI: skipped visibly by require_tool
    };
    t.wait_for("Overview");
    t.keys(&["8"]);
    let s = t.wait("the six nodes", |s| s.contains("Nodes · ok · 6"));
    // health order: the NotReady control-plane node, then the NotReady worker
    let first = s
        .lines()
        .position(|l| l.starts_with("│prod-cp-3 "))
        .unwrap();
    let second = s
        .lines()
        .position(|l| l.starts_with("│prod-worker-3 "))
        .unwrap();
    assert_eq!(second, first + 1, "{s}");
    assert!(row(&s, "prod-cp-3").contains("Unknown"), "{s}");
    assert!(row(&s, "prod-cp-3").contains("NoExecute"), "{s}");

    t.literal("/prod-worker-1");
    t.keys(&["Enter"]);
    t.wait_for("Nodes · /prod-worker-1");
    t.literal("c");
    t.wait_for("cordon node prod-worker-1");
    t.literal("y");
    t.wait("cordoned in the table", |s| {
        row(s, "prod-worker-1").contains("cordoned")
    });

    t.literal("D");
    t.wait_for("drain node prod-worker-1");
    t.literal("y");
    t.wait_for("what happened");
    t.keys(&["Escape"]);
    // the report view closed before the next key (Escape then a letter at once reads as Alt+letter)
    t.wait("report view closed", |s| !s.contains("what happened"));

    t.literal("c");
    t.wait_for("uncordon node prod-worker-1");
    t.literal("y");
    t.wait("schedulable again", |s| {
        let r = row(s, "prod-worker-1");
        !r.is_empty() && !r.contains("cordoned")
    });

    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |phase: &str, field: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["phase"] == phase)
            .map(|e| {
                e.pointer(field)
                    .and_then(|v| v.as_str())
                    .unwrap_or("?")
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        of("intent", "/mutation/type"),
        ["cordon", "drain", "uncordon"],
        "{entries:#?}"
    );
    let results = of("outcome", "/result");
    assert_eq!(results.len(), 3, "{entries:#?}");
    assert_eq!(results[0], "applied", "{entries:#?}");
    assert!(
        ["applied", "unverified"].contains(&results[1].as_str()),
        "drain: {entries:#?}"
    );
    assert_eq!(results[2], "applied", "{entries:#?}");
    t.literal("q");
}
