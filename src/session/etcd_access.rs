//! etcd access resolved for a session (CONTRACTS §3): the layers of `etcd::access` read from the
//! command line, the environment, the config file, the kubeconfig extension and node-local
//! discovery, first layer first.

use std::path::PathBuf;

use crate::cli::{EtcdVia, GlobalArgs};
use crate::config::Config;
use crate::etcd::access::{
    EtcdAccess, EtcdSettings, ExecMode, Layer, READ_ONLY_EXEC, discover, env_layer,
    extension_layer, resolve, split_endpoints,
};

/// etcd access from, in order: flags, `ETCDCTL_*`, `[contexts.NAME.etcd]`, the kubeconfig extension
/// `ktriage/etcd` (relative paths resolved against the kubeconfig's directory, as kubectl does for
/// its certificate paths), discovery under `KTRIAGE_DISCOVERY_ROOT` (default `/`). A malformed
/// extension is a warning shown at start, not a failure.
pub fn from_inputs(
    args: &GlobalArgs,
    config: &mut Config,
    context: Option<&str>,
    extension: Option<&serde_json::Value>,
    kubeconfig_dir: Option<&std::path::Path>,
) -> Option<EtcdAccess> {
    let mut layers = vec![Layer {
        origin: "flags (--etcd-*)".into(),
        settings: EtcdSettings {
            endpoints: args.etcd_endpoints.as_deref().map(split_endpoints),
            cacert: args.etcd_cacert.clone(),
            cert: args.etcd_cert.clone(),
            key: args.etcd_key.clone(),
            peer_cacert: args.etcd_peer_cacert.clone(),
            peer_cert: args.etcd_peer_cert.clone(),
            peer_key: args.etcd_peer_key.clone(),
            via: None,
        },
    }];
    layers.push(env_layer(|k| std::env::var(k).ok()));
    if let Some(ctx) = context
        && let Some(e) = config.contexts.get(ctx).and_then(|c| c.etcd.clone())
    {
        layers.push(Layer {
            origin: format!("config [contexts.{ctx}.etcd]"),
            settings: e,
        });
    }
    if let Some(ext) = extension {
        match extension_layer(ext) {
            Ok(mut l) => {
                if let Some(dir) = kubeconfig_dir {
                    l.settings.relative_to(dir);
                }
                layers.push(l)
            }
            Err(e) => config.warnings.push(e),
        }
    }
    layers.extend(discover(&discovery_root()));
    resolve(&layers)
}

/// Where node-local discovery looks (`/`; `KTRIAGE_DISCOVERY_ROOT` for tests).
pub fn discovery_root() -> PathBuf {
    std::env::var_os("KTRIAGE_DISCOVERY_ROOT")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Exec from, in order: `--etcd-via`, `via` in `[contexts.NAME.etcd]`, `via` in the kubeconfig
/// extension. `Err` for `--etcd-via exec` with `--read-only` (a refusal the operator asked for by
/// flag ends the run); from config or kubeconfig it is `Refused` and shown in the pane.
pub fn exec_mode(
    flag: Option<EtcdVia>,
    config: Option<&EtcdSettings>,
    extension: Option<&serde_json::Value>,
    read_only: bool,
) -> Result<ExecMode, String> {
    let asked = match flag {
        Some(EtcdVia::Exec) if read_only => {
            return Err(format!(
                "--etcd-via exec with --read-only: {READ_ONLY_EXEC}"
            ));
        }
        Some(EtcdVia::Exec) => Some("--etcd-via exec".to_string()),
        Some(EtcdVia::Direct) => None,
        None => {
            let ext = extension
                .and_then(|e| e.get("via"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            match config.and_then(|c| c.via.clone()) {
                Some(v) if v == "exec" => Some("config [contexts.NAME.etcd] via = \"exec\"".into()),
                Some(_) => None,
                None if ext.as_deref() == Some("exec") => {
                    Some("kubeconfig extension ktriage/etcd via: exec".into())
                }
                None => None,
            }
        }
    };
    Ok(match asked {
        None => ExecMode::Off,
        Some(from) if read_only => {
            ExecMode::Refused(format!("{READ_ONLY_EXEC} (asked for by {from})"))
        }
        Some(from) => ExecMode::On(from),
    })
}
