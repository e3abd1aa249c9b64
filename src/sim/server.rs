//! The listener, connections, authentication, faults and the request log around the handlers.

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::BodyExt as _;
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::SimError;
use super::api::{ApiError, Body};
use super::auth::User;
use super::control::Faults;
use super::logs::PodLogs;
use super::registry::Registry;
use super::scenario::Loaded;
use super::store::Store;

/// Signals to open streams.
#[derive(Debug, Clone)]
pub enum Signal {
    /// Close every open watch stream now.
    DropWatches,
    /// Every open watch that allows bookmarks sends one now.
    Bookmark,
    /// A new log line for followers.
    Log {
        ns: String,
        pod: String,
        container: String,
        line: String,
        /// When the line was written (its timestamp in `timestamps=true` output).
        at: chrono::DateTime<chrono::Utc>,
    },
}

/// Mutable cluster state behind one lock (never held across an await).
pub struct State {
    pub store: Store,
    pub reg: Registry,
    pub logs: PodLogs,
    /// The resourceVersion the controllers have processed up to (0: look at everything).
    pub controllers_rv: u64,
    /// Control-plane processes stopped through the control channel (see `components`).
    pub stopped: std::collections::BTreeSet<String>,
    /// Processes started again, waiting to take their election Lease, and since when.
    pub candidates: std::collections::BTreeMap<String, chrono::DateTime<chrono::Utc>>,
    /// The CA (PEM) that signed the server's certificate: every namespace's `kube-root-ca.crt`.
    pub root_ca_pem: String,
    /// The resourceVersion the namespace publisher has seen up to (0: look at everything).
    pub publish_rv: u64,
}

/// The request log: a bounded ring in memory and optionally a JSON-lines file.
pub struct ReqLog {
    pub ring: VecDeque<Value>,
    cap: usize,
    file: Option<std::fs::File>,
}

impl ReqLog {
    fn push(&mut self, v: Value) {
        if let Some(f) = self.file.as_mut() {
            let _ = writeln!(f, "{v}");
        }
        self.ring.push_back(v);
        while self.ring.len() > self.cap {
            self.ring.pop_front();
        }
    }
}

/// The simulator shared by every connection.
pub struct Sim {
    state: Mutex<State>,
    pub faults: Mutex<Faults>,
    pub signals: broadcast::Sender<Signal>,
    pub reqlog: Mutex<ReqLog>,
    pub users: Vec<User>,
    pub admin_token: String,
    pub scenario: String,
    pub started: Instant,
    pub behaviours: Vec<super::behaviours::Behaviour>,
    /// The simulated etcd members, when the scenario has any (set once, right after start).
    pub etcd: std::sync::OnceLock<Arc<super::etcd::EtcdSim>>,
    /// Raised when an outage starts: the listener closes (the port refuses) until it ends.
    pub outage: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sim {
    /// `root_ca_pem`: the CA that signed the server's certificate, published into every namespace.
    pub fn new(
        loaded: Loaded,
        request_log: Option<&Path>,
        root_ca_pem: &str,
    ) -> Result<Self, SimError> {
        let file = match request_log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| SimError::RequestLog {
                        path: p.to_path_buf(),
                        source,
                    })?,
            ),
            None => None,
        };
        let mut state = State {
            store: Store::new(10_000),
            reg: Registry::new(),
            logs: PodLogs::default(),
            controllers_rv: 0,
            stopped: loaded.stopped.iter().cloned().collect(),
            candidates: Default::default(),
            root_ca_pem: root_ca_pem.to_string(),
            publish_rv: 0,
        };
        super::load::load_all(&mut state, loaded.objects);
        state.logs.load(loaded.logs);
        state.controllers_rv = state.store.rv();
        super::lifecycle::reconcile(&mut state);
        state.store.compact();
        let (signals, _) = broadcast::channel(1024);
        let admin_token = format!(
            "sim-admin-{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        );
        Ok(Sim {
            state: Mutex::new(state),
            faults: Mutex::new(Faults::default()),
            signals,
            reqlog: Mutex::new(ReqLog {
                ring: VecDeque::new(),
                cap: 10_000,
                file,
            }),
            users: loaded.users,
            admin_token,
            scenario: loaded.name,
            behaviours: loaded.behaviours,
            started: Instant::now(),
            etcd: std::sync::OnceLock::new(),
            outage: tokio::sync::Notify::new(),
        })
    }

    /// Locks the cluster state.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    pub fn token_for(&self, user: &str) -> Option<String> {
        if user == "admin" {
            return Some(self.admin_token.clone());
        }
        self.users.iter().find(|u| u.name == user).map(User::token)
    }

    fn authenticate(&self, token: &str) -> Option<User> {
        if token == self.admin_token {
            return Some(User {
                name: "admin".into(),
                token: None,
                rules: vec![],
                admin: true,
            });
        }
        self.users.iter().find(|u| u.token() == token).cloned()
    }

    /// A copy of the in-memory request log.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.reqlog).ring.iter().cloned().collect()
    }
}

/// A parsed request.
#[derive(Debug)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub accept: String,
    pub content_type: String,
    pub user_agent: String,
    pub body: Bytes,
}

impl Req {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }

    pub fn flag(&self, k: &str) -> bool {
        matches!(self.q(k), Some("1" | "true" | "True"))
    }
}

/// Percent-decodes a query component.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// The next connection, or never while the port is closed.
async fn accept(
    listener: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Listen on `addr` again (the address an outage closed).
fn reopen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections until shutdown. During an outage the listener is closed, so connecting is
/// refused as it is when nothing listens (requests on connections already open fail too); when the
/// outage ends it listens on the same address again.
pub async fn serve(
    sim: Arc<Sim>,
    listener: tokio::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    let mut background = tokio::task::JoinSet::new();
    for b in sim.behaviours.clone() {
        if let Some(every) = super::behaviours::period(&b) {
            let sim = sim.clone();
            background.spawn(async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                let args = Value::Object(b.args.clone());
                loop {
                    tick.tick().await;
                    let mut st = sim.state();
                    let _ = super::behaviours::run(&mut st, &b.name, &args);
                    super::lifecycle::reconcile(&mut st);
                }
            });
        }
    }
    let every = Duration::from_secs(10);
    let mut resync = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let Ok(addr) = listener.local_addr() else {
        return;
    };
    let mut listener = Some(listener);
    // while the port is closed: when to listen again
    let mut reopen_at: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = resync.tick() => {
                let mut st = sim.state();
                super::controllers::resync_all(&mut st);
                super::lifecycle::reconcile(&mut st);
            }
            _ = sim.outage.notified() => {
                let until = sim.faults().outage_until;
                if let Some(until) = until.filter(|t| *t > Instant::now()) {
                    listener = None;
                    reopen_at = Some(tokio::time::Instant::from_std(until));
                }
            }
            _ = tokio::time::sleep_until(reopen_at.unwrap_or_else(tokio::time::Instant::now)), if reopen_at.is_some() => {
                let until = sim.faults().outage_until;
                if let Some(later) = until.filter(|t| *t > Instant::now()) {
                    // the outage was extended
                    reopen_at = Some(tokio::time::Instant::from_std(later));
                    continue;
                }
                match reopen(addr) {
                    Ok(l) => {
                        listener = Some(l);
                        reopen_at = None;
                    }
                    Err(_) => reopen_at = Some(tokio::time::Instant::now() + Duration::from_millis(50)),
                }
            }
            r = accept(listener.as_ref()) => {
                let Ok((stream, _)) = r else { continue };
                if sim.faults().refuse_in_outage() {
                    drop(stream);
                    continue;
                }
                let sim = sim.clone();
                let acceptor = acceptor.clone();
                conns.spawn(serve_conn(sim, stream, acceptor));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    let _ = sim.signals.send(Signal::DropWatches);
    background.abort_all();
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn serve_conn(
    sim: Arc<Sim>,
    stream: tokio::net::TcpStream,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) {
    let _ = stream.set_nodelay(true);
    let svc = hyper::service::service_fn(move |req| handle(sim.clone(), req));
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    match acceptor {
        Some(a) => {
            let tls = match tokio::time::timeout(Duration::from_secs(10), a.accept(stream)).await {
                Ok(Ok(t)) => t,
                _ => return,
            };
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                .await;
        }
        None => {
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .await;
        }
    }
}

fn header(req: &Request<Incoming>, name: http::header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn is_public(path: &str) -> bool {
    path == "/version"
        || path.starts_with("/healthz")
        || path.starts_with("/livez")
        || path.starts_with("/readyz")
}

async fn handle(sim: Arc<Sim>, req: Request<Incoming>) -> Result<Response<Body>, std::io::Error> {
    let start = Instant::now();
    if sim.faults().refuse_in_outage() {
        return Err(std::io::Error::other("simulated outage"));
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let auth = header(&req, http::header::AUTHORIZATION);
    let user = auth
        .strip_prefix("Bearer ")
        .and_then(|t| sim.authenticate(t.trim()));
    if let Some((ns, pod)) = super::exec::target(&req) {
        let attrs = super::auth::Attributes {
            verb: "create",
            group: "",
            resource: "pods/exec".into(),
            namespace: Some(&ns),
            name: Some(&pod),
        };
        let user_name = user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
        let resp = match &user {
            None => ApiError::unauthorized().response(),
            Some(u) if !super::auth::allowed(u, &attrs) => {
                super::auth::forbidden(&u.name, &attrs).response()
            }
            Some(_) => super::exec::upgrade(&sim, req, &ns, &pod),
        };
        // an upgraded stream: its bytes are not counted
        let entry = log_entry(&method, &path, &raw_query, &resp, None, start, &user_name);
        lock(&sim.reqlog).push(entry);
        return Ok(resp);
    }
    let parsed = Req {
        method: method.clone(),
        path: path.clone(),
        query: parse_query(&raw_query),
        accept: header(&req, http::header::ACCEPT),
        content_type: header(&req, http::header::CONTENT_TYPE),
        user_agent: header(&req, http::header::USER_AGENT),
        body: Bytes::new(),
    };
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let parsed = Req { body, ..parsed };
    let user_name = user.as_ref().map(|u| u.name.clone()).unwrap_or_default();
    let resp = if path.starts_with("/_sim/") {
        control(&sim, user.as_ref(), &parsed).await
    } else {
        api(&sim, user.as_ref(), parsed).await?
    };
    let bytes = resp.body().size_hint().exact();
    let entry = log_entry(&method, &path, &raw_query, &resp, bytes, start, &user_name);
    if bytes.is_some() {
        lock(&sim.reqlog).push(entry);
        return Ok(resp);
    }
    // A stream (watch, log follow): one entry when it starts, one with its totals when it ends.
    lock(&sim.reqlog).push(entry.clone());
    let (parts, body) = resp.into_parts();
    let counted = Counted {
        inner: body,
        bytes: 0,
        entry: Some(entry),
        sim: sim.clone(),
        start,
    };
    Ok(Response::from_parts(parts, counted.boxed_unsync()))
}

/// The control channel: the admin user only.
async fn control(sim: &Arc<Sim>, user: Option<&User>, req: &Req) -> Response<Body> {
    match user {
        Some(u) if u.admin => super::control::handle(sim, req).await,
        Some(u) => ApiError::forbidden(
            format!(
                "User \"{}\" cannot use the simulator control channel",
                u.name
            ),
            "",
            "",
            "",
        )
        .response(),
        None => ApiError::unauthorized().response(),
    }
}

/// The Kubernetes API, after the faults (latency, injected errors, an outage that began while the
/// request waited); anonymous users reach the public paths only.
async fn api(
    sim: &Arc<Sim>,
    user: Option<&User>,
    req: Req,
) -> Result<Response<Body>, std::io::Error> {
    let (latency, injected) = sim.faults().on_request(&req.path);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
        if sim.faults().in_outage() {
            return Err(std::io::Error::other("simulated outage"));
        }
    }
    if let Some(e) = injected {
        return Ok(e.response());
    }
    Ok(match user {
        Some(u) => super::handlers::dispatch(sim, u, req).await,
        None if is_public(&req.path) => {
            let anon = User {
                name: "system:anonymous".into(),
                token: None,
                rules: vec![],
                admin: false,
            };
            super::handlers::dispatch(sim, &anon, req).await
        }
        None => ApiError::unauthorized().response(),
    })
}

/// One request-log line; `bytes` is `None` for a stream (counted when it ends, if at all).
fn log_entry(
    method: &http::Method,
    path: &str,
    query: &str,
    resp: &Response<Body>,
    bytes: Option<u64>,
    start: Instant,
    user: &str,
) -> Value {
    json!({
        "ts": super::api::now_rfc3339(),
        "ts_ms": chrono::Utc::now().timestamp_millis(),
        "method": method.as_str(),
        "path": path,
        "query": query,
        "status": resp.status().as_u16(),
        "bytes": bytes.unwrap_or(0),
        "stream": bytes.is_none(),
        "duration_ms": start.elapsed().as_secs_f64() * 1000.0,
        "user": user,
    })
}

/// A streaming body that logs its byte count and duration when it ends (or the client goes).
struct Counted {
    inner: Body,
    bytes: u64,
    entry: Option<Value>,
    sim: Arc<Sim>,
    start: Instant,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let r = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &r
            && let Some(d) = f.data_ref()
        {
            this.bytes += d.len() as u64;
        }
        r
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(mut e) = self.entry.take() {
            e["bytes"] = json!(self.bytes);
            e["duration_ms"] = json!(self.start.elapsed().as_secs_f64() * 1000.0);
            e["stream_end"] = json!(true);
            e["ts"] = json!(super::api::now_rfc3339());
            lock(&self.sim.reqlog).push(e);
        }
    }
}
