//! Namespaces: a full-object watch (`spec.finalizers` and `status` are not in metadata), reduced to
//! `NsRow` as objects arrive.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::runtime::watcher;

use super::{SourceCtx, run_watch};
use crate::model::SourceId;
use crate::model::namespaces::NsRow;
use crate::msg::Msg;

pub async fn run(ctx: SourceCtx) {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    run_watch(
        api,
        watcher::Config::default().page_size(500),
        SourceId::Namespaces,
        ctx.tx.clone(),
        row,
        |ns: &Namespace| ns.metadata.name.clone().unwrap_or_default(),
        Msg::Namespaces,
    )
    .await;
}

pub fn row(ns: Namespace) -> NsRow {
    let meta = ns.metadata;
    NsRow {
        name: meta.name.unwrap_or_default(),
        phase: ns
            .status
            .and_then(|s| s.phase)
            .unwrap_or_else(|| "Active".into()),
        created: meta
            .creation_timestamp
            .as_ref()
            .and_then(crate::kube::to_chrono),
        deleting_since: meta
            .deletion_timestamp
            .as_ref()
            .and_then(crate::kube::to_chrono),
        spec_finalizers: ns.spec.and_then(|s| s.finalizers).unwrap_or_default(),
        meta_finalizers: meta.finalizers.unwrap_or_default(),
    }
}
