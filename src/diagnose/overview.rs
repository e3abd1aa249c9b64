//! The Overview's rules: the API server (`api-unreachable`) and the cluster-wide ones (kube-ca,
//! Rancher agents, certificates).

use super::{Finding, Rules, api, cluster};

pub fn rules(cx: &Rules, out: &mut Vec<Finding>) {
    api::rules(cx.model, cx.now, out);
    cluster::rules(cx, out);
}
