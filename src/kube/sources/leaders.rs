//! Leases: every `coordination.k8s.io/v1` Lease (kube-system's kube-scheduler,
//! kube-controller-manager, cloud-controller-manager, RKE2's, and Rancher's cattle leases wherever
//! they live), cluster-wide whatever `-n` says: leaders are cluster state. The kubelets' heartbeats
//! in `kube-node-lease` come with them (one watch, not two): the Nodes pane and `node-notready`
//! read their renew age; the Leaders pane and its rules leave them out (`LeaseRow::is_election`),
//! and a renewal of one changes nothing on screen (`LeadersModel::apply`).
//! Older clusters (RKE1) record the leader in a `control-plane.alpha.kubernetes.io/leader`
//! annotation instead: [`annotation_row`] reads it (the source lists kube-system Endpoints once at
//! start for it).

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Endpoints;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::watcher;
use serde_json::Value;

use super::{SourceCtx, run_watch};
use crate::model::leaders::{LeaderSource, LeaseRow};
use crate::model::{Delta, SourceId};
use crate::msg::Msg;

pub const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

pub async fn run(ctx: SourceCtx) {
    // the annotation fallback first: rows it yields join the lease rows (a lease with the same name
    // replaces them when the watch lists it)
    let ep: Api<Endpoints> = Api::namespaced(ctx.client.clone(), "kube-system");
    if let Ok(Ok(list)) = tokio::time::timeout(
        ctx.request_timeout,
        ep.list(&ListParams::default().match_any()),
    )
    .await
    {
        for e in list.items {
            let ns = e.metadata.namespace.clone().unwrap_or_default();
            let name = e.metadata.name.clone().unwrap_or_default();
            if let Some(text) = e
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(LEADER_ANNOTATION))
                && let Some(row) = annotation_row(&ns, &name, text)
                && ctx.tx.send(Msg::Leases(Delta::Apply(row))).await.is_err()
            {
                return;
            }
        }
    }
    let api: Api<Lease> = Api::all(ctx.client.clone());
    run_watch(
        api,
        super::from_cache(watcher::Config::default()),
        SourceId::Leases,
        ctx.tx.clone(),
        row,
        |l: &Lease| {
            format!(
                "{}/{}",
                l.metadata.namespace.as_deref().unwrap_or_default(),
                l.metadata.name.as_deref().unwrap_or_default()
            )
        },
        Msg::Leases,
    )
    .await;
}

pub fn row(l: Lease) -> LeaseRow {
    let spec = l.spec.unwrap_or_default();
    LeaseRow {
        namespace: l.metadata.namespace.unwrap_or_default(),
        name: l.metadata.name.unwrap_or_default(),
        holder: spec.holder_identity.unwrap_or_default(),
        duration_s: spec.lease_duration_seconds.map(i64::from),
        acquire: spec.acquire_time.as_ref().and_then(micro),
        renew: spec.renew_time.as_ref().and_then(micro),
        transitions: spec.lease_transitions.map(i64::from),
        source: LeaderSource::Lease,
    }
}

fn micro(
    t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.0.as_second(), t.0.subsec_nanosecond().max(0) as u32)
}

/// The leader election record of the annotation: `{"holderIdentity", "leaseDurationSeconds",
/// "acquireTime", "renewTime", "leaderTransitions"}`.
pub fn annotation_row(namespace: &str, name: &str, text: &str) -> Option<LeaseRow> {
    let v: Value = serde_json::from_str(text).ok()?;
    let time = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    Some(LeaseRow {
        namespace: namespace.to_string(),
        name: name.to_string(),
        holder: v
            .get("holderIdentity")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        duration_s: v.get("leaseDurationSeconds").and_then(Value::as_i64),
        acquire: time("acquireTime"),
        renew: time("renewTime"),
        transitions: v.get("leaderTransitions").and_then(Value::as_i64),
        source: LeaderSource::Annotation,
    })
}
