//! Where ktriage may read Secrets: the `ca.crt` that service-account token Secrets carry, compared with
//! the cluster's current CA bundle (the `kube-root-ca.crt` ConfigMap in `kube-system`). Only equality
//! leaves this module (the names of the Secrets whose `ca.crt` differs); no Secret content is kept or shown. A Forbidden answer (the auditor
//! role) is silent: the `kube-ca-mismatch` rule then works from pods, logs and events alone.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::ListParams;

use super::SourceCtx;
use crate::msg::Msg;

const EVERY: Duration = Duration::from_secs(60);
const TOKEN_TYPE: &str = "kubernetes.io/service-account-token";

pub use crate::model::top::CaBundles;

/// Compare each token Secret's `ca.crt` with `root` (whitespace-insensitive).
pub fn compare(root: &str, secrets: &[Secret]) -> CaBundles {
    let norm = |s: &[u8]| -> Vec<u8> {
        s.iter()
            .copied()
            .filter(|c| !c.is_ascii_whitespace())
            .collect()
    };
    let want = norm(root.as_bytes());
    let mut out = CaBundles::default();
    for s in secrets
        .iter()
        .filter(|s| s.type_.as_deref() == Some(TOKEN_TYPE))
    {
        let Some(ca) = s.data.as_ref().and_then(|d| d.get("ca.crt")) else {
            continue;
        };
        out.compared += 1;
        if norm(&ca.0) != want {
            out.differing.push(format!(
                "{}/{}",
                s.metadata.namespace.as_deref().unwrap_or(""),
                s.metadata.name.as_deref().unwrap_or("")
            ));
        }
    }
    out
}

pub async fn run(ctx: SourceCtx) {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), "kube-system");
    loop {
        let root = tokio::time::timeout(ctx.request_timeout, cms.get_opt("kube-root-ca.crt")).await;
        if let Ok(Ok(Some(cm))) = root
            && let Some(root) = cm.data.as_ref().and_then(|d| d.get("ca.crt")).cloned()
        {
            let mut secrets = Vec::new();
            for ns in super::crash_logs::NAMESPACES {
                let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
                let lp = ListParams::default();
                if let Ok(Ok(list)) = tokio::time::timeout(ctx.request_timeout, api.list(&lp)).await
                {
                    secrets.extend(list.items);
                }
            }
            let result = compare(&root, &secrets);
            drop(secrets);
            if ctx.tx.send(Msg::CaBundles(result)).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}
