//! The Timeline pane's keys (`9`, `/`, `enter` to the finding's pane), what the update loop writes
//! into the timeline (findings found and resolved as data changes, this console's action and its
//! outcome, another console's `KtriageAction` Event once), and the incident snapshot's Timeline
//! section.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ktriage::model::timeline::Kind;
use ktriage::model::{Model, PaneId};
use ktriage::msg::Msg;
use ktriage::update::update;
use support::model::t0;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(m: &mut Model, text: &str) {
    for c in text.chars() {
        update(m, key(KeyCode::Char(c)), t0());
    }
}

fn story() -> Model {
    support::panes::story("reports", "report-builder", "prod-worker-2")
}

#[test]
fn every_finding_of_the_story_is_in_the_timeline_as_found() {
    let m = story();
    let found: Vec<&str> = m
        .timeline
        .entries()
        .filter(|e| e.kind == Kind::Found)
        .filter_map(|e| e.key.as_deref())
        .collect();
    for f in &m.findings {
        assert!(
            found.contains(&f.key.as_str()),
            "{} not in the timeline",
            f.key
        );
    }
}

#[test]
fn enter_jumps_to_the_pane_of_the_selected_finding_and_slash_filters() {
    let mut m = story();
    update(&mut m, key(KeyCode::Char('9')), t0());
    assert_eq!(m.ui.active, PaneId::Timeline);
    update(&mut m, key(KeyCode::Char('/')), t0());
    typed(&mut m, "eviction storm");
    update(&mut m, key(KeyCode::Enter), t0());
    let rows = m.timeline.rows();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].pane.as_deref(), Some("events"));
    // the filter is applied; enter now jumps
    update(&mut m, key(KeyCode::Enter), t0());
    assert_eq!(m.ui.active, PaneId::Events);
}

#[test]
fn an_entry_without_a_pane_says_so() {
    let mut m = story();
    m.timeline.action(
        Kind::Action,
        "scale deployment a/b to 0 replicas".into(),
        t0() + chrono::TimeDelta::seconds(5),
    );
    update(&mut m, key(KeyCode::Char('9')), t0());
    update(&mut m, key(KeyCode::Enter), t0());
    assert_eq!(m.ui.active, PaneId::Timeline);
    assert!(
        m.notice.as_ref().unwrap().text.contains("no pane"),
        "{:?}",
        m.notice
    );
    assert_eq!(
        m.notice.as_ref().unwrap().at,
        t0(),
        "said now, not at the entry's time"
    );
}

#[test]
fn a_resolved_finding_is_recorded_when_its_data_goes() {
    let mut m = story();
    let storm = m
        .findings
        .iter()
        .find(|f| f.id == "eviction-storm")
        .map(|f| f.key.clone())
        .unwrap();
    // the storm's window passes: the clock alone resolves it
    let later = t0() + chrono::TimeDelta::hours(2);
    update(&mut m, Msg::Tick, later);
    let e = m
        .timeline
        .entries()
        .find(|e| e.kind == Kind::Resolved && e.key.as_deref() == Some(storm.as_str()))
        .expect("the storm's resolution");
    assert_eq!(e.at, later);
}

#[test]
fn the_incident_snapshot_carries_the_timeline() {
    let mut m = story();
    m.timeline.other(
        "x1",
        "jane scaled deployment shop/api to 0 replicas".into(),
        t0(),
    );
    let doc = ktriage::snapshot::body(&m, t0());
    let at = doc
        .find("## Timeline (UTC, from ")
        .expect("a Timeline section");
    let section = &doc[at..];
    assert!(
        section.contains("other user: jane scaled deployment shop/api to 0 replicas"),
        "{section}"
    );
    assert!(
        section.contains("found (critical): Eviction storm"),
        "{section}"
    );
}

#[test]
fn ktriage_timeline_reads_an_incident_snapshot_and_refuses_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("incident.md");
    let m = story();
    std::fs::write(&snap, ktriage::snapshot::body(&m, t0())).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ktriage"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["timeline", snap.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("## Timeline (UTC, from "), "{text}");
    assert!(text.contains("found (critical): Eviction storm"), "{text}");
    assert!(
        !text.contains("## Findings"),
        "only the Timeline section: {text}"
    );

    let json = run(&["timeline", snap.to_str().unwrap(), "--format", "json"]);
    assert_eq!(json.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&json.stderr)
            .contains("--format json and --since need a recording")
    );

    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello\n").unwrap();
    let out = run(&["timeline", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a recording"));
    let out = run(&["timeline", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such file"));
    // a gzip file that is not a recording
    let gz = dir.path().join("x.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut e, b"{\"hello\":1}\n").unwrap();
    e.finish().unwrap();
    let out = run(&["timeline", gz.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a ktriage recording line"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
