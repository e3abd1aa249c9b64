//! The app's side of a reliability test: the real sources feeding a `Model` through `update`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use chrono::Utc;
use ktriage::config::Config;
use ktriage::kube::sources::{SourceCtx, start_all};
use ktriage::model::{ClusterInfo, Model};
use ktriage::msg::Msg;
use ktriage::ui::{self, Theme};
use ktriage::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

/// The app's side of a run: the model, fed by the real sources over the real channel.
pub struct Harness {
    pub model: Model,
    rx: mpsc::Receiver<Msg>,
    pub handles: Vec<tokio::task::JoinHandle<()>>,
    /// Offers the crash-looping containers to the crash-log source, as the app loop does.
    wanted: ktriage::kube::sources::crash_logs::Wanted,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// One request as the client sent it (before any answer).
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: std::time::Instant,
    pub method: String,
    pub path: String,
    pub query: String,
}

pub type Record = std::sync::Arc<std::sync::Mutex<Vec<Sent>>>;

impl Harness {
    pub async fn start(h: &ktriage::sim::SimHandle, user: &str) -> Harness {
        let cfg = h.kube_config(user).await.unwrap();
        Harness::start_with(cfg, &h.base_url(), user)
    }

    pub fn start_with(cfg: kube::Config, server: &str, user: &str) -> Harness {
        let client = ktriage::session::build_client(cfg, true).unwrap();
        Harness::start_client(client, server, user)
    }

    /// Like [`Harness::start`], with every request the sources send recorded as it leaves the
    /// client (the same gate as `build_client`; refused connections are counted too, which a
    /// server cannot see).
    pub async fn start_recorded(h: &ktriage::sim::SimHandle, user: &str) -> (Harness, Record) {
        let cfg = h.kube_config(user).await.unwrap();
        let record = Record::default();
        let r = record.clone();
        let client = kube::client::ClientBuilder::try_from(cfg)
            .unwrap()
            .with_layer(&ktriage::kube::gate::GateLayer { read_only: true })
            .with_layer(&tower::util::MapRequestLayer::new(
                move |req: http::Request<kube::client::Body>| {
                    r.lock().unwrap().push(Sent {
                        at: std::time::Instant::now(),
                        method: req.method().to_string(),
                        path: req.uri().path().to_string(),
                        query: req.uri().query().unwrap_or("").to_string(),
                    });
                    req
                },
            ))
            .build();
        (Harness::start_client(client, &h.base_url(), user), record)
    }

    fn start_client(client: kube::Client, server: &str, user: &str) -> Harness {
        let (tx, rx) = mpsc::channel(1024);
        let wanted = ktriage::kube::sources::crash_logs::Wanted::default();
        let ctx = SourceCtx {
            client,
            tx,
            namespace: None,
            api_probe: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
            metrics_every: Duration::from_secs(10),
            crashing: wanted.subscribe(),
            acted: ktriage::kube::sources::Acted::default().subscribe(),
        };
        let cluster = ClusterInfo {
            context: Some("sim".into()),
            server: Some(server.to_string()),
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
            wanted,
        }
    }

    pub fn sources(&self) -> usize {
        self.handles.len()
    }

    /// Feed whatever messages arrive within `d` to `update`.
    pub async fn pump(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            update(&mut self.model, m, Utc::now());
            self.wanted.offer(&self.model);
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
                    self.wanted.offer(&self.model);
                }
                Ok(None) => panic!("every source ended while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {limit:?} waiting for {what}; api {:?}, namespaces {:?}, nodes {:?} ({} rows), etcd pods {:?}",
                    self.model.api.state,
                    self.model.namespaces.state,
                    self.model.nodes.state,
                    self.model.nodes.store.len(),
                    self.model.etcd.pods_state
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
