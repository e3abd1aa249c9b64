//! The demo / simulated cluster: a Kubernetes HTTP API on loopback (issue 4).
//!
//! `start` builds the store from a scenario (see [`scenario`] for the format), generates a CA and a
//! server certificate (unless plain HTTP is asked for), binds a loopback address and serves the API in
//! background tokio tasks. The same listener answers the control channel under `/_sim/`. A scenario's
//! `etcd:` section adds simulated etcd members on their own loopback ports ([`etcd`]), named in the
//! kubeconfig's `ktriage/etcd` context extension.

pub mod admission;
pub mod api;
pub mod auth;
pub mod behaviours;
pub mod cli;
pub mod components;
pub mod control;
pub mod controllers;
pub mod delete;
pub mod etcd;
pub mod events;
pub mod exec;
pub mod generator;
pub mod handlers;
pub mod lifecycle;
pub mod load;
pub mod logs;
pub mod openapi;
pub mod patch;
pub mod pdb;
pub mod proto;
pub mod publish;
pub mod registry;
pub mod scenario;
pub mod scheduler;
pub mod selectors;
pub mod server;
pub mod store;
pub mod subres;
pub mod table;
pub mod tls;
pub mod watch;
pub mod write;
pub mod yaml;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

pub use server::Sim;

/// Options for [`start`].
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// A built-in scenario name, a path to a scenario YAML file, or `scale:NODES:PODS[:EVENTS[:NAMESPACES]]`.
    pub scenario: String,
    /// Must be a loopback address; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS.
    pub plain_http: bool,
    /// Append the request log (JSON lines) to this file.
    pub request_log: Option<PathBuf>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            scenario: "incident".to_string(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            plain_http: false,
            request_log: None,
        }
    }
}

/// Errors from starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "refusing to listen on {0}: the simulator binds loopback addresses only (use 127.0.0.1:PORT)"
    )]
    NotLoopback(SocketAddr),
    #[error(
        "unknown scenario {name:?}; known scenarios: {known}; or give a path to a scenario file, or scale:NODES:PODS[:EVENTS[:NAMESPACES]]"
    )]
    UnknownScenario { name: String, known: String },
    #[error("invalid scenario {path}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    InvalidScenario {
        path: String,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot read scenario file {path}: {source}")]
    ReadScenario {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("cannot open request log {path}: {source}")]
    RequestLog {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signal handling failed: {0}")]
    Signal(std::io::Error),
    #[error("cannot build a client configuration for the simulator: {0}")]
    Client(String),
}

/// A running simulator. Dropping it leaves the tasks running until the runtime stops; call
/// [`SimHandle::shutdown`] to stop serving.
pub struct SimHandle {
    sim: Arc<Sim>,
    addr: SocketAddr,
    plain_http: bool,
    ca_pem: String,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("plain_http", &self.plain_http)
            .finish()
    }
}

/// The names of the built-in scenarios.
pub fn list_scenarios() -> Vec<&'static str> {
    scenario::BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Starts the simulator; it serves in background tokio tasks until [`SimHandle::shutdown`].
pub async fn start(opts: SimOptions) -> Result<SimHandle, SimError> {
    if !opts.listen.ip().is_loopback() {
        return Err(SimError::NotLoopback(opts.listen));
    }
    let loaded = scenario::load(&opts.scenario)?;
    // a CA even over plain HTTP: every namespace's kube-root-ca.crt holds it, as on a real cluster
    let material = tls::generate().map_err(|e| SimError::Tls(e.to_string()))?;
    let acceptor = if opts.plain_http {
        None
    } else {
        Some(
            material
                .acceptor()
                .map_err(|e| SimError::Tls(e.to_string()))?,
        )
    };
    let ca_pem = if opts.plain_http {
        String::new()
    } else {
        material.ca_pem.clone()
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: opts.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: opts.listen,
        source,
    })?;
    let etcd_spec = loaded.etcd.clone();
    let sim = Arc::new(Sim::new(
        loaded,
        opts.request_log.as_deref(),
        &material.ca_pem,
    )?);
    if let Some(e) = etcd::start(&etcd_spec, &sim).await? {
        let _ = sim.etcd.set(e);
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(server::serve(sim.clone(), listener, acceptor, rx));
    Ok(SimHandle {
        sim,
        addr,
        plain_http: opts.plain_http,
        ca_pem,
        shutdown: tx,
        task,
    })
}

impl SimHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT` (or `http://` with plain HTTP).
    pub fn base_url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        format!("{scheme}://{}", self.addr)
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> String {
        self.sim.admin_token.clone()
    }

    /// The bearer token of a scenario user (or the admin), if that user exists.
    pub fn token_for(&self, user: &str) -> Option<String> {
        self.sim.token_for(user)
    }

    /// The CA certificate (PEM) the server certificate is signed by; empty with plain HTTP.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The shared simulator state (tests and in-process demos may poke at it directly).
    pub fn sim(&self) -> Arc<Sim> {
        self.sim.clone()
    }

    /// The simulated etcd members' client URLs (`http://127.0.0.1:PORT`), in scenario order; empty
    /// when the scenario has no `etcd:` section.
    pub fn etcd_endpoints(&self) -> Vec<String> {
        self.sim
            .etcd
            .get()
            .map(|e| e.client_urls())
            .unwrap_or_default()
    }

    /// The simulated etcd members (state, control), when the scenario has any.
    pub fn etcd(&self) -> Option<Arc<etcd::EtcdSim>> {
        self.sim.etcd.get().cloned()
    }

    /// A kubeconfig with one context `ktriage-sim` for `user` ("admin" or a scenario user; an unknown
    /// user gets a token the server does not accept).
    pub fn kubeconfig_yaml(&self, user: &str) -> String {
        let token = self
            .token_for(user)
            .unwrap_or_else(|| format!("unknown-user-{user}"));
        let ca_line = if self.plain_http {
            String::new()
        } else {
            let b64 = base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes());
            format!("    certificate-authority-data: {b64}\n")
        };
        // the etcd members, as the context extension ktriage reads (CONTRACTS §3)
        let endpoints = self.etcd_endpoints();
        let etcd_ext = if endpoints.is_empty() {
            String::new()
        } else {
            format!(
                "    extensions:\n    - name: ktriage/etcd\n      extension:\n        endpoints: [{}]\n",
                endpoints.join(", ")
            )
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: ktriage-sim\n  cluster:\n    server: {server}\n{ca_line}contexts:\n- name: ktriage-sim\n  context:\n    cluster: ktriage-sim\n    user: {user}\n    namespace: default\n{etcd_ext}current-context: ktriage-sim\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    token: {token}\n",
            server = self.base_url(),
        )
    }

    /// A kube client configuration for `user` (what `--demo` needs to connect in-process).
    pub async fn kube_config(&self, user: &str) -> Result<kube::Config, SimError> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig_yaml(user))
            .map_err(|e| SimError::Client(e.to_string()))?;
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await
            .map_err(|e| SimError::Client(e.to_string()))
    }

    /// Writes [`SimHandle::kubeconfig_yaml`] for the admin user with mode 0600.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        self.write_kubeconfig_for(path, "admin")
    }

    /// Writes a kubeconfig for `user` with mode 0600.
    pub fn write_kubeconfig_for(&self, path: &Path, user: &str) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let mut f = opts.open(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(self.kubeconfig_yaml(user).as_bytes())
    }

    /// Stops accepting, closes connections and ends the serving tasks.
    pub async fn shutdown(self) {
        if let Some(e) = self.sim.etcd.get() {
            e.shutdown();
        }
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
