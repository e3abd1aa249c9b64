//! Reliability against a burning API server (issue 12): an outage keeps every pane's last data,
//! marked stale with its age, the status bar says unreachable, the request rate stays bounded, and
//! every watch resumes after the outage within the backoff cap without a restart or a re-list.
//! Also: input stays responsive (key → frame) while every source hangs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant};

use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ktriage::config::Config;
use ktriage::kube::sources::{SourceCtx, start_all};
use ktriage::model::{ClusterInfo, Model, SourceState};
use ktriage::msg::Msg;
use ktriage::ui::{self, Theme};
use ktriage::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use support::{control, raw, sim};
use tokio::sync::mpsc;

/// The app's side of a run: the model, fed by the real sources over the real channel.
pub struct Harness {
    pub model: Model,
    rx: mpsc::Receiver<Msg>,
    handles: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

impl Harness {
    pub async fn start(h: &ktriage::sim::SimHandle, user: &str) -> Harness {
        let cfg = h.kube_config(user).await.unwrap();
        let client = ktriage::session::build_client(cfg, true).unwrap();
        let (tx, rx) = mpsc::channel(1024);
        let ctx = SourceCtx {
            client,
            tx,
            namespace: None,
            api_probe: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
        };
        let cluster = ClusterInfo {
            context: Some("sim".into()),
            server: Some(h.base_url()),
            namespace: None,
            user: Some(user.into()),
            read_only: true,
            production: false,
        };
        let model = Model::new(cluster, Config::defaults().unwrap().keymap, Utc::now());
        Harness {
            model,
            rx,
            handles: start_all(&ctx),
        }
    }

    /// Feed messages to `update` until `done` holds; panics after `limit`.
    pub async fn until(&mut self, what: &str, limit: Duration, done: impl Fn(&Model) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.model) {
            let msg = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            match msg {
                Ok(Some(m)) => {
                    update(&mut self.model, m, Utc::now());
                }
                Ok(None) => panic!("every source ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {limit:?} waiting for {what}; api {:?}, namespaces {:?}, nodes {:?}",
                    self.model.api.state, self.model.namespaces.state, self.model.nodes.state
                ),
            }
        }
    }
}

pub fn screen(m: &Model, w: u16, h: u16) -> String {
    let theme = Theme::new(Config::defaults().unwrap().theme, false);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| ui::draw(f, m, &theme, Utc::now())).unwrap();
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

fn stale(s: &SourceState) -> bool {
    matches!(s, SourceState::Failed { last_ok: Some(_), .. })
}

async fn request_log(c: &kube::Client) -> Vec<Value> {
    let (_, _, text) = raw(c, "GET", "/_sim/requests", "", vec![]).await;
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Outage length: 6 s by default (the same backoff steps as a long one, without the wall clock);
/// `KTRIAGE_OUTAGE_SECS=60` runs the full minute the README's bound is stated for.
fn outage_secs() -> f64 {
    std::env::var("KTRIAGE_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6.0)
}

/// Attempts one source may make in `t` seconds under exponential backoff starting at 0.8 s and
/// doubling (kube-runtime's watcher default; the API probe starts at 1 s), plus the one in flight.
fn attempts_bound(t: f64) -> u64 {
    (2.0 + (t / 0.8 + 1.0).log2().ceil()) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_keeps_stale_data_bounds_requests_and_resumes_without_relist() {
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    let mut app = Harness::start(&h, "admin").await;
    app.until("first sync", Duration::from_secs(20), |m| {
        m.api.state.is_ok() && m.namespaces.state.is_ok() && m.nodes.state.is_ok()
    })
    .await;
    let namespaces = app.model.namespaces.store.len();
    let nodes = app.model.nodes.store.len();
    assert!(namespaces > 0 && nodes > 0);
    raw(&admin, "DELETE", "/_sim/requests", "", vec![]).await;

    let secs = outage_secs();
    control(&admin, "fault", json!({"outage_seconds": secs})).await;
    let began = Instant::now();
    app.until(
        "every Kubernetes source stale and the API unreachable",
        Duration::from_secs(20),
        |m| {
            stale(&m.namespaces.state)
                && stale(&m.nodes.state)
                && m.api.state.label(Utc::now()).starts_with("unreachable")
        },
    )
    .await;
    // the last data stays, marked stale with its age; the status bar says unreachable
    assert_eq!(app.model.namespaces.store.len(), namespaces);
    assert_eq!(app.model.nodes.store.len(), nodes);
    let label = app.model.namespaces.state.label(Utc::now());
    assert!(label.contains("stale "), "{label}");
    let mut shown = app.model.clone();
    update(&mut shown, Msg::Resize(120, 40), Utc::now());
    let text = screen(&shown, 120, 40);
    assert!(text.contains("API unreachable"), "{text}");
    // slow or dead sources never block input: key → frame
    let t0 = Instant::now();
    update(
        &mut shown,
        Msg::Key(KeyEvent::new(KeyCode::Char('2'), KeyModifiers::NONE)),
        Utc::now(),
    );
    let after_key = screen(&shown, 120, 40);
    let key_to_frame = t0.elapsed();
    assert!(key_to_frame < Duration::from_millis(100), "{key_to_frame:?}");
    assert!(after_key.contains("stale"), "{after_key}");
    eprintln!("key → frame during the outage: {key_to_frame:?}");

    // no exit: sources keep running through the outage; then they resume
    let outage = Duration::from_secs_f64(secs);
    app.until("the outage to end", outage + Duration::from_secs(5), |_| {
        began.elapsed() >= outage
    })
    .await;
    let ended = Instant::now();
    let refused = {
        let (_, _, t) = raw(&admin, "GET", "/_sim/faults", "", vec![]).await;
        serde_json::from_str::<Value>(&t).unwrap()["outage_refused"]
            .as_u64()
            .unwrap()
    };
    app.until(
        "every watch and the probe back within the backoff cap",
        Duration::from_secs(35),
        |m| m.api.state.is_ok() && m.namespaces.state.is_ok() && m.nodes.state.is_ok(),
    )
    .await;
    let resumed = ended.elapsed();
    eprintln!(
        "outage {secs} s: {refused} refused connections/requests from {} sources; resumed {resumed:?} after it ended",
        app.handles.len()
    );
    assert!(resumed <= Duration::from_secs(30), "{resumed:?}");
    let bound = app.handles.len() as u64 * attempts_bound(secs);
    assert!(refused <= bound, "{refused} attempts > bound {bound}");
    assert_eq!(app.model.namespaces.store.len(), namespaces);
    // resumed from the kept resourceVersion: the watches re-watched, nobody re-listed
    let log = request_log(&admin).await;
    for path in ["/api/v1/namespaces", "/api/v1/nodes"] {
        let lists: Vec<&Value> = log
            .iter()
            .filter(|e| e["path"] == path && e["method"] == "GET")
            .filter(|e| !e["query"].as_str().unwrap_or("").contains("watch=true"))
            .collect();
        assert!(lists.is_empty(), "re-list of {path} after the outage: {lists:?}");
        assert!(
            log.iter().any(|e| e["path"] == path
                && e["query"].as_str().unwrap_or("").contains("watch=true")),
            "no re-watch of {path}: {log:?}"
        );
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_resource_version_relists_and_recovers() {
    let h = sim("healthy").await;
    let admin = support::client(&h).await;
    let mut app = Harness::start(&h, "admin").await;
    app.until("first sync", Duration::from_secs(20), |m| {
        m.namespaces.state.is_ok()
    })
    .await;
    raw(&admin, "DELETE", "/_sim/requests", "", vec![]).await;
    control(&admin, "fault", json!({"gone_watches": 4, "drop_watches": true})).await;
    let mk = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "after-gone"}});
    control(&admin, "apply", mk).await;
    app.until("the namespace created after 410", Duration::from_secs(30), |m| {
        m.namespaces.store.get("after-gone").is_some() && m.namespaces.state.is_ok()
    })
    .await;
    let log = request_log(&admin).await;
    assert!(
        log.iter().any(|e| e["path"] == "/api/v1/namespaces"
            && !e["query"].as_str().unwrap_or("").contains("watch=true")),
        "a 410 must re-list: {log:?}"
    );
    h.shutdown().await;
}
