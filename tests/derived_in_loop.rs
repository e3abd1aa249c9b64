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

/// A rebuild of the order (new usage numbers) that cost at least 2 ms is reused for 8× its cost;
/// pod changes are followed at once, paced or not (one pod at a time), and a view change is never
/// paced. The clock is the test's: the order reads none of its own.
#[test]
fn the_top_order_is_paced_by_the_loops_clock() {
    let mut l = Loop::new();
    l.key('5');
    l.send(usage(&[("a/web-1", 95), ("b/db-0", 1)]));
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
    // a pod change is followed at once, within the pace
    l.send(Msg::Pods(Delta::Apply(pod("a", "aaa", None, "n1", None))));
    at.set(t + Duration::from_millis(10)); // within 8 × 5 ms of the build
    l.d.before_frame(&l.m, clock);
    let shown = names(l.m.top.view_in(&l.d.top, 0, usize::MAX).1);
    assert!(
        shown.contains(&"aaa".to_string()) && shown.len() == first.len() + 1,
        "a new pod takes its place at once: {shown:?}"
    );
    assert_eq!(l.m.top.view_in(&l.d.top, 0, usize::MAX).1, l.m.top.rows());
    // new usage numbers: the order waits while paced (the rows' numbers are current)
    l.send(usage(&[("a/web-1", 1), ("b/db-0", 900)]));
    at.set(t + Duration::from_millis(20));
    l.d.before_frame(&l.m, clock);
    assert_eq!(
        names(l.m.top.view_in(&l.d.top, 0, usize::MAX).1),
        shown,
        "a rebuild waits while the order is paced"
    );
    at.set(t + Duration::from_millis(60)); // past 8 × 5 ms
    l.d.before_frame(&l.m, clock);
    assert_eq!(
        l.m.top.view_in(&l.d.top, 0, usize::MAX).1,
        l.m.top.rows(),
        "after the pace the order is rebuilt"
    );
    assert_eq!(
        names(l.m.top.view_in(&l.d.top, 0, 1).1),
        ["db-0"],
        "the new usage numbers order it"
    );
    l.send(Msg::Pods(Delta::Apply(pod("a", "bbb", None, "n1", None))));
    l.key('o'); // a new sort is followed at once, paced or not
    assert_eq!(l.m.top.view_in(&l.d.top, 0, usize::MAX).1, l.m.top.rows());
}

/// A small deterministic generator (the test needs no crate for it).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn pick<T: Copy>(&mut self, of: &[T]) -> T {
        of[self.next() as usize % of.len()]
    }
}

/// Pod `i` in one of the states the per-pod rules tell apart: running with or without limits,
/// near its limit or OOMKilled, crash-looping (some with a CA error as last words), Pending
/// (unschedulable or waiting), evicted; owned by a ReplicaSet, a DaemonSet, a Node (static) or
/// nothing; on one of three nodes or none; in an application or the platform's namespace.
fn churned(g: &mut Lcg, i: usize) -> PodRow {
    let ns = ["a", "b", "kube-system"][i % 3];
    let owner = match g.next() % 4 {
        0 => None,
        1 => Some(("ReplicaSet".to_string(), format!("rs-{}", g.next() % 3))),
        2 => Some(("DaemonSet".to_string(), "agent".to_string())),
        _ => Some(("Node".to_string(), "n1".to_string())),
    };
    let phase = g.pick(&["Running", "Running", "Running", "Pending", "Failed"]);
    let evicted = phase == "Failed" && g.next().is_multiple_of(2);
    let containers = (0..1 + g.next() % 2)
        .map(|c| {
            let crash = g.next().is_multiple_of(4);
            ContainerRow {
                name: format!("c{c}"),
                req_mem_b: g.pick(&[None, Some(64 << 20), Some(512 << 20)]),
                lim_mem_b: g.pick(&[None, Some(100 << 20), Some(1 << 30)]),
                lim_cpu_m: g.pick(&[None, Some(500)]),
                restarts: g.pick(&[0, 1, 7]),
                oom_killed: g.next().is_multiple_of(5),
                ready: !crash && !g.next().is_multiple_of(3),
                waiting_reason: crash.then(|| "CrashLoopBackOff".to_string()),
                last_exit_code: g.pick(&[None, Some(1), Some(137)]),
                last_term_reason: g.pick(&[None, Some("Error")]).map(str::to_string),
                last_message: g
                    .pick(&["", "x509: certificate signed by unknown authority"])
                    .to_string(),
                ..Default::default()
            }
        })
        .collect();
    PodRow {
        namespace: ns.into(),
        name: format!("p-{i:02}"),
        node: g.pick(&["n1", "n2", "n3", ""]).into(),
        phase: phase.into(),
        reason: if evicted {
            "Evicted".into()
        } else {
            String::new()
        },
        owner,
        containers,
        uid: format!("uid-{i}-{}", g.next()),
        unschedulable: (phase == "Pending" && g.next().is_multiple_of(2))
            .then(|| "Unschedulable: 0/3 nodes are available".to_string()),
    }
}

fn key_of(i: usize) -> String {
    format!("{}/p-{i:02}", ["a", "b", "kube-system"][i % 3])
}

/// Pods changing one at a time (added, replaced, deleted, the same row again), between new usage
/// numbers, owners, nodes, sorts and a filter: the per-pod rules and Top's order follow each
/// change and always equal what a fresh pass over every pod gives; so does a burst of more
/// changes than the pods store remembers.
#[test]
fn pod_churn_is_followed_one_pod_at_a_time_and_agrees_with_a_fresh_pass() {
    let mut l = Loop::new();
    l.key('5');
    let mut g = Lcg(7);
    let nodes = |alloc: u64| {
        let mut v = vec![Msg::Nodes(Delta::Init)];
        for n in ["n1", "n2", "n3"] {
            v.push(Msg::Nodes(Delta::InitApply(NodeRow {
                name: n.into(),
                alloc_mem_b: Some(alloc << 20),
                ready: Some(true),
                ..Default::default()
            })));
        }
        v.push(Msg::Nodes(Delta::InitDone));
        v
    };
    for m in nodes(900) {
        l.send(m);
    }
    let mut kept = std::collections::BTreeMap::new();
    let mut seen_ids = std::collections::BTreeSet::new();
    for step in 0..600 {
        let i = (g.next() % 40) as usize;
        match g.next() % 20 {
            0 => {
                let mut pods: Vec<(String, u64)> = Vec::new();
                for i in 0..40 {
                    if g.next().is_multiple_of(2) {
                        pods.push((key_of(i), 1 + g.next() % 1200));
                    }
                }
                let pods: Vec<(&str, u64)> = pods.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                l.send(usage(&pods));
            }
            1 => l.send(Msg::ReplicaSets(Delta::Apply(RsRow {
                namespace: ["a", "b", "kube-system"][i % 3].into(),
                name: format!("rs-{}", i % 3),
                owner: g
                    .pick(&[None, Some("web"), Some("api")])
                    .map(|d| ("Deployment".to_string(), d.to_string())),
            }))),
            2 if step % 7 == 0 => {
                for m in nodes(g.pick(&[100, 900, 4000])) {
                    l.send(m);
                }
            }
            3 if step % 5 == 0 => l.key('o'),
            4 if step % 9 == 0 => {
                for k in [KeyCode::Char('/'), KeyCode::Char('p'), KeyCode::Char('-')] {
                    l.send(Msg::Key(KeyEvent::from(k)));
                }
                l.send(Msg::Key(KeyEvent::from(KeyCode::Esc)));
            }
            5..=7 => {
                l.send(Msg::Pods(Delta::Delete(key_of(i))));
                kept.remove(&i);
            }
            8 => {
                if let Some(p) = kept.get(&i).cloned() {
                    l.send(Msg::Pods(Delta::Apply(p))); // the same row again
                }
            }
            _ => {
                let p = churned(&mut g, i);
                kept.insert(i, p.clone());
                if step % 3 == 0 {
                    // applied without the rules: the next message's evaluation follows this
                    // change together with its own (new usage numbers, an owner, nodes, a pod)
                    ktriage::update::apply_in(&mut l.m, &mut l.d, Msg::Pods(Delta::Apply(p)), t0());
                    continue;
                }
                l.send(Msg::Pods(Delta::Apply(p)));
            }
        }
        l.check(&format!("step {step}"));
        seen_ids.extend(l.m.findings.iter().map(|f| f.id.clone()));
    }
    for id in [
        "pod-no-limits",
        "pod-near-limit",
        "node-overcommitted",
        "pod-crashloop",
        "pod-pending",
    ] {
        assert!(
            seen_ids.contains(id),
            "the churn never made {id}: {seen_ids:?}"
        );
    }
    // a burst beyond what the pods store remembers: rebuilt from every pod, still the same
    for n in 0..1500 {
        let p = churned(&mut g, n % 40);
        ktriage::update::apply_in(&mut l.m, &mut l.d, Msg::Pods(Delta::Apply(p)), t0());
    }
    l.send(Msg::Tick);
    l.check("after a burst");
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
