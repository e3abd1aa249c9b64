//! `update` driven directly: keys → model → effects, including read-only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ktriage::model::{NoticeLevel, PaneId, SourceState};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::update::{Effect, propose, update};
use support::model::{burning, model, t0};

fn key(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn code(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

fn scale() -> Mutation {
    Mutation::Scale {
        kind: "Deployment".into(),
        namespace: "shop".into(),
        name: "api".into(),
        replicas: 0,
    }
}

#[test]
fn panes_are_reachable_by_number_tab_and_backtab() {
    let mut m = model(false);
    assert_eq!(PaneId::ALL.len(), 9, "one number key per pane");
    for (c, p) in ('1'..='9').zip(PaneId::ALL) {
        assert!(update(&mut m, key(c), t0()).is_empty());
        assert_eq!(m.ui.active, *p);
    }
    update(&mut m, code(KeyCode::Tab), t0());
    assert_eq!(m.ui.active, PaneId::Overview, "tab wraps around");
    update(&mut m, code(KeyCode::BackTab), t0());
    assert_eq!(m.ui.active, PaneId::Timeline);
}

#[test]
fn help_toggles_scrolls_and_closes() {
    let mut m = model(false);
    update(&mut m, key('?'), t0());
    assert!(m.ui.help);
    update(&mut m, key('j'), t0());
    update(&mut m, key('j'), t0());
    assert_eq!(
        m.ui.help_scroll, 2,
        "j scrolls the help instead of moving the selection"
    );
    update(&mut m, code(KeyCode::Esc), t0());
    assert!(!m.ui.help);
    update(&mut m, key('?'), t0());
    assert_eq!(m.ui.help_scroll, 0);
    update(&mut m, key('6'), t0());
    assert!(!m.ui.help, "a pane key closes help and acts");
    assert_eq!(m.ui.active, PaneId::Namespaces);
}

#[test]
fn quit_by_q_and_ctrl_c_even_inside_a_dialog() {
    let mut m = model(false);
    assert_eq!(update(&mut m, key('q'), t0()), vec![Effect::Quit]);
    let mut m = model(false);
    propose(&mut m, scale(), t0());
    assert!(m.dialog.is_some());
    assert!(
        update(&mut m, key('q'), t0()).is_empty(),
        "q does not reach through a dialog"
    );
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(update(&mut m, ctrl_c, t0()), vec![Effect::Quit]);
}

#[test]
fn confirm_runs_the_same_mutation_and_cancel_sends_nothing() {
    let mut m = model(false);
    propose(&mut m, scale(), t0());
    assert_eq!(
        update(&mut m, key('y'), t0()),
        vec![Effect::Execute(scale())]
    );
    assert!(m.dialog.is_none());
    propose(&mut m, scale(), t0());
    assert!(update(&mut m, key('n'), t0()).is_empty());
    assert!(m.dialog.is_none());
    assert!(m.notice.as_ref().unwrap().text.contains("nothing was sent"));
}

#[test]
fn production_context_requires_typing_the_name() {
    let mut m = model(false);
    m.cluster.production = true;
    propose(&mut m, scale(), t0());
    // `y` is text here, not a confirmation
    assert!(update(&mut m, key('y'), t0()).is_empty());
    assert!(update(&mut m, code(KeyCode::Enter), t0()).is_empty());
    assert!(m.dialog.is_some(), "wrong name keeps the dialog open");
    assert_eq!(m.notice.as_ref().unwrap().level, NoticeLevel::Warning);
    update(&mut m, code(KeyCode::Backspace), t0());
    for c in "api".chars() {
        update(&mut m, key(c), t0());
    }
    assert_eq!(
        update(&mut m, code(KeyCode::Enter), t0()),
        vec![Effect::Execute(scale())]
    );
}

#[test]
fn read_only_refuses_mutations_in_update() {
    let mut m = model(true);
    update(&mut m, key('5'), t0());
    assert!(
        update(&mut m, key('s'), t0()).is_empty(),
        "scale key does nothing"
    );
    let n = m.notice.clone().unwrap();
    assert!(
        n.text.contains("read-only") && n.text.contains("nothing was sent"),
        "{}",
        n.text
    );
    propose(&mut m, scale(), t0());
    assert!(m.dialog.is_none(), "no dialog can open in read-only mode");
    // even a forced dialog cannot produce a write in read-only mode via the keymap: there is no
    // mutating binding visible
    assert!(m.keymap.visible(true).all(|b| !b.action.is_write()));
    assert!(m.keymap.visible(false).any(|b| b.action.is_mutating()));
}

#[test]
fn outage_keeps_data_marks_it_stale_and_raises_api_unreachable() {
    let m = burning(false);
    assert_eq!(m.namespaces.store.len(), 5, "rows survive the outage");
    assert_eq!(m.namespaces.state.label(t0()), "unreachable, stale 60s");
    assert_eq!(m.api.state.label(t0()), "unreachable, stale 60s");
    // the fixture's Terminating namespace is the Namespaces pane's own finding
    let overview: Vec<_> = m.findings.iter().filter(|f| f.pane == "overview").collect();
    assert_eq!(overview.len(), 1);
    let f = overview[0];
    assert_eq!(f.id, "api-unreachable");
    assert_eq!(f.key, "api-unreachable");
    assert!(f.evidence.iter().any(|e| e.contains("Connection refused")));
    assert!(
        f.evidence
            .iter()
            .any(|e| e == "failing for 40s (since 09:59:20 UTC)"),
        "{:?}",
        f.evidence
    );
}

#[test]
fn recovery_clears_the_finding() {
    let mut m = burning(false);
    update(
        &mut m,
        Msg::ApiUp {
            version: "v1.28.9+rke2r1".into(),
        },
        t0(),
    );
    assert!(!m.findings.iter().any(|f| f.id == "api-unreachable"));
    assert!(matches!(m.api.state, SourceState::Ok { .. }));
}

#[test]
fn selection_moves_and_clamps() {
    let mut m = burning(false);
    update(&mut m, key('6'), t0());
    for _ in 0..10 {
        update(&mut m, key('j'), t0());
    }
    assert_eq!(m.ui.selected[PaneId::Namespaces.index()], 4);
    update(&mut m, code(KeyCode::Home), t0());
    assert_eq!(m.ui.selected[PaneId::Namespaces.index()], 0);
    update(&mut m, code(KeyCode::End), t0());
    assert_eq!(m.ui.selected[PaneId::Namespaces.index()], 4);
    update(
        &mut m,
        Msg::Namespaces(ktriage::model::Delta::Delete("shop".into())),
        t0(),
    );
    assert_eq!(
        m.ui.selected[PaneId::Namespaces.index()],
        3,
        "selection follows a shrinking table"
    );
}

#[test]
fn slash_filters_the_overview_findings() {
    let mut m = burning(false);
    assert_eq!(m.row_count(PaneId::Overview), m.findings.len());
    assert!(m.findings.len() >= 2, "{:#?}", m.findings);
    update(&mut m, key('/'), t0());
    for c in "stuck".chars() {
        update(&mut m, key(c), t0());
    }
    update(&mut m, code(KeyCode::Enter), t0());
    let rows = m.overview_rows();
    assert!(
        !rows.is_empty() && rows.len() < m.findings.len(),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .all(|(i, _)| m.findings[*i].title.contains("stuck"))
    );
    m.overview_filter.text = "!stuck".into();
    assert!(
        m.overview_rows()
            .iter()
            .all(|(i, _)| !m.findings[*i].title.contains("stuck"))
    );
    assert_eq!(m.overview_rows().len() + rows.len(), m.findings.len());
}
