//! Criterion benches of the pure core at 1k, 10k and 50k pods: `update::apply` + `settle` (one
//! watch delta on a synced model, then the rules), `diagnose::evaluate`, and `ui::render` of the Top
//! pane (the largest table) and the Overview to a 200×60 `TestBackend`, plus an Event and a metrics
//! poll settling, and a Top frame right after a pod changed (the kept row order rebuilt). Models are built from fixture
//! rows (no network). Each bench drives the model the way the app loop does: with one `Derived`
//! kept beside the model (the rules' memo, the Top order), refreshed before each frame.
//! Run: `cargo bench --bench core` (add `-- --quick` for a short run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ktriage::config::Config;
use ktriage::derived::Derived;
use ktriage::model::events::EventRow;
use ktriage::model::namespaces::NsRow;
use ktriage::model::nodes::NodeRow;
use ktriage::model::top::{ContainerRow, MetricsSnapshot, PodRow, RsRow, Usage};
use ktriage::model::{ClusterInfo, Delta, Model, PaneId, SourceState};
use ktriage::msg::Msg;
use ktriage::ui::theme::Theme;
use ktriage::{diagnose, ui, update};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SIZES: &[usize] = &[1_000, 10_000, 50_000];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap()
}

/// Pods per node and per namespace as in `scale:5000:50000:10000:2000` (10 pods a node, 25 a namespace).
fn pod(i: usize, crash: bool) -> PodRow {
    PodRow {
        namespace: format!("ns-{:04}", i / 25),
        name: format!("app-{}-7d9f8-{:05}", i / 5, i),
        node: format!("node-{:05}", i / 10),
        phase: "Running".into(),
        reason: String::new(),
        owner: Some(("ReplicaSet".into(), format!("app-{}-7d9f8", i / 5))),
        containers: vec![ContainerRow {
            name: "app".into(),
            req_cpu_m: Some(100),
            req_mem_b: Some(128 << 20),
            lim_cpu_m: Some(500),
            lim_mem_b: Some(256 << 20),
            restarts: if crash { 12 } else { 0 },
            ready: !crash,
            waiting_reason: crash.then(|| "CrashLoopBackOff".to_string()),
            ..Default::default()
        }],
        uid: format!("uid-{i}"),
        unschedulable: None,
    }
}

fn node(i: usize) -> NodeRow {
    NodeRow {
        name: format!("node-{i:05}"),
        roles: vec!["worker".into()],
        kubelet_version: "v1.33.1".into(),
        ready: Some(true),
        alloc_cpu_m: Some(8000),
        alloc_mem_b: Some(32 << 30),
        internal_ip: Some(format!("10.0.{}.{}", i / 250, i % 250)),
        ..Default::default()
    }
}

fn event(i: usize) -> EventRow {
    let ns = format!("ns-{:04}", (i * 7) % 2000);
    EventRow {
        id: format!("{ns}/ev-{i}"),
        namespace: ns,
        reason: if i.is_multiple_of(10) {
            "BackOff"
        } else {
            "Pulled"
        }
        .into(),
        warning: i.is_multiple_of(10),
        kind: "Pod".into(),
        object: format!("app-{}-7d9f8-{:05}", i / 5, i),
        node: format!("node-{:05}", i / 10),
        message: "Back-off restarting failed container app".into(),
        count: 1 + (i % 5) as u32,
        first: Some(now() - chrono::Duration::seconds((i % 3600) as i64)),
        last: Some(now() - chrono::Duration::seconds((i % 600) as i64)),
    }
}

/// A synced model at `pods` pods with nodes, namespaces, ReplicaSets and events in the ratios of
/// the largest scale (pods/10 nodes, pods/25 namespaces, pods/5 events); 1 pod in 100
/// crash-loops.
fn model(pods: usize) -> Model {
    let t = now();
    let mut m = Model::new(
        ClusterInfo {
            context: Some("bench".into()),
            ..Default::default()
        },
        Config::defaults().unwrap().keymap,
        t,
    );
    m.api.state = SourceState::Ok { at: t };
    let feed = |m: &mut Model, msgs: Vec<Msg>| {
        for msg in msgs {
            update::apply(m, msg, t);
        }
    };
    feed(&mut m, vec![Msg::Nodes(Delta::Init)]);
    feed(
        &mut m,
        (0..(pods / 10).max(1))
            .map(|i| Msg::Nodes(Delta::InitApply(node(i))))
            .collect(),
    );
    feed(
        &mut m,
        vec![Msg::Nodes(Delta::InitDone), Msg::Pods(Delta::Init)],
    );
    feed(
        &mut m,
        (0..pods)
            .map(|i| Msg::Pods(Delta::InitApply(pod(i, i % 100 == 7))))
            .collect(),
    );
    feed(
        &mut m,
        vec![Msg::Pods(Delta::InitDone), Msg::ReplicaSets(Delta::Init)],
    );
    feed(
        &mut m,
        (0..pods / 5)
            .map(|i| {
                Msg::ReplicaSets(Delta::InitApply(RsRow {
                    namespace: format!("ns-{:04}", i / 5),
                    name: format!("app-{i}-7d9f8"),
                    owner: Some(("Deployment".into(), format!("app-{i}"))),
                }))
            })
            .collect(),
    );
    feed(
        &mut m,
        vec![
            Msg::ReplicaSets(Delta::InitDone),
            Msg::Namespaces(Delta::Init),
        ],
    );
    feed(
        &mut m,
        (0..(pods / 25).max(1))
            .map(|i| {
                Msg::Namespaces(Delta::InitApply(NsRow {
                    name: format!("ns-{i:04}"),
                    phase: "Active".into(),
                    created: Some(t),
                    ..Default::default()
                }))
            })
            .collect(),
    );
    feed(
        &mut m,
        vec![Msg::Namespaces(Delta::InitDone), Msg::Events(Delta::Init)],
    );
    feed(
        &mut m,
        (0..pods / 5)
            .map(|i| Msg::Events(Delta::InitApply(event(i))))
            .collect(),
    );
    feed(
        &mut m,
        vec![Msg::Events(Delta::InitDone), Msg::Metrics(metrics(pods, 0))],
    );
    update::settle(&mut m, t);
    m
}

/// A metrics poll: usage for every pod, 1–200 MiB of a 256 MiB limit (below `pod-near-limit`),
/// varied by `round` so each poll reorders the Top pane.
fn metrics(pods: usize, round: usize) -> MetricsSnapshot {
    MetricsSnapshot {
        pods: (0..pods)
            .map(|i| {
                let p = pod(i, false);
                let mem = ((i * 7919 + round * 104_729) % 200 + 1) as u64 * (1 << 20);
                (
                    format!("{}/{}", p.namespace, p.name),
                    Usage {
                        cpu_m: mem >> 22,
                        mem_b: mem,
                    },
                )
            })
            .collect(),
        nodes: Default::default(),
    }
}

fn bench_update(c: &mut Criterion) {
    let mut g = c.benchmark_group("update_apply_settle");
    for &n in SIZES {
        let base = model(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let (mut m, mut d) = (base.clone(), Derived::default());
            let mut i = 0usize;
            b.iter(|| {
                i += 1;
                // One pod changes (a restart), then the batch settles: what one watch event costs.
                let p = pod((i * 7919) % n, i.is_multiple_of(2));
                update::apply_in(&mut m, &mut d, Msg::Pods(Delta::Apply(p)), now());
                update::settle_in(&mut m, &mut d, now());
                black_box(m.findings.len())
            })
        });
    }
    g.finish();
}

/// One Event arrives, then the batch settles: the per-pod rules' findings are reused (their inputs
/// did not change), the others run.
fn bench_update_event(c: &mut Criterion) {
    let mut g = c.benchmark_group("update_apply_settle_event");
    for &n in SIZES {
        let base = model(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let (mut m, mut d) = (base.clone(), Derived::default());
            m.findings_stale = true;
            update::settle_in(&mut m, &mut d, now());
            let mut i = 0usize;
            b.iter(|| {
                i += 1;
                let e = event(1_000_000 + i);
                update::apply_in(&mut m, &mut d, Msg::Events(Delta::Apply(e)), now());
                update::settle_in(&mut m, &mut d, now());
                black_box(m.findings.len())
            })
        });
    }
    g.finish();
}

/// A metrics poll for every pod arrives, then the batch settles (the rules over every pod run).
fn bench_metrics_poll(c: &mut Criterion) {
    let mut g = c.benchmark_group("update_metrics_poll");
    for &n in SIZES {
        let base = model(n);
        let polls = [metrics(n, 1), metrics(n, 2)];
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let (mut m, mut d) = (base.clone(), Derived::default());
            let mut i = 0usize;
            b.iter_batched(
                || {
                    i += 1;
                    polls[i % 2].clone()
                },
                |snap| {
                    update::apply_in(&mut m, &mut d, Msg::Metrics(snap), now());
                    update::settle_in(&mut m, &mut d, now());
                    black_box(m.findings.len())
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn bench_evaluate(c: &mut Criterion) {
    let mut g = c.benchmark_group("diagnose_evaluate");
    for &n in SIZES {
        let m = model(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
            b.iter(|| black_box(diagnose::evaluate(m, now()).len()))
        });
    }
    g.finish();
}

fn bench_draw(c: &mut Criterion) {
    let theme = Theme::new(Config::defaults().unwrap().theme, true);
    for pane in [PaneId::Top, PaneId::Overview, PaneId::Events] {
        let mut g = c.benchmark_group(format!("ui_draw_{}_200x60", pane.name()));
        for &n in SIZES {
            let (m, mut d, mut term) = on_screen(n, pane);
            g.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
                b.iter(|| frame(&mut term, m, &mut d, &theme))
            });
        }
        g.finish();
    }
}

/// A pod changes, then the Top pane is drawn: the cached order is rebuilt, or (at 50k pods, where a
/// rebuild costs more than 2 ms) reused for up to 10× its cost while pods keep changing.
fn bench_draw_after_change(c: &mut Criterion) {
    let theme = Theme::new(Config::defaults().unwrap().theme, true);
    let mut g = c.benchmark_group("ui_draw_top_after_pod_change_200x60");
    for &n in SIZES {
        let (mut m, mut d, mut term) = on_screen(n, PaneId::Top);
        let mut i = 0usize;
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                i += 1;
                let p = pod((i * 7919) % n, i.is_multiple_of(2));
                update::apply_in(&mut m, &mut d, Msg::Pods(Delta::Apply(p)), now());
                frame(&mut term, &m, &mut d, &theme);
            })
        });
    }
    g.finish();
}

/// The Top pane's order rebuilt for every frame: the sort key alternates (a view change is never
/// paced), so this is the full cost of ordering every pod, what one frame costs when the order must
/// be rebuilt.
fn bench_draw_resort(c: &mut Criterion) {
    use ktriage::model::top::TopSort;
    let theme = Theme::new(Config::defaults().unwrap().theme, true);
    let mut g = c.benchmark_group("ui_draw_top_order_rebuilt_200x60");
    for &n in SIZES {
        let (mut m, mut d, mut term) = on_screen(n, PaneId::Top);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                m.top.sort = if m.top.sort == TopSort::Memory {
                    TopSort::Cpu
                } else {
                    TopSort::Memory
                };
                frame(&mut term, &m, &mut d, &theme);
            })
        });
    }
    g.finish();
}

/// Key press to frame on the Top pane (update + settle + draw), the in-process part of the 16 ms
/// target (the terminal's own write is not included): `j` moves the selection; `o` picks the next
/// sort column, so every press re-orders every pod (memory, cpu, %, restarts, node, owner, name).
fn bench_key_to_frame(c: &mut Criterion) {
    key_to_frame(c, "key_to_frame_top_200x60", 'j');
    key_to_frame(c, "key_to_frame_top_sort_200x60", 'o');
}

fn key_to_frame(c: &mut Criterion, group: &str, key: char) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let theme = Theme::new(Config::defaults().unwrap().theme, true);
    let mut g = c.benchmark_group(group);
    for &n in SIZES {
        let (mut m, mut d, mut term) = on_screen(n, PaneId::Top);
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let ev = KeyEvent::new(KeyCode::Char(key), KeyModifiers::NONE);
                update::update_in(&mut m, &mut d, Msg::Key(ev), now());
                frame(&mut term, &m, &mut d, &theme);
            })
        });
    }
    g.finish();
}

/// A model of `n` pods showing `pane` on a 200×60 test terminal, with its derived data.
fn on_screen(n: usize, pane: PaneId) -> (Model, Derived, Terminal<TestBackend>) {
    let mut m = model(n);
    m.ui.active = pane;
    m.ui.size = (200, 60);
    m.ui.page = 54;
    let d = Derived::of(&m, now());
    (m, d, Terminal::new(TestBackend::new(200, 60)).unwrap())
}

/// One frame as the app loop draws it: the derived data brought up to date, then drawn.
fn frame(term: &mut Terminal<TestBackend>, m: &Model, d: &mut Derived, theme: &Theme) {
    d.before_frame(m, Instant::now);
    term.draw(|f| ui::render(f, m, d, theme, now())).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench_update, bench_update_event, bench_metrics_poll, bench_evaluate, bench_draw,
        bench_draw_after_change, bench_draw_resort, bench_key_to_frame
}
criterion_main!(benches);
