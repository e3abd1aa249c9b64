//! etcd through the Kubernetes API: the etcd static pods (`kube-system/etcd-<node>`, watched), their
//! logs (a bounded tail, polled, only lines newer than the last seen), and the API server's
//! `/readyz?verbose` etcd check. All GETs: allowed in read-only mode.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};
use kube::runtime::watcher;

use super::{SourceCtx, classify, run_watch};
use crate::model::etcd::{EtcdMsg, EtcdPodRow};
use crate::model::{Failure, FailureKind, SourceId};
use crate::msg::Msg;

/// The label RKE2, k3s (embedded etcd pods are RKE2's) and kubeadm put on etcd static pods.
pub const ETCD_SELECTOR: &str = "component=etcd";
const NAMESPACE: &str = "kube-system";
pub const LOG_EVERY: Duration = Duration::from_secs(5);
pub const READYZ_EVERY: Duration = Duration::from_secs(10);
/// Lines per fetch: a split brain writes up to ~120 lines/s; the aggregator keeps counts, not lines.
const TAIL: i64 = 2000;

fn wrap(d: crate::model::Delta<EtcdPodRow>) -> Msg {
    Msg::Etcd(Box::new(EtcdMsg::Pods(d)))
}

pub async fn pods(ctx: SourceCtx) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), NAMESPACE);
    run_watch(
        api,
        watcher::Config::default().labels(ETCD_SELECTOR),
        SourceId::EtcdPods,
        ctx.tx.clone(),
        pod_row,
        |p: &Pod| {
            format!(
                "{}/{}",
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default()
            )
        },
        wrap,
    )
    .await;
}

pub use crate::model::etcd::exec::flag;

pub fn pod_row(p: Pod) -> EtcdPodRow {
    let meta = p.metadata;
    let spec = p.spec.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    let container = spec
        .containers
        .iter()
        .find(|c| c.name == "etcd")
        .or(spec.containers.first());
    let args: Vec<String> = container
        .map(|c| {
            let mut v = c.command.clone().unwrap_or_default();
            v.extend(c.args.clone().unwrap_or_default());
            v
        })
        .unwrap_or_default();
    let statuses = status.container_statuses.unwrap_or_default();
    EtcdPodRow {
        namespace: meta.namespace.unwrap_or_default(),
        name: meta.name.unwrap_or_default(),
        node: spec.node_name,
        host_ip: status.host_ip,
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        ready: !statuses.is_empty() && statuses.iter().all(|c| c.ready),
        restarts: statuses.iter().map(|c| c.restart_count).sum(),
        quota_bytes: flag(&args, "--quota-backend-bytes").and_then(|v| v.parse().ok()),
        data_dir: flag(&args, "--data-dir"),
        image: container.and_then(|c| c.image.clone()),
        advertise_client_url: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubeadm.kubernetes.io/etcd.advertise-client-urls"))
            .and_then(|v| v.split(',').next())
            .map(str::to_string),
        args,
    }
}

/// The Kubernetes timestamp in front of a `timestamps=true` log line.
fn line_ts(line: &str) -> Option<DateTime<Utc>> {
    let first = line.split(' ').next()?;
    DateTime::parse_from_rfc3339(first)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Lines strictly newer than `after` (the API's `sinceSeconds` has one-second granularity).
pub fn newer(text: &str, after: Option<DateTime<Utc>>) -> (Vec<String>, Option<DateTime<Utc>>) {
    let mut newest = after;
    let lines = text
        .lines()
        .filter(|l| {
            let ts = line_ts(l);
            let keep = match (ts, after) {
                (Some(t), Some(a)) => t > a,
                _ => true,
            };
            if let Some(t) = ts {
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
            keep
        })
        .map(str::to_string)
        .collect();
    (lines, newest)
}

/// The etcd pods' names are listed again after this long (a quarter of it while there are none; logs
/// are tailed every [`LOG_EVERY`]): pods of static manifests rarely change, and a LIST every 5 s was
/// most of an idle ktriage's requests.
const NAMES_EVERY: Duration = Duration::from_secs(60);

pub async fn logs(ctx: SourceCtx) {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), NAMESPACE);
    let mut seen: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut listed_at: Option<tokio::time::Instant> = None;
    loop {
        // none yet (a cluster still starting, or etcd outside pods): look again sooner
        let every = if names.is_empty() {
            NAMES_EVERY / 4
        } else {
            NAMES_EVERY
        };
        // a failed LIST (the API down) skips this round's log fetches
        let mut fetch = true;
        if listed_at.is_none_or(|t| t.elapsed() >= every) {
            match list_names(&api, &ctx).await {
                Ok(listed) => {
                    names = listed;
                    listed_at = Some(tokio::time::Instant::now());
                }
                Err(failure) => {
                    fetch = false;
                    let msg = Msg::SourceFailed(SourceId::EtcdLogs, failure);
                    if ctx.tx.send(msg).await.is_err() {
                        return;
                    }
                }
            }
        }
        // `gone`: a pod was deleted; `down`: the API did not answer. Either way the names are
        // listed again next round, and while the API is down that one LIST is the round's only
        // request (the outage bound in README.md counts one request per round).
        let (mut gone, mut down) = (false, false);
        if fetch {
            for name in &names {
                let key = format!("{NAMESPACE}/{name}");
                let fetched = fetch_logs(&api, &ctx, name, &key, seen.get(&key).copied()).await;
                if let Some(n) = fetched.newest {
                    seen.insert(key.clone(), n);
                }
                gone |= fetched.gone;
                down |= fetched.down;
                if ctx.tx.send(Msg::Etcd(Box::new(fetched.msg))).await.is_err() {
                    return;
                }
                if down {
                    break;
                }
            }
        }
        if gone || down {
            listed_at = None;
        }
        if fetch
            && !down
            && ctx
                .tx
                .send(Msg::Etcd(Box::new(EtcdMsg::LogsRound)))
                .await
                .is_err()
        {
            return;
        }
        tokio::time::sleep(LOG_EVERY).await;
    }
}

/// The etcd pods' names, or why they could not be listed.
async fn list_names(api: &Api<Pod>, ctx: &SourceCtx) -> Result<Vec<String>, Failure> {
    let listed = tokio::time::timeout(
        ctx.request_timeout,
        api.list(&ListParams::default().labels(ETCD_SELECTOR)),
    )
    .await;
    match listed {
        Ok(Ok(list)) => Ok(list
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect()),
        Ok(Err(e)) => Err(super::needs_access(
            classify(&e),
            "needs list pods in namespace kube-system",
        )),
        Err(_) => Err(Failure {
            kind: FailureKind::Unreachable,
            message: "listing the etcd pods timed out".into(),
        }),
    }
}

/// One pod's log fetch: the message for the model, the newest line's time, and whether the pod is
/// gone (404) or the API is down.
struct Fetched {
    msg: EtcdMsg,
    newest: Option<DateTime<Utc>>,
    gone: bool,
    down: bool,
}

/// The lines of one etcd pod since the last one seen (the tail the first time).
async fn fetch_logs(
    api: &Api<Pod>,
    ctx: &SourceCtx,
    name: &str,
    key: &str,
    last: Option<DateTime<Utc>>,
) -> Fetched {
    let lp = LogParams {
        container: Some("etcd".into()),
        timestamps: true,
        tail_lines: Some(TAIL),
        since_seconds: last.map(|t| (Utc::now() - t).num_seconds().max(1) + 1),
        ..LogParams::default()
    };
    let pod = key.to_string();
    let failed = |failure, gone, down| Fetched {
        msg: EtcdMsg::LogsFailed {
            pod: pod.clone(),
            failure,
        },
        newest: None,
        gone,
        down,
    };
    match tokio::time::timeout(ctx.request_timeout, api.logs(name, &lp)).await {
        Ok(Ok(text)) => {
            let (lines, newest) = newer(&text, last);
            Fetched {
                msg: EtcdMsg::Logs {
                    pod: pod.clone(),
                    lines,
                },
                newest,
                gone: false,
                down: false,
            }
        }
        Ok(Err(e)) => {
            let gone = matches!(&e, kube::Error::Api(s) if s.code == 404);
            let failure = classify(&e);
            let down = failure.kind == FailureKind::Unreachable;
            failed(failure, gone, down)
        }
        Err(_) => failed(
            Failure {
                kind: FailureKind::Unreachable,
                message: "log fetch timed out".into(),
            },
            false,
            true,
        ),
    }
}

/// The etcd lines of `/readyz?verbose` (`[+]etcd ok`, `[-]etcd failed: reason withheld`).
pub fn readyz_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.contains("etcd"))
        .map(str::to_string)
        .collect()
}

pub async fn readyz(ctx: SourceCtx) {
    loop {
        let req = http::Request::get("/readyz?verbose").body(Vec::new());
        let result = match req {
            Ok(req) => {
                match tokio::time::timeout(ctx.request_timeout, ctx.client.request_text(req)).await
                {
                    Ok(Ok(text)) => Ok(readyz_lines(&text)),
                    Ok(Err(e)) => Err(classify(&e)),
                    Err(_) => Err(crate::model::Failure {
                        kind: crate::model::FailureKind::Unreachable,
                        message: "/readyz timed out".into(),
                    }),
                }
            }
            Err(e) => Err(crate::model::Failure {
                kind: crate::model::FailureKind::Error,
                message: e.to_string(),
            }),
        };
        if ctx
            .tx
            .send(Msg::Etcd(Box::new(EtcdMsg::Readyz(result))))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(READYZ_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rke2_static_pod_fixture() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "etcd-cp-1", "namespace": "kube-system",
                         "labels": {"component": "etcd", "tier": "control-plane"}},
            "spec": {"nodeName": "cp-1", "containers": [{"name": "etcd", "image": "rancher/hardened-etcd:v3.5.9-k3s1",
                     "command": ["etcd", "--config-file=/var/lib/rancher/rke2/server/db/etcd/config"],
                     "args": ["--quota-backend-bytes", "8589934592", "--data-dir=/var/lib/rancher/rke2/server/db/etcd"]}]},
            "status": {"phase": "Running", "hostIP": "10.0.0.11",
                       "containerStatuses": [{"name": "etcd", "ready": true, "restartCount": 2, "image": "x", "imageID": "y"}]}
        }))
        .unwrap();
        let r = pod_row(pod);
        assert_eq!(r.name, "etcd-cp-1");
        assert_eq!(r.node.as_deref(), Some("cp-1"));
        assert_eq!(r.host_ip.as_deref(), Some("10.0.0.11"));
        assert!(r.ready);
        assert_eq!(r.restarts, 2);
        assert_eq!(r.quota_bytes, Some(8_589_934_592));
        assert_eq!(
            r.data_dir.as_deref(),
            Some("/var/lib/rancher/rke2/server/db/etcd")
        );
    }

    #[test]
    fn only_newer_log_lines() {
        let text =
            "2026-11-24T17:19:20.000000001Z a\n2026-11-24T17:19:21.5Z b\n2026-11-24T17:19:22Z c\n";
        let (lines, newest) = newer(text, None);
        assert_eq!(lines.len(), 3);
        let (again, _) = newer(text, line_ts("2026-11-24T17:19:21.5Z x"));
        assert_eq!(again, vec!["2026-11-24T17:19:22Z c"]);
        assert_eq!(newest, line_ts("2026-11-24T17:19:22Z x"));
    }

    #[test]
    fn readyz_etcd_lines() {
        let text = "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]etcd-readiness ok\nreadyz check failed\n";
        assert_eq!(
            readyz_lines(text),
            vec!["[-]etcd failed: reason withheld", "[+]etcd-readiness ok"]
        );
    }
}
