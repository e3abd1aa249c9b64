//! `kube-root-ca.crt` in every namespace (or the `-n` namespace): the CA bundle the controller-manager
//! publishes for pods. Watched with a `metadata.name` field selector, so no other ConfigMap is read
//! (and an auditor role may grant `configmaps` for this name only). Equal bundles share one parsed
//! [`CaBundle`]: 2,000 namespaces holding the same CA cost one copy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::watcher;

use super::{SourceCtx, run_watch};
use crate::certs::chain::CaBundle;
use crate::model::SourceId;
use crate::model::root_ca::RootCaRow;
use crate::msg::Msg;

/// The ConfigMap's name (a Kubernetes contract since 1.20) and the key holding the PEM bundle.
pub const NAME: &str = "kube-root-ca.crt";
const KEY: &str = "ca.crt";
/// Distinct bundles remembered for sharing; beyond this the cache starts over (bundles are few).
const CACHE_CAP: usize = 64;

/// Parsed bundles by their PEM text, so equal bundles are parsed once and shared.
#[derive(Debug, Default)]
pub struct Bundles(Mutex<HashMap<String, Arc<CaBundle>>>);

impl Bundles {
    /// The row of one `kube-root-ca.crt` ConfigMap (an empty bundle when it has no `ca.crt`).
    pub fn row(&self, cm: &ConfigMap) -> RootCaRow {
        let pem = cm
            .data
            .as_ref()
            .and_then(|d| d.get(KEY))
            .map(String::as_str)
            .unwrap_or("");
        let mut cache = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bundle = match cache.get(pem) {
            Some(b) => b.clone(),
            None => {
                if cache.len() >= CACHE_CAP {
                    cache.clear();
                }
                let b = Arc::new(CaBundle::from_pem(pem));
                cache.insert(pem.to_string(), b.clone());
                b
            }
        };
        RootCaRow {
            namespace: cm.metadata.namespace.clone().unwrap_or_default(),
            bundle,
        }
    }
}

pub async fn run(ctx: SourceCtx) {
    let api: Api<ConfigMap> = match &ctx.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    let config =
        super::from_cache(watcher::Config::default().fields(&format!("metadata.name={NAME}")));
    let bundles = Bundles::default();
    run_watch(
        api,
        config,
        SourceId::RootCa,
        ctx.tx,
        move |cm| bundles.row(&cm),
        |cm: &ConfigMap| cm.metadata.namespace.clone().unwrap_or_default(),
        Msg::RootCa,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(ns: &str, pem: &str) -> ConfigMap {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": NAME, "namespace": ns},
            "data": {"ca.crt": pem}
        }))
        .unwrap()
    }

    #[test]
    fn equal_bundles_are_parsed_once_and_shared() {
        let b = Bundles::default();
        let a = b.row(&cm("a", "x"));
        let c = b.row(&cm("c", "x"));
        let d = b.row(&cm("d", "y"));
        assert!(Arc::ptr_eq(&a.bundle, &c.bundle));
        assert!(!Arc::ptr_eq(&a.bundle, &d.bundle));
        assert_eq!((a.namespace.as_str(), d.namespace.as_str()), ("a", "d"));
        let none: ConfigMap = serde_json::from_value(
            serde_json::json!({"metadata": {"name": NAME, "namespace": "e"}}),
        )
        .unwrap();
        assert!(b.row(&none).bundle.certs.is_empty());
    }
}
