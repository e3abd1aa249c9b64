//! The data the app loop derives from the model and keeps beside it (`derived::Derived`), driven the
//! way the loop drives it: one `Derived` across many messages (`update_in`, `settle_in`), refreshed
//! before each frame with the loop's clock. Every step compares with what is computed afresh, so a
//! cache that misses an input shows here; pacing and "draw builds nothing" are checked with a
//! clock the test controls.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::cell::Cell;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent};
use ktriage::derived::Derived;
use ktriage::diagnose;
use ktriage::model::nodes::NodeRow;
use ktriage::model::top::{ContainerRow, MetricsSnapshot, PodRow, RsRow, TopRow, Usage};
use ktriage::model::{Delta, Model, PaneId};
use ktriage::msg::Msg;
use ktriage::update::update_in;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::model::{model, t0};

fn pod(ns: &str, name: &str, rs: Option<&str>, node: &str, lim: Option<u64>) -> PodRow {
    PodRow {
        namespace: ns.into(),
        name: name.into(),
        node: node.into(),
        phase: "Running".into(),
        owner: rs.map(|r| ("ReplicaSet".to_string(), r.to_string())),
        containers: vec![ContainerRow {
            name: "app".into(),
            req_mem_b: Some(64 << 20),
            lim_mem_b: lim,
            lim_cpu_m: Some(500),
            ready: true,
            ..Default::default()
        }],
        uid: format!("uid-{name}"),
        ..Default::default()
    }
}

fn usage(pods: &[(&str, u64)]) -> Msg {
    Msg::Metrics(MetricsSnapshot {
        pods: pods
            .iter()
            .map(|(k, mib)| {
                let mem_b = mib << 20;
                (k.to_string(), Usage { cpu_m: *mib, mem_b })
            })
            .collect(),
        nodes: Default::default(),
    })
}

/// The loop's state: the model and its derived data, one update at a time.
struct Loop {
    m: Model,
    d: Derived,
}

impl Loop {
    fn new() -> Loop {
        let mut l = Loop {
            m: model(false),
            d: Derived::default(),
        };
        l.send(Msg::Pods(Delta::Init));
        for p in [
            pod("a", "web-1", Some("web-7d"), "n1", Some(100 << 20)),
            pod("a", "web-2", Some("web-7d"), "n2", Some(1 << 30)),
            pod("a", "hog-1", Some("hog-5c"), "n1", None),
            pod("b", "db-0", None, "n2", Some(1 << 30)),
        ] {
            l.send(Msg::Pods(Delta::InitApply(p)));
        }
        l.send(Msg::Pods(Delta::InitDone));
        l.send(Msg::ReplicaSets(Delta::Init));
        l.send(Msg::ReplicaSets(Delta::InitDone));
        l
    }

    fn send(&mut self, msg: Msg) {
        update_in(&mut self.m, &mut self.d, msg, t0());
    }

    fn key(&mut self, c: char) {
        self.send(Msg::Key(KeyEvent::from(KeyCode::Char(c))));
    }

    /// What a frame shows of the Top pane after the loop's refresh.
    fn top_rows(&mut self) -> Vec<TopRow> {
        self.d.before_frame(&self.m, Instant::now);
        self.m.top.view_in(&self.d.top, 0, usize::MAX).1
    }

    /// The kept findings and the Top rows equal a fresh evaluation and a fresh ordering.
    fn check(&mut self, what: &str) {
        let fresh = diagnose::evaluate(&self.m, t0());
        assert_eq!(self.m.findings, fresh, "{what}: memoised findings differ");
        let rows = self.top_rows();
        assert_eq!(rows, self.m.top.rows(), "{what}: kept Top order differs");
        assert_eq!(
            self.m.top.count_in(&self.d.top),
            rows.len(),
            "{what}: kept count differs"
        );
        assert_eq!(
            self.d.runbook,
            ktriage::diagnose::runbook::build(&self.m, t0()),
            "{what}: kept runbook differs"
        );
        assert_eq!(
            self.d.severities,
            ktriage::shared::finding::Severities::of(&self.m.findings),
            "{what}: kept row colours differ"
        );
    }
}

#[test]
fn one_derived_across_every_input_agrees_with_a_fresh_one() {
    let mut l = Loop::new();
    l.key('5'); // the Top pane: its order is kept from now on
    l.check("synced");
    l.send(usage(&[("a/web-1", 95), ("a/web-2", 30), ("a/hog-1", 500)]));
    l.check("metrics");
    assert!(l.m.findings.iter().any(|f| f.id == "pod-near-limit"));
    l.send(Msg::ReplicaSets(Delta::Apply(RsRow {
        namespace: "a".into(),
        name: "hog-5c".into(),
        owner: Some(("Deployment".into(), "hog".into())),
    })));
    l.check("an owner");
    l.send(Msg::Nodes(Delta::Init));
    l.send(Msg::Nodes(Delta::InitApply(NodeRow {
        name: "n1".into(),
        alloc_mem_b: Some(64 << 20),
        ready: Some(true),
        ..Default::default()
    })));
    l.send(Msg::Nodes(Delta::InitDone));
    l.check("nodes");
    l.send(Msg::Pods(Delta::Delete("a/web-2".into())));
    l.check("a pod deleted");
    l.key('o');
    l.check("sorted by cpu");
    l.key('g');
    l.check("grouped");
    l.key('g');
    l.key('/');
    for c in "web".chars() {
        l.key(c);
    }
    l.check("filtered");
    l.send(Msg::Tick);
    l.check("a tick");
}

/// Under pod churn an order that cost at least 2 ms is reused for 8× its cost; a view change is
/// never paced. The clock is the test's: the order reads none of its own.
#[test]
fn the_top_order_is_paced_by_the_loops_clock() {
    let mut l = Loop::new();
    l.key('5');
    let t = Instant::now();
    let at = Cell::new(t);
    // every reading of the clock moves it 5 ms on: a build "costs" 5 ms
    let clock = || {
        let now = at.get();
        at.set(now + Duration::from_millis(5));
        now
    };
    l.d.before_frame(&l.m, clock);
    let names = |rows: Vec<TopRow>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
    let first = names(l.m.top.view_in(&l.d.top, 0, usize::MAX).1);
    l.send(Msg::Pods(Delta::Apply(pod("a", "aaa", None, "n1", None))));
    at.set(t + Duration::from_millis(20)); // within 8 × 5 ms of the build
    l.d.before_frame(&l.m, clock);
    assert_eq!(
        names(l.m.top.view_in(&l.d.top, 0, usize::MAX).1),
        first,
        "a new pod waits for its place while the order is paced"
    );
    at.set(t + Duration::from_millis(60)); // past 8 × 5 ms
    l.d.before_frame(&l.m, clock);
    assert!(
        names(l.m.top.view_in(&l.d.top, 0, usize::MAX).1).contains(&"aaa".to_string()),
        "after the pace the order is rebuilt"
    );
    l.send(Msg::Pods(Delta::Apply(pod("a", "bbb", None, "n1", None))));
    l.key('o'); // a new sort is followed at once, paced or not
    assert_eq!(l.m.top.view_in(&l.d.top, 0, usize::MAX).1, l.m.top.rows());
}

/// A frame draws what the loop derived: the runbook the last evaluation built, not one built
/// during the frame.
#[test]
fn a_frame_draws_the_kept_runbook_and_builds_none() {
    use support::etcd_model::{etcd_model, island, three};
    let theme = ktriage::ui::Theme::new(ktriage::config::Config::defaults().unwrap().theme, false);
    let mut m = etcd_model(three(island()));
    m.ui.active = PaneId::Etcd;
    let screen = |m: &Model, d: &Derived| {
        let mut t = Terminal::new(TestBackend::new(160, 48)).unwrap();
        t.draw(|f| ktriage::ui::render(f, m, d, &theme, t0()))
            .unwrap();
        format!("{:?}", t.backend().buffer())
    };
    // the loop's derived data: the runbook comes with the evaluation of the rules
    let mut kept = Derived::default();
    update_in(&mut m, &mut kept, Msg::Tick, t0());
    assert!(
        kept.runbook.is_some(),
        "the evaluation kept the split brain's runbook"
    );
    assert!(screen(&m, &kept).contains("member remove"));
    let none = Derived::default();
    let s = screen(&m, &none);
    assert!(
        s.contains("no recovery needed") && !s.contains("member remove"),
        "the frame rebuilt the runbook"
    );
}
