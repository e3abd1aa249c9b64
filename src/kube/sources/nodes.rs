//! Nodes: a shared watch reduced to conditions, allocatable and the Ready transition time.

use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::runtime::watcher;

use super::{SourceCtx, run_watch};
use crate::model::SourceId;
use crate::model::nodes::NodeRow;
use crate::model::quantity;
use crate::msg::Msg;

pub async fn run(ctx: SourceCtx) {
    let api: Api<Node> = Api::all(ctx.client.clone());
    run_watch(
        api,
        watcher::Config::default().page_size(500),
        SourceId::Nodes,
        ctx.tx.clone(),
        row,
        |n: &Node| n.metadata.name.clone().unwrap_or_default(),
        Msg::Nodes,
    )
    .await;
}

pub fn row(n: Node) -> NodeRow {
    let name = n.metadata.name.unwrap_or_default();
    let status = n.status.unwrap_or_default();
    let mut ready = None;
    let mut ready_since = None;
    let mut pressure = Vec::new();
    let mut pressure_since = Vec::new();
    for c in status.conditions.unwrap_or_default() {
        let since = c
            .last_transition_time
            .as_ref()
            .and_then(crate::kube::to_chrono);
        if c.type_ == "Ready" {
            ready = Some(c.status == "True");
            ready_since = since;
        } else if c.status == "True" {
            pressure_since.push((c.type_.clone(), since));
            pressure.push(c.type_);
        }
    }
    let alloc = status.allocatable.unwrap_or_default();
    NodeRow {
        name,
        ready,
        pressure,
        pressure_since,
        ready_since,
        alloc_cpu_m: alloc.get("cpu").and_then(|q| quantity::cpu_milli(&q.0)),
        alloc_mem_b: alloc.get("memory").and_then(|q| quantity::bytes(&q.0)),
    }
}
