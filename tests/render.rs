//! Whole-screen snapshots with ratatui's TestBackend at 80×24 and 160×48 and a fixed clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use ktriage::config::Config;
use ktriage::model::{ClusterInfo, Model};
use ktriage::msg::Msg;
use ktriage::mutation::Mutation;
use ktriage::ui::{self, Theme};
use ktriage::update::{propose, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use support::model::{burning, model, t0};

fn theme(color: bool) -> Theme {
    Theme::new(Config::defaults().unwrap().theme, color)
}

fn render(m: &Model, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, m, &theme(true), t0())).unwrap();
    t
}

fn screen(m: &Model, w: u16, h: u16) -> String {
    let t = render(m, w, h);
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn both(name: &str, m: &Model) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(m, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), screen(m, 160, 48));
}

#[test]
fn overview_during_an_outage() {
    both("overview_outage", &burning(false));
}

/// Root causes first, their symptoms indented under them (the webhook rejects the scheduler's lease
/// renewals; the API server's outage explains nothing here).
#[test]
fn overview_groups_symptoms_under_their_cause() {
    let mut m = support::model::gatekeeper(false);
    update(&mut m, Msg::Leases(ktriage::model::Delta::Init), t0());
    let l = support::panes::lease_yaml("kube-system", "kube-scheduler", "cp-1_abc", 2820, 15);
    update(
        &mut m,
        Msg::Leases(ktriage::model::Delta::InitApply(
            ktriage::kube::sources::leaders::row(l),
        )),
        t0(),
    );
    update(&mut m, Msg::Leases(ktriage::model::Delta::InitDone), t0());
    m.ui.active = ktriage::model::PaneId::Overview;
    update(&mut m, Msg::Tick, t0());
    both("overview_grouped", &m);
}

#[test]
fn namespaces_stale_rows_kept() {
    let mut m = burning(false);
    update(
        &mut m,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('6'),
        )),
        t0(),
    );
    both("namespaces_stale", &m);
}

#[test]
fn loading_at_start() {
    let m = model(false);
    both("loading", &m);
}

#[test]
fn not_configured() {
    let cfg = Config::defaults().unwrap();
    let m = Model::new(ClusterInfo::default(), cfg.keymap, t0());
    both("not_configured", &m);
}

#[test]
fn help_read_only_hides_actions() {
    let mut m = burning(true);
    m.ui.help = true;
    both("help_read_only", &m);
    let s = screen(&m, 160, 48);
    assert!(!s.contains("Scale the selected workload"));
    m.cluster.read_only = false;
    assert!(screen(&m, 160, 48).contains("Scale the selected workload"));
}

#[test]
fn confirm_dialog_shows_patch_and_kubectl() {
    let mut m = burning(false);
    propose(
        &mut m,
        Mutation::Scale {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "api".into(),
            replicas: 0,
        },
        t0(),
    );
    both("confirm_scale", &m);
    let s = screen(&m, 80, 24);
    assert!(s.contains(r#"patch:   {"spec":{"replicas":0}}"#), "{s}");
    assert!(
        s.contains("kubectl --context rke2-prod-east -n shop scale deployment/api"),
        "{s}"
    );
}

#[test]
fn too_small_terminal_says_so() {
    let m = burning(false);
    let s = screen(&m, 79, 24);
    assert!(
        s.contains("terminal too small") && s.contains("79×24, needs at least 80×24"),
        "{s}"
    );
    let s = screen(&m, 40, 10);
    assert!(s.contains("40×10"), "{s}");
    // degenerate sizes do not panic
    for (w, h) in [(0, 0), (1, 1), (80, 1), (1, 24)] {
        screen(&m, w, h);
    }
}

#[test]
fn status_bar_badge_and_api_state() {
    let s = screen(&burning(true), 80, 24);
    let bar = s.lines().nth(23).unwrap();
    assert!(bar.starts_with(" RO  rke2-prod-east"), "{bar}");
    assert!(bar.contains("API unreachable, stale 60s"), "{bar}");
    let s = screen(&burning(false), 80, 24);
    assert!(s.lines().nth(23).unwrap().starts_with(" RW "));
}

#[test]
fn no_color_uses_no_colours() {
    let m = burning(false);
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| ui::draw(f, &m, &theme(false), t0())).unwrap();
    let buf = t.backend().buffer();
    for cell in buf.content() {
        assert!(
            matches!(cell.fg, Color::Reset) && matches!(cell.bg, Color::Reset),
            "coloured cell {cell:?} with NO_COLOR"
        );
    }
    // and the coloured theme does colour the critical finding
    let t = render(&m, 80, 24);
    assert!(
        t.backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.fg == Color::Red)
    );
}

fn story_on(pane: char) -> Model {
    let mut m = support::panes::story("reports", "report-builder", "prod-worker-2");
    update(
        &mut m,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(pane),
        )),
        t0(),
    );
    m
}

#[test]
fn leaders_pane() {
    both("leaders", &story_on('3'));
}

#[test]
fn events_pane_with_a_storm() {
    both("events_storm", &story_on('4'));
}

#[test]
fn top_pane_pods_and_grouped() {
    let mut m = story_on('5');
    both("top_pods", &m);
    m.top.grouped = true;
    both("top_grouped", &m);
}

#[test]
fn scale_dialog_from_top_shows_current_and_new() {
    let mut m = story_on('4');
    for c in ['t', 's'] {
        update(
            &mut m,
            Msg::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Char(c),
            )),
            t0(),
        );
    }
    assert!(m.dialog.is_some());
    both("scale_from_top", &m);
}

#[test]
fn namespaces_pane_names_each_blocker() {
    let m = support::model::stuck(false);
    both("namespaces_stuck", &m);
    let s = screen(&m, 160, 48);
    assert!(
        s.contains("finalizer:controller.cattle.io/namespace-auth"),
        "{s}"
    );
    assert!(
        s.contains("apiservice:v1beta1.custom.metrics.k8s.io"),
        "{s}"
    );
    assert!(s.contains("content:Volume"), "{s}");
    assert!(s.contains("f: next fix step"), "{s}");
    assert!(!screen(&support::model::stuck(true), 160, 48).contains("f: next fix step"));
}

#[test]
fn webhooks_pane_shows_the_blast_radius() {
    let m = support::model::gatekeeper(false);
    both("webhooks_gatekeeper", &m);
    let s = screen(&m, 160, 48);
    assert!(
        s.contains("BLOCKS pod creation in: cattle-system, default, kube-system, shop"),
        "{s}"
    );
    assert!(
        !screen(&support::model::gatekeeper(true), 160, 48).contains("f: toggle failurePolicy")
    );
}

#[test]
fn confirm_dialog_takes_a_reason_for_the_failure_policy_toggle() {
    let mut m = support::model::gatekeeper(false);
    let key = |c: char| {
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(c),
        ))
    };
    update(&mut m, key('f'), t0());
    for c in "INC-7 gatekeeper down".chars() {
        update(&mut m, key(c), t0());
    }
    both("confirm_failure_policy", &m);
    let s = screen(&m, 80, 24);
    assert!(s.contains("/webhooks/0/failurePolicy"), "{s}");
    let effects = update(
        &mut m,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Enter,
        )),
        t0(),
    );
    match &effects[..] {
        [ktriage::update::Effect::Execute(Mutation::SetFailurePolicy { reason, policy, .. })] => {
            assert_eq!(reason, "INC-7 gatekeeper down");
            assert_eq!(policy, "Ignore");
        }
        other => panic!("{other:?}"),
    }
}

/// In a production context the toggle asks for the reason first (kept at the first enter), then
/// for the configuration's name; the reason is what the patch records.
#[test]
fn production_keeps_the_toggle_reason_and_asks_for_the_name() {
    let mut m = support::model::gatekeeper(false);
    m.cluster.production = true;
    let key = |c: char| {
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(c),
        ))
    };
    let enter = || {
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Enter,
        ))
    };
    update(&mut m, key('f'), t0());
    let name = match &m.dialog.as_ref().unwrap().mutation {
        Mutation::SetFailurePolicy { configuration, .. } => configuration.clone(),
        other => panic!("{other:?}"),
    };
    for c in "INC-7 gatekeeper down".chars() {
        update(&mut m, key(c), t0());
    }
    let s = screen(&m, 160, 48);
    assert!(s.contains("type a reason, enter: next"), "{s}");
    assert!(
        update(&mut m, enter(), t0()).is_empty(),
        "the first enter keeps the reason"
    );
    let s = screen(&m, 160, 48);
    assert!(s.contains("why:     INC-7 gatekeeper down"), "{s}");
    assert!(
        s.contains(&format!("PRODUCTION context: type `{name}`")),
        "{s}"
    );
    assert!(
        s.contains("INC-7 gatekeeper down"),
        "the patch shows the reason: {s}"
    );
    // a wrong name does not run it
    for c in "nope".chars() {
        update(&mut m, key(c), t0());
    }
    assert!(update(&mut m, enter(), t0()).is_empty());
    m.dialog.as_mut().unwrap().typed.clear();
    for c in name.chars() {
        update(&mut m, key(c), t0());
    }
    match &update(&mut m, enter(), t0())[..] {
        [ktriage::update::Effect::Execute(Mutation::SetFailurePolicy { reason, .. })] => {
            assert_eq!(reason, "INC-7 gatekeeper down");
        }
        other => panic!("{other:?}"),
    }
}

/// The headline (a title up to its first `": "`) of every finding on every built-in scenario is
/// whole at 80 columns: each short word is on the row, in order, and a long word (a name, a URL) is
/// either whole or shortened in its middle (`https://ranc…/c-m-a`). Findings come from the binary's
/// report on the scenario, cause links included (a symptom's row is indented).
#[test]
fn every_headline_is_whole_at_80_columns() {
    use ktriage::diagnose::{Finding, Severity};
    use ktriage::model::PaneId;
    let home = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for scenario in ktriage::sim::list_scenarios() {
        let out = support::ktriage(
            home.path(),
            &[
                "report",
                "--demo",
                scenario,
                "--format",
                "json",
                "--observe",
                "0",
            ],
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut m = model(false);
        m.findings = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let sev = match f["severity"].as_str().unwrap() {
                    "critical" => Severity::Critical,
                    "warning" => Severity::Warning,
                    _ => Severity::Info,
                };
                let pane = PaneId::from_name(f["pane"].as_str().unwrap()).unwrap();
                let mut x = Finding::new(
                    f["id"].as_str().unwrap(),
                    sev,
                    pane,
                    None,
                    f["title"].as_str().unwrap().to_string(),
                );
                x.key = f["key"].as_str().unwrap().to_string();
                x.cause = f["cause"].as_str().map(str::to_string);
                x
            })
            .collect();
        let rows = m.overview_rows();
        let text = screen(&m, 80, rows.len() as u16 + 40);
        let lines: Vec<&str> = text.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.contains("SEVERITY  FINDING"))
            .unwrap()
            + 1;
        for (n, (i, _)) in rows.iter().enumerate() {
            let title = &m.findings[*i].title;
            let row = lines[first + n];
            let head = title.split_once(": ").map_or(title.as_str(), |(h, _)| h);
            let mut at = 0;
            for word in head.split(' ') {
                let found = if word.chars().count() <= 8 {
                    row[at..].find(word).map(|p| at + p + word.len())
                } else {
                    row[at..].split(' ').find_map(|tok| {
                        let bare = tok.trim_end_matches('…').trim_end_matches(':');
                        let whole = bare == word;
                        let elided = tok.split_once('…').is_some_and(|(a, b)| {
                            !a.is_empty()
                                && !b.is_empty()
                                && word.starts_with(a)
                                && word.ends_with(b)
                        });
                        (whole || elided).then(|| at + row[at..].find(tok).unwrap() + tok.len())
                    })
                };
                at = found.unwrap_or_else(|| {
                    panic!(
                        "{scenario}: {word:?} of the headline {head:?} is not on its row:\n{row}"
                    )
                });
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "{checked} findings checked");
}

#[test]
fn nodes_pane() {
    let mut m = story_on('8');
    let mut snap = m.top.metrics().clone();
    for (node, cpu_m, gib) in [
        ("w1", 1200, 3),
        ("prod-worker-2", 3900, 29),
        ("cp1", 700, 6),
    ] {
        snap.nodes.insert(
            node.to_string(),
            ktriage::model::top::Usage {
                cpu_m,
                mem_b: gib << 30,
            },
        );
    }
    update(&mut m, Msg::Metrics(snap), t0());
    both("nodes", &m);
    insta::assert_snapshot!("nodes_200x60", screen(&m, 200, 60));
}

/// The Timeline pane: what the rules found as the story's data arrived, an action of this
/// console with its outcome, another console's action and a source outage, newest first.
#[test]
fn timeline_pane() {
    use ktriage::model::timeline::Kind;
    let mut m = story_on('9');
    let at = |s: i64| t0() + chrono::TimeDelta::seconds(s);
    m.timeline.other(
        "a1b2",
        "jane set failurePolicy Ignore on webhook validation.gatekeeper.sh".into(),
        at(-300),
    );
    m.timeline.action(
        Kind::Action,
        "scale deployment reports/report-builder to 0 replicas".into(),
        at(-120),
    );
    m.timeline.action(
        Kind::Outcome,
        "applied and verified: scale deployment reports/report-builder to 0 replicas".into(),
        at(-119),
    );
    let down = std::collections::BTreeMap::from([(
        "metrics".to_string(),
        "the server is currently unable to handle the request".to_string(),
    )]);
    m.timeline.sources(down, at(-60));
    both("timeline", &m);
}
