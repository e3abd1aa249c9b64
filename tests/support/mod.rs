//! Test support shared by the integration tests: the simulator helpers (start a scenario, build
//! kube-rs clients, the control channel, raw requests), a tiny recording fake API for exact-request
//! tests, fixture models, kubeconfigs, and external-tool lookup (`require_tool`, `kubectl`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod audit;
pub mod etcd;
pub mod etcd_model;
pub mod jump;
pub mod kubectl;
pub mod model;
pub mod mutations;
pub mod no_secrets;
pub mod package;
pub mod panes;
pub mod real;
pub mod tmux;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use ktriage::sim::{SimHandle, SimOptions, start};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: String,
}

impl Recorded {
    pub fn line(&self) -> String {
        if self.query.is_empty() {
            format!("{} {}", self.method, self.path)
        } else {
            format!("{} {}?{}", self.method, self.path, self.query)
        }
    }
}

/// What the fake answers: `(status, body)` for a request, given mutable state.
pub type Handler = Arc<dyn Fn(&Recorded, &mut Value) -> (u16, Value) + Send + Sync>;

pub struct FakeApi {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    pub state: Arc<Mutex<Value>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApi {
    pub async fn start(state: Value, handler: Handler) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(Mutex::new(state));
        let (r, s) = (requests.clone(), state.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (r, s, h) = (r.clone(), s.clone(), handler.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (r, s, h) = (r.clone(), s.clone(), h.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let rec = Recorded {
                                method: parts.method.to_string(),
                                path: parts.uri.path().to_string(),
                                query: parts.uri.query().unwrap_or("").to_string(),
                                content_type: parts
                                    .headers
                                    .get("content-type")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_string(),
                                body: String::from_utf8_lossy(&body).to_string(),
                            };
                            let (code, value) = {
                                let mut st = s.lock().unwrap();
                                h(&rec, &mut st)
                            };
                            r.lock().unwrap().push(rec);
                            let resp = Response::builder()
                                .status(code)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(value.to_string())))
                                .unwrap();
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeApi {
            addr,
            requests,
            state,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn lines(&self) -> Vec<String> {
        self.recorded().iter().map(Recorded::line).collect()
    }
}

/// A kubeconfig (token auth) pointing at `server`.
pub fn kubeconfig(server: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: alice\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: c\n    user: alice\ncurrent-context: test\n"
    )
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A loopback port with nothing listening (bound, then released).
pub fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A status object shaped like the API server's.
pub fn status_json(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// Whether this run is CI: `CI` set to anything but empty, `0` or `false` (CI services set `true`,
/// `1`, `yes` or their own name). Under CI a missing tool fails the test that needs it.
pub fn under_ci() -> bool {
    ci_value(std::env::var("CI").ok().as_deref())
}

/// [`under_ci`] for a given value of `CI`.
pub fn ci_value(v: Option<&str>) -> bool {
    v.is_some_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// Whether a test that needs an external tool should run: `Some(path)` if found; `None` (skip, with
/// a visible message) when missing outside CI. Under CI ([`under_ci`]) a missing tool fails the test.
pub fn require_tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if under_ci() => {
            panic!("{name} is required under CI but was not found on PATH (.ci/run installs it)")
        }
        None => {
            eprintln!("SKIP: {name} not found on PATH; install it to run this test");
            None
        }
    }
}

/// Starts `scenario` on a free loopback port over HTTPS.
pub async fn sim(scenario: &str) -> SimHandle {
    start(SimOptions {
        scenario: scenario.to_string(),
        ..SimOptions::default()
    })
    .await
    .expect("sim starts")
}

/// A kube-rs client built from the simulator's kubeconfig for `user` (kube's retries off, so
/// faults are seen as they are).
pub async fn client_as(h: &SimHandle, user: &str) -> kube::Client {
    let mut cfg = h.kube_config(user).await.expect("client configuration");
    cfg.default_retry = false;
    cfg.read_timeout = Some(Duration::from_secs(30));
    kube::Client::try_from(cfg).expect("client")
}

pub async fn client(h: &SimHandle) -> kube::Client {
    client_as(h, "admin").await
}

/// A raw request; answers (status, headers, body).
pub async fn raw(
    c: &kube::Client,
    method: &str,
    path: &str,
    ctype: &str,
    body: Vec<u8>,
) -> (u16, http::HeaderMap, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, ctype)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = c.send(req).await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// POST to the control channel and parse the JSON answer.
pub async fn control(c: &kube::Client, what: &str, body: Value) -> Value {
    let (status, _, text) = raw(
        c,
        "POST",
        &format!("/_sim/{what}"),
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "control {what}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Runs `f` until it returns Some or the deadline passes.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The Status of a kube error (panics on other errors).
pub fn status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Poll a blocking check until it answers, for up to 15 s.
pub fn eventually_blocking<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run the ktriage binary with `home` as HOME and its XDG state and config directories, and no
/// kubeconfig, in-cluster or config-file environment leaking in from the machine.
pub fn ktriage(home: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args(args)
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KTRIAGE_CONFIG")
        .output()
        .unwrap()
}

/// `ktriage report --demo SCENARIO --format json --observe 0` in a fresh HOME: the exit code and
/// the report.
pub fn report_demo(scenario: &str) -> (Option<i32>, serde_json::Value) {
    let home = tempfile::tempdir().unwrap();
    let out = ktriage(
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
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "report --demo {scenario}: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), doc)
}

/// The finding `id` about the object named `name` in a report.
pub fn finding_about<'a>(
    doc: &'a serde_json::Value,
    id: &str,
    name: &str,
) -> &'a serde_json::Value {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id && f["subject"]["name"] == name)
        .unwrap_or_else(|| panic!("no {id} about {name}: {:#}", doc["findings"]))
}
