//! `api-unreachable`: the API server does not answer (the finding that explains every pane's staleness).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Finding, Severity};
use crate::model::{FailureKind, Model, PaneId, SourceState};

pub fn rules(model: &Model, now: DateTime<Utc>, out: &mut Vec<Finding>) {
    let SourceState::Failed {
        failure,
        since,
        last_ok,
    } = &model.api.state
    else {
        return;
    };
    if failure.kind != FailureKind::Unreachable {
        return;
    }
    let server = model.cluster.server.as_deref().unwrap_or("the API server");
    let mut f = Finding::new(
        "api-unreachable",
        Severity::Critical,
        PaneId::Overview,
        None,
        format!("API server {server} is unreachable"),
    );
    f.evidence.push(format!("{server}: {}", failure.message));
    f.evidence.push(format!(
        "failing for {} (since {})",
        crate::text::age(now, *since),
        since.format("%H:%M:%S UTC")
    ));
    match last_ok {
        Some(t) => f
            .evidence
            .push(format!("last answered {} ago", crate::text::age(now, *t))),
        None => f
            .evidence
            .push("has not answered since ktriage started".into()),
    }
    f.fix.text = "Check the kube-apiserver on the control-plane nodes (RKE2: `crictl ps --name kube-apiserver` and \
                  /var/log/pods/kube-system_kube-apiserver-*; RKE1: `docker logs kube-apiserver`), then etcd: \
                  the API server cannot serve without etcd quorum. Panes keep their last data, marked stale."
        .into();
    f.details = json!({ "server": server, "error": failure.message });
    out.push(f);
}
