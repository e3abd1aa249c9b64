//! etcd access resolved for a session (CONTRACTS §3): the layers of `etcd::access` read from the
//! command line, the environment, the config file, the kubeconfig extension and node-local
//! discovery, first layer first.

use std::path::PathBuf;

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::etcd::access::{
    EtcdAccess, EtcdSettings, Layer, discover, env_layer, extension_layer, resolve, split_endpoints,
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
