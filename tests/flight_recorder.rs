//! The incident's memory, end to end with the real binary in tmux: a scripted `--demo incident`
//! session recorded with `--record` (toggle the Gatekeeper webhook to Ignore, scale the runaway
//! to 0), then `ktriage timeline` of the recording lists the findings and both actions in order
//! with their outcomes; the recording replayed through the rules gives the same findings at the
//! same moments as the live console evaluated them; and `ktriage replay` opens it with no network
//! request at all (a kubeconfig and a proxy both point at a listener that must see nothing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use ktriage::record::{Item, Recording, replay_all};
use support::tmux::Tmux;

/// The scripted incident, recorded into `rec`.
fn record_incident(home: &Path, rec: &Path) -> bool {
    let journal = home.join("journal.jsonl");
    let log = home.join("k.log");
    let Some(t) = Tmux::ktriage(
        "record",
        home,
        &[
            "--demo",
            "incident",
            "--record",
            rec.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--log-file",
            log.to_str().unwrap(),
        ],
    ) else {
        return false; // tmux missing outside CI: skipped visibly by require_tool
    };
    t.wait_for("API ok");
    t.keys(&["7"]);
    t.wait_for("BLOCKS pod creation in:");
    t.wait_for("── validation.gatekeeper.sh");
    t.literal("f");
    t.wait_for("type a reason");
    t.literal("INC-9 gatekeeper down");
    t.wait_for("> INC-9 gatekeeper down");
    t.keys(&["Enter"]);
    t.wait_for(
        "applied and verified: set failurePolicy Ignore on webhook validation.gatekeeper.sh",
    );
    t.keys(&["4"]);
    t.wait_for("t: to Top");
    t.literal("t");
    t.wait_for("WORKLOAD (PODS)");
    t.literal("s");
    t.wait_for("Confirm action");
    t.literal("y");
    t.wait_for("applied and verified: scale deployment reports/report-builder to 0 replicas");
    // the storm's end is evaluated and recorded before the console goes
    t.keys(&["9"]);
    t.wait("the storm resolved in the Timeline pane", |s| {
        s.lines()
            .any(|l| l.contains("resolved critical") && l.contains("Eviction storm"))
    });
    t.literal("q");
    t.wait("the console gone", |s| !s.contains("Timeline ·"));
    true
}

fn ktriage(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ktriage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The line index of the first line containing every one of `parts`.
fn line_of(text: &str, parts: &[&str]) -> usize {
    line_after(text, 0, parts)
}

/// The first line at or after line `from` holding every one of `parts`.
fn line_after(text: &str, from: usize, parts: &[&str]) -> usize {
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| parts.iter().all(|p| l.contains(p)))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no line with {parts:?} from line {from} in:\n{text}"))
}

#[test]
fn a_recorded_incident_prints_its_timeline_and_replays_with_the_same_findings() {
    let home = tempfile::tempdir().unwrap();
    let rec = home.path().join("incident.ktriage.gz");
    if !record_incident(home.path(), &rec) {
        return;
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&rec).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the recording is private to its user");

    // replayed through the rules: every evaluation the live console recorded gives the same
    // findings at the same moment
    let recording = Recording::read(&rec).unwrap();
    // both outcomes were recorded, and evaluations after the first (the comparison covers them)
    let outcomes: Vec<usize> = recording
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i, Item::Own { id: Some(_), .. }))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(outcomes.len(), 2, "both outcomes recorded");
    let last_settle = recording
        .items
        .iter()
        .rposition(|i| matches!(i, Item::Settle { .. }))
        .unwrap();
    // (the scale's effect may be evaluated before its outcome arrives: the verify re-read is slower
    // than the watch)
    assert!(
        last_settle > outcomes[0],
        "evaluations after the first action were recorded"
    );
    let (model, mismatches) = replay_all(&recording, None);
    assert!(
        mismatches.is_empty(),
        "{:#?}",
        &mismatches[..mismatches.len().min(2)]
    );
    assert!(!model.findings.is_empty());
    // the postmortem: findings and both actions, in order, with their outcomes
    let md = ktriage(&["timeline", rec.to_str().unwrap(), "--format", "markdown"]);
    let found_webhook = line_of(
        &md,
        &["found (critical)", "webhook validation.gatekeeper.sh"],
    );
    let found_storm = line_of(&md, &["found (critical)", "Eviction storm"]);
    let found_split = line_of(&md, &["found (critical)", "etcd split brain"]);
    let toggle = line_of(
        &md,
        &[
            "action:",
            "set failurePolicy Ignore on webhook validation.gatekeeper.sh",
        ],
    );
    let toggled = line_of(
        &md,
        &["outcome:", "applied and verified: set failurePolicy Ignore"],
    );
    let unblocked = line_of(
        &md,
        &["resolved (critical)", "webhook validation.gatekeeper.sh"],
    );
    let scale = line_of(
        &md,
        &[
            "action:",
            "scale deployment reports/report-builder to 0 replicas",
        ],
    );
    let scaled = line_of(
        &md,
        &[
            "outcome:",
            "applied and verified: scale deployment reports/report-builder to 0",
        ],
    );
    // the storm the runaway causes ends after the scale (while the sources first load, a storm
    // found before the Top pods arrive names no cause and is replaced by the one that does)
    let calm = line_after(
        &md,
        scale,
        &[
            "resolved (critical)",
            "Eviction storm",
            "reports/report-builder",
        ],
    );
    assert!(
        found_webhook < toggle && found_storm < toggle && found_split < toggle,
        "{md}"
    );
    assert!(toggle < toggled && toggled < scale, "{md}");
    assert!(toggle < unblocked, "{md}");
    assert!(scale < scaled && scale < calm, "{md}");
    assert!(md.starts_with("## Timeline (UTC, from "), "{md}");

    // the same as JSON, with --since cutting the start
    let json: Vec<serde_json::Value> = serde_json::from_str(&ktriage(&[
        "timeline",
        rec.to_str().unwrap(),
        "--format",
        "json",
    ]))
    .unwrap();
    let kinds: Vec<&str> = json.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "action").count(),
        2,
        "{json:#?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "outcome").count(),
        2,
        "{json:#?}"
    );
    let recent: Vec<serde_json::Value> = serde_json::from_str(&ktriage(&[
        "timeline",
        rec.to_str().unwrap(),
        "--format",
        "json",
        "--since",
        "0",
    ]))
    .unwrap();
    // the session takes about a second on the demo: `--since 0` keeps only what happened at
    // the recording's last moment
    assert!(
        recent.len() < json.len(),
        "--since keeps only the end: {recent:#?}"
    );

    // no row the recorder wrote is a whole object (the projected rows only)
    let raw = {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&rec).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    assert!(!raw.contains("managedFields"), "whole objects recorded");
    assert!(!raw.contains("\"apiVersion\""), "whole objects recorded");

    replay_sends_nothing(home.path(), &rec);
}

/// `ktriage replay`: the console on the recording, keys working, and not one connection to the
/// kubeconfig's server or the proxy.
fn replay_sends_nothing(home: &Path, rec: &Path) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let kubeconfig = home.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: trap\nclusters:\n- name: trap\n  cluster:\n    server: https://{addr}\n    insecure-skip-tls-verify: true\nusers:\n- name: trap\n  user:\n    token: trap\ncontexts:\n- name: trap\n  context:\n    cluster: trap\n    user: trap\n"
        ),
    )
    .unwrap();
    let env = [
        format!("KUBECONFIG={}", kubeconfig.display()),
        format!("HTTPS_PROXY=http://{addr}"),
        format!("HTTP_PROXY=http://{addr}"),
    ];
    let log = home.join("replay.log");
    let Some(t) = Tmux::ktriage_env(
        "replay",
        home,
        &env,
        &[
            "replay",
            rec.to_str().unwrap(),
            "--speed",
            "8",
            "--log-file",
            log.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    t.wait("the replay's badge", |s| {
        s.contains(" REPLAY ") && s.contains("replay ")
    });
    t.wait_for("etcd split brain");
    t.keys(&["9"]);
    t.wait_for("Timeline ·");
    t.literal("]");
    t.wait_for("×16");
    t.keys(&["Space"]);
    t.wait_for("· paused");
    t.literal("{");
    t.wait_for("· paused");
    t.literal("}");
    t.keys(&["Space"]);
    t.wait("the replay runs to the end", |s| s.contains("· ended"));
    let s = t.wait("the actions in the replayed timeline", |s| {
        s.contains("scale deployment reports/report-builder to 0 replicas")
    });
    assert!(s.contains(" REPLAY "), "{s}");
    // a pod's logs need the live cluster: the view says so
    t.keys(&["5"]);
    t.wait_for("Top ·");
    t.literal("l");
    t.wait_for("no cluster client here");
    t.keys(&["Escape"]);
    t.wait("the view closed", |s| !s.contains("no cluster client here"));
    t.literal("q");
    t.wait("the replay gone", |s| !s.contains(" REPLAY "));
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the replay connected to the network ({peer})"),
        Err(e) => panic!("{e}"),
    }
}

/// A recording past its bound rotates to `FILE.1`, and the new file replays on its own from its
/// checkpoint with the findings the console had.
#[test]
fn a_rotated_recording_replays_on_its_own() {
    let home = tempfile::tempdir().unwrap();
    let rec = home.path().join("big.ktriage.gz");
    let older = home.path().join("big.ktriage.gz.1");
    let log = home.path().join("k.log");
    let Some(t) = Tmux::ktriage(
        "rotate",
        home.path(),
        &[
            "--demo",
            "scale:20:3000",
            "--read-only",
            "--record",
            rec.to_str().unwrap(),
            "--record-max-mb",
            "0.0625",
            "--log-file",
            log.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    t.wait_for("API ok");
    // the rotation is logged once the file is past its bound after an evaluation; and every list
    // complete (a rotation during the first pod list carries the rows so far, the list's end
    // follows in the new file)
    t.wait_up_to(
        "the recording rotated",
        std::time::Duration::from_secs(60),
        |_| {
            std::fs::read_to_string(&log)
                .is_ok_and(|l| l.contains("recording rotated") && l.contains("all sources synced"))
        },
    );
    t.keys(&["9"]);
    t.wait_for("Timeline ·");
    t.literal("q");
    t.wait("the console gone", |s| !s.contains("Timeline ·"));
    assert!(older.exists(), "FILE.1 kept");
    for file in [&older, &rec] {
        let recording = Recording::read(file).unwrap();
        let (model, mismatches) = replay_all(&recording, None);
        assert!(
            mismatches.is_empty(),
            "{}: {}",
            file.display(),
            differ(&mismatches)
        );
        if file == &rec {
            assert!(
                model.top.pods.len() >= 3000,
                "the pods came back: {}",
                model.top.pods.len()
            );
        }
    }
    let newest = Recording::read(&rec).unwrap();
    let older_start = Recording::read(&older).unwrap().header.started_at;
    assert!(newest.header.started_at >= older_start);
}

/// The first evaluation where the replay differs: what only the recording had, what only the
/// replay had.
fn differ(mismatches: &[ktriage::record::Mismatch]) -> String {
    let Some(m) = mismatches.first() else {
        return String::new();
    };
    let only = |a: &ktriage::record::Digest, b: &ktriage::record::Digest| -> Vec<String> {
        a.iter()
            .filter(|x| !b.contains(x))
            .map(|(k, s)| format!("{k} ({s:?})"))
            .collect()
    };
    format!(
        "{} of {} evaluations differ; first at {}: only recorded {:?}; only replayed {:?}",
        mismatches.len(),
        mismatches.len(),
        m.at,
        only(&m.recorded, &m.replayed),
        only(&m.replayed, &m.recorded)
    )
}

/// A second console recording into the same file appends; both sessions replay, one after the
/// other. A file that is not a recording is left alone, and the console says so.
#[test]
fn a_second_session_appends_and_a_foreign_file_is_left_alone() {
    let home = tempfile::tempdir().unwrap();
    let rec = home.path().join("war-room.ktriage.gz");
    for run in ["first", "second"] {
        let Some(t) = Tmux::ktriage(
            run,
            home.path(),
            &[
                "--demo",
                "gatekeeper-down",
                "--read-only",
                "--record",
                rec.to_str().unwrap(),
            ],
        ) else {
            return;
        };
        t.wait_for("API ok");
        t.keys(&["9"]);
        t.wait("the webhook found", |s| {
            s.lines()
                .any(|l| l.contains("found critical") && l.contains("validation.gatekeeper.sh"))
        });
        t.literal("q");
        t.wait("the console gone", |s| !s.contains("Timeline ·"));
    }
    let recording = Recording::read(&rec).unwrap();
    let headers = recording
        .items
        .iter()
        .filter(|i| matches!(i, Item::Header(_)))
        .count();
    assert_eq!(headers, 2, "two sessions in one file");
    let (model, mismatches) = replay_all(&recording, None);
    assert!(mismatches.is_empty(), "{}", differ(&mismatches));
    let found = model
        .timeline
        .entries()
        .filter(|e| {
            e.kind == ktriage::model::timeline::Kind::Found
                && e.text.contains("validation.gatekeeper.sh")
        })
        .count();
    assert_eq!(found, 2, "each session found the webhook");

    let notes = home.path().join("notes.txt");
    std::fs::write(&notes, "shift handover\n").unwrap();
    let Some(t) = Tmux::ktriage(
        "foreign",
        home.path(),
        &[
            "--demo",
            "gatekeeper-down",
            "--read-only",
            "--record",
            notes.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    t.wait_for("is not a ktriage recording");
    t.literal("q");
    t.wait("the console gone", |s| !s.contains(" RO "));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "shift handover\n");
}
