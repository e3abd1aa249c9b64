//! The pane registry (`shared::pane::panes!` → `PaneId`, the `pane_<name>` actions and the
//! `ui::panes` dispatch) and the one table component: every pane is reachable by its id, its name,
//! its key and its action; a table row's colour comes from the findings about it, never from a
//! threshold the view copied from the rules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use ktriage::action::Action;
use ktriage::config::Config;
use ktriage::derived::Derived;
use ktriage::kube::sources::leaders;
use ktriage::model::{Delta, Model, PaneId};
use ktriage::msg::Msg;
use ktriage::ui::Theme;
use ktriage::ui::panes::pane;
use ktriage::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use support::model::{model, t0};
use support::panes::lease_yaml;

#[test]
fn every_pane_is_registered_once_with_its_name_action_and_report() {
    let m = model(false);
    let mut names = std::collections::BTreeSet::new();
    for (i, p) in PaneId::ALL.iter().enumerate() {
        assert_eq!(
            pane(*p).id(),
            *p,
            "the registry's {p} pane answers as another"
        );
        assert_eq!(p.index(), i);
        assert!(names.insert(p.name()), "{p}: a name used twice");
        assert_eq!(PaneId::from_name(p.name()), Some(*p));
        assert_eq!(Action::from_name(p.action_name()), Some(Action::Pane(*p)));
        assert_eq!(Action::Pane(*p).name(), format!("pane_{}", p.name()));
    }
    let doc = ktriage::report::document(&m, t0());
    let reported: Vec<&String> = doc["panes"].as_object().unwrap().keys().collect();
    assert_eq!(reported.len(), PaneId::ALL.len(), "{reported:?}");
    // the default keymap reaches every pane by number
    for (i, p) in PaneId::ALL.iter().enumerate() {
        let key = ktriage::keymap::Key::parse(&(i + 1).to_string()).unwrap();
        assert_eq!(
            m.keymap.lookup(key, PaneId::Overview, false),
            Some(Action::Pane(*p))
        );
    }
}

/// Three leases: fresh, past the renew deadline (2/3 of the duration), expired.
fn leases() -> Model {
    let mut m = model(false);
    update(&mut m, Msg::Leases(Delta::Init), t0());
    // `rke2`: one of the control plane's own elections, so a missing leader is critical
    for (name, renewed) in [("fresh", 2), ("late", 12), ("rke2", 40)] {
        let lease = lease_yaml("kube-system", name, "cp1_abc", renewed, 15);
        update(
            &mut m,
            Msg::Leases(Delta::InitApply(leaders::row(lease))),
            t0(),
        );
    }
    update(&mut m, Msg::Leases(Delta::InitDone), t0());
    m.ui.active = PaneId::Leaders;
    m
}

/// The foreground colour of the HOLDER cell of each lease row.
fn holder_colours(m: &Model) -> Vec<(String, Color)> {
    let theme = Theme::new(Config::defaults().unwrap().theme, true);
    let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let d = Derived::of(m, t0());
    t.draw(|f| ktriage::ui::render(f, m, &d, &theme, t0()))
        .unwrap();
    let buf = t.backend().buffer();
    let line = |y: u16| -> String { (0..160).map(|x| buf[(x, y)].symbol()).collect() };
    let header = (0..48).find(|y| line(*y).contains("HOLDER")).unwrap();
    let col = line(header).find("HOLDER").unwrap() as u16;
    (header + 1..header + 4)
        .map(|y| {
            let name = line(y)
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_start_matches('│')
                .to_string();
            (name, buf[(col, y)].fg)
        })
        .collect()
}

#[test]
fn a_rows_colour_comes_from_its_findings() {
    let theme = Theme::new(Config::defaults().unwrap().theme, true);
    let colour = |s: ratatui::style::Style| s.fg.unwrap();
    let m = leases();
    let ids: Vec<&str> = m.findings.iter().map(|f| f.id.as_str()).collect();
    assert!(
        ids.contains(&"leader-stale") && ids.contains(&"leader-missing"),
        "{ids:?}"
    );
    let got = holder_colours(&m);
    assert_eq!(
        got,
        [
            ("kube-system/fresh".to_string(), colour(theme.ok())),
            ("kube-system/late".to_string(), colour(theme.warning())),
            ("kube-system/rke2".to_string(), colour(theme.critical())),
        ]
    );
    // the same leases without their findings: no colour of alarm, whatever their renew age
    let mut quiet = m.clone();
    quiet.findings.clear();
    assert!(
        holder_colours(&quiet)
            .iter()
            .all(|(_, c)| *c == colour(theme.ok()))
    );
}

/// `report --format json` writes the document as it is made (Top, Nodes and Events rows one at a
/// time): what it writes is byte for byte the JSON tree of the same document printed, so members
/// stay in the order a JSON object prints them (`rows` among the pane's other members), and Top's
/// rows are every pod in the pane's order across the chunks they are made in.
#[test]
fn the_report_is_written_as_it_is_made_and_reads_as_the_whole_document() {
    use ktriage::model::events::EventRow;
    use ktriage::model::nodes::NodeRow;
    use ktriage::model::top::{ContainerRow, PodRow};
    let mut m = model(false);
    update(&mut m, Msg::Pods(Delta::Init), t0());
    for i in 0..700 {
        let pod = PodRow {
            namespace: format!("ns-{}", i % 7),
            name: format!("web-{i:04}"),
            node: format!("node-{}", i % 3),
            phase: "Running".into(),
            containers: vec![ContainerRow {
                name: "web".into(),
                ready: true,
                restarts: (i % 11) as u32,
                ..ContainerRow::default()
            }],
            ..PodRow::default()
        };
        update(&mut m, Msg::Pods(Delta::InitApply(pod)), t0());
    }
    update(&mut m, Msg::Pods(Delta::InitDone), t0());
    update(&mut m, Msg::Nodes(Delta::Init), t0());
    for i in 0..3 {
        let node = NodeRow {
            name: format!("node-{i}"),
            ready: Some(true),
            ..NodeRow::default()
        };
        update(&mut m, Msg::Nodes(Delta::InitApply(node)), t0());
    }
    update(&mut m, Msg::Nodes(Delta::InitDone), t0());
    update(&mut m, Msg::Events(Delta::Init), t0());
    let event = EventRow {
        id: "ns-1/web-0001.1".into(),
        namespace: "ns-1".into(),
        reason: "BackOff".into(),
        warning: true,
        kind: "Pod".into(),
        object: "web-0001".into(),
        node: String::new(),
        message: "Back-off restarting failed container".into(),
        count: 4,
        first: Some(t0()),
        last: Some(t0()),
    };
    update(&mut m, Msg::Events(Delta::InitApply(event)), t0());
    update(&mut m, Msg::Events(Delta::InitDone), t0());

    let written = serde_json::to_string_pretty(&ktriage::report::Document {
        model: &m,
        now: t0(),
    })
    .unwrap();
    let tree = ktriage::report::document(&m, t0());
    let printed = serde_json::to_string_pretty(&tree).unwrap();
    if let Some(at) = (0..written.len().min(printed.len()))
        .find(|i| written.as_bytes()[*i] != printed.as_bytes()[*i])
    {
        let near = |s: &str| s[at.saturating_sub(200)..(at + 100).min(s.len())].to_string();
        panic!(
            "written {}\n---\nprinted {}",
            near(&written),
            near(&printed)
        );
    }
    assert_eq!(written.len(), printed.len());
    let names: Vec<&str> = tree["panes"]["top"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let shown: Vec<String> = m.top.rows().into_iter().map(|r| r.name).collect();
    assert_eq!(names.len(), 700);
    assert_eq!(names, shown);
    assert_eq!(tree["panes"]["nodes"]["rows"].as_array().unwrap().len(), 3);
    assert_eq!(tree["panes"]["events"]["rows"][0]["reason"], "BackOff");
    // a pane's members: its state, then what it reports, with the rows where a JSON object puts them
    let top = tree["panes"]["top"].as_object().unwrap();
    assert_eq!(top.keys().collect::<Vec<_>>(), ["age_s", "rows", "state"]);
}
