//! Where ktriage finds etcd: endpoints and certificates, per context, in this order (CONTRACTS §3):
//! flags, `ETCDCTL_*` variables, the context's `[contexts.NAME.etcd]` in the config file, the
//! kubeconfig context extension `ktriage/etcd`, and discovery on a control-plane node (RKE2, k3s,
//! RKE1 certificate paths). Each field comes from the first layer that sets it; the pane shows which.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::tls::TlsFiles;

/// One layer's settings; also the `[contexts.NAME.etcd]` table and the kubeconfig extension's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdSettings {
    #[serde(default, deserialize_with = "de_endpoints")]
    pub endpoints: Option<Vec<String>>,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub peer_cacert: Option<PathBuf>,
    pub peer_cert: Option<PathBuf>,
    pub peer_key: Option<PathBuf>,
    /// `exec`: also run `etcdctl` inside the etcd pods through pods/exec (opt-in per context).
    pub via: Option<String>,
}

impl EtcdSettings {
    /// Resolve relative certificate paths against `dir` (the kubeconfig's directory).
    pub fn relative_to(&mut self, dir: &Path) {
        for p in [
            &mut self.cacert,
            &mut self.cert,
            &mut self.key,
            &mut self.peer_cacert,
            &mut self.peer_cert,
            &mut self.peer_key,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
    }
}

/// Endpoints as a list or one comma-separated string (like `ETCDCTL_ENDPOINTS`).
fn de_endpoints<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum E {
        One(String),
        Many(Vec<String>),
    }
    Ok(Option::<E>::deserialize(d)?.map(|e| match e {
        E::One(s) => split_endpoints(&s),
        E::Many(v) => v
            .iter()
            .flat_map(|s| split_endpoints(s))
            .collect::<Vec<_>>(),
    }))
}

pub fn split_endpoints(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// A named layer: `--etcd-endpoints`, `ETCDCTL_*`, `config [contexts.prod.etcd]`, …
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub origin: String,
    pub settings: EtcdSettings,
}

/// The resolved access, with where each part came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdAccess {
    pub endpoints: Vec<String>,
    pub client: TlsFiles,
    pub peer: TlsFiles,
    /// e.g. `endpoints: --etcd-endpoints; client certificate: ETCDCTL_CERT/ETCDCTL_KEY`.
    pub origin: String,
}

/// What the pane says when no layer gives endpoints.
pub const NEEDS: &str = "no etcd endpoints: give --etcd-endpoints URL[,URL…] (TLS: --etcd-cacert, \
--etcd-cert, --etcd-key), set ETCDCTL_ENDPOINTS, add [contexts.NAME.etcd] to the config file or the \
`ktriage/etcd` extension to the kubeconfig context, or run ktriage on a control-plane node";

/// Merge layers field by field; `None` when no layer names an endpoint.
pub fn resolve(layers: &[Layer]) -> Option<EtcdAccess> {
    let pick = |f: &dyn Fn(&EtcdSettings) -> bool| layers.iter().find(|l| f(&l.settings));
    let ep_layer = pick(&|s| s.endpoints.as_ref().is_some_and(|e| !e.is_empty()))?;
    let mut origin = vec![format!("endpoints: {}", ep_layer.origin)];
    let mut group =
        |name: &str, get: &dyn Fn(&EtcdSettings) -> [&Option<PathBuf>; 3]| -> TlsFiles {
            let mut files = TlsFiles::default();
            let mut from: Vec<&str> = Vec::new();
            for (i, slot) in [&mut files.cacert, &mut files.cert, &mut files.key]
                .into_iter()
                .enumerate()
            {
                if let Some(l) = layers.iter().find(|l| get(&l.settings)[i].is_some()) {
                    *slot = get(&l.settings)[i].clone();
                    if !from.contains(&l.origin.as_str()) {
                        from.push(l.origin.as_str());
                    }
                }
            }
            if !from.is_empty() {
                origin.push(format!("{name}: {}", from.join(", ")));
            }
            files
        };
    let client = group("client TLS", &|s| [&s.cacert, &s.cert, &s.key]);
    let peer = group("peer TLS", &|s| [&s.peer_cacert, &s.peer_cert, &s.peer_key]);
    let tls = !client.is_empty();
    let endpoints = ep_layer
        .settings
        .endpoints
        .iter()
        .flatten()
        .map(|e| {
            if e.contains("://") {
                e.clone()
            } else if tls {
                format!("https://{e}")
            } else {
                format!("http://{e}")
            }
        })
        .collect();
    Some(EtcdAccess {
        endpoints,
        client,
        peer,
        origin: origin.join("; "),
    })
}

/// The `ETCDCTL_*` layer from an environment lookup.
pub fn env_layer(get: impl Fn(&str) -> Option<String>) -> Layer {
    let path = |k: &str| get(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    Layer {
        origin: "ETCDCTL_* environment".into(),
        settings: EtcdSettings {
            endpoints: get("ETCDCTL_ENDPOINTS").map(|s| split_endpoints(&s)),
            cacert: path("ETCDCTL_CACERT"),
            cert: path("ETCDCTL_CERT"),
            key: path("ETCDCTL_KEY"),
            ..EtcdSettings::default()
        },
    }
}

/// The kubeconfig context extension `ktriage/etcd` (`{endpoints, cacert, cert, key}`).
pub fn extension_layer(ext: &serde_json::Value) -> Result<Layer, String> {
    let settings: EtcdSettings = serde_json::from_value(ext.clone())
        .map_err(|e| format!("kubeconfig extension ktriage/etcd: {e}"))?;
    Ok(Layer {
        origin: "kubeconfig extension ktriage/etcd".into(),
        settings,
    })
}

/// Certificates where RKE2, k3s and RKE1 put them on a control-plane node, under `root` (`/` in
/// production; tests point it at a temporary directory with `KTRIAGE_DISCOVERY_ROOT`).
pub fn discover(root: &Path) -> Option<Layer> {
    let rel = |p: &str| root.join(p.trim_start_matches('/'));
    for (dist, dir) in [
        ("RKE2", "/var/lib/rancher/rke2/server/tls/etcd"),
        ("k3s", "/var/lib/rancher/k3s/server/tls/etcd"),
    ] {
        let d = rel(dir);
        let cert = d.join("server-client.crt");
        if cert.is_file() {
            let opt = |name: &str| Some(d.join(name)).filter(|p| p.is_file());
            return Some(Layer {
                origin: format!("discovered {dist} certificates in {dir}"),
                settings: EtcdSettings {
                    endpoints: Some(vec!["https://127.0.0.1:2379".into()]),
                    cacert: opt("server-ca.crt"),
                    cert: Some(cert),
                    key: opt("server-client.key"),
                    peer_cacert: opt("peer-ca.crt"),
                    peer_cert: opt("peer-server-client.crt"),
                    peer_key: opt("peer-server-client.key"),
                    via: None,
                },
            });
        }
    }
    let ssl = rel("/etc/kubernetes/ssl");
    let mut certs: Vec<PathBuf> = std::fs::read_dir(&ssl)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kube-etcd-") && !n.ends_with("-key.pem"))
                && p.extension().is_some_and(|x| x == "pem")
        })
        .collect();
    certs.sort();
    let cert = certs.into_iter().next()?;
    let key = cert.with_file_name(format!(
        "{}-key.pem",
        cert.file_stem()?.to_str().unwrap_or_default()
    ));
    let ca = ssl.join("kube-ca.pem");
    let ca = ca.is_file().then_some(ca);
    Some(Layer {
        origin: "discovered RKE1 certificates in /etc/kubernetes/ssl".into(),
        settings: EtcdSettings {
            endpoints: Some(vec!["https://127.0.0.1:2379".into()]),
            cacert: ca.clone(),
            cert: Some(cert.clone()),
            key: Some(key.clone()),
            peer_cacert: ca,
            peer_cert: Some(cert),
            peer_key: Some(key),
            via: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(origin: &str, s: EtcdSettings) -> Layer {
        Layer {
            origin: origin.into(),
            settings: s,
        }
    }

    #[test]
    fn first_layer_wins_field_by_field() {
        let flags = layer(
            "--etcd-endpoints",
            EtcdSettings {
                endpoints: Some(vec!["10.0.0.1:2379".into()]),
                ..Default::default()
            },
        );
        let env = env_layer(|k| match k {
            "ETCDCTL_ENDPOINTS" => Some("https://other:2379".into()),
            "ETCDCTL_CACERT" => Some("/env/ca.crt".into()),
            "ETCDCTL_CERT" => Some("/env/c.crt".into()),
            "ETCDCTL_KEY" => Some("/env/c.key".into()),
            _ => None,
        });
        let a = resolve(&[flags, env]).unwrap();
        assert_eq!(a.endpoints, vec!["https://10.0.0.1:2379"]);
        assert_eq!(a.client.cert, Some(PathBuf::from("/env/c.crt")));
        assert!(a.peer.is_empty());
        assert_eq!(
            a.origin,
            "endpoints: --etcd-endpoints; client TLS: ETCDCTL_* environment"
        );
        assert_eq!(resolve(&[env_layer(|_| None)]), None);
    }

    #[test]
    fn kubeconfig_extension_and_config_shape() {
        let l = extension_layer(&serde_json::json!({
            "endpoints": ["https://127.0.0.1:2379"], "cacert": "/a", "cert": "/b", "key": "/c"
        }))
        .unwrap();
        assert_eq!(l.settings.key, Some(PathBuf::from("/c")));
        let l =
            extension_layer(&serde_json::json!({"endpoints": "http://a:1, http://b:2"})).unwrap();
        assert_eq!(l.settings.endpoints.unwrap().len(), 2);
        assert!(extension_layer(&serde_json::json!({"endpoint": "x"})).is_err());
        let mut l =
            extension_layer(&serde_json::json!({"cacert": "pki/ca.crt", "cert": "/abs.crt"}))
                .unwrap();
        l.settings.relative_to(Path::new("/home/u/.kube"));
        assert_eq!(
            l.settings.cacert,
            Some(PathBuf::from("/home/u/.kube/pki/ca.crt"))
        );
        assert_eq!(l.settings.cert, Some(PathBuf::from("/abs.crt")));
    }

    #[test]
    fn discovers_rke2_k3s_and_rke1() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(discover(dir.path()), None);
        let ssl = dir.path().join("etc/kubernetes/ssl");
        std::fs::create_dir_all(&ssl).unwrap();
        for f in [
            "kube-ca.pem",
            "kube-etcd-10-0-0-1.pem",
            "kube-etcd-10-0-0-1-key.pem",
        ] {
            std::fs::write(ssl.join(f), "x").unwrap();
        }
        let l = discover(dir.path()).unwrap();
        assert!(l.origin.contains("RKE1"));
        assert_eq!(l.settings.key, Some(ssl.join("kube-etcd-10-0-0-1-key.pem")));
        let rke2 = dir.path().join("var/lib/rancher/rke2/server/tls/etcd");
        std::fs::create_dir_all(&rke2).unwrap();
        for f in [
            "server-client.crt",
            "server-client.key",
            "server-ca.crt",
            "peer-ca.crt",
            "peer-server-client.crt",
            "peer-server-client.key",
        ] {
            std::fs::write(rke2.join(f), "x").unwrap();
        }
        let l = discover(dir.path()).unwrap();
        assert!(l.origin.contains("RKE2"), "{}", l.origin);
        assert_eq!(l.settings.peer_cacert, Some(rke2.join("peer-ca.crt")));
        let a = resolve(&[l]).unwrap();
        assert_eq!(a.endpoints, vec!["https://127.0.0.1:2379"]);
        assert!(a.origin.contains("peer TLS: discovered RKE2"));
    }
}

/// Whether etcdctl runs inside the etcd pods, and why (or why not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecMode {
    Off,
    /// On; where it was asked for.
    On(String),
    /// Asked for by the config or the kubeconfig, refused: read-only mode.
    Refused(String),
}

/// The message for `--read-only` with exec asked for.
pub const READ_ONLY_EXEC: &str = "read-only mode: etcdctl inside the etcd pods needs pods/exec, which \
is a write; refused before any request was sent (the etcd pods' logs still feed the etcd rules)";

/// Where exec came from when the operator said yes to the etcd pane's question.
pub const ASKED_IN_PANE: &str = "asked in the etcd pane; held for this context until ktriage exits";
