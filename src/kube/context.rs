//! Cluster access resolved like kubectl: `--kubeconfig`, else `KUBECONFIG` (several files merged,
//! missing ones skipped), else `~/.kube/config`, else in-cluster; `--context`; `-n`.

use std::path::{Path, PathBuf};

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::text::error_chain;

/// Why ktriage cannot start against a cluster (exit code 2, printed before the terminal is touched).
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("cannot read kubeconfig {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("context {context:?} not found in the kubeconfig ({available})")]
    UnknownContext { context: String, available: String },
    #[error("the kubeconfig has no current-context; pick one with --context ({available})")]
    NoCurrentContext { available: String },
    #[error("kubeconfig context {context:?}: {reason}")]
    Invalid { context: String, reason: String },
    #[error("in-cluster configuration: {0}")]
    InCluster(String),
}

/// What the resolution found.
pub enum KubeSetup {
    /// No kubeconfig exists and none was named: the Kubernetes source is "not configured".
    NotConfigured {
        why: String,
    },
    Ready(Box<Target>),
}

/// A resolved cluster: the client configuration and what the status bar and journal say about it.
pub struct Target {
    pub config: kube::Config,
    pub context: String,
    pub server: String,
    pub user: Option<String>,
    /// `-n`: scope of namespaced panes (`None`: all namespaces).
    pub namespace: Option<String>,
    /// The files the kubeconfig came from (for messages).
    pub sources: Vec<PathBuf>,
    /// The context's `ktriage/etcd` extension (`{endpoints, cacert, cert, key}`), if any.
    pub etcd_extension: Option<serde_json::Value>,
}

/// Resolve cluster access from flags and environment.
pub async fn resolve(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespace: Option<&str>,
) -> Result<KubeSetup, KubeError> {
    let (kc, sources) = match kubeconfig {
        Some(path) => (read_one(path)?, vec![path.to_path_buf()]),
        None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(list) => {
                let mut merged: Option<Kubeconfig> = None;
                let mut used = Vec::new();
                for path in std::env::split_paths(&list) {
                    // kubectl skips files named in KUBECONFIG that do not exist
                    if !path.exists() {
                        continue;
                    }
                    let next = read_one(&path)?;
                    merged = Some(match merged {
                        None => next,
                        Some(m) => m.merge(next).map_err(|e| KubeError::Unreadable {
                            path: path.clone(),
                            reason: e.to_string(),
                        })?,
                    });
                    used.push(path);
                }
                match merged {
                    Some(m) => (m, used),
                    None => {
                        return Ok(KubeSetup::NotConfigured {
                            why: format!(
                                "none of the files in KUBECONFIG exist ({})",
                                list.to_string_lossy()
                            ),
                        });
                    }
                }
            }
            None => {
                let default =
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube").join("config"));
                match default.filter(|p| p.exists()) {
                    Some(path) => (read_one(&path)?, vec![path]),
                    None => return in_cluster(namespace),
                }
            }
        },
    };
    from_kubeconfig(kc, sources, context, namespace).await
}

/// Resolve a context of an already-loaded kubeconfig (a file's, or the demo simulator's).
pub async fn from_kubeconfig(
    mut kc: Kubeconfig,
    sources: Vec<PathBuf>,
    context: Option<&str>,
    namespace: Option<&str>,
) -> Result<KubeSetup, KubeError> {
    let available = || {
        let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        if names.is_empty() {
            "it defines no contexts".to_string()
        } else {
            format!("available: {}", names.join(", "))
        }
    };
    let ctx_name = match context {
        Some(c) => {
            if !kc.contexts.iter().any(|nc| nc.name == c) {
                return Err(KubeError::UnknownContext {
                    context: c.to_string(),
                    available: available(),
                });
            }
            c.to_string()
        }
        None => match kc.current_context.clone().filter(|c| !c.is_empty()) {
            Some(c) => {
                if !kc.contexts.iter().any(|nc| nc.name == c) {
                    return Err(KubeError::UnknownContext {
                        context: c,
                        available: available(),
                    });
                }
                c
            }
            None => {
                return Err(KubeError::NoCurrentContext {
                    available: available(),
                });
            }
        },
    };
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == ctx_name)
        .and_then(|c| c.context.clone());
    let user = ctx.as_ref().and_then(|c| c.user.clone());
    let etcd_extension = ctx
        .as_ref()
        .and_then(|c| c.extensions.as_ref())
        .and_then(|x| x.iter().find(|e| e.name == "ktriage/etcd"))
        .map(|e| e.extension.clone());
    let cluster_name = ctx.as_ref().map(|c| c.cluster.clone());
    let server = kc
        .clusters
        .iter()
        .find(|c| Some(&c.name) == cluster_name.as_ref())
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone());
    if let Some(c) = &cluster_name {
        crate::kube::credentials::check_cluster_ca(&kc, c).map_err(|reason| {
            KubeError::Invalid {
                context: ctx_name.clone(),
                reason,
            }
        })?;
    }
    if let Some(u) = &user {
        crate::kube::credentials::normalize_token_file(&mut kc, u);
        crate::kube::credentials::check_client_certificate(&kc, u, chrono::Utc::now()).map_err(
            |reason| KubeError::Invalid {
                context: ctx_name.clone(),
                reason,
            },
        )?;
    }
    let options = KubeConfigOptions {
        context: Some(ctx_name.clone()),
        cluster: None,
        user: None,
    };
    let mut config = kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| KubeError::Invalid {
            context: ctx_name.clone(),
            reason: error_chain(&e),
        })?;
    if let Some(ns) = namespace {
        config.default_namespace = ns.to_string();
    }
    Ok(KubeSetup::Ready(Box::new(Target {
        server: server.unwrap_or_else(|| config.cluster_url.to_string()),
        config,
        context: ctx_name,
        user,
        namespace: namespace.map(str::to_string),
        sources,
        etcd_extension,
    })))
}

fn read_one(path: &Path) -> Result<Kubeconfig, KubeError> {
    let text = std::fs::read_to_string(path).map_err(|e| KubeError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Kubeconfig::from_yaml(&text).map_err(|e| KubeError::Unreadable {
        path: path.to_path_buf(),
        reason: error_chain(&e),
    })
}

fn in_cluster(namespace: Option<&str>) -> Result<KubeSetup, KubeError> {
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        return Ok(KubeSetup::NotConfigured {
            why: "no kubeconfig found (--kubeconfig, KUBECONFIG or ~/.kube/config) and not running in a cluster"
                .into(),
        });
    }
    let mut config =
        kube::Config::incluster().map_err(|e| KubeError::InCluster(error_chain(&e)))?;
    if let Some(ns) = namespace {
        config.default_namespace = ns.to_string();
    }
    Ok(KubeSetup::Ready(Box::new(Target {
        server: config.cluster_url.to_string(),
        config,
        context: "in-cluster".into(),
        user: Some("service account".into()),
        namespace: namespace.map(str::to_string),
        sources: Vec::new(),
        etcd_extension: None,
    })))
}
