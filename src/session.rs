//! Start-up shared by the TUI and the report: config, logging, cluster access, client, executor.
//! Every error here is reported before the terminal is taken over, with exit code 2.

use std::path::PathBuf;
use std::sync::Arc;

use kube::Client;
use kube::client::ClientBuilder;

mod etcd_access;
mod sources;

pub use sources::CERTS_EVERY;

use crate::cli::GlobalArgs;
use crate::config::{Config, ConfigError};
use crate::journal::Journal;
use crate::kube::context::KubeError;
use crate::kube::executor::{Executor, Identity};
use crate::kube::gate::GateLayer;
use crate::kube::{KubeSetup, resolve};
use crate::model::ClusterInfo;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Kube(#[from] KubeError),
    #[error("cannot set up the Kubernetes client for context {context:?}: {reason}")]
    Client { context: String, reason: String },
    #[error("{0}")]
    Log(String),
    #[error("no journal location: set --journal FILE, XDG_STATE_HOME or HOME")]
    NoJournal,
    #[error("demo cluster: {0}")]
    Demo(#[from] crate::sim::SimError),
    #[error("{0}")]
    Refused(String),
}

/// Everything a run needs, resolved.
pub struct Session {
    pub config: Config,
    pub cluster: ClusterInfo,
    /// `None` when no Kubernetes source is configured (the reason is in `not_configured`).
    pub client: Option<Client>,
    pub not_configured: Option<String>,
    pub executor: Option<Arc<Executor>>,
    pub journal: Journal,
    pub log_path: Option<PathBuf>,
    /// `--debug-panic`: crash after the first frame (terminal-restore tests).
    pub debug_panic: bool,
    /// `--demo`: the in-process simulator, kept alive for the session.
    pub demo: Option<crate::sim::SimHandle>,
    /// etcd endpoints and certificates, when any layer names them (the probe needs no Kubernetes).
    pub etcd: Option<crate::etcd::access::EtcdAccess>,
    /// The command line this session came from (the context switcher resolves other contexts with it).
    pub global: Option<GlobalArgs>,
    /// `etcdctl` inside the etcd pods through pods/exec (opt-in per context; never in read-only mode).
    pub etcd_exec: crate::etcd::access::ExecMode,
    /// Contexts whose exec question the operator answered yes in the etcd pane (held for the session,
    /// across context switches).
    pub exec_asked: std::collections::BTreeSet<String>,
    /// The CA certificates (DER) the kubeconfig trusts for the API server; empty when it names none.
    pub kubeconfig_ca: Vec<Vec<u8>>,
    /// The crash-looping containers the loop offers to the crash-log source (`offer` after the
    /// model changed).
    pub crashing: crate::kube::sources::crash_logs::Wanted,
    /// Bumped when one of this console's actions finishes (sources that poll look again).
    pub acted: crate::kube::sources::Acted,
}

/// The CA certificates (DER) a client configuration trusts for the API server.
pub fn kubeconfig_ca(config: &kube::Config) -> Vec<Vec<u8>> {
    if let Some(certs) = &config.root_cert {
        return certs.clone();
    }
    config
        .root_cert_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|pem| crate::certs::pem_certs(&pem))
        .unwrap_or_default()
}

impl Session {
    pub async fn prepare(args: &GlobalArgs) -> Result<Session, StartError> {
        let mut config = Config::load(args.config.as_deref())?;
        let log_path = crate::logging::init(args.log_file.as_deref()).map_err(StartError::Log)?;
        let journal = match &args.journal {
            Some(p) => Journal::new(p.clone()),
            None => Journal::new(Journal::default_path().ok_or(StartError::NoJournal)?),
        };
        let (setup, demo) = kube_setup(args).await?;
        let (etcd, etcd_exec) = etcd_for(args, &mut config, &setup)?;
        let session = Session {
            etcd,
            etcd_exec,
            exec_asked: Default::default(),
            cluster: ClusterInfo::default(),
            config,
            client: None,
            not_configured: None,
            executor: None,
            journal,
            log_path,
            debug_panic: args.debug_panic,
            demo,
            global: Some(args.clone()),
            kubeconfig_ca: Vec::new(),
            crashing: Default::default(),
            acted: Default::default(),
        };
        match setup {
            KubeSetup::NotConfigured { why } => Ok(Session {
                cluster: ClusterInfo {
                    namespace: args.namespace.clone(),
                    read_only: args.read_only || session.config.read_only,
                    ..ClusterInfo::default()
                },
                not_configured: Some(why),
                ..session
            }),
            KubeSetup::Ready(target) => session.connected(args, *target),
        }
    }

    /// A session with no cluster at all (`ktriage replay`): config, logging and a journal nothing
    /// writes to; no client, no executor, no etcd access.
    pub fn offline(args: &GlobalArgs) -> Result<Session, StartError> {
        let config = Config::load(args.config.as_deref())?;
        let log_path = crate::logging::init(args.log_file.as_deref()).map_err(StartError::Log)?;
        let journal = match &args.journal {
            Some(p) => Journal::new(p.clone()),
            None => Journal::new(Journal::default_path().ok_or(StartError::NoJournal)?),
        };
        Ok(Session {
            etcd: None,
            etcd_exec: crate::etcd::access::ExecMode::Off,
            exec_asked: Default::default(),
            cluster: ClusterInfo {
                read_only: true,
                ..ClusterInfo::default()
            },
            config,
            client: None,
            not_configured: Some("a replay: no cluster client".into()),
            executor: None,
            journal,
            log_path,
            debug_panic: args.debug_panic,
            demo: None,
            global: None,
            kubeconfig_ca: Vec::new(),
            crashing: Default::default(),
            acted: Default::default(),
        })
    }

    /// The session on a resolved cluster: its identity, the gated client and the executor.
    fn connected(
        self,
        args: &GlobalArgs,
        target: crate::kube::Target,
    ) -> Result<Session, StartError> {
        let config = &self.config;
        let read_only = args.read_only || config.context_read_only(&target.context);
        let cluster = ClusterInfo {
            context: Some(target.context.clone()),
            server: Some(target.server.clone()),
            namespace: target.namespace.clone(),
            user: target.user.clone(),
            read_only,
            production: config.is_production(&target.context),
        };
        tracing::info!(context = %target.context, server = %target.server, read_only, "cluster resolved");
        let client_error = |reason| StartError::Client {
            context: target.context.clone(),
            reason,
        };
        let exec_client =
            build_executor_client(target.config.clone(), read_only).map_err(client_error)?;
        let client = build_client(target.config.clone(), read_only).map_err(client_error)?;
        let identity = Identity {
            context: target.context.clone(),
            cluster: target.server.clone(),
            kube_user: target.user.clone(),
        };
        let executor = Arc::new(Executor::new(
            exec_client,
            read_only,
            self.journal.clone(),
            identity,
        ));
        Ok(Session {
            cluster,
            client: Some(client),
            executor: Some(executor),
            kubeconfig_ca: kubeconfig_ca(&target.config),
            crashing: Default::default(),
            acted: Default::default(),
            ..self
        })
    }

    /// The same session on another context of the kubeconfig: its own client built by
    /// [`build_client`] (so the read-only gate is per client: `--read-only` and the config's
    /// read-only contexts hold across the switch), its own executor; config and journal kept. etcd
    /// access is not carried over (it belongs to the old cluster).
    pub async fn switch_to(&self, context: &str) -> Result<Session, String> {
        if self.demo.is_some() {
            return Err("the demo cluster has one context".into());
        }
        let global = self
            .global
            .as_ref()
            .ok_or_else(|| "no command line to resolve contexts from".to_string())?;
        let setup = resolve(
            global.kubeconfig.as_deref(),
            Some(context),
            global.namespace.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let KubeSetup::Ready(target) = setup else {
            return Err("no kubeconfig".into());
        };
        let read_only = global.read_only || self.config.context_read_only(&target.context);
        let ca = kubeconfig_ca(&target.config);
        let client = build_client(target.config, read_only)?;
        let identity = Identity {
            context: target.context.clone(),
            cluster: target.server.clone(),
            kube_user: target.user.clone(),
        };
        let executor = Arc::new(Executor::new(
            client.clone(),
            read_only,
            self.journal.clone(),
            identity,
        ));
        Ok(Session {
            config: self.config.clone(),
            cluster: ClusterInfo {
                context: Some(target.context.clone()),
                server: Some(target.server.clone()),
                namespace: target.namespace.clone(),
                user: target.user.clone(),
                read_only,
                production: self.config.is_production(&target.context),
            },
            client: Some(client),
            not_configured: None,
            executor: Some(executor),
            journal: self.journal.clone(),
            log_path: self.log_path.clone(),
            debug_panic: false,
            demo: None,
            etcd: None,
            etcd_exec: match self.exec_asked.contains(&target.context) && !read_only {
                true => {
                    crate::etcd::access::ExecMode::On(crate::etcd::access::ASKED_IN_PANE.into())
                }
                false => crate::etcd::access::ExecMode::Off,
            },
            exec_asked: self.exec_asked.clone(),
            global: Some(global.clone()),
            kubeconfig_ca: ca,
            crashing: Default::default(),
            acted: Default::default(),
        })
    }

    /// The operator said yes to the etcd pane's exec question: exec on for this context, held for
    /// the session. Refused in read-only mode (the key is hidden and refused there already; the
    /// client's gate would refuse the request too).
    pub fn allow_exec(&mut self) -> Result<(), String> {
        use crate::etcd::access::{ASKED_IN_PANE, ExecMode, READ_ONLY_EXEC};
        if self.cluster.read_only {
            return Err(READ_ONLY_EXEC.into());
        }
        let context = self
            .cluster
            .context
            .clone()
            .ok_or("no Kubernetes context: etcdctl in the etcd pods runs through the API")?;
        if matches!(self.etcd_exec, ExecMode::On(_)) {
            return Err(format!(
                "etcdctl in the etcd pods is already on for context {context}"
            ));
        }
        self.exec_asked.insert(context);
        self.etcd_exec = ExecMode::On(ASKED_IN_PANE.into());
        Ok(())
    }

    /// Nothing to read from at all: no Kubernetes and no etcd.
    pub fn nothing_configured(&self) -> bool {
        self.client.is_none() && self.etcd.is_none()
    }

    /// Set the etcd pane's access before the first frame (the report waits for it).
    pub fn configure_model(
        &self,
        model: &mut crate::model::Model,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        if let Some(a) = &self.etcd {
            model.etcd.configure(crate::etcd::info(a), now);
        }
        use crate::etcd::access::ExecMode;
        use crate::model::{Failure, FailureKind, SourceState};
        match &self.etcd_exec {
            ExecMode::Off => {}
            ExecMode::On(from) if self.client.is_some() => {
                model.etcd.exec_state = SourceState::Loading { since: now };
                model.etcd.exec_note = Some(format!("etcdctl in the etcd pods ({from})"));
            }
            ExecMode::On(_) => {}
            ExecMode::Refused(why) => {
                model.etcd.exec_note = Some(why.clone());
                model.etcd.exec_state = SourceState::Failed {
                    failure: Failure {
                        kind: FailureKind::Forbidden,
                        message: why.clone(),
                    },
                    since: now,
                    last_ok: None,
                };
            }
        }
    }
}

/// The cluster to read: the in-process simulator for `--demo`, else the kubeconfig's context.
async fn kube_setup(
    args: &GlobalArgs,
) -> Result<(KubeSetup, Option<crate::sim::SimHandle>), StartError> {
    let Some(scenario) = &args.demo else {
        let setup = resolve(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            args.namespace.as_deref(),
        )
        .await?;
        return Ok((setup, None));
    };
    let handle = crate::sim::start(crate::sim::SimOptions {
        scenario: scenario.clone(),
        ..crate::sim::SimOptions::default()
    })
    .await?;
    let kc =
        kube::config::Kubeconfig::from_yaml(&handle.kubeconfig_yaml("admin")).map_err(|e| {
            StartError::Client {
                context: "demo".into(),
                reason: crate::text::error_chain(&e),
            }
        })?;
    let setup =
        crate::kube::context::from_kubeconfig(kc, Vec::new(), None, args.namespace.as_deref())
            .await?;
    Ok((setup, Some(handle)))
}

/// etcd access for the context (`session::etcd_access`), and whether etcd is read through exec.
fn etcd_for(
    args: &GlobalArgs,
    config: &mut Config,
    setup: &KubeSetup,
) -> Result<
    (
        Option<crate::etcd::access::EtcdAccess>,
        crate::etcd::access::ExecMode,
    ),
    StartError,
> {
    let (context, extension, kc_dir) = match setup {
        KubeSetup::Ready(t) => (
            Some(t.context.clone()),
            t.etcd_extension.clone(),
            t.sources
                .first()
                .and_then(|p| p.parent())
                .map(|p| p.to_path_buf()),
        ),
        KubeSetup::NotConfigured { .. } => (None, None, None),
    };
    let etcd = etcd_access::from_inputs(
        args,
        config,
        context.as_deref(),
        extension.as_ref(),
        kc_dir.as_deref(),
    );
    let read_only = args.read_only
        || context
            .as_deref()
            .map_or(config.read_only, |c| config.context_read_only(c));
    let etcd_exec = etcd_access::exec_mode(
        args.etcd_via,
        context
            .as_deref()
            .and_then(|c| config.contexts.get(c))
            .and_then(|c| c.etcd.as_ref()),
        extension.as_ref(),
        read_only,
    )
    .map_err(StartError::Refused)?;
    Ok((etcd, etcd_exec))
}

/// The executor's client: no automatic retries, so a 429 (a PodDisruptionBudget refusing an
/// eviction, or priority-and-fairness throttling) is an answer the operator sees within seconds
/// instead of kube's server-aware retry loop (up to 15 attempts, minutes of backoff).
pub fn build_executor_client(mut config: kube::Config, read_only: bool) -> Result<Client, String> {
    config.default_retry = false;
    build_client(config, read_only)
}

/// The kube client with the read-only gate as the outermost layer: in read-only mode it refuses every
/// request outside the allow-list before anything is sent.
pub fn build_client(config: kube::Config, read_only: bool) -> Result<Client, String> {
    let builder = ClientBuilder::try_from(config).map_err(|e| {
        let chain = crate::text::error_chain(&e);
        chain
            .strip_prefix("Failed to infer provided configuration: ")
            .map(str::to_string)
            .unwrap_or(chain)
    })?;
    Ok(builder.with_layer(&GateLayer { read_only }).build())
}
